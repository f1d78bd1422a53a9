package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

const tcpPort = "7000"

// workloadAddr is the address a node's workload announces into one VRF,
// as a load balancer (MetalLB, frr-k8s) would announce a service IP:
// 198.18.<VNI mod 256>.<index+1> (RFC 2544 benchmarking space, never
// routed), one /32 per node and VRF. The host-session addresses cannot play
// that role: they belong to localCIDR, which the router refuses from the
// host (its import policy denies localCIDR), and every node announces the
// same localCIDR /24, so the fabric could not tell the nodes apart.
func workloadAddr(ctx context.Context, vni v1alpha1.L3VNI, node string) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(vni.Spec.VNI % 256), byte(eventuallyNodeIndex(ctx, node) + 1)})
}

// workloadAddr6 is a node's IPv6 workload address in a VRF whose
// localCIDR is dual-stack: fd00:198:18:<VNI, hex>::<index+1> (unique local, never
// routed), for the same reasons as workloadAddr.
func workloadAddr6(ctx context.Context, vni v1alpha1.L3VNI, node string) netip.Addr {
	b := [16]byte{0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, byte(vni.Spec.VNI >> 8), byte(vni.Spec.VNI)}
	idx := eventuallyNodeIndex(ctx, node) + 1
	b[14], b[15] = byte(idx>>8), byte(idx)
	return netip.AddrFrom16(b)
}

// dualStack reports whether an L3VNI's host session has an IPv6 localCIDR.
func dualStack(vni v1alpha1.L3VNI) bool {
	return vni.Spec.HostSession != nil && vni.Spec.HostSession.LocalCIDR.IPv6 != ""
}

// hostBGPConfig is the FRR config of the workload side of a node: one
// session per L3VNI with the node's router, each announcing only that
// VRF's workload address.
func hostBGPConfig(ctx context.Context, node string) string {
	var b, af strings.Builder
	vnis := l3vnis(ctx)
	hostASN := uint32(64515)
	if hs := vnis[0].Spec.HostSession; hs.HostASN != nil {
		hostASN = *hs.HostASN
	}
	_, firstHost := hostSession(ctx, vnis[0], node)
	// Inline next hops, as the router's own FRR has them (docs/frr.md): the
	// host veths this speaker routes over are re-created by the controller,
	// and zebra's cached kernel nexthop objects would die with them.
	b.WriteString("no zebra nexthop kernel enable\n")
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n", hostASN, firstHost.Addr())
	for _, vni := range vnis {
		router, _ := hostSession(ctx, vni, node)
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 10 30\n neighbor %s timers connect 2\n", router.Addr(), vni.Spec.HostSession.ASN, router.Addr(), router.Addr())
		fmt.Fprintf(&af, "  network %s/32\n  neighbor %s prefix-list only-%s out\n", workloadAddr(ctx, vni, node), router.Addr(), vni.Spec.VRF)
	}
	// Dual-stack VRFs get a second session, over IPv6, announcing the
	// node's IPv6 workload address.
	var af6 strings.Builder
	for _, vni := range vnis {
		if !dualStack(vni) {
			continue
		}
		router, _ := hostSession6(ctx, vni, node)
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 10 30\n neighbor %s timers connect 2\n", router.Addr(), vni.Spec.HostSession.ASN, router.Addr(), router.Addr())
		fmt.Fprintf(&af, "  no neighbor %s activate\n", router.Addr())
		fmt.Fprintf(&af6, "  network %s/128\n  neighbor %s activate\n  neighbor %s prefix-list only6-%s out\n", workloadAddr6(ctx, vni, node), router.Addr(), router.Addr(), vni.Spec.VRF)
	}
	fmt.Fprintf(&b, " address-family ipv4 unicast\n%s exit-address-family\n", af.String())
	if af6.Len() > 0 {
		fmt.Fprintf(&b, " address-family ipv6 unicast\n%s exit-address-family\n", af6.String())
	}
	b.WriteString("exit\n")
	for _, vni := range vnis {
		fmt.Fprintf(&b, "ip prefix-list only-%s seq 5 permit %s/32\n", vni.Spec.VRF, workloadAddr(ctx, vni, node))
		if dualStack(vni) {
			fmt.Fprintf(&b, "ipv6 prefix-list only6-%s seq 5 permit %s/128\n", vni.Spec.VRF, workloadAddr6(ctx, vni, node))
		}
	}
	return b.String()
}

