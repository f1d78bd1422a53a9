package kind

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/simulator/topology"
)

func TestPlanDefaultTopology(t *testing.T) {
	topo, err := topology.Load("../../topologies/default.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := Plan(topo, Options{Tag: "dev", Chart: "charts/perouter", Manifests: []string{"docs/examples/lab"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, strings.Join(s.Args, " "))
	}
	kindCfg, _ := filepath.Abs("../../clab/default/kind-config.yaml")
	want := []string{
		"kind create cluster --name pe-kind --config " + kindCfg,
		"sh -c ip link show leafkind1-sw >/dev/null 2>&1 || (ip link add leafkind1-sw type bridge && ip link set leafkind1-sw up)",
		"sh -c ip link show leafkind2-sw >/dev/null 2>&1 || (ip link add leafkind2-sw type bridge && ip link set leafkind2-sw up)",
		"containerlab deploy --reconfigure -t " + topo.Path,
		"docker build -t ghcr.io/perouter/perouter:dev -f Dockerfile .",
		"kind load docker-image ghcr.io/perouter/perouter:dev --name pe-kind",
		"docker build -t ghcr.io/perouter/router:dev -f Dockerfile.router .",
		"kind load docker-image ghcr.io/perouter/router:dev --name pe-kind",
		"helm upgrade --install perouter charts/perouter --set images.perouter.repository=ghcr.io/perouter/perouter --set images.perouter.tag=dev --set images.router.repository=ghcr.io/perouter/router --set images.router.tag=dev --wait",
		"kubectl apply -f docs/examples/lab",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPlanSetsOnlyValuesTheChartHas checks every --set of the plan's helm
// step against charts/perouter/values.yaml: Helm accepts unknown keys
// silently, and the chart would then install its default images instead
// of the ones the plan built and loaded.
func TestPlanSetsOnlyValuesTheChartHas(t *testing.T) {
	topo, err := topology.Load("../../topologies/default.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := Plan(topo, Options{Tag: "dev", Chart: "charts/perouter"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../charts/perouter/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	sets := 0
	for _, s := range steps {
		if s.Args[0] != "helm" {
			continue
		}
		for i, a := range s.Args {
			if a != "--set" || i+1 == len(s.Args) {
				continue
			}
			sets++
			key, _, _ := strings.Cut(s.Args[i+1], "=")
			var node any = values
			for _, part := range strings.Split(key, ".") {
				m, ok := node.(map[string]any)
				if !ok {
					node = nil
					break
				}
				node = m[part]
			}
			if node == nil {
				t.Errorf("helm --set %s: charts/perouter/values.yaml has no %s", s.Args[i+1], key)
			}
		}
		for _, a := range s.Args {
			if a == "--create-namespace" {
				t.Error("helm --create-namespace: the chart creates its namespace itself (createNamespace), so Helm's would fail the ownership check")
			}
		}
	}
	if sets == 0 {
		t.Error("the plan's helm step sets no value: the images it built would not be used")
	}
}
