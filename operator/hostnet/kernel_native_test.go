package hostnet

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// These tests need no VRF and run on any kernel with netns, veth, bridge
// and vxlan.

func underlayWith(vtep string, nics ...string) *nodeconfig.Underlay {
	return &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx(vtep)}, Interfaces: nics}
}

func l2(vni uint32, bridge string, managed bool) nodeconfig.L2VNI {
	return nodeconfig.L2VNI{VNI: vni, VXLANPort: 4789, HostBridge: nodeconfig.HostBridge{Name: bridge, Managed: managed}}
}

func (e *env) sysctl(key string) string {
	e.tb.Helper()
	fd, err := netns.GetFromPath(netnsPath(e.router))
	if err != nil {
		e.tb.Fatal(err)
	}
	defer fd.Close()
	var val string
	if err := nsexec.Do(fd, func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		val = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		e.tb.Fatal(err)
	}
	return val
}

func TestL2VNIManagedAndExternalBridges(t *testing.T) {
	e := newEnv(t)
	// The user's own bridge: we attach to it and must never delete it.
	if err := e.hostH.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ext0"}}); err != nil {
		t.Fatal(err)
	}
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true), l2(300, "ext0", false)},
	})

	ch := e.prepare(p)
	if got := kindsOf(ch); got[Created] == 0 || got[BroughtUp] != 0 {
		t.Errorf("first Prepare: want creations and nothing brought up, got %v", got)
	}
	r := e.routerH()
	// Namespace basics.
	if lo := e.link(r, "lo"); !isUp(lo) {
		t.Errorf("lo is down in the router netns")
	}
	if diff := cmp.Diff([]netip.Prefix{pfx("100.65.0.1/32")}, e.addrs(r, "lo"), equateIP); diff != "" {
		t.Errorf("lo addresses (-want +got):\n%s", diff)
	}
	for _, sc := range p.Sysctls {
		if got := e.sysctl(sc.Key); got != sc.Value {
			t.Errorf("sysctl %s = %s, want %s", sc.Key, got, sc.Value)
		}
	}
	// New devices stay down until Activate.
	for _, name := range []string{"br-pe-200", "vni200", "pe-e-200", "br-pe-300", "vni300"} {
		if isUp(e.link(r, name)) {
			t.Errorf("%s is up after Prepare, want down until Activate", name)
		}
	}
	for _, vni := range []uint32{200, 300} {
		x, ok := e.link(r, devname.VXLAN(vni)).(*netlink.Vxlan)
		if !ok {
			t.Fatalf("%s is not a vxlan", devname.VXLAN(vni))
		}
		got := [...]any{x.VxlanId, x.Port, x.SrcAddr.String(), x.Learning, x.MTU, x.Alias}
		want := [...]any{int(vni), 4789, "100.65.0.1", false, 1450, OwnerAlias}
		if got != want {
			t.Errorf("%s: got vni,port,local,learning,mtu,alias %v, want %v", x.Name, got, want)
		}
		if m := e.master(r, devname.VXLAN(vni)); m != devname.Bridge(vni) {
			t.Errorf("%s master = %q, want %s", x.Name, m, devname.Bridge(vni))
		}
		if bp := e.bridgePortOf(e.router, devname.VXLAN(vni)); bp != (bridgePort{Learning: false, NeighSuppress: true}) {
			t.Errorf("%s bridge port = %+v, want learning off, neigh_suppress on", x.Name, bp)
		}
		if m := e.master(r, devname.RouterVeth(vni)); m != devname.Bridge(vni) {
			t.Errorf("%s master = %q, want %s", devname.RouterVeth(vni), m, devname.Bridge(vni))
		}
		if mtu := e.link(e.hostH, devname.HostVeth(vni)).Attrs().MTU; mtu != 1450 {
			t.Errorf("%s mtu = %d, want 1450", devname.HostVeth(vni), mtu)
		}
	}
	if m := e.master(e.hostH, "host-e-200"); m != "br-hs-200" {
		t.Errorf("host-e-200 master = %q, want br-hs-200", m)
	}
	if m := e.master(e.hostH, "host-e-300"); m != "ext0" {
		t.Errorf("host-e-300 master = %q, want ext0", m)
	}

	e.activate(p)
	for _, name := range []string{"br-pe-200", "vni200", "pe-e-200"} {
		if !isUp(e.link(r, name)) {
			t.Errorf("%s is down after Activate", name)
		}
	}
	for _, name := range []string{"host-e-200", "br-hs-200", "host-e-300"} {
		if !isUp(e.link(e.hostH, name)) {
			t.Errorf("host %s is down after Activate", name)
		}
	}
	if isUp(e.link(e.hostH, "ext0")) {
		t.Errorf("external bridge ext0 was brought up: not ours to touch")
	}
	e.requireNoop(p)

	// Removing both L2VNIs deletes our objects and leaves the user's
	// bridge alone.
	empty := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")})
	e.apply(empty)
	for _, name := range []string{"br-pe-200", "vni200", "pe-e-200", "br-pe-300", "vni300", "pe-e-300"} {
		e.noLink(r, name)
	}
	for _, name := range []string{"host-e-200", "br-hs-200", "host-e-300"} {
		e.noLink(e.hostH, name)
	}
	e.link(e.hostH, "ext0")
	e.requireNoop(empty)
}

