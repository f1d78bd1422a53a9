package hostnet

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The node's own NIC.
//
// An Underlay without a nodeSelector applies to every node at once, and
// nothing in its spec says which NIC of a node is the one the node
// reaches the API server through. Moving that NIC into the router netns
// cuts the node off: the controller can then neither report nor undo
// it. So before moving anything the Manager looks at the host netns and
// refuses to move a NIC that
//
//   - is the device of the host netns's default route in the main table
//     (IPv4 or IPv6; of several default routes, those with the lowest
//     metric, the ones the kernel uses: a backup default route with a
//     higher metric does not protect its NIC, and it is saved and
//     restored with the NIC, see underlaystate.go), or
//   - holds one of the node's own addresses (Plan.NodeAddresses: the
//     Node's InternalIP and ExternalIP, which the kubelet reports and
//     other nodes and the API server use to reach this one).
//
// The refusal is per NIC: the other NICs of the plan are still moved,
// and nothing of the refused one changes (no state file, no mark).
// The controller also publishes the protected NICs in its
// RouterNodeStatus (ProtectedInterfaces), so that the webhook can refuse
// such an Underlay before it reaches any node; this check is the safety
// net for the nodes that have not reported yet.

// ProtectedInterface is a NIC of the host netns that carries the node's
// own connectivity and is never moved.
type ProtectedInterface struct {
	Name string
	// Reason says what it carries, e.g. "it carries the host's IPv4
	// default route (via 10.0.0.1, metric 100)".
	Reason string
}

// ProtectedInterfaces lists the NICs of the host netns Prepare refuses
// to move, sorted by name, given the node's own addresses.
func (m *Manager) ProtectedInterfaces(ctx context.Context, nodeAddrs []netip.Addr) ([]ProtectedInterface, error) {
	ns, err := openState("host", m.opts.HostNetns)
	if err != nil {
		return nil, err
	}
	defer ns.close()
	var routes []netlink.Route
	err = retry(ctx, func() error {
		if err := ns.load(); err != nil {
			return err
		}
		routes, err = ns.routes()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read links, addresses and routes of host netns: %w", err)
	}
	guard := protectedLinks(ns.byIndex, ns.addrs, routes, nodeAddresses(nodeAddrs))
	out := make([]ProtectedInterface, 0, len(guard))
	for name, reason := range guard {
		out = append(out, ProtectedInterface{Name: name, Reason: reason})
	}
	slices.SortFunc(out, func(a, b ProtectedInterface) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// routes dumps the routes of both families in every table.
func (ns *nsState) routes() ([]netlink.Route, error) {
	return ns.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
}

// protectedLinks names the links among byIndex that carry the node's own
// connectivity, with the reason: the devices of the default routes the
// kernel uses, and those holding one of nodeAddrs.
func protectedLinks(byIndex map[int]netlink.Link, addrs map[int][]netlink.Addr, routes []netlink.Route, nodeAddrs []netip.Addr) map[string]string {
	out := map[string]string{}
	name := func(idx int) string {
		if l, ok := byIndex[idx]; ok && idx != 0 {
			return l.Attrs().Name
		}
		return ""
	}
	for _, v4 := range []bool{true, false} {
		family := "IPv6"
		if v4 {
			family = "IPv4"
		}
		primary := -1
		for _, r := range routes {
			if isMainDefault(r, v4) && (primary < 0 || r.Priority < primary) {
				primary = r.Priority
			}
		}
		for _, r := range routes {
			if !isMainDefault(r, v4) || r.Priority != primary {
				continue
			}
			hops := []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw}}
			if len(r.MultiPath) > 0 {
				hops = r.MultiPath
			}
			for _, h := range hops {
				n := name(h.LinkIndex)
				if n == "" || out[n] != "" {
					continue
				}
				via := ""
				if h.Gw != nil {
					via = "via " + h.Gw.String() + ", "
				}
				out[n] = fmt.Sprintf("it carries the host's %s default route (%smetric %d)", family, via, r.Priority)
			}
		}
	}
	for idx, list := range addrs {
		n := name(idx)
		if n == "" || out[n] != "" {
			continue
		}
		for _, a := range list {
			p := prefixOf(a)
			if slices.Contains(nodeAddrs, p.Addr().Unmap()) {
				out[n] = fmt.Sprintf("it holds the node's own address %s (Node status.addresses)", p.Addr())
				break
			}
		}
	}
	return out
}

// isMainDefault reports whether r is a unicast default route of the
// family in the main table.
func isMainDefault(r netlink.Route, v4 bool) bool {
	if r.Table != unix.RT_TABLE_MAIN || r.Type != unix.RTN_UNICAST {
		return false
	}
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			return false
		}
		return (r.Dst.IP.To4() != nil) == v4
	}
	return (r.Family == netlink.FAMILY_V4) == v4
}

// refusal is the error of a protected NIC, naming the field that asked
// for the move.
func refusal(name, reason string) error {
	return fmt.Errorf("underlay interface %s (Underlay spec.interfaces): not moved into the router netns: %s, and moving it would cut the node off from the API server; name a NIC dedicated to the fabric", name, reason)
}
