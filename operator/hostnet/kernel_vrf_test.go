package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// These tests need VRF devices. On a kernel without them they skip; the
// kernel lane (make test-kernel) runs them in a VM with a stock kernel.

// l3 is an L3VNI; localCIDR "" means no host session, and an optional
// IPv6 localCIDR makes the session dual-stack.
func l3(vrf string, vni uint32, localCIDR string, localCIDR6 ...string) nodeconfig.L3VNI {
	n := nodeconfig.L3VNI{
		VRF: vrf, VNI: vni, VXLANPort: 4789,
		RouterMAC: mustMAC(fmt.Sprintf("02:00:00:%02x:%02x:%02x", vni>>16&0xff, vni>>8&0xff, vni&0xff)),
	}
	if localCIDR != "" {
		lc := pfx(localCIDR).Masked()
		n.HostSession = &nodeconfig.HostSession{
			RouterIPv4: netip.PrefixFrom(lc.Addr().Next(), lc.Bits()),
			HostIPv4:   netip.PrefixFrom(lc.Addr().Next().Next().Next(), lc.Bits()),
		}
		for _, c := range localCIDR6 {
			lc6 := pfx(c).Masked()
			n.HostSession.RouterIPv6 = netip.PrefixFrom(lc6.Addr().Next(), lc6.Bits())
			n.HostSession.HostIPv6 = netip.PrefixFrom(lc6.Addr().Next().Next().Next(), lc6.Bits())
		}
	}
	return n
}

// checkL3VNI asserts every kernel object of one L3VNI.
func (e *env) checkL3VNI(t *testing.T, n nodeconfig.L3VNI, up bool) {
	t.Helper()
	r := e.routerH()
	vrf, ok := e.link(r, n.VRF).(*netlink.Vrf)
	if !ok {
		t.Fatalf("%s is not a VRF", n.VRF)
	}
	if vrf.Table != TableFor(n.VNI) {
		t.Errorf("VRF %s table = %d, want %d", n.VRF, vrf.Table, TableFor(n.VNI))
	}
	br := e.link(r, devname.Bridge(n.VNI))
	if got := e.master(r, br.Attrs().Name); got != n.VRF {
		t.Errorf("%s master = %q, want %s", br.Attrs().Name, got, n.VRF)
	}
	if br.Attrs().HardwareAddr.String() != n.RouterMAC.String() {
		t.Errorf("%s mac = %s, want %s", br.Attrs().Name, br.Attrs().HardwareAddr, n.RouterMAC)
	}
	x := e.link(r, devname.VXLAN(n.VNI)).(*netlink.Vxlan)
	if x.VxlanId != int(n.VNI) || x.Port != 4789 || x.Learning || x.MTU != 1450 || e.master(r, x.Name) != devname.Bridge(n.VNI) {
		t.Errorf("%s: vni %d port %d learning %v mtu %d master %s", x.Name, x.VxlanId, x.Port, x.Learning, x.MTU, e.master(r, x.Name))
	}
	if bp := e.bridgePortOf(e.router, x.Name); bp != (bridgePort{NeighSuppress: true}) {
		t.Errorf("%s bridge port = %+v, want learning off, neigh_suppress on", x.Name, bp)
	}
	links := []netlink.Link{vrf, br, x}
	if hs := n.HostSession; hs != nil {
		pe := e.link(r, devname.RouterVeth(n.VNI))
		host := e.link(e.hostH, devname.HostVeth(n.VNI))
		if got := e.master(r, pe.Attrs().Name); got != n.VRF {
			t.Errorf("%s master = %q, want %s", pe.Attrs().Name, got, n.VRF)
		}
		if diff := cmp.Diff(prefixes(hs.RouterIPv4, hs.RouterIPv6), e.addrs(r, pe.Attrs().Name), equateIP); diff != "" {
			t.Errorf("%s addresses (-want +got):\n%s", pe.Attrs().Name, diff)
		}
		if diff := cmp.Diff(prefixes(hs.HostIPv4, hs.HostIPv6), e.addrs(e.hostH, host.Attrs().Name), equateIP); diff != "" {
			t.Errorf("%s addresses (-want +got):\n%s", host.Attrs().Name, diff)
		}
		if pe.Attrs().MTU != 1450 || host.Attrs().MTU != 1450 {
			t.Errorf("veth mtu %d/%d, want 1450", pe.Attrs().MTU, host.Attrs().MTU)
		}
		if pe.Attrs().ParentIndex != host.Attrs().Index || host.Attrs().ParentIndex != pe.Attrs().Index {
			t.Errorf("%s and %s are not peers", pe.Attrs().Name, host.Attrs().Name)
		}
		links = append(links, pe, host)
	}
	for _, l := range links {
		if isUp(l) != up {
			t.Errorf("%s up = %v, want %v", l.Attrs().Name, isUp(l), up)
		}
		if l.Attrs().Alias != OwnerAlias {
			t.Errorf("%s alias = %q, want %q", l.Attrs().Name, l.Attrs().Alias, OwnerAlias)
		}
	}
	if got := e.sysctl("net/ipv6/conf/" + devname.Bridge(n.VNI) + "/addr_gen_mode"); got != "1" {
		t.Errorf("%s addr_gen_mode = %s, want 1 (none)", devname.Bridge(n.VNI), got)
	}
}

