package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests prove the Manager's cache (cache.go) safe: each makes a
// change by hand after a call that was served from the cache and checks
// the next call read the kernel again and acted on what it found. Their
// subtests run in parallel: each works in namespaces of its own and
// spends most of its time waiting for the kernel to settle (see settle).

// cost is what one call cost.
type cost struct{ HostDumps, RouterDumps, Writes uint64 }

func (e *env) costOf(fn func()) cost {
	e.tb.Helper()
	m := e.m
	h, r, w := m.hostDumps.Load(), m.routerDumps.Load(), m.Writes()
	fn()
	return cost{m.hostDumps.Load() - h, m.routerDumps.Load() - r, m.Writes() - w}
}

// settleQuiet is how long settle wants every call served from the cache:
// the kernel defers carrier reports by up to a second (linkwatch).
const settleQuiet = 2 * time.Second

// newQuietEnv is newEnv with the router netns made up front and both
// namespaces without IPv6 duplicate address detection: DAD reports the end
// of each link-local address's probation a second or two after its link
// came up, and every report makes the next call dump again (correctly),
// which would make these tests wait that long for each settle.
func newQuietEnv(tb testing.TB) *env {
	tb.Helper()
	e := newEnv(tb)
	if err := createNamedNetns(netnsPath(e.router)); err != nil {
		tb.Fatalf("create router netns: %v", err)
	}
	e.noDAD(e.host)
	e.noDAD(e.router)
	return e
}

func (e *env) noDAD(ns string) {
	e.tb.Helper()
	fd, err := netns.GetFromPath(netnsPath(ns))
	if err != nil {
		e.tb.Fatal(err)
	}
	defer fd.Close()
	if err := nsexec.Do(fd, func() error {
		for _, key := range []string{"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"} {
			if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte("0"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		e.tb.Fatalf("turn DAD off in %s: %v", ns, err)
	}
}

// settle re-applies p until a call is served from the cache entirely,
// once the kernel has stopped reporting on the devices by itself: just
// after links come up it reports their carrier (deferred up to a second)
// and then each new IPv6 link-local address (deferred to a work queue,
// and with DAD to the end of its probation). Each report makes the next
// call dump again. The reports are queued by the time the link shows
// RUNNING and the address is no longer tentative; still, in the VM lane a
// report came after one call had been served from the cache (3 of 20
// runs of TestCachedNoopReadsAndWritesNothing failed so on bookworm's 6.1),
// so the calls must be served from the cache for settleQuiet in a row.
func (e *env) settle(p Plan) {
	e.tb.Helper()
	// Only a bound for failing: the VM lane under TCG takes seconds per
	// call at 500 VNIs.
	var (
		c     cost
		busy  string
		quiet time.Time // since when every call was served from the cache
	)
	gomega.NewGomega(func(string, ...int) {
		e.tb.Helper()
		e.tb.Fatalf("no call served from the cache after 2 minutes (kernel busy: %q); the last one cost %+v", busy, c)
	}).Eventually(func() bool {
		c = cost{}
		busy = e.kernelBusy()
		if busy != "" {
			return false
		}
		var ch Changes
		c = e.costOf(func() { ch = e.reapply(p) })
		if len(ch) != 0 {
			e.tb.Fatalf("re-apply while settling changed:\n%s", ch)
		}
		if c != (cost{}) {
			quiet = time.Time{}
			return false
		}
		if quiet.IsZero() {
			quiet = time.Now()
		}
		return time.Since(quiet) >= settleQuiet
	}).WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).Should(gomega.BeTrue())
}

// kernelBusy names a link that is up but not yet RUNNING or an IPv6
// address still tentative, in either namespace; "" when there is none.
func (e *env) kernelBusy() string {
	e.tb.Helper()
	for ns, h := range map[string]*netlink.Handle{"host": e.hostH, "router": e.routerH()} {
		links, err := h.LinkList()
		var addrs []netlink.Addr
		if err == nil {
			addrs, err = h.AddrList(nil, netlink.FAMILY_V6)
		}
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			// The kernel changed something during the dump.
			return ns + " dump interrupted"
		}
		if err != nil {
			e.tb.Fatalf("%s netns: %v", ns, err)
		}
		for _, l := range links {
			if f := l.Attrs().RawFlags; f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING == 0 {
				return fmt.Sprintf("%s %s up, not running", ns, l.Attrs().Name)
			}
		}
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				return fmt.Sprintf("%s %s tentative", ns, a.IPNet)
			}
		}
	}
	return ""
}