func TestPrepareNeverTouchesForeignLinks(t *testing.T) {
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
	})
	// A user's bridge with one of our names in the host netns, and a
	// user's leftover host-e-* that is not in any plan.
	for _, name := range []string{"br-hs-200", "host-e-999"} {
		if err := e.hostH.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.m.Prepare(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "br-hs-200") || !strings.Contains(err.Error(), "not ours") {
		t.Fatalf("Prepare: want an error naming br-hs-200 as not ours, got %v", err)
	}
	// The error says which VNI's devices it is about, for the status of
	// the object with that VNI.
	var vniErr *VNIError
	if !errors.As(err, &vniErr) || vniErr.VNI != 200 || !strings.Contains(vniErr.Error(), "br-hs-200") {
		t.Errorf("Prepare error: want a VNIError for VNI 200 naming br-hs-200, got %#v", vniErr)
	}
	if a := e.link(e.hostH, "br-hs-200").Attrs().Alias; a != "" {
		t.Errorf("user's br-hs-200 got alias %q", a)
	}
	e.link(e.hostH, "host-e-999")
	// The rest of the plan was still applied.
	e.link(e.routerH(), "vni200")
}

func TestUnderlayMoveAndMoveBack(t *testing.T) {
	e := newEnv(t)
	nicAddrs := []netip.Prefix{pfx("192.168.11.3/24"), pfx("fd00:11::3/64")}
	e.addFakeNIC("eth1", 9000, nicAddrs...)
	p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1")})
	if mtu, err := e.m.UnderlayMTU("eth1"); err != nil || mtu != 9000 {
		t.Errorf("UnderlayMTU(eth1) before the move = %d, %v; want 9000", mtu, err)
	}

	ch := e.apply(p)
	if kindsOf(ch)[Moved] != 1 {
		t.Errorf("want one move, got:\n%s", ch)
	}
	r := e.routerH()
	e.noLink(e.hostH, "eth1")
	nic := e.link(r, "eth1")
	if got := [...]any{nic.Attrs().MTU, isUp(nic), nic.Attrs().Alias}; got != [...]any{9000, true, UnderlayAliasPrefix + "uplink"} {
		t.Errorf("moved eth1: mtu, up, alias = %v", got)
	}
	if diff := cmp.Diff(nicAddrs, e.addrs(r, "eth1"), equateIP); diff != "" {
		t.Errorf("moved eth1 addresses (-want +got):\n%s", diff)
	}
	if mtu, err := e.m.UnderlayMTU("eth1"); err != nil || mtu != 9000 {
		t.Errorf("UnderlayMTU(eth1) after the move = %d, %v; want 9000", mtu, err)
	}
	e.requireNoop(p)

	// Dropping the interface from the plan moves it back as it was.
	back := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")})
	ch = e.apply(back)
	if kindsOf(ch)[Moved] != 1 {
		t.Errorf("want one move back, got:\n%s", ch)
	}
	e.noLink(r, "eth1")
	nic = e.link(e.hostH, "eth1")
	if got := [...]any{nic.Attrs().MTU, isUp(nic), nic.Attrs().Alias}; got != [...]any{9000, true, "uplink"} {
		t.Errorf("eth1 back in host: mtu, up, alias = %v", got)
	}
	if diff := cmp.Diff(nicAddrs, e.addrs(e.hostH, "eth1"), equateIP); diff != "" {
		t.Errorf("eth1 back in host: addresses (-want +got):\n%s", diff)
	}
	e.requireNoop(back)

	if _, err := e.m.UnderlayMTU("eth9"); err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Errorf("UnderlayMTU(eth9): want an error naming eth9, got %v", err)
	}
	// A plan naming a NIC that does not exist fails, naming it.
	_, err := e.m.Prepare(context.Background(), e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth9")}))
	if err == nil || !strings.Contains(err.Error(), "underlay interface eth9") {
		t.Errorf("want an error naming underlay interface eth9, got %v", err)
	}
}

