package devname

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNames(t *testing.T) {
	got := []string{Bridge(100), VXLAN(100), RouterVeth(100), HostVeth(100), HostBridge(100), PassthroughRouterVeth, PassthroughHostVeth}
	want := []string{"br-pe-100", "vni100", "pe-e-100", "host-e-100", "br-hs-100", "pe-pt", "host-pt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	// Linux refuses names longer than 15 bytes (IFNAMSIZ - 1).
	const maxVNI = 1<<24 - 1
	for _, name := range []string{Bridge(maxVNI), VXLAN(maxVNI), RouterVeth(maxVNI), HostVeth(maxVNI), HostBridge(maxVNI)} {
		if len(name) > 15 {
			t.Errorf("%q is longer than 15 bytes", name)
		}
	}
}

func TestReservedAndHostSide(t *testing.T) {
	tests := []struct {
		name               string
		reserved, hostSide bool
	}{
		{Bridge(7), true, false},
		{VXLAN(7), true, false},
		{RouterVeth(7), true, false},
		{HostVeth(7), true, true},
		{HostBridge(7), true, true},
		{PassthroughRouterVeth, true, false},
		{PassthroughHostVeth, true, true},
		// Any suffix of a bridge or veth prefix is reserved; only names
		// with a VNI are perouter's in the host netns.
		{"br-pe-x", true, false},
		{"host-e-", true, false},
		{"host-e-1a", true, false},
		{"br-hs-lab", true, false},
		// vni needs digits: "vnis" or "vni" alone are ordinary names.
		{"vni", false, false},
		{"vnis", false, false},
		{"vni1a", false, false},
		{"pe-pt0", false, false},
		{"host-pt1", false, false},
		{"red", false, false},
		{"eth0", false, false},
		{"br0", false, false},
		// lo is in every namespace (and holds the VTEPs in the router's).
		{"lo", true, false},
		{"lo0", false, false},
	}
	for _, tc := range tests {
		if got := Reserved(tc.name) != ""; got != tc.reserved {
			t.Errorf("Reserved(%q) = %v, want %v", tc.name, got, tc.reserved)
		}
		if got := HostSide(tc.name); got != tc.hostSide {
			t.Errorf("HostSide(%q) = %v, want %v", tc.name, got, tc.hostSide)
		}
	}
}
