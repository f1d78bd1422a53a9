package nodeconfig

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/perouter/perouter/operator/objects"
)

// Both spellings of eBGP multi-hop, and upstream's BFD session mode and
// minimum TTL, reach the model.
func TestNeighborMultiHopAndBFD(t *testing.T) {
	const head = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  interfaces: [{networkDevice: {interfaceName: toswitch}}]
  tunnelEndpoint: {cidrs: [100.65.0.0/24]}
  neighbors:
  - asn: 64612
    address: 172.30.0.1
`
	peer := netip.MustParseAddr("172.30.0.1")
	tests := map[string]struct {
		neighbor string
		want     Neighbor
	}{
		"single hop": {want: Neighbor{Address: peer, ASN: 64612}},
		"older flag": {neighbor: "    ebgpMultiHop: true\n", want: Neighbor{Address: peer, ASN: 64612, EBGPMultiHop: true}},
		"property without ttl": {neighbor: "    properties: [{type: ebgpMultiHop}]\n",
			want: Neighbor{Address: peer, ASN: 64612, EBGPMultiHop: true}},
		"property with ttl": {neighbor: "    properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 4}}]\n",
			want: Neighbor{Address: peer, ASN: 64612, EBGPMultiHop: true, EBGPMultiHopTTL: u32(4)}},
		"bfd passive with minimum ttl": {neighbor: "    bfd: {sessionMode: Passive, minimumTTL: 250}\n",
			want: Neighbor{Address: peer, ASN: 64612, BFD: &BFD{Passive: true, MinimumTTL: u32(250)}}},
		"bfd active": {neighbor: "    bfd: {sessionMode: Active}\n",
			want: Neighbor{Address: peer, ASN: 64612, BFD: &BFD{}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := objects.Decode(strings.NewReader(head + tc.neighbor))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := Build(set, Node{Name: "n", Index: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got.Underlay == nil || len(got.Underlay.Neighbors) != 1 {
				t.Fatalf("want one neighbour, got %+v", got.Underlay)
			}
			if diff := cmp.Diff(tc.want, got.Underlay.Neighbors[0], cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("Neighbor (-want +got):\n%s", diff)
			}
		})
	}
}

// Dynamic neighbours and explicit address families reach the model: the
// range masked, the families in a fixed order whatever the manifest's, an
// empty list meaning the defaults (as upstream), and the route reflector's
// cluster ID defaulted when omitted.
func TestNeighborListenRangeAndFamilies(t *testing.T) {
	const head = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  interfaces: [{networkDevice: {interfaceName: toswitch}}]
  tunnelEndpoint: {cidrs: [100.65.0.0/24]}
`
	tests := map[string]struct {
		spec        string
		want        Neighbor
		wantCluster string
	}{
		"listen range, host bits masked": {
			spec: "  neighbors: [{type: Internal, listenRange: 192.168.10.1/24}]\n",
			want: Neighbor{Type: "internal", ListenRange: netip.MustParsePrefix("192.168.10.0/24")},
		},
		"families sorted, route reflector client": {
			spec: "  routeReflector: {}\n  neighbors: [{type: Internal, listenRange: 192.168.10.0/24, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}, {type: ipv4unicast}]}]\n",
			want: Neighbor{Type: "internal", ListenRange: netip.MustParsePrefix("192.168.10.0/24"), AddressFamilies: []AddressFamily{
				{Type: FamilyIPv4Unicast}, {Type: FamilyEVPN, RouteReflectorClient: true},
			}},
			wantCluster: "192.0.2.1",
		},
		"empty families are the defaults": {
			spec:        "  routeReflector: {clusterID: 192.0.2.9}\n  neighbors: [{asn: 64612, address: 172.30.0.1, addressFamilies: []}]\n",
			want:        Neighbor{ASN: 64612, Address: netip.MustParseAddr("172.30.0.1")},
			wantCluster: "192.0.2.9",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := objects.Decode(strings.NewReader(head + tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := Build(set, Node{Name: "n", Index: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got.Underlay == nil || len(got.Underlay.Neighbors) != 1 {
				t.Fatalf("want one neighbour, got %+v", got.Underlay)
			}
			if diff := cmp.Diff(tc.want, got.Underlay.Neighbors[0], cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("Neighbor (-want +got):\n%s", diff)
			}
			var cluster string
			if rr := got.Underlay.RouteReflector; rr != nil {
				cluster = rr.ClusterID.String()
			}
			if cluster != tc.wantCluster {
				t.Errorf("cluster ID = %q, want %q", cluster, tc.wantCluster)
			}
		})
	}
}
