package objects

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestDefaultsMatchCRDs keeps ApplyDefaults equal to the defaults the API
// server applies from the generated CRDs.
func TestDefaultsMatchCRDs(t *testing.T) {
	files, err := filepath.Glob("../config/crd/bases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	crdDefaults := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Spec struct {
				Names    struct{ Kind string }
				Versions []struct {
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					}
				}
			}
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			collectDefaults(crd.Spec.Names.Kind, "", v.Schema.OpenAPIV3Schema, crdDefaults)
		}
	}

	// One object of each kind with every parent of a defaulted field
	// present and the defaulted fields empty.
	s, err := Decode(strings.NewReader(`
apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: u}
spec: {asn: 1, neighbors: [{type: External, interface: eth0}], routeReflector: {}, interfaces: [{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: '{}'}}]}
---
apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: l3}
spec: {vrf: red, vni: 1, hostSession: {asn: 1, hostType: External, localCIDR: {ipv4: 10.0.0.0/24}}}
---
apiVersion: network.perouter.io/v1alpha1
kind: L3Passthrough
metadata: {name: pt}
spec: {hostSession: {asn: 1, hostType: External, localCIDR: {ipv4: 10.1.0.0/24}}}
---
apiVersion: network.perouter.io/v1alpha1
kind: L2VNI
metadata: {name: l2}
spec: {vni: 2, routingDomain: {l3vni: {name: l3}}, hostMaster: {linuxBridge: {}}}
---
apiVersion: network.perouter.io/v1alpha1
kind: RawFRRConfig
metadata: {name: raw}
spec: {rawConfig: "ip prefix-list x seq 5 permit 10.0.0.0/8"}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"Underlay spec.routerIDCIDR":                         s.Underlays[0].Spec.RouterIDCIDR,
		"Underlay spec.routeReflector.clusterID":             s.Underlays[0].Spec.RouteReflector.ClusterID,
		"Underlay spec.interfaces[].cniDevice.interfaceName": s.Underlays[0].Spec.Interfaces[0].CNIDevice.InterfaceName,
		"L3VNI spec.vxlanPort":                               fmt.Sprint(s.L3VNIs[0].Spec.VXLANPort),
		"L3VNI spec.hostSession.maxPrefixes":                 fmt.Sprint(s.L3VNIs[0].Spec.HostSession.MaxPrefixes),
		"L3Passthrough spec.hostSession.maxPrefixes":         fmt.Sprint(s.L3Passthroughs[0].Spec.HostSession.MaxPrefixes),
		"L2VNI spec.vxlanPort":                               fmt.Sprint(s.L2VNIs[0].Spec.VXLANPort),
		"L2VNI spec.routingDomain.type":                      s.L2VNIs[0].Spec.RoutingDomain.Type,
		"L2VNI spec.hostMaster.type":                         s.L2VNIs[0].Spec.HostMaster.Type,
		"L2VNI spec.hostMaster.linuxBridge.lifecycle":        s.L2VNIs[0].Spec.HostMaster.LinuxBridge.Lifecycle,
		"RawFRRConfig spec.priority":                         fmt.Sprint(*s.RawFRRConfigs[0].Spec.Priority),
	}
	if diff := cmp.Diff(crdDefaults, got); diff != "" {
		t.Errorf("defaults (-CRD +ApplyDefaults):\n%s", diff)
	}
}

func collectDefaults(kind, path string, schema map[string]any, out map[string]string) {
	if d, ok := schema["default"]; ok {
		out[kind+" "+strings.TrimPrefix(path, ".")] = fmt.Sprint(d)
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		for name, sub := range props {
			if m, ok := sub.(map[string]any); ok {
				collectDefaults(kind, path+"."+name, m, out)
			}
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		collectDefaults(kind, path+"[]", items, out)
	}
}