func TestL3VNILifecycle(t *testing.T) {
	requireVRF(t)
	e := newEnv(t)
	red := l3("red", 100, "192.169.10.0/24", "fd00:10::/64")
	blue := l3("blue", 200, "192.169.11.0/24")
	under := underlayWith("100.65.0.1/32")
	p := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red, blue}})

	// First apply, in two steps: everything exists but down after
	// Prepare, up after Activate.
	e.prepare(p)
	e.checkL3VNI(t, red, false)
	e.checkL3VNI(t, blue, false)
	e.activate(p)
	e.checkL3VNI(t, red, true)
	e.checkL3VNI(t, blue, true)
	e.requireNoop(p)

	// Add a VNI: the running ones stay up, the new one waits for Activate.
	green := l3("green", 300, "192.169.12.0/24")
	p3 := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red, blue, green}})
	e.prepare(p3)
	e.checkL3VNI(t, red, true)
	e.checkL3VNI(t, green, false)
	e.activate(p3)
	e.checkL3VNI(t, green, true)
	e.requireNoop(p3)

	// Remove one: all its objects go, the others are untouched.
	p2 := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red, green}})
	ch := e.apply(p2)
	if got := kindsOf(ch); got[Deleted] != 4 || len(ch) != 4 {
		// vrf, bridge, vxlan and the veth pair (one delete).
		t.Errorf("removing blue: want exactly 4 deletions, got:\n%s", ch)
	}
	r := e.routerH()
	for _, name := range []string{"blue", "br-pe-200", "vni200", "pe-e-200"} {
		e.noLink(r, name)
	}
	e.noLink(e.hostH, "host-e-200")
	e.checkL3VNI(t, red, true)
	e.checkL3VNI(t, green, true)
	e.requireNoop(p2)

	// A new localCIDR for red: addresses change in place.
	red2 := l3("red", 100, "10.200.0.0/16", "fd00:99::/64")
	p4 := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red2, green}})
	e.apply(p4)
	e.checkL3VNI(t, red2, true)
	e.requireNoop(p4)

	// Everything removed.
	empty := e.planFor(nodeconfig.Config{Underlay: under})
	e.apply(empty)
	for _, name := range []string{"red", "green", "br-pe-100", "vni300", "pe-e-100"} {
		e.noLink(r, name)
	}
	e.requireNoop(empty)
}

