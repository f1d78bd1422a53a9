package pods

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/perouter/perouter/operator/images"
)

func writeArchives(t *testing.T, refs ...string) []string {
	t.Helper()
	var paths []string
	for i, ref := range refs {
		p := filepath.Join(t.TempDir(), filepath.Base(ref)+".tar")
		if err := images.WriteArchive(p, empty.Image, ref); err != nil {
			t.Fatalf("archive %d: %v", i, err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestLabValues checks that the lab overrides only the images: their tags
// from the archives, pull policy Never.
func TestLabValues(t *testing.T) {
	archives := writeArchives(t, "ghcr.io/perouter/perouter:v0.1.0", "ghcr.io/perouter/router:dev")
	got, err := LabValues(archives)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"images": map[string]any{
		"perouter": map[string]any{"repository": "ghcr.io/perouter/perouter", "tag": "v0.1.0", "pullPolicy": "Never"},
		"router":   map[string]any{"repository": "ghcr.io/perouter/router", "tag": "dev", "pullPolicy": "Never"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LabValues (-want +got):\n%s", diff)
	}
	if _, err := LabValues(archives[:1]); err == nil {
		t.Error("LabValues without the router archive: no error")
	}
}

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
