package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nsexec"
)

// Suite 11: L2 robustness on a stretched L2VNI (issue 18 item 2, issue 16
// item 1's silent workload). Runs in the L2 lab (topologies/l2.clab.yml
// with docs/examples/l2lab), natively: no VRF.
//
// A workload with a fixed MAC and IP lives in a namespace of its own
// behind a veth on a node's host bridge, as a pod or VM would. It moves:
// deleted on node A, created on node B with the same MAC and IP, and
// announcing itself there as a migrated VM does (gratuitous ARPs). A
// fabric host pings it all along; the spec measures the pings lost and the
// gap, and checks that the type-2 route on every fabric leaf moved to B's
// VTEP with a higher MAC mobility sequence number. The silent workload
// spec shows what an L2VNI without a routing domain keeps for a workload
// that stops sending, and what it does not (docs/datapath.md, "Silent
// workloads").
var _ = Describe("L2 mobility", Ordered, Label("l2-mobility"), func() {
	var (
		nodeA, nodeB string
		vtepA, vtepB netip.Addr
		host         Host // the fabric host that pings
		vni          uint32
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		if _, ok := env.(*netnsEnv); !ok {
			Skip("the moving workload is a network namespace the spec creates next to the lab's nodes: netns provider only")
		}
		vnis := l2vnis(ctx)
		if len(vnis) == 0 {
			Skip("no L2VNI in this lab: runs in the L2 lab (topologies/l2.clab.yml with docs/examples/l2lab)")
		}
		vni = vnis[0].Spec.VNI
		hosts, err := env.L2Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, h := range hosts {
			if h.L2VNI == fmt.Sprint(vni) {
				host = h
				break
			}
		}
		Expect(host.Name).NotTo(BeEmpty(), "no fabric host on VNI %d", vni)
		nodes := env.ClusterNodes()
		Expect(len(nodes)).To(BeNumerically(">=", 2), "a move needs two nodes")
		nodeA, nodeB = nodes[0], nodes[1]
		vtepA, vtepB = nodeVTEP(ctx, nodeA), nodeVTEP(ctx, nodeB)
		for node, vtep := range map[string]netip.Addr{nodeA: vtepA, nodeB: vtepB} {
			Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
	})

	It("moves a workload from node A to node B: pings come back within seconds and every leaf's type-2 route follows it with a higher sequence number", func(ctx SpecContext) {
		w := mobileWorkload{name: fmt.Sprintf("pe-l2mob-%d", os.Getpid()), mac: "02:4d:0b:00:00:c8", addr: netip.MustParsePrefix("192.168.30.200/24"), vni: vni}
		DeferCleanup(w.remove)

		By("the workload on node A, reachable from " + host.Name)
		Expect(w.attach(ctx, nodeA)).To(Succeed())
		Eventually(func() error { return ping(ctx, host.Name, w.addr.Addr()) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		var before map[string]macEntry
		Eventually(func() (err error) {
			before, err = leafMACs(ctx, vni, w.mac, vtepA)
			return err
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "every leaf has the workload's MAC from node A's VTEP")

		By("pinging it from " + host.Name + " while it moves to node B")
		pinger := startPing(ctx, host.Name, w.addr.Addr().String())
		Eventually(func() int { return len(pinger.replies()) }).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(BeNumerically(">=", 10), "replies before the move")
		moveStart := time.Now()
		Expect(w.remove(ctx)).To(Succeed())
		Expect(w.attach(ctx, nodeB)).To(Succeed())
		upOnB := time.Now()
		// A migrated VM announces itself a few times (QEMU: 5 rounds, 50 ms
		// apart and growing): the first one on link up, then these.
		for range 3 {
			time.Sleep(200 * time.Millisecond)
			Expect(w.announce(ctx)).To(Succeed())
		}

		var after map[string]macEntry
		Eventually(func() (err error) {
			after, err = leafMACs(ctx, vni, w.mac, vtepB)
			return err
		}).WithTimeout(convergeTimeout).WithPolling(200*time.Millisecond).Should(Succeed(), "every leaf has the workload's MAC from node B's VTEP")
		routeMoved := time.Since(upOnB)
		for leaf, e := range after {
			Expect(e.RemoteSequence).To(BeNumerically(">", before[leaf].RemoteSequence),
				"leaf %s: MAC mobility sequence number of %s (before the move %d, after %d)", leaf, w.mac, before[leaf].RemoteSequence, e.RemoteSequence)
		}
		// The router on B learnt the workload's IP from its gratuitous ARP
		// alone (arp_accept: nothing on B had talked to it yet), which is
		// what zebra advertises as its MAC/IP route.
		Eventually(func() (string, error) {
			return env.ExecRouter(ctx, nodeB, "ip", "neigh", "show", "dev", devname.Bridge(vni), "to", w.addr.Addr().String())
		}).WithTimeout(convergeTimeout).WithPolling(200*time.Millisecond).Should(ContainSubstring("lladdr "+w.mac), "node %s: the workload's neighbour entry on %s", nodeB, devname.Bridge(vni))
		Eventually(func() []float64 { return pinger.repliesAfter(upOnB) }).WithTimeout(convergeTimeout).WithPolling(200*time.Millisecond).ShouldNot(BeEmpty(), "a reply from the workload on node B")
		// A few seconds of replies after the first one: the path holds.
		Eventually(func() int { return len(pinger.repliesAfter(upOnB)) }).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(BeNumerically(">=", 10))
		// Seconds after the neighbour entry: has zebra's MAC/IP route for
		// it reached the leaves? Reported, not asserted.
		macIP := map[string]bool{}
		for _, leaf := range env.EVPNLeaves() {
			routes, err := evpnRoutes(ctx, leaf, "macip")
			Expect(err).NotTo(HaveOccurred())
			for _, r := range routes {
				if strings.Contains(r.Prefix, w.mac) && strings.Contains(r.Prefix, "["+w.addr.Addr().String()+"]") && r.NextHop == vtepB.String() {
					macIP[leaf] = true
				}
			}
		}
		out := pinger.stop()

		sent, received := pingCounts(out)
		first := pinger.repliesAfter(upOnB)[0]
		backAfterUp := time.Duration((first - float64(upOnB.UnixNano())/1e9) * float64(time.Second))
		gap := maxReplyGap(pinger.replies())
		AddReportEntry("l2 mobility", fmt.Sprintf("%d of %d pings lost (5/s, %s to the workload); longest gap between replies %v; move took %v (delete on %s, create on %s); first reply %v after the workload was up on %s; every leaf's type-2 route on %s's VTEP %v after it was up (sequence %v); MAC/IP route from %s on the leaves: %v",
			sent-received, sent, host.Name, gap.Round(time.Millisecond), upOnB.Sub(moveStart).Round(time.Millisecond), nodeA, nodeB,
			backAfterUp.Round(time.Millisecond), nodeB, nodeB, routeMoved.Round(100*time.Millisecond), sequences(after), nodeB, macIP))
		// The bound: a second for the workload's announcement to reach a
		// leaf as a type-2 route (zebra, BGP through the spine) and its
		// pings to follow, with room for a shared 2-core machine.
		Expect(backAfterUp).To(BeNumerically("<", 5*time.Second), "reachability back %v after the workload was up on %s", backAfterUp, nodeB)
	})

	It("keeps a silent workload reachable past the bridge's ageing time; its type-2 route ages out without a gateway IP to refresh it", func(ctx SpecContext) {
		w := mobileWorkload{name: fmt.Sprintf("pe-l2sil-%d", os.Getpid()), mac: "02:4d:0b:00:00:c9", addr: netip.MustParsePrefix("192.168.30.201/24"), vni: vni}
		DeferCleanup(w.remove)
		bridge := devname.Bridge(vni)
		// The router bridge's ageing time, shortened for the spec (the
		// kernel's default is 300 s; perouter leaves it alone) and put back.
		const ageing = 10 * time.Second
		setAgeing := func(ctx context.Context, centis int) error {
			_, err := env.ExecRouter(ctx, nodeA, "ip", "link", "set", bridge, "type", "bridge", "ageing_time", strconv.Itoa(centis))
			return err
		}
		Expect(setAgeing(ctx, int(ageing/(10*time.Millisecond)))).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(setAgeing(ctx, 30000)).To(Succeed()) })

		By("the workload on node A answers a ping, then sends nothing")
		Expect(w.attach(ctx, nodeA)).To(Succeed())
		var silentFrom time.Time // the last ping, so the workload's last frames follow it
		Eventually(func() error {
			silentFrom = time.Now()
			return ping(ctx, host.Name, w.addr.Addr())
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		Eventually(func() error { _, err := leafMACs(ctx, vni, w.mac, vtepA); return err }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())

		By("its MAC ages out of " + bridge + " on node A, and the leaves lose its type-2 route")
		Eventually(func() error {
			entries, err := leafMACs(ctx, vni, w.mac, vtepA)
			if err == nil {
				return fmt.Errorf("still on every leaf: %v", entries)
			}
			return nil
		}).WithTimeout(convergeTimeout).WithPolling(time.Second).Should(Succeed())
		withdrawn := time.Since(silentFrom)
		Expect(withdrawn).To(BeNumerically(">=", ageing), "withdrawn before the ageing time: something else removed it")

		By("it stays reachable: the leaves flood to every VTEP of the VNI what they have no route for, and the reply relearns it")
		start := time.Now()
		attempts := 0
		Eventually(func() error {
			attempts++
			return ping(ctx, host.Name, w.addr.Addr())
		}).WithTimeout(10*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "the silent workload, after its route was withdrawn")
		answered := time.Since(start)
		Eventually(func() error { _, err := leafMACs(ctx, vni, w.mac, vtepA); return err }).WithTimeout(convergeTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
		AddReportEntry("silent workload, no routing domain", fmt.Sprintf("type-2 route withdrawn from every leaf %v after the last ping (router bridge ageing time %v); then a ping from %s answered after %v (%d attempt(s) of 1 s; flooded), and the route was back %v after the first",
			withdrawn.Round(time.Second), ageing, host.Name, answered.Round(100*time.Millisecond), attempts, time.Since(start).Round(100*time.Millisecond)))
	})
})

// mobileWorkload is a workload the spec moves between nodes: a network
// namespace of its own (name), its eth0 with a fixed MAC and address, the
// other end of the veth ("<name>"'s port, l2mob) a port of the node's host
// bridge of the VNI. It speaks IPv4 only, so it is silent unless spoken
// to, and announces itself on link up (arp_notify).
type mobileWorkload struct {
	name string
	mac  string
	addr netip.Prefix
	vni  uint32
}

const mobilePort = "l2mob"

func (w mobileWorkload) attach(ctx context.Context, node string) error {
	if err := nsexec.Add(ctx, w.name); err != nil {
		return err
	}
	nodeNS := env.(*netnsEnv).lab.Namespace(node)
	for _, step := range [][]string{
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"},
		{"ip", "link", "add", "eth0", "address", w.mac, "type", "veth", "peer", "name", mobilePort, "netns", nodeNS},
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_notify"},
		{"ip", "addr", "add", w.addr.String(), "dev", "eth0"},
	} {
		if _, err := nsexec.Run(ctx, w.name, step...); err != nil {
			return err
		}
	}
	if out, err := env.Exec(ctx, node, "ip", "link", "set", mobilePort, "master", devname.HostBridge(w.vni), "up"); err != nil {
		return fmt.Errorf("node %s: attach %s to %s: %w: %s", node, mobilePort, devname.HostBridge(w.vni), err, out)
	}
	_, err := nsexec.Run(ctx, w.name, "ip", "link", "set", "eth0", "up")
	return err
}

// announce sends the workload's gratuitous ARP again: setting its MAC,
// unchanged, is what arp_notify announces on.
func (w mobileWorkload) announce(ctx context.Context) error {
	_, err := nsexec.Run(ctx, w.name, "ip", "link", "set", "eth0", "address", w.mac)
	return err
}

// remove deletes the workload's namespace, and with it both ends of its
// veth: the port on the node's bridge goes too.
func (w mobileWorkload) remove(ctx context.Context) error {
	if _, err := os.Stat(nsexec.Path(w.name)); os.IsNotExist(err) {
		return nil
	}
	return nsexec.Delete(ctx, w.name)
}

// macEntry is what a fabric leaf's zebra knows of a MAC in a VNI.
type macEntry struct {
	Type           string `json:"type"`
	RemoteVTEP     string `json:"remoteVtep"`
	RemoteSequence int    `json:"remoteSequence"`
}

// leafMACs reads mac on every EVPN leaf and fails unless each has it as a
// remote MAC behind vtep.
func leafMACs(ctx context.Context, vni uint32, mac string, vtep netip.Addr) (map[string]macEntry, error) {
	got := map[string]macEntry{}
	for _, leaf := range env.EVPNLeaves() {
		out, err := env.Vtysh(ctx, leaf, fmt.Sprintf("show evpn mac vni %d json", vni))
		if err != nil {
			return nil, err
		}
		var table struct {
			MACs map[string]macEntry `json:"macs"`
		}
		if err := json.Unmarshal([]byte(out), &table); err != nil {
			return nil, fmt.Errorf("leaf %s: show evpn mac vni %d json: %w", leaf, vni, err)
		}
		e, ok := table.MACs[mac]
		if !ok {
			return nil, fmt.Errorf("leaf %s: no MAC %s in VNI %d", leaf, mac, vni)
		}
		if e.Type != "remote" || e.RemoteVTEP != vtep.String() {
			return nil, fmt.Errorf("leaf %s: MAC %s is %s behind %q, want remote behind %s", leaf, mac, e.Type, e.RemoteVTEP, vtep)
		}
		got[leaf] = e
	}
	return got, nil
}

func sequences(m map[string]macEntry) map[string]int {
	s := map[string]int{}
	for leaf, e := range m {
		s[leaf] = e.RemoteSequence
	}
	return s
}
