package vtysh

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// L3VNINexthops is zebra's state of one L3VNI's remote VTEPs: the
// nexthops it installed as neighbours on the VRF's bridge (IP → router
// MAC, "show evpn next-hops vni all json") and the router MACs it
// installed in the VXLAN device's FDB ("show evpn rmac vni all json").
type L3VNINexthops struct {
	Nexthops map[netip.Addr]string
	RMACs    map[string]bool
}

// ParseL3VNINexthops reads "show evpn next-hops vni all json" and "show
// evpn rmac vni all json", keyed by VNI. An L3VNI without remote VTEPs is
// absent from both (zebra prints only the VNIs that have some).
func ParseL3VNINexthops(nexthops, rmacs []byte) (map[uint32]L3VNINexthops, error) {
	out := map[uint32]L3VNINexthops{}
	get := func(vni uint32) L3VNINexthops {
		s, ok := out[vni]
		if !ok {
			s = L3VNINexthops{Nexthops: map[netip.Addr]string{}, RMACs: map[string]bool{}}
			out[vni] = s
		}
		return s
	}
	type entry struct {
		NexthopIP string `json:"nexthopIp"`
		RouterMAC string `json:"routerMac"`
	}
	err := forEachVNIEntry(nexthops, "evpn next-hops", func(vni uint32, e entry) {
		if ip, err := netip.ParseAddr(e.NexthopIP); err == nil {
			get(vni).Nexthops[ip] = e.RouterMAC
		}
	})
	if err != nil {
		return nil, err
	}
	err = forEachVNIEntry(rmacs, "evpn rmac", func(vni uint32, e entry) {
		if e.RouterMAC != "" {
			get(vni).RMACs[e.RouterMAC] = true
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEachVNIEntry walks zebra's per-VNI JSON, {"<vni>": {"<key>": {…},
// "numX": n}}, and calls fn with every object entry of every VNI. Keys
// that are not VNIs, and entries that are not objects (the counters), are
// skipped.
func forEachVNIEntry[E any](data []byte, what string, fn func(vni uint32, e E)) error {
	var perVNI map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &perVNI); err != nil {
		return fmt.Errorf("%s json: %w", what, err)
	}
	for key, entries := range perVNI {
		vni, err := strconv.ParseUint(key, 10, 32)
		if err != nil {
			continue
		}
		for _, raw := range entries {
			var e E
			if json.Unmarshal(raw, &e) != nil {
				continue // numNextHops, numRmacs
			}
			fn(uint32(vni), e)
		}
	}
	return nil
}

// ParseEVPNRouteNexthops reads "show ip[v6] route vrf X json" and returns
// the gateways of the selected BGP routes that bgpd installed on-link:
// the remote VTEPs of type-5 routes imported into the VRF (bgpd marks
// exactly those on-link, on the L3VNI's bridge). Sorted, without
// duplicates. An empty table, {} or no output at all gives none.
func ParseEVPNRouteNexthops(data []byte) ([]netip.Addr, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var table map[string][]struct {
		Protocol string `json:"protocol"`
		Selected bool   `json:"selected"`
		Nexthops []struct {
			IP     string `json:"ip"`
			OnLink bool   `json:"onLink"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(data, &table); err != nil {
		return nil, fmt.Errorf("vrf route json: %w", err)
	}
	var out []netip.Addr
	for _, entries := range table {
		for _, e := range entries {
			if e.Protocol != "bgp" || !e.Selected {
				continue
			}
			for _, nh := range e.Nexthops {
				if ip, err := netip.ParseAddr(nh.IP); err == nil && nh.OnLink && !slices.Contains(out, ip) {
					out = append(out, ip)
				}
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// MissingVTEPs returns the remote VTEPs that the VRF's routes use but
// zebra's L3VNI state lacks: no neighbour entry, or no router MAC for the
// neighbour's MAC. Packets routed to such a VTEP find no (or a FAILED)
// neighbour on the bridge and no FDB entry on the VXLAN device, and are
// dropped although the route is there.
func MissingVTEPs(routeNexthops []netip.Addr, state L3VNINexthops) []netip.Addr {
	var out []netip.Addr
	for _, ip := range routeNexthops {
		mac, ok := state.Nexthops[ip]
		if !ok || !state.RMACs[mac] {
			out = append(out, ip)
		}
	}
	return out
}
