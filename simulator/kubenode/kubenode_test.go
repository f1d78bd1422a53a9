package kubenode_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/kubenode"
)

const routerImage = "ghcr.io/perouter/router:v0.1.0"

// node is one netns "node" of the test: its namespace holds a veth end
// named link with address ip, which no other namespace has.
type node struct{ name, ns, link, ip string }

// TestKubeletNodes brings up an API server, kube-scheduler,
// kube-controller-manager and two kubelet nodes in their own network
// namespaces (joined by a veth pair), and checks that the Nodes become
// Ready, that a hostNetwork pod of the router image is scheduled onto the
// chosen node and sees that node's namespace, that kubectl logs and exec
// reach it, and that a DaemonSet runs one pod per node.
func TestKubeletNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, cgroups and containers")
	}
	if os.Getenv(optIn) == "" {
		t.Skipf("set %s=1 to run: the kubelet sets host-wide sysctls (%s); the test restores them afterwards", optIn, strings.Join(kubenode.HostSysctls, ", "))
	}
	restoreSysctls(t)
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Skipf("no Kubernetes assets: %v", err)
	}
	if err := kubenode.Check(assets); err != nil {
		t.Skip(err)
	}
	routerArchive := filepath.Join("..", "..", "bin", "images", "router.tar")
	if _, err := os.Stat(routerArchive); err != nil {
		t.Skipf("router image archive missing (make images): %v", err)
	}
	routerArchive, _ = filepath.Abs(routerArchive)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	suffix := fmt.Sprint(os.Getpid() % 10000)
	nodes := []node{
		{name: "kn-a", ns: "kna-" + suffix, link: "kna" + suffix, ip: "10.251.0.1"},
		{name: "kn-b", ns: "knb-" + suffix, link: "knb" + suffix, ip: "10.251.0.2"},
	}
	for _, n := range nodes {
		if err := nsexec.Add(ctx, n.ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nsexec.Delete(context.Background(), n.ns) })
	}
	if out, err := exec.Command("ip", "link", "add", nodes[0].link, "netns", nodes[0].ns, "type", "veth", "peer", nodes[1].link, "netns", nodes[1].ns).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	for _, n := range nodes {
		if _, err := nsexec.Run(ctx, n.ns, "ip", "addr", "add", n.ip+"/24", "dev", n.link); err != nil {
			t.Fatal(err)
		}
		if _, err := nsexec.Run(ctx, n.ns, "ip", "link", "set", n.link, "up"); err != nil {
			t.Fatal(err)
		}
	}

	// A short path: unix socket names are limited to 108 bytes.
	proxyDir, err := os.MkdirTemp("", "kn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(proxyDir) })
	proxy, err := kubenode.StartKubeletProxy(filepath.Join(proxyDir, "egress.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	egress := filepath.Join(proxyDir, "egress.yaml")
	if err := os.WriteFile(egress, []byte(proxy.EgressSelectorConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	cpLog, err := os.Create(filepath.Join(logDir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Logs:           cpLog,
		APIServerFlags: map[string]string{"egress-selector-config-file": egress},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	ctrls, err := kubenode.StartControllers(assets, cp.KubeconfigPath(), logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctrls.Stop() })
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	dumpOnFailure(t, logDir)

	apiServer := cp.APIServerURL().Host
	started := time.Now()
	var startedNodes []*kubenode.Node
	for _, n := range nodes {
		proxy.Register(n.name, n.ip, n.ns)
		kn, err := kubenode.Start(ctx, kubenode.Options{
			Name: n.name, Netns: n.ns, NodeIP: n.ip,
			Dir:        filepath.Join(proxyDir, n.name),
			AssetsDir:  assets,
			Kubeconfig: cp.KubeconfigPath(),
			APIServer:  apiServer,
			Images:     []string{routerArchive},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			copyFile(kn.KubeletLog(), filepath.Join(logDir, n.name+"-kubelet.log"))
			copyFile(kn.ContainerdLog(), filepath.Join(logDir, n.name+"-containerd.log"))
			if err := kn.Stop(); err != nil {
				t.Errorf("stopping node %s: %v", n.name, err)
			}
		})
		startedNodes = append(startedNodes, kn)
		t.Logf("node %s: containerd + image import + kubelet start took %s; pids %v", n.name, time.Since(started), kn.Pids())
		defer func() { t.Logf("node %s RSS: %s", n.name, rss(kn.Pids())) }()
	}

	for _, n := range nodes {
		waitFor(ctx, t, "node "+n.name+" Ready", func() (bool, error) {
			node, err := client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
	}
	t.Logf("both nodes Ready %s after the first start", time.Since(started))

	// Each kubelet's device plugin socket is in its node's own directory:
	// a kubelet removes every socket of that fixed path at start, so on a
	// shared one the second kubelet deleted the first's (and two starting
	// together failed to start at all).
	sockCtx, cancelSock := context.WithTimeout(ctx, time.Minute)
	defer cancelSock()
	for i, kn := range startedNodes {
		for _, d := range kubenode.KubeletFixedDirs {
			sock := filepath.Join(kn.PrivateDir(d), "kubelet.sock")
			waitFor(sockCtx, t, "node "+nodes[i].name+"'s "+sock, func() (bool, error) {
				fi, err := os.Stat(sock)
				return err == nil && fi.Mode()&os.ModeSocket != 0, nil
			})
		}
	}

	// The pod prints the interfaces of its network namespace, then sleeps.
	podStart := time.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "where", Namespace: "default"},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": nodes[1].name},
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "c", Image: routerImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "cat /proc/net/dev; exec sleep 3600"},
			}},
		},
	}
	waitFor(ctx, t, "default ServiceAccount", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "pod where Running", func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "where", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != nodes[1].name {
			return false, fmt.Errorf("pod scheduled on %s, want %s", p.Spec.NodeName, nodes[1].name)
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	t.Logf("pod Running %s after create", time.Since(podStart))

	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, cp.KubectlPath(), append([]string{"--kubeconfig", cp.KubeconfigPath()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The container may not have written its output yet when Running.
	var logs string
	waitFor(ctx, t, "pod logs", func() (bool, error) {
		logs = kubectl("logs", "where")
		return strings.Contains(logs, "lo:"), nil
	})
	checkSeesNode(t, "kubectl logs", logs, nodes[1], nodes[0])
	// Each node keeps its pods' logs in its own directory, not in the
	// kubelet's default /var/log/pods, which all nodes would share and
	// nothing would clean.
	if m, _ := filepath.Glob(filepath.Join(proxyDir, nodes[1].name, "pod-logs", "default_where_*")); len(m) == 0 {
		t.Errorf("no log directory of pod where under %s (kubelet podLogsDir)", filepath.Join(proxyDir, nodes[1].name, "pod-logs"))
	}
	checkSeesNode(t, "kubectl exec", kubectl("exec", "where", "--", "cat", "/proc/net/dev"), nodes[1], nodes[0])

	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "everywhere", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "everywhere"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "everywhere"}},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "c", Image: routerImage, ImagePullPolicy: corev1.PullNever,
						Command: []string{"sleep", "3600"},
					}},
				},
			},
		},
	}
	dsStart := time.Now()
	if _, err := client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "DaemonSet everywhere ready on both nodes", func() (bool, error) {
		d, err := client.AppsV1().DaemonSets("default").Get(ctx, "everywhere", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.DesiredNumberScheduled == 2 && d.Status.NumberReady == 2, nil
	})
	t.Logf("DaemonSet ready on both nodes %s after create\n%s", time.Since(dsStart), kubectl("get", "pods", "-o", "wide"))
}