func TestRoutedL2VNI(t *testing.T) {
	requireVRF(t)
	e := newEnv(t)
	blue := l3("blue", 200, "")
	seg := nodeconfig.L2VNI{
		VNI: 210, VXLANPort: 4789, VRF: "blue",
		GatewayIPs: []netip.Prefix{pfx("10.10.0.1/24"), pfx("fd10::1/64")},
		GatewayMAC: mustMAC("02:00:00:00:00:d2"),
		HostBridge: nodeconfig.HostBridge{Name: "br-hs-210", Managed: true},
	}
	p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32"), L3VNIs: []nodeconfig.L3VNI{blue}, L2VNIs: []nodeconfig.L2VNI{seg}})
	e.apply(p)
	r := e.routerH()
	e.checkL3VNI(t, blue, true)
	if m := e.master(r, "br-pe-210"); m != "blue" {
		t.Errorf("br-pe-210 master = %q, want blue", m)
	}
	if mac := e.link(r, "br-pe-210").Attrs().HardwareAddr.String(); mac != "02:00:00:00:00:d2" {
		t.Errorf("br-pe-210 mac = %s", mac)
	}
	if diff := cmp.Diff(seg.GatewayIPs, e.addrs(r, "br-pe-210"), equateIP); diff != "" {
		t.Errorf("br-pe-210 gateway addresses (-want +got):\n%s", diff)
	}
	if m := e.master(r, "pe-e-210"); m != "br-pe-210" {
		t.Errorf("pe-e-210 master = %q", m)
	}
	if m := e.master(e.hostH, "host-e-210"); m != "br-hs-210" {
		t.Errorf("host-e-210 master = %q", m)
	}
	e.requireNoop(p)

	// The segment loses its routing domain: the bridge leaves the VRF and
	// drops the gateway addresses.
	seg.VRF = ""
	p2 := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32"), L3VNIs: []nodeconfig.L3VNI{blue}, L2VNIs: []nodeconfig.L2VNI{seg}})
	e.apply(p2)
	if m := e.master(r, "br-pe-210"); m != "" {
		t.Errorf("br-pe-210 master = %q, want none", m)
	}
	if got := e.addrs(r, "br-pe-210"); len(got) != 0 {
		t.Errorf("br-pe-210 still has %v", got)
	}
	e.requireNoop(p2)
}

func TestVRFDriftRepair(t *testing.T) {
	requireVRF(t)
	cases := map[string]func(t *testing.T, e *env){
		"VRF deleted": func(t *testing.T, e *env) {
			if err := e.routerH().LinkDel(e.link(e.routerH(), "red")); err != nil {
				t.Fatal(err)
			}
		},
		"VRF replaced with the wrong table": func(t *testing.T, e *env) {
			r := e.routerH()
			if err := r.LinkDel(e.link(r, "red")); err != nil {
				t.Fatal(err)
			}
			if err := r.LinkAdd(&netlink.Vrf{LinkAttrs: netlink.LinkAttrs{Name: "red"}, Table: 77}); err != nil {
				t.Fatal(err)
			}
			if err := r.LinkSetAlias(e.link(r, "red"), OwnerAlias); err != nil {
				t.Fatal(err)
			}
		},
		"veth taken out of the VRF": func(t *testing.T, e *env) {
			if err := e.routerH().LinkSetNoMaster(e.link(e.routerH(), "pe-e-100")); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, drift := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			red := l3("red", 100, "192.169.10.0/24", "fd00:10::/64")
			p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32"), L3VNIs: []nodeconfig.L3VNI{red}})
			e.apply(p)
			drift(t, e)
			if ch := e.apply(p); len(ch) == 0 {
				t.Fatal("apply after drift changed nothing")
			}
			e.checkL3VNI(t, red, true)
			e.requireNoop(p)
		})
	}
}

