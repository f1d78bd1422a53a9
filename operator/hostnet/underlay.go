package hostnet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureUnderlay moves the wanted NICs into the router netns and the NICs
// we moved earlier but no longer want back to the host netns.
//
// Moving a link to another netns makes the kernel drop its addresses and
// routes and set it down (the MTU stays). Into the router netns, a NIC
// takes its addresses and up state along; back in the host netns, it gets
// what the host side had before the move, from the state saved then
// (underlaystate.go): alias, MTU, addresses, up state and routes. Kernel
// IPv6 link-locals are regenerated.
//
// A NIC that carries the node's own connectivity is never moved
// (protect.go). Errors about a NIC are UnderlayErrors.
//
// A deleted router netns hands its NICs back to the host netns the same
// way: down and without addresses, still carrying our alias. The Manager
// remembers the addresses each NIC had in the router netns, and the saved
// state has them too (for a Manager that did not move the NIC), so moving
// it in again restores them; Activate brings it up. A marked NIC in the
// host netns that is no longer wanted gets its host side back in place.
func (s *session) ensureUnderlay(p Plan) {
	want := p.UnderlayInterfaces
	s.dropStaleUnderlayState()
	var back []string
	for name, l := range s.router.links {
		if !strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) {
			continue
		}
		addrs := s.router.managedAddrs(l)
		if slices.Contains(want, name) && len(addrs) == 0 && !s.m.knowsUnderlay(name) {
			// A controller killed between the move and restoring the
			// addresses: they are in the saved state.
			s.forUnderlay(name, func() { addrs = s.restoreRouterAddrs(l) })
		}
		s.m.rememberUnderlay(name, addrs)
		if !slices.Contains(want, name) {
			back = append(back, name)
		}
	}
	slices.Sort(back)
	for _, name := range back {
		s.forUnderlay(name, func() { s.moveBack(s.router.links[name]) })
	}
	facts := &hostFacts{nodeAddrs: p.NodeAddresses}
	for _, name := range want {
		s.forUnderlay(name, func() { s.moveIn(name, facts) })
	}
	var stranded []string
	for name, l := range s.host.links {
		// A NIC moved back above whose restore failed keeps the mark;
		// the next pass tries again, this one reported it already.
		if strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) && !slices.Contains(want, name) && !slices.Contains(back, name) {
			stranded = append(stranded, name)
		}
	}
	slices.Sort(stranded)
	for _, name := range stranded {
		s.forUnderlay(name, func() { s.giveBackInPlace(s.host.links[name]) })
	}
}

// hostFacts is what the protection check reads from the host netns,
// once per pass and only when a NIC is to be moved in.
type hostFacts struct {
	nodeAddrs []netip.Addr
	read      bool
	routes    []netlink.Route
	guard     map[string]string
	err       error
}

func (s *session) hostFacts(f *hostFacts) {
	if f.read {
		return
	}
	f.read = true
	f.err = s.read("read routes of host netns", func() (err error) {
		f.routes, err = s.host.routes()
		return err
	})
	if f.err == nil {
		f.guard = protectedLinks(s.host.byIndex, s.host.addrs, f.routes, f.nodeAddrs)
	}
}

// moveIn moves the wanted NIC name into the router netns, unless it is
// there already or carries the node's own connectivity. What the host
// side has is saved before anything changes.
func (s *session) moveIn(name string, facts *hostFacts) {
	if l, ok := s.router.links[name]; ok {
		if !strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) {
			s.fail(fmt.Errorf("underlay interface %s: a link of that name already exists in the router netns and was not moved by us", name))
		}
		return
	}
	l, ok := s.host.links[name]
	if !ok {
		s.fail(fmt.Errorf("underlay interface %s: not found in the host netns", name))
		return
	}
	s.hostFacts(facts)
	if facts.err != nil {
		s.fail(fmt.Errorf("underlay interface %s: not moved, the node's own routes could not be checked: %w", name, facts.err))
		return
	}
	if reason, ok := facts.guard[name]; ok {
		s.fail(refusal(name, reason))
		return
	}
	orig := l.Attrs().Alias
	var restore []netip.Prefix
	if strings.HasPrefix(orig, UnderlayAliasPrefix) {
		// Marked by an earlier move that did not finish, or handed back
		// by a deleted router netns.
		orig = strings.TrimPrefix(orig, UnderlayAliasPrefix)
		st, saved, err := s.m.loadUnderlayState(name)
		if err != nil {
			s.fail(err)
			return
		}
		if hasAddrs := len(s.host.managedAddrs(l)) > 0; hasAddrs && !saved {
			// Marked by a controller that saved nothing: save now.
			if err := s.m.saveUnderlayState(hostStateOf(s.host, l, orig, facts.routes)); err != nil {
				s.fail(err)
				return
			}
		} else if !hasAddrs {
			restore = s.m.underlayAddrs(name)
			if restore == nil && saved {
				restore = st.Addresses
			}
		}
		for _, p := range restore {
			if slices.Contains(facts.nodeAddrs, p.Addr()) {
				s.fail(refusal(name, fmt.Sprintf("it is to get the node's own address %s (Node status.addresses) back", p.Addr())))
				return
			}
		}
	} else {
		if err := s.m.saveUnderlayState(hostStateOf(s.host, l, orig, facts.routes)); err != nil {
			s.fail(fmt.Errorf("underlay interface %s: not moved: %w", name, err))
			return
		}
		if s.crashed(crashAfterSave, name) {
			return
		}
		if err := s.write("mark underlay interface "+name+" in host netns", func() error {
			return s.host.h.LinkSetAlias(l, UnderlayAliasPrefix+orig)
		}); err != nil {
			s.fail(err)
			return
		}
		if s.crashed(crashAfterMark, name) {
			return
		}
	}
	s.moveUnderlay(s.host, s.router, l, "", restore...)
}

