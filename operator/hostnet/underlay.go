package hostnet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// ensureUnderlay moves the wanted NICs into the router netns and the NICs
// we moved earlier but no longer want back to the host netns.
//
// Moving a link to another netns makes the kernel drop its addresses and
// set it down (the MTU stays), so both directions carry the addresses and
// the up state over by hand. Kernel IPv6 link-locals are regenerated.
//
// A deleted router netns hands its NICs back to the host netns the same
// way: down and without addresses, still carrying our alias. The Manager
// remembers the addresses each NIC had in the router netns, so moving it
// in again restores them; Activate brings it up.
func (s *session) ensureUnderlay(want []string) {
	var back []string
	for name, l := range s.router.links {
		if !strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) {
			continue
		}
		s.m.rememberUnderlay(name, s.router.managedAddrs(l))
		if !slices.Contains(want, name) {
			back = append(back, name)
		}
	}
	slices.Sort(back)
	for _, name := range back {
		s.moveUnderlay(s.router, s.host, s.router.links[name], strings.TrimPrefix(s.router.links[name].Attrs().Alias, UnderlayAliasPrefix))
	}
	for _, name := range want {
		if l, ok := s.router.links[name]; ok {
			if !strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) {
				s.fail(fmt.Errorf("underlay interface %s: a link of that name already exists in the router netns and was not moved by us", name))
			}
			continue
		}
		l, ok := s.host.links[name]
		if !ok {
			s.fail(fmt.Errorf("underlay interface %s: not found in the host netns", name))
			continue
		}
		orig := l.Attrs().Alias
		var restore []netip.Prefix
		if strings.HasPrefix(orig, UnderlayAliasPrefix) {
			// Marked by an earlier move that did not finish, or handed
			// back by a deleted router netns.
			orig = strings.TrimPrefix(orig, UnderlayAliasPrefix)
			if len(s.host.managedAddrs(l)) == 0 {
				restore = s.m.underlayAddrs(name)
			}
		} else if err := s.write("mark underlay interface "+name+" in host netns", func() error {
			return s.host.h.LinkSetAlias(l, UnderlayAliasPrefix+orig)
		}); err != nil {
			s.fail(err)
			continue
		}
		s.moveUnderlay(s.host, s.router, l, "", restore...)
	}
}

// managedAddrs lists the addresses of l that moves carry over, sorted.
func (ns *nsState) managedAddrs(l netlink.Link) []netip.Prefix {
	var addrs []netip.Prefix
	for _, a := range ns.addrs[l.Attrs().Index] {
		if p := prefixOf(a); managedAddr(p) {
			addrs = append(addrs, p)
		}
	}
	slices.SortFunc(addrs, comparePrefix)
	return addrs
}

func (m *Manager) rememberUnderlay(name string, addrs []netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.underlay == nil {
		m.underlay = map[string][]netip.Prefix{}
	}
	m.underlay[name] = addrs
}

func (m *Manager) underlayAddrs(name string) []netip.Prefix {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.underlay[name]
}

// moveUnderlay moves l from one netns to the other with its addresses and
// up state; alias, when moving back, is restored as the link's alias.
// restore, when given, are addresses the link lost on an earlier move.
func (s *session) moveUnderlay(from, to *nsState, l netlink.Link, alias string, restore ...netip.Prefix) {
	name := l.Attrs().Name
	if _, clash := to.links[name]; clash {
		s.fail(fmt.Errorf("underlay interface %s: cannot move it to the %s netns, a link of that name exists there", name, to.role))
		return
	}
	addrs := append(from.managedAddrs(l), restore...)
	if to == s.router {
		s.m.rememberUnderlay(name, addrs)
	}
	up := l.Attrs().Flags&netUp != 0
	if err := s.write(fmt.Sprintf("move underlay interface %s from %s netns to %s netns", name, from.role, to.role), func() error {
		return from.h.LinkSetNsFd(l, int(to.fd))
	}); err != nil {
		s.fail(err)
		return
	}
	from.forget(name)
	moved, err := to.refresh(name)
	if err != nil {
		s.fail(fmt.Errorf("underlay interface %s: read it back in %s netns: %w", name, to.role, err))
		return
	}
	s.record(Moved, to.role, moved.Type(), name, fmt.Sprintf("from %s netns", from.role))
	if to == s.host {
		if err := s.write("restore alias of underlay interface "+name+" in host netns", func() error {
			return to.h.LinkSetAlias(moved, alias)
		}); err != nil {
			s.fail(err)
		}
	}
	for _, p := range addrs {
		if err := s.write(fmt.Sprintf("restore address %s on underlay interface %s in %s netns", p, name, to.role), func() error {
			return to.h.AddrAdd(moved, addrOf(p))
		}); err != nil {
			s.fail(err)
		} else {
			s.addedAddr(to, name, p)
		}
	}
	if up {
		if err := s.write(fmt.Sprintf("set underlay interface %s up in %s netns", name, to.role), func() error {
			return to.h.LinkSetUp(moved)
		}); err != nil {
			s.fail(err)
		}
	}
	if _, err := to.refresh(name); err != nil {
		s.fail(fmt.Errorf("underlay interface %s: read it back in %s netns: %w", name, to.role, err))
	}
	addrList, err := to.h.AddrList(moved, netlink.FAMILY_ALL)
	if err == nil {
		to.addrs[moved.Attrs().Index] = addrList
	}
}
