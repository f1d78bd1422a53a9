package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// passthroughCIDR is the host-session subnet of the spec's L3Passthrough;
// it clashes with no L3VNI of the lab.
const passthroughCIDR = "192.169.30.0/24"

// passthroughWorkload is what a node announces over the passthrough
// session: 198.51.100.<index+1>/32 (TEST-NET-2, never routed outside the
// lab), one per node, so the fabric can tell the nodes apart.
func passthroughWorkload(ctx context.Context, node string) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(eventuallyNodeIndex(ctx, node) + 1)})
}

// passthroughBGPConfig is the workload side of a node with the passthrough
// session added to the L3VNI sessions: one speaker (one ASN) serves both,
// as frr-k8s would on a real node, and each session announces only its
// own workload address.
// Extra addresses are announced too (as /32s, without being configured).
func passthroughBGPConfig(ctx context.Context, pt *v1alpha1.L3Passthrough, node string, extra ...netip.Addr) string {
	router, _ := sessionAddrs(ctx, pt.Spec.HostSession, node)
	cfg := hostBGPConfig(ctx, node)
	neighbor := fmt.Sprintf(" neighbor %s remote-as %d\n neighbor %s timers 10 30\n neighbor %s timers connect 2\n",
		router.Addr(), pt.Spec.HostSession.ASN, router.Addr(), router.Addr())
	announced := append([]netip.Addr{passthroughWorkload(ctx, node)}, extra...)
	var af, prefixList strings.Builder
	for i, a := range announced {
		fmt.Fprintf(&af, "  network %s/32\n", a)
		fmt.Fprintf(&prefixList, "ip prefix-list only-passthrough seq %d permit %s/32\n", 5*(i+1), a)
	}
	fmt.Fprintf(&af, "  neighbor %s prefix-list only-passthrough out\n", router.Addr())
	cfg = strings.Replace(cfg, " address-family ipv4 unicast\n", neighbor+" address-family ipv4 unicast\n"+af.String(), 1)
	return cfg + prefixList.String()
}

