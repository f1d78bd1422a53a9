package hostnet

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// IfAddr is an address on a named link.
type IfAddr struct {
	Interface string
	Prefix    netip.Prefix
}

func (a IfAddr) String() string { return a.Prefix.String() + " on " + a.Interface }

// CompareIfAddr orders by interface, then prefix.
func CompareIfAddr(a, b IfAddr) int {
	return cmp.Or(cmp.Compare(a.Interface, b.Interface), comparePrefix(a.Prefix, b.Prefix))
}

// RouterAddresses lists the addresses FRR routes with in the router netns:
// every address of every link except link-local and loopback ones (zebra
// does not list 127.0.0.1 or ::1 either), sorted by CompareIfAddr.
func (m *Manager) RouterAddresses(ctx context.Context) ([]IfAddr, error) {
	ns, err := openState("router", netnsPath(m.opts.RouterNetns))
	if err != nil {
		return nil, err
	}
	defer ns.close()
	links, err := ns.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links of router netns: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := ns.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of router netns: %w", err)
	}
	var out []IfAddr
	for _, a := range addrs {
		p := prefixOf(a)
		name, ok := names[a.LinkIndex]
		if !ok || !managedAddr(p) || p.Addr().IsLoopback() {
			continue
		}
		out = append(out, IfAddr{Interface: name, Prefix: p})
	}
	slices.SortFunc(out, CompareIfAddr)
	return out, nil
}

// Reannounce makes the kernel notify its listeners of addrs again, without
// removing them: each is replaced by itself (same flags, scope and
// lifetimes), which sends an RTM_NEWADDR like the original add did.
//
// Why: FRR 8.4's zebra reads address events on its dataplane thread and
// link events on its main thread; an address added right after its link
// was created or moved in can be processed first, for a link zebra does
// not know yet, and is then dropped for good (FRRouting/frr#13288). The
// controller checks zebra's view and calls this for what it missed.
// Addresses no longer in the kernel are skipped.
func (m *Manager) Reannounce(ctx context.Context, addrs []IfAddr) error {
	return m.reannounce(ctx, "router", netnsPath(m.opts.RouterNetns), addrs)
}

func (m *Manager) reannounce(ctx context.Context, role, nameOrPath string, addrs []IfAddr) error {
	if len(addrs) == 0 {
		return nil
	}
	ns, err := openState(role, nameOrPath)
	if err != nil {
		return err
	}
	defer ns.close()
	s := &session{ctx: ctx, m: m}
	var current []netlink.Addr
	if err := s.read("list addresses of "+role+" netns", func() (err error) {
		current, err = ns.h.AddrList(nil, netlink.FAMILY_ALL)
		return err
	}); err != nil {
		return err
	}
	for _, want := range addrs {
		l, err := ns.h.LinkByName(want.Interface)
		if err != nil {
			continue // gone since it was listed
		}
		i := slices.IndexFunc(current, func(a netlink.Addr) bool {
			return a.LinkIndex == l.Attrs().Index && prefixOf(a) == want.Prefix
		})
		if i < 0 {
			continue
		}
		a := current[i]
		if err := s.write("announce address "+want.String()+" in "+role+" netns again", func() error {
			return ns.h.AddrReplace(l, &a)
		}); err != nil {
			s.fail(err)
		}
	}
	_, err = s.result()
	return err
}

// addedAddr notes an address the session added; those in the host netns
// are announced once more by ReannounceHostAdded.
func (s *session) addedAddr(ns *nsState, name string, p netip.Prefix) {
	if ns.role != "host" {
		return
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.hostAdded = append(s.m.hostAdded, IfAddr{Interface: name, Prefix: p})
}

// ReannounceHostAdded announces once more every address added in the host
// netns since its last call, and returns them. The host's own routing
// daemons (frr-k8s, MetalLB's FRR) may run FRR 8.4 too and drop an
// address event of a link perouter just created, as zebra does in the
// router netns (see Reannounce); their view cannot be checked from here,
// so the controller calls this a moment after a change, once, by then
// well after the links' own events.
func (m *Manager) ReannounceHostAdded(ctx context.Context) ([]IfAddr, error) {
	m.mu.Lock()
	added := m.hostAdded
	m.hostAdded = nil
	m.mu.Unlock()
	if len(added) == 0 {
		return nil, nil
	}
	slices.SortFunc(added, CompareIfAddr)
	added = slices.Compact(added)
	return added, m.reannounce(ctx, "host", m.opts.HostNetns, added)
}