// A deleted router netns hands physical NICs back to the host netns down
// and without addresses (veths would die instead, so the test hands its
// fake NIC back the same way first). The next apply moves it in again with
// the addresses it had, and up.
func TestUnderlayBackAfterRouterNetnsDeleted(t *testing.T) {
	e := newEnv(t)
	nicAddrs := []netip.Prefix{pfx("192.168.11.3/24"), pfx("fd00:11::3/64")}
	e.addFakeNIC("eth1", 9000, nicAddrs...)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32", "eth1"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
	})
	e.apply(p)
	want := snapshot(t, e)

	hostFd, err := netns.GetFromPath(netnsPath(e.host))
	if err != nil {
		t.Fatal(err)
	}
	defer hostFd.Close()
	if err := e.routerH().LinkSetNsFd(e.link(e.routerH(), "eth1"), int(hostFd)); err != nil {
		t.Fatal(err)
	}
	if err := deleteNamedNetns(netnsPath(e.router)); err != nil {
		t.Fatal(err)
	}
	// The cached handle still points into the deleted namespace.
	if h, ok := routerHandles.LoadAndDelete(e.router); ok {
		h.(*netlink.Handle).Close()
	}
	// The kernel tears the namespace's veths (and so their host ends)
	// down a moment later; Prepare copes with either (deleteLink), but
	// the test waits so that it always checks the same thing.
	e.waitHostVethGone(t, devname.HostVeth(200))
	nic := e.link(e.hostH, "eth1")
	if isUp(nic) || len(e.addrs(e.hostH, "eth1")) != 0 {
		t.Fatalf("handed-back eth1: up %v, addresses %v; want down without addresses", isUp(nic), e.addrs(e.hostH, "eth1"))
	}

	// Prepare alone moves it with its addresses; Activate brings it up.
	e.prepare(p)
	if diff := cmp.Diff(nicAddrs, e.addrs(e.routerH(), "eth1"), equateIP); diff != "" {
		t.Errorf("eth1 after Prepare in the new router netns: addresses (-want +got):\n%s", diff)
	}
	e.activate(p)
	if diff := cmp.Diff(want, snapshot(t, e), equateIP); diff != "" {
		t.Errorf("state after the router netns was recreated differs (-before +after):\n%s", diff)
	}
	e.requireNoop(p)
}

