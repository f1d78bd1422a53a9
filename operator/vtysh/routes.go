package vtysh

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// This file decodes FRR's BGP route tables ("show bgp … json"): the one
// decoder the simulator, the e2e suites and the real-FRR tests share, so
// that an FRR version that changes a field is fixed in one place.

// BGPPath is one path of a BGP route as FRR reports it, in any address
// family.
type BGPPath struct {
	Valid bool
	Best  bool
	// Stale is set while the path's peer is in graceful restart: the path
	// is kept, and still used, until the peer is back or the stale timer
	// ends.
	Stale bool
	// PeerID is the BGP peer the path came from ("" for a local one): a
	// reflected route names the reflector, not its originator.
	PeerID string
	// ASPath is the AS path as FRR prints it ("" for a local route).
	ASPath string
	// OriginatorID and ClusterList are set on a reflected path (RFC 4456).
	OriginatorID string
	ClusterList  []string
	// NextHop is the path's (first) next hop: for an IPv6 path with a
	// link-local next hop too, the global one.
	NextHop string
	// RTs are the route targets among the extended communities, e.g.
	// "64514:110".
	RTs []string
}

// jsonPath is FRR's JSON of one path, as a route table (summary) or a
// single prefix (detail) prints it: some fields differ. "bestpath" is a
// bool in a table and {"overall": true} for a prefix.
type jsonPath struct {
	Valid    bool            `json:"valid"`
	Bestpath json.RawMessage `json:"bestpath"`
	Stale    bool            `json:"stale"`
	PeerID   string          `json:"peerId"`
	Peer     struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
	// A route table prints the AS path as "path", a single prefix as
	// "aspath": {"string"}.
	Path   string `json:"path"`
	ASPath struct {
		String string `json:"string"`
	} `json:"aspath"`
	OriginatorID string `json:"originatorId"`
	ClusterList  struct {
		List []string `json:"list"`
	} `json:"clusterList"`
	ExtendedCommunity struct {
		String string `json:"string"`
	} `json:"extendedCommunity"`
	Nexthops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
}

func (j jsonPath) path() BGPPath {
	p := BGPPath{
		Valid:        j.Valid,
		Stale:        j.Stale,
		ASPath:       j.ASPath.String,
		OriginatorID: j.OriginatorID,
		ClusterList:  j.ClusterList.List,
	}
	var best struct {
		Overall bool `json:"overall"`
	}
	if json.Unmarshal(j.Bestpath, &p.Best) != nil && json.Unmarshal(j.Bestpath, &best) == nil {
		p.Best = best.Overall
	}
	if p.ASPath == "" {
		p.ASPath = j.Path
	}
	p.PeerID = j.PeerID
	if p.PeerID == "" {
		p.PeerID = j.Peer.PeerID
	}
	if p.PeerID == "(unspec)" { // FRR's word for a local path
		p.PeerID = ""
	}
	if len(j.Nexthops) > 0 {
		p.NextHop = j.Nexthops[0].IP
	}
	for _, f := range strings.Fields(j.ExtendedCommunity.String) {
		if rt, ok := strings.CutPrefix(f, "RT:"); ok {
			p.RTs = append(p.RTs, rt)
		}
	}
	return p
}

// decodePaths reads a "paths" value: a list of paths, or (EVPN tables of
// some FRR versions) a list of lists of paths.
func decodePaths(raw json.RawMessage) ([]BGPPath, error) {
	var flat []jsonPath
	if err := json.Unmarshal(raw, &flat); err != nil {
		var nested [][]jsonPath
		if err := json.Unmarshal(raw, &nested); err != nil {
			return nil, err
		}
		flat = slices.Concat(nested...)
	}
	out := make([]BGPPath, 0, len(flat))
	for _, j := range flat {
		out = append(out, j.path())
	}
	return out, nil
}

// ParseBGPPrefix reads "show bgp <afi> <safi> <prefix> json": the paths of
// one route. A prefix the router has no route for gives no paths (FRR
// answers {}).
func ParseBGPPrefix(data []byte) ([]BGPPath, error) {
	var route struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &route); err != nil {
		return nil, fmt.Errorf("bgp prefix json: %w", err)
	}
	if len(route.Paths) == 0 {
		return nil, nil
	}
	paths, err := decodePaths(route.Paths)
	if err != nil {
		return nil, fmt.Errorf("bgp prefix json: paths: %w", err)
	}
	return paths, nil
}

// EVPNRoute is one path of an EVPN route, with the route's RD and key.
type EVPNRoute struct {
	RD string
	// Prefix is FRR's key, e.g. "[5]:[0]:[24]:[192.168.20.0]" (type 5),
	// "[3]:[0]:[32]:[100.65.0.1]" (type 3: the originating VTEP).
	Prefix string
	BGPPath
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
	return slices.ContainsFunc(r.RTs, func(rt string) bool { return strings.HasSuffix(rt, suffix) })
}

// ParseEVPN reads "show bgp l2vpn evpn route [type …] json" (keyed by RD,
// then by route key): every path of every route, of any type, sorted by
// key, next hop and RD.
func ParseEVPN(data []byte) ([]EVPNRoute, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("evpn route json: %w", err)
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
			paths, err := decodePaths(p.Paths)
			if err != nil {
				return nil, fmt.Errorf("evpn route json: %s %s: paths: %w", rd, key, err)
			}
			for _, pa := range paths {
				routes = append(routes, EVPNRoute{RD: rd, Prefix: key, BGPPath: pa})
			}
		}
	}
	slices.SortFunc(routes, func(a, b EVPNRoute) int {
		return strings.Compare(a.Prefix+a.NextHop+a.RD, b.Prefix+b.NextHop+b.RD)
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
