package frr

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/nodeconfig"
)

func TestRenderErrors(t *testing.T) {
	base := func() nodeconfig.Config { return node(underlay(), red()) }
	tests := map[string]struct {
		config nodeconfig.Config
		want   string
	}{
		"vnis without underlay": {node(nil, red()), "without an Underlay"},
		"newline in vrf": {with(base(), func(c *nodeconfig.Config) { c.L3VNIs[0].VRF = "red\nrouter bgp 1" }),
			`L3VNI perouter-system/red: spec.vrf: "red\nrouter bgp 1" is not a valid VRF name`},
		"space in password": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Password = "a b" }),
			"Underlay perouter-system/underlay: spec.neighbors[192.168.11.2].password"},
		"bang in password":  {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Password = "!x" }), "password"},
		"quote in password": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Password = `a"b` }), "password"},
		"vrf named default": {with(base(), func(c *nodeconfig.Config) { c.L3VNIs[0].VRF = "default" }), "spec.vrf"},
		"password too long": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Password = strings.Repeat("x", 81) }), "password"},
		"asn and type": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Type = "external" }),
			`spec.neighbors[192.168.11.2]: both an ASN and type "external" are set`},
		"unknown type": {with(base(), func(c *nodeconfig.Config) {
			c.Underlay.Neighbors[0] = nodeconfig.Neighbor{Address: addr("192.168.11.2"), Type: "External"}
		}), `type "External" is neither external nor internal`},
		"address and interface": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].Interface = "eth1" }), "more than one of an address, an interface and a listen range"},
		"no address nor interface": {with(base(), func(c *nodeconfig.Config) {
			c.Underlay.Neighbors[0] = nodeconfig.Neighbor{ASN: 64512}
		}), "neither an address, an interface nor a listen range"},
		"bad interface": {with(base(), func(c *nodeconfig.Config) {
			c.Underlay.Neighbors[0] = nodeconfig.Neighbor{Interface: "eth1 bfd", ASN: 1}
		}), "spec.neighbors.interface"},
		"bad route target":       {with(base(), func(c *nodeconfig.Config) { c.L3VNIs[0].ImportRTs = []string{"64514:100\nexit"} }), "spec.importRTs/exportRTs"},
		"hold without keepalive": {with(base(), func(c *nodeconfig.Config) { c.Underlay.Neighbors[0].HoldTime = u32(9) }), "must be set together"},
		"bad hostname":           {with(base(), func(c *nodeconfig.Config) { c.NodeName = "Worker 1" }), "not a valid hostname"},
		"host session without addresses": {with(base(), func(c *nodeconfig.Config) {
			c.L3VNIs[0].HostSession = &nodeconfig.HostSession{ASN: 64514, HostASN: 64515}
		}), "spec.hostSession.localCIDR"},
		"bad l2 bridge": {with(base(), func(c *nodeconfig.Config) {
			c.L2VNIs = []nodeconfig.L2VNI{{Source: ref("L2VNI", "l2"), VNI: 300, HostBridge: nodeconfig.HostBridge{Name: "br!x"}}}
		}), "L2VNI perouter-system/l2: spec.hostMaster.linuxBridge.name"},
		"zero vni":       {with(base(), func(c *nodeconfig.Config) { c.L3VNIs[0].VNI = 0 }), "spec.vni"},
		"zero asn":       {with(base(), func(c *nodeconfig.Config) { c.Underlay.ASN = 0 }), "spec.asn"},
		"ipv6 router id": {with(base(), func(c *nodeconfig.Config) { c.Underlay.RouterID = addr("fd00::1") }), "spec.routerIDCIDR"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Render(tc.config)
			if err == nil {
				t.Fatalf("Render succeeded, want an error containing %q; output:\n%s", tc.want, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestRenderDoesNotModifyInput guards the "sorted copy" path: sorting the
// caller's slices would be a data race in the controller.
func TestRenderDoesNotModifyInput(t *testing.T) {
	c := cases["two_vrfs_unsorted_input"]
	vnis := func() []uint32 {
		var out []uint32
		for _, l := range c.L3VNIs {
			out = append(out, l.VNI)
		}
		return out
	}
	before := vnis()
	if _, err := Render(c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, vnis()); diff != "" {
		t.Errorf("Render reordered its input (-before +after):\n%s", diff)
	}
}

// TestDocExcerpts keeps docs/frr.md honest: every block marked
// "<!-- golden: NAME -->" must appear verbatim in testdata/NAME.golden.
func TestDocExcerpts(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "frr.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- golden: ([a-z0-9_]+) -->\n```[a-z]*\n(.*?)```")
	blocks := re.FindAllSubmatch(doc, -1)
	if len(blocks) < 5 {
		t.Fatalf("docs/frr.md has %d golden excerpts, want at least 5", len(blocks))
	}
	for _, b := range blocks {
		name, excerpt := string(b[1]), string(b[2])
		golden, err := os.ReadFile(goldenPath(name))
		if err != nil {
			t.Errorf("docs/frr.md cites %s: %v", name, err)
			continue
		}
		if !strings.Contains(string(golden), excerpt) {
			t.Errorf("docs/frr.md excerpt for %s is not in %s:\n%s", name, goldenPath(name), excerpt)
		}
	}
}