// restoreRouterAddrs gives a NIC in the router netns the addresses of its
// saved state, and returns those it has then.
func (s *session) restoreRouterAddrs(l netlink.Link) []netip.Prefix {
	name := l.Attrs().Name
	st, ok, err := s.m.loadUnderlayState(name)
	if err != nil {
		s.fail(err)
		return nil
	}
	if !ok {
		return nil
	}
	var added []netip.Prefix
	for _, p := range st.Addresses {
		if err := s.write(fmt.Sprintf("restore address %s on underlay interface %s in router netns", p, name), func() error {
			return s.router.h.AddrAdd(l, addrOf(p))
		}); err != nil {
			s.fail(err)
			continue
		}
		s.addedAddr(s.router, name, p)
		added = append(added, p)
	}
	if err := s.refreshAddrs(s.router, name); err != nil {
		s.fail(err)
	}
	return added
}

// moveBack moves an underlay NIC from the router netns back to the host
// netns and gives it what the host side had before the move. Without a
// saved state (a NIC moved by a controller that kept none) it takes the
// addresses and up state it has in the router netns along instead.
func (s *session) moveBack(l netlink.Link) {
	name := l.Attrs().Name
	alias := strings.TrimPrefix(l.Attrs().Alias, UnderlayAliasPrefix)
	st, ok, err := s.m.loadUnderlayState(name)
	if err != nil {
		s.fail(fmt.Errorf("underlay interface %s: left in the router netns: %w", name, err))
		return
	}
	if !ok {
		s.moveUnderlay(s.router, s.host, l, alias)
		s.m.forgetUnderlay(name)
		return
	}
	if _, clash := s.host.links[name]; clash {
		s.fail(fmt.Errorf("underlay interface %s: cannot move it to the host netns, a link of that name exists there", name))
		return
	}
	if err := s.write(fmt.Sprintf("move underlay interface %s from router netns to host netns", name), func() error {
		return s.router.h.LinkSetNsFd(l, int(s.host.fd))
	}); err != nil {
		s.fail(err)
		return
	}
	s.router.forget(name)
	s.m.forgetUnderlay(name)
	moved, err := s.host.refresh(name)
	if err != nil {
		s.fail(fmt.Errorf("underlay interface %s: read it back in host netns: %w", name, err))
		return
	}
	s.record(Moved, s.host.role, moved.Type(), name, "from router netns")
	s.restoreHostSide(moved, st)
}

// giveBackInPlace gives a marked NIC of the host netns that is no longer
// wanted what its host side had: it was handed back by a deleted router
// netns, or a controller was killed between marking and moving it.
func (s *session) giveBackInPlace(l netlink.Link) {
	name := l.Attrs().Name
	st, ok, err := s.m.loadUnderlayState(name)
	if err != nil {
		s.fail(err)
		return
	}
	if !ok {
		// Nothing saved: take the mark off, the rest is unknown.
		st = underlayState{Name: name, Alias: strings.TrimPrefix(l.Attrs().Alias, UnderlayAliasPrefix), MTU: l.Attrs().MTU, Up: l.Attrs().Flags&netUp != 0}
	}
	s.m.forgetUnderlay(name)
	s.restoreHostSide(l, st)
}

