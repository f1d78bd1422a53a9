package v1alpha1

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindNotYetSupported(t *testing.T) {
	tests := map[string]struct {
		kind string
		obj  string
		want []FieldProblem
	}{
		"nothing set": {kind: "Underlay", obj: `{"spec": {"asn": 1, "neighbors": [{"asn": 2}]}}`},
		"list items are indexed": {kind: "Underlay", obj: `{"spec": {"neighbors": [{"asn": 2}, {"addressFamilies": [{"type": "evpn"}, {"type": "ipv4vpn"}]}]}}`, want: []FieldProblem{
			{Field: "spec.neighbors[1].addressFamilies[1].type", Message: "ipv4vpn is not supported yet: perouter has no SRv6 L3VPN; use ipv4unicast, ipv6unicast or evpn"},
		}},
		"a refused value only": {kind: "L2VNI", obj: `{"spec": {"hostMaster": {"type": "LinuxBridge"}}}`},
		"the refused value": {kind: "L2VNI", obj: `{"spec": {"hostMaster": {"type": "OVSBridge"}}}`, want: []FieldProblem{
			{Field: "spec.hostMaster.type", Message: "OVSBridge is not supported yet: perouter has no Open vSwitch bridges; use type LinuxBridge"},
		}},
		"another kind's field": {kind: "L3Passthrough", obj: `{"spec": {"underlayAddressFamily": "IPv4"}}`},
		"null is not set":      {kind: "Underlay", obj: `{"spec": {"isis": null}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var obj map[string]any
			if err := json.Unmarshal([]byte(tc.obj), &obj); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, FindNotYetSupported(tc.kind, obj)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