// Suite: L3Passthrough, the host's BGP session with the router's default
// VRF. Its routes travel the fabric as plain IPv4 unicast, not EVPN.
var _ = Describe("L3Passthrough", Ordered, Label("passthrough"), func() {
	var (
		pt       *v1alpha1.L3Passthrough
		leafVTEP map[string]netip.Addr // an address of each EVPN leaf in the fabric's default table
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		hostASN := uint32(64515)
		if hs := l3vnis(ctx)[0].Spec.HostSession; hs != nil && hs.HostASN != nil {
			hostASN = *hs.HostASN
		}
		pt = &v1alpha1.L3Passthrough{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-passthrough", Namespace: operatorNamespace},
			Spec: v1alpha1.L3PassthroughSpec{HostSession: v1alpha1.HostSession{
				ASN: underlay(ctx).Spec.ASN, HostASN: &hostASN, LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: passthroughCIDR},
			}},
		}
		Expect(env.Kube().Create(ctx, pt)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			_ = env.Kube().Delete(ctx, pt)
			for _, node := range env.ClusterNodes() {
				startNodeWorkload(ctx, node)
			}
		})
		Eventually(func() error {
			return statusApplied(ctx, pt, func() v1alpha1.ObjectStatus { return pt.Status.ObjectStatus })
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		for _, node := range env.ClusterNodes() {
			addr := passthroughWorkload(ctx, node).String() + "/32"
			out, err := env.Exec(ctx, node, "ip", "addr", "replace", addr, "dev", "lo")
			Expect(err).NotTo(HaveOccurred(), "node %s: ip addr replace %s dev lo: %s", node, addr, out)
			DeferCleanup(func(ctx context.Context) { _, _ = env.Exec(ctx, node, "ip", "addr", "del", addr, "dev", "lo") })
			startNodeWorkload(ctx, node) // the L3VNI workload addresses
			Expect(env.StartHostBGP(ctx, node, passthroughBGPConfig(ctx, pt, node))).To(Succeed(), "node %s", node)
		}
		leafVTEP = map[string]netip.Addr{}
		for _, leaf := range env.EVPNLeaves() {
			out, err := env.Exec(ctx, leaf, "ip", "-4", "-o", "addr", "show", "dev", "lo", "scope", "global")
			Expect(err).NotTo(HaveOccurred())
			leafVTEP[leaf] = netip.MustParsePrefix(fieldAfter(out, "inet")).Addr()
		}
	})

	It("establishes the host session in the router's default VRF", func(ctx SpecContext) {
		for _, node := range env.ClusterNodes() {
			_, host := sessionAddrs(ctx, pt.Spec.HostSession, node)
			Eventually(func() (map[string]string, error) { return bgpPeers(ctx, node, "") }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(HaveKeyWithValue(host.Addr().String(), "Established"), "node %s", node)
		}
	})

	It("carries the host's prefix to the fabric as plain unicast, and the fabric's routes to the host", func(ctx SpecContext) {
		for _, node := range env.ClusterNodes() {
			workload := passthroughWorkload(ctx, node).String() + "/32"
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() (map[string]bool, error) { return defaultRoutes(ctx, leaf) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(HaveKey(workload), "leaf %s, node %s", leaf, node)
				router, _ := sessionAddrs(ctx, pt.Spec.HostSession, node)
				Eventually(func() (string, error) {
					return env.Exec(ctx, node, "ip", "-4", "route", "show", leafVTEP[leaf].String()+"/32")
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("via "+router.Addr().String()),
					"node %s's host namespace routes leaf %s's %s over the passthrough session", node, leaf, leafVTEP[leaf])
			}
		}
	})

	It("carries ICMP between the host and the fabric, both ways", func(ctx SpecContext) {
		for _, node := range env.ClusterNodes() {
			workload := passthroughWorkload(ctx, node)
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return pingFrom(ctx, node, workload, leafVTEP[leaf]) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s → leaf %s", node, leaf)
				Expect(pingFrom(ctx, leaf, leafVTEP[leaf], workload)).To(Succeed(), "leaf %s → node %s", leaf, node)
			}
		}
	})

	It("cuts a host session that sends more than maxPrefixes, and takes it back once the host behaves", func(ctx SpecContext) {
		node := env.ClusterNodes()[0]
		_, host := sessionAddrs(ctx, pt.Spec.HostSession, node)
		setMaxPrefixes(ctx, pt, 1)
		extra := netip.AddrFrom4([4]byte{198, 51, 100, byte(128 + eventuallyNodeIndex(ctx, node))})
		Expect(env.StartHostBGP(ctx, node, passthroughBGPConfig(ctx, pt, node, extra))).To(Succeed())
		Eventually(func() (string, error) { return env.Vtysh(ctx, node, "show bgp neighbors "+host.Addr().String()) }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("exceeded the max. no. of prefixes"), "node %s, host session %s", node, host.Addr())
		for _, leaf := range env.EVPNLeaves() {
			Eventually(func() (map[string]bool, error) { return defaultRoutes(ctx, leaf) }).
				WithTimeout(convergeTimeout).WithPolling(poll).ShouldNot(HaveKey(extra.String()+"/32"), "leaf %s", leaf)
		}

		By("the host announcing one prefix again, under the default cap")
		setMaxPrefixes(ctx, pt, 0)
		Expect(env.StartHostBGP(ctx, node, passthroughBGPConfig(ctx, pt, node))).To(Succeed())
		Eventually(func() (map[string]string, error) { return bgpPeers(ctx, node, "") }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(HaveKeyWithValue(host.Addr().String(), "Established"), "node %s", node)
		workload := passthroughWorkload(ctx, node).String() + "/32"
		for _, leaf := range env.EVPNLeaves() {
			Eventually(func() (map[string]bool, error) { return defaultRoutes(ctx, leaf) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(HaveKey(workload), "leaf %s", leaf)
		}
	})

	It("withdraws the host's prefix from the fabric when the L3Passthrough is deleted", func(ctx SpecContext) {
		Expect(env.Kube().Delete(ctx, pt)).To(Succeed())
		for _, node := range env.ClusterNodes() {
			workload := passthroughWorkload(ctx, node).String() + "/32"
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() (map[string]bool, error) { return defaultRoutes(ctx, leaf) }).
					WithTimeout(convergeTimeout).WithPolling(poll).ShouldNot(HaveKey(workload), "leaf %s, node %s", leaf, node)
			}
			Eventually(func() (string, error) { return env.Exec(ctx, node, "ip", "-o", "link", "show") }).
				WithTimeout(convergeTimeout).WithPolling(poll).ShouldNot(ContainSubstring("host-pt"), "node %s's passthrough veth", node)
		}
	})
})

// defaultRoutes lists the prefixes of a router's default table (zebra).
func defaultRoutes(ctx context.Context, router string) (map[string]bool, error) {
	return vrfRoutes(ctx, router, "default")
}

// setMaxPrefixes sets an L3Passthrough's host-session cap (0: the API
// server's default) and waits until every node applied it.
func setMaxPrefixes(ctx context.Context, pt *v1alpha1.L3Passthrough, n uint32) {
	GinkgoHelper()
	Expect(env.Kube().Get(ctx, client.ObjectKeyFromObject(pt), pt)).To(Succeed())
	pt.Spec.HostSession.MaxPrefixes = n
	Expect(env.Kube().Update(ctx, pt)).To(Succeed())
	Eventually(func() error {
		return statusApplied(ctx, pt, func() v1alpha1.ObjectStatus { return pt.Status.ObjectStatus })
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
}
