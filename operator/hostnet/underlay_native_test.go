package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Underlay NICs and the node's own connectivity (issue 15 items 2 and
// 4). These tests need no VRF.

// addRoute adds a route in the host netns through dev.
func (e *env) addRoute(dev, dst, gw string, metric int) {
	e.tb.Helper()
	r := &netlink.Route{LinkIndex: e.link(e.hostH, dev).Attrs().Index, Priority: metric}
	_, ipnet, err := net.ParseCIDR(dst)
	if err != nil {
		e.tb.Fatal(err)
	}
	r.Dst = ipnet
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	}
	if err := e.hostH.RouteAdd(r); err != nil {
		e.tb.Fatalf("route %s via %s dev %s metric %d: %v", dst, gw, dev, metric, err)
	}
}

// routes lists the routes through dev in the host netns that were not
// made by the kernel for an address, as `ip route` would show them.
func (e *env) routes(dev string) []string {
	e.tb.Helper()
	idx := e.link(e.hostH, dev).Attrs().Index
	var out []string
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := e.hostH.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			e.tb.Fatal(err)
		}
		for _, r := range rs {
			if r.LinkIndex != idx || r.Protocol == unix.RTPROT_KERNEL || r.Table == unix.RT_TABLE_LOCAL {
				continue
			}
			out = append(out, fmt.Sprintf("%s via %s metric %d table %d", r.Dst, r.Gw, r.Priority, r.Table))
		}
	}
	slices.Sort(out)
	return out
}

// peerUp brings the fake NIC's peer up, so the NIC has a carrier.
func (e *env) peerUp(name string) {
	e.tb.Helper()
	if err := e.hostH.LinkSetUp(e.link(e.hostH, name+"-peer")); err != nil {
		e.tb.Fatal(err)
	}
}

// The host NIC the node reaches the API server through is never moved:
// not the one with the host netns's default route (either family), not
// the one with one of the node's own addresses. The other NICs of the
// plan are still moved, and the refused one is left exactly as it was.
func TestUnderlayRefusesTheNodesOwnNIC(t *testing.T) {
	type tc struct {
		setup     func(e *env)
		nodeAddrs []netip.Addr
		// want are the words the error must hold.
		want []string
	}
	cases := map[string]tc{
		"IPv4 default route": {
			setup: defaultRouteOnEth0("10.0.0.5/24", "0.0.0.0/0", "10.0.0.1", 100),
			want:  []string{"underlay interface eth0", "default route", "spec.interfaces"},
		},
		"IPv6 default route": {
			setup: defaultRouteOnEth0("fd00:10::5/64", "::/0", "fd00:10::1", 1024),
			want:  []string{"underlay interface eth0", "default route", "spec.interfaces"},
		},
		"the default route of two with the lower metric": {
			setup: func(e *env) {
				e.addFakeNIC("eth0", 1500, pfx("10.0.0.5/24"))
				e.peerUp("eth0")
				e.addFakeNIC("eth2", 1500, pfx("10.2.0.5/24"))
				e.peerUp("eth2")
				e.addRoute("eth0", "0.0.0.0/0", "10.0.0.1", 50)
				e.addRoute("eth2", "0.0.0.0/0", "10.2.0.1", 600)
			},
			want: []string{"underlay interface eth0", "default route"},
		},
		"node InternalIP": {
			setup: func(e *env) {
				e.addFakeNIC("eth0", 1500, pfx("192.168.50.7/24"), pfx("fd00:50::7/64"))
			},
			nodeAddrs: []netip.Addr{netip.MustParseAddr("fd00:50::7")},
			want:      []string{"underlay interface eth0", "fd00:50::7", "node's own address", "spec.interfaces"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c.setup(e)
			e.addFakeNIC("eth1", 9000, pfx("192.168.11.3/24"))
			beforeAddrs, beforeRoutes := e.addrs(e.hostH, "eth0"), e.routes("eth0")
			p := PlanFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth0", "eth1")},
				PlanOptions{Netns: e.router, UnderlayMTU: 1500, NodeAddresses: c.nodeAddrs})

			_, err := e.m.Prepare(context.Background(), p)
			if err == nil {
				t.Fatalf("Prepare moved the node's own NIC eth0 without an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Prepare error does not say %q:\n%v", w, err)
				}
			}
			var uerr *UnderlayError
			if !errors.As(err, &uerr) || uerr.Interface != "eth0" {
				t.Errorf("Prepare error: want an UnderlayError about eth0 (for the Underlay's status), got %#v", uerr)
			}
			// eth0 is untouched: still in the host netns, alias, addresses,
			// routes and up state as before, and no state file was left.
			nic := e.link(e.hostH, "eth0")
			if nic.Attrs().Alias != "uplink" || !isUp(nic) {
				t.Errorf("refused eth0: alias %q up %v, want uplink and up", nic.Attrs().Alias, isUp(nic))
			}
			if diff := cmp.Diff(beforeAddrs, e.addrs(e.hostH, "eth0"), equateIP); diff != "" {
				t.Errorf("refused eth0 addresses (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(beforeRoutes, e.routes("eth0")); diff != "" {
				t.Errorf("refused eth0 routes (-before +after):\n%s", diff)
			}
			e.noLink(e.routerH(), "eth0")
			// The other NIC of the plan was moved as usual.
			e.noLink(e.hostH, "eth1")
			e.link(e.routerH(), "eth1")
			if _, err := os.Stat(filepath.Join(e.stateDir, "eth0.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file of the refused eth0: want none, stat says %v", err)
			}
			// The controller publishes the same verdict for the webhook.
			got, err := e.m.ProtectedInterfaces(context.Background(), c.nodeAddrs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Name != "eth0" {
				t.Errorf("ProtectedInterfaces = %+v, want eth0 alone", got)
			}
		})
	}
}