func cachePlan(e *env) Plan {
	return e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
		Passthrough: &nodeconfig.Passthrough{HostSession: nodeconfig.HostSession{
			RouterIPv4: pfx("192.168.20.1/24"), HostIPv4: pfx("192.168.20.2/24"),
		}},
	})
}

func TestCachedNoopReadsAndWritesNothing(t *testing.T) {
	for mode, apply := range map[string]func(e *env, p Plan) Changes{
		"Prepare+Activate": (*env).apply,
		"Reapply":          (*env).reapply,
		"Activate":         (*env).activate,
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newQuietEnv(t)
			p := cachePlan(e)
			e.apply(p)
			e.settle(p)
			for range 3 {
				var ch Changes
				if c := e.costOf(func() { ch = apply(e, p) }); c != (cost{}) {
					t.Errorf("%s of the applied plan cost %+v, want no dump and no write", mode, c)
				}
				if len(ch) != 0 {
					t.Errorf("%s of the applied plan changed:\n%s", mode, ch)
				}
			}
		})
	}
}

func TestDriftAfterCachedNoop(t *testing.T) {
	type drift struct {
		ns, link string
		what     func(h *netlink.Handle, l netlink.Link) error
		// wantErr: the repair call must fail with this, having seen the
		// drift; undo then puts things back by hand.
		wantErr string
		undo    func(h *netlink.Handle, l netlink.Link) error
	}
	cases := map[string]drift{
		"link deleted": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkDel(l) }},
		"address removed": {ns: "router", link: "lo", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.AddrDel(l, addrOf(pfx("100.65.0.1/32")))
		}},
		"address added": {ns: "router", link: "pe-pt", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.AddrAdd(l, addrOf(pfx("10.9.9.9/8")))
		}},
		"link down":      {ns: "router", link: "br-pe-200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetDown(l) }},
		"host link down": {ns: "host", link: "host-e-200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetDown(l) }},
		"bridge-port learning on": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.LinkSetLearning(l, true)
		}},
		"bridge-port neigh_suppress off": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.LinkSetBrNeighSuppress(l, false)
		}},
		"mtu changed":      {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMTU(l, 1300) }},
		"host mtu changed": {ns: "host", link: "host-e-200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMTU(l, 1300) }},
		"taken off its bridge": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.LinkSetNoMaster(l)
		}},
		// The alias is our ownership marker: a link whose alias someone
		// changed is theirs, and the call must say so instead of
		// trusting what it read before.
		"alias changed": {ns: "router", link: "vni200",
			what:    func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetAlias(l, "someone") },
			wantErr: "vxlan vni200 in router netns: a link of that name exists and is not ours",
			undo:    func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetAlias(l, OwnerAlias) },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newQuietEnv(t)
			p := cachePlan(e)
			e.apply(p)
			want := snapshot(t, e)
			e.settle(p)
			h := e.hostH
			if tc.ns == "router" {
				h = e.routerH()
			}
			if err := tc.what(h, e.link(h, tc.link)); err != nil {
				t.Fatalf("drift: %v", err)
			}
			var ch Changes
			var err error
			c := e.costOf(func() { ch, err = e.m.Reapply(context.Background(), p) })
			if dumps := map[string]uint64{"host": c.HostDumps, "router": c.RouterDumps}[tc.ns]; dumps != 1 {
				t.Errorf("the call after the drift dumped the %s netns %d times, want 1 (cost %+v)", tc.ns, dumps, c)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Reapply after the drift: want an error containing %q, got %v", tc.wantErr, err)
				}
				if err := tc.undo(h, e.link(h, tc.link)); err != nil {
					t.Fatalf("undo: %v", err)
				}
				e.reapply(p)
			} else {
				if err != nil {
					t.Fatalf("Reapply after the drift: %v", err)
				}
				if len(ch) == 0 {
					t.Fatalf("Reapply after the drift changed nothing")
				}
			}
			if diff := cmp.Diff(want, snapshot(t, e), equateIP); diff != "" {
				t.Errorf("state after repair differs from the original (-want +got):\n%s", diff)
			}
			e.requireNoop(p)
		})
	}
}

