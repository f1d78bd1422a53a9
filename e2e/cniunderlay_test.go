package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// Suite 14: a node with a single NIC (topologies/l2-cni.clab.yml with
// docs/examples/cni-underlay and docs/examples/l2lab). Its only NIC keeps
// the node's own address; its underlay is a macvlan on that NIC that
// Debian's CNI plugins create inside the router namespace (Underlay
// interfaces[].type CNIDevice). Its BGP sessions come up over the macvlan,
// its type-3 route reaches the fabric's leaves, and its workload pings the
// fabric's hosts across VXLAN. Moved to dhcp IPAM live, it gets a lease
// from the lab's DHCP server, renews it and is back on the fabric.
var _ = Describe("CNI-provisioned underlay", Ordered, Label("cni-underlay"), func() {
	var (
		u    v1alpha1.Underlay
		node string
		link string
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		var list v1alpha1.UnderlayList
		Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
		for _, item := range list.Items {
			for _, i := range item.Spec.Interfaces {
				if i.CNIDevice != nil {
					u, link = item, i.RouterLinkName()
				}
			}
		}
		if link == "" {
			Skip("no Underlay has a CNIDevice interface: this suite runs in the single-NIC lab (topologies/l2-cni.clab.yml with docs/examples/cni-underlay,docs/examples/l2lab)")
		}
		for _, n := range env.ClusterNodes() {
			var obj corev1.Node
			Expect(env.Kube().Get(ctx, client.ObjectKey{Name: n}, &obj)).To(Succeed())
			if objects.Selects(u.Spec.NodeSelector, obj.Labels) {
				node = n
			}
		}
		Expect(node).NotTo(BeEmpty(), "Underlay %s/%s selects no cluster node", u.Namespace, u.Name)
	})

	It("creates the underlay link in the router namespace with CNI, leaving the node's only NIC in the host", func(ctx SpecContext) {
		Eventually(func() (string, error) {
			return env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", link)
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("inet 192.168.11.5/24"),
			"node %s: %s's address in the router namespace (Underlay %s/%s)", node, link, u.Namespace, u.Name)
		out, err := env.ExecRouter(ctx, node, "ip", "-d", "-o", "link", "show", "dev", link)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("macvlan mode bridge"), "node %s: %s is the macvlan CNI made", node, link)
		out, err = env.Exec(ctx, node, "ip", "-o", "addr", "show", "dev", "eth0")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("inet 192.168.11.15/24"), "node %s keeps its own address on its only NIC", node)
	})

	It("establishes the node's BGP sessions over it", func(ctx SpecContext) {
		start := time.Now()
		for _, nb := range u.Spec.Neighbors {
			Eventually(func() (string, error) {
				peers, err := bgpPeers(ctx, node, "")
				return peers[nb.Address], err
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal("Established"), "node %s: session with %s", node, nb.Address)
		}
		AddReportEntry("single-NIC node's sessions established", time.Since(start).Round(100*time.Millisecond).String())
	})

	It("announces its type-3 route to the EVPN leaves, and its workload pings the fabric's hosts across VXLAN", func(ctx SpecContext) {
		Expect(l2vnis(ctx)).NotTo(BeEmpty(), "the lab applies docs/examples/l2lab's L2VNI")
		vtep := nodeVTEP(ctx, node)
		start := time.Now()
		Eventually(func() error { return l2Healthy(ctx, node, vtep) }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s", node)
		AddReportEntry("single-NIC node's workload reaches the fabric hosts", time.Since(start).Round(100*time.Millisecond).String())
	})

	// The Underlay's IPAM moves from static to dhcp, live: the controller
	// replaces the link (CNI DEL, ADD), its dhcp daemon gets a lease from
	// udhcpd on the node's segment (8-second leases) and renews it, and the
	// node is back on the fabric. The static address comes back after.
	// Label cni-dhcp: `make e2e-native-labs` leaves it out until it has
	// passed in the lab (docs/e2e.md, suite 14).
	It("moves its underlay to a DHCP lease, live, renews the lease and stays on the fabric", Label("cni-dhcp"), func(ctx SpecContext) {
		const server, lease = "dhcpsrv", 8
		if out, err := env.Exec(ctx, server, "true"); err != nil {
			Skip("the lab has no " + server + " node (topologies/l2-cni.clab.yml's DHCP server host): " + out + err.Error())
		}
		acks, serverLog := startDHCPServer(ctx, server, "eth1", "192.168.11.100", "192.168.11.110", lease)

		static := u.DeepCopy()
		DeferCleanup(func(ctx SpecContext) {
			setUnderlaySpec(ctx, u.Name, static.Spec)
			Eventually(func() (string, error) {
				return env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", link)
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("inet 192.168.11.5/24"), "node %s: the static address is back", node)
		})
		dhcp := static.Spec.DeepCopy()
		for i := range dhcp.Interfaces {
			if d := dhcp.Interfaces[i].CNIDevice; d != nil {
				d.RawConfig = &runtime.RawExtension{Raw: []byte(`{"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "macvlan", "master": "eth0", "mode": "bridge", "ipam": {"type": "dhcp"}}]}`)}
			}
		}
		start := time.Now()
		setUnderlaySpec(ctx, u.Name, *dhcp)

		leased := regexp.MustCompile(`inet 192\.168\.11\.1(0[0-9]|10)/24`)
		Eventually(func() (string, error) {
			return env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", link)
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(MatchRegexp(leased.String()), "node %s: %s has a lease from %s", node, link, server)
		AddReportEntry("single-NIC node's underlay on a DHCP lease", time.Since(start).Round(100*time.Millisecond).String())
		for _, nb := range u.Spec.Neighbors {
			Eventually(func() (string, error) {
				peers, err := bgpPeers(ctx, node, "")
				return peers[nb.Address], err
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal("Established"), func() string {
				return fmt.Sprintf("node %s: session with %s over the leased address\n%s", node, nb.Address, dhcpSessionEvidence(ctx, node, link, nb.Address, serverLog()))
			})
		}
		vtep := nodeVTEP(ctx, node)
		Eventually(func() error { return l2Healthy(ctx, node, vtep) }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s", node)
		AddReportEntry("single-NIC node back on the fabric over DHCP", time.Since(start).Round(100*time.Millisecond).String())

		// A client renews at half the lease: two more ACKs within two
		// lease times prove the daemon renews (the first ACK is the lease).
		first := acks()
		Expect(first).To(BeNumerically(">=", 1), "udhcpd acknowledged the node's request")
		Eventually(acks).WithTimeout(2*lease*time.Second+5*time.Second).WithPolling(time.Second).
			Should(BeNumerically(">=", first+2), "the node's dhcp daemon renews its %d-second lease", lease)
		out, err := env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", link)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(MatchRegexp(leased.String()), "node %s keeps its lease", node)
	})
})

// setUnderlaySpec replaces an Underlay's spec and waits until every node
// it selects (not every node: the single-NIC lab has one Underlay per
// kind of node) reports it applied.
func setUnderlaySpec(ctx context.Context, name string, spec v1alpha1.UnderlaySpec) {
	GinkgoHelper()
	var cur v1alpha1.Underlay
	Expect(env.Kube().Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: name}, &cur)).To(Succeed())
	cur.Spec = spec
	admit(ctx, func(ctx context.Context) error { return env.Kube().Update(ctx, &cur) })
	Eventually(func() error {
		if err := env.Kube().Get(ctx, client.ObjectKeyFromObject(&cur), &cur); err != nil {
			return err
		}
		st := cur.Status.ObjectStatus
		if st.ObservedGeneration != cur.Generation || st.SelectedNodes == 0 || st.AppliedNodes != st.SelectedNodes {
			return fmt.Errorf("Underlay %s/%s: generation %d, status observedGeneration %d, selected %d, applied %d",
				cur.Namespace, cur.Name, cur.Generation, st.ObservedGeneration, st.SelectedNodes, st.AppliedNodes)
		}
		return nil
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
}

// startDHCPServer runs busybox's udhcpd in node's namespace on dev,
// leasing first..last for lease seconds, until the spec ends. It returns
// how many ACKs (new leases and renewals) udhcpd has sent so far, and its
// log.
func startDHCPServer(ctx context.Context, node, dev, first, last string, lease int) (acks func() int, serverLog func() string) {
	GinkgoHelper()
	dir, err := os.MkdirTemp("", "perouter-e2e-dhcp-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = os.RemoveAll(dir) })
	conf := filepath.Join(dir, "udhcpd.conf")
	Expect(os.WriteFile(conf, fmt.Appendf(nil, "start %s\nend %s\ninterface %s\nlease_file %s/leases\npidfile %s/pid\nmin_lease %d\nopt subnet 255.255.255.0\nopt lease %d\n",
		first, last, dev, dir, dir, lease, lease), 0o644)).To(Succeed())
	log := filepath.Join(dir, "udhcpd.log")
	pid, err := env.Exec(ctx, node, "sh", "-c", fmt.Sprintf("busybox udhcpd -f %s >%s 2>&1 </dev/null & echo $!", conf, log))
	Expect(err).NotTo(HaveOccurred(), pid)
	pid = strings.TrimSpace(pid)
	DeferCleanup(func(ctx context.Context) { _, _ = env.Exec(ctx, node, "kill", pid) })
	serverLog = func() string {
		data, _ := os.ReadFile(log)
		return string(data)
	}
	return func() int { return strings.Count(serverLog(), "sending ACK to ") }, serverLog
}

// dhcpSessionEvidence is what a session that does not come up over a
// lease needs to be told apart (the suite's evidence has neither the
// session's last reset, nor FRR's view of the peer's next hop and of the
// link, nor the leaf's neighbour table, nor the DHCP server's log): the
// 19:13 run of 2026-12-07 left the session Active for 3 minutes with no
// more than that.
func dhcpSessionEvidence(ctx context.Context, node, link, peer, serverLog string) string {
	var b strings.Builder
	add := func(title, out string, err error) {
		fmt.Fprintf(&b, "\n### %s\n%s", title, out)
		if err != nil {
			fmt.Fprintf(&b, "(error: %v)\n", err)
		}
	}
	out, err := env.Vtysh(ctx, node, "show bgp neighbor "+peer, "show bgp nexthop detail", "show interface "+link, "show ip route")
	add(node+" router: vtysh", out, err)
	out, err = env.ExecRouter(ctx, node, "sh", "-c", "ip -d link show "+link+"; ip addr; ip route; ip neigh; nstat -az TcpActiveOpens TcpAttemptFails TcpExtListenDrops 2>/dev/null")
	add(node+" router: links, addresses, routes, neighbours", out, err)
	// 192.168.11.1 is leafkind1 in topologies/l2-cni.clab.yml.
	out, err = env.Vtysh(ctx, "leafkind1", "show bgp summary", "show bgp listen range")
	add("leafkind1: vtysh", out, err)
	out, err = env.Exec(ctx, "leafkind1", "sh", "-c", "ip neigh; ip -s link show toswitch")
	add("leafkind1: neighbours, toswitch counters", out, err)
	add("dhcpsrv: udhcpd log", serverLog, nil)
	return b.String()
}
