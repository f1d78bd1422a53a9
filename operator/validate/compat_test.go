package validate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/objects"
)

// The manifests below are written in OpenPERouter's shape (upstream main,
// network.openperouter.io/v1alpha1) with only the apiVersion changed, or
// in the shape perouter accepted before; each must decode and validate as
// stated. decodeAndValidate returns the decode problems, then validate's.
func decodeAndValidate(t *testing.T, manifest string) []string {
	t.Helper()
	s, err := objects.Decode(strings.NewReader(manifest))
	var out []string
	for _, e := range objects.Errors(err) {
		out = append(out, e.Error())
	}
	return append(out, strs(Set(s))...)
}

const compatUnderlayHead = `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: underlay, namespace: perouter-system}
spec:
  asn: 64514
  neighbors:
  - {asn: 64512, address: 192.168.11.2}
  tunnelEndpoint: {cidrs: [100.65.0.0/24]}
`

func TestUnderlayInterfaceUnion(t *testing.T) {
	const ul = "Underlay perouter-system/underlay: "
	tests := map[string]struct {
		interfaces string
		want       []string
	}{
		// Upstream's shape: type is the union's discriminator.
		"upstream network device": {interfaces: `
  interfaces:
  - type: NetworkDevice
    networkDevice: {interfaceName: toswitch}
`},
		// perouter's earlier shape: no type, it follows the member.
		"network device without type": {interfaces: `
  interfaces:
  - networkDevice: {interfaceName: toswitch}
`},
		// Upstream's CNI-provisioned link.
		"cni device": {interfaces: `
  interfaces:
  - type: CNIDevice
    cniDevice:
      type: RawConfig
      interfaceName: net1
      rawConfig: {cniVersion: 1.0.0, name: underlay, plugins: [{type: macvlan, master: eth1, ipam: {type: static}}]}
      runtimeConfig: {ips: [192.168.11.3/24]}
`},
		"type names the other member": {interfaces: `
  interfaces:
  - type: CNIDevice
    networkDevice: {interfaceName: toswitch}
`, want: []string{ul + "spec.interfaces[0].type: is CNIDevice but networkDevice is set"}},
		"both members": {interfaces: `
  interfaces:
  - networkDevice: {interfaceName: toswitch}
    cniDevice: {type: RawConfig, rawConfig: {}}
`, want: []string{ul + "spec.interfaces[0]: exactly one of networkDevice or cniDevice must be set, both are"}},
		"unknown type": {interfaces: `
  interfaces:
  - type: Macvlan
    networkDevice: {interfaceName: toswitch}
`, want: []string{
			ul + `spec.interfaces[0].type: "Macvlan" must be one of NetworkDevice, CNIDevice`,
			ul + "spec.interfaces[0].type: is Macvlan but networkDevice is set",
		}},
		// Upstream requires at least one interface (MinItems=1).
		"no interfaces": {interfaces: "", want: []string{
			ul + "spec.interfaces: must have 1 to 16 items, has 0: the router needs a link to the fabric",
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, decodeAndValidate(t, compatUnderlayHead+tc.interfaces)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	const head = "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {namespace: ns, name: %s}\nspec: {vrf: %s, vni: %d, nodeSelector: {matchLabels: {%s}}, hostSession: {asn: 64514, hostASN: 64600, localCIDR: {ipv4: %s}}}\n---\n"
	l3 := func(name, vrf string, vni int, labels, cidr string) string {
		return fmt.Sprintf(head, name, vrf, vni, labels, cidr)
	}
	rack1 := Node{Name: "n1", Labels: map[string]string{"rack": "rack-1", "zone": "a"}}
	rack2 := Node{Name: "n2", Labels: map[string]string{"rack": "rack-2", "zone": "a"}}
	tests := map[string]struct {
		manifests string
		nodes     []Node
		want      []string // Conflicts against nodes
		possible  []string // PossibleConflicts
	}{
		// Upstream's config/samples/l3vni-nodeselector-pre-rack: one VRF
		// name, one L3VNI (and VNI) per rack.
		"per-rack VRF": {
			manifests: l3("a-rack-1", "tenant", 5001, "rack: rack-1", "192.169.1.0/24") + l3("a-rack-2", "tenant", 5002, "rack: rack-2", "192.169.2.0/24"),
			nodes:     []Node{rack1, rack2},
		},
		"per-rack VNI and localCIDR": {
			manifests: l3("a-rack-1", "tenant1", 5001, "rack: rack-1", "192.169.1.0/24") + l3("a-rack-2", "tenant2", 5001, "rack: rack-2", "192.169.1.0/24"),
			nodes:     []Node{rack1, rack2},
		},
		"same VRF on a node both select": {
			manifests: l3("by-rack", "tenant", 5001, "rack: rack-1", "192.169.1.0/24") + l3("by-zone", "tenant", 5002, "zone: a", "192.169.2.0/24"),
			nodes:     []Node{rack2, rack1},
			want: []string{
				`L3VNI ns/by-rack: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-zone on node n1`,
				`L3VNI ns/by-zone: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-rack on node n1`,
			},
			possible: []string{
				`L3VNI ns/by-rack: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-zone on any node both select`,
				`L3VNI ns/by-zone: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-rack on any node both select`,
			},
		},
		"overlapping localCIDR on a node both select": {
			manifests: l3("by-rack", "t1", 5001, "rack: rack-1", "192.169.1.0/24") + l3("by-zone", "t2", 5002, "zone: a", "192.169.1.128/25"),
			nodes:     []Node{rack1},
			want: []string{
				"L3VNI ns/by-zone: spec.hostSession.localCIDR.ipv4: 192.169.1.128/25 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI ns/by-rack (192.169.1.0/24) on node n1",
				"L3VNI ns/by-rack: spec.hostSession.localCIDR.ipv4: 192.169.1.0/24 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI ns/by-zone (192.169.1.128/25) on node n1",
			},
			possible: []string{
				"L3VNI ns/by-zone: spec.hostSession.localCIDR.ipv4: 192.169.1.128/25 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI ns/by-rack (192.169.1.0/24) on any node both select",
				"L3VNI ns/by-rack: spec.hostSession.localCIDR.ipv4: 192.169.1.0/24 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI ns/by-zone (192.169.1.128/25) on any node both select",
			},
		},
		"selectors that could meet, on nodes where they do not": {
			manifests: l3("by-rack", "tenant", 5001, "rack: rack-1", "192.169.1.0/24") + l3("by-zone", "tenant", 5002, "zone: b", "192.169.2.0/24"),
			nodes:     []Node{rack1, rack2},
			possible: []string{
				`L3VNI ns/by-rack: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-zone on any node both select`,
				`L3VNI ns/by-zone: spec.vrf: VRF "tenant" is also claimed by L3VNI ns/by-rack on any node both select`,
			},
		},
		"two underlays on a node both select": {
			manifests: `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {namespace: ns, name: all}
spec: {asn: 64514, neighbors: [{asn: 64512, address: 192.168.11.2}], interfaces: [{networkDevice: {interfaceName: eth1}}]}
---
apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {namespace: ns, name: rack-2}
spec: {asn: 64515, nodeSelector: {matchLabels: {rack: rack-2}}, neighbors: [{asn: 64512, address: 192.168.11.2}], interfaces: [{networkDevice: {interfaceName: eth1}}]}
`,
			nodes: []Node{rack1, rack2},
			want: []string{
				"Underlay ns/all: spec.nodeSelector: the node's one Underlay is also claimed by Underlay ns/rack-2 on node n2",
				"Underlay ns/rack-2: spec.nodeSelector: the node's one Underlay is also claimed by Underlay ns/all on node n2",
			},
			possible: []string{
				"Underlay ns/all: spec.nodeSelector: the node's one Underlay is also claimed by Underlay ns/rack-2 on any node both select",
				"Underlay ns/rack-2: spec.nodeSelector: the node's one Underlay is also claimed by Underlay ns/all on any node both select",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := objects.Decode(strings.NewReader(tc.manifests))
			if err != nil {
				t.Fatal(err)
			}
			if errs := Set(s); len(errs) > 0 {
				t.Errorf("Set: %v; objects with different selectors are Conflicts' to judge", strs(errs))
			}
			if diff := cmp.Diff(tc.want, strs(Conflicts(s, tc.nodes))); diff != "" {
				t.Errorf("Conflicts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.possible, strs(PossibleConflicts(s))); diff != "" {
				t.Errorf("PossibleConflicts (-want +got):\n%s", diff)
			}
		})
	}
}
