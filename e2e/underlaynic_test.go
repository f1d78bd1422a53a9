package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// hostSide is what the host netns of a node has of one NIC: what moving
// it away and back must give back (docs/datapath.md, underlay NICs).
type hostSide struct {
	MTU    string
	Up     bool
	Addrs  []string
	Routes []string
}

func (h hostSide) String() string {
	return fmt.Sprintf("mtu %s up %v addrs %v routes %v", h.MTU, h.Up, h.Addrs, h.Routes)
}

// readHostSide reads a NIC of a node's host netns with ip(8); an error
// when the NIC is not there.
func readHostSide(ctx context.Context, node, nic string) (hostSide, error) {
	var h hostSide
	link, err := env.Exec(ctx, node, "ip", "-o", "link", "show", "dev", nic)
	if err != nil {
		return h, err
	}
	fields := strings.Fields(link)
	if i := slices.Index(fields, "mtu"); i >= 0 && i+1 < len(fields) {
		h.MTU = fields[i+1]
	}
	h.Up = strings.Contains(link, ",UP") || strings.Contains(link, "<UP")
	addrs, err := env.Exec(ctx, node, "ip", "-o", "addr", "show", "dev", nic, "scope", "global")
	if err != nil {
		return h, err
	}
	for _, line := range strings.Split(addrs, "\n") {
		f := strings.Fields(line)
		if i := slices.IndexFunc(f, func(s string) bool { return s == "inet" || s == "inet6" }); i >= 0 && i+1 < len(f) {
			h.Addrs = append(h.Addrs, f[i+1])
		}
	}
	slices.Sort(h.Addrs)
	routes, err := env.Exec(ctx, node, "ip", "route", "show", "dev", nic, "table", "all")
	if err != nil {
		return h, err
	}
	for _, line := range strings.Split(routes, "\n") {
		// The kernel's routes for an address come back with it.
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "proto kernel") && !strings.HasPrefix(line, "local ") &&
			!strings.HasPrefix(line, "broadcast ") && !strings.HasPrefix(line, "multicast ") {
			h.Routes = append(h.Routes, line)
		}
	}
	slices.Sort(h.Routes)
	return h, nil
}

// leafOn is the address of the Underlay neighbour on the subnet of a
// NIC's address.
func leafOn(u v1alpha1.Underlay, nicAddr netip.Prefix) string {
	for _, nb := range u.Spec.Neighbors {
		if a, err := netip.ParseAddr(nb.Address); err == nil && nicAddr.Masked().Contains(a) {
			return nb.Address
		}
	}
	Fail(fmt.Sprintf("no neighbour of Underlay %s/%s on %s", u.Namespace, u.Name, nicAddr))
	return ""
}

