package convert

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/objects"
)

const (
	release = "apiVersion: openpe.openperouter.github.io/v1alpha1\n"
	main    = "apiVersion: network.openperouter.io/v1alpha1\n"
	ours    = "apiVersion: network.perouter.io/v1alpha1\n"
)

func TestConvert(t *testing.T) {
	tests := map[string]struct {
		in          string
		want        string   // converted YAML; empty when refused
		wantChanges []string // change lines without the file and document
		wantErrs    []string // error lines without "in.yaml: "
	}{
		"v0.2.0 L3VNI with host session": {
			in: release + `kind: L3VNI
metadata: {name: red, namespace: openperouter-system}
spec: {vrf: red, vni: 100, vxlanport: 4789, hostsession: {asn: 64514, hosttype: internal, localcidr: {ipv4: 192.169.10.0/24}}}
`,
			want: ours + `kind: L3VNI
metadata:
  name: red
  namespace: openperouter-system
spec:
  hostSession:
    asn: 64514
    hostType: Internal
    localCIDR:
      ipv4: 192.169.10.0/24
  vni: 100
  vrf: red
  vxlanPort: 4789
`,
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"spec.hostsession: renamed spec.hostSession",
				"spec.hostsession.hosttype: renamed spec.hostSession.hostType",
				"spec.hostsession.hosttype: internal → Internal",
				"spec.hostsession.localcidr: renamed spec.hostSession.localCIDR",
				"spec.vxlanport: renamed spec.vxlanPort",
			},
		},
		"v0.1.0 underlay nics and evpn, lower-case neighbour type": {
			in: release + `kind: Underlay
metadata: {name: u}
spec:
  asn: 64514
  routeridcidr: 10.0.0.0/24
  nics: [eth1, eth2]
  evpn: {vtepcidr: 100.65.0.0/24}
  neighbors: [{type: external, address: 192.168.11.2, ebgpMultiHop: true}]
status: {}
`,
			want: ours + `kind: Underlay
metadata:
  name: u
spec:
  asn: 64514
  interfaces:
  - networkDevice:
      interfaceName: eth1
    type: NetworkDevice
  - networkDevice:
      interfaceName: eth2
    type: NetworkDevice
  neighbors:
  - address: 192.168.11.2
    ebgpMultiHop: true
    type: External
  routerIDCIDR: 10.0.0.0/24
  tunnelEndpoint:
    cidrs:
    - 100.65.0.0/24
`,
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"spec.evpn.vtepcidr: moved to spec.tunnelEndpoint.cidrs: [100.65.0.0/24]",
				"spec.neighbors[0].type: external → External",
				"spec.nics: moved to spec.interfaces, one {type: NetworkDevice, networkDevice: {interfaceName}} per NIC",
				"spec.routeridcidr: renamed spec.routerIDCIDR",
				"status: dropped: status is written by the controller, not by manifests",
			},
		},
		"v0.2.0 L2VNI routes through the L3VNI with its vrf": {
			in: release + `kind: L3VNI
metadata: {name: l3red, namespace: ns}
spec: {vrf: red, vni: 100}
---
` + release + `kind: L2VNI
metadata: {name: l2, namespace: ns}
spec: {vrf: red, vni: 110, hostmaster: {type: linux-bridge, linuxBridge: {name: br0}}, l2gatewayips: [192.168.1.1/24]}
`,
			want: ours + `kind: L3VNI
metadata:
  name: l3red
  namespace: ns
spec:
  vni: 100
  vrf: red
---
` + ours + `kind: L2VNI
metadata:
  name: l2
  namespace: ns
spec:
  gatewayIPs:
  - 192.168.1.1/24
  hostMaster:
    linuxBridge:
      lifecycle: External
      name: br0
    type: LinuxBridge
  routingDomain:
    l3vni:
      name: l3red
    type: L3VNI
  vni: 110
`,
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"spec.hostmaster: renamed spec.hostMaster",
				"spec.hostmaster.linuxBridge: {name: br0} → {lifecycle: External, name: br0}",
				"spec.hostmaster.type: linux-bridge → LinuxBridge",
				"spec.l2gatewayips: renamed spec.gatewayIPs",
				"spec.vrf: red → spec.routingDomain: {type: L3VNI, l3vni: {name: l3red}} (the L3VNI with vrf red)",
			},
		},
		"v0.2.0 L2VNI vrf of an L3VNI in another namespace": {
			in: release + "kind: L3VNI\nmetadata: {name: l3red, namespace: a}\nspec: {vrf: red, vni: 100}\n---\n" +
				release + "kind: L2VNI\nmetadata: {name: l2, namespace: b}\nspec: {vrf: red, vni: 110}\n",
			wantErrs: []string{`document 2 (L2VNI b/l2): spec.vrf: no L3VNI of namespace b with vrf "red" is among the converted files`},
		},
		"v0.2.0 L2VNI vrf of per-rack L3VNIs": {
			in: release + "kind: L3VNI\nmetadata: {name: r2}\nspec: {vrf: red, vni: 100}\n---\n" +
				release + "kind: L3VNI\nmetadata: {name: r1}\nspec: {vrf: red, vni: 101}\n---\n" +
				release + "kind: L2VNI\nmetadata: {name: l2}\nspec: {vrf: red, vni: 110}\n",
			wantErrs: []string{`document 3 (L2VNI default/l2): spec.vrf: vrf "red" is the VRF of several L3VNIs (r1, r2), under different node selectors`},
		},
		"v0.2.0 bridge both named and created": {
			in:       release + "kind: L2VNI\nmetadata: {name: l2}\nspec: {vni: 110, hostmaster: {type: linux-bridge, linuxBridge: {name: br0, autoCreate: true}}}\n",
			wantErrs: []string{"document 1 (L2VNI default/l2): spec.hostmaster.linuxBridge: set either name or autoCreate: true"},
		},
		// Upstream main's enum was ipv4;ipv6 before IPv4;IPv6.
		"lower-case underlay address family": {
			in: release + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100, underlayAddressFamily: ipv6}\n---\n" +
				release + "kind: L2VNI\nmetadata: {name: l2}\nspec: {vni: 110, underlayAddressFamily: IPv4}\n",
			want: ours + "kind: L3VNI\nmetadata:\n  name: red\nspec:\n  underlayAddressFamily: IPv6\n  vni: 100\n  vrf: red\n---\n" +
				ours + "kind: L2VNI\nmetadata:\n  name: l2\nspec:\n  underlayAddressFamily: IPv4\n  vni: 110\n",
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"spec.underlayAddressFamily: ipv6 → IPv6",
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
			},
		},
		"v0.1.0 vtepInterface": {
			in:       release + "kind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, evpn: {vtepInterface: lo1}}\n",
			wantErrs: []string{"document 1 (Underlay default/u): spec.evpn: vtepInterface: not supported"},
		},
		"v0.2.0 address families": {
			in: release + "kind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, neighbors: [{asn: 2, address: '2001:db8::1', addressFamilies: [{type: evpn}, {type: ipv6vpn}]}]}\n",
			wantErrs: []string{
				"document 1 (Underlay default/u): spec.neighbors[0].addressFamilies[1].type: ipv6vpn is not supported yet: perouter has no SRv6 L3VPN; use ipv4unicast, ipv6unicast or evpn",
			},
		},
		"v0.2.0 BFD passive mode and minimum TTL": {
			in: release + `kind: Underlay
metadata: {name: u}
spec:
  asn: 64514
  nics: [eth1]
  neighbors: [{asn: 64512, address: 192.168.11.2, ebgpMultiHop: true, bfd: {passiveMode: true, minimumTTL: 250}}]
`,
			want: ours + `kind: Underlay
metadata:
  name: u
spec:
  asn: 64514
  interfaces:
  - networkDevice:
      interfaceName: eth1
    type: NetworkDevice
  neighbors:
  - address: 192.168.11.2
    asn: 64512
    bfd:
      minimumTTL: 250
      sessionMode: Passive
    ebgpMultiHop: true
`,
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"spec.neighbors[0].bfd.passiveMode: true → spec.neighbors[0].bfd.sessionMode: Passive",
				"spec.nics: moved to spec.interfaces, one {type: NetworkDevice, networkDevice: {interfaceName}} per NIC",
			},
		},
		"main multihop property with TTL and BFD": {
			in: main + `kind: Underlay
metadata: {name: u}
spec:
  asn: 64514
  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}]
  neighbors: [{asn: 64512, address: 192.168.11.2, properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 3}}], bfd: {sessionMode: Passive, minimumTTL: 252}}]
`,
			want: ours + `kind: Underlay
metadata:
  name: u
spec:
  asn: 64514
  interfaces:
  - networkDevice:
      interfaceName: eth1
    type: NetworkDevice
  neighbors:
  - address: 192.168.11.2
    asn: 64512
    bfd:
      minimumTTL: 252
      sessionMode: Passive
    properties:
    - ebgpMultiHop:
        ttl: 3
      type: ebgpMultiHop
`,
			wantChanges: []string{
				"apiVersion: network.openperouter.io/v1alpha1 → network.perouter.io/v1alpha1",
			},
		},
		"main field v0.2.0 does not have": {
			in:       release + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100, vxlanPort: 4789}\n",
			wantErrs: []string{"document 1 (L3VNI default/red): spec.vxlanPort: unknown field (upstream v0.2.0 has no such field)"},
		},
		"typo": {
			in:       main + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vnii: 100}\n",
			wantErrs: []string{"document 1 (L3VNI default/red): spec.vnii: unknown field (upstream main has no such field)"},
		},
		"unknown top-level field": {
			in:       main + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\nspecs: {}\n",
			wantErrs: []string{"document 1 (L3VNI default/red): specs: unknown field of upstream main L3VNI"},
		},
		"kind perouter lacks": {
			in:       main + "kind: L3VPN\nmetadata: {name: vpn}\nspec: {vrf: x}\n",
			wantErrs: []string{"document 1 (L3VPN default/vpn): kind: L3VPN is not supported by perouter: perouter has no SRv6 L3VPN yet"},
		},
		"kind upstream lacks": {
			in:       main + "kind: Overlay\nmetadata: {name: o}\n",
			wantErrs: []string{`document 1 (Overlay default/o): kind: "Overlay" is not a kind of upstream main (network.openperouter.io/v1alpha1)`},
		},
		"not an OpenPERouter object": {
			in:       "apiVersion: v1\nkind: Namespace\nmetadata: {name: openperouter-system}\n",
			wantErrs: []string{`document 1 (Namespace default/openperouter-system): apiVersion: "v1" kind "Namespace" is not an OpenPERouter object`},
		},
		"duplicate key": {
			in:       main + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vrf: blue, vni: 100}\n",
			wantErrs: []string{`document 1 (L3VNI default/red): yaml: unmarshal errors: line 4: key "vrf" already set in map`},
		},
		// What "kubectl get l3vnis,l2vnis -A -o yaml" prints from a v0.2.0
		// cluster: a List, with what the API server set on each object.
		"exported List": {
			in: `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: openpe.openperouter.github.io/v1alpha1
  kind: L3VNI
  metadata:
    name: red
    namespace: ns
    uid: 0b7e
    resourceVersion: "1234"
    generation: 2
    creationTimestamp: "2026-07-01T10:00:00Z"
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"openpe.openperouter.github.io/v1alpha1"}'
      team: a
  spec: {vrf: red, vni: 100}
  status: {}
- apiVersion: openpe.openperouter.github.io/v1alpha1
  kind: L2VNI
  metadata: {name: l2, namespace: ns, managedFields: [{manager: kubectl}]}
  spec: {vrf: red, vni: 110}
`,
			want: ours + `kind: L3VNI
metadata:
  annotations:
    team: a
  name: red
  namespace: ns
spec:
  vni: 100
  vrf: red
---
` + ours + `kind: L2VNI
metadata:
  name: l2
  namespace: ns
spec:
  routingDomain:
    l3vni:
      name: red
    type: L3VNI
  vni: 110
`,
			wantChanges: []string{
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"metadata.creationTimestamp: dropped: set by the API server",
				"metadata.generation: dropped: set by the API server",
				"metadata.resourceVersion: dropped: set by the API server",
				"metadata.uid: dropped: set by the API server",
				"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration: dropped: it records the upstream object",
				"status: dropped: status is written by the controller, not by manifests",
				"apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"metadata.managedFields: dropped: set by the API server",
				"spec.vrf: red → spec.routingDomain: {type: L3VNI, l3vni: {name: red}} (the L3VNI with vrf red)",
			},
		},
		"typed list item refused": {
			in:       main + "kind: L3VNIList\nitems:\n- " + strings.TrimSuffix(main, "\n") + "\n  kind: L3VPN\n  metadata: {name: v}\n",
			wantErrs: []string{"document 1 item 1 (L3VPN default/v): kind: L3VPN is not supported by perouter"},
		},
		"perouter objects, Secrets and comments pass unchanged": {
			in: "# only a comment\n---\n" + ours + "kind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: pw}\nstringData: {password: x}\n",
			want: ours + "kind: L3VNI\nmetadata:\n  name: red\nspec:\n  vni: 100\n  vrf: red\n---\n" +
				"apiVersion: v1\nkind: Secret\nmetadata:\n  name: pw\nstringData:\n  password: x\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			outs, changes, err := Convert([]Input{{Name: "in.yaml", Data: []byte(tc.in)}})
			var errs []string
			for _, e := range objects.Errors(err) {
				errs = append(errs, strings.TrimPrefix(e.Error(), "in.yaml: "))
			}
			if len(tc.wantErrs) > 0 {
				if outs != nil {
					t.Errorf("refused input printed output")
				}
				if len(errs) != len(tc.wantErrs) {
					t.Fatalf("errors:\n%s\nwant %d", strings.Join(errs, "\n"), len(tc.wantErrs))
				}
				for i, w := range tc.wantErrs {
					if !strings.HasPrefix(errs[i], w) {
						t.Errorf("error %d:\n%s\nwant prefix\n%s", i, errs[i], w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(outs[0].Data)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.Field+": "+c.Message)
			}
			if diff := cmp.Diff(tc.wantChanges, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConvertAcrossFiles: a v0.2.0 L2VNI names VRF red; given with the
// L3VNI (in another file) that owns it, convert names that L3VNI, and the
// result validates.
func TestConvertAcrossFiles(t *testing.T) {
	inputs := []Input{
		{Name: "l3vni.yaml", Data: []byte(`apiVersion: openpe.openperouter.github.io/v1alpha1
kind: L3VNI
metadata:
  name: red
  namespace: perouter-system
spec:
  vrf: red
  vni: 100
  hostsession:
    asn: 64514
    hostasn: 64515
    localcidr:
      ipv4: 192.169.10.0/24
`)},
		{Name: "l2vni.yaml", Data: []byte(`apiVersion: openpe.openperouter.github.io/v1alpha1
kind: L2VNI
metadata:
  name: red-segment
  namespace: perouter-system
spec:
  vrf: red
  vni: 110
  l2gatewayips: [192.168.110.1/24]
`)},
	}
	outs, _, err := Convert(inputs)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, o := range outs {
		all = append(all, "---\n"...)
		all = append(all, o.Data...)
	}
	if problems := validateManifests(all); len(problems) > 0 {
		t.Errorf("converted samples do not validate:\n%s", strings.Join(problems, "\n"))
	}
	if !strings.Contains(string(outs[1].Data), "routingDomain:\n    l3vni:\n      name: red\n") {
		t.Errorf("the L2VNI does not name L3VNI red:\n%s", outs[1].Data)
	}
}
