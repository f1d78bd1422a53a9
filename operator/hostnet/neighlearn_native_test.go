package hostnet

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/nsexec"
)

// workload is a test's stand-in for a pod or VM on an L2 segment: a netns
// of its own, behind a veth whose other end is a port of a bridge in
// another namespace. Its traffic never leaves the test's namespaces.
type workload struct {
	ns  string
	dev string // the workload's end, in ns
	mac net.HardwareAddr
	h   *netlink.Handle // in ns
}

// newWorkload creates the workload's netns and its veth, the peer end
// ("<dev>-br") a port of bridge in the namespace bridgeNS, with addrs on
// the workload's end (IPv6 ones without DAD: usable at once). The
// workload announces itself as a moved VM does, through the kernel's own
// announcements (arp_notify: a gratuitous ARP; ndisc_notify: an
// unsolicited neighbour advertisement), on link up and on announce.
func newWorkload(tb testing.TB, bridgeNS *netlink.Handle, bridge string, mac string, addrs ...netip.Prefix) *workload {
	tb.Helper()
	w := &workload{ns: uniqueNetnsName("wl"), dev: "wl0", mac: mustMAC(mac)}
	if err := createNamedNetns(netnsPath(w.ns)); err != nil {
		tb.Fatalf("create workload netns: %v", err)
	}
	tb.Cleanup(func() {
		if err := deleteNamedNetns(netnsPath(w.ns)); err != nil {
			tb.Errorf("delete workload netns: %v", err)
		}
	})
	e := &env{tb: tb}
	wh := e.handle(w.ns)
	wfd := e.nsFD(w.ns)
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: w.dev + "-br", MTU: 1450},
		PeerName:  w.dev, PeerHardwareAddr: w.mac, PeerNamespace: netlink.NsFd(wfd),
	}
	if err := bridgeNS.LinkAdd(veth); err != nil {
		tb.Fatalf("add workload veth: %v", err)
	}
	br := e.link(bridgeNS, bridge)
	port := e.link(bridgeNS, w.dev+"-br")
	if err := bridgeNS.LinkSetMaster(port, br); err != nil {
		tb.Fatalf("attach workload veth to %s: %v", bridge, err)
	}
	if err := bridgeNS.LinkSetUp(port); err != nil {
		tb.Fatal(err)
	}
	// A workload with IPv4 addresses only has IPv6 off: otherwise its
	// router solicitations and MLD reports would refresh the bridge's FDB
	// entry for it, and it would not be silent.
	v6 := slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
	if err := nsexec.DoNamed(w.ns, func() error {
		keys := map[string]string{"net/ipv4/conf/" + w.dev + "/arp_notify": "1", "net/ipv6/conf/" + w.dev + "/ndisc_notify": "1"}
		if !v6 {
			keys = map[string]string{"net/ipv4/conf/" + w.dev + "/arp_notify": "1", "net/ipv6/conf/" + w.dev + "/disable_ipv6": "1"}
		}
		for key, val := range keys {
			if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(val), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatalf("workload sysctls: %v", err)
	}
	dev := e.link(wh, w.dev)
	for _, a := range addrs {
		addr := &netlink.Addr{IPNet: ipNet(a)}
		if a.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := wh.AddrAdd(dev, addr); err != nil {
			tb.Fatalf("workload address %s: %v", a, err)
		}
	}
	if err := wh.LinkSetUp(dev); err != nil {
		tb.Fatal(err)
	}
	w.h = wh
	return w
}

// announce makes the workload's kernel send a gratuitous ARP and an
// unsolicited neighbour advertisement again (setting its MAC, unchanged,
// is a NETDEV_CHANGEADDR, on which arp_notify and ndisc_notify announce).
// The ones sent on link up can be lost: the bridge forwards on a new port
// only once the kernel's link watcher has seen its carrier, up to a
// second later, which is why a VM repeats its announcements too.
func (w *workload) announce(tb testing.TB) {
	tb.Helper()
	l, err := w.h.LinkByName(w.dev)
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.h.LinkSetHardwareAddr(l, w.mac); err != nil {
		tb.Fatalf("workload announce: %v", err)
	}
}

func (e *env) nsFD(ns string) int {
	e.tb.Helper()
	fd, err := openNetns(ns)
	if err != nil {
		e.tb.Fatalf("open netns %s: %v", ns, err)
	}
	e.tb.Cleanup(func() { fd.Close() })
	return int(fd)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// neighbourOn is the router netns's neighbour entry for ip on dev, or an
// error saying there is none.
func neighbourOn(h *netlink.Handle, dev string, ip netip.Addr) (netlink.Neigh, error) {
	l, err := h.LinkByName(dev)
	if err != nil {
		return netlink.Neigh{}, err
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	list, err := h.NeighList(l.Attrs().Index, family)
	if err != nil {
		return netlink.Neigh{}, err
	}
	for _, n := range list {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip {
			return n, nil
		}
	}
	return netlink.Neigh{}, errNoNeighbour{dev, ip}
}

type errNoNeighbour struct {
	dev string
	ip  netip.Addr
}

func (e errNoNeighbour) Error() string {
	return "no neighbour entry for " + e.ip.String() + " on " + e.dev
}

// TestRouterNetnsLearnsFromUnsolicitedAnnouncements: a workload that
// appears on an L2VNI's segment and announces itself (a gratuitous ARP,
// an unsolicited neighbour advertisement), as a VM does after a live
// migration, gets a neighbour entry on the router's bridge at once, with
// its MAC: the entry zebra advertises as a MAC/IP type-2 route. Without
// arp_accept and accept_untracked_na the kernel drops both announcements
// for an address it has no entry for.
func TestRouterNetnsLearnsFromUnsolicitedAnnouncements(t *testing.T) {
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(110, "br-hs-110", true)},
	})
	e.apply(p)
	bridge := devname.Bridge(110)
	for key, want := range map[string]string{
		"net/ipv4/conf/all/arp_accept":                     "1",
		"net/ipv4/conf/default/arp_accept":                 "1",
		"net/ipv6/conf/default/accept_untracked_na":        "1",
		"net/ipv6/conf/" + bridge + "/accept_untracked_na": "1", // what the kernel reads: per device
	} {
		if got := e.sysctl(key); got != want {
			t.Errorf("router netns %s = %s, want %s", key, got, want)
		}
	}

	v4, v6 := netip.MustParseAddr("192.168.30.50"), netip.MustParseAddr("2001:db8:30::50")
	w := newWorkload(t, e.hostH, "br-hs-110", "02:00:00:aa:00:50", netip.PrefixFrom(v4, 24), netip.PrefixFrom(v6, 64))
	g := gomega.NewWithT(t)
	r := e.routerH()
	for _, ip := range []netip.Addr{v4, v6} {
		g.Eventually(func() (string, error) {
			w.announce(t)
			n, err := neighbourOn(r, bridge, ip)
			return n.HardwareAddr.String(), err
		}).WithTimeout(10*time.Second).WithPolling(200*time.Millisecond).Should(gomega.Equal(w.mac.String()),
			"router netns: neighbour entry of the workload's %s on %s, learnt from its own announcement", ip, bridge)
	}
}

