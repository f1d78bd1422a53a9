package pods

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestHostPathsOfTheChart checks which directories each simulated node
// gets of its own: every hostPath of the chart's pods, the outermost only.
func TestHostPathsOfTheChart(t *testing.T) {
	chrt, err := loader.Load("../../../charts/perouter")
	if err != nil {
		t.Fatal(err)
	}
	got, err := HostPaths(chrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The chart mounts /var/run/perouter, /var/run/perouter/frr,
	// /run/netns, /var/lib/perouter/underlay, /var/lib/perouter/cni and
	// /var/lib/perouter/reloader.
	want := []string{"/run/netns", resolve("/var/run/perouter"), "/var/lib/perouter/cni", "/var/lib/perouter/reloader", "/var/lib/perouter/underlay"}
	if diff := cmp.Diff(outermost(want), got); diff != "" {
		t.Errorf("HostPaths (-want +got):\n%s", diff)
	}
}

// TestKustomizeMountsWhatTheChartMounts: the kustomize install gets the
// same private directories per node as the chart, derived from its own
// manifests.
func TestKustomizeMountsWhatTheChartMounts(t *testing.T) {
	chrt, err := loader.Load("../../../charts/perouter")
	if err != nil {
		t.Fatal(err)
	}
	fromChart, err := HostPaths(chrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := kustomizeBuild("../../../operator/config/default")
	if err != nil {
		t.Fatal(err)
	}
	fromKustomize, err := manifestHostPaths(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromChart, outermost(fromKustomize)); diff != "" {
		t.Errorf("hostPaths of operator/config/default vs the chart (-chart +kustomize):\n%s", diff)
	}
}

func TestOutermost(t *testing.T) {
	tests := map[string]struct{ in, want []string }{
		"nested and duplicate": {in: []string{"/run/a/b", "/run/a", "/run/a"}, want: []string{"/run/a"}},
		"prefix not a parent":  {in: []string{"/run/ab", "/run/a"}, want: []string{"/run/a", "/run/ab"}},
		"empty":                {in: nil, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, outermost(tc.in)); diff != "" {
				t.Errorf("outermost(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
