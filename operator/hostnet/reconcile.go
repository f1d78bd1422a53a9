package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nsexec"
)

func (s *session) ensureSysctls(want []Sysctl) {
	err := nsexec.Do(s.router.fd, func() error {
		for _, sc := range want {
			path := filepath.Join("/proc/sys", filepath.Clean("/"+sc.Key))
			cur, err := os.ReadFile(path)
			if sc.Optional && errors.Is(err, os.ErrNotExist) {
				s.m.missingSysctl(sc)
				continue
			}
			if err != nil {
				s.fail(fmt.Errorf("read sysctl %s in router netns: %w", sc.Key, err))
				continue
			}
			if strings.TrimSpace(string(cur)) == sc.Value {
				continue
			}
			if err := s.write("set sysctl "+sc.Key+" in router netns", func() error {
				return os.WriteFile(path, []byte(sc.Value), 0o644)
			}); err != nil {
				s.fail(err)
				continue
			}
			s.record(Updated, "router", "sysctl", sc.Key, strings.TrimSpace(string(cur))+" -> "+sc.Value)
		}
		return nil
	})
	if err != nil {
		s.fail(fmt.Errorf("enter router netns for sysctls: %w", err))
	}
}

// ensureLoopback brings lo up and makes its addresses exactly the VTEPs
// plus the loopback addresses the kernel put there.
func (s *session) ensureLoopback(vteps []netip.Prefix) {
	lo, ok := s.router.links["lo"]
	if !ok {
		s.fail(fmt.Errorf("router netns has no lo"))
		return
	}
	if lo.Attrs().Flags&netUp == 0 {
		if err := s.write("set lo up in router netns", func() error { return s.router.h.LinkSetUp(lo) }); err != nil {
			s.fail(err)
		} else {
			s.record(Updated, "router", "link", "lo", "up")
		}
	}
	s.ensureAddrs(s.router, "link", lo, vteps, func(p netip.Prefix) bool {
		return managedAddr(p) && !p.Addr().IsLoopback()
	})
}

// ensureAddrs makes the addresses of l that mine() selects exactly want.
func (s *session) ensureAddrs(ns *nsState, kind string, l netlink.Link, want []netip.Prefix, mine func(netip.Prefix) bool) {
	idx := l.Attrs().Index
	have := map[netip.Prefix]netlink.Addr{}
	for _, a := range ns.addrs[idx] {
		if p := prefixOf(a); mine(p) {
			have[p] = a
		}
	}
	name := l.Attrs().Name
	for _, p := range want {
		if _, ok := have[p]; ok {
			delete(have, p)
			continue
		}
		if err := s.write(fmt.Sprintf("add address %s to %s %s in %s netns", p, kind, name, ns.role), func() error {
			return ns.h.AddrAdd(l, addrOf(p))
		}); err != nil {
			s.fail(err)
			continue
		}
		ns.addrs[idx] = append(ns.addrs[idx], *addrOf(p))
		s.addedAddr(ns, name, p)
		s.record(Updated, ns.role, kind, name, "address "+p.String()+" added")
	}
	extra := make([]netip.Prefix, 0, len(have))
	for p := range have {
		extra = append(extra, p)
	}
	slices.SortFunc(extra, comparePrefix)
	for _, p := range extra {
		a := have[p]
		if err := s.write(fmt.Sprintf("delete address %s from %s %s in %s netns", p, kind, name, ns.role), func() error {
			return ns.h.AddrDel(l, &a)
		}); err != nil {
			s.fail(err)
			continue
		}
		ns.addrs[idx] = slices.DeleteFunc(ns.addrs[idx], func(x netlink.Addr) bool { return prefixOf(x) == p })
		s.record(Updated, ns.role, kind, name, "address "+p.String()+" removed")
	}
}

// owned reports whether a link carries our marker.
func owned(l netlink.Link) bool { return l.Attrs().Alias == OwnerAlias }

