package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Kernel tests run in namespaces they create: a throwaway "host" netns
// stands in for the node's root netns, and the router netns gets a
// unique name. Nothing touches the real root netns.

var nsCounter atomic.Int64

func uniqueNetnsName(role string) string {
	return fmt.Sprintf("hnt-%s-%d-%d", role, os.Getpid(), nsCounter.Add(1))
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: creates network namespaces")
	}
}

var (
	vrfOnce      sync.Once
	vrfSupported bool
	vrfProbeErr  error
)

// requireVRF skips when the running kernel cannot create VRF devices.
// The kernel lane (`make test-kernel`) runs the same test binary in a VM
// with a stock Debian kernel, where these tests do run.
func requireVRF(tb testing.TB) {
	tb.Helper()
	requireRoot(tb)
	vrfOnce.Do(func() {
		name := uniqueNetnsName("probe")
		path := netnsPath(name)
		if err := createNamedNetns(path); err != nil {
			vrfProbeErr = err
			return
		}
		defer func() { _ = deleteNamedNetns(path) }()
		fd, err := netns.GetFromPath(path)
		if err != nil {
			vrfProbeErr = err
			return
		}
		defer fd.Close()
		h, err := netlink.NewHandleAt(fd)
		if err != nil {
			vrfProbeErr = err
			return
		}
		defer h.Close()
		vrfSupported = h.LinkAdd(&netlink.Vrf{LinkAttrs: netlink.LinkAttrs{Name: "probe"}, Table: 10}) == nil
	})
	if vrfProbeErr != nil {
		tb.Fatalf("probe for VRF support: %v", vrfProbeErr)
	}
	if !vrfSupported {
		tb.Skip("kernel lacks VRF: runs in the VM lane, make test-kernel")
	}
}

// env is a fake node: a host netns, a router netns name, and a Manager.
type env struct {
	tb     testing.TB
	host   string
	router string
	hostH  *netlink.Handle
	m      *Manager
	// stateDir is the Manager's StateDir.
	stateDir string
}

// waitHostVethGone waits for the kernel to tear down the host end of a veth
// whose router namespace was deleted: it does so a moment later.
func (e *env) waitHostVethGone(tb testing.TB, name string) {
	tb.Helper()
	gomega.NewGomega(func(string, ...int) {
		tb.Helper()
		tb.Fatal("host end of the deleted router netns' veth still there after 10 s")
	}).Eventually(func() error {
		_, err := e.hostH.LinkByName(name)
		return err
	}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).ShouldNot(gomega.Succeed())
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	requireRoot(tb)
	e := &env{tb: tb, host: uniqueNetnsName("host"), router: uniqueNetnsName("router")}
	if err := createNamedNetns(netnsPath(e.host)); err != nil {
		tb.Fatalf("create host netns: %v", err)
	}
	tb.Cleanup(func() {
		if err := deleteNamedNetns(netnsPath(e.router)); err != nil {
			tb.Errorf("delete router netns: %v", err)
		}
		if err := deleteNamedNetns(netnsPath(e.host)); err != nil {
			tb.Errorf("delete host netns: %v", err)
		}
	})
	e.hostH = e.handle(e.host)
	e.stateDir = tb.TempDir()
	e.m = NewManager(Options{RouterNetns: e.router, HostNetns: e.host, StateDir: e.stateDir, Logger: logr.Discard()})
	// Runs before the namespaces are deleted: the Manager's event socket
	// would keep the host netns alive.
	tb.Cleanup(e.m.Close)
	return e
}

// release deletes every link the Manager made (one batched delete per
// netns, the Manager's own path) and then both namespaces. Destroying a
// netns defers the links' teardown to a kernel worker holding the RTNL
// lock (an RCU barrier per bridge: seconds for hundreds of VNIs), which
// would stall the next benchmark iteration; this pays that cost here,
// while the caller's timer is stopped.
func (e *env) release() {
	e.tb.Helper()
	if _, err := e.m.Prepare(context.Background(), e.planFor(nodeconfig.Config{})); err != nil {
		e.tb.Errorf("empty the namespaces: %v", err)
	}
	e.m.Close()
	for _, ns := range []string{e.router, e.host} {
		if err := deleteNamedNetns(netnsPath(ns)); err != nil {
			e.tb.Errorf("delete netns %s: %v", ns, err)
		}
	}
}

