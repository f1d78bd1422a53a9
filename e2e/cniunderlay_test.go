package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
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
// fabric's hosts across VXLAN.
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
})
