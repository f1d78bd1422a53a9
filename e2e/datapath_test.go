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

// hostBGPConfig is the FRR config of the workload side of a node: one
// session per L3VNI with the node's router, each announcing only that
// VRF's host address as a /32. The /32 is what makes the return path
// deterministic: every node announces the same host-session /24, so only
// the /32 tells the leaves which node's VTEP a host address lives behind.
func hostBGPConfig(ctx context.Context, node string) string {
	var b, af strings.Builder
	vnis := l3vnis(ctx)
	hostASN := uint32(64515)
	if hs := vnis[0].Spec.HostSession; hs.HostASN != nil {
		hostASN = *hs.HostASN
	}
	_, firstHost := hostSession(ctx, vnis[0], node)
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n", hostASN, firstHost.Addr())
	for _, vni := range vnis {
		router, host := hostSession(ctx, vni, node)
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 3 9\n neighbor %s timers connect 2\n", router.Addr(), vni.Spec.HostSession.ASN, router.Addr(), router.Addr())
		fmt.Fprintf(&af, "  network %s/32\n  neighbor %s prefix-list only-%s out\n", host.Addr(), router.Addr(), vni.Spec.VRF)
	}
	fmt.Fprintf(&b, " address-family ipv4 unicast\n%s exit-address-family\nexit\n", af.String())
	for _, vni := range vnis {
		_, host := hostSession(ctx, vni, node)
		fmt.Fprintf(&b, "ip prefix-list only-%s seq 5 permit %s/32\n", vni.Spec.VRF, host.Addr())
	}
	return b.String()
}

// startWorkloads starts the host-side BGP speaker on every node (what a
// real cluster runs as frr-k8s or similar) and a TCP listener on every
// fabric host.
func startWorkloads(ctx context.Context) {
	for _, node := range env.ClusterNodes() {
		Expect(env.StartHostBGP(ctx, node, hostBGPConfig(ctx, node))).To(Succeed(), "node %s", node)
	}
	hosts, err := env.Hosts(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, h := range hosts {
		out, err := env.Exec(ctx, h.Name, "sh", "-c", "nc -lk "+tcpPort+" >/dev/null 2>&1 </dev/null &")
		Expect(err).NotTo(HaveOccurred(), "host %s: %s", h.Name, out)
	}
}

func tcpConnect(ctx context.Context, from string, to netip.Addr) error {
	out, err := env.Exec(ctx, from, "nc", "-z", "-w", "2", to.String(), tcpPort)
	if err != nil {
		return fmt.Errorf("%s: TCP connect to %s:%s: %w: %s", from, to, tcpPort, err, strings.TrimSpace(out))
	}
	return nil
}

// datapathOK checks ICMP and TCP both ways between one node and every
// fabric host of each VRF.
func datapathOK(ctx context.Context, node string) error {
	hosts, err := env.Hosts(ctx)
	if err != nil {
		return err
	}
	for _, vni := range l3vnis(ctx) {
		_, nodeHost := hostSession(ctx, vni, node)
		for _, h := range hosts {
			if h.VRF != vni.Spec.VRF {
				continue
			}
			if err := ping(ctx, node, h.Address); err != nil {
				return err
			}
			if err := tcpConnect(ctx, node, h.Address); err != nil {
				return err
			}
			if err := ping(ctx, h.Name, nodeHost.Addr()); err != nil {
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

	It("carries ICMP and TCP between each node's host side and the fabric hosts of its VRFs, both ways", func(ctx SpecContext) {
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
					_, other := hostSession(ctx, vni, node)
					Expect(ping(ctx, a.Name, other.Addr())).NotTo(Succeed(), "%s (VRF %s) reached node %s's %s side %s", a.Name, a.VRF, node, vni.Spec.VRF, other.Addr())
				}
			}
		}
	})
})
