package hostnet

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
)

// The router netns' addresses are listed as zebra would list them, and
// announcing them again sends each one's RTM_NEWADDR without changing it.
func TestRouterAddressesAndReannounce(t *testing.T) {
	e := newEnv(t)
	nicAddrs := []netip.Prefix{pfx("192.168.11.3/24"), pfx("fd00:11::3/64")}
	e.addFakeNIC("eth1", 1500, nicAddrs...)
	e.apply(e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1")}))

	got, err := e.m.RouterAddresses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []IfAddr{
		{"eth1", pfx("192.168.11.3/24")},
		{"eth1", pfx("fd00:11::3/64")},
		{"lo", pfx("100.65.0.1/32")},
	}
	if diff := cmp.Diff(want, got, equateIP); diff != "" {
		t.Fatalf("RouterAddresses (-want +got):\n%s", diff)
	}

	r := e.routerH()
	before, err := r.AddrList(e.link(r, "eth1"), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := netns.GetFromPath(netnsPath(e.router))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	updates := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribeAt(fd, updates, done); err != nil {
		t.Fatal(err)
	}

	again := []IfAddr{
		{"eth1", pfx("192.168.11.3/24")},
		{"eth1", pfx("fd00:11::3/64")},
		{"eth1", pfx("10.99.0.1/24")}, // not in the kernel: skipped
		{"gone0", pfx("10.98.0.1/24")},
	}
	writes := e.m.Writes()
	if err := e.m.Reannounce(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if n := e.m.Writes() - writes; n != 2 {
		t.Errorf("Reannounce made %d kernel writes, want 2 (one per address present)", n)
	}
	var seen []netip.Prefix
	deadline := time.After(5 * time.Second)
	for len(seen) < 2 {
		select {
		case u := <-updates:
			if !u.NewAddr {
				t.Fatalf("Reannounce removed %v", u.LinkAddress)
			}
			ip, _ := netip.AddrFromSlice(u.LinkAddress.IP)
			ones, _ := u.LinkAddress.Mask.Size()
			seen = append(seen, netip.PrefixFrom(ip.Unmap(), ones))
		case <-deadline:
			t.Fatalf("RTM_NEWADDR seen for %v only, want both eth1 addresses", seen)
		}
	}
	slices.SortFunc(seen, comparePrefix)
	if diff := cmp.Diff(nicAddrs, seen, equateIP); diff != "" {
		t.Errorf("announced addresses (-want +got):\n%s", diff)
	}
	after, err := r.AddrList(e.link(r, "eth1"), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after, equateIP); diff != "" {
		t.Errorf("addresses changed by Reannounce (-before +after):\n%s", diff)
	}
}

// Addresses added in the host netns are announced once more, once: a
// second call has nothing left, and a pass that adds nothing adds nothing.
func TestReannounceHostAdded(t *testing.T) {
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		Passthrough: &nodeconfig.Passthrough{HostSession: nodeconfig.HostSession{
			RouterIPv4: pfx("192.168.20.1/24"), HostIPv4: pfx("192.168.20.2/24"),
			RouterIPv6: pfx("fd00:20::1/64"), HostIPv6: pfx("fd00:20::2/64"),
		}},
	})
	e.apply(p)

	fd, err := netns.GetFromPath(netnsPath(e.host))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	updates := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribeAt(fd, updates, done); err != nil {
		t.Fatal(err)
	}
	got, err := e.m.ReannounceHostAdded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []IfAddr{{devname.PassthroughHostVeth, pfx("192.168.20.2/24")}, {devname.PassthroughHostVeth, pfx("fd00:20::2/64")}}
	if diff := cmp.Diff(want, got, equateIP); diff != "" {
		t.Fatalf("ReannounceHostAdded (-want +got):\n%s", diff)
	}
	var seen []netip.Prefix
	deadline := time.After(5 * time.Second)
	for len(seen) < 2 {
		select {
		case u := <-updates:
			if !u.NewAddr {
				t.Fatalf("ReannounceHostAdded removed %v", u.LinkAddress)
			}
			ip, _ := netip.AddrFromSlice(u.LinkAddress.IP)
			ones, _ := u.LinkAddress.Mask.Size()
			seen = append(seen, netip.PrefixFrom(ip.Unmap(), ones))
		case <-deadline:
			t.Fatalf("RTM_NEWADDR seen in the host netns for %v only, want both", seen)
		}
	}
	if again, err := e.m.ReannounceHostAdded(context.Background()); err != nil || len(again) != 0 {
		t.Errorf("second call: %v, %v; want nothing", again, err)
	}
	e.requireNoop(p)
	if again, err := e.m.ReannounceHostAdded(context.Background()); err != nil || len(again) != 0 {
		t.Errorf("after a no-op pass: %v, %v; want nothing", again, err)
	}
}
