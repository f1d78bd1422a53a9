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
		"listen range not supported yet": {neighbor: `
    listenRange: 192.168.0.0/24
`, want: []string{ul + "spec.neighbors[0].listenRange: not supported yet: perouter has no dynamic neighbours; name each peer by address or interface"}},
		"address families not supported yet": {neighbor: `
    addressFamilies: [{type: ipv4unicast}]
`, want: []string{ul + "spec.neighbors[0].addressFamilies: not supported yet: perouter enables ipv4/ipv6 unicast and l2vpn evpn itself; remove the field"}},
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
		"underlay route reflector": {manifest: underlay + "  routeReflector: {clusterID: 10.0.0.1}\n", want: []string{
			"Underlay perouter-system/underlay: spec.routeReflector: not supported yet: perouter has no route reflection; remove the field"}},
		"underlay isis": {manifest: underlay + "  isis: {net: [49.0001.0000.0000.0001.00]}\n", want: []string{
			"Underlay perouter-system/underlay: spec.isis: not supported yet: perouter has no IS-IS underlay; peer with BGP neighbors"}},
		"underlay srv6": {manifest: underlay + "  srv6: {locator: {prefix: 'fd00:0:1::/48'}}\n", want: []string{
			"Underlay perouter-system/underlay: spec.srv6: not supported yet: perouter has no SRv6; use L3VNIs and L2VNIs over VXLAN"}},
		"l3vni underlay address family": {manifest: l3vni + "  underlayAddressFamily: IPv6\n", want: []string{
			"L3VNI perouter-system/red: spec.underlayAddressFamily: not supported yet: perouter uses the IPv4 VTEP when the Underlay's tunnelEndpoint has an IPv4 cidr, else the IPv6 one; remove the field"}},
		"l2vni underlay address family": {manifest: l2vni + "  underlayAddressFamily: IPv4\n", want: []string{
			"L2VNI perouter-system/seg: spec.underlayAddressFamily: not supported yet: perouter uses the IPv4 VTEP when the Underlay's tunnelEndpoint has an IPv4 cidr, else the IPv6 one; remove the field"}},
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