// startNodeWorkload puts the node's workload addresses on its host
// namespace's loopback and (re)starts the BGP speaker announcing them.
func startNodeWorkload(ctx context.Context, node string) {
	if len(l3vnis(ctx)) == 0 {
		return // nothing to announce: an L2-only lab
	}
	for _, vni := range l3vnis(ctx) {
		addr := workloadAddr(ctx, vni, node).String() + "/32"
		out, err := env.Exec(ctx, node, "ip", "addr", "replace", addr, "dev", "lo")
		Expect(err).NotTo(HaveOccurred(), "node %s: ip addr replace %s dev lo: %s", node, addr, out)
		if dualStack(vni) {
			addr := workloadAddr6(ctx, vni, node).String() + "/128"
			out, err := env.Exec(ctx, node, "ip", "-6", "addr", "replace", addr, "dev", "lo")
			Expect(err).NotTo(HaveOccurred(), "node %s: ip -6 addr replace %s dev lo: %s", node, addr, out)
		}
	}
	Expect(env.StartHostBGP(ctx, node, hostBGPConfig(ctx, node))).To(Succeed(), "node %s", node)
}

// startWorkloads starts the workload side on every node (what a real
// cluster runs as frr-k8s or similar) and a TCP listener on every fabric
// host.
func startWorkloads(ctx context.Context) {
	for _, node := range env.ClusterNodes() {
		startNodeWorkload(ctx, node)
	}
	hosts, err := env.Hosts(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, h := range hosts {
		out, err := env.Exec(ctx, h.Name, "sh", "-c", "nc -lk "+tcpPort+" >/dev/null 2>&1 </dev/null &")
		Expect(err).NotTo(HaveOccurred(), "host %s: %s", h.Name, out)
	}
}

func tcpConnect(ctx context.Context, from string, to netip.Addr) error {
	return tcpConnectFrom(ctx, from, netip.Addr{}, to)
}

// tcpConnectFrom connects from a given source address (any when invalid).
func tcpConnectFrom(ctx context.Context, from string, src, to netip.Addr) error {
	args := []string{"nc", "-z", "-w", "2"}
	if src.IsValid() {
		args = append(args, "-s", src.String())
	}
	out, err := env.Exec(ctx, from, append(args, to.String(), tcpPort)...)
	if err != nil {
		return fmt.Errorf("%s: TCP connect from %v to %s:%s: %w: %s", from, src, to, tcpPort, err, strings.TrimSpace(out))
	}
	return nil
}

// datapathOK checks ICMP and TCP both ways between one node's workload
// address and every fabric host of each VRF.
func datapathOK(ctx context.Context, node string) error {
	hosts, err := env.Hosts(ctx)
	if err != nil {
		return err
	}
	for _, vni := range l3vnis(ctx) {
		workload := workloadAddr(ctx, vni, node)
		for _, h := range hosts {
			if h.VRF != vni.Spec.VRF {
				continue
			}
			if err := pingFrom(ctx, node, workload, h.Address); err != nil {
				return err
			}
			if err := tcpConnectFrom(ctx, node, workload, h.Address); err != nil {
				return err
			}
			if err := ping(ctx, h.Name, workload); err != nil {
				return err
			}
		}
	}
	return nil
}

// Suite 3: packets through VXLAN between the nodes' host side and the hosts
// behind the fabric leaves, and VRF isolation.
var _ = Describe("VXLAN datapath", Ordered, Label("datapath"), func() {
	BeforeAll(func(ctx SpecContext) { startWorkloads(ctx) })

	It("carries ICMP and TCP between hosts of one VRF behind different leaves", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, a := range hosts {
			for _, b := range hosts {
				if a.VRF != b.VRF || a.Leaf == b.Leaf {
					continue
				}
				Eventually(func() error { return ping(ctx, a.Name, b.Address) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
				Expect(tcpConnect(ctx, a.Name, b.Address)).To(Succeed())
			}
		}
	})

	It("carries ICMP and TCP between each node's workloads and the fabric hosts of their VRFs, both ways", func(ctx SpecContext) {
		requireCluster()
		for _, node := range env.ClusterNodes() {
			Eventually(func() error { return datapathOK(ctx, node) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s", node)
		}
	})

	It("keeps red and blue apart", func(ctx SpecContext) {
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		var vnis []v1alpha1.L3VNI
		if env.Kube() != nil {
			vnis = l3vnis(ctx)
		}
		for _, a := range hosts {
			for _, b := range hosts {
				if a.VRF == b.VRF {
					continue
				}
				Expect(ping(ctx, a.Name, b.Address)).NotTo(Succeed(), "%s (VRF %s) reached %s (VRF %s)", a.Name, a.VRF, b.Name, b.VRF)
			}
			for _, node := range env.ClusterNodes() {
				for _, vni := range vnis {
					if vni.Spec.VRF == a.VRF {
						continue
					}
					other := workloadAddr(ctx, vni, node)
					Expect(ping(ctx, a.Name, other)).NotTo(Succeed(), "%s (VRF %s) reached node %s's %s workload %s", a.Name, a.VRF, node, vni.Spec.VRF, other)
				}
			}
		}
	})
})
