package kind

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/perouter/perouter/simulator/topology"
)

func TestPlanDefaultTopology(t *testing.T) {
	topo, err := topology.Load("../../topologies/default.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := Plan(topo, Options{Image: "perouter:dev", Chart: "charts/perouter", Manifests: []string{"docs/examples/lab"}})
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
		"docker build -t perouter:dev .",
		"kind load docker-image perouter:dev --name pe-kind",
		"helm upgrade --install perouter charts/perouter --namespace perouter-system --create-namespace --set image.repository=perouter --set image.tag=dev --wait",
		"kubectl apply -f docs/examples/lab",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