// TestVRFIsolation: a VRF's lookup ends in the VRF. A workload behind
// VRF red reaches red and nothing else: not the underlay (the router's
// own addresses there, a neighbour on it, another node's VTEP routed
// through it) and not blue. Each verdict is the router netns kernel's own
// (`ip route get … iif pe-e-100`), and one is sent as a real ping.
func TestVRFIsolation(t *testing.T) {
	requireVRF(t)
	e := newEnv(t)
	e.addFakeNIC("eth1", 1500, pfx("192.168.11.3/24"), pfx("fd00:11::3/64"))
	red := l3("red", 100, "192.169.10.0/24", "fd00:10::/64")
	blue := l3("blue", 200, "192.169.11.0/24", "fd00:20::/64")
	p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1"), L3VNIs: []nodeconfig.L3VNI{red, blue}})
	e.apply(p)
	r := e.routerH()
	// What the fabric's BGP session would install: the other nodes' VTEPs
	// and the fabric's loopbacks, through the underlay.
	for _, dst := range []string{"100.65.0.0/24", "10.0.0.0/24"} {
		if err := r.RouteAdd(&netlink.Route{Dst: addrOf(pfx(dst)).IPNet, Gw: net.ParseIP("192.168.11.1")}); err != nil {
			t.Fatalf("route %s via the underlay: %v", dst, err)
		}
	}
	if err := r.RouteAdd(&netlink.Route{Dst: addrOf(pfx("fd00:65::/64")).IPNet, Gw: net.ParseIP("fd00:11::1")}); err != nil {
		t.Fatalf("IPv6 route via the underlay: %v", err)
	}

	from4, from6 := red.HostSession.HostIPv4.Addr(), red.HostSession.HostIPv6.Addr()
	lookup := func(dst string) error {
		d := netip.MustParseAddr(dst)
		src := from4
		if d.Is6() {
			src = from6
		}
		_, err := r.RouteGetWithOptions(net.IP(d.AsSlice()), &netlink.RouteGetOptions{Iif: devname.RouterVeth(red.VNI), SrcAddr: net.IP(src.AsSlice())})
		return err
	}
	for _, dst := range []string{
		"192.168.11.9", "fd00:11::9", // a neighbour on the underlay
		"192.168.11.3", "fd00:11::3", // the router's own underlay addresses
		"100.65.0.1",               // its own VTEP
		"100.65.0.2", "fd00:65::2", // another node's VTEP
		"10.0.0.1",                   // a fabric loopback
		"192.169.11.1", "fd00:20::1", // blue's router side
		"192.169.11.3", "fd00:20::3", // blue's workload side
	} {
		if err := lookup(dst); !errors.Is(err, unix.ENETUNREACH) {
			t.Errorf("from VRF red to %s: %v, want network unreachable", dst, err)
		}
	}
	for _, dst := range []string{red.HostSession.RouterIPv4.Addr().String(), red.HostSession.RouterIPv6.Addr().String()} {
		if err := lookup(dst); err != nil {
			t.Errorf("from VRF red to red's router side %s: %v, want a route", dst, err)
		}
	}

	// A real packet: the workload routes the underlay through red and
	// pings the router's underlay address. Without the rules the router
	// answers from its local table.
	veth := e.link(e.hostH, devname.HostVeth(red.VNI))
	if err := e.hostH.RouteAdd(&netlink.Route{LinkIndex: veth.Attrs().Index, Dst: addrOf(pfx("192.168.11.3/32")).IPNet, Gw: net.IP(red.HostSession.RouterIPv4.Addr().AsSlice())}); err != nil {
		t.Fatal(err)
	}
	ping := exec.Command("ip", "netns", "exec", e.host, "ping", "-c", "1", "-W", "1", "-I", from4.String(), "192.168.11.3")
	if out, err := ping.CombinedOutput(); err == nil {
		t.Errorf("a workload in VRF red pinged the router's underlay address:\n%s", out)
	}
	if err := lookup(red.HostSession.RouterIPv4.Addr().String()); err != nil {
		t.Fatal(err)
	}
	e.requireNoop(p)

	// The rules are the Manager's: taken away, they come back; the local
	// table put back first is moved after the VRFs again.
	ruleDrift := exec.Command("sh", "-c", "ip -n "+e.router+" rule del pref 1001 && ip -n "+e.router+" -6 rule del pref 1001 && ip -n "+e.router+" rule add pref 0 table local")
	if out, err := ruleDrift.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := lookup("192.168.11.9"); err != nil {
		out, _ := exec.Command("ip", "-n", e.router, "rule").CombinedOutput()
		t.Fatalf("with the rules gone the underlay should be reachable (the drift did not take): %v\n%s", err, out)
	}
	ch := e.apply(p)
	if k := kindsOf(ch); k[Created] != 2 || k[Deleted] != 1 {
		t.Errorf("repair: want 2 rules created and 1 deleted, got:\n%s", ch)
	}
	for _, dst := range []string{"192.168.11.9", "fd00:11::9", "192.168.11.3"} {
		if err := lookup(dst); !errors.Is(err, unix.ENETUNREACH) {
			t.Errorf("after repair, from VRF red to %s: %v, want network unreachable", dst, err)
		}
	}
	e.requireNoop(p)
}