// TestMissingSysctl: a key this kernel does not have (as
// accept_untracked_na is missing before Linux 5.18) fails the pass
// unless it is Optional, in which case the rest of the plan applies.
func TestMissingSysctl(t *testing.T) {
	const missing = "net/ipv6/conf/all/perouter_no_such_key"
	for name, tc := range map[string]struct {
		optional bool
		wantErr  bool
	}{
		"required key missing: the pass fails naming it": {optional: false, wantErr: true},
		"optional key missing: skipped":                  {optional: true, wantErr: false},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			p := e.planFor(nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")})
			p.Sysctls = append(p.Sysctls, Sysctl{Key: missing, Value: "1", Optional: tc.optional})
			_, err := e.m.Prepare(t.Context(), p)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("Prepare error = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), missing) {
				t.Errorf("error %q does not name the key %s", err, missing)
			}
			if got := e.sysctl("net/ipv4/conf/all/arp_accept"); got != "1" {
				t.Errorf("the other sysctls: arp_accept = %s, want 1", got)
			}
			if diff := cmp.Diff([]netip.Prefix{pfx("100.65.0.1/32")}, e.addrs(e.routerH(), "lo"), equateIP); diff != "" {
				t.Errorf("the rest of the plan: lo addresses (-want +got):\n%s", diff)
			}
		})
	}
}
