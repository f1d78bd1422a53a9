package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/objects"
)

// routedL2Example holds the routed L2VNI the suite applies (the one of
// docs/api.md's L2VNI example with a routing domain).
const routedL2Example = "docs/examples/l2vni"

// Suite 17: the routed L2VNI (issue 16 item 1, "with a routing domain",
// and the silent workload of upstream issue #210 where the refresher
// runs). Runs in the default lab (its L3VNI red and the fabric hosts
// behind leafA/leafB in red), which needs VRF: the VM lane on kernels
// without it. The suite applies the L2VNI "green" of docs/examples/l2vni
// (VNI 110, routing domain the L3VNI red, gateway 192.170.1.1/24) and
// removes it at the end. Its workloads are network namespaces the spec
// creates behind a veth on the node's host bridge, as a pod would be.
var _ = Describe("Routed L2VNI", Ordered, Label("l2-routed"), func() {
	var (
		l2      v1alpha1.L2VNI
		vrf     string
		gateway netip.Prefix
		host    Host // a fabric host in the routing domain's VRF
		nodeA   string
		nodeB   string
		vtepA   netip.Addr
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		if _, ok := env.(*netnsEnv); !ok {
			Skip("the workloads are network namespaces the spec creates next to the lab's nodes: netns provider only")
		}
		set, err := objects.Load(filepath.Join(repoRoot, routedL2Example))
		Expect(err).NotTo(HaveOccurred())
		for _, o := range set.L2VNIs {
			if o.Spec.RoutingDomain != nil && o.Spec.RoutingDomain.L3VNI != nil {
				l2 = o
			}
		}
		Expect(l2.Name).NotTo(BeEmpty(), "%s: no L2VNI with a routing domain", routedL2Example)
		var l3 *v1alpha1.L3VNI
		for _, v := range l3vnis(ctx) {
			if v.Name == l2.Spec.RoutingDomain.L3VNI.Name {
				l3 = &v
			}
		}
		if l3 == nil {
			Skip(fmt.Sprintf("no L3VNI %s in this lab: the routed L2VNI suite runs in the default lab (docs/examples/lab)", l2.Spec.RoutingDomain.L3VNI.Name))
		}
		vrf = l3.Spec.VRF
		hosts, err := env.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, h := range hosts {
			if h.VRF == vrf {
				host = h
				break
			}
		}
		Expect(host.Name).NotTo(BeEmpty(), "no fabric host in VRF %s", vrf)
		gateway = netip.MustParsePrefix(l2.Spec.GatewayIPs[0])
		nodes := env.ClusterNodes()
		Expect(len(nodes)).To(BeNumerically(">=", 2))
		nodeA, nodeB = nodes[0], nodes[1]
		vtepA = nodeVTEP(ctx, nodeA)

		obj := l2.DeepCopy()
		obj.ResourceVersion = ""
		admit(ctx, func(ctx context.Context) error { return env.Kube().Create(ctx, obj) })
		DeferCleanup(func(ctx context.Context) {
			Expect(client.IgnoreNotFound(env.Kube().Delete(ctx, obj))).To(Succeed())
			for _, n := range env.ClusterNodes() {
				Eventually(func() error {
					if _, err := env.Exec(ctx, n, "ip", "link", "show", devname.HostBridge(l2.Spec.VNI)); err == nil {
						return fmt.Errorf("node %s: %s still there", n, devname.HostBridge(l2.Spec.VNI))
					}
					return nil
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		})
		Eventually(func() error {
			return statusApplied(ctx, obj, func() v1alpha1.ObjectStatus { return obj.Status.ObjectStatus })
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})

	// workload is a routed workload on a node: its own namespace behind
	// the node's host bridge, an address in the gateway's subnet at .101 +
	// the node's index (+ offset), the gateway as its default route.
	newWorkload := func(ctx context.Context, node, tag, mac string, offset int) mobileWorkload {
		GinkgoHelper()
		a := gateway.Masked().Addr().As4()
		a[3] = byte(101 + offset + eventuallyNodeIndex(ctx, node))
		w := mobileWorkload{name: fmt.Sprintf("pe-l2rt-%s-%d", tag, os.Getpid()), mac: mac, addr: netip.PrefixFrom(netip.AddrFrom4(a), gateway.Bits()), vni: l2.Spec.VNI}
		DeferCleanup(w.remove)
		Eventually(func() error {
			if _, err := env.Exec(ctx, node, "ip", "link", "show", devname.HostBridge(w.vni)); err != nil {
				return fmt.Errorf("node %s: no %s yet", node, devname.HostBridge(w.vni))
			}
			return nil
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		Expect(w.remove(ctx)).To(Succeed())
		Expect(w.attach(ctx, node)).To(Succeed())
		_, err := nsexec.Run(ctx, w.name, "ip", "route", "add", "default", "via", gateway.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		return w
	}

	It("answers ARP and ping from a workload on every node's host bridge at the gateway address", func(ctx SpecContext) {
		for i, node := range env.ClusterNodes() {
			w := newWorkload(ctx, node, "gw"+strconv.Itoa(i), fmt.Sprintf("02:4d:0b:00:01:%02x", i), 0)
			start := time.Now()
			Eventually(func() (string, error) {
				return nsexec.Run(ctx, w.name, "ping", "-c", "1", "-W", "1", gateway.Addr().String())
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("1 received"), "node %s: workload %s → gateway %s", node, w.addr, gateway.Addr())
			out, err := nsexec.Run(ctx, w.name, "ip", "neigh", "show", gateway.Addr().String())
			Expect(err).NotTo(HaveOccurred())
			// The gateway answered ARP with the bridge's address: the
			// router's br-pe-<VNI> MAC.
			br, err := env.ExecRouter(ctx, node, "ip", "-br", "link", "show", "dev", devname.Bridge(l2.Spec.VNI))
			Expect(err).NotTo(HaveOccurred(), br)
			Expect(strings.Fields(br)).To(HaveLen(4), br)
			Expect(out).To(ContainSubstring("lladdr "+strings.Fields(br)[2]), "node %s: the workload's ARP entry of the gateway (%s)", node, br)
			AddReportEntry("gateway answers on "+node, time.Since(start).Round(100*time.Millisecond).String())
			Expect(w.remove(ctx)).To(Succeed())
		}
	})

	It("routes between the L2 segment and the L3VNI's fabric prefixes, both ways", func(ctx SpecContext) {
		w := newWorkload(ctx, nodeA, "rt", "02:4d:0b:00:02:01", 0)
		start := time.Now()
		Eventually(func() (string, error) {
			return nsexec.Run(ctx, w.name, "ping", "-c", "1", "-W", "1", host.Address.String())
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("1 received"), "workload %s on %s → fabric host %s (%s)", w.addr, nodeA, host.Name, host.Address)
		Eventually(func() error { return ping(ctx, host.Name, w.addr.Addr()) }).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "fabric host %s → workload %s on %s", host.Name, w.addr, nodeA)
		AddReportEntry("segment ↔ fabric host in "+vrf, time.Since(start).Round(100*time.Millisecond).String())
		// The segment's subnet reached the fabric as a type-5 route from
		// the node (its gateway subnet is connected in the VRF).
		for _, leaf := range env.EVPNLeaves() {
			Eventually(func() error { return hasType5(ctx, leaf, type5Prefix(gateway.Masked()), vtepA.String(), "") }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
	})

	It("keeps a silent workload's type-2 route and reachability past the bridge's ageing time: the neighbour refresher probes it", func(ctx SpecContext) {
		vni := l2.Spec.VNI
		bridge := devname.Bridge(vni)
		// Node A's router bridge: ageing 12 s, and its neighbour timers
		// shortened so an entry turns STALE within seconds (reachable
		// 2–6 s, DELAY 1 s), as the kernel tests do; all put back.
		const ageing = 12 * time.Second
		restore := map[string]string{}
		for _, k := range []string{"base_reachable_time_ms", "delay_first_probe_time"} {
			out, err := env.ExecRouter(ctx, nodeA, "sysctl", "-n", "net.ipv4.neigh."+bridge+"."+k)
			Expect(err).NotTo(HaveOccurred(), out)
			restore[k] = strings.TrimSpace(out)
		}
		set := func(ctx context.Context, centis int, reachableMS, delayS string) {
			out, err := env.ExecRouter(ctx, nodeA, "sh", "-c", fmt.Sprintf("ip link set %s type bridge ageing_time %d && sysctl -qw net.ipv4.neigh.%s.base_reachable_time_ms=%s net.ipv4.neigh.%s.delay_first_probe_time=%s", bridge, centis, bridge, reachableMS, bridge, delayS))
			Expect(err).NotTo(HaveOccurred(), out)
		}
		set(ctx, int(ageing/(10*time.Millisecond)), "4000", "1")
		DeferCleanup(func(ctx context.Context) {
			set(ctx, 30000, restore["base_reachable_time_ms"], restore["delay_first_probe_time"])
		})

		w := newWorkload(ctx, nodeA, "sil", "02:4d:0b:00:03:01", 0)
		By("the workload sends one packet (a ping to the gateway), then nothing")
		Eventually(func() (string, error) {
			return nsexec.Run(ctx, w.name, "ping", "-c", "1", "-W", "1", gateway.Addr().String())
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring("1 received"))
		silentFrom := time.Now()
		// Its type-2 route (MAC/IP) from node A's VTEP, as node B sees it.
		type2 := func() error {
			routes, err := evpnRoutes(ctx, nodeB, "macip")
			if err != nil {
				return err
			}
			for _, r := range routes {
				if strings.Contains(r.Prefix, "["+w.mac+"]:[32]:["+w.addr.Addr().String()+"]") && r.NextHop == vtepA.String() {
					return nil
				}
			}
			return fmt.Errorf("node %s: no type-2 route for %s %s from %s's VTEP %s", nodeB, w.mac, w.addr.Addr(), nodeA, vtepA)
		}
		fdb := func() error {
			out, err := env.ExecRouter(ctx, nodeA, "bridge", "fdb", "show", "br", bridge)
			if err != nil {
				return err
			}
			if !strings.Contains(out, w.mac+" ") {
				return fmt.Errorf("node %s: %s has no FDB entry for %s", nodeA, bridge, w.mac)
			}
			return nil
		}
		Eventually(type2).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())

		By("for three ageing times the FDB entry and the type-2 route stay")
		Consistently(func() error {
			if err := fdb(); err != nil {
				return err
			}
			return type2()
		}).WithTimeout(3 * ageing).WithPolling(time.Second).Should(Succeed())
		kept := time.Since(silentFrom)
		// The kernel's neighbour entry of the workload on the bridge: the
		// refresher's probes keep confirming it.
		neigh, err := env.ExecRouter(ctx, nodeA, "ip", "-s", "neigh", "show", "dev", bridge, "to", w.addr.Addr().String())
		Expect(err).NotTo(HaveOccurred(), neigh)
		Expect(neigh).To(ContainSubstring("lladdr "+w.mac), "node %s: the workload's neighbour entry on %s", nodeA, bridge)

		By("and the fabric host reaches it at once")
		start := time.Now()
		Expect(ping(ctx, host.Name, w.addr.Addr())).To(Succeed())
		AddReportEntry("silent workload, routed L2VNI", fmt.Sprintf("FDB entry on %s and type-2 route on %s kept %v after the last packet (ageing time %v, reachable time 2–6 s, DELAY 1 s); neighbour entry then: %s; a ping from %s answered in %v",
			bridge, nodeB, kept.Round(time.Second), ageing, strings.TrimSpace(neigh), host.Name, time.Since(start).Round(time.Millisecond)))
	})
})
