package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Suite 11: the fabric speaks IPv6 to the nodes (topologies/l2-v6.clab.yml
// with docs/examples/l2v6lab/underlay.yaml and docs/examples/l2lab). Every
// node peers with one leaf at its IPv6 address and with the other
// unnumbered, over the IPv6 link-locals. The VTEPs stay IPv4: they cross
// those sessions in ipv4 unicast with IPv6 next hops (RFC 8950), and the
// L2VNI's segment works over them as over the IPv4 lab.
var _ = Describe("IPv6 underlay", Ordered, Label("ipv6-underlay"), func() {
	var u v1alpha1.Underlay

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		u = underlay(ctx)
		if !speaksIPv6Only(u) {
			Skip(fmt.Sprintf("Underlay %s/%s has an IPv4 neighbour or none over IPv6: this suite runs in the IPv6 lab (topologies/l2-v6.clab.yml with docs/examples/l2v6lab/underlay.yaml,docs/examples/l2lab)", u.Namespace, u.Name))
		}
	})

	It("establishes every node's sessions over IPv6, numbered and unnumbered, with the extended next hop", func(ctx SpecContext) {
		start := time.Now()
		for _, node := range env.ClusterNodes() {
			for _, nb := range u.Spec.Neighbors {
				id := neighborID(nb)
				Eventually(func() error { return sessionOverIPv6(ctx, node, id) }).
					WithTimeout(convergeTimeout).WithPolling(poll).
					Should(Succeed(), "node %s: session with %s (Underlay %s/%s spec.neighbors)", node, id, u.Namespace, u.Name)
			}
		}
		AddReportEntry("every node's sessions established over IPv6", time.Since(start).Round(100*time.Millisecond).String())
	})

	It("carries the IPv4 VTEPs over the IPv6 sessions: the nodes route to the fabric's VTEPs, and the leaves to every node's, via IPv6 next hops", func(ctx SpecContext) {
		// The fabric leaves' VTEPs, as the nodes must reach them.
		var leafVTEPs []string
		for _, leaf := range env.EVPNLeaves() {
			out, err := env.Exec(ctx, leaf, "ip", "-j", "-4", "addr", "show", "dev", "lo")
			Expect(err).NotTo(HaveOccurred(), out)
			leafVTEPs = append(leafVTEPs, globalAddrs(out)...)
		}
		Expect(leafVTEPs).NotTo(BeEmpty(), "no VTEP on the EVPN leaves' lo")
		for _, node := range env.ClusterNodes() {
			for _, vtep := range leafVTEPs {
				Eventually(func() error { _, err := routedViaIPv6(ctx, node, vtep+"/32"); return err }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s", node)
			}
			// Each leaf routes the node's VTEP to the node itself: to an
			// address of the node's router on that leaf's link (a next
			// hop on the right link, not merely an IPv6 one).
			vtep := nodeVTEP(ctx, node)
			out, err := env.ExecRouter(ctx, node, "ip", "-j", "-6", "addr", "show")
			Expect(err).NotTo(HaveOccurred(), out)
			own := map[string]bool{}
			for _, a := range ipv6Addrs(out) {
				own[a] = true
			}
			for _, leaf := range nodeFacingLeaves(ctx) {
				Eventually(func() error {
					hops, err := routedViaIPv6(ctx, leaf, netip.PrefixFrom(vtep, 32).String())
					if err != nil {
						return err
					}
					for _, h := range hops {
						if !own[h] {
							return fmt.Errorf("leaf %s: node %s's VTEP %s via %s, not an address of the node's router (%v)", leaf, node, vtep, h, own)
						}
					}
					return nil
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "leaf %s: node %s's VTEP", leaf, node)
			}
		}
	})

	It("stretches the L2VNI over them: every node's type-3 route on the EVPN leaves, and a workload on br-hs-110 pinging the fabric's hosts", func(ctx SpecContext) {
		Expect(l2vnis(ctx)).NotTo(BeEmpty(), "the IPv6 lab applies docs/examples/l2lab's L2VNI")
		start := time.Now()
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node)
			Eventually(func() error { return l2Healthy(ctx, node, vtep) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s", node)
		}
		AddReportEntry("every node's workload reaches the fabric hosts", time.Since(start).Round(100*time.Millisecond).String())
	})
})

// speaksIPv6Only: no neighbour of the Underlay has an IPv4 address, and
// one at least is over IPv6 (an IPv6 address or an interface).
func speaksIPv6Only(u v1alpha1.Underlay) bool {
	v6 := false
	for _, nb := range u.Spec.Neighbors {
		if a, err := netip.ParseAddr(nb.Address); err == nil && a.Is4() {
			return false
		}
		v6 = true
	}
	return v6
}

// bgpNeighbor is what the suite reads of FRR's `show bgp neighbors X json`.
type bgpNeighbor struct {
	State        string `json:"bgpState"`
	HostLocal    string `json:"hostLocal"`
	HostForeign  string `json:"hostForeign"`
	Capabilities struct {
		ExtendedNexthop string `json:"extendedNexthop"`
	} `json:"neighborCapabilities"`
}

// sessionOverIPv6 checks that a node's session with a neighbour (its
// address or, unnumbered, its interface) is established over IPv6 and
// both sides agreed on the extended next hop, without which the IPv4
// VTEPs could not cross it.
func sessionOverIPv6(ctx context.Context, node, id string) error {
	out, err := env.Vtysh(ctx, node, "show bgp neighbors "+id+" json")
	if err != nil {
		return err
	}
	var peers map[string]bgpNeighbor
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return fmt.Errorf("node %s: show bgp neighbors %s json: %w", node, id, err)
	}
	p, ok := peers[id]
	if !ok {
		return fmt.Errorf("node %s: no neighbour %s in %s", node, id, out)
	}
	if p.State != "Established" {
		return fmt.Errorf("node %s: session with %s is %q", node, id, p.State)
	}
	for _, h := range []string{p.HostLocal, p.HostForeign} {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() || a.Is4In6() {
			return fmt.Errorf("node %s: session with %s runs between %q and %q, not over IPv6", node, id, p.HostLocal, p.HostForeign)
		}
	}
	if p.Capabilities.ExtendedNexthop != "advertisedAndReceived" {
		return fmt.Errorf("node %s: session with %s: extended next hop %q, want advertisedAndReceived", node, id, p.Capabilities.ExtendedNexthop)
	}
	return nil
}