// optIn enables TestKubeletNodes.
const optIn = "PEROUTER_TEST_KUBELET"

// restoreSysctls puts kubenode.HostSysctls back once the test ends.
func restoreSysctls(t *testing.T) {
	restore, err := kubenode.SaveHostSysctls()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Error(err)
		}
	})
}

func checkSeesNode(t *testing.T, what, out string, own, other node) {
	t.Helper()
	if !strings.Contains(out, own.link+":") || strings.Contains(out, other.link+":") {
		t.Errorf("%s: want the interfaces of node %s (%s, not %s), got:\n%s", what, own.name, own.link, other.link, out)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	if err := retry.Poll(ctx, 0, retry.Every(250*time.Millisecond), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func copyFile(from, to string) {
	if data, err := os.ReadFile(from); err == nil {
		_ = os.WriteFile(to, data, 0o644)
	}
}

// dumpOnFailure prints the tails of the logs when the test fails. It is
// registered before the nodes so it runs after their cleanups copied their
// logs.
func dumpOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			lines := strings.Split(string(data), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("==> %s\n%s", f, strings.Join(lines, "\n"))
		}
	})
}

// rss sums VmRSS of the processes.
func rss(pids []int) string {
	var parts []string
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				parts = append(parts, fmt.Sprintf("pid %d %s", pid, strings.Join(strings.Fields(l)[1:], " ")))
			}
		}
	}
	return strings.Join(parts, ", ")
}