// TestVNIFamilies: with a dual-stack VTEP pool each VNI's VXLAN sends
// from the VTEP its model chose (spec.underlayAddressFamily), and the
// VXLAN and the veths behind it get that family's MTU (underlay − 50 over
// IPv4, − 70 over IPv6), L3VNIs and L2VNIs alike, side by side on one
// node. A VNI moved to the other family gets its VXLAN recreated (the
// kernel cannot change a VXLAN's local address) and its veths' MTU
// changed.
func TestVNIFamilies(t *testing.T) {
	requireVRF(t)
	e := newEnv(t)
	v4, v6 := netip.MustParseAddr("100.65.0.1"), netip.MustParseAddr("fd00:65::1")
	under := &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.1/32"), pfx("fd00:65::1/128")}}
	red := l3("red", 100, "192.169.10.0/24")
	red.VTEP = v4
	blue := l3("blue", 200, "192.169.11.0/24", "fd00:11::/64")
	blue.VTEP = v6
	seg6 := nodeconfig.L2VNI{VNI: 300, VXLANPort: 4789, VTEP: v6, HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true}}
	seg4 := nodeconfig.L2VNI{VNI: 310, VXLANPort: 4789, VTEP: v4, HostBridge: nodeconfig.HostBridge{Name: "br-hs-310", Managed: true}}
	p := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red, blue}, L2VNIs: []nodeconfig.L2VNI{seg6, seg4}})
	e.apply(p)

	r := e.routerH()
	if diff := cmp.Diff(under.VTEPs, e.addrs(r, "lo"), equateIP); diff != "" {
		t.Errorf("lo addresses (-want +got):\n%s", diff)
	}
	// check asserts one VNI's VXLAN local address and the MTU of its
	// VXLAN and of both ends of its veth.
	check := func(vni uint32, local netip.Addr, mtu int) {
		t.Helper()
		x := e.link(r, devname.VXLAN(vni)).(*netlink.Vxlan)
		if x.SrcAddr.String() != local.String() || x.MTU != mtu {
			t.Errorf("%s: local %s mtu %d, want %s and %d", x.Name, x.SrcAddr, x.MTU, local, mtu)
		}
		pe, host := e.link(r, devname.RouterVeth(vni)), e.link(e.hostH, devname.HostVeth(vni))
		if pe.Attrs().MTU != mtu || host.Attrs().MTU != mtu {
			t.Errorf("%s/%s mtu %d/%d, want %d", pe.Attrs().Name, host.Attrs().Name, pe.Attrs().MTU, host.Attrs().MTU, mtu)
		}
	}
	check(100, v4, 1450)
	check(200, v6, 1430)
	check(300, v6, 1430)
	check(310, v4, 1450)
	for _, vrf := range []string{"red", "blue"} {
		if _, ok := e.link(r, vrf).(*netlink.Vrf); !ok {
			t.Errorf("%s is not a VRF", vrf)
		}
	}
	e.requireNoop(p)

	// red moves to the IPv6 VTEP: only vni100 is recreated, its veth's
	// MTU follows; the others stay as they are.
	red.VTEP = v6
	p2 := e.planFor(nodeconfig.Config{Underlay: under, L3VNIs: []nodeconfig.L3VNI{red, blue}, L2VNIs: []nodeconfig.L2VNI{seg6, seg4}})
	ch := e.apply(p2)
	if kindsOf(ch)[Recreated] != 1 {
		t.Errorf("want vni100 recreated, got:\n%s", ch)
	}
	check(100, v6, 1430)
	check(200, v6, 1430)
	check(300, v6, 1430)
	check(310, v4, 1450)
	e.requireNoop(p2)
}
