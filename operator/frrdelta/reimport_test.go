package frrdelta

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var red = L3VNI{VRF: "red", VNI: 100, VNILine: "vni 100", BGP: "router bgp 64514 vrf red"}

func TestL3VNIs(t *testing.T) {
	got, err := L3VNIs(base)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]L3VNI{red}, got); diff != "" {
		t.Errorf("L3VNIs (-want +got):\n%s", diff)
	}
	withMap := strings.Replace(base, "  redistribute connected\n", "  redistribute connected\n  table-map RIB-FILTER\n", 1)
	got, err = L3VNIs(withMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].TableMap {
		t.Errorf("L3VNIs of a VRF instance with a table-map = %+v, want TableMap set", got)
	}
}

// evpnAF replaces red's EVPN family body (after "advertise ipv4 unicast").
func evpnAF(lines ...string) string {
	body := "  advertise ipv4 unicast\n"
	for _, l := range lines {
		body += "  " + l + "\n"
	}
	return strings.Replace(base, "  advertise ipv4 unicast\n", body, 1)
}

func TestReimported(t *testing.T) {
	withoutVRF := strings.Replace(strings.Replace(base, "vrf red\n vni 100\nexit-vrf\n", "", 1),
		base[strings.Index(base, "router bgp 64514 vrf red"):], "", 1)
	for name, tc := range map[string]struct {
		old, new string
		want     []L3VNI
	}{
		"unchanged": {base, base, nil},
		"explicit import RT set (auto → explicit)": {base, evpnAF("route-target import 64514:1100", "route-target export 64514:1100"), []L3VNI{red}},
		"import RT added": {evpnAF("route-target import 64514:1100"), evpnAF("route-target import 64514:1100", "route-target import 64520:100"), []L3VNI{red}},
		// The round trip's last step, the one that broke the datapath in
		// the e2e route-target suite: routes stay imported across it.
		"explicit import RTs removed (back to auto)": {evpnAF("route-target import 64514:1100", "route-target import 64520:100", "route-target export 64514:1100"), base, []L3VNI{red}},
		"route-target both changed":                  {evpnAF("route-target both 64514:1"), evpnAF("route-target both 64514:2"), []L3VNI{red}},
		"import RTs reordered only":                  {evpnAF("route-target import 1:1", "route-target import 2:2"), evpnAF("route-target import 2:2", "route-target import 1:1"), nil},
		"export RT only (imports nothing)":           {base, evpnAF("route-target export 64514:1100"), nil},
		"new L3VNI (adds only)":                      {withoutVRF, evpnAF("route-target import 64514:1100"), nil},
		"L3VNI removed":                              {evpnAF("route-target import 64514:1100"), withoutVRF, nil},
		"other VNI":                                  {evpnAF("route-target import 64514:1100"), strings.Replace(base, " vni 100\n", " vni 101\n", 1), nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Reimported(tc.old, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Reimported (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Reimported("router ospf\n", base); err == nil {
		t.Error("Reimported of an unparsable old config: no error")
	}
}