func TestPassthroughAndLocalCIDRChange(t *testing.T) {
	e := newEnv(t)
	pt := func(router, host string) Plan {
		return e.planFor(nodeconfig.Config{
			Underlay: underlayWith("100.65.0.1/32"),
			Passthrough: &nodeconfig.Passthrough{HostSession: nodeconfig.HostSession{
				RouterIPv4: pfx(router), HostIPv4: pfx(host),
				RouterIPv6: pfx("fd00:20::1/64"), HostIPv6: pfx("fd00:20::2/64"),
			}},
		})
	}
	p := pt("192.168.20.1/24", "192.168.20.2/24")
	e.apply(p)
	r := e.routerH()
	if m := e.master(r, devname.PassthroughRouterVeth); m != "" {
		t.Errorf("%s master = %q, want none (default VRF)", devname.PassthroughRouterVeth, m)
	}
	check := func(router, host string) {
		t.Helper()
		if diff := cmp.Diff([]netip.Prefix{pfx(router), pfx("fd00:20::1/64")}, e.addrs(r, devname.PassthroughRouterVeth), equateIP); diff != "" {
			t.Errorf("%s addresses (-want +got):\n%s", devname.PassthroughRouterVeth, diff)
		}
		if diff := cmp.Diff([]netip.Prefix{pfx(host), pfx("fd00:20::2/64")}, e.addrs(e.hostH, devname.PassthroughHostVeth), equateIP); diff != "" {
			t.Errorf("%s addresses (-want +got):\n%s", devname.PassthroughHostVeth, diff)
		}
		for _, l := range []netlink.Link{e.link(r, devname.PassthroughRouterVeth), e.link(e.hostH, devname.PassthroughHostVeth)} {
			if !isUp(l) || l.Attrs().MTU != 1500 {
				t.Errorf("%s: up=%v mtu=%d, want up and 1500", l.Attrs().Name, isUp(l), l.Attrs().MTU)
			}
		}
	}
	check("192.168.20.1/24", "192.168.20.2/24")
	e.requireNoop(p)

	// A new localCIDR: addresses are swapped in place, the pair is kept.
	before := e.link(r, devname.PassthroughRouterVeth).Attrs().Index
	p2 := pt("192.168.30.1/24", "192.168.30.2/24")
	e.apply(p2)
	check("192.168.30.1/24", "192.168.30.2/24")
	if after := e.link(r, devname.PassthroughRouterVeth).Attrs().Index; after != before {
		t.Errorf("veth was recreated for an address change")
	}
	e.requireNoop(p2)

	e.apply(e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")}))
	e.noLink(r, devname.PassthroughRouterVeth)
	e.noLink(e.hostH, devname.PassthroughHostVeth)
}

func TestIPv6VTEP(t *testing.T) {
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("fd00:65::1/128"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
	})
	e.apply(p)
	r := e.routerH()
	if diff := cmp.Diff([]netip.Prefix{pfx("fd00:65::1/128")}, e.addrs(r, "lo"), equateIP); diff != "" {
		t.Errorf("lo addresses (-want +got):\n%s", diff)
	}
	x := e.link(r, "vni200").(*netlink.Vxlan)
	if x.SrcAddr.String() != "fd00:65::1" || x.MTU != 1430 {
		t.Errorf("vni200: local %s mtu %d, want fd00:65::1 and 1430 (70 bytes of IPv6 VXLAN overhead)", x.SrcAddr, x.MTU)
	}
	if mtu := e.link(e.hostH, "host-e-200").Attrs().MTU; mtu != 1430 {
		t.Errorf("host-e-200 mtu = %d, want 1430", mtu)
	}
	e.requireNoop(p)

	// Switching the VTEP family recreates the VXLAN (its local address
	// cannot be changed in place) and swaps lo's address.
	p4 := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
	})
	ch := e.apply(p4)
	if kindsOf(ch)[Recreated] != 1 {
		t.Errorf("want vni200 recreated, got:\n%s", ch)
	}
	if x := e.link(r, "vni200").(*netlink.Vxlan); x.SrcAddr.String() != "100.65.0.1" || x.MTU != 1450 {
		t.Errorf("vni200 after the switch: local %s mtu %d", x.SrcAddr, x.MTU)
	}
	if diff := cmp.Diff([]netip.Prefix{pfx("100.65.0.1/32")}, e.addrs(r, "lo"), equateIP); diff != "" {
		t.Errorf("lo addresses (-want +got):\n%s", diff)
	}
	e.requireNoop(p4)
}

