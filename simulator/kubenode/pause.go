package kubenode

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/perouter/perouter/operator/images"
)

// BusyboxPath is Debian's statically linked busybox (busybox-static), the
// only file of the pause image.
const BusyboxPath = "/bin/busybox"

// WritePauseArchive writes the sandbox ("pause") image every pod needs,
// named PauseImage, to path. Kubernetes' own pause image lives in a
// registry the lab cannot reach; this one holds a static busybox that
// sleeps. It ignores SIGTERM as PID 1, which is harmless: containerd stops
// sandboxes with SIGKILL.
func WritePauseArchive(path string) error {
	data, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("pause image: %w (install busybox-static)", err)
	}
	root, err := os.MkdirTemp(filepath.Dir(path), ".pause-root-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	img, err := images.TreeImage(root, "kubenode pause: "+BusyboxPath)
	if err != nil {
		return err
	}
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/bin/busybox", "sleep", "2147483647"}})
	if err != nil {
		return err
	}
	return images.WriteArchive(path, img, PauseImage)
}