func (e *env) handle(ns string) *netlink.Handle {
	e.tb.Helper()
	fd, err := netns.GetFromPath(netnsPath(ns))
	if err != nil {
		e.tb.Fatalf("open netns %s: %v", ns, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		e.tb.Fatalf("netlink handle in %s: %v", ns, err)
	}
	e.tb.Cleanup(h.Close)
	return h
}

var routerHandles sync.Map // router netns name -> *netlink.Handle

func (e *env) routerH() *netlink.Handle {
	e.tb.Helper()
	if h, ok := routerHandles.Load(e.router); ok {
		return h.(*netlink.Handle)
	}
	h := e.handle(e.router)
	routerHandles.Store(e.router, h)
	e.tb.Cleanup(func() { routerHandles.Delete(e.router) })
	return h
}

func (e *env) planFor(c nodeconfig.Config) Plan {
	return PlanFor(c, PlanOptions{Netns: e.router, UnderlayMTU: 1500})
}

// prepare runs Prepare and fails the test on error.
func (e *env) prepare(p Plan) Changes {
	e.tb.Helper()
	ch, err := e.m.Prepare(context.Background(), p)
	if err != nil {
		e.tb.Fatalf("Prepare: %v\nchanges so far:\n%s", err, ch)
	}
	return ch
}

func (e *env) activate(p Plan) Changes {
	e.tb.Helper()
	ch, err := e.m.Activate(context.Background(), p)
	if err != nil {
		e.tb.Fatalf("Activate: %v\nchanges so far:\n%s", err, ch)
	}
	return ch
}

// apply is Prepare then Activate, as the controller does around an FRR
// reload.
func (e *env) apply(p Plan) Changes {
	e.tb.Helper()
	return append(e.prepare(p), e.activate(p)...)
}

// reapply is Reapply, as the controller's resync does.
func (e *env) reapply(p Plan) Changes {
	e.tb.Helper()
	ch, err := e.m.Reapply(context.Background(), p)
	if err != nil {
		e.tb.Fatalf("Reapply: %v\nchanges so far:\n%s", err, ch)
	}
	return ch
}

// requireNoop applies p again, both ways, and fails unless nothing
// changed and not one kernel write was made.
func (e *env) requireNoop(p Plan) {
	e.tb.Helper()
	for name, apply := range map[string]func(Plan) Changes{"Prepare+Activate": e.apply, "Reapply": e.reapply} {
		before := e.m.Writes()
		if ch := apply(p); len(ch) != 0 {
			e.tb.Errorf("%s of the same plan changed things:\n%s", name, ch)
		}
		if w := e.m.Writes() - before; w != 0 {
			e.tb.Errorf("%s of the same plan made %d kernel writes, want 0", name, w)
		}
	}
}

func (e *env) link(h *netlink.Handle, name string) netlink.Link {
	e.tb.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		e.tb.Fatalf("link %s: %v", name, err)
	}
	return l
}

func (e *env) noLink(h *netlink.Handle, name string) {
	e.tb.Helper()
	_, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if !errors.As(err, &nf) {
		e.tb.Errorf("link %s: want it absent, got err=%v", name, err)
	}
}

// addrs lists the non-link-local addresses of a link, sorted.
func (e *env) addrs(h *netlink.Handle, name string) []netip.Prefix {
	e.tb.Helper()
	l := e.link(h, name)
	var list []netlink.Addr
	// A dump interrupted by a concurrent change (the kernel adding IPv6
	// link-locals to devices just brought up) is repeated, as the Manager
	// does.
	err := retry(context.Background(), func() (err error) {
		list, err = h.AddrList(l, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		e.tb.Fatalf("addresses of %s: %v", name, err)
	}
	var out []netip.Prefix
	for _, a := range list {
		if p := prefixOf(a); managedAddr(p) && !p.Addr().IsLoopback() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

func (e *env) master(h *netlink.Handle, name string) string {
	e.tb.Helper()
	l := e.link(h, name)
	if l.Attrs().MasterIndex == 0 {
		return ""
	}
	m, err := h.LinkByIndex(l.Attrs().MasterIndex)
	if err != nil {
		e.tb.Fatalf("master of %s: %v", name, err)
	}
	return m.Attrs().Name
}

func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }

// bridgePortOf returns the bridge-port flags of a link.
func (e *env) bridgePortOf(ns, name string) bridgePort {
	e.tb.Helper()
	fd, err := netns.GetFromPath(netnsPath(ns))
	if err != nil {
		e.tb.Fatal(err)
	}
	defer fd.Close()
	ports, err := dumpBridgePorts(fd)
	if err != nil {
		e.tb.Fatal(err)
	}
	h := e.handle(ns)
	p, ok := ports[e.link(h, name).Attrs().Index]
	if !ok {
		e.tb.Fatalf("%s is not a bridge port", name)
	}
	return p
}

// addFakeNIC creates a veth pair in the host netns; name plays the
// underlay NIC, its peer stays behind.
func (e *env) addFakeNIC(name string, mtu int, addrs ...netip.Prefix) {
	e.tb.Helper()
	err := e.hostH.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu},
		PeerName:  name + "-peer",
	})
	if err != nil {
		e.tb.Fatalf("create fake NIC %s: %v", name, err)
	}
	l := e.link(e.hostH, name)
	if err := e.hostH.LinkSetAlias(l, "uplink"); err != nil {
		e.tb.Fatal(err)
	}
	for _, p := range addrs {
		if err := e.hostH.AddrAdd(l, addrOf(p)); err != nil {
			e.tb.Fatalf("address %s on %s: %v", p, name, err)
		}
	}
	if err := e.hostH.LinkSetUp(l); err != nil {
		e.tb.Fatal(err)
	}
}

func kindsOf(ch Changes) map[Action]int {
	out := map[Action]int{}
	for _, c := range ch {
		out[c.Action]++
	}
	return out
}

// dumpBridgePorts reads the bridge-port flags of every port from the
// kernel's other source of them, an AF_BRIDGE dump: the tests' reference
// for the flags dumpLinks takes from the link dump.
func dumpBridgePorts(ns netns.NsHandle) (map[int]bridgePort, error) {
	sock, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	msgs, err := dump(sock, unix.RTM_GETLINK, unix.RTM_NEWLINK, nl.NewIfInfomsg(unix.AF_BRIDGE))
	if err != nil {
		return nil, err
	}
	ports := make(map[int]bridgePort, len(msgs))
	for _, m := range msgs {
		ifi := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_PROTINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, err
			}
			var p bridgePort
			for _, info := range infos {
				if len(info.Value) == 0 {
					continue
				}
				switch info.Attr.Type {
				case nl.IFLA_BRPORT_LEARNING:
					p.Learning = info.Value[0] != 0
				case nl.IFLA_BRPORT_NEIGH_SUPPRESS:
					p.NeighSuppress = info.Value[0] != 0
				}
			}
			ports[int(ifi.Index)] = p
		}
	}
	return ports, nil
}
