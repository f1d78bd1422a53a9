package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/go-archive"
	"github.com/sirupsen/logrus"
)

// Platform is the only platform perouter's images are built for.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// RegistryBase pulls a recipe's base (Recipe.BaseReference, debian:<suite>-
// slim) from a registry and unpacks it into CacheDir for the package step.
// Its layers go into the image unchanged.
type RegistryBase struct {
	// Reference overrides Recipe.BaseReference when set (a mirror, or a
	// digest pin).
	Reference string
	CacheDir  string
	Options   []remote.Option
	// Insecure allows plain HTTP registries (tests).
	Insecure bool
}

// Base pulls the base and unpacks it (once per digest).
func (s *RegistryBase) Base(ctx context.Context, r Recipe) (*Base, error) {
	if s.CacheDir == "" {
		return nil, errors.New("registry base: no cache directory to unpack the base into (set CacheDir)")
	}
	refStr := s.Reference
	if refStr == "" {
		refStr = r.BaseReference()
	}
	var nameOpts []name.Option
	if s.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(refStr, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("base reference %q: %w", refStr, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithPlatform(Platform)}, s.Options...)
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w (no registry reachable? build the base with debootstrap: -base=debootstrap)", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	root := filepath.Join(s.CacheDir, "base-"+digest.Hex[:32])
	if !ready(root) {
		if err := unpack(img, root); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", ref, err)
		}
	}
	return &Base{Image: img, Root: root, Description: ref.Name() + "@" + digest.String()}, nil
}

// ready tells whether a cached tree is complete (see markReady).
func ready(dir string) bool {
	_, err := os.Stat(dir + ".ready")
	return err == nil
}

func markReady(dir string) error { return os.WriteFile(dir+".ready", nil, 0o644) }

// unpack extracts an image's file system (its layers flattened, whiteouts
// applied) into dir.
func unpack(img v1.Image, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := archive.Untar(rc, dir, &archive.TarOptions{NoLchown: os.Geteuid() != 0}); err != nil {
		return err
	}
	return markReady(dir)
}

// DebootstrapBase makes a recipe's base with debootstrap (variant minbase)
// from a Debian mirror, for machines that reach no registry. Its file
// system is trimmed like Debian's slim images (no documentation, manuals
// or locales, and dpkg told to install none) and becomes one layer.
type DebootstrapBase struct {
	Mirror   string
	CacheDir string
	Log      io.Writer
}

// slimDpkgConfig keeps documentation out of packages installed later, as
// debian:*-slim does.
const slimDpkgConfig = `# perouter images: no documentation, as in Debian's slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
`

// slimmed are removed from the debootstrap tree (what slimDpkgConfig
// excludes; copyright files stay).
var slimmed = []string{"usr/share/man", "usr/share/groff", "usr/share/info", "usr/share/lintian", "usr/share/linda", "usr/share/locale"}

// Base runs debootstrap once per suite (cached in CacheDir) and returns
// the tree as a one-layer image.
func (s *DebootstrapBase) Base(ctx context.Context, r Recipe) (*Base, error) {
	if s.CacheDir == "" {
		return nil, errors.New("debootstrap base: no cache directory for the tree (set CacheDir)")
	}
	root := filepath.Join(s.CacheDir, "debootstrap-"+r.Suite)
	if !ready(root) {
		if err := s.debootstrap(ctx, r.Suite, root); err != nil {
			return nil, err
		}
	}
	img, err := TreeImage(root, "debootstrap --variant=minbase "+r.Suite+" "+s.Mirror)
	if err != nil {
		return nil, err
	}
	return &Base{Image: img, Root: root, Description: "debootstrap " + r.Suite + " from " + s.Mirror}, nil
}

func (s *DebootstrapBase) debootstrap(ctx context.Context, suite, root string) error {
	if s.Mirror == "" {
		return errors.New("debootstrap base: no Debian mirror (set -mirror)")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap base: debootstrap is not installed (apt-get install debootstrap)")
	}
	tmp := root + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	args := []string{"--variant=minbase", suite, tmp, s.Mirror}
	// A host's debootstrap knows suites up to its next release; a newer
	// one (forky on bookworm) bootstraps like sid.
	if _, err := os.Stat("/usr/share/debootstrap/scripts/" + suite); err != nil {
		args = append(args, "/usr/share/debootstrap/scripts/sid")
	}
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s from %s: %w", suite, s.Mirror, err)
	}
	if err := Slim(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return err
	}
	return markReady(root)
}

