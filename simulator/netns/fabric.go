package netns

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
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

// EVPNRoute is one EVPN path as FRR reports it.
type EVPNRoute struct {
	RD string
	// Prefix is FRR's key, e.g. "[5]:[0]:[24]:[192.168.20.0]" (type 5),
	// "[3]:[0]:[32]:[100.65.0.1]" (type 3: the originating VTEP).
	Prefix  string
	NextHop string
	RTs     []string
	Best    bool
	// PeerID is the BGP peer the path came from ("" for a local one): a
	// reflected route names the reflector, not its originator.
	PeerID string
}

// Type is the route type, the first field of Prefix (2, 3, 5…), or 0.
func (r EVPNRoute) Type() int {
	var t int
	if _, err := fmt.Sscanf(r.Prefix, "[%d]", &t); err != nil {
		return 0
	}
	return t
}

// Originator is the last field of a type-3 route's key: the VTEP that
// announces the VNI's flood list membership ("" for other types).
func (r EVPNRoute) Originator() string {
	if r.Type() != 3 {
		return ""
	}
	i := strings.LastIndex(r.Prefix, "[")
	return strings.TrimSuffix(r.Prefix[i+1:], "]")
}

// HasRTFor says whether the route carries a route target for vni: FRR's
// automatic route targets are ASN:VNI, and every node and leaf of the labs
// uses them.
func (r EVPNRoute) HasRTFor(vni uint32) bool {
	suffix := fmt.Sprintf(":%d", vni)
	for _, rt := range r.RTs {
		if strings.HasSuffix(rt, suffix) {
			return true
		}
	}
	return false
}

// ParseEVPN reads "show bgp l2vpn evpn route [type …] json": every path
// of every route, of any type.
func ParseEVPN(data []byte) ([]EVPNRoute, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("evpn route json: %w", err)
	}
	type path struct {
		Bestpath          bool   `json:"bestpath"`
		PeerID            string `json:"peerId"`
		ExtendedCommunity struct {
			String string `json:"string"`
		} `json:"extendedCommunity"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
	}
	var routes []EVPNRoute
	for rd, raw := range top {
		var prefixes map[string]json.RawMessage
		if json.Unmarshal(raw, &prefixes) != nil {
			continue // scalar fields such as numPrefix
		}
		for key, praw := range prefixes {
			var p struct {
				Paths json.RawMessage `json:"paths"`
			}
			if json.Unmarshal(praw, &p) != nil || len(p.Paths) == 0 {
				continue
			}
			// Some FRR versions nest the paths one level deeper.
			var flat []path
			if json.Unmarshal(p.Paths, &flat) != nil {
				flat = nil // a failed decode leaves partial elements behind
				var nested [][]path
				if err := json.Unmarshal(p.Paths, &nested); err != nil {
					return nil, fmt.Errorf("evpn route json: %s %s: paths: %w", rd, key, err)
				}
				for _, n := range nested {
					flat = append(flat, n...)
				}
			}
			for _, pa := range flat {
				r := EVPNRoute{RD: rd, Prefix: key, Best: pa.Bestpath}
				if pa.PeerID != "(unspec)" { // FRR's word for a local path
					r.PeerID = pa.PeerID
				}
				if len(pa.Nexthops) > 0 {
					r.NextHop = pa.Nexthops[0].IP
				}
				for _, f := range strings.Fields(pa.ExtendedCommunity.String) {
					if rt, ok := strings.CutPrefix(f, "RT:"); ok {
						r.RTs = append(r.RTs, rt)
					}
				}
				routes = append(routes, r)
			}
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		return routes[i].Prefix+routes[i].NextHop+routes[i].RD < routes[j].Prefix+routes[j].NextHop+routes[j].RD
	})
	return routes, nil
}

// Type3VTEPs returns the VTEPs whose type-3 route for vni is among routes
// (every VTEP of the VNI's flood list as the router sees it).
func Type3VTEPs(routes []EVPNRoute, vni uint32) map[string]bool {
	vteps := map[string]bool{}
	for _, r := range routes {
		if r.Type() == 3 && r.HasRTFor(vni) {
			vteps[r.Originator()] = true
		}
	}
	return vteps
}