// defaultRouteOnEth0 gives the host netns an eth0 with addr, up, and a
// default route dst through gw with metric.
func defaultRouteOnEth0(addr, dst, gw string, metric int) func(e *env) {
	return func(e *env) {
		e.addFakeNIC("eth0", 1500, pfx(addr))
		e.peerUp("eth0")
		e.addRoute("eth0", dst, gw, metric)
	}
}

// nicState is what moving a NIC away and back must give back.
type nicState struct {
	Alias  string
	MTU    int
	Up     bool
	Addrs  []netip.Prefix
	Routes []string
}

func (e *env) nicState(name string) nicState {
	e.tb.Helper()
	l := e.link(e.hostH, name)
	return nicState{Alias: l.Attrs().Alias, MTU: l.Attrs().MTU, Up: isUp(l), Addrs: e.addrs(e.hostH, name), Routes: e.routes(name)}
}

// addUplinkWithRoutes gives the host netns a primary uplink eth0 (the
// node's default route, never moved) and the underlay NIC eth1 with
// addresses in both families, a non-default MTU, a route through a
// gateway in each family, and a backup default route with a high metric
// (a default route that is not the node's: item 2 lets it move).
func (e *env) addUplinkWithRoutes() nicState {
	e.tb.Helper()
	e.addFakeNIC("eth0", 1500, pfx("10.0.0.5/24"))
	e.peerUp("eth0")
	e.addRoute("eth0", "0.0.0.0/0", "10.0.0.1", 100)
	e.addFakeNIC("eth1", 9000, pfx("192.168.11.3/24"), pfx("fd00:11::3/64"))
	e.peerUp("eth1")
	e.addRoute("eth1", "100.64.0.0/16", "192.168.11.1", 0)
	e.addRoute("eth1", "fd00:64::/48", "fd00:11::1", 1024)
	e.addRoute("eth1", "0.0.0.0/0", "192.168.11.1", 4000)
	want := e.nicState("eth1")
	if len(want.Routes) != 3 {
		e.tb.Fatalf("eth1 routes before the move: %v", want.Routes)
	}
	return want
}

// restarted is a new Manager with the same namespaces and state
// directory: the controller after a restart, its memory lost.
func (e *env) restarted() *Manager {
	m := NewManager(Options{RouterNetns: e.router, HostNetns: e.host, StateDir: e.stateDir, Logger: logr.Discard()})
	e.tb.Cleanup(m.Close)
	return m
}

// What the host side of an underlay NIC had (addresses, routes with a
// default route, MTU, up state) is written to the node before the move
// and restored on the move back, by a Manager that did not move it.
func TestUnderlayStateSurvivesARestart(t *testing.T) {
	e := newEnv(t)
	want := e.addUplinkWithRoutes()
	in := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1")})
	e.apply(in)
	e.noLink(e.hostH, "eth1")
	if _, err := os.Stat(filepath.Join(e.stateDir, "eth1.json")); err != nil {
		t.Fatalf("no state file for the moved eth1: %v", err)
	}

	// The Underlay is deleted after a controller restart.
	e.m.Close()
	e.m = e.restarted()
	e.requireGivenBack(t, want)
}

