package netns

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEVPNType5(t *testing.T) {
	// Captured from leafA of the default lab (FRR 8.4, VM lane): its own
	// routes (no peer) and leafB's, received from the spine.
	data, err := os.ReadFile("testdata/evpn-type5-frr84.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEVPN(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []EVPNRoute{
		{RD: "100.64.0.1:2", Prefix: "[5]:[0]:[24]:[192.168.20.0]", NextHop: "100.64.0.1", RTs: []string{"64520:100"}, Best: true},
		{RD: "100.64.0.1:3", Prefix: "[5]:[0]:[24]:[192.168.21.0]", NextHop: "100.64.0.1", RTs: []string{"64520:200"}, Best: true},
		{RD: "100.64.0.2:2", Prefix: "[5]:[0]:[24]:[192.168.22.0]", NextHop: "100.64.0.2", RTs: []string{"64520:100"}, Best: true, PeerID: "192.168.1.0"},
		{RD: "100.64.0.2:3", Prefix: "[5]:[0]:[24]:[192.168.23.0]", NextHop: "100.64.0.2", RTs: []string{"64520:200"}, Best: true, PeerID: "192.168.1.0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The acceptance check counts the VTEPs: both leaves.
	if n := VTEPs(got); n != 2 {
		t.Errorf("VTEPs = %d, want 2 (100.64.0.1 and 100.64.0.2)", n)
	}
	if _, err := ParseEVPN([]byte("% Unknown command")); err == nil {
		t.Error("ParseEVPN accepted non-JSON output")
	}
}

func TestType3VTEPs(t *testing.T) {
	routes := []EVPNRoute{
		{RD: "10.0.0.2:2", Prefix: "[3]:[0]:[32]:[100.65.0.1]", NextHop: "100.65.0.1", RTs: []string{"64514:110"}},
		{RD: "100.64.0.1:2", Prefix: "[3]:[0]:[32]:[100.64.0.1]", NextHop: "100.64.0.1", RTs: []string{"64520:110"}},
		{RD: "10.0.0.2:3", Prefix: "[3]:[0]:[32]:[100.65.0.1]", NextHop: "100.65.0.1", RTs: []string{"64514:7000"}},
		{RD: "100.64.0.1:3", Prefix: "[5]:[0]:[24]:[192.168.20.0]", NextHop: "100.64.0.1", RTs: []string{"64520:110"}},
		{RD: "10.0.0.3:2", Prefix: "[3]:[0]:[32]:[100.65.0.2]", NextHop: "100.65.0.2", RTs: []string{"64514:1100"}},
	}
	tests := map[string]struct {
		vni  uint32
		want map[string]bool
	}{
		"VNI 110: both ASNs' automatic RTs, not the type-5 route": {vni: 110, want: map[string]bool{"100.65.0.1": true, "100.64.0.1": true}},
		"VNI 7000":               {vni: 7000, want: map[string]bool{"100.65.0.1": true}},
		"VNI 10 is not VNI 1100": {vni: 10, want: map[string]bool{}},
		"VNI 1100":               {vni: 1100, want: map[string]bool{"100.65.0.2": true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Type3VTEPs(routes, tc.vni)); diff != "" {
				t.Errorf("Type3VTEPs(%d) (-want +got):\n%s", tc.vni, diff)
			}
		})
	}
	if got := routes[3].Type(); got != 5 {
		t.Errorf("Type of %s = %d, want 5", routes[3].Prefix, got)
	}
	if got := routes[3].Originator(); got != "" {
		t.Errorf("Originator of a type-5 route = %q, want none", got)
	}
}

func TestParseEVPNType3(t *testing.T) {
	// Captured from leafA of the L2 lab (topologies/l2.clab.yml, FRR 8.4,
	// native): VNI 110 on both leaves and three cluster nodes.
	data, err := os.ReadFile("testdata/evpn-type3-frr84.json")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := ParseEVPN(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"100.64.0.1": true, "100.64.0.2": true, "100.65.0.0": true, "100.65.0.1": true, "100.65.0.2": true}
	if diff := cmp.Diff(want, Type3VTEPs(routes, 110)); diff != "" {
		t.Errorf("type-3 VTEPs of VNI 110 (-want +got):\n%s", diff)
	}
	if n := VTEPs(routes); n != 5 {
		t.Errorf("VTEPs = %d, want 5 (what Accept counts)", n)
	}
}