// Sysctls send no events: every call reads them, cached or not.
func TestSysctlDriftRepairedByCachedCall(t *testing.T) {
	e := newQuietEnv(t)
	p := cachePlan(e)
	e.apply(p)
	e.settle(p)
	// rp_filter: changing it has no side effect the kernel reports.
	i := slices.IndexFunc(p.Sysctls, func(sc Sysctl) bool { return sc.Key == "net/ipv4/conf/all/rp_filter" })
	if i < 0 {
		t.Fatalf("the plan does not set rp_filter: %v", p.Sysctls)
	}
	sc := p.Sysctls[i]
	other := "2"
	e.setSysctl(sc.Key, other)
	var ch Changes
	c := e.costOf(func() { ch = e.reapply(p) })
	if c.Writes != 1 || c.HostDumps+c.RouterDumps != 0 {
		t.Errorf("repairing sysctl %s cost %+v, want one write and no dump", sc.Key, c)
	}
	if len(ch) != 1 || ch[0].Kind != "sysctl" {
		t.Errorf("want one sysctl change, got:\n%s", ch)
	}
	if got := e.sysctl(sc.Key); got != sc.Value {
		t.Errorf("sysctl %s = %s after the repair, want %s", sc.Key, got, sc.Value)
	}
	// That call wrote: the next one reads the kernel again.
	if c := e.costOf(func() { e.reapply(p) }); c.HostDumps != 1 || c.RouterDumps != 1 {
		t.Errorf("the call after one that wrote cost %+v, want both namespaces dumped", c)
	}
}

func (e *env) setSysctl(key, value string) {
	e.tb.Helper()
	fd, err := netns.GetFromPath(netnsPath(e.router))
	if err != nil {
		e.tb.Fatal(err)
	}
	defer fd.Close()
	if err := nsexec.Do(fd, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	}); err != nil {
		e.tb.Fatal(err)
	}
}

// A router netns deleted and created again under the same name is a new
// namespace: nothing read from the old one may be reused, even when no
// event says so (a plan with no veth leaves no trace in the host netns).
func TestRecreatedRouterNetnsIsNeverCached(t *testing.T) {
	for name, config := range map[string]nodeconfig.Config{
		"router links only": {Underlay: underlayWith("100.65.0.1/32")},
		"veths to the host": {Underlay: underlayWith("100.65.0.1/32"), L2VNIs: []nodeconfig.L2VNI{l2(200, "br-hs-200", true)}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newQuietEnv(t)
			p := e.planFor(config)
			e.apply(p)
			want := snapshot(t, e)
			for _, mode := range []struct {
				name  string
				apply func(e *env, p Plan) Changes
			}{{"Reapply", (*env).reapply}, {"Prepare+Activate", (*env).apply}} {
				e.settle(p)
				e.recreateRouterNetns()
				var ch Changes
				c := e.costOf(func() { ch = mode.apply(e, p) })
				if c.RouterDumps == 0 || len(ch) == 0 {
					t.Errorf("%s in the new router netns: cost %+v, changes:\n%s\nwant the new namespace read and filled", mode.name, c, ch)
				}
				if diff := cmp.Diff(want, snapshot(t, e), equateIP); diff != "" {
					t.Errorf("state after %s in the new router netns differs (-want +got):\n%s", mode.name, diff)
				}
			}
			e.requireNoop(p)
		})
	}
}

// recreateRouterNetns deletes the router netns and creates an empty one
// under the same name, once the old one is gone with its veths.
func (e *env) recreateRouterNetns() {
	e.tb.Helper()
	if err := deleteNamedNetns(netnsPath(e.router)); err != nil {
		e.tb.Fatal(err)
	}
	if h, ok := routerHandles.LoadAndDelete(e.router); ok {
		h.(*netlink.Handle).Close()
	}
	e.waitHostVethGone(e.tb, devname.HostVeth(200))
	if err := createNamedNetns(netnsPath(e.router)); err != nil {
		e.tb.Fatal(err)
	}
	e.noDAD(e.router)
}