// deleteUnwanted removes our links the plan no longer has. In the router
// netns (ours alone) the marker suffices; veths go first (deleting one end
// takes its peer), then VXLANs, bridges, VRFs, so nothing is left
// enslaved to a device that is going away.
func (s *session) deleteUnwanted(p Plan) {
	wantRouter := map[string]bool{}
	wantHost := map[string]bool{}
	for _, v := range p.VRFs {
		wantRouter[v.Name] = true
	}
	for _, b := range p.Bridges {
		wantRouter[b.Name] = true
	}
	for _, v := range p.VXLANs {
		wantRouter[v.Name] = true
	}
	for _, v := range p.Veths {
		wantRouter[v.Router] = true
		wantHost[v.Host] = true
	}
	for _, b := range p.HostBridges {
		wantHost[b.Name] = true
	}
	rank := map[string]int{"veth": 0, "vxlan": 1, "bridge": 2, "vrf": 3}
	stale := func(ns *nsState, want map[string]bool, nameOK func(string) bool) []netlink.Link {
		var out []netlink.Link
		for name, l := range ns.links {
			if owned(l) && !want[name] && nameOK(name) {
				out = append(out, l)
			}
		}
		slices.SortFunc(out, func(a, b netlink.Link) int {
			ra, ok := rank[a.Type()]
			if !ok {
				ra = len(rank)
			}
			rb, ok := rank[b.Type()]
			if !ok {
				rb = len(rank)
			}
			if ra != rb {
				return ra - rb
			}
			return strings.Compare(a.Attrs().Name, b.Attrs().Name)
		})
		return out
	}
	s.rescueDoomed(s.router, wantRouter)
	s.rescueDoomed(s.host, wantHost)
	s.deleteLinks(s.router, stale(s.router, wantRouter, func(string) bool { return true }))
	// The host netns is shared with everything else on the node: there a
	// link must carry the marker AND have one of our host-side names.
	var hostStale []netlink.Link
	for _, l := range stale(s.host, wantHost, devname.HostSide) {
		// Deleting a router-side veth took its host end along.
		if _, still := s.host.links[l.Attrs().Name]; still {
			hostStale = append(hostStale, l)
		}
	}
	s.deleteLinks(s.host, hostStale)
}

// doomedGroup is the link group (IFLA_GROUP) stale links are put in just
// before they are deleted together with one RTM_DELLINK for the group.
// Deleting links one by one costs an RCU grace period each (tens of ms);
// the kernel unregisters a group as one batch.
const doomedGroup = 0x70657200 // "per\0"

// rescueDoomed puts a wanted link back into the default group in case an
// interrupted earlier call left it in doomedGroup.
func (s *session) rescueDoomed(ns *nsState, want map[string]bool) {
	for name, l := range ns.links {
		if want[name] && owned(l) && l.Attrs().Group == doomedGroup {
			if err := s.write(fmt.Sprintf("reset group of %s %s in %s netns", l.Type(), name, ns.role), func() error {
				return ns.h.LinkSetGroup(l, 0)
			}); err != nil {
				s.fail(err)
				continue
			}
			l.Attrs().Group = 0
			s.record(Updated, ns.role, l.Type(), name, "group reset (left marked for deletion)")
		}
	}
}

// deleteLinks deletes links of one netns, in one batch when there are
// several.
func (s *session) deleteLinks(ns *nsState, links []netlink.Link) {
	if len(links) < 2 {
		for _, l := range links {
			s.deleteLink(ns, l)
		}
		return
	}
	var marked []netlink.Link
	for _, l := range links {
		if l.Attrs().Group == doomedGroup {
			marked = append(marked, l)
			continue
		}
		if err := s.write(fmt.Sprintf("mark %s %s in %s netns for deletion", l.Type(), l.Attrs().Name, ns.role), func() error {
			return ns.h.LinkSetGroup(l, doomedGroup)
		}); err != nil {
			s.fail(err)
			continue
		}
		marked = append(marked, l)
	}
	if len(marked) == 0 {
		return
	}
	if err := s.write(fmt.Sprintf("delete %d links of group %#x in %s netns", len(marked), doomedGroup, ns.role), func() error {
		return deleteGroup(ns.fd, doomedGroup)
	}); err != nil {
		s.fail(err)
		return
	}
	for _, l := range marked {
		s.record(Deleted, ns.role, l.Type(), l.Attrs().Name, "")
		ns.forget(l.Attrs().Name)
		if v, ok := l.(*netlink.Veth); ok {
			s.forgetPeer(ns, v)
		}
	}
}

func (s *session) deleteLink(ns *nsState, l netlink.Link) {
	name := l.Attrs().Name
	err := s.write(fmt.Sprintf("delete %s %s in %s netns", l.Type(), name, ns.role), func() error {
		return ns.h.LinkDel(l)
	})
	switch {
	case errors.Is(err, unix.ENODEV):
		// Gone meanwhile: a deleted router netns takes the host ends of
		// its veths with it, a moment after the namespace disappears.
	case err != nil:
		s.fail(err)
		return
	default:
		s.record(Deleted, ns.role, l.Type(), name, "")
	}
	ns.forget(name)
	if v, ok := l.(*netlink.Veth); ok {
		s.forgetPeer(ns, v)
	}
}

