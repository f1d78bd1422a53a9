package frr

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/vtysh"
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

	v4, err := vtysh.ParseBGPPrefix([]byte(sections["c2 ipv4"]))
	if err != nil {
		t.Fatalf("c2's route to c1's VTEP: %v\n%s", err, out)
	}
	if len(v4) != 1 || !v4[0].Valid || v4[0].OriginatorID != "10.0.0.2" || !slices.Contains(v4[0].ClusterList, "192.0.2.1") {
		t.Errorf("c2's route to c1's VTEP 100.65.0.1/32: want one valid path reflected from c1 (originator 10.0.0.2, cluster 192.0.2.1), got %+v\n%s", v4, sections["c2 ipv4"])
	} else if nh := v4[0].NextHop; nh != "192.168.11.11" {
		// The tunnel runs from client to client: with "next-hop-self
		// force" towards its clients the reflector put itself here
		// (192.168.11.10), and every VXLAN packet passed through it.
		t.Errorf("c2's route to c1's VTEP: want next hop c1 (192.168.11.11), as the reflector got it, got %s", nh)
	}
	// The type-3 route keeps c1's VTEP as its next hop: the reflector
	// changes no EVPN next hop.
	evpn, err := vtysh.ParseEVPN([]byte(sections["c2 evpn"]))
	if err != nil {
		t.Fatalf("c2's EVPN routes: %v\n%s", err, out)
	}
	var fromC1 []vtysh.EVPNRoute
	for _, r := range evpn {
		if r.RD == "10.0.0.2:2" && r.Prefix == "[3]:[0]:[32]:[100.65.0.1]" {
			fromC1 = append(fromC1, r)
		}
	}
	if len(fromC1) != 1 {
		t.Errorf("c2's type-3 route from c1 (RD 10.0.0.2:2): want one path, got %+v\n%s", fromC1, sections["c2 evpn"])
	} else if p := fromC1[0]; !p.Valid || p.PeerID != "192.168.11.10" || p.NextHop != "100.65.0.1" {
		t.Errorf("c2's type-3 route from c1: want valid, from the reflector 192.168.11.10, next hop c1's VTEP 100.65.0.1; got %+v", p)
	}
	if !strings.Contains(sections["ping"], "ping ok") {
		t.Errorf("c2's VTEP does not reach c1's through the reflector:\n%s", out)
	}
}