// Slim trims a freshly bootstrapped Debian tree like Debian's slim images:
// documentation (copyright files aside), manuals and locales go, dpkg is
// told to install none later, and apt's package lists and downloaded
// archives are removed (the package step fetches fresh lists).
func Slim(root string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc/dpkg/dpkg.cfg.d"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/dpkg/dpkg.cfg.d/perouter-slim"), []byte(slimDpkgConfig), 0o644); err != nil {
		return err
	}
	for _, d := range slimmed {
		if err := emptyDir(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	for _, d := range []string{"var/lib/apt/lists", "var/cache/apt/archives", "var/log"} {
		if err := emptyFiles(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	// Documentation except copyright files.
	doc := filepath.Join(root, "usr/share/doc")
	return filepath.WalkDir(doc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || filepath.Base(p) == "copyright" {
			return nil
		}
		return os.Remove(p)
	})
}

// emptyDir removes what is in dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// emptyFiles removes the regular files under dir, keeping directories
// (apt's partial/ and auxfiles/ directories must exist).
func emptyFiles(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		return os.Remove(p)
	})
}

// excludedFromTree are left out of a tree's layer: a container runtime
// mounts its own /dev, /proc, /sys and /run; resolv.conf and hostname are
// the runtime's too.
var excludedFromTree = []string{"dev/*", "proc/*", "sys/*", "run/*", "tmp/*", "var/tmp/*", "etc/resolv.conf", "etc/hostname"}

// TreeImage makes a one-layer image of the file system at root, with
// Debian's default PATH; createdBy is the layer's history.
func TreeImage(root, createdBy string) (v1.Image, error) {
	layer, err := layerOf(func() (io.ReadCloser, error) {
		return archive.TarWithOptions(root, &archive.TarOptions{ExcludePatterns: excludedFromTree})
	})
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", root, err)
	}
	img, err := appendLayer(empty.Image, layer, createdBy)
	if err != nil {
		return nil, err
	}
	return mutate.Config(img, v1.Config{Env: []string{DefaultPath}, Cmd: []string{"bash"}})
}

// FallbackBase tries Primary and, when it fails, logs why and uses
// Fallback: a registry where one is reachable, debootstrap elsewhere.
type FallbackBase struct {
	Primary, Fallback BaseSource
	Log               io.Writer
}

func (s *FallbackBase) Base(ctx context.Context, r Recipe) (*Base, error) {
	b, err := s.Primary.Base(ctx, r)
	if err == nil {
		return b, nil
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "%s: %v\n%s: falling back\n", r.Name, err, r.Name)
	}
	return s.Fallback.Base(ctx, r)
}

// archiveErrMu serializes captureArchiveErrors: the hook sits on logrus's
// standard logger, which go-archive logs to.
var archiveErrMu sync.Mutex

// captureArchiveErrors runs f and fails when go-archive logged an error
// meanwhile: its tar writers log a file they cannot read and go on (at
// error level in TarWithOptions, at debug level in ExportChanges), which
// would leave a layer silently short of that file.
func captureArchiveErrors(f func() error) error {
	archiveErrMu.Lock()
	defer archiveErrMu.Unlock()
	hook := &errorHook{}
	std := logrus.StandardLogger()
	hooks := make(logrus.LevelHooks)
	hooks.Add(hook)
	old := std.ReplaceHooks(hooks)
	oldLevel, oldOut := std.GetLevel(), std.Out
	std.SetLevel(logrus.DebugLevel)
	std.SetOutput(io.Discard)
	defer func() {
		std.ReplaceHooks(old)
		std.SetLevel(oldLevel)
		std.SetOutput(oldOut)
	}()
	if err := f(); err != nil {
		return err
	}
	if len(hook.msgs) > 0 {
		return errors.New(strings.Join(hook.msgs, "; "))
	}
	return nil
}

type errorHook struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *errorHook) Fire(e *logrus.Entry) error {
	if e.Level > logrus.ErrorLevel && !strings.HasPrefix(e.Message, "Can't") {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, e.Message)
	return nil
}
