package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/perouter/perouter/simulator/topology"
)

// VRFLabel on a host node names the VRF (L3VNI) the host sits in; the
// simulator and the e2e suites use it to know which hosts must reach each
// other and which must not.
const VRFLabel = "perouter.io/vrf"

// L2VNILabel on a host node names the VNI of the bridged segment (L2VNI)
// the host sits on, with no VRF: the L2 lab's hosts (topologies/l2).
const L2VNILabel = "perouter.io/l2vni"

// Host is a host node with the VRF (or L2 segment) it belongs to and its
// address.
type Host struct {
	Node string
	VRF  string
	// L2VNI is the segment of a host labelled L2VNILabel ("" for VRF hosts).
	L2VNI   string
	Address netip.Addr
	// Leaf is the router the host hangs off.
	Leaf string
}

// Hosts lists the hosts carrying VRFLabel, with the IPv4 address read from
// their namespace.
func (l *Lab) Hosts(ctx context.Context) ([]Host, error) {
	return l.hostsLabelled(ctx, VRFLabel)
}

// L2Hosts lists the hosts carrying L2VNILabel, with the IPv4 address read
// from their namespace.
func (l *Lab) L2Hosts(ctx context.Context) ([]Host, error) {
	return l.hostsLabelled(ctx, L2VNILabel)
}

func (l *Lab) hostsLabelled(ctx context.Context, label string) ([]Host, error) {
	var out []Host
	for _, n := range l.Topo.NodesWithRole(topology.RoleHost) {
		value := n.Labels[label]
		if value == "" {
			continue
		}
		links := l.Topo.LinksOf(n.Name)
		if len(links) == 0 {
			return nil, fmt.Errorf("host %s has no link", n.Name)
		}
		local, peer := links[0].A, links[0].B
		if local.Node != n.Name {
			local, peer = peer, local
		}
		addr, err := l.InterfaceAddr(ctx, l.Namespace(n.Name), local.Interface)
		if err != nil {
			return nil, err
		}
		h := Host{Node: n.Name, Address: addr, Leaf: peer.Node}
		if label == VRFLabel {
			h.VRF = value
		} else {
			h.L2VNI = value
		}
		out = append(out, h)
	}
	return out, nil
}

// InterfaceAddr returns the first global IPv4 address of a device.
func (l *Lab) InterfaceAddr(ctx context.Context, ns, dev string) (netip.Addr, error) {
	out, err := l.ExecIn(ctx, ns, "ip", "-4", "-o", "addr", "show", "dev", dev, "scope", "global")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netns %s: ip addr show %s: %w: %s", ns, dev, err, out)
	}
	fields := strings.Fields(out)
	for i, f := range fields {
		if f == "inet" && i+1 < len(fields) {
			p, err := netip.ParsePrefix(fields[i+1])
			if err != nil {
				return netip.Addr{}, err
			}
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("netns %s: %s has no IPv4 address", ns, dev)
}

// advertiseAllVNI is how a router becomes a VTEP: FRR advertises every VNI
// zebra finds in the kernel (L3VNIs of VRFs, L2VNIs of bridges). Routers
// that only pass EVPN routes on (spines, node-facing leaves) lack it.
var advertiseAllVNI = regexp.MustCompile(`(?m)^\s*advertise-all-vni\s*$`)

// EVPNLeaves are the routers that terminate VNIs (their FRR config has
// advertise-all-vni): the fabric leaves.
func (l *Lab) EVPNLeaves() []string {
	var out []string
	for _, n := range l.Topo.NodesWithRole(topology.RoleRouter) {
		b, _ := n.Bind(topology.FRRConfigPath)
		data, err := os.ReadFile(b.Host)
		if err == nil && advertiseAllVNI.Match(data) {
			out = append(out, n.Name)
		}
	}
	return out
}
