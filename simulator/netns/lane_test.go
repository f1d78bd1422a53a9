package netns

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/simulator/topology"
)

func TestVRFNeeds(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A topology written inline: one exec line and one FRR config that
	// each need a VRF, and a host that needs none.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "r1.conf"), "router bgp 65000 vrf default\n!\nrouter bgp 65000 vrf blue\n!\n")
	writeFile(t, filepath.Join(dir, "r2.conf"), "router bgp 65001\n!\n")
	writeFile(t, filepath.Join(dir, "inline.clab.yml"), `name: inline
topology:
  nodes:
    r1:
      kind: linux
      image: quay.io/frrouting/frr:8.4.0
      binds:
        - r1.conf:/etc/frr/frr.conf
    r2:
      kind: linux
      image: quay.io/frrouting/frr:8.4.0
      binds:
        - r2.conf:/etc/frr/frr.conf
      exec:
        - ip link add red type vrf table 10
    h1:
      kind: linux
      image: alpine
      exec:
        - ip addr add 10.0.0.1/24 dev eth1
`)
	tests := map[string]struct {
		file string
		want []string
	}{
		"default lab: VRFs on the fabric leaves": {file: filepath.Join(repo, "topologies/default.clab.yml"), want: []string{
			`node leafA: ` + repo + `/clab/default/leafA/setup.sh creates a VRF device ("link add red type vrf table 1100")`,
			`node leafA: ` + repo + `/clab/default/leafA/frr.conf names VRF [red blue] (FRR uses a kernel VRF device per VRF)`,
			`node leafB: ` + repo + `/clab/default/leafB/setup.sh creates a VRF device ("link add red type vrf table 1100")`,
			`node leafB: ` + repo + `/clab/default/leafB/frr.conf names VRF [red blue] (FRR uses a kernel VRF device per VRF)`,
		}},
		"l2 lab: bridges in the default VRF only":               {file: filepath.Join(repo, "topologies/l2.clab.yml")},
		"IPv6 lab: the l2 lab's leaves, IPv6 towards the nodes": {file: filepath.Join(repo, "topologies/l2-v6.clab.yml")},
		"provider test lab":                                     {file: "testdata/mini.clab.yml"},
		"exec line and FRR config": {file: filepath.Join(dir, "inline.clab.yml"), want: []string{
			`node r1: ` + dir + `/r1.conf names VRF [blue] (FRR uses a kernel VRF device per VRF)`,
			`node r2: exec "ip link add red type vrf table 10" creates a VRF device`,
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			topo, err := topology.Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VRFNeeds(topo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("VRFNeeds(%s) (-want +got):\n%s", tc.file, diff)
			}
		})
	}
}

// The fabric waits for its own sessions only: a session over an interface
// that leads to a cluster node, directly or through a bridge node, starts
// with the cluster, after the fabric.
func TestFacesCluster(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		topology, router, dev string
		want                  bool
	}{
		"link to a cluster node":          {topology: "l2-v6", router: "leafkind2", dev: "lk2-w1", want: true},
		"link to a router":                {topology: "l2-v6", router: "leafkind2", dev: "eth1"},
		"interface of another router":     {topology: "l2-v6", router: "leafkind1", dev: "lk2-w1"},
		"bridge with cluster nodes on it": {topology: "default", router: "leafkind1", dev: "toswitch", want: true},
		"link to a host":                  {topology: "default", router: "leafA", dev: "ethred"},
		"link to a spine":                 {topology: "default", router: "leafkind1", dev: "eth1"},
		"no such interface":               {topology: "default", router: "leafkind1", dev: "nope"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			topo, err := topology.Load(filepath.Join(repo, "topologies", tc.topology+".clab.yml"))
			if err != nil {
				t.Fatal(err)
			}
			lab := &Lab{Topo: topo}
			if got := lab.facesCluster(tc.router, tc.dev); got != tc.want {
				t.Errorf("facesCluster(%s, %s) = %v, want %v", tc.router, tc.dev, got, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
