package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/go-archive"
	"github.com/moby/sys/user"
)

// Epoch is every timestamp in the images perouter builds (files, config,
// history), so that the same inputs give the same digest.
var Epoch = time.Unix(0, 0).UTC()

// Base is a recipe's base image as a BaseSource provides it.
type Base struct {
	// Image carries the base's layers and configuration.
	Image v1.Image
	// Root is the base's file system, unpacked: packages are installed on a
	// copy of it. Builders never modify it.
	Root string
	// Description names the base in the image's history and in logs.
	Description string
}

// BaseSource provides the Debian base of a suite.
type BaseSource interface {
	Base(ctx context.Context, r Recipe) (*Base, error)
}

// Installer installs packages in the file system at root (apt-get in a
// chroot, see AptInstaller).
type Installer func(ctx context.Context, root string, packages []string) error

// GoBuilder builds Go main packages of the repository at repoRoot into
// outDir (see GoBuild).
type GoBuilder func(ctx context.Context, repoRoot, outDir string, packages []string) error

// Builder builds images from recipes.
type Builder struct {
	RepoRoot string
	Base     BaseSource
	Install  Installer
	BuildGo  GoBuilder
	// CacheDir keeps package layers, keyed by the base's layers and the
	// package list, so that rebuilding reuses them (apt-get's output is
	// not reproducible: a fresh install differs in logs and caches).
	// Empty: no cache.
	CacheDir string
	// Version is the org.opencontainers.image.version label.
	Version string
	// WorkDir holds temporary trees; empty: os.TempDir().
	WorkDir string
	Log     io.Writer
}

func (b *Builder) logf(format string, args ...any) {
	if b.Log != nil {
		fmt.Fprintf(b.Log, format+"\n", args...)
	}
}

// Build builds a recipe's image: base layers, then one layer of packages,
// then one layer of this repository's files, then the configuration.
func (b *Builder) Build(ctx context.Context, r Recipe) (v1.Image, error) {
	base, err := b.Base.Base(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("image %s: base: %w", r.Name, err)
	}
	b.logf("%s: base %s", r.Name, base.Description)
	img := base.Image
	if len(r.Packages) > 0 {
		pkgs, err := b.packageLayer(ctx, r, base)
		if err != nil {
			return nil, fmt.Errorf("image %s: packages %s: %w", r.Name, strings.Join(r.Packages, " "), err)
		}
		if img, err = appendLayer(img, pkgs, "RUN "+AptInstallScript(r.Packages)); err != nil {
			return nil, err
		}
	}
	files, createdBy, err := b.filesLayer(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("image %s: files: %w", r.Name, err)
	}
	if img, err = appendLayer(img, files, createdBy); err != nil {
		return nil, err
	}
	return configure(img, r, b.Version)
}

