package validate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Neighbour shapes of upstream main (properties, bfd.sessionMode,
// bfd.minimumTTL) with only the apiVersion changed, and perouter's older
// ebgpMultiHop flag.
func TestNeighborUpstreamShape(t *testing.T) {
	const ul = "Underlay perouter-system/underlay: "
	const head = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]
  neighbors:
  - asn: 64612
    address: 172.30.0.1
`
	tests := map[string]struct {
		neighbor string
		want     []string
	}{
		"properties ebgpMultiHop with ttl": {neighbor: `
    properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 3}}]
`},
		"properties ebgpMultiHop without ttl": {neighbor: `
    properties: [{type: ebgpMultiHop}]
`},
		"older ebgpMultiHop flag": {neighbor: `
    ebgpMultiHop: true
`},
		"both spellings": {neighbor: `
    ebgpMultiHop: true
    properties: [{type: ebgpMultiHop}]
`, want: []string{ul + "spec.neighbors[0].properties[0]: ebgpMultiHop: true and properties [{type: ebgpMultiHop}] say the same: remove spec.neighbors[0].ebgpMultiHop"}},
		"unknown property type": {neighbor: `
    properties: [{type: routeReflectorClient}]
`, want: []string{ul + `spec.neighbors[0].properties[0].type: "routeReflectorClient" must be ebgpMultiHop`}},
		"ttl out of range": {neighbor: `
    properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 256}}]
`, want: []string{ul + "spec.neighbors[0].properties[0].ebgpMultiHop.ttl: 256 is out of range 1..255"}},
		"ttl zero": {neighbor: `
    properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 0}}]
`, want: []string{ul + "spec.neighbors[0].properties[0].ebgpMultiHop.ttl: 0 is out of range 1..255"}},
		"two properties": {neighbor: `
    properties: [{type: ebgpMultiHop}, {type: ebgpMultiHop}]
`, want: []string{ul + "spec.neighbors[0].properties: must have at most 1 item, has 2: ebgpMultiHop is the only property"}},
		"bfd passive with minimum ttl": {neighbor: `
    properties: [{type: ebgpMultiHop}]
    bfd: {sessionMode: Passive, minimumTTL: 250}
`},
		"bfd active": {neighbor: `
    bfd: {sessionMode: Active}
`},
		"bfd session mode unknown": {neighbor: `
    bfd: {sessionMode: passive}
`, want: []string{ul + `spec.neighbors[0].bfd.sessionMode: "passive" must be one of Active, Passive`}},
		"bfd minimum ttl out of range": {neighbor: `
    bfd: {minimumTTL: 255}
`, want: []string{ul + "spec.neighbors[0].bfd.minimumTTL: 255 is out of range 1..254"}},
		"address families": {neighbor: `
    addressFamilies: [{type: ipv4unicast}, {type: evpn}]
`},
		"address family ipv4vpn not supported yet": {neighbor: `
    addressFamilies: [{type: ipv4vpn}]
`, want: []string{ul + "spec.neighbors[0].addressFamilies[0].type: ipv4vpn is not supported yet: perouter has no SRv6 L3VPN; use ipv4unicast, ipv6unicast or evpn"}},
		"address family twice": {neighbor: `
    addressFamilies: [{type: evpn}, {type: evpn}]
`, want: []string{ul + "spec.neighbors[0].addressFamilies[1].type: evpn is also spec.neighbors[0].addressFamilies[0]"}},
		"route reflector client on an eBGP neighbour": {neighbor: `
    addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]
`, want: []string{ul + "spec.neighbors[0].addressFamilies[0].properties[0].type: routeReflectorClient needs an internal (iBGP) session: set spec.neighbors[0].type: Internal or spec.neighbors[0].asn to the Underlay's asn 64514"}},
		"unknown address family property": {neighbor: `
    addressFamilies: [{type: evpn, properties: [{type: ebgpMultiHop}]}]
`, want: []string{ul + `spec.neighbors[0].addressFamilies[0].properties[0].type: "ebgpMultiHop" must be routeReflectorClient`}},
		"listen range with an address": {neighbor: `
    listenRange: 192.168.0.0/24