// setUnderlayNICs makes the lab Underlay name exactly nics.
func setUnderlayNICs(ctx context.Context, nics ...string) {
	Eventually(func() error {
		u := underlay(ctx)
		u.Spec.Interfaces = nil
		for _, n := range nics {
			u.Spec.Interfaces = append(u.Spec.Interfaces, v1alpha1.UnderlayInterface{Type: "NetworkDevice", NetworkDevice: &v1alpha1.NetworkDevice{InterfaceName: n}})
		}
		return env.Kube().Update(ctx, &u)
	}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
}

// Suite 4b: an underlay NIC's host side survives controller crashes
// (issue 15 item 4). The lab's nodes are dual-homed on toswitch1 and
// toswitch2; toswitch2 of one node is given a route and an MTU of its
// own on the host side, then moved, and must come back with them.
var _ = Describe("Underlay NIC state", Ordered, Label("recovery", "underlay-nic"), func() {
	const nic = "toswitch2"
	var (
		node     string
		vtep     netip.Addr
		original v1alpha1.Underlay
		want     hostSide
		// mtu is the NIC's MTU before the suite changed it.
		mtu string
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		startWorkloads(ctx)
		nodes := env.ClusterNodes()
		node = nodes[0]
		vtep = nodeVTEP(ctx, node)
		original = underlay(ctx)
		Expect(slices.ContainsFunc(original.Spec.Interfaces, func(i v1alpha1.UnderlayInterface) bool { return i.HostNIC() == nic })).
			To(BeTrue(), "the lab Underlay moves %s", nic)
		Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		DeferCleanup(func(ctx context.Context) {
			// Whatever a failed spec left: the lab Underlay as it was.
			var cur v1alpha1.Underlay
			err := env.Kube().Get(ctx, client.ObjectKeyFromObject(&original), &cur)
			if err == nil {
				cur.Spec = original.Spec
				_ = env.Kube().Update(ctx, &cur)
				return
			}
			fresh := v1alpha1.Underlay{ObjectMeta: metav1.ObjectMeta{Namespace: original.Namespace, Name: original.Name, Labels: original.Labels}, Spec: original.Spec}
			_ = env.Kube().Create(ctx, &fresh)
		})

		// Give toswitch2's host side something of its own: out of the
		// Underlay it comes back to the host netns, gets a route and an
		// MTU there, and goes back in with them saved.
		setUnderlayNICs(ctx, "toswitch1")
		Eventually(func() error { _, err := readHostSide(ctx, node, nic); return err }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s: %s back in the host netns", node, nic)
		before, err := readHostSide(ctx, node, nic)
		Expect(err).NotTo(HaveOccurred())
		Expect(before.Addrs).NotTo(BeEmpty(), "host side of %s: %s", nic, before)
		mtu = before.MTU
		gw := leafOn(original, netip.MustParsePrefix(before.Addrs[0]))
		_, err = env.Exec(ctx, node, "ip", "link", "set", "dev", nic, "mtu", "1480")
		Expect(err).NotTo(HaveOccurred())
		_, err = env.Exec(ctx, node, "ip", "route", "add", "198.51.100.0/24", "via", gw, "dev", nic, "metric", "77")
		Expect(err).NotTo(HaveOccurred())
		want, err = readHostSide(ctx, node, nic)
		Expect(err).NotTo(HaveOccurred())
		Expect(want.Routes).To(ContainElement(ContainSubstring("198.51.100.0/24 via "+gw)), "host side of %s: %s", nic, want)
		fmt.Fprintf(GinkgoWriter, "host side of %s on %s before the move: %s\n", nic, node, want)

		setUnderlayNICs(ctx, "toswitch1", nic)
		Eventually(func() error {
			if _, err := readHostSide(ctx, node, nic); err == nil {
				return fmt.Errorf("%s still in the host netns", nic)
			}
			return nodeHealthy(ctx, node, vtep)
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})

	// A controller killed right after the move, before it gave the NIC its
	// addresses, leaves the NIC in the router netns bare and down; the
	// next controller knows nothing of it but the state on the node.
	It("recovers a NIC whose controller was killed between the move and the apply", func(ctx SpecContext) {
		addrs, err := env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", nic, "scope", "global")
		Expect(err).NotTo(HaveOccurred())
		Expect(addrs).NotTo(BeEmpty(), "%s in the router netns has no address", nic)
		start := time.Now()
		_, err = env.ExecRouter(ctx, node, "ip", "addr", "flush", "dev", nic, "scope", "global")
		Expect(err).NotTo(HaveOccurred())
		_, err = env.ExecRouter(ctx, node, "ip", "link", "set", "dev", nic, "down")
		Expect(err).NotTo(HaveOccurred())
		Expect(env.RestartAgent(ctx, "controller", node)).To(Succeed())
		awaitRecovery(ctx, "controller killed between the move and the apply", node, vtep, start)
		Eventually(func() (string, error) {
			return env.ExecRouter(ctx, node, "ip", "-o", "addr", "show", "dev", nic, "scope", "global")
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal(addrs))
	})

	// After a restart the controller has no memory of what the host side
	// had: deleting the Underlay must still give every NIC all of it back.
	It("gives the host side back when the Underlay is deleted after a controller restart", func(ctx SpecContext) {
		Expect(env.RestartAgent(ctx, "controller", node)).To(Succeed())
		Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).WithTimeout(recoveryBound).WithPolling(poll).Should(Succeed())
		u := underlay(ctx)
		Expect(env.Kube().Delete(ctx, &u)).To(Succeed())
		Eventually(func() (string, error) {
			got, err := readHostSide(ctx, node, nic)
			return got.String(), err
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal(want.String()), "node %s: host side of %s after the Underlay was deleted", node, nic)
		Eventually(func() error {
			_, err := readHostSide(ctx, node, "toswitch1")
			return err
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s: toswitch1 back in the host netns", node)

		// The lab as it was: the NIC's own MTU and no extra route, the
		// Underlay again, every node healthy.
		_, err := env.Exec(ctx, node, "ip", "link", "set", "dev", nic, "mtu", mtu)
		Expect(err).NotTo(HaveOccurred())
		_, err = env.Exec(ctx, node, "ip", "route", "del", "198.51.100.0/24", "dev", nic)
		Expect(err).NotTo(HaveOccurred())
		fresh := v1alpha1.Underlay{ObjectMeta: metav1.ObjectMeta{Namespace: original.Namespace, Name: original.Name, Labels: original.Labels}, Spec: original.Spec}
		Expect(env.Kube().Create(ctx, &fresh)).To(Succeed())
		start := time.Now()
		for _, n := range env.ClusterNodes() {
			awaitRecovery(ctx, "Underlay re-created", n, nodeVTEP(ctx, n), start)
		}
	})
})
