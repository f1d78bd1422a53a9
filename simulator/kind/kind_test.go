package kind

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/images"
	"github.com/perouter/perouter/simulator/topology"
)

// archives writes image archives (empty images) with the references a
// `make images` at tag would give.
func archives(t *testing.T, tag string) []string {
	t.Helper()
	var paths []string
	for _, r := range images.Recipes() {
		p := filepath.Join(t.TempDir(), r.Name+".tar")
		if err := images.WriteArchive(p, empty.Image, r.Repository+":"+tag); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestPlanDefaultTopology(t *testing.T) {
	topo, err := topology.Load("../../topologies/default.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	imgs := archives(t, "dev")
	steps, err := Plan(topo, Options{Images: imgs, Chart: "charts/perouter", Manifests: []string{"docs/examples/lab"}, StateDir: "/state"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Does)
	}
	kindCfg, _ := filepath.Abs("../../clab/default/kind-config.yaml")
	want := []string{
		"kind create cluster --name pe-kind --config " + kindCfg + " --kubeconfig /state/kubeconfig --wait 5m0s",
		"ip link add leafkind1-sw type bridge && ip link set leafkind1-sw up",
		"ip link add leafkind2-sw type bridge && ip link set leafkind2-sw up",
		"containerlab deploy --reconfigure -t " + topo.Path,
		"kind load image-archive " + imgs[0] + " --name pe-kind",
		"kind load image-archive " + imgs[1] + " --name pe-kind",
		"helm upgrade --install perouter charts/perouter" +
			" --set images.perouter.repository=ghcr.io/perouter/perouter --set images.perouter.tag=dev --set images.perouter.pullPolicy=Never" +
			" --set images.router.repository=ghcr.io/perouter/router --set images.router.tag=dev --set images.router.pullPolicy=Never" +
			" --wait --kubeconfig /state/kubeconfig",
		"kubectl --kubeconfig /state/kubeconfig apply -f docs/examples/lab",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestPlanRefusesMissingImages(t *testing.T) {
	topo, err := topology.Load("../../topologies/default.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, imgs := range map[string][]string{
		"none":            nil,
		"no router image": archives(t, "dev")[:1],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Plan(topo, Options{Images: imgs, Chart: "charts/perouter"}); err == nil || !strings.Contains(err.Error(), "make images") {
				t.Errorf("Plan with images %v: error %v, want one that says to run `make images`", imgs, err)
			}
		})
	}
}

// TestKindConfigsNameTheTopologyNodes checks, for every shipped topology
// with a kind cluster, that the nodes kind will create are exactly the
// topology's ext-container nodes: containerlab wires containers by name,
// so a node of one and not the other would be left off the fabric, or
// the deploy would fail. kind names its node containers
// <cluster>-<role>, then <cluster>-<role>2, 3… in the order of the
// config's nodes (its internal MakeNodeNamer, not importable).
func TestKindConfigsNameTheTopologyNodes(t *testing.T) {
	files, err := filepath.Glob("../../topologies/*.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, f := range files {
		topo, err := topology.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := clusterNode(topo)
		if err != nil {
			continue
		}
		tested++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(c.StartupConfig)
			if err != nil {
				t.Fatal(err)
			}
			var cfg v1alpha4.Cluster
			if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
				t.Fatalf("%s: %v", c.StartupConfig, err)
			}
			if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
				t.Errorf("%s: kind %q apiVersion %q, want Cluster kind.x-k8s.io/v1alpha4", c.StartupConfig, cfg.Kind, cfg.APIVersion)
			}
			count := map[v1alpha4.NodeRole]int{}
			var fromKind []string
			for _, n := range cfg.Nodes {
				count[n.Role]++
				name := c.Name + "-" + string(n.Role)
				if count[n.Role] > 1 {
					name += strconv.Itoa(count[n.Role])
				}
				fromKind = append(fromKind, name)
			}
			var fromTopo []string
			for _, n := range topo.NodesWithRole(topology.RoleClusterNode) {
				fromTopo = append(fromTopo, n.Name)
			}
			slices.Sort(fromKind)
			slices.Sort(fromTopo)
			if diff := cmp.Diff(fromTopo, fromKind); diff != "" {
				t.Errorf("kind nodes of %s vs the topology's ext-container nodes (-topology +kind):\n%s", c.StartupConfig, diff)
			}
		})
	}
	if tested == 0 {
		t.Fatal("no topology with a k8s-kind node")
	}
}
