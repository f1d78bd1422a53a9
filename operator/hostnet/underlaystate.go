package hostnet

import (
	"encoding/json"
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
)

// The host side of an underlay NIC, kept on the node.
//
// Moving a link to another netns makes the kernel drop its addresses
// and every route through it, and set it down. Before an underlay NIC
// is moved into the router netns, what the host side had (alias, MTU,
// up state, addresses, routes through it, a backup default route
// included) is written to Options.StateDir, one file per NIC; the move
// back restores all of it, and deletes the file once everything was
// restored. The file is written before the NIC is marked or moved, so a
// controller killed at any point of the move finds it after the
// restart:
//
//   - killed after the write, before the mark: the NIC is in the host
//     netns unmarked and untouched; the file is stale and is deleted
//     (or written again by the next move);
//   - killed after the mark, before the move: the NIC is in the host
//     netns marked, with its addresses; the next pass moves it, or, if it
//     is no longer wanted, restores it in place from the file;
//   - killed after the move, before the addresses were restored: the NIC
//     is in the router netns without addresses; the next pass restores
//     them from the file, or moves it back with everything the file
//     holds.
//
// Without a StateDir the state is kept in memory only (tests, tools).

// underlayStateVersion is written in every file; a file of another
// version is refused, never guessed at.
const underlayStateVersion = 1

// underlayState is what the host side of one underlay NIC had before
// the move.
type underlayState struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	// Alias is the NIC's own alias, before our mark.
	Alias string `json:"alias,omitempty"`
	MTU   int    `json:"mtu"`
	Up    bool   `json:"up"`
	// Addresses are the NIC's addresses but the IPv6 link-locals (the
	// kernel makes those again).
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// Routes are the routes through the NIC, in every table but the
	// local one, but those the kernel made for an address (proto kernel)
	// or from a router advertisement (proto ra: they come back with the
	// next advertisement, and a static copy would never expire).
	Routes []savedRoute `json:"routes,omitempty"`
}