`, want: []string{ul + "spec.neighbors[0]: exactly one of address, interface or listenRange must be set, 2 are"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeAndValidate(t, head+tc.neighbor)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// Every field of upstream main that perouter does not implement yet
// decodes (so the webhook sees it) and is refused by name.
func TestNotYetSupportedFields(t *testing.T) {
	const underlay = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]
  neighbors: [{asn: 64612, address: 172.30.0.1}]
`
	const l3vni = `apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: red, namespace: perouter-system}
spec:
  vrf: red
  vni: 100
`
	const l2vni = `apiVersion: network.perouter.io/v1alpha1
kind: L2VNI
metadata: {name: seg, namespace: perouter-system}
spec:
  vni: 110
`
	tests := map[string]struct {
		manifest string
		want     []string
	}{
		"underlay graceful restart": {manifest: underlay + "  gracefulRestart: {restartTimeSeconds: 120}\n"},
		"underlay graceful restart timers out of range": {manifest: underlay + "  gracefulRestart: {restartTimeSeconds: 0, stalePathTimeSeconds: 4096}\n", want: []string{
			"Underlay perouter-system/underlay: spec.gracefulRestart.restartTimeSeconds: 0 is out of range 1..4095",
			"Underlay perouter-system/underlay: spec.gracefulRestart.stalePathTimeSeconds: 4096 is out of range 1..4095"}},
		"underlay isis": {manifest: underlay + "  isis: {net: [49.0001.0000.0000.0001.00]}\n", want: []string{
			"Underlay perouter-system/underlay: spec.isis: not supported yet: perouter has no IS-IS underlay; peer with BGP neighbors"}},
		"underlay srv6": {manifest: underlay + "  srv6: {locator: {prefix: 'fd00:0:1::/48'}}\n", want: []string{
			"Underlay perouter-system/underlay: spec.srv6: not supported yet: perouter has no SRv6; use L3VNIs and L2VNIs over VXLAN"}},
		// Supported since issue 18 item 6 (per-VNI VTEP family).
		"l3vni underlay address family": {manifest: l3vni + "  underlayAddressFamily: IPv6\n"},
		"l2vni underlay address family": {manifest: l2vni + "  underlayAddressFamily: IPv4\n"},
		"underlay address family with a dual-stack VTEP pool": {manifest: underlay + "  tunnelEndpoint: {cidrs: [100.65.0.0/24, 'fd00:65::/64']}\n---\n" +
			l3vni + "  underlayAddressFamily: IPv6\n---\n" + l2vni + "  underlayAddressFamily: IPv4\n"},
		"underlay address family without a VTEP of it": {manifest: underlay + "  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n---\n" +
			l3vni + "  underlayAddressFamily: IPv6\n", want: []string{
			"L3VNI perouter-system/red: spec.underlayAddressFamily: IPv6 needs an IPv6 VTEP, but Underlay perouter-system/underlay, which may select the same nodes, has no IPv6 cidr in spec.tunnelEndpoint.cidrs; add one there, choose the other family (or leave the field out), or narrow spec.nodeSelector"}},
		"l2vni l3vpn routing domain": {manifest: l2vni + "  routingDomain: {type: L3VPN, l3vpn: {name: green}}\n", want: []string{
			"L2VNI perouter-system/seg: spec.routingDomain.type: L3VPN is not supported yet: perouter has no SRv6 L3VPN; route the segment through an L3VNI (type L3VNI)",
			"L2VNI perouter-system/seg: spec.routingDomain.l3vpn: not supported yet: perouter has no SRv6 L3VPN; route the segment through an L3VNI (routingDomain.l3vni)"}},
		"l2vni ovs bridge": {manifest: l2vni + "  hostMaster: {type: OVSBridge, ovsBridge: {autoCreate: true}}\n", want: []string{
			"L2VNI perouter-system/seg: spec.hostMaster.type: OVSBridge is not supported yet: perouter has no Open vSwitch bridges; use type LinuxBridge",
			"L2VNI perouter-system/seg: spec.hostMaster.ovsBridge: not supported yet: perouter has no Open vSwitch bridges; use hostMaster.linuxBridge"}},
		"l2vni linux bridge": {manifest: l2vni + "  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeAndValidate(t, tc.manifest)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// Route reflection and dynamic neighbours in upstream main's shapes, with
// only the apiVersion changed.
func TestRouteReflectionUpstreamShape(t *testing.T) {
	const ul = "Underlay perouter-system/underlay: "
	const head = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]
`
	const clients = `  neighbors:
  - type: Internal
    listenRange: 192.168.10.0/24
    addressFamilies:
    - type: ipv4unicast
      properties: [{type: routeReflectorClient}]
    - type: evpn
      properties: [{type: routeReflectorClient}]
`
	tests := map[string]struct {
		spec string
		want []string
	}{
		"route reflector with default cluster ID":  {spec: "  routeReflector: {}\n" + clients},
		"route reflector with cluster ID":          {spec: "  routeReflector: {clusterID: 192.0.2.7}\n" + clients},
		"clients by ASN equal to the Underlay's":   {spec: "  neighbors: [{asn: 64514, address: 192.168.10.3, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]}]\n"},
		"IPv6 listen range":                        {spec: "  neighbors: [{type: Internal, listenRange: 'fd00:10::/64'}]\n"},
		"listen range with host bits, as upstream": {spec: "  neighbors: [{asn: 64512, listenRange: 192.168.11.1/24}]\n"},
		"cluster ID inside routerIDCIDR": {spec: "  routerIDCIDR: 10.0.0.0/24\n  routeReflector: {clusterID: 10.0.0.1}\n" + clients, want: []string{
			ul + "spec.routeReflector.clusterID: 10.0.0.1 is inside routerIDCIDR 10.0.0.0/24, so it could equal a node's router ID: choose an address outside it (the default is 192.0.2.1)"}},
		"cluster ID not IPv4": {spec: "  routeReflector: {clusterID: '2001:db8::1'}\n" + clients, want: []string{
			ul + `spec.routeReflector.clusterID: "2001:db8::1" must be an IPv4 address (a 32-bit cluster ID)`}},
		"link-local listen range": {spec: "  neighbors: [{type: Internal, listenRange: 'fe80::/64'}]\n", want: []string{
			ul + `spec.neighbors[0].listenRange: "fe80::/64" is an IPv6 link-local range: peer over the interface instead (interface)`}},
		"listen range not a CIDR": {spec: "  neighbors: [{type: Internal, listenRange: 192.168.10.5}]\n", want: []string{
			ul + `spec.neighbors[0].listenRange: "192.168.10.5" is not a CIDR`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeAndValidate(t, head+tc.spec)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
