package hostnet

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/nsexec"
)

// segment is a routed L2VNI's bridge as the router netns has it, built by
// the test in a netns of its own (the gateway address on the bridge; no
// VRF master, which this kernel may lack and which the refresher does not
// look at), with a workload behind it. The kernel's timers are shortened
// on this bridge only, so that what takes minutes in a cluster takes
// seconds: the FDB ageing time, how long an entry stays REACHABLE, and
// the DELAY before the first probe.
type segment struct {
	router  string
	h       *netlink.Handle
	bridge  string
	gateway netip.Prefix
	w       *workload
	wAddr   netip.Addr
}

const testAgeing = 12 * time.Second

func newSegment(t *testing.T) *segment {
	t.Helper()
	return newSegmentNamed(t, uniqueNetnsName("rr"))
}

func newSegmentNamed(t *testing.T, router string) *segment {
	t.Helper()
	requireRoot(t)
	s := &segment{router: router, bridge: "br-pe-110", gateway: netip.MustParsePrefix("192.168.30.1/24"), wAddr: netip.MustParseAddr("192.168.30.50")}
	if err := createNamedNetns(netnsPath(s.router)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNamedNetns(netnsPath(s.router)); err != nil {
			t.Errorf("delete router netns: %v", err)
		}
	})
	e := &env{tb: t}
	s.h = e.handle(s.router)
	// A fixed MAC, as a routed L2VNI's bridge has (the gateway MAC): a
	// bridge with the kernel's MAC takes its lowest port's, changes it
	// when that port goes, and a changed MAC flushes its neighbours.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: s.bridge, HardwareAddr: mustMAC("00:00:5e:00:01:6e")}, AgeingTime: ptr(uint32(testAgeing / (10 * time.Millisecond)))}
	if err := s.h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	if err := s.h.AddrAdd(e.link(s.h, s.bridge), &netlink.Addr{IPNet: ipNet(s.gateway)}); err != nil {
		t.Fatal(err)
	}
	if err := s.h.LinkSetUp(e.link(s.h, s.bridge)); err != nil {
		t.Fatal(err)
	}
	// A second port, as the router's bridge has its VXLAN and host veth:
	// the bridge keeps its carrier when the workload's port goes (a
	// bridge without carrier flushes its neighbour entries at once).
	if err := s.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "other0", MasterIndex: e.link(s.h, s.bridge).Attrs().Index}, PeerName: "other1"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"other0", "other1"} {
		if err := s.h.LinkSetUp(e.link(s.h, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nsexec.DoNamed(s.router, func() error {
		for key, val := range map[string]string{
			// REACHABLE for 2 to 6 s, then DELAY 1 s before the
			// probe. The reachable time must stay above the DELAY: the
			// kernel counts a probe's answer as a use of the entry, and
			// an entry used within the DELAY of its expiry goes to
			// DELAY, not STALE, and probes itself forever.
			"net/ipv4/neigh/" + s.bridge + "/base_reachable_time_ms": "4000",
			"net/ipv4/neigh/" + s.bridge + "/delay_first_probe_time": "1",
		} {
			if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(val), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.w = newWorkload(t, s.h, s.bridge, "02:00:00:aa:00:51", netip.PrefixFrom(s.wAddr, 24))
	return s
}

func ptr[T any](v T) *T { return &v }

func e2link(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	return (&env{tb: t}).link(h, name)
}

// hasFDB: the bridge has a learnt FDB entry for the workload's MAC (on
// the workload's port).
func (s *segment) hasFDB() (bool, error) {
	port, err := s.h.LinkByName(s.w.dev + "-br")
	if err != nil {
		return false, err
	}
	list, err := s.h.NeighList(port.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return false, err
	}
	for _, n := range list {
		if n.HardwareAddr.String() == s.w.mac.String() && n.State&netlink.NUD_PERMANENT == 0 {
			return true, nil
		}
	}
	return false, nil
}

// state is the workload's neighbour state on the bridge, as ip(8) names it.
func (s *segment) state() (string, error) {
	n, err := neighbourOn(s.h, s.bridge, s.wAddr)
	if err != nil {
		return "", err
	}
	return neighState(n.State), nil
}

func neighState(st int) string {
	for _, c := range []struct {
		bit  int
		name string
	}{{netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_INCOMPLETE, "INCOMPLETE"}} {
		if st&c.bit != 0 {
			return c.name
		}
	}
	return fmt.Sprintf("state 0x%x", st)
}

// learn makes the router talk to the workload once (as a first packet
// routed to it would), then waits until the entry is STALE: the
// workload has been silent for longer than the reachable time.
func (s *segment) learn(t *testing.T, g *gomega.WithT) {
	t.Helper()
	if _, err := nsexec.Run(t.Context(), s.router, "ping", "-c", "1", "-W", "1", s.wAddr.String()); err != nil {
		t.Fatal(err)
	}
	g.Eventually(s.state).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(gomega.Equal("STALE"), "the workload's entry, once it is silent")
}

// TestSilentWorkloadWithoutRefresher is the problem: a workload that
// stops sending keeps a STALE neighbour entry, but its FDB entry on the
// bridge ages out (and with it zebra's type-2 route).
func TestSilentWorkloadWithoutRefresher(t *testing.T) {
	s := newSegment(t)
	g := gomega.NewWithT(t)
	s.learn(t, g)
	g.Expect(s.hasFDB()).To(gomega.BeTrue(), "the workload's MAC is in the FDB after it answered")
	g.Eventually(s.hasFDB).WithTimeout(3*testAgeing).WithPolling(200*time.Millisecond).Should(gomega.BeFalse(), "the FDB entry ages out")
	g.Expect(s.state()).To(gomega.Equal("STALE"), "the neighbour entry stays STALE: nothing probes it")
}

// TestRefresherKeepsSilentWorkload: with the refresher, the STALE entry
// is probed, the workload answers, the entry is REACHABLE again, and the
// FDB entry outlives the ageing time several times over.
func TestRefresherKeepsSilentWorkload(t *testing.T) {
	s := newSegment(t)
	g := gomega.NewWithT(t)
	s.learn(t, g)

	var mu sync.Mutex
	probes := map[ProbeResult]int{}
	r := NewRefreshers(RefresherOptions{Netns: s.router, Sweep: time.Second, Logger: logr.Discard(), OnProbe: func(bridge string, res ProbeResult) {
		mu.Lock()
		defer mu.Unlock()
		if bridge == s.bridge {
			probes[res]++
		}
	}})
	t.Cleanup(r.Stop)
	r.Sync(Plan{Bridges: []Bridge{{Name: s.bridge, Addresses: []netip.Prefix{s.gateway}}}})
	g.Expect(r.Running()).To(gomega.Equal([]string{s.bridge}))

	g.Eventually(s.state).WithTimeout(10*time.Second).WithPolling(50*time.Millisecond).Should(gomega.Equal("REACHABLE"), "the refresher's probe answered")
	g.Consistently(s.hasFDB).WithTimeout(3*testAgeing).WithPolling(200*time.Millisecond).Should(gomega.BeTrue(), "the FDB entry of the silent workload stays past the ageing time (%v)", testAgeing)
	mu.Lock()
	g.Expect(probes[Probed]).To(gomega.BeNumerically(">=", 3), "probes over %v (each REACHABLE → STALE turn is one)", 3*testAgeing)
	g.Expect(probes[ProbeFailed]).To(gomega.BeZero())
	mu.Unlock()

	// Gone for real: the probes are not answered and the entry FAILS
	// (zebra takes a FAILED entry as deleted and withdraws the route);
	// nothing is kept alive that is not there.
	// (Its port is deleted rather than its namespace: the kernel tears a
	// namespace down in a worker, seconds later on a busy machine.)
	if err := s.h.LinkDel(e2link(t, s.h, s.w.dev+"-br")); err != nil {
		t.Fatal(err)
	}
	g.Eventually(s.state).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(gomega.Equal("FAILED"), "the entry of a workload that left")

	// A plan without the gateway address stops it.
	r.Sync(Plan{Bridges: []Bridge{{Name: s.bridge}}})
	g.Expect(r.Running()).To(gomega.BeEmpty())
}

// TestRefresherFollowsReplacedNetns: the router netns deleted and made
// again under the same name (a router pod restarted) is watched again
// after a sweep, as is a bridge created after the refresher started.
func TestRefresherFollowsReplacedNetns(t *testing.T) {
	s := newSegment(t)
	g := gomega.NewWithT(t)
	// The new namespace's bridge exists only after the replacement: the
	// refresher watches again once its sweep finds the old one gone.
	r := NewRefreshers(RefresherOptions{Netns: s.router, Sweep: 500 * time.Millisecond, Logger: logr.Discard()})
	t.Cleanup(r.Stop)
	r.Sync(Plan{Bridges: []Bridge{{Name: s.bridge, Addresses: []netip.Prefix{s.gateway}}}})
	// Replace the namespace: a new one, same name, same segment.
	if err := deleteNamedNetns(netnsPath(s.w.ns)); err != nil {
		t.Fatal(err)
	}
	if err := deleteNamedNetns(netnsPath(s.router)); err != nil {
		t.Fatal(err)
	}
	s2 := newSegmentNamed(t, s.router)
	if _, err := nsexec.Run(t.Context(), s2.router, "ping", "-c", "1", "-W", "1", s2.wAddr.String()); err != nil {
		t.Fatal(err)
	}
	g.Consistently(s2.hasFDB).WithTimeout(3*testAgeing).WithPolling(200*time.Millisecond).Should(gomega.BeTrue(), "the FDB entry of the silent workload in the new namespace stays past the ageing time (%v)", testAgeing)
}
