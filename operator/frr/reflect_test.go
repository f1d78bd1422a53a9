package frr

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// TestRouteReflectionInRealFRR runs the configs rendered from
// docs/examples/route-reflector in three real FRR instances (a reflector
// and two clients that peer with it only) and checks that each client
// learns the other's VTEP and EVPN type-3 route through the reflector,
// and that the VTEPs then reach each other. With PEROUTER-FABRIC-OUT
// instead of PEROUTER-FABRIC-REFLECT-OUT on the clients, c2 got no route
// to c1's VTEP (its type-3 route stayed invalid): that is why the
// reflector's clients have their own outbound route-map.
func TestRouteReflectionInRealFRR(t *testing.T) {
	requireVtysh(t)
	requireFRRDaemons(t)
	set, err := objects.Load("../../docs/examples/route-reflector")
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "perouter-frr-rr-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]nodeconfig.Node{
		"rr": {Name: "rr", Index: 0, Labels: map[string]string{"perouter.io/route-reflector": "true"}},
		"c1": {Name: "c1", Index: 1},
		"c2": {Name: "c2", Index: 2},
	} {
		c, _, err := nodeconfig.Build(set, n)
		if err != nil {
			t.Fatal(err)
		}
		text, err := Render(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name+".conf"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sections, out := runFabricScript(t, work, "route-reflection.sh")
	if s := strings.TrimSpace(sections[""]); s != "" {
		t.Errorf("FRR complained while loading the configs:\n%s", s)
	}

	var v4 struct {
		Paths []struct {
			Valid        bool   `json:"valid"`
			OriginatorID string `json:"originatorId"`
			ClusterList  struct {
				List []string `json:"list"`
			} `json:"clusterList"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(sections["c2 ipv4"]), &v4); err != nil {
		t.Fatalf("c2's route to c1's VTEP: %v\n%s", err, out)
	}
	if len(v4.Paths) != 1 || !v4.Paths[0].Valid || v4.Paths[0].OriginatorID != "10.0.0.2" || !slices.Contains(v4.Paths[0].ClusterList.List, "192.0.2.1") {
		t.Errorf("c2's route to c1's VTEP 100.65.0.1/32: want one valid path reflected from c1 (originator 10.0.0.2, cluster 192.0.2.1), got %+v\n%s", v4.Paths, sections["c2 ipv4"])
	}
	// The type-3 route keeps c1's VTEP as its next hop: the reflector
	// changes no EVPN next hop.
	var evpn map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sections["c2 evpn"]), &evpn); err != nil {
		t.Fatalf("c2's EVPN routes: %v\n%s", err, out)
	}
	type evpnPath struct {
		Valid    bool   `json:"valid"`
		PeerID   string `json:"peerId"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
	}
	var route struct {
		Paths [][]evpnPath `json:"paths"`
	}
	if rd, ok := evpn["10.0.0.2:2"]; !ok {
		t.Errorf("c2 has no EVPN route of c1's RD 10.0.0.2:2:\n%s", sections["c2 evpn"])
	} else {
		var byPrefix map[string]json.RawMessage
		if err := json.Unmarshal(rd, &byPrefix); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(byPrefix["[3]:[0]:[32]:[100.65.0.1]"], &route); err != nil {
			t.Errorf("c2 lacks c1's type-3 route: %v\n%s", err, sections["c2 evpn"])
		}
	}
	if len(route.Paths) != 1 || len(route.Paths[0]) != 1 {
		t.Errorf("c2's type-3 route from c1: want one path, got %+v", route.Paths)
	} else if p := route.Paths[0][0]; !p.Valid || p.PeerID != "192.168.11.10" || len(p.Nexthops) != 1 || p.Nexthops[0].IP != "100.65.0.1" {
		t.Errorf("c2's type-3 route from c1: want valid, from the reflector 192.168.11.10, next hop c1's VTEP 100.65.0.1; got %+v", p)
	}
	if !strings.Contains(sections["ping"], "ping ok") {
		t.Errorf("c2's VTEP does not reach c1's through the reflector:\n%s", out)
	}
}