// TestL2VNIFamilies is TestVNIFamilies (kernel_vrf_test.go) for L2VNIs
// only, which need no VRF: it runs on the host kernel too. Two segments on
// one dual-stack node, one over each VTEP.
func TestL2VNIFamilies(t *testing.T) {
	e := newEnv(t)
	under := &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.1/32"), pfx("fd00:65::1/128")}}
	seg6, seg4 := l2(300, "br-hs-300", true), l2(310, "br-hs-310", true)
	seg6.VTEP, seg4.VTEP = netip.MustParseAddr("fd00:65::1"), netip.MustParseAddr("100.65.0.1")
	p := e.planFor(nodeconfig.Config{Underlay: under, L2VNIs: []nodeconfig.L2VNI{seg6, seg4}})
	e.apply(p)
	r := e.routerH()
	for _, want := range []struct {
		vni   uint32
		local string
		mtu   int
	}{{300, "fd00:65::1", 1430}, {310, "100.65.0.1", 1450}} {
		x := e.link(r, devname.VXLAN(want.vni)).(*netlink.Vxlan)
		if x.SrcAddr.String() != want.local || x.MTU != want.mtu {
			t.Errorf("%s: local %s mtu %d, want %s and %d", x.Name, x.SrcAddr, x.MTU, want.local, want.mtu)
		}
		pe, host := e.link(r, devname.RouterVeth(want.vni)), e.link(e.hostH, devname.HostVeth(want.vni))
		if pe.Attrs().MTU != want.mtu || host.Attrs().MTU != want.mtu {
			t.Errorf("%s/%s mtu %d/%d, want %d", pe.Attrs().Name, host.Attrs().Name, pe.Attrs().MTU, host.Attrs().MTU, want.mtu)
		}
	}
	e.requireNoop(p)
}

