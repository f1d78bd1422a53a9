package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/capability"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/netns/pods"
)

// requirePods skips a spec that is about the chart's pods where the
// operator runs as processes, saying so.
func requirePods() (*netnsEnv, podsOperator) {
	requireCluster()
	e, ok := env.(*netnsEnv)
	if !ok || !e.cfg.Pods {
		Skip("about the chart's pods: runs with " + envPods + "=1 (`make e2e-pods`); this run starts the operator as processes")
	}
	return e, e.op.(podsOperator)
}

// Suite 9: the product as users install it. The chart's pods on real
// kubelets, and what happens to pods in a cluster's life: a rollout of a
// new image, a labeler replaced while nodes join. (The recovery suite's
// faults are pod deletions and container kills in this mode.)
var _ = Describe("Chart pods", Ordered, Label("pods"), func() {
	var e *netnsEnv
	var op podsOperator

	BeforeAll(func(ctx SpecContext) {
		e, op = requirePods()
		startWorkloads(ctx)
	})

	It("runs every pod Running and Ready; kubectl logs and exec reach the router's frr container", func(ctx SpecContext) {
		out, err := op.Kubectl(ctx, e.lab, "", "get", "pods", "-A", "-o", "wide")
		Expect(err).NotTo(HaveOccurred(), out)
		fmt.Fprintf(GinkgoWriter, "kubectl get pods -A -o wide:\n%s", out)
		nodes := len(env.ClusterNodes())
		for c, want := range map[pods.Component]int{pods.Router: nodes, pods.Controller: nodes, pods.Labeler: 2} {
			list, err := op.Pods(ctx, c, "")
			Expect(err).NotTo(HaveOccurred())
			Expect(list).To(HaveLen(want), "%s pods", c)
			for _, p := range list {
				Expect(pods.PodReady(&p)).To(BeTrue(), "pod %s: phase %s, conditions %v", p.Name, p.Status.Phase, p.Status.Conditions)
			}
		}
		for _, node := range env.ClusterNodes() {
			pod, err := op.Pod(ctx, pods.Router, node)
			Expect(err).NotTo(HaveOccurred())
			logs, err := op.Kubectl(ctx, e.lab, "", "logs", "-n", pod.Namespace, pod.Name, "-c", pods.ReloaderContainer)
			Expect(err).NotTo(HaveOccurred(), logs)
			Expect(logs).NotTo(BeEmpty(), "kubectl logs %s -c %s", pod.Name, pods.ReloaderContainer)
			Expect(env.Vtysh(ctx, node, "show version")).To(ContainSubstring("FRRouting"), "kubectl exec vtysh in %s", pod.Name)
		}
	})

	// Issue 15 item 9 in a pod: the controller pod is hostNetwork, so its
	// ports are the node's. Metrics answer only over HTTPS, only to a
	// token the API server authorizes for /metrics; the probe port only
	// on localhost.
	It("serves the controller's metrics only over HTTPS to an authorized token, and its probes only on localhost", func(ctx SpecContext) {
		node := env.ClusterNodes()[0]
		nodeIP := pods.NodeIP(clusterNodeIndex(node))
		metrics := "https://" + nodeIP + ":9481/metrics"
		curl := func(args ...string) (string, error) {
			return env.Exec(ctx, node, append([]string{"curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
		}
		Expect(curl(metrics)).To(Equal("401"), "no token")
		Expect(curl("http://"+nodeIP+":9481/metrics")).NotTo(Equal("200"), "plain HTTP")

		token := func(sa string, bind bool) string {
			GinkgoHelper()
			ns := pods.ChartNamespace()
			out, err := op.Kubectl(ctx, e.lab, "", "create", "serviceaccount", "-n", ns, sa)
			Expect(err).NotTo(HaveOccurred(), out)
			DeferCleanup(func(ctx context.Context) { _, _ = op.Kubectl(ctx, e.lab, "", "delete", "serviceaccount", "-n", ns, sa) })
			if bind {
				out, err := op.Kubectl(ctx, e.lab, "", "create", "clusterrolebinding", sa, "--clusterrole=perouter-metrics-reader", "--serviceaccount="+ns+":"+sa)
				Expect(err).NotTo(HaveOccurred(), out)
				DeferCleanup(func(ctx context.Context) { _, _ = op.Kubectl(ctx, e.lab, "", "delete", "clusterrolebinding", sa) })
			}
			out, err = op.Kubectl(ctx, e.lab, "", "create", "token", "-n", ns, sa)
			Expect(err).NotTo(HaveOccurred(), out)
			return strings.TrimSpace(out)
		}
		Expect(curl("-H", "Authorization: Bearer "+token("e2e-no-metrics", false), metrics)).To(Equal("403"), "a token without perouter-metrics-reader")
		reader := token("e2e-metrics-reader", true)
		Eventually(func() (string, error) { return curl("-H", "Authorization: Bearer "+reader, metrics) }).
			WithTimeout(30*time.Second).WithPolling(poll).Should(Equal("200"), "a perouter-metrics-reader token")
		body, err := env.Exec(ctx, node, "curl", "-sk", "--max-time", "10", "-H", "Authorization: Bearer "+reader, metrics)
		Expect(err).NotTo(HaveOccurred())
		Expect(body).To(ContainSubstring("perouter_controller_reconcile_duration_seconds"))

		Expect(curl("http://127.0.0.1:9482/healthz")).To(Equal("200"), "the probe on localhost")
		code, _ := curl("http://" + nodeIP + ":9482/healthz")
		Expect(code).To(Equal("000"), "the probe port must not answer on the node's address")
	})

	// Issue 15 item 10 in a pod: what the kernel gave each running
	// container is what its securityContext asks for and nothing more.
	// The unprivileged ones hold exactly the capabilities they add,
	// cannot gain privileges, and run under the runtime's seccomp filter.
	It("runs each container with only the privileges its securityContext grants", func(ctx SpecContext) {
		var unprivileged []string
		for _, c := range []pods.Component{pods.Router, pods.Controller, pods.Labeler} {
			list, err := op.Pods(ctx, c, "")
			Expect(err).NotTo(HaveOccurred())
			for i := range list {
				p := &list[i]
				for _, ct := range p.Spec.Containers {
					want := grantedPrivileges(p, &ct)
					pid, err := op.ContainerPID(ctx, p, ct.Name)
					Expect(err).NotTo(HaveOccurred())
					got, err := processPrivileges(pid)
					Expect(err).NotTo(HaveOccurred())
					if want.UID == "" {
						got.UID = "" // the image's user: the spec sets none
					}
					Expect(got).To(Equal(want), "pod %s container %s (pid %d): the kernel's view (got) against its securityContext (want)", p.Name, ct.Name, pid)
					if len(want.Caps) < len(fullCaps()) {
						unprivileged = append(unprivileged, ct.Name)
					}
				}
			}
		}
		Expect(unprivileged).To(ContainElements(pods.ReloaderContainer, "labeler"), "containers that run without privileges")
	})

	// Issue 15 item 8 on the installed chart: the API server's own
	// authorizer answers for each ServiceAccount.
	It("lets the controller read Secrets only in its namespace, and the labeler only its certificate's", func(ctx SpecContext) {
		ns := pods.ChartNamespace()
		for _, c := range []struct {
			sa, verb, resource, namespace string
			want                          string
		}{
			{"perouter-controller", "get", "secrets", ns, "yes"},
			{"perouter-controller", "list", "secrets", ns, "yes"},
			{"perouter-controller", "get", "secrets", "default", "no"},
			{"perouter-controller", "get", "secrets", "kube-system", "no"},
			{"perouter-controller", "create", "secrets", ns, "no"},
			{"perouter-labeler", "get", "secrets/perouter-webhook-cert", ns, "yes"},
			{"perouter-labeler", "get", "secrets/e2e-leaf-password", ns, "no"},
			{"perouter-labeler", "list", "secrets", ns, "no"},
			{"perouter-labeler", "update", "validatingwebhookconfigurations.admissionregistration.k8s.io/perouter-validating-webhook-configuration", "", "yes"},
			{"perouter-labeler", "update", "validatingwebhookconfigurations.admissionregistration.k8s.io/other", "", "no"},
			{"perouter-router", "get", "secrets", ns, "no"},
		} {
			args := []string{"auth", "can-i", c.verb, c.resource, "--as=system:serviceaccount:" + ns + ":" + c.sa}
			if c.namespace != "" {
				args = append(args, "-n", c.namespace)
			}
			// can-i exits 1 for "no": the answer is the last line it
			// prints (warnings come first).
			out, _ := op.Kubectl(ctx, e.lab, "", args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			Expect(lines[len(lines)-1]).To(Equal(c.want), "kubectl %s:\n%s", strings.Join(args, " "), out)
		}
	})

	// Issue 15 item 11 on a real cluster: the labeler (webhook and index)
	// stays available through a drain. Its PodDisruptionBudget lets one
	// replica be evicted and refuses the second while the first is gone,
	// and the webhook keeps answering meanwhile.
	It("keeps a labeler answering through a drain: the PodDisruptionBudget refuses the second eviction", func(ctx SpecContext) {
		list, err := op.Pods(ctx, pods.Labeler, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		evict := func(p corev1.Pod) error {
			return env.Kube().SubResource("eviction").Create(ctx, &p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
		}
		// The disruption controller must have counted both replicas.
		Eventually(func() error { return evict(list[0]) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		err = evict(list[1])
		Expect(apierrors.IsTooManyRequests(err)).To(BeTrue(), "second eviction: %v, want 429 from the PodDisruptionBudget", err)
		out, err := op.Kubectl(ctx, e.lab, cluster.WebhookProbe, "create", "--dry-run=server", "-f", "-")
		Expect(err).To(HaveOccurred(), "the webhook must still refuse the probe object: %s", out)
		Expect(out).To(ContainSubstring(cluster.WebhookProbeDenial))
		Expect(op.WaitReady(ctx, e.lab)).To(Succeed())
	})

	// A user upgrading the router image: `helm upgrade` with a new tag
	// (the same build under another reference, as a registry push of a
	// rebuild would give). The DaemonSet replaces one node's pod after the
	// other; every node must come back with its config, routes and
	// datapath, and the loss a fabric host sees towards a node's workload
	// during the roll is measured.
	It("rolls the router DaemonSet to a new image tag: every node's config, routes and datapath come back", func(ctx SpecContext) {
		if e.cfg.Kustomize != "" {
			Skip("a helm upgrade: this run installed " + e.cfg.Kustomize + " with kustomize")
		}
		node := env.ClusterNodes()[0]
		vtep := nodeVTEP(ctx, node)
		Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())

		router := op.Values()["images"].(map[string]any)["router"].(map[string]any)
		repo, tag := router["repository"].(string), router["tag"].(string)
		newTag := tag + "-rolled"
		Expect(op.TagImage(ctx, repo+":"+tag, repo+":"+newTag)).To(Succeed())

		// Pings from a fabric host to the node's workload on the segment,
		// 5 per second, for as long as the roll takes.
		target, host := workloadTarget(ctx, node)
		ping := startPing(ctx, host, target)

		start := time.Now()
		Expect(op.Upgrade(ctx, e.lab, map[string]any{"images": map[string]any{"router": map[string]any{"tag": newTag}}})).To(Succeed())
		Eventually(func() error {
			for _, n := range env.ClusterNodes() {
				p, err := op.Pod(ctx, pods.Router, n)
				if err != nil {
					return err
				}
				if !strings.HasSuffix(p.Spec.Containers[0].Image, ":"+newTag) || !pods.PodReady(p) {
					return fmt.Errorf("node %s: router pod %s runs %s, ready %v", n, p.Name, p.Spec.Containers[0].Image, pods.PodReady(p))
				}
			}
			return nil
		}).WithTimeout(2 * recoveryBound).WithPolling(poll).Should(Succeed())
		rolled := time.Since(start)
		for _, n := range env.ClusterNodes() {
			v := nodeVTEP(ctx, n)
			awaitRecovery(ctx, "router DaemonSet rolled", n, v, start)
		}
		pingOut := ping.stop()
		sent, received := pingCounts(pingOut)
		Expect(sent).To(BeNumerically(">", 0), "ping from %s to %s printed no statistics:\n%s", host, target, pingOut)
		AddReportEntry("router DaemonSet roll", fmt.Sprintf("%v to every pod Ready; %d of %d pings lost from %s to %s's workload, longest gap between replies %v",
			rolled.Round(100*time.Millisecond), sent-received, sent, host, node, maxReplyGap(ping.replies()).Round(time.Millisecond)))
		fmt.Fprintf(GinkgoWriter, "roll: %v; pings %d sent, %d received\n", rolled, sent, received)
	})

	// The labeler's two replicas are deleted while a node joins (its Node
	// object deleted, its kubelet restarted: it registers anew, without
	// an index). The new replicas must give it an index no other node
	// has, and leave the others' alone.
	It("indexes a node that joins while the labeler pods are replaced, without renumbering the others", func(ctx SpecContext) {
		nodes := env.ClusterNodes()
		joining := nodes[len(nodes)-1]
		before := map[string]int{}
		for _, n := range nodes[:len(nodes)-1] {
			before[n] = eventuallyNodeIndex(ctx, n)
		}
		Expect(env.Kube().Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: joining}})).To(Succeed())
		start := time.Now()
		var wg sync.WaitGroup
		var labelerErr error
		wg.Go(func() { labelerErr = op.DeletePod(ctx, e.lab, pods.Labeler, "") })
		Expect(env.Reboot(ctx, joining)).To(Succeed())
		wg.Wait()
		Expect(labelerErr).NotTo(HaveOccurred())
		index := eventuallyNodeIndex(ctx, joining)
		for n, i := range before {
			Expect(nodeIndex(ctx, n)).To(Equal(i), "node %s renumbered", n)
			Expect(index).NotTo(Equal(i), "node %s got node %s's index", joining, n)
		}
		awaitRecovery(ctx, "node joined while the labeler was replaced", joining, nodeVTEP(ctx, joining), start)
	})
})

// workloadTarget is a node's workload address and a fabric host that can
// ping it: on the lab's first L2 segment where the lab has one (the L2
// lab), else in the first L3VNI's VRF (the default lab has no L2VNI).
func workloadTarget(ctx context.Context, node string) (addr, host string) {
	GinkgoHelper()
	l2, err := env.L2Hosts(ctx)
	Expect(err).NotTo(HaveOccurred())
	if len(l2) > 0 {
		return l2WorkloadAddr(ctx, node, l2[0].Address).Addr().String(), l2[0].Name
	}
	hosts, err := env.Hosts(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, vni := range l3vnis(ctx) {
		for _, h := range hosts {
			if h.VRF == vni.Spec.VRF {
				return workloadAddr(ctx, vni, node).String(), h.Name
			}
		}
	}
	Fail("the lab has no fabric host on an L2 segment or in an L3VNI's VRF to ping node " + node + "'s workload from")
	return "", ""
}

// clusterNodeIndex is a node's position among the topology's cluster
// nodes (the pods mode's address plan, not the labeler's index).
func clusterNodeIndex(node string) int {
	for i, n := range env.ClusterNodes() {
		if n == node {
			return i
		}
	}
	Fail("not a cluster node: " + node)
	return -1
}

// privileges are what the kernel gave a process, as /proc shows them.
type privileges struct {
	Caps       []string // effective capabilities, by name
	NoNewPrivs bool
	Seccomp    string // 0 none, 2 filter
	UID        string // effective; "" when the spec sets none
}

// processPrivileges reads a process's privileges from /proc.
func processPrivileges(pid int) (privileges, error) {
	var p privileges
	caps, err := capability.NewPid2(pid)
	if err == nil {
		err = caps.Load()
	}
	if err != nil {
		return p, fmt.Errorf("pid %d: capabilities: %w", pid, err)
	}
	for _, c := range fullCaps() {
		if caps.Get(capability.EFFECTIVE, c) {
			p.Caps = append(p.Caps, c.String())
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		switch {
		case len(fields) == 0:
		case key == "NoNewPrivs":
			p.NoNewPrivs = fields[0] == "1"
		case key == "Seccomp":
			p.Seccomp = fields[0]
		case key == "Uid" && len(fields) > 1:
			p.UID = fields[1]
		}
	}
	return p, nil
}

// fullCaps are the capabilities a privileged container gets: every one
// this process (root on the machine) may hold.
func fullCaps() []capability.Cap {
	self, err := capability.NewPid2(0)
	Expect(err).NotTo(HaveOccurred())
	Expect(self.Load()).To(Succeed())
	var all []capability.Cap
	for _, c := range capability.ListKnown() {
		if self.Get(capability.BOUNDING, c) {
			all = append(all, c)
		}
	}
	return all
}

// grantedPrivileges are the privileges a container's securityContext (and
// its pod's) ask for, as the kubelet and runc apply them. A container that
// is not privileged must drop ALL: the runtime's default set is not a
// grant anyone reviewed.
func grantedPrivileges(pod *corev1.Pod, c *corev1.Container) privileges {
	GinkgoHelper()
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	var want privileges
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid != nil {
		want.UID = strconv.FormatInt(*uid, 10)
	}
	if sc.Privileged != nil && *sc.Privileged {
		for _, c := range fullCaps() {
			want.Caps = append(want.Caps, c.String())
		}
		want.Seccomp = "0" // runtimes run privileged containers unconfined
		return want
	}
	Expect(sc.Capabilities).NotTo(BeNil(), "pod %s container %s: not privileged, so it must drop ALL capabilities", pod.Name, c.Name)
	Expect(sc.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")), "pod %s container %s", pod.Name, c.Name)
	if want.UID == "" || want.UID == "0" {
		// A non-root user keeps no capability: the kubelet sets no
		// ambient set.
		for _, add := range sc.Capabilities.Add {
			want.Caps = append(want.Caps, strings.ToLower(string(add)))
		}
		slices.SortFunc(want.Caps, func(a, b string) int { return capIndex(a) - capIndex(b) })
	}
	want.NoNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	profile := sc.SeccompProfile
	if profile == nil {
		profile = psc.SeccompProfile
	}
	want.Seccomp = "0"
	if profile != nil && profile.Type == corev1.SeccompProfileTypeRuntimeDefault {
		want.Seccomp = "2"
	}
	return want
}

// capIndex orders capability names as the kernel numbers them (the order
// processPrivileges lists them in).
func capIndex(name string) int {
	for _, c := range capability.ListKnown() {
		if c.String() == name {
			return int(c)
		}
	}
	Fail("unknown capability " + name)
	return -1
}
