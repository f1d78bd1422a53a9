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

// Host is a host node with the VRF it belongs to and its address.
type Host struct {
	Node    string
	VRF     string
	Address netip.Addr
	// Leaf is the router the host hangs off.
	Leaf string
}

// Hosts lists the hosts carrying VRFLabel, with the IPv4 address read from
// their namespace.
func (l *Lab) Hosts(ctx context.Context) ([]Host, error) {
	var out []Host
	for _, n := range l.Topo.NodesWithRole(topology.RoleHost) {
		vrf := n.Labels[VRFLabel]
		if vrf == "" {
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
		out = append(out, Host{Node: n.Name, VRF: vrf, Address: addr, Leaf: peer.Node})
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

var vniStanza = regexp.MustCompile(`(?m)^\s*vni\s+\d+`)

// EVPNLeaves are the routers that terminate L3VNIs (their FRR config maps
// a VRF to a VNI): the fabric leaves.
func (l *Lab) EVPNLeaves() []string {
	var out []string
	for _, n := range l.Topo.NodesWithRole(topology.RoleRouter) {
		b, _ := n.Bind(topology.FRRConfigPath)
		data, err := os.ReadFile(b.Host)
		if err == nil && vniStanza.Match(data) {
			out = append(out, n.Name)
		}
	}
	return out
}

// Type5 is one EVPN type-5 path as FRR reports it.
type Type5 struct {
	RD string
	// Prefix is FRR's key, e.g. "[5]:[0]:[24]:[192.168.20.0]".
	Prefix  string
	NextHop string
	RTs     []string
	Best    bool
}

// ParseType5 reads "show bgp l2vpn evpn route type prefix json".
func ParseType5(data []byte) ([]Type5, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("evpn route json: %w", err)
	}
	type path struct {
		Bestpath          bool `json:"bestpath"`
		ExtendedCommunity struct {
			String string `json:"string"`
		} `json:"extendedCommunity"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
	}
	var routes []Type5
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
				r := Type5{RD: rd, Prefix: key, Best: pa.Bestpath}
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
