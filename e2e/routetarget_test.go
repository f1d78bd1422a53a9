package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Suite: explicit route targets (importRTs/exportRTs). The fabric leaves
// keep FRR's automatic RTs, so an RT the nodes make up matches nothing on
// the leaves: routes must be imported exactly where an RT matches, and a
// live RT change must move them.
var _ = Describe("Route targets", Ordered, Label("route-targets"), func() {
	var (
		vni      v1alpha1.L3VNI // the L3VNI under test, as the lab applied it
		hosts    []Host         // the fabric hosts in its VRF
		leafRT   string         // the RT the leaves attach to that VRF's routes
		nodePfx  netip.Prefix   // the nodes' host-side prefix of the VNI
		madeUpRT string         // an RT no leaf imports
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		vni = l3vnis(ctx)[0]
		Expect(vni.Spec.ImportRTs).To(BeEmpty(), "the lab's L3VNIs use automatic RTs")
		all, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, h := range all {
			if h.VRF == vni.Spec.VRF {
				hosts = append(hosts, h)
			}
		}
		Expect(hosts).NotTo(BeEmpty(), "no fabric host in VRF %s", vni.Spec.VRF)
		nodePfx = netip.MustParsePrefix(vni.Spec.HostSession.LocalCIDR.IPv4).Masked()
		// The leaves' RT for this VRF, as another leaf received it (the
		// node routers' FRR answers that JSON command with nothing).
		hostPfx := type5Prefix(netip.PrefixFrom(hosts[0].Address, 24).Masked())
		var otherLeaf string
		for _, leaf := range env.EVPNLeaves() {
			if leaf != hosts[0].Leaf {
				otherLeaf = leaf
			}
		}
		Expect(otherLeaf).NotTo(BeEmpty(), "the lab needs two EVPN leaves")
		Eventually(func() error {
			routes, err := type5Routes(ctx, otherLeaf)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if r.Prefix == hostPfx && len(r.RTs) > 0 {
					leafRT = r.RTs[0]
					return nil
				}
			}
			return fmt.Errorf("leaf %s has no type-5 %s with an RT", otherLeaf, hostPfx)
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		madeUpRT = fmt.Sprintf("%d:%d", underlay(ctx).Spec.ASN, vni.Spec.VNI+1000)

		DeferCleanup(func(ctx context.Context) {
			setRTs(ctx, vni, vni.Spec.ImportRTs, vni.Spec.ExportRTs)
		})
	})

	It("exports and imports only the configured RT", func(ctx SpecContext) {
		setRTs(ctx, vni, []string{madeUpRT}, []string{madeUpRT})
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return hasType5(ctx, leaf, type5Prefix(nodePfx), vtep, madeUpRT) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s exports %s", node, madeUpRT)
			}
			Eventually(func() error { return vrfLacksHosts(ctx, node, vni.Spec.VRF, hosts) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "the leaves' RT %s is not imported", leafRT)
		}
		for _, leaf := range env.EVPNLeaves() {
			Eventually(func() error { return vrfLacks(ctx, leaf, vni.Spec.VRF, nodePfx) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "no leaf imports %s", madeUpRT)
		}
	})

	It("imports the leaves' routes once their RT is added, while they still import nothing of ours", func(ctx SpecContext) {
		setRTs(ctx, vni, []string{madeUpRT, leafRT}, []string{madeUpRT})
		for _, node := range env.ClusterNodes() {
			Eventually(func() error { return vrfHasHosts(ctx, node, vni.Spec.VRF, hosts) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		for _, leaf := range env.EVPNLeaves() {
			Consistently(func() error { return vrfLacks(ctx, leaf, vni.Spec.VRF, nodePfx) }).
				WithTimeout(5 * poll).WithPolling(poll).Should(Succeed())
		}
	})

	It("moves the routes back when the automatic RTs return", func(ctx SpecContext) {
		setRTs(ctx, vni, nil, nil)
		auto := exportRT(underlay(ctx), vni)
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return hasType5(ctx, leaf, type5Prefix(nodePfx), vtep, auto) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
			Eventually(func() error { return vrfHasHosts(ctx, node, vni.Spec.VRF, hosts) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		for _, leaf := range env.EVPNLeaves() {
			Eventually(func() (map[string]bool, error) { return vrfRoutes(ctx, leaf, vni.Spec.VRF) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(HaveKey(nodePfx.String()))
		}
		// Routes are not enough: session 9 found the nodes' RMAC neighbour
		// of a leaf VTEP left FAILED on br-pe-<VNI> after this round trip
		// (the routes right, the packets dropped): FRR 8.4's zebra loses
		// it on a re-import, and the reloader repairs it
		// (reloader.EVPNNexthops, reimport_test.go). docs/e2e.md.
		startWorkloads(ctx)
		for _, node := range env.ClusterNodes() {
			Eventually(func() error { return datapathOK(ctx, node) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s's datapath after the RT round trip", node)
		}
	})
})

// setRTs updates an L3VNI's route targets and waits until every node
// reports the new generation applied.
func setRTs(ctx context.Context, vni v1alpha1.L3VNI, importRTs, exportRTs []string) {
	GinkgoHelper()
	var cur v1alpha1.L3VNI
	Expect(env.Kube().Get(ctx, client.ObjectKeyFromObject(&vni), &cur)).To(Succeed())
	cur.Spec.ImportRTs, cur.Spec.ExportRTs = slices.Clone(importRTs), slices.Clone(exportRTs)
	admit(ctx, func(ctx context.Context) error { return env.Kube().Update(ctx, &cur) })
	Eventually(func() error {
		return statusApplied(ctx, &cur, func() v1alpha1.ObjectStatus { return cur.Status.ObjectStatus })
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
}

func hostPrefix(h Host) string { return netip.PrefixFrom(h.Address, 24).Masked().String() }

func vrfHasHosts(ctx context.Context, router, vrf string, hosts []Host) error {
	routes, err := vrfRoutes(ctx, router, vrf)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if !routes[hostPrefix(h)] {
			return fmt.Errorf("%s VRF %s lacks %s (host %s)", router, vrf, hostPrefix(h), h.Name)
		}
	}
	return nil
}

func vrfLacksHosts(ctx context.Context, router, vrf string, hosts []Host) error {
	for _, h := range hosts {
		if err := vrfLacks(ctx, router, vrf, netip.MustParsePrefix(hostPrefix(h))); err != nil {
			return fmt.Errorf("%w (host %s)", err, h.Name)
		}
	}
	return nil
}

func vrfLacks(ctx context.Context, router, vrf string, p netip.Prefix) error {
	routes, err := vrfRoutes(ctx, router, vrf)
	if err != nil {
		return err
	}
	if routes[p.String()] {
		return fmt.Errorf("%s VRF %s has %s", router, vrf, p)
	}
	return nil
}
