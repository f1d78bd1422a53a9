package cluster

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/simulator/topology"
)

func TestVRFNeeds(t *testing.T) {
	repo := repoRoot()
	examples := func(p string) string { return filepath.Join(repo, "docs/examples", p) }
	perNode := func(lines ...string) []string {
		var out []string
		for _, n := range []string{"pe-kind-control-plane", "pe-kind-worker", "pe-kind-worker2"} {
			for _, l := range lines {
				out = append(out, fmt.Sprintf("node %s: %s", n, l))
			}
		}
		return out
	}
	tests := map[string]struct {
		topology   string
		manifests  []string
		fabricOnly bool
		want       []string
	}{
		"l2 lab with its L2VNI: no VRF anywhere": {
			topology:  "topologies/l2.clab.yml",
			manifests: []string{examples("lab/underlay.yaml"), examples("l2lab")},
		},
		"l2 lab with the L3VNIs: every node needs their VRFs": {
			topology:  "topologies/l2.clab.yml",
			manifests: []string{examples("lab")},
			want: perNode("L3VNI perouter-system/red needs VRF device red",
				"L3VNI perouter-system/blue needs VRF device blue"),
		},
		"l2 lab, fabric only: the manifests do not count": {
			topology:   "topologies/l2.clab.yml",
			manifests:  []string{examples("lab")},
			fabricOnly: true,
		},
		"L3VNIs without an Underlay: the controller plans no overlay, so no VRF": {
			topology:  "topologies/l2.clab.yml",
			manifests: []string{examples("lab/l3vnis.yaml")},
		},
		"a routed L2VNI adds no VRF of its own": {
			topology:  "topologies/l2.clab.yml",
			manifests: []string{examples("lab"), examples("l2vni")},
			want: perNode("L3VNI perouter-system/red needs VRF device red",
				"L3VNI perouter-system/blue needs VRF device blue"),
		},
		"IPv6 lab with its underlay and the L2VNI: no VRF anywhere": {
			topology:  "topologies/l2-v6.clab.yml",
			manifests: []string{examples("l2v6lab/underlay.yaml"), examples("l2lab")},
		},
		"passthrough needs none": {
			topology:  "topologies/l2.clab.yml",
			manifests: []string{examples("lab/underlay.yaml"), examples("passthrough")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			topo, err := topology.Load(filepath.Join(repo, tc.topology))
			if err != nil {
				t.Fatal(err)
			}
			got, err := VRFNeeds(topo, tc.manifests, tc.fabricOnly)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("VRFNeeds (-want +got):\n%s", diff)
			}
		})
	}
}