// requireGivenBack deletes the Underlay (a plan without eth1) and checks
// that eth1 is back in the host netns with what it had before the move
// (want), its state file deleted, and the plan then a no-op.
func (e *env) requireGivenBack(t *testing.T, want nicState) {
	t.Helper()
	out := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")})
	e.apply(out)
	if diff := cmp.Diff(want, e.nicState("eth1"), equateIP); diff != "" {
		t.Errorf("eth1 back in the host netns (-before the move +after):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "eth1.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after eth1 was given back: want it deleted, stat says %v", err)
	}
	e.requireNoop(out)
}

// A controller killed in the middle of moving a NIC: the state was
// written before anything changed, so the next controller finishes or
// undoes the move with everything the NIC had.
func TestUnderlayStateSurvivesACrashMidMove(t *testing.T) {
	// What the next controller is asked for, and what it must leave: each
	// check gets the NIC's state before the move and the plan with eth1.
	next := map[string]func(t *testing.T, e *env, want nicState, in Plan){
		"Underlay kept": func(t *testing.T, e *env, want nicState, in Plan) {
			e.apply(in)
			nic := e.link(e.routerH(), "eth1")
			if got := [...]any{nic.Attrs().MTU, isUp(nic), nic.Attrs().Alias}; got != [...]any{9000, true, UnderlayAliasPrefix + "uplink"} {
				t.Errorf("eth1 in the router netns: mtu, up, alias = %v", got)
			}
			if diff := cmp.Diff(want.Addrs, e.addrs(e.routerH(), "eth1"), equateIP); diff != "" {
				t.Errorf("eth1 addresses in the router netns (-want +got):\n%s", diff)
			}
			e.requireNoop(in)
		},
		"Underlay deleted": func(t *testing.T, e *env, want nicState, _ Plan) {
			e.requireGivenBack(t, want)
		},
	}
	for _, step := range []string{crashAfterSave, crashAfterMark, crashAfterMove} {
		for name, check := range next {
			t.Run("killed "+step+", "+name, func(t *testing.T) {
				e := newEnv(t)
				want := e.addUplinkWithRoutes()
				in := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1")})
				e.m.crash = func(at, nic string) bool { return at == step && nic == "eth1" }
				if _, err := e.m.Prepare(context.Background(), in); err == nil {
					t.Fatalf("the simulated crash %s reported no error", step)
				}
				e.m.Close()
				e.m = e.restarted()
				check(t, e, want, in)
			})
		}
	}
}

// The state file is versioned JSON; one this controller cannot read is
// reported, naming the file, and not deleted.
func TestUnderlayStateFile(t *testing.T) {
	dir := t.TempDir()
	m := NewManager(Options{StateDir: dir})
	st := underlayState{Name: "eth1", Alias: "uplink", MTU: 9000, Up: true, Addresses: []netip.Prefix{pfx("192.168.11.3/24")},
		Routes: []savedRoute{{Dst: pfx("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.168.11.1"), Table: 254, Metric: 4000}}}
	if err := m.saveUnderlayState(st); err != nil {
		t.Fatal(err)
	}
	m2 := NewManager(Options{StateDir: dir})
	got, ok, err := m2.loadUnderlayState("eth1")
	if err != nil || !ok {
		t.Fatalf("load: ok %v err %v", ok, err)
	}
	st.Version = underlayStateVersion
	if diff := cmp.Diff(st, got, equateIP); diff != "" {
		t.Errorf("state read back (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want the one file (no temp files left)", len(entries))
	}
	path := filepath.Join(dir, "eth1.json")
	if err := os.WriteFile(path, []byte(`{"version":99,"name":"eth1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewManager(Options{StateDir: dir}).loadUnderlayState("eth1"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("load of a version 99 file: want an error naming %s and the version, got %v", path, err)
	}
	if err := m2.dropUnderlayState("eth1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := NewManager(Options{StateDir: dir}).loadUnderlayState("eth1"); ok || err != nil {
		t.Errorf("load after drop: ok %v err %v, want neither", ok, err)
	}
}