// restoreHostSide gives l, in the host netns, the saved state st: MTU,
// addresses, up state, routes, and last the alias, which takes our mark
// off. Only when all of it succeeded is the saved state deleted; until
// then the NIC keeps the mark, and the next pass tries again in place.
func (s *session) restoreHostSide(l netlink.Link, st underlayState) {
	name := l.Attrs().Name
	n := len(s.errs)
	if l.Attrs().MTU != st.MTU && st.MTU > 0 {
		if err := s.write(fmt.Sprintf("restore mtu %d of underlay interface %s in host netns", st.MTU, name), func() error {
			return s.host.h.LinkSetMTU(l, st.MTU)
		}); err != nil {
			s.fail(err)
		}
	}
	have := s.host.managedAddrs(l)
	for _, p := range st.Addresses {
		if slices.Contains(have, p) {
			continue
		}
		if err := s.write(fmt.Sprintf("restore address %s on underlay interface %s in host netns", p, name), func() error {
			return s.host.h.AddrAdd(l, addrOf(p))
		}); err != nil {
			s.fail(err)
			continue
		}
		s.addedAddr(s.host, name, p)
	}
	if st.Up && l.Attrs().Flags&netUp == 0 {
		if err := s.write(fmt.Sprintf("set underlay interface %s up in host netns", name), func() error {
			return s.host.h.LinkSetUp(l)
		}); err != nil {
			s.fail(err)
		}
	}
	for _, sr := range st.Routes {
		r, err := sr.route(name, l.Attrs().Index, s.host)
		if err == nil {
			err = s.write(fmt.Sprintf("restore route %s on underlay interface %s in host netns", sr, name), func() error {
				err := s.host.h.RouteAdd(r)
				if errors.Is(err, unix.EEXIST) {
					return nil // there already: a pass interrupted after it
				}
				return err
			})
		} else {
			err = fmt.Errorf("restore route %s on underlay interface %s in host netns: %w", sr, name, err)
		}
		if err != nil {
			s.fail(err)
		}
	}
	if len(s.errs) == n && l.Attrs().Alias != st.Alias {
		if err := s.write("restore alias of underlay interface "+name+" in host netns", func() error {
			return s.host.h.LinkSetAlias(l, st.Alias)
		}); err != nil {
			s.fail(err)
		}
	}
	if len(s.errs) == n {
		if err := s.m.dropUnderlayState(name); err != nil {
			s.fail(err)
		}
	}
	if _, err := s.host.refresh(name); err != nil {
		s.fail(fmt.Errorf("underlay interface %s: read it back in host netns: %w", name, err))
	}
	if err := s.refreshAddrs(s.host, name); err != nil {
		s.fail(err)
	}
}

// dropStaleUnderlayState deletes the saved state of NICs that are in the
// host netns without our mark: their move never started (a controller
// killed between saving and marking) or was fully undone.
func (s *session) dropStaleUnderlayState() {
	names, err := s.m.savedUnderlayNames()
	if err != nil {
		s.fail(err)
		return
	}
	for _, name := range names {
		if l, ok := s.host.links[name]; ok && !strings.HasPrefix(l.Attrs().Alias, UnderlayAliasPrefix) {
			if err := s.m.dropUnderlayState(name); err != nil {
				s.fail(err)
			}
		}
	}
}

// refreshAddrs re-reads the addresses of the link name of ns.
func (s *session) refreshAddrs(ns *nsState, name string) error {
	l, ok := ns.links[name]
	if !ok {
		return nil
	}
	var list []netlink.Addr
	if err := s.read("read addresses of "+name+" in "+ns.role+" netns", func() (err error) {
		list, err = ns.h.AddrList(l, netlink.FAMILY_ALL)
		return err
	}); err != nil {
		return err
	}
	ns.addrs[l.Attrs().Index] = list
	return nil
}

// Points at which a test makes the Manager stop handling a NIC, as if
// the controller was killed there.
const (
	crashAfterSave = "after the state was saved"
	crashAfterMark = "after the mark"
	crashAfterMove = "after the move"
)

// crashed reports whether a test asked to stop handling nic at this
// point; the pass then fails.
func (s *session) crashed(at, nic string) bool {
	if s.m.crash == nil || !s.m.crash(at, nic) {
		return false
	}
	s.fail(fmt.Errorf("underlay interface %s: simulated crash %s", nic, at))
	return true
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

// knowsUnderlay reports whether the Manager saw NIC name in the router
// netns before.
func (m *Manager) knowsUnderlay(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.underlay[name]
	return ok
}

// forgetUnderlay drops what the Manager remembers of a NIC moved back.
func (m *Manager) forgetUnderlay(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.underlay, name)
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
	if s.crashed(crashAfterMove, name) {
		return
	}
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