func TestDriftRepair(t *testing.T) {
	type drift struct {
		ns   string // "router" or "host"
		what func(h *netlink.Handle, l netlink.Link) error
		link string
	}
	cases := map[string]drift{
		"vxlan deleted": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkDel(l) }},
		"bridge downed": {ns: "router", link: "br-pe-200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetDown(l) }},
		"host veth renamed": {ns: "host", link: "host-e-200", what: func(h *netlink.Handle, l netlink.Link) error {
			if err := h.LinkSetDown(l); err != nil {
				return err
			}
			return h.LinkSetName(l, "renamed0")
		}},
		"router veth renamed": {ns: "router", link: "pe-e-200", what: func(h *netlink.Handle, l netlink.Link) error {
			if err := h.LinkSetDown(l); err != nil {
				return err
			}
			return h.LinkSetName(l, "renamed1")
		}},
		"passthrough readdressed": {ns: "router", link: "pe-pt", what: func(h *netlink.Handle, l netlink.Link) error {
			if err := h.AddrDel(l, addrOf(pfx("192.168.20.1/24"))); err != nil {
				return err
			}
			return h.AddrAdd(l, addrOf(pfx("10.9.9.9/8")))
		}},
		"vxlan mtu changed":          {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMTU(l, 1300) }},
		"vxlan taken off its bridge": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetNoMaster(l) }},
		"lo VTEP removed": {ns: "router", link: "lo", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.AddrDel(l, addrOf(pfx("100.65.0.1/32")))
		}},
		"bridge left marked for deletion by an interrupted call": {ns: "router", link: "br-pe-200", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.LinkSetGroup(l, doomedGroup)
		}},
		"host bridge deleted":    {ns: "host", link: "br-hs-200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkDel(l) }},
		"vxlan port learning on": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetLearning(l, true) }},
		"vxlan port neigh_suppress off": {ns: "router", link: "vni200", what: func(h *netlink.Handle, l netlink.Link) error {
			return h.LinkSetBrNeighSuppress(l, false)
		}},
	}
	for name, tc := range cases {
		for mode, repair := range map[string]func(e *env, p Plan) Changes{
			"Prepare+Activate": (*env).apply,
			"Reapply":          (*env).reapply,
		} {
			t.Run(name+" by "+mode, func(t *testing.T) {
				e := newEnv(t)
				p := e.planFor(nodeconfig.Config{
					Underlay: underlayWith("100.65.0.1/32"),
					L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true)},
					Passthrough: &nodeconfig.Passthrough{HostSession: nodeconfig.HostSession{
						RouterIPv4: pfx("192.168.20.1/24"), HostIPv4: pfx("192.168.20.2/24"),
					}},
				})
				e.apply(p)
				want := snapshot(t, e)
				h := e.hostH
				if tc.ns == "router" {
					h = e.routerH()
				}
				if err := tc.what(h, e.link(h, tc.link)); err != nil {
					t.Fatalf("drift: %v", err)
				}
				if ch := repair(e, p); len(ch) == 0 {
					t.Fatalf("apply after drift changed nothing")
				}
				if diff := cmp.Diff(want, snapshot(t, e), equateIP); diff != "" {
					t.Errorf("state after repair differs from the original (-want +got):\n%s", diff)
				}
				e.requireNoop(p)
			})
		}
	}
}

// linkView is what drift repair must restore (indexes may change).
type linkView struct {
	Type, Master, Alias string
	MTU, Group          int
	Up                  bool
	Addrs               []netip.Prefix
	// Port is the bridge-port flags, from the AF_BRIDGE dump.
	Port *bridgePort
}

// snapshot lists the links of both namespaces by netns/name.
func snapshot(t *testing.T, e *env) map[string]linkView {
	t.Helper()
	out := map[string]linkView{}
	for ns, h := range map[string]*netlink.Handle{"host": e.hostH, "router": e.routerH()} {
		path := e.host
		if ns == "router" {
			path = e.router
		}
		fd, err := netns.GetFromPath(netnsPath(path))
		if err != nil {
			t.Fatal(err)
		}
		ports, err := dumpBridgePorts(fd)
		fd.Close()
		if err != nil {
			t.Fatal(err)
		}
		var links []netlink.Link
		err = retry(context.Background(), func() (err error) {
			links, err = h.LinkList()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			name := l.Attrs().Name
			if strings.HasSuffix(name, "-peer") {
				continue
			}
			v := linkView{
				Type: l.Type(), Master: e.master(h, name), Alias: l.Attrs().Alias,
				MTU: l.Attrs().MTU, Group: int(l.Attrs().Group), Up: isUp(l), Addrs: e.addrs(h, name),
			}
			if p, ok := ports[l.Attrs().Index]; ok {
				v.Port = &p
			}
			out[ns+"/"+name] = v
		}
	}
	return out
}

func TestManagerRefusesWrongCalls(t *testing.T) {
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")})
	if _, err := e.m.Activate(context.Background(), p); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Activate before Prepare: want an error saying the router netns does not exist, got %v", err)
	}
	if _, err := os.Stat(netnsPath(e.router)); err == nil {
		t.Errorf("Activate created the router netns")
	}
	other := PlanFor(nodeconfig.Config{}, PlanOptions{Netns: "someone-else"})
	if _, err := e.m.Prepare(context.Background(), other); err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("Prepare of a plan for another netns: want an error naming it, got %v", err)
	}
}
