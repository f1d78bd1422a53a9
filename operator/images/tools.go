package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// AptInstaller installs packages with AptInstallScript in a chroot at
// root, as root. It lends the chroot the host's resolv.conf (apt fetches
// from the mirror in the tree's sources) and a policy-rc.d that keeps
// package scripts from starting services; both stay out of the layer
// (ignoredChanges).
func AptInstaller(ctx context.Context, root string, packages []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("installing %s needs root (apt-get in a chroot)", strings.Join(packages, " "))
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return err
	}
	target := filepath.Join(root, "etc/resolv.conf")
	// Debian images may ship resolv.conf as a symlink; replace it.
	_ = os.Remove(target)
	if err := os.WriteFile(target, resolv, 0o644); err != nil {
		return err
	}
	policy := filepath.Join(root, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	defer os.Remove(policy)
	// A mirror that stopped syncing serves testing's Release past its
	// Valid-Until; apt then refuses it. Switched off for this build's apt
	// only (APT_CONFIG, a file removed afterwards), never in the image.
	aptConf := filepath.Join(root, "tmp/perouter-build-apt.conf")
	if err := os.WriteFile(aptConf, []byte("Acquire::Check-Valid-Until \"false\";\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(aptConf)
	cmd := exec.CommandContext(ctx, "chroot", root, "/bin/sh", "-c", AptInstallScript(packages))
	cmd.Env = []string{DefaultPath, "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "APT_CONFIG=/tmp/perouter-build-apt.conf"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chroot %s: %s: %w\n%s", root, AptInstallScript(packages), err, tail(out, 40))
	}
	return nil
}

// GoBuild builds main packages as static binaries with GoBuildEnv and
// GoBuildFlags, as the Dockerfiles' build stage does.
func GoBuild(ctx context.Context, repoRoot, outDir string, packages []string) error {
	args := append(append([]string{"build"}, GoBuildFlags...), "-o", outDir+"/")
	args = append(args, packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), GoBuildEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SystemMirror is the first Debian mirror of the system's apt sources
// (security mirrors aside), for debootstrap; "" when there is none.
func SystemMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	files = append(files, globOrNil("/etc/apt/sources.list.d/*.list")...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			var uri string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uri = fields[1]
			case len(fields) >= 2 && fields[0] == "deb":
				uri = fields[1]
				if strings.HasPrefix(uri, "[") {
					for i, f := range fields {
						if strings.HasSuffix(f, "]") && i+1 < len(fields) {
							uri = fields[i+1]
							break
						}
					}
				}
			}
			if uri != "" && strings.Contains(uri, "/debian") && !strings.Contains(uri, "security") {
				return uri
			}
		}
	}
	return ""
}

func globOrNil(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// Sizes are an image's compressed size (what a registry stores and a
// node pulls: layers, config and manifest) and unpacked size (the layers'
// tars).
func Sizes(img v1.Image) (compressed, unpacked int64, err error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	compressed = m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		compressed += l.Size
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, 0, err
		}
		unpacked += n
	}
	return compressed, unpacked, nil
}
