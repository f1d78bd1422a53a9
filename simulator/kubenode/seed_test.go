package kubenode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/images"
	"github.com/perouter/perouter/operator/k8sassets"
)

// TestStartFromImageSeed: a node started from a store SeedImages filled
// has the archive's image and the pause image, unpacked, without importing
// them itself, and an image tag given in Options.Tags.
func TestStartFromImageSeed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace, cgroups and a containerd")
	}
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Skipf("no Kubernetes assets: %v", err)
	}
	if err := Check(assets); err != nil {
		t.Skip(err)
	}
	archive, _ := filepath.Abs(filepath.Join("..", "..", "bin", "images", "router.tar"))
	if _, err := os.Stat(archive); err != nil {
		t.Skipf("router image archive missing (make images): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	seed := t.TempDir()
	start := time.Now()
	if err := SeedImages(ctx, assets, seed, []string{archive}); err != nil {
		t.Fatal(err)
	}
	t.Logf("SeedImages: %v", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(seed, "containerd")); !os.IsNotExist(err) {
		t.Errorf("the seed keeps containerd's directory beside its archive (%v)", err)
	}

	ns := fmt.Sprintf("perouter-test-seed-%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	restore, err := SaveHostSysctls()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restore() })

	const tag = "ghcr.io/perouter/router:seeded"
	// Images names an archive that does not exist: a seeded node must
	// not import.
	start = time.Now()
	n, err := Start(ctx, Options{
		Name: "seed-" + ns, Netns: ns, Dir: filepath.Join(t.TempDir(), "node"), AssetsDir: assets,
		Kubeconfig: "/nonexistent", APIServer: "127.0.0.1:1",
		Images: []string{"/nonexistent/router.tar"}, ImageSeed: seed,
		Tags:     map[string]string{tag: routerImageRef(t, archive)},
		CgroupV2: UnifiedCgroups(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	t.Logf("Start from the seed (copy, containerd): %v", time.Since(start).Round(time.Millisecond))
	images, err := n.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{routerImageRef(t, archive), PauseImage, tag} {
		if !strings.Contains(images, want) {
			t.Errorf("the seeded node's images lack %s:\n%s", want, images)
		}
	}
	// Unpacked: the CRI needs the image's snapshot, not only its content.
	out, err := n.ctr(ctx, "images", "check")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{routerImageRef(t, archive), PauseImage} {
		var line string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == ref {
				line = l
			}
		}
		// STATUS complete (content), UNPACKED true (snapshots).
		if !strings.Contains(line, "complete") || !strings.HasSuffix(strings.TrimSpace(line), "true") {
			t.Errorf("image %s not complete and unpacked in the seeded store: %q", ref, line)
		}
	}
	snaps, err := n.ctr(ctx, "snapshots", "ls")
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.Split(strings.TrimSpace(snaps), "\n")) < 2 {
		t.Errorf("no unpacked snapshots in the seeded store:\n%s", snaps)
	}
}

func routerImageRef(t *testing.T, archive string) string {
	t.Helper()
	ref, err := images.ArchiveReference(archive)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
