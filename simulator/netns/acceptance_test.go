package netns

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVTEPsOfNoRoutes(t *testing.T) {
	if got := VTEPs(nil); got != 0 {
		t.Errorf("VTEPs(nil) = %d, want 0", got)
	}
}

func TestPingPairsJoinsOneVRFAcrossLeaves(t *testing.T) {
	h := func(node, vrf, leaf string) Host {
		return Host{Node: node, VRF: vrf, Leaf: leaf, Address: netip.MustParseAddr("192.0.2.1")}
	}
	h1, h2, h3, h4, h5 := h("h1", "red", "leafA"), h("h2", "blue", "leafA"), h("h3", "red", "leafB"), h("h4", "blue", "leafB"), h("h5", "red", "leafA")
	got := PingPairs([]Host{h1, h2, h3, h4, h5})
	want := []HostPair{{h1, h3}, {h2, h4}, {h5, h3}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("PingPairs (-want +got):\n%s", diff)
	}
}