// An event in one namespace costs a dump of that namespace only.
func TestEventReDumpsOnlyItsNamespace(t *testing.T) {
	for ns, want := range map[string]cost{
		"host":   {HostDumps: 1},
		"router": {RouterDumps: 1},
	} {
		t.Run(ns, func(t *testing.T) {
			t.Parallel()
			e := newQuietEnv(t)
			p := cachePlan(e)
			e.apply(p)
			e.settle(p)
			h := e.hostH
			if ns == "router" {
				h = e.routerH()
			}
			// Not ours: a call must leave it alone.
			if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "unrelated0"}}); err != nil {
				t.Fatal(err)
			}
			var ch Changes
			if got := e.costOf(func() { ch = e.reapply(p) }); got != want {
				t.Errorf("the call after a new link in the %s netns cost %+v, want %+v", ns, got, want)
			}
			if len(ch) != 0 {
				t.Errorf("a link not ours led to changes:\n%s", ch)
			}
			if got := e.costOf(func() { e.reapply(p) }); got != (cost{}) {
				t.Errorf("the call after that cost %+v, want nothing", got)
			}
		})
	}
}

// Closing the Manager drops the cache; the next call opens a new event
// socket and reads both namespaces again.
func TestCloseDropsCache(t *testing.T) {
	e := newQuietEnv(t)
	p := cachePlan(e)
	e.apply(p)
	e.settle(p)
	e.m.Close()
	if c := e.costOf(func() { e.reapply(p) }); c.HostDumps != 1 || c.RouterDumps != 1 || c.Writes != 0 {
		t.Errorf("the call after Close cost %+v, want both namespaces dumped and no write", c)
	}
	e.settle(p)
}

// The watch tells the router netns' events from the host's by the nsid
// the kernel attaches; this checks the parsing against a real message.
func TestWatchTellsNamespacesApart(t *testing.T) {
	e := newQuietEnv(t)
	e.prepare(e.planFor(nodeconfig.Config{}))
	host, err := openState("host", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer host.close()
	router, err := openState("router", netnsPath(e.router))
	if err != nil {
		t.Fatal(err)
	}
	defer router.close()
	for _, ns := range []*nsState{host, router} {
		if ns.id, err = cookieOf(ns.sock); err != nil {
			t.Fatal(err)
		}
	}
	w, err := openWatch(host)
	if err != nil {
		t.Fatal(err)
	}
	defer w.sock.Close()
	if err := w.probe(e.m, host, router); err != nil {
		t.Fatal(err)
	}
	hostHeard, routerHeard, err := w.drain()
	if err != nil || hostHeard || !routerHeard {
		t.Fatalf("drain after the probe: host %v, router %v, err %v; want the router's event only", hostHeard, routerHeard, err)
	}
	for _, tc := range []struct {
		name                 string
		h                    *netlink.Handle
		wantHost, wantRouter bool
	}{
		{"host event", e.hostH, true, false},
		{"router event", e.routerH(), false, true},
	} {
		if err := tc.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ev" + strings.Fields(tc.name)[0]}}); err != nil {
			t.Fatal(err)
		}
		hostHeard, routerHeard, err := w.drain()
		if err != nil || hostHeard != tc.wantHost || routerHeard != tc.wantRouter {
			t.Errorf("%s: drain heard host %v, router %v, err %v; want host %v, router %v", tc.name, hostHeard, routerHeard, err, tc.wantHost, tc.wantRouter)
		}
	}
	if _, _, err := w.drain(); err != nil {
		t.Errorf("drain of an empty socket: %v", err)
	}
}

// The kernel does not report every change to a device that is down (an
// alias set with netlink, for one), so a call that leaves devices of the
// plan down (Prepare before Activate) keeps nothing for the next one.
func TestDownDevicesAreNotCached(t *testing.T) {
	e := newQuietEnv(t)
	p := cachePlan(e)
	e.prepare(p)
	for i := range 2 {
		if c := e.costOf(func() { e.prepare(p) }); c.HostDumps != 1 || c.RouterDumps != 1 || c.Writes != 0 {
			t.Fatalf("Prepare %d of a prepared plan (devices down) cost %+v, want both namespaces dumped, no write", i+2, c)
		}
	}
	r := e.routerH()
	if isUp(e.link(r, "vni200")) {
		t.Fatal("vni200 is up before Activate")
	}
	if err := r.LinkSetAlias(e.link(r, "vni200"), "someone"); err != nil {
		t.Fatal(err)
	}
	_, err := e.m.Prepare(context.Background(), p)
	if want := "vxlan vni200 in router netns: a link of that name exists and is not ours"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Prepare after vni200's alias changed while down: want an error containing %q, got %v", want, err)
	}
}
