package pods_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega/gbytes"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/operator/vtysh"
	"github.com/perouter/perouter/simulator/kubenode"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/pods"
	"github.com/perouter/perouter/simulator/topology"
)

// optIn enables TestChartOnKubeletNodes, as it does TestKubeletNodes in
// simulator/kubenode: every kubelet sets host-wide sysctls.
const optIn = "PEROUTER_TEST_KUBELET"

const repo = "../../.."

// TestChartOnKubeletNodes is the pods mode end to end: a leaf and two
// cluster nodes (testdata/pods.clab.yml) come up as namespaces, each node
// runs a kubelet, charts/perouter is installed with Helm's Go library from
// the archives in bin/images, and then:
//   - every pod of the chart is Running and Ready (kubectl get pods -A);
//   - each Node has its index label, from the labeler pod;
//   - kubectl logs and kubectl exec reach the router pod's frr container;
//   - applying an Underlay (through the chart's webhook) makes each node's
//     controller pod move the NIC into the router namespace and the router
//     pod's FRR establish BGP with the leaf.
func TestChartOnKubeletNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, cgroups and containers")
	}
	if os.Getenv(optIn) == "" {
		t.Skipf("set %s=1 to run: the kubelet sets host-wide sysctls (%s); the test restores them afterwards", optIn, strings.Join(kubenode.HostSysctls, ", "))
	}
	frrproctest.RequireFRR(t)
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Skipf("no Kubernetes assets: %v", err)
	}
	if err := kubenode.Check(assets); err != nil {
		t.Skip(err)
	}
	var archives []string
	for _, name := range []string{"perouter", "router"} {
		p, _ := filepath.Abs(filepath.Join(repo, "bin", "images", name+".tar"))
		if _, err := os.Stat(p); err != nil {
			t.Skipf("image archive missing (make images): %v", err)
		}
		archives = append(archives, p)
	}
	// The lab must put back what its kubelets changed machine-wide.
	sysctls, err := kubenode.ReadHostSysctls()
	if err != nil {
		t.Fatal(err)
	}

	topo, err := topology.Load("testdata/pods.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "pesim-pods-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	chart, _ := filepath.Abs(filepath.Join(repo, "charts", "perouter"))
	agents := pods.New(pods.Options{Chart: chart, Images: archives})
	progress := gbytes.NewBuffer()
	opts := netns.Options{StateRoot: root, Progress: progress, Agents: agents}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	start := time.Now()
	lab, err := netns.Up(ctx, topo, opts)
	if lab == nil {
		lab = netns.New(topo, opts)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, lab, agents)
		}
		if err := lab.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
		// Nothing of the nodes outlives the lab: cgroups (in every
		// hierarchy, cgroup2's "unified" mount included), pod logs.
		for _, n := range []string{"c-control-plane", "c-worker"} {
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/perouter-kubenode-" + n); len(left) > 0 {
				t.Errorf("cgroups of node %s left after down: %v", n, left)
			}
		}
		if left, _ := filepath.Glob("/var/log/pods/" + pods.ChartNamespace() + "_*"); len(left) > 0 {
			t.Errorf("pod logs left in the machine's /var/log/pods: %v", left)
		}
		if after, err := kubenode.ReadHostSysctls(); err != nil || !maps.Equal(sysctls, after) {
			t.Errorf("host sysctls after down: %v (err %v), want %v as before up", after, err, sysctls)
			for s, v := range sysctls {
				_ = os.WriteFile(filepath.Join("/proc/sys", s), []byte(v), 0o644)
			}
		}
	})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, progress.Contents())
	}
	t.Logf("lab up with the chart installed and Ready in %v:\n%s", time.Since(start).Round(100*time.Millisecond), progress.Contents())
	for _, tm := range agents.Timings() {
		t.Logf("timing: %-70s %v", tm.Step, tm.Took.Round(10*time.Millisecond))
	}

	kubectl := func(args ...string) string {
		t.Helper()
		out, err := agents.Kubectl(ctx, lab, "", args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	t.Logf("kubectl get pods -A -o wide:\n%s", kubectl("get", "pods", "-A", "-o", "wide"))

	client := kubernetes.NewForConfigOrDie(agents.ControlPlane().RESTConfig())
	ns := pods.ChartNamespace()
	podList, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perComponent := map[string]int{}
	for _, p := range podList.Items {
		perComponent[p.Labels["app.kubernetes.io/component"]]++
		if p.Status.Phase != corev1.PodRunning || !pods.PodReady(&p) {
			t.Errorf("pod %s/%s: phase %s, ready %v", p.Namespace, p.Name, p.Status.Phase, pods.PodReady(&p))
		}
	}
	// Two nodes: a router and a controller pod on each, and the
	// labeler's two replicas.
	if diff := cmp.Diff(map[string]int{"router": 2, "controller": 2, "labeler": 2}, perComponent); diff != "" {
		t.Errorf("pods per component in %s (-want +got):\n%s", ns, diff)
	}

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var indices []string
	for _, n := range nodes.Items {
		indices = append(indices, n.Labels[v1alpha1.NodeIndexLabel])
	}
	sort.Strings(indices)
	if diff := cmp.Diff([]string{"0", "1"}, indices); diff != "" {
		t.Errorf("node index labels (-want +got):\n%s", diff)
	}

	routerPods := map[string]string{} // node → router pod
	for _, p := range podList.Items {
		if p.Labels["app.kubernetes.io/component"] == "router" {
			routerPods[p.Spec.NodeName] = p.Name
		}
	}
	worker := routerPods["c-worker"]
	if worker == "" {
		t.Fatalf("no router pod on c-worker: %v", routerPods)
	}
	kubectl("logs", "-n", ns, worker, "-c", "frr")
	if out := kubectl("exec", "-n", ns, worker, "-c", "frr", "--", "vtysh", "-c", "show version"); !strings.Contains(out, "FRRouting") {
		t.Errorf("kubectl exec vtysh -c 'show version' in %s: %q, want FRRouting's version", worker, out)
	}

	// The Underlay goes through the chart's webhook (failurePolicy Fail).
	underlayStart := time.Now()
	kubectl("apply", "-f", "testdata/underlay.yaml")
	for node, pod := range routerPods {
		var last string
		err := retry.Poll(ctx, 3*time.Minute, retry.Every(time.Second), func() (bool, error) {
			out, err := agents.Kubectl(ctx, lab, "", "exec", "-n", ns, pod, "-c", "frr", "--", "vtysh", "-c", "show bgp summary json")
			if err != nil {
				last = out
				return false, nil
			}
			peers, err := vtysh.ParseBGPSummary([]byte(out))
			if err != nil {
				last = err.Error()
				return false, nil
			}
			last = fmt.Sprint(peers)
			for _, p := range peers {
				if p.Address == "192.168.11.1" && p.State == "Established" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Errorf("node %s: router pod %s's FRR has no established session with the leaf: %v; last: %s", node, pod, err, last)
			continue
		}
		t.Logf("node %s: BGP with the leaf established %v after applying the Underlay", node, time.Since(underlayStart).Round(100*time.Millisecond))
		// The controller pod moved the NIC: it is in the router
		// namespace, no longer in the node's.
		if out := kubectl("exec", "-n", ns, pod, "-c", "frr", "--", "ip", "-n", "perouter", "-br", "link", "show", "toswitch"); !strings.Contains(out, "toswitch") {
			t.Errorf("node %s: toswitch not in the router namespace: %q", node, out)
		}
	}
	peers, err := lab.BGPPeers(ctx, "leaf")
	if err != nil {
		t.Fatal(err)
	}
	established := 0
	for _, p := range peers {
		if p.State == "Established" {
			established++
		}
	}
	if established != 2 {
		t.Errorf("leaf: %d established sessions, want 2 (one per node): %v", established, peers)
	}
	t.Logf("kubectl get pods -A -o wide at the end:\n%s", kubectl("get", "pods", "-A", "-o", "wide"))
}

// dumpLogs prints what explains a failure: the pods, their events, the
// tails of the kubelets', the control plane's and the pods' logs.
func dumpLogs(t *testing.T, lab *netns.Lab, agents *pods.Agents) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"describe", "pods", "-n", pods.ChartNamespace()},
		{"get", "events", "-A"},
		{"logs", "-n", pods.ChartNamespace(), "-l", "app.kubernetes.io/component=labeler", "--tail", "30", "--all-containers"},
		{"logs", "-n", pods.ChartNamespace(), "-l", "app.kubernetes.io/component=controller", "--tail", "30", "--all-containers"},
		{"logs", "-n", pods.ChartNamespace(), "-l", "app.kubernetes.io/component=router", "--tail", "30", "--all-containers"},
	} {
		out, err := agents.Kubectl(ctx, lab, "", args...)
		t.Logf("kubectl %s (%v):\n%s", strings.Join(args, " "), err, out)
	}
	var files []string
	for _, n := range []string{"c-control-plane", "c-worker"} {
		if kn := agents.Node(n); kn != nil {
			files = append(files, kn.KubeletLog(), kn.ContainerdLog())
		}
	}
	files = append(files, filepath.Join(lab.StateDir(), "controlplane.log"), filepath.Join(lab.StateDir(), "kube-controller-manager.log"),
		filepath.Join(lab.StateDir(), "kube-scheduler.log"), filepath.Join(lab.StateDir(), "helm.log"))
	for _, n := range []string{"c-control-plane", "c-worker"} {
		logs, _ := filepath.Glob(filepath.Join(pods.KubeletDir(lab, n), "pod-logs", "*", "*", "*.log"))
		files = append(files, logs...)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("==> %s\n%s", f, strings.Join(lines, "\n"))
	}
}