// routedViaIPv6 checks that a router's selected route to an IPv4 prefix
// is BGP's, with IPv6 next hops only, all installed: IPv4 over IPv6. It
// returns the next hops.
func routedViaIPv6(ctx context.Context, router, prefix string) ([]string, error) {
	out, err := env.Vtysh(ctx, router, "show ip route "+prefix+" json")
	if err != nil {
		return nil, err
	}
	var table map[string][]struct {
		Protocol string `json:"protocol"`
		Selected bool   `json:"selected"`
		Nexthops []struct {
			IP        string `json:"ip"`
			AFI       string `json:"afi"`
			Interface string `json:"interfaceName"`
			Active    bool   `json:"active"`
			FIB       bool   `json:"fib"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &table); err != nil {
		return nil, fmt.Errorf("%s: show ip route %s json: %w", router, prefix, err)
	}
	for _, r := range table[prefix] {
		if !r.Selected {
			continue
		}
		var hops []string
		for _, nh := range r.Nexthops {
			if nh.AFI != "ipv6" || !nh.Active || !nh.FIB {
				return nil, fmt.Errorf("%s: route %s has next hop %s (%s) dev %s, active %v, installed %v: want IPv6 next hops, installed", router, prefix, nh.IP, nh.AFI, nh.Interface, nh.Active, nh.FIB)
			}
			hops = append(hops, nh.IP)
		}
		if r.Protocol != "bgp" || len(hops) == 0 {
			return nil, fmt.Errorf("%s: route %s from %s with %d next hops, want bgp's", router, prefix, r.Protocol, len(hops))
		}
		return hops, nil
	}
	return nil, fmt.Errorf("%s: no selected route to %s: %s", router, prefix, out)
}

// nodeFacingLeaves are the fabric routers with a session in the nodes'
// AS (read from their summaries): in the IPv6 lab, both node-facing
// leaves.
func nodeFacingLeaves(ctx context.Context) []string {
	GinkgoHelper()
	asn := underlay(ctx).Spec.ASN
	var out []string
	for _, r := range env.FabricRouters() {
		text, err := env.Vtysh(ctx, r, "show bgp summary json")
		Expect(err).NotTo(HaveOccurred())
		var summary map[string]struct {
			Peers map[string]struct {
				RemoteAS uint32 `json:"remoteAs"`
			} `json:"peers"`
		}
		Expect(json.Unmarshal([]byte(text), &summary)).To(Succeed())
		found := false
		for _, fam := range summary {
			for _, p := range fam.Peers {
				found = found || p.RemoteAS == asn
			}
		}
		if found {
			out = append(out, r)
		}
	}
	Expect(out).NotTo(BeEmpty(), "no fabric router peers with AS %d", asn)
	return out
}

// globalAddrs lists the global addresses in `ip -j addr` output.
func globalAddrs(ipJSON string) []string {
	return addrsIn(ipJSON, func(scope string) bool { return scope == "global" })
}

// ipv6Addrs lists the global and link-local addresses in `ip -j -6 addr`
// output.
func ipv6Addrs(ipJSON string) []string {
	return addrsIn(ipJSON, func(scope string) bool { return scope == "global" || scope == "link" })
}

func addrsIn(ipJSON string, keep func(scope string) bool) []string {
	var links []struct {
		Addrs []struct {
			Local string `json:"local"`
			Scope string `json:"scope"`
		} `json:"addr_info"`
	}
	if json.Unmarshal([]byte(ipJSON), &links) != nil {
		return nil
	}
	var out []string
	for _, l := range links {
		for _, a := range l.Addrs {
			if keep(a.Scope) {
				out = append(out, a.Local)
			}
		}
	}
	return out
}
