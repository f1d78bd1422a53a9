package e2e

import (
	"context"
	"fmt"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// hostAddr6 reads a fabric host's global IPv6 address.
func hostAddr6(ctx context.Context, h Host) (netip.Addr, error) {
	out, err := env.Exec(ctx, h.Name, "ip", "-6", "-o", "addr", "show", "scope", "global")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host %s: ip -6 addr: %w: %s", h.Name, err, out)
	}
	p, err := netip.ParsePrefix(fieldAfter(out, "inet6"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host %s has no global IPv6 address (%q): %w", h.Name, out, err)
	}
	return p.Addr(), nil
}

// dualStackVNIs are the lab's L3VNIs whose host session has an IPv6
// localCIDR; the default lab's red is one.
func dualStackVNIs(ctx context.Context) []v1alpha1.L3VNI {
	GinkgoHelper()
	var out []v1alpha1.L3VNI
	for _, vni := range l3vnis(ctx) {
		if dualStack(vni) {
			out = append(out, vni)
		}
	}
	Expect(out).NotTo(BeEmpty(), "the lab has no L3VNI with an IPv6 localCIDR (docs/examples/lab/l3vnis.yaml gives red one)")
	return out
}

// Suite: IPv6 host sessions and IPv6 workload prefixes as EVPN type-5
// routes over the IPv4 VTEPs, with traffic both ways (issue 16, D3).
var _ = Describe("IPv6 type-5", Ordered, Label("ipv6-type5"), func() {
	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		startWorkloads(ctx)
	})

	It("brings up an IPv6 host session on every node", func(ctx SpecContext) {
		for _, vni := range dualStackVNIs(ctx) {
			for _, node := range env.ClusterNodes() {
				_, host := hostSession6(ctx, vni, node)
				Eventually(func() error {
					peers, err := bgpPeers(ctx, node, vni.Spec.VRF)
					if err != nil {
						return err
					}
					if st := peers[host.Addr().String()]; st != "Established" {
						return fmt.Errorf("node %s VRF %s: IPv6 host session to %s is %q (peers %v)", node, vni.Spec.VRF, host.Addr(), st, peers)
					}
					return nil
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
	})

	It("advertises every node's IPv6 workload prefix to the leaves with the node's VTEP and the VNI's RT", func(ctx SpecContext) {
		u := underlay(ctx)
		for _, vni := range dualStackVNIs(ctx) {
			rt := exportRT(u, vni)
			for _, node := range env.ClusterNodes() {
				prefix := type5Prefix(netip.PrefixFrom(workloadAddr6(ctx, vni, node), 128))
				vtep := nodeVTEP(ctx, node).String()
				for _, leaf := range env.EVPNLeaves() {
					Eventually(func() error { return hasType5(ctx, leaf, prefix, vtep, rt) }).
						WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "L3VNI %s/%s, node %s", vni.Namespace, vni.Name, node)
				}
			}
		}
	})

	It("carries ICMPv6 between each node's IPv6 workload and the fabric hosts of its VRF, both ways", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, vni := range dualStackVNIs(ctx) {
			for _, h := range hosts {
				if h.VRF != vni.Spec.VRF {
					continue
				}
				addr, err := hostAddr6(ctx, h)
				Expect(err).NotTo(HaveOccurred())
				for _, node := range env.ClusterNodes() {
					workload := workloadAddr6(ctx, vni, node)
					Eventually(func() error {
						if err := pingFrom(ctx, node, workload, addr); err != nil {
							return err
						}
						return ping(ctx, h.Name, workload)
					}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s, host %s", node, h.Name)
				}
			}
		}
	})

	It("keeps blue's hosts away from red's IPv6 workloads", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		vnis := dualStackVNIs(ctx)
		for _, a := range hosts {
			for _, vni := range vnis {
				if vni.Spec.VRF == a.VRF {
					continue
				}
				for _, node := range env.ClusterNodes() {
					w := workloadAddr6(ctx, vni, node)
					Expect(ping(ctx, a.Name, w)).NotTo(Succeed(), "%s (VRF %s) reached node %s's %s IPv6 workload %s", a.Name, a.VRF, node, vni.Spec.VRF, w)
				}
				for _, leaf := range env.EVPNLeaves() {
					Expect(leafVRFHas6(ctx, leaf, a.VRF, vni)).To(BeFalse(), "leaf %s VRF %s imported VRF %s's IPv6 workload prefixes", leaf, a.VRF, vni.Spec.VRF)
				}
			}
		}
	})
})

// The fabric half needs no cluster (it runs with PEROUTER_E2E_FABRIC_ONLY
// too): the leaves' IPv6 subnets cross the fabric as type-5 routes within
// a VRF, and not into the other.
var _ = Describe("IPv6 type-5 between the fabric leaves", Label("ipv6-type5"), func() {
	It("carries ICMPv6 between hosts of one VRF behind different leaves, and none between red and blue", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		addr := map[string]netip.Addr{}
		for _, h := range hosts {
			a, err := hostAddr6(ctx, h)
			Expect(err).NotTo(HaveOccurred())
			addr[h.Name] = a
		}
		leafVTEP := leafVTEPs(ctx)
		for _, a := range hosts {
			for _, b := range hosts {
				if a.Leaf == b.Leaf || a.VRF != b.VRF {
					continue
				}
				prefix := type5Prefix(netip.PrefixFrom(addr[b.Name], 64).Masked())
				Eventually(func() error { return hasType5(ctx, a.Leaf, prefix, leafVTEP[b.Leaf], "") }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "VRF %s: %s's subnet on %s", a.VRF, b.Name, a.Leaf)
				Eventually(func() error { return ping(ctx, a.Name, addr[b.Name]) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
		// The same-VRF pings above passed, so IPv6 does cross the fabric:
		// these refusals are the VRFs'.
		for _, a := range hosts {
			for _, b := range hosts {
				if a.VRF == b.VRF {
					continue
				}
				Expect(ping(ctx, a.Name, addr[b.Name])).NotTo(Succeed(), "%s (VRF %s) reached %s (VRF %s) over IPv6", a.Name, a.VRF, b.Name, b.VRF)
			}
		}
	})
})

// leafVRFHas6 reports whether a leaf's VRF holds any node's IPv6 workload
// prefix of another L3VNI.
func leafVRFHas6(ctx context.Context, leaf, vrf string, other v1alpha1.L3VNI) bool {
	GinkgoHelper()
	routes, err := jsonKeys(ctx, leaf, "show ipv6 route vrf "+vrf+" json")
	Expect(err).NotTo(HaveOccurred())
	for _, node := range env.ClusterNodes() {
		if routes[netip.PrefixFrom(workloadAddr6(ctx, other, node), 128).String()] {
			return true
		}
	}
	return false
}
