package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Suite 2: EVPN type-5 routes between the fabric leaves and the nodes.
var _ = Describe("EVPN type-5", Label("evpn"), func() {
	It("exchanges the fabric hosts' prefixes between the leaves", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		leafVTEP := leafVTEPs(ctx)
		for _, leaf := range env.EVPNLeaves() {
			for _, h := range hosts {
				if h.Leaf == leaf {
					continue
				}
				prefix := type5Prefix(netip.PrefixFrom(h.Address, 24).Masked())
				Eventually(func() error { return hasType5(ctx, leaf, prefix, leafVTEP[h.Leaf], "") }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
	})

	It("advertises each node's host-side prefix to the leaves with the node's VTEP and the VNI's RT", func(ctx SpecContext) {
		requireCluster()
		u := underlay(ctx)
		for _, vni := range l3vnis(ctx) {
			prefix := type5Prefix(netip.MustParsePrefix(vni.Spec.HostSession.LocalCIDR.IPv4).Masked())
			rt := exportRT(u, vni)
			for _, node := range env.ClusterNodes() {
				vtep := nodeVTEP(ctx, node).String()
				for _, leaf := range env.EVPNLeaves() {
					Eventually(func() error { return hasType5(ctx, leaf, prefix, vtep, rt) }).
						WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "L3VNI %s/%s, node %s", vni.Namespace, vni.Name, node)
				}
			}
		}
	})

	It("imports the leaves' prefixes into each node's VRF, and only its own VRF's", func(ctx SpecContext) {
		requireCluster()
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, node := range env.ClusterNodes() {
			for _, vni := range l3vnis(ctx) {
				Eventually(func() error {
					routes, err := vrfRoutes(ctx, node, vni.Spec.VRF)
					if err != nil {
						return err
					}
					for _, h := range hosts {
						p := netip.PrefixFrom(h.Address, 24).Masked().String()
						if h.VRF == vni.Spec.VRF && !routes[p] {
							return fmt.Errorf("node %s VRF %s lacks %s (host %s)", node, vni.Spec.VRF, p, h.Name)
						}
						if h.VRF != vni.Spec.VRF && routes[p] {
							return fmt.Errorf("node %s VRF %s has %s of host %s in VRF %s", node, vni.Spec.VRF, p, h.Name, h.VRF)
						}
					}
					return nil
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
	})
})

// leafVTEPs reads each fabric leaf's VTEP, the global IPv4 address on its lo.
func leafVTEPs(ctx context.Context) map[string]string {
	GinkgoHelper()
	leafVTEP := map[string]string{}
	for _, leaf := range env.EVPNLeaves() {
		out, err := env.Exec(ctx, leaf, "ip", "-4", "-o", "addr", "show", "dev", "lo", "scope", "global")
		Expect(err).NotTo(HaveOccurred())
		var addr string
		_, err = fmt.Sscanf(fieldAfter(out, "inet"), "%s", &addr)
		Expect(err).NotTo(HaveOccurred(), "leaf %s has no VTEP on lo: %s", leaf, out)
		leafVTEP[leaf] = netip.MustParsePrefix(addr).Addr().String()
	}
	return leafVTEP
}

// exportRT is the route target the node routers attach: the configured
// one, else FRR's auto-derived ASN:VNI.
func exportRT(u v1alpha1.Underlay, vni v1alpha1.L3VNI) string {
	if len(vni.Spec.ExportRTs) > 0 {
		return vni.Spec.ExportRTs[0]
	}
	return fmt.Sprintf("%d:%d", u.Spec.ASN, vni.Spec.VNI)
}

// hasType5 checks that leaf has a type-5 path for prefix with next hop
// nextHop (and route target rt, when not empty).
func hasType5(ctx context.Context, leaf, prefix, nextHop, rt string) error {
	routes, err := type5Routes(ctx, leaf)
	if err != nil {
		return err
	}
	var seen []string
	for _, r := range routes {
		if r.Prefix != prefix {
			continue
		}
		seen = append(seen, fmt.Sprintf("nh %s RTs %v", r.NextHop, r.RTs))
		if r.NextHop == nextHop && (rt == "" || slices.Contains(r.RTs, rt)) {
			return nil
		}
	}
	return fmt.Errorf("leaf %s: no type-5 %s via %s with RT %q; paths for it: %v", leaf, prefix, nextHop, rt, seen)
}

func lacksType5(ctx context.Context, leaf, prefix, nextHop string) error {
	routes, err := type5Routes(ctx, leaf)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.Prefix == prefix && r.NextHop == nextHop {
			return fmt.Errorf("leaf %s still has type-5 %s via %s", leaf, prefix, nextHop)
		}
	}
	return nil
}

func fieldAfter(s, key string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		if f == key && i+1 < len(fields) {
			return fields[i+1]
		}
	}
	return ""
}
