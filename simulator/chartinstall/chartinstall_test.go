package chartinstall

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"

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

