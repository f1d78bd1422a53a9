package vtysh_test

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/vtysh"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// The testdata were captured on a node router of the e2e lab (FRR 8.4,
// VM lane) after the route-target suite: VRF red holds the leaves' type-5
// routes (100.64.0.x), the other nodes' (100.65.0.x), its connected
// host-side subnet and a host session's route through pe-e-100.

func TestParseEVPNRouteNexthops(t *testing.T) {
	got, err := vtysh.ParseEVPNRouteNexthops(readTestdata(t, "vrf-routes-frr84.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Only the selected BGP routes' on-link gateways: not the host
	// session's route (gateway 192.169.10.2 on pe-e-100), not the
	// connected subnet.
	if diff := cmp.Diff(addrs("100.64.0.1", "100.64.0.2", "100.65.0.1", "100.65.0.2"), got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ParseEVPNRouteNexthops (-want +got):\n%s", diff)
	}
	for _, empty := range []string{"", "{}", "{\n}\n"} {
		if got, err := vtysh.ParseEVPNRouteNexthops([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("ParseEVPNRouteNexthops(%q) = %v, %v; want none", empty, got, err)
		}
	}
	if _, err := vtysh.ParseEVPNRouteNexthops([]byte("% VRF red not found")); err == nil {
		t.Error("ParseEVPNRouteNexthops of a refusal: no error")
	}
}

func TestParseL3VNINexthops(t *testing.T) {
	got, err := vtysh.ParseL3VNINexthops(readTestdata(t, "evpn-nexthops-frr84.json"), readTestdata(t, "evpn-rmacs-frr84.json"))
	if err != nil {
		t.Fatal(err)
	}
	vtep := func(vni string) L3 {
		return L3{
			Nexthops: map[string]string{
				"100.64.0.1": "02:00:64:00:01:" + vni, "100.64.0.2": "02:00:64:00:02:" + vni,
				"100.65.0.1": "02:00:01:00:00:" + vni, "100.65.0.2": "02:00:02:00:00:" + vni,
			},
			RMACs: []string{"02:00:01:00:00:" + vni, "02:00:02:00:00:" + vni, "02:00:64:00:01:" + vni, "02:00:64:00:02:" + vni},
		}
	}
	want := map[uint32]L3{100: vtep("64"), 200: vtep("c8")}
	if diff := cmp.Diff(want, simplify(got)); diff != "" {
		t.Errorf("ParseL3VNINexthops (-want +got):\n%s", diff)
	}
	// No L3VNI at all, or EVPN off: zebra answers {}.
	if got, err := vtysh.ParseL3VNINexthops([]byte("{\n}\n"), []byte("{}")); err != nil || len(got) != 0 {
		t.Errorf("ParseL3VNINexthops({}, {}) = %v, %v", got, err)
	}
	if _, err := vtysh.ParseL3VNINexthops([]byte("% Unknown command"), []byte("{}")); err == nil {
		t.Error("ParseL3VNINexthops of a refusal: no error")
	}
}

// L3 is vtysh.L3VNINexthops with comparable, printable fields.
type L3 struct {
	Nexthops map[string]string
	RMACs    []string
}

func simplify(in map[uint32]vtysh.L3VNINexthops) map[uint32]L3 {
	out := map[uint32]L3{}
	for vni, s := range in {
		l := L3{Nexthops: map[string]string{}}
		for ip, mac := range s.Nexthops {
			l.Nexthops[ip.String()] = mac
		}
		for mac := range s.RMACs {
			l.RMACs = append(l.RMACs, mac)
		}
		slices.Sort(l.RMACs)
		out[vni] = l
	}
	return out
}

func TestMissingVTEPs(t *testing.T) {
	state := vtysh.L3VNINexthops{
		Nexthops: map[netip.Addr]string{netip.MustParseAddr("100.64.0.1"): "aa:bb:cc:00:00:01", netip.MustParseAddr("100.64.0.2"): "aa:bb:cc:00:00:02"},
		RMACs:    map[string]bool{"aa:bb:cc:00:00:01": true},
	}
	for name, tc := range map[string]struct {
		routes []netip.Addr
		state  vtysh.L3VNINexthops
		want   []netip.Addr
	}{
		"complete":           {addrs("100.64.0.1"), state, nil},
		"no routes":          {nil, vtysh.L3VNINexthops{}, nil},
		"neighbour missing":  {addrs("100.64.0.1", "100.64.0.3"), state, addrs("100.64.0.3")},
		"router MAC missing": {addrs("100.64.0.2"), state, addrs("100.64.0.2")},
		// What the e2e route-target suite found after its round trip:
		// routes through the leaf's VTEP, zebra's L3VNI state empty.
		"both missing (zebra forgot the L3VNI's VTEPs)": {addrs("100.64.0.1", "100.64.0.2"), vtysh.L3VNINexthops{}, addrs("100.64.0.1", "100.64.0.2")},
	} {
		t.Run(name, func(t *testing.T) {
			got := vtysh.MissingVTEPs(tc.routes, tc.state)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("MissingVTEPs (-want +got):\n%s", diff)
			}
		})
	}
}
