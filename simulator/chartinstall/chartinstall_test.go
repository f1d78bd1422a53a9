package chartinstall

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"sigs.k8s.io/yaml"

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

// TestArchiveValues checks that the simulator overrides only the images: their tags
// from the archives, pull policy Never.
func TestArchiveValues(t *testing.T) {
	archives := writeArchives(t, "ghcr.io/perouter/perouter:v0.1.0", "ghcr.io/perouter/router:dev")
	got, err := ArchiveValues(archives)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"images": map[string]any{
		"perouter": map[string]any{"repository": "ghcr.io/perouter/perouter", "tag": "v0.1.0", "pullPolicy": "Never"},
		"router":   map[string]any{"repository": "ghcr.io/perouter/router", "tag": "dev", "pullPolicy": "Never"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ArchiveValues (-want +got):\n%s", diff)
	}
	if _, err := ArchiveValues(archives[:1]); err == nil {
		t.Error("ArchiveValues without the router archive: no error")
	}
}

// TestArchiveValuesAreChartValues checks every value ArchiveValues sets
// against charts/perouter/values.yaml: Helm accepts unknown keys silently,
// and the chart would then install its default images instead of the
// archives'.
func TestArchiveValuesAreChartValues(t *testing.T) {
	archives := writeArchives(t, "ghcr.io/perouter/perouter:dev", "ghcr.io/perouter/router:dev")
	values, err := ArchiveValues(archives)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../charts/perouter/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart map[string]any
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	var check func(path string, set, defaults map[string]any)
	leaves := 0
	check = func(path string, set, defaults map[string]any) {
		for k, v := range set {
			d, ok := defaults[k]
			if !ok {
				t.Errorf("ArchiveValues sets %s%s: charts/perouter/values.yaml has no such value", path, k)
				continue
			}
			if sub, ok := v.(map[string]any); ok {
				dsub, ok := d.(map[string]any)
				if !ok {
					t.Errorf("ArchiveValues sets %s%s as a map: the chart's is %T", path, k, d)
					continue
				}
				check(path+k+".", sub, dsub)
				continue
			}
			leaves++
		}
	}
	check("", values, chart)
	if leaves == 0 {
		t.Error("ArchiveValues sets nothing: the archives' images would not be used")
	}
}
