package validate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/objects"
)

// TestCNIDevice checks what validation says of a CNIDevice underlay link:
// the rawConfig is parsed (no plugin runs), and every problem names the
// field and the fix.
func TestCNIDevice(t *testing.T) {
	const ul = "Underlay perouter-system/underlay: "
	const f = ul + "spec.interfaces[0].cniDevice"
	cni := func(rawConfig string, extra ...string) string {
		return "  interfaces:\n  - type: CNIDevice\n    cniDevice:\n      type: RawConfig\n      rawConfig: " + rawConfig + "\n" + strings.Join(extra, "")
	}
	const macvlan = `{cniVersion: 1.0.0, name: underlay, plugins: [{type: macvlan, master: eth0, ipam: {type: static, addresses: [{address: 192.168.11.3/24}]}}]}`
	tests := map[string]struct {
		interfaces string
		want       []string
	}{
		"macvlan with static IPAM":  {interfaces: cni(macvlan)},
		"newer cniVersion":          {interfaces: cni(`{cniVersion: 1.1.0, name: underlay, plugins: [{type: ipvlan, master: eth0, ipam: {type: dhcp}}]}`)},
		"runtimeConfig ips":         {interfaces: cni(macvlan, "      runtimeConfig: {ips: [192.168.11.3/24]}\n")},
		"interfaceName set":         {interfaces: cni(macvlan, "      interfaceName: uplink\n")},
		"two links of one Underlay": {interfaces: cni(macvlan, "      interfaceName: up0\n") + "  - type: CNIDevice\n    cniDevice: {type: RawConfig, interfaceName: up1, rawConfig: " + macvlan + "}\n"},
		"no rawConfig": {interfaces: "  interfaces:\n  - type: CNIDevice\n    cniDevice: {type: RawConfig}\n", want: []string{
			f + ".rawConfig: must be set with type RawConfig: the CNI network configuration list to run",
		}},
		"cniVersion missing": {interfaces: cni(`{name: underlay, plugins: [{type: macvlan}]}`), want: []string{
			f + `.rawConfig: cniVersion is missing: set it to "1.0.0" or later`,
		}},
		"cniVersion before configuration lists": {interfaces: cni(`{cniVersion: 0.4.0, name: underlay, plugins: [{type: macvlan}]}`), want: []string{
			f + `.rawConfig: cniVersion "0.4.0" is older than 1.0.0, the first version with configuration lists only: set it to "1.0.0" or later`,
		}},
		"cniVersion not a version": {interfaces: cni(`{cniVersion: latest, name: underlay, plugins: [{type: macvlan}]}`), want: []string{
			f + `.rawConfig: cniVersion "latest" is not a version (MAJOR.MINOR.PATCH): set it to "1.0.0" or later`,
		}},
		"name missing": {interfaces: cni(`{cniVersion: 1.0.0, plugins: [{type: macvlan}]}`), want: []string{
			f + ".rawConfig: name is missing: name the network (libcni keys its cache by it)",
		}},
		"single-plugin configuration": {interfaces: cni(`{cniVersion: 1.0.0, name: underlay, type: macvlan, master: eth0}`), want: []string{
			f + `.rawConfig: is a single-plugin configuration, which CNI 1.0.0 dropped: move the plugin into a list, {"cniVersion": ..., "name": ..., "plugins": [{"type": ..., ...}]}`,
		}},
		"plugin without type": {interfaces: cni(`{cniVersion: 1.0.0, name: underlay, plugins: [{type: macvlan}, {master: eth0}]}`), want: []string{
			f + ".rawConfig: plugins[1].type is missing: name the plugin (macvlan, ipvlan, ...)",
		}},
		"plugin type is a path": {interfaces: cni(`{cniVersion: 1.0.0, name: underlay, plugins: [{type: /tmp/evil}]}`), want: []string{
			f + `.rawConfig: plugins[0].type "/tmp/evil" must be a plugin name, not a path: the controller looks plugins up in its plugin directory`,
		}},
		"empty plugins": {interfaces: cni(`{cniVersion: 1.0.0, name: underlay, plugins: []}`), want: []string{
			f + ".rawConfig: plugins is empty: list at least the plugin that creates the link",
		}},
		"several problems at once": {interfaces: cni(`{cniVersion: 0.3.1, plugins: notalist}`), want: []string{
			f + `.rawConfig: cniVersion "0.3.1" is older than 1.0.0, the first version with configuration lists only: set it to "1.0.0" or later; name is missing: name the network (libcni keys its cache by it); plugins must be a list of JSON objects`,
		}},
		"runtimeConfig not an object": {interfaces: cni(macvlan, "      runtimeConfig: [192.168.11.3/24]\n"), want: []string{
			f + `.runtimeConfig: must be a JSON object of capability arguments, e.g. {"ips": ["192.168.11.3/24"]}`,
		}},
		"interfaceName of a perouter device": {interfaces: cni(macvlan, "      interfaceName: br-pe-100\n"), want: []string{
			f + `.interfaceName: "br-pe-100" collides with the names perouter gives its own devices (vni<N>, br-pe-*, pe-e-*, br-hs-*, host-e-*, pe-pt, host-pt): choose another interfaceName (the default is net1)`,
		}},
		"two links with the default name": {interfaces: cni(macvlan) + "  - type: CNIDevice\n    cniDevice: {type: RawConfig, rawConfig: " + macvlan + "}\n", want: []string{
			f[:len(f)-len("[0].cniDevice")] + `[1].cniDevice.interfaceName: "net1" is also spec.interfaces[0]`,
		}},
		"mixed with a host NIC": {interfaces: cni(macvlan) + "  - type: NetworkDevice\n    networkDevice: {interfaceName: eth1}\n", want: []string{
			ul + "spec.interfaces[1]: is a NetworkDevice but spec.interfaces[0] is a CNIDevice: all interfaces must be of the same type, mixing NetworkDevice and CNIDevice is not supported; use one Underlay per node with either kind",
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

// TestCNIDeviceUpdates: unlike upstream, which makes rawConfig,
// runtimeConfig and the type of a named link immutable, perouter admits
// these changes; the controller replaces the link (hostnet's
// TestCNIUnderlay covers the replacement on a real kernel).
func TestCNIDeviceUpdates(t *testing.T) {
	const head = "apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u, namespace: default}\nspec: {asn: 65000, neighbors: [{asn: 64512, address: 192.168.11.2}], interfaces: ["
	cni := func(addr, runtime string) string {
		s := head + "{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {cniVersion: 1.0.0, name: u, plugins: [{type: macvlan, master: eth0, ipam: {type: static, addresses: [{address: " + addr + "}]}}]}"
		if runtime != "" {
			s += ", runtimeConfig: " + runtime
		}
		return s + "}}]}\n"
	}
	nic := head + "{type: NetworkDevice, networkDevice: {interfaceName: net1}}]}\n"
	tests := map[string]struct{ old, new string }{
		"rawConfig changed":      {old: cni("192.168.11.3/24", ""), new: cni("192.168.11.4/24", "")},
		"runtimeConfig added":    {old: cni("192.168.11.3/24", ""), new: cni("192.168.11.3/24", "{mac: 'aa:bb:cc:00:00:01'}")},
		"CNI link to host NIC":   {old: cni("192.168.11.3/24", ""), new: nic},
		"host NIC to CNI link":   {old: nic, new: cni("192.168.11.3/24", "")},
		"runtimeConfig removed":  {old: cni("192.168.11.3/24", "{mac: 'aa:bb:cc:00:00:01'}"), new: cni("192.168.11.3/24", "")},
		"runtimeConfig replaced": {old: cni("192.168.11.3/24", "{mac: 'aa:bb:cc:00:00:01'}"), new: cni("192.168.11.3/24", "{mac: 'aa:bb:cc:00:00:02'}")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := objects.Decode(strings.NewReader(tc.old))
			if err != nil {
				t.Fatal(err)
			}
			n, err := objects.Decode(strings.NewReader(tc.new))
			if err != nil {
				t.Fatal(err)
			}
			got := append(strs(Set(n)), strs(Update(&o.Underlays[0], &n.Underlays[0]))...)
			if len(got) > 0 {
				t.Errorf("refused:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}
