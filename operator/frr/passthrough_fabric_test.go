package frr

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPassthroughInRealFRR runs the passthrough golden in a real FRR
// router between a passthrough host (announcing 10.50.0.0/24) and a fabric
// leaf: the leaf learns the host's prefix and the host's veth address
// (192.169.20.3/32, originated by the router), the router installs the
// host's route, and the leaf pings the host's veth address. Two earlier
// renderings failed it: without an import-check exemption the router did
// not announce the /32, and with a static /32 through pe-pt instead the
// host's routes became inactive (their next hop no longer resolved through
// a connected route).
func TestPassthroughInRealFRR(t *testing.T) {
	requireVtysh(t)
	requireFRRDaemons(t)
	work, err := os.MkdirTemp("", "perouter-frr-pt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(goldenPath("passthrough"), filepath.Join(work, "router.conf")); err != nil {
		t.Fatal(err)
	}
	sections, out := runFabricScript(t, work, "passthrough-fabric.sh")
	if s := strings.TrimSpace(sections[""]); s != "" {
		t.Errorf("FRR complained while loading the configs:\n%s", s)
	}
	var leaf map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sections["leaf routes"]), &leaf); err != nil {
		t.Fatalf("the leaf's routes: %v\n%s", err, out)
	}
	for _, p := range []string{"10.50.0.0/24", "192.169.20.3/32", "100.65.0.1/32"} {
		if _, ok := leaf[p]; !ok {
			t.Errorf("the leaf lacks %s; it has %v", p, keys(leaf))
		}
	}
	for _, p := range []string{"192.169.20.0/24"} {
		if _, ok := leaf[p]; ok {
			t.Errorf("the leaf has %s: only the host's own address may leave localCIDR", p)
		}
	}
	var router map[string][]struct {
		Selected  bool `json:"selected"`
		Installed bool `json:"installed"`
	}
	if err := json.Unmarshal([]byte(sections["router host route"]), &router); err != nil {
		t.Fatalf("the router's route to the host's prefix: %v\n%s", err, out)
	}
	if r := router["10.50.0.0/24"]; len(r) != 1 || !r[0].Selected || !r[0].Installed {
		t.Errorf("the router's route to the host's 10.50.0.0/24 is not selected and installed: %s", sections["router host route"])
	}
	if !strings.Contains(sections["ping"], "ping ok") {
		t.Errorf("the leaf does not reach the host's veth address 192.169.20.3:\n%s", out)
	}
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
