package validate

import (
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
		// Upstream's CNI-provisioned link parses, and is refused by name.
		"cni device is not supported yet": {interfaces: `
  interfaces:
  - type: CNIDevice
    cniDevice:
      type: RawConfig
      interfaceName: net1
      rawConfig: {cniVersion: 1.0.0, name: underlay, plugins: [{type: macvlan, master: eth1, ipam: {type: static}}]}
      runtimeConfig: {ips: [192.168.11.3/24]}
`, want: []string{ul + "spec.interfaces[0].cniDevice: type CNIDevice is not supported yet by perouter; use type NetworkDevice with networkDevice.interfaceName naming a host device"}},
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