// forgetPeer drops the other end of a deleted veth from our view.
func (s *session) forgetPeer(ns *nsState, v *netlink.Veth) {
	other := s.host
	if ns == s.host {
		other = s.router
	}
	if peer, ok := other.byIndex[v.ParentIndex]; ok && peer.Type() == "veth" && peer.Attrs().ParentIndex == v.Index {
		other.forget(peer.Attrs().Name)
	}
}

// linkSpec is what ensureLink needs to know about one desired link.
type linkSpec struct {
	ns   *nsState
	kind string // netlink type
	name string
	// build returns the link to create, with the owner alias set.
	build func() (netlink.Link, error)
	// mismatch explains why an existing link of the right type cannot be
	// changed into the desired one ("" when it can).
	mismatch func(netlink.Link) string
}

// ensureLink returns the desired link, creating it (down) when missing or
// recreating it when an immutable attribute differs. It returns nil after
// recording an error when the name belongs to someone else.
func (s *session) ensureLink(spec linkSpec) netlink.Link {
	ns := spec.ns
	if l, ok := ns.links[spec.name]; ok {
		if !owned(l) {
			s.fail(fmt.Errorf("%s %s in %s netns: a link of that name exists and is not ours (alias %q, not %q); not touching it",
				spec.kind, spec.name, ns.role, l.Attrs().Alias, OwnerAlias))
			return nil
		}
		reason := ""
		if l.Type() != spec.kind {
			reason = "type " + l.Type()
		} else if spec.mismatch != nil {
			reason = spec.mismatch(l)
		}
		if reason == "" {
			return l
		}
		s.deleteLink(ns, l)
		if _, still := ns.links[spec.name]; still {
			return nil
		}
		l = s.createLink(spec)
		if l != nil {
			s.changes[len(s.changes)-1].Action = Recreated
			s.changes[len(s.changes)-1].Detail = reason
		}
		return l
	}
	return s.createLink(spec)
}

func (s *session) createLink(spec linkSpec) netlink.Link {
	ns := spec.ns
	l, err := spec.build()
	if err != nil {
		s.fail(fmt.Errorf("%s %s in %s netns: %w", spec.kind, spec.name, ns.role, err))
		return nil
	}
	if err := s.write(fmt.Sprintf("create %s %s in %s netns", spec.kind, spec.name, ns.role), func() error {
		return ns.h.LinkAdd(l)
	}); err != nil {
		s.fail(err)
		return nil
	}
	// The library reads the new link's index back after creating it; the
	// rest of what we compare (name, type, MTU, MAC, no master, no alias,
	// down, no addresses) is what we asked for, so a second read per link
	// (a fifth of an Apply from empty) is only needed when that failed.
	got := l
	if l.Attrs().Index != 0 {
		ns.remember(l)
	} else if got, err = ns.refresh(spec.name); err != nil {
		s.fail(fmt.Errorf("read back %s %s in %s netns: %w", spec.kind, spec.name, ns.role, err))
		return nil
	}
	s.record(Created, ns.role, spec.kind, spec.name, "")
	// The kernel ignores IFLA_IFALIAS in a create request.
	if err := s.mark(ns, spec.kind, got); err != nil {
		return nil
	}
	return got
}

func (s *session) mark(ns *nsState, kind string, l netlink.Link) error {
	if l.Attrs().Alias == OwnerAlias {
		return nil
	}
	if err := s.write(fmt.Sprintf("mark %s %s in %s netns as ours", kind, l.Attrs().Name, ns.role), func() error {
		return ns.h.LinkSetAlias(l, OwnerAlias)
	}); err != nil {
		s.fail(err)
		return err
	}
	l.Attrs().Alias = OwnerAlias
	return nil
}

// linkAttrs are the mutable attributes we keep on our links.
type linkAttrs struct {
	master string // "" = none
	mac    string // "" = left to the kernel
	mtu    int    // 0 = left to the kernel
	// addrs are managed when manageAddrs; IPv6 link-locals never are.
	addrs       []netip.Prefix
	manageAddrs bool
	// vxlanPort: as a bridge port, learning off and neighbour suppression on.
	vxlanPort bool
}

