package vtysh_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/vtysh"
)

func TestParseEVPN(t *testing.T) {
	tests := map[string]struct {
		file string
		want []vtysh.EVPNRoute
	}{
		// leafA of the default lab (FRR 8.4, VM lane): its own type-5
		// routes (no peer) and leafB's, received from the spine.
		"type 5, FRR 8.4": {file: "evpn-type5-frr84.json", want: []vtysh.EVPNRoute{
			{RD: "100.64.0.1:2", Prefix: "[5]:[0]:[24]:[192.168.20.0]", BGPPath: vtysh.BGPPath{Valid: true, Best: true, NextHop: "100.64.0.1", RTs: []string{"64520:100"}}},
			{RD: "100.64.0.1:3", Prefix: "[5]:[0]:[24]:[192.168.21.0]", BGPPath: vtysh.BGPPath{Valid: true, Best: true, NextHop: "100.64.0.1", RTs: []string{"64520:200"}}},
			{RD: "100.64.0.2:2", Prefix: "[5]:[0]:[24]:[192.168.22.0]", BGPPath: vtysh.BGPPath{Valid: true, Best: true, NextHop: "100.64.0.2", RTs: []string{"64520:100"}, PeerID: "192.168.1.0", ASPath: "64612 64520"}},
			{RD: "100.64.0.2:3", Prefix: "[5]:[0]:[24]:[192.168.23.0]", BGPPath: vtysh.BGPPath{Valid: true, Best: true, NextHop: "100.64.0.2", RTs: []string{"64520:200"}, PeerID: "192.168.1.0", ASPath: "64612 64520"}},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := vtysh.ParseEVPN(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := vtysh.ParseEVPN([]byte("% Unknown command")); err == nil {
		t.Error("ParseEVPN accepted non-JSON output")
	}
}

func TestType3VTEPs(t *testing.T) {
	route := func(rd, prefix, nh, rt string) vtysh.EVPNRoute {
		return vtysh.EVPNRoute{RD: rd, Prefix: prefix, BGPPath: vtysh.BGPPath{NextHop: nh, RTs: []string{rt}}}
	}
	routes := []vtysh.EVPNRoute{
		route("10.0.0.2:2", "[3]:[0]:[32]:[100.65.0.1]", "100.65.0.1", "64514:110"),
		route("100.64.0.1:2", "[3]:[0]:[32]:[100.64.0.1]", "100.64.0.1", "64520:110"),
		route("10.0.0.2:3", "[3]:[0]:[32]:[100.65.0.1]", "100.65.0.1", "64514:7000"),
		route("100.64.0.1:3", "[5]:[0]:[24]:[192.168.20.0]", "100.64.0.1", "64520:110"),
		route("10.0.0.3:2", "[3]:[0]:[32]:[100.65.0.2]", "100.65.0.2", "64514:1100"),
	}
	// leafA of the L2 lab (topologies/l2.clab.yml, FRR 8.4, native): VNI
	// 110 on both leaves and three cluster nodes.
	l2lab, err := vtysh.ParseEVPN(readTestdata(t, "evpn-type3-frr84.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		routes []vtysh.EVPNRoute
		vni    uint32
		want   map[string]bool
	}{
		"VNI 110: both ASNs' automatic RTs, not the type-5 route": {routes: routes, vni: 110, want: map[string]bool{"100.65.0.1": true, "100.64.0.1": true}},
		"VNI 7000":               {routes: routes, vni: 7000, want: map[string]bool{"100.65.0.1": true}},
		"VNI 10 is not VNI 1100": {routes: routes, vni: 10, want: map[string]bool{}},
		"VNI 1100":               {routes: routes, vni: 1100, want: map[string]bool{"100.65.0.2": true}},
		"L2 lab, FRR 8.4":        {routes: l2lab, vni: 110, want: map[string]bool{"100.64.0.1": true, "100.64.0.2": true, "100.65.0.0": true, "100.65.0.1": true, "100.65.0.2": true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, vtysh.Type3VTEPs(tc.routes, tc.vni)); diff != "" {
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

func TestParseBGPPrefix(t *testing.T) {
	tests := map[string]struct {
		data string
		want []vtysh.BGPPath
	}{
		// A client of a route reflector (operator/frr's
		// TestRouteReflectionInRealFRR, FRR 8.4): the other client's VTEP,
		// reflected.
		"reflected, FRR 8.4": {data: string(readTestdata(t, "bgp-prefix-reflected-frr84.json")), want: []vtysh.BGPPath{{
			Valid: true, Best: true, PeerID: "192.168.11.10", ASPath: "Local",
			OriginatorID: "10.0.0.2", ClusterList: []string{"192.0.2.1"}, NextHop: "192.168.11.11",
		}}},
		// FRR's answer for a prefix it has no route for.
		"no route": {data: "{}", want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := vtysh.ParseBGPPrefix([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := vtysh.ParseBGPPrefix([]byte("% Network not in table")); err == nil {
		t.Error("ParseBGPPrefix accepted FRR's text answer")
	}
}
