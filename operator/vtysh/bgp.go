package vtysh

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Peer is one BGP session as "show bgp [vrf X] summary json" reports it.
type Peer struct {
	// Family is FRR's key for the address family, e.g. ipv4Unicast, l2VpnEvpn.
	Family  string
	Address string
	// State is FRR's BGP state, e.g. Established, Active, Idle.
	State string
	// Dynamic is true for a peer accepted through "bgp listen range".
	Dynamic bool
}

// ParseBGPSummary reads the output of "show bgp [vrf X] summary json"
// (one VRF: address families at the top level). A peer appears once per
// address family it is active in; the result is sorted by family, then
// address. Top-level values that are not address families are passed over;
// FRR without BGP answers {}, which gives no peers.
func ParseBGPSummary(data []byte) ([]Peer, error) {
	var summary map[string]json.RawMessage
	if err := json.Unmarshal(data, &summary); err != nil {
		return nil, fmt.Errorf("bgp summary json: %w", err)
	}
	var peers []Peer
	for family, raw := range summary {
		var fam struct {
			Peers map[string]struct {
				State       string `json:"state"`
				DynamicPeer bool   `json:"dynamicPeer"`
			} `json:"peers"`
		}
		if json.Unmarshal(raw, &fam) != nil {
			continue
		}
		for addr, p := range fam.Peers {
			peers = append(peers, Peer{Family: family, Address: addr, State: p.State, Dynamic: p.DynamicPeer})
		}
	}
	slices.SortFunc(peers, func(a, b Peer) int {
		if c := strings.Compare(a.Family, b.Family); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
	return peers, nil
}