func (s *session) ensureAttrs(ns *nsState, kind string, l netlink.Link, want linkAttrs) {
	name := l.Attrs().Name
	fix := func(detail string, fn func() error) {
		if err := s.write(fmt.Sprintf("set %s of %s %s in %s netns", detail, kind, name, ns.role), fn); err != nil {
			s.fail(err)
			return
		}
		s.record(Updated, ns.role, kind, name, detail)
	}
	if have := ns.masterName(l); have != want.master {
		if want.master == "" {
			fix("master none", func() error { return ns.h.LinkSetNoMaster(l) })
		} else if m, ok := ns.links[want.master]; !ok {
			s.fail(fmt.Errorf("%s %s in %s netns: master %s does not exist", kind, name, ns.role, want.master))
		} else {
			fix("master "+want.master, func() error { return ns.h.LinkSetMasterByIndex(l, m.Attrs().Index) })
			l.Attrs().MasterIndex = m.Attrs().Index
		}
		if l.Attrs().Flags&netUp != 0 {
			// Joining or leaving a VRF cycles an up device, which
			// flushes its IPv6 addresses: re-read before comparing.
			if list, err := ns.h.AddrList(l, netlink.FAMILY_ALL); err == nil {
				ns.addrs[l.Attrs().Index] = list
			}
		}
	}
	if want.mac != "" && !strings.EqualFold(l.Attrs().HardwareAddr.String(), want.mac) {
		mac, err := net.ParseMAC(want.mac)
		if err != nil {
			s.fail(fmt.Errorf("%s %s: mac %q: %w", kind, name, want.mac, err))
		} else {
			fix("mac "+want.mac, func() error { return ns.h.LinkSetHardwareAddr(l, mac) })
			l.Attrs().HardwareAddr = mac
		}
	}
	if want.mtu != 0 && l.Attrs().MTU != want.mtu {
		fix(fmt.Sprintf("mtu %d", want.mtu), func() error { return ns.h.LinkSetMTU(l, want.mtu) })
		l.Attrs().MTU = want.mtu
	}
	if want.manageAddrs {
		s.ensureAddrs(ns, kind, l, want.addrs, managedAddr)
	}
	if want.vxlanPort && want.master != "" {
		port, isPort := ns.ports[l.Attrs().Index]
		if !isPort || port.Learning {
			fix("bridge port learning off", func() error { return ns.h.LinkSetLearning(l, false) })
		}
		if !isPort || !port.NeighSuppress {
			fix("bridge port neigh_suppress on", func() error { return ns.h.LinkSetBrNeighSuppress(l, true) })
		}
		ns.ports[l.Attrs().Index] = bridgePort{Learning: false, NeighSuppress: true}
	}
}