// savedRoute is one route of underlayState.
type savedRoute struct {
	Dst      netip.Prefix `json:"dst"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	Src      netip.Addr   `json:"src,omitzero"`
	Table    int          `json:"table"`
	Metric   int          `json:"metric,omitempty"`
	Protocol int          `json:"protocol,omitempty"`
	Scope    int          `json:"scope,omitempty"`
	OnLink   bool         `json:"onLink,omitempty"`
	// Nexthops are a multipath route's; each names its device, which
	// may be another NIC of the host netns.
	Nexthops []savedNexthop `json:"nexthops,omitempty"`
}

type savedNexthop struct {
	Device  string     `json:"device"`
	Gateway netip.Addr `json:"gateway,omitzero"`
	// Weight is the kernel's hop count plus one (ip route's weight).
	Weight int  `json:"weight,omitempty"`
	OnLink bool `json:"onLink,omitempty"`
}

func (r savedRoute) String() string {
	s := r.Dst.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	return fmt.Sprintf("%s table %d metric %d", s, r.Table, r.Metric)
}

// hostStateOf reads what the host side has of l: its attributes and
// addresses from ns, its routes from routes (a dump of ns).
func hostStateOf(ns *nsState, l netlink.Link, alias string, routes []netlink.Route) underlayState {
	a := l.Attrs()
	st := underlayState{
		Version:   underlayStateVersion,
		Name:      a.Name,
		Alias:     alias,
		MTU:       a.MTU,
		Up:        a.Flags&netUp != 0,
		Addresses: ns.managedAddrs(l),
	}
	for _, r := range routes {
		if sr, ok := saveRoute(r, a.Index, ns.byIndex); ok {
			st.Routes = append(st.Routes, sr)
		}
	}
	return st
}

// saveRoute returns r as saved with the NIC of index idx, and whether it
// is one of the routes underlayState keeps.
func saveRoute(r netlink.Route, idx int, byIndex map[int]netlink.Link) (savedRoute, bool) {
	if r.Table == unix.RT_TABLE_LOCAL || r.Type != unix.RTN_UNICAST ||
		r.Protocol == unix.RTPROT_KERNEL || r.Protocol == unix.RTPROT_RA {
		return savedRoute{}, false
	}
	via := r.LinkIndex == idx
	for _, h := range r.MultiPath {
		via = via || h.LinkIndex == idx
	}
	if !via || r.Dst == nil {
		return savedRoute{}, false
	}
	dst, ok := netipPrefix(r.Dst)
	if !ok {
		return savedRoute{}, false
	}
	sr := savedRoute{
		Dst: dst, Gateway: netipAddr(r.Gw), Src: netipAddr(r.Src),
		Table: r.Table, Metric: r.Priority, Protocol: int(r.Protocol), Scope: int(r.Scope),
		OnLink: r.Flags&unix.RTNH_F_ONLINK != 0,
	}
	for _, h := range r.MultiPath {
		dev := ""
		if l, ok := byIndex[h.LinkIndex]; ok {
			dev = l.Attrs().Name
		}
		sr.Nexthops = append(sr.Nexthops, savedNexthop{Device: dev, Gateway: netipAddr(h.Gw), Weight: h.Hops + 1, OnLink: h.Flags&unix.RTNH_F_ONLINK != 0})
	}
	return sr, true
}

// route returns the netlink route that restores r, through the NIC of
// index idx and, for other nexthops, the links of ns.
func (r savedRoute) route(name string, idx int, ns *nsState) (*netlink.Route, error) {
	out := &netlink.Route{
		Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Gw:  ipOf(r.Gateway), Src: ipOf(r.Src),
		Table: r.Table, Priority: r.Metric, Protocol: netlink.RouteProtocol(r.Protocol), Scope: netlink.Scope(r.Scope),
	}
	if r.OnLink {
		out.Flags |= unix.RTNH_F_ONLINK
	}
	if len(r.Nexthops) == 0 {
		out.LinkIndex = idx
		return out, nil
	}
	for _, h := range r.Nexthops {
		hop := &netlink.NexthopInfo{Gw: ipOf(h.Gateway), Hops: max(h.Weight-1, 0)}
		if h.OnLink {
			hop.Flags |= unix.RTNH_F_ONLINK
		}
		if h.Device == name {
			hop.LinkIndex = idx
		} else if l, ok := ns.links[h.Device]; ok {
			hop.LinkIndex = l.Attrs().Index
		} else {
			return nil, fmt.Errorf("its nexthop device %q is not in the %s netns", h.Device, ns.role)
		}
		out.MultiPath = append(out.MultiPath, hop)
	}
	return out, nil
}

func netipAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a := netipAddr(n.IP)
	ones, _ := n.Mask.Size()
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func ipOf(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return net.IP(a.AsSlice())
}

// statePath is the file of NIC name in the state directory.
func (m *Manager) statePath(name string) string {
	return filepath.Join(m.opts.StateDir, name+".json")
}

// saveUnderlayState records st, on disk when there is a StateDir:
// written to a temporary file, synced, then renamed over the old one
// (and the directory synced), so a crash leaves the old file or the new
// one, never a torn one.
func (m *Manager) saveUnderlayState(st underlayState) error {
	st.Version = underlayStateVersion
	if m.opts.StateDir != "" {
		if err := writeFileAtomic(m.opts.StateDir, st.Name+".json", st); err != nil {
			return fmt.Errorf("save the host-side state of underlay interface %s in %s: %w", st.Name, m.opts.StateDir, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hostState == nil {
		m.hostState = map[string]underlayState{}
	}
	m.hostState[st.Name] = st
	return nil
}

func writeFileAtomic(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadUnderlayState returns the saved host-side state of NIC name, from
// memory or from the StateDir (a Manager that did not move the NIC).
func (m *Manager) loadUnderlayState(name string) (underlayState, bool, error) {
	m.mu.Lock()
	st, ok := m.hostState[name]
	m.mu.Unlock()
	if ok || m.opts.StateDir == "" {
		return st, ok, nil
	}
	path := m.statePath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return underlayState{}, false, nil
	}
	if err != nil {
		return underlayState{}, false, fmt.Errorf("read the host-side state of underlay interface %s: %w", name, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return underlayState{}, false, fmt.Errorf("read the host-side state of underlay interface %s: %s: %w (move the file away to give the NIC back without it)", name, path, err)
	}
	if st.Version != underlayStateVersion || st.Name != name {
		return underlayState{}, false, fmt.Errorf("read the host-side state of underlay interface %s: %s: version %d for %q, this controller reads version %d files only (move the file away to give the NIC back without it)",
			name, path, st.Version, st.Name, underlayStateVersion)
	}
	return st, true, nil
}

// dropUnderlayState forgets the saved state of NIC name: it was given
// back, or it is stale.
func (m *Manager) dropUnderlayState(name string) error {
	m.mu.Lock()
	delete(m.hostState, name)
	m.mu.Unlock()
	if m.opts.StateDir == "" {
		return nil
	}
	if err := os.Remove(m.statePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete the host-side state of underlay interface %s: %w", name, err)
	}
	return nil
}

// savedUnderlayNames lists the NICs with a state file.
func (m *Manager) savedUnderlayNames() ([]string, error) {
	if m.opts.StateDir == "" {
		m.mu.Lock()
		defer m.mu.Unlock()
		var out []string
		for name := range m.hostState {
			out = append(out, name)
		}
		slices.Sort(out)
		return out, nil
	}
	entries, err := os.ReadDir(m.opts.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the underlay state directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
			out = append(out, name)
		}
	}
	return out, nil
}