// configure sets the recipe's runtime configuration on img, keeping the
// base's environment (PATH).
func configure(img v1.Image, r Recipe, version string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config.Entrypoint = slices.Clone(r.Entrypoint)
	cf.Config.Cmd = nil
	cf.Config.User = r.User
	if !slices.ContainsFunc(cf.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		cf.Config.Env = append(cf.Config.Env, DefaultPath)
	}
	labels := maps.Clone(cf.Config.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, r.Labels(version))
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// ignoredChanges are paths (and everything under them) whose changes
// never go into a package layer: apt's and dpkg's logs and caches, and
// the files the Installer lends the chroot.
var ignoredChanges = []string{
	"/etc/resolv.conf",
	"/etc/hostname",
	"/tmp",
	"/var/tmp",
	"/run",
	"/var/log/apt",
	"/var/log/dpkg.log",
	"/var/log/alternatives.log",
	"/var/cache/apt",
	"/var/cache/ldconfig",
	"/var/lib/apt/lists",
	"/var/cache/debconf/config.dat-old",
	"/var/cache/debconf/templates.dat-old",
	"/var/lib/dpkg/status-old",
	"/var/lib/dpkg/diversions-old",
	"/usr/sbin/policy-rc.d",
}

// ignored tells whether a change of path (absolute, as go-archive reports
// it) stays out of a package layer.
func ignored(path string) bool {
	for _, p := range ignoredChanges {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// packageLayer installs the recipe's packages on a copy of the base's root
// and returns what changed as a layer (deleted files as OCI whiteouts).
func (b *Builder) packageLayer(ctx context.Context, r Recipe, base *Base) (v1.Layer, error) {
	key, err := packageKey(base.Image, r.Packages)
	if err != nil {
		return nil, err
	}
	cached := ""
	if b.CacheDir != "" {
		cached = filepath.Join(b.CacheDir, "packages-"+key+".tar")
		if _, err := os.Stat(cached); err == nil {
			b.logf("%s: packages from cache %s", r.Name, cached)
			return tarball.LayerFromFile(cached, tarball.WithMediaType(types.OCILayer))
		}
	}
	work, err := os.MkdirTemp(b.WorkDir, "perouter-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	// cp -a keeps owners, modes, hard links, xattrs (file capabilities).
	if out, err := exec.CommandContext(ctx, "cp", "-a", base.Root, root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the base's root %s: %v: %s", base.Root, err, out)
	}
	b.logf("%s: installing %s", r.Name, strings.Join(r.Packages, " "))
	start := time.Now()
	if err := b.Install(ctx, root, r.Packages); err != nil {
		return nil, err
	}
	b.logf("%s: installed in %s", r.Name, time.Since(start).Round(time.Second))
	changes, err := archive.ChangesDirs(root, base.Root)
	if err != nil {
		return nil, fmt.Errorf("comparing %s with the base: %w", root, err)
	}
	changes = slices.DeleteFunc(changes, func(c archive.Change) bool { return ignored(c.Path) })
	layer, err := layerOf(func() (io.ReadCloser, error) {
		return archive.ExportChanges(root, changes, user.IdentityMapping{})
	})
	if err != nil {
		return nil, fmt.Errorf("layer of the changes in %s: %w", root, err)
	}
	if cached != "" {
		if err := saveLayer(layer, cached); err != nil {
			return nil, err
		}
		return tarball.LayerFromFile(cached, tarball.WithMediaType(types.OCILayer))
	}
	return layer, nil
}

// packageKey identifies a package layer: the base's layers, the install
// script and what the layer leaves out.
func packageKey(base v1.Image, packages []string) (string, error) {
	h := sha256.New()
	layers, err := base.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return "", err
		}
		fmt.Fprintln(h, d)
	}
	fmt.Fprintln(h, AptInstallScript(packages))
	fmt.Fprintln(h, ignoredChanges) // what the layer leaves out
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// filesLayer builds the recipe's Go binaries and copies its files into a
// staging tree and makes it a layer owned by root. It returns the
// history's CreatedBy too.
func (b *Builder) filesLayer(ctx context.Context, r Recipe) (v1.Layer, string, error) {
	stage, err := os.MkdirTemp(b.WorkDir, "perouter-files-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(stage)
	var steps []string
	if len(r.GoBinaries) > 0 {
		out := filepath.Join(stage, "gobin")
		if err := os.Mkdir(out, 0o755); err != nil {
			return nil, "", err
		}
		b.logf("%s: go build %s", r.Name, strings.Join(r.GoBinaries, " "))
		if err := b.BuildGo(ctx, b.RepoRoot, out, r.GoBinaries); err != nil {
			return nil, "", err
		}
		for _, pkg := range r.GoBinaries {
			dest := BinaryDest(pkg)
			if err := copyFile(filepath.Join(out, filepath.Base(dest)), filepath.Join(stage, "root", dest), 0o755); err != nil {
				return nil, "", fmt.Errorf("binary of %s: %w", pkg, err)
			}
		}
		steps = append(steps, "go build "+strings.Join(r.GoBinaries, " "))
	}
	for _, f := range r.Files {
		if err := copyFile(filepath.Join(b.RepoRoot, f.Source), filepath.Join(stage, "root", f.Dest), f.Mode); err != nil {
			return nil, "", fmt.Errorf("file %s of recipe %s: %w", f.Source, r.Name, err)
		}
		steps = append(steps, "COPY "+f.Source+" "+f.Dest)
	}
	layer, err := layerOf(func() (io.ReadCloser, error) {
		return archive.TarWithOptions(filepath.Join(stage, "root"), &archive.TarOptions{
			ChownOpts: &archive.ChownOpts{UID: 0, GID: 0},
		})
	})
	if err != nil {
		return nil, "", err
	}
	return layer, strings.Join(steps, "; "), nil
}

// copyFile copies src to dst with mode, creating dst's directories (0755).
func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // not reduced by the umask
}

// layerOf makes a layer of the uncompressed tar that tar opens (a
// go-archive writer), with every timestamp Epoch. It fails when go-archive
// logged an error meanwhile (captureArchiveErrors): a layer short of a
// file it could not read is no layer.
func layerOf(tar func() (io.ReadCloser, error)) (v1.Layer, error) {
	var layer v1.Layer
	err := captureArchiveErrors(func() error {
		rc, err := tar()
		if err != nil {
			return err
		}
		defer rc.Close()
		layer, err = normalizedLayer(rc)
		return err
	})
	return layer, err
}

// appendLayer appends layer to img as an OCI layer whose history says
// createdBy, at Epoch.
func appendLayer(img v1.Image, layer v1.Layer, createdBy string) (v1.Image, error) {
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: createdBy},
	})
}

// normalizedLayer reads an uncompressed layer tar and returns it as a layer
// whose timestamps are all Epoch (go-containerregistry's mutate.Time).
func normalizedLayer(uncompressed io.Reader) (v1.Layer, error) {
	data, err := io.ReadAll(uncompressed)
	if err != nil {
		return nil, err
	}
	raw, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	one, err := mutate.AppendLayers(empty.Image, raw)
	if err != nil {
		return nil, err
	}
	timed, err := mutate.Time(one, Epoch, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	layers, err := timed.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, errors.New("normalizing a layer gave no layer")
	}
	return layers[0], nil
}

// saveLayer writes a layer's uncompressed tar to path (atomically).
func saveLayer(l v1.Layer, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