func (s *session) ensureVRF(v VRF) {
	l := s.ensureLink(linkSpec{
		ns: s.router, kind: "vrf", name: v.Name,
		build: func() (netlink.Link, error) {
			return &netlink.Vrf{LinkAttrs: netlink.LinkAttrs{Name: v.Name}, Table: v.Table}, nil
		},
		mismatch: func(l netlink.Link) string {
			if t := l.(*netlink.Vrf).Table; t != v.Table {
				return fmt.Sprintf("table %d, want %d", t, v.Table)
			}
			return ""
		},
	})
	if l != nil {
		s.ensureAttrs(s.router, "vrf", l, linkAttrs{})
	}
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE.
const addrGenModeNone = 1

func (s *session) ensureBridge(b Bridge) {
	created := false
	l := s.ensureLink(linkSpec{
		ns: s.router, kind: "bridge", name: b.Name,
		build: func() (netlink.Link, error) {
			attrs := netlink.LinkAttrs{Name: b.Name}
			if b.MAC != "" {
				mac, err := net.ParseMAC(b.MAC)
				if err != nil {
					return nil, fmt.Errorf("mac %q: %w", b.MAC, err)
				}
				attrs.HardwareAddr = mac
			}
			created = true
			return &netlink.Bridge{LinkAttrs: attrs}, nil
		},
	})
	if l == nil {
		return
	}
	if created && b.NoIPv6LinkLocal {
		// Set while the bridge is down, before any link-local appears;
		// the kernel does not report it back, so it is only set here.
		if err := s.write("set addr_gen_mode none on bridge "+b.Name+" in router netns", func() error {
			return s.router.h.LinkSetIP6AddrGenMode(l, addrGenModeNone)
		}); err != nil {
			s.fail(err)
		}
	}
	s.ensureAttrs(s.router, "bridge", l, linkAttrs{master: b.VRF, mac: b.MAC, addrs: b.Addresses, manageAddrs: true})
}

func (s *session) ensureVXLAN(v VXLAN) {
	created := false
	l := s.ensureLink(linkSpec{
		ns: s.router, kind: "vxlan", name: v.Name,
		build: func() (netlink.Link, error) {
			created = true
			return &netlink.Vxlan{
				LinkAttrs: netlink.LinkAttrs{Name: v.Name, MTU: v.MTU},
				VxlanId:   int(v.VNI),
				SrcAddr:   net.IP(v.Local.AsSlice()),
				Port:      int(v.Port),
				Learning:  false,
			}, nil
		},
		mismatch: func(l netlink.Link) string {
			x := l.(*netlink.Vxlan)
			local, _ := netip.AddrFromSlice(x.SrcAddr)
			switch {
			case x.VxlanId != int(v.VNI):
				return fmt.Sprintf("vni %d, want %d", x.VxlanId, v.VNI)
			case x.Port != int(v.Port):
				return fmt.Sprintf("port %d, want %d", x.Port, v.Port)
			case local.Unmap() != v.Local:
				return fmt.Sprintf("local %s, want %s", local.Unmap(), v.Local)
			case x.Learning:
				return "learning on"
			}
			return ""
		},
	})
	if l == nil {
		return
	}
	if created {
		if err := s.write("set addr_gen_mode none on vxlan "+v.Name+" in router netns", func() error {
			return s.router.h.LinkSetIP6AddrGenMode(l, addrGenModeNone)
		}); err != nil {
			s.fail(err)
		}
	}
	s.ensureAttrs(s.router, "vxlan", l, linkAttrs{master: v.Bridge, mtu: v.MTU, manageAddrs: true, vxlanPort: true})
}

// ensureHostBridge only makes sure the bridge exists: its addresses are
// the user's (e.g. the host's own address in the L2 segment).
func (s *session) ensureHostBridge(b HostBridge) {
	s.ensureLink(linkSpec{
		ns: s.host, kind: "bridge", name: b.Name,
		build: func() (netlink.Link, error) {
			return &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name}}, nil
		},
	})
}

func (s *session) ensureVeth(v Veth) {
	hostEnd := func() netlink.Link { return s.host.links[v.Host] }
	if h := hostEnd(); h != nil && !owned(h) {
		s.fail(fmt.Errorf("veth %s in host netns: a link of that name exists and is not ours (alias %q, not %q); not touching it",
			v.Host, h.Attrs().Alias, OwnerAlias))
		return
	}
	r := s.ensureLink(linkSpec{
		ns: s.router, kind: "veth", name: v.Router,
		build: func() (netlink.Link, error) {
			if h := hostEnd(); h != nil {
				// A stray end of that name (its peer renamed or moved by
				// hand) would block the new pair.
				s.deleteLink(s.host, h)
			}
			return &netlink.Veth{
				LinkAttrs:     netlink.LinkAttrs{Name: v.Router, MTU: v.MTU},
				PeerName:      v.Host,
				PeerNamespace: netlink.NsFd(int(s.host.fd)),
			}, nil
		},
		mismatch: func(l netlink.Link) string {
			h := hostEnd()
			if h == nil {
				return "peer " + v.Host + " missing in host netns"
			}
			if h.Type() != "veth" || l.Attrs().ParentIndex != h.Attrs().Index || h.Attrs().ParentIndex != l.Attrs().Index {
				return "peer is not " + v.Host + " in host netns"
			}
			return ""
		},
	})
	if r == nil {
		return
	}
	h := hostEnd()
	if h == nil || h.Attrs().ParentIndex != r.Attrs().Index {
		var err error
		if h, err = s.host.refresh(v.Host); err != nil {
			s.fail(fmt.Errorf("read back veth %s in host netns: %w", v.Host, err))
			return
		}
	}
	if err := s.mark(s.host, "veth", h); err != nil {
		return
	}
	s.ensureAttrs(s.router, "veth", r, linkAttrs{master: v.RouterMaster, mtu: v.MTU, addrs: v.RouterAddresses, manageAddrs: true})
	s.ensureAttrs(s.host, "veth", h, linkAttrs{master: v.HostMaster, mtu: v.MTU, addrs: v.HostAddresses, manageAddrs: true})
}
