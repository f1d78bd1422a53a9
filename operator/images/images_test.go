package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var update = flag.Bool("update", false, "rewrite the Dockerfiles from the recipes")

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestDockerfilesMatchRecipes(t *testing.T) {
	root := repoRoot(t)
	if *update {
		if err := WriteDockerfiles(root); err != nil {
			t.Fatal(err)
		}
	}
	goVersion, err := GoVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Recipes() {
		t.Run(r.Name, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(root, r.Dockerfile))
			if err != nil {
				t.Fatalf("%v (render it: go run ./cmd/imagebuild -write-dockerfiles)", err)
			}
			if diff := cmp.Diff(Dockerfile(r, goVersion), string(got)); diff != "" {
				t.Errorf("%s differs from recipe %s (-recipe +file); edit images/recipe.go and run go run ./cmd/imagebuild -write-dockerfiles:\n%s", r.Dockerfile, r.Name, diff)
			}
		})
	}
}

// The recipes' own invariants: every file they name exists in the
// repository, the entrypoint is a file the recipe installs, paths are
// absolute and distinct.
func TestRecipes(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	for _, r := range Recipes() {
		t.Run(r.Name, func(t *testing.T) {
			if seen[r.Name] {
				t.Errorf("recipe name %q used twice", r.Name)
			}
			seen[r.Name] = true
			dests := map[string]bool{}
			for _, pkg := range r.GoBinaries {
				if _, err := os.Stat(filepath.Join(root, pkg, "main.go")); err != nil {
					t.Errorf("GoBinaries %s: %v", pkg, err)
				}
				dests[BinaryDest(pkg)] = true
			}
			for _, f := range r.Files {
				if _, err := os.Stat(filepath.Join(root, f.Source)); err != nil {
					t.Errorf("Files %s: %v", f.Source, err)
				}
				if !path.IsAbs(f.Dest) || dests[f.Dest] {
					t.Errorf("Files %s: destination %q is not absolute or is used twice", f.Source, f.Dest)
				}
				dests[f.Dest] = true
			}
			if len(r.Entrypoint) == 0 || !dests[r.Entrypoint[0]] {
				t.Errorf("entrypoint %v is no file the recipe installs (%v)", r.Entrypoint, dests)
			}
			if !slices.IsSorted(r.Packages) {
				t.Errorf("packages %v are not sorted (the Dockerfile and the cache key would change with the order)", r.Packages)
			}
		})
	}
}

func TestIgnored(t *testing.T) {
	for name, tc := range map[string]struct {
		path string
		want bool
	}{
		"apt log":             {"/var/log/apt/history.log", true},
		"dpkg log":            {"/var/log/dpkg.log", true},
		"alternatives log":    {"/var/log/alternatives.log", true},
		"log dir itself":      {"/var/log", false},
		"frr's log dir":       {"/var/log/frr", false},
		"package lists":       {"/var/lib/apt/lists/deb.debian.org_dists_trixie_InRelease", true},
		"resolv.conf":         {"/etc/resolv.conf", true},
		"policy-rc.d":         {"/usr/sbin/policy-rc.d", true},
		"vtysh":               {"/usr/bin/vtysh", false},
		"passwd":              {"/etc/passwd", false},
		"similar prefix":      {"/var/logger", false},
		"dpkg status":         {"/var/lib/dpkg/status", false},
		"dpkg status backup":  {"/var/lib/dpkg/status-old", true},
		"debconf":             {"/var/cache/debconf/config.dat", false},
		"frr run dir":         {"/run/frr", true},
		"frr config template": {"/etc/frr/daemons", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := ignored(tc.path); got != tc.want {
				t.Errorf("ignored(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestAptInstallScript(t *testing.T) {
	got := AptInstallScript([]string{"frr", "iproute2"})
	want := "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends frr iproute2 && apt-get clean && rm -rf /var/lib/apt/lists/*"
	if got != want {
		t.Errorf("AptInstallScript = %q, want %q", got, want)
	}
}

func TestGoVersion(t *testing.T) {
	for name, tc := range map[string]struct {
		gomod, want, err string
	}{
		"patch":      {gomod: "module x\n\ngo 1.26.0\n", want: "1.26"},
		"minor only": {gomod: "module x\ngo 1.25\n", want: "1.25"},
		"none":       {gomod: "module x\n", err: "no go directive"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tc.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := GoVersion(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("GoVersion error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("GoVersion = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// fakeTree writes a small Debian-like root file system.
func fakeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	files := map[string]string{
		"etc/os-release":         "PRETTY_NAME=\"fake trixie\"\n",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/bash\n",
		"bin/sh":                 "#!fake shell\n",
		"usr/bin/env":            "#!fake env\n",
		"usr/share/obsolete.txt": "removed by the package step\n",
		"var/log/dpkg.log":       "base log\n",
		"etc/resolv.conf":        "nameserver 192.0.2.1\n",
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/null-placeholder"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// treeBase serves a fake tree as a debootstrap base would.
type treeBase struct{ root string }

func (s treeBase) Base(_ context.Context, r Recipe) (*Base, error) {
	img, err := TreeImage(s.root, "fake base "+r.Suite)
	if err != nil {
		return nil, err
	}
	return &Base{Image: img, Root: s.root, Description: "fake tree " + s.root}, nil
}

// fakeInstall stands in for apt-get: it adds a file per package, changes
// one, deletes one and leaves the logs and lent files apt would.
func fakeInstall(_ context.Context, root string, packages []string) error {
	// As apt: "frr=10.7.1-6" installs the package frr.
	names := make([]string, len(packages))
	for i, p := range packages {
		names[i], _, _ = strings.Cut(p, "=")
	}
	packages = names
	for _, p := range packages {
		if err := os.MkdirAll(filepath.Join(root, "usr/share/fake-packages"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, "usr/share/fake-packages", p), []byte(p+"\n"), 0o644); err != nil {
			return err
		}
	}
	if slices.Contains(packages, "frr") {
		if err := os.WriteFile(filepath.Join(root, "usr/bin/vtysh"), []byte("#!fake vtysh\n"), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\nfrr:x:100:101::/nonexistent:/usr/sbin/nologin\n"), 0o644); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(root, "usr/share/obsolete.txt")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "var/log/apt"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "var/log/apt/history.log"), []byte(time.Now().String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 198.51.100.1\n"), 0o644)
}

func fakeGoBuild(_ context.Context, _, outDir string, packages []string) error {
	for _, p := range packages {
		if err := os.WriteFile(filepath.Join(outDir, path.Base(p)), []byte("fake binary of "+p+"\n"), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func fakeBuilder(t *testing.T, base BaseSource) *Builder {
	t.Helper()
	return &Builder{
		RepoRoot: repoRoot(t), Base: base, Install: fakeInstall, BuildGo: fakeGoBuild,
		Version: "v9.9.9", WorkDir: t.TempDir(),
	}
}

// entry is a file of an image's flattened file system.
type entry struct {
	hdr     *tar.Header
	content string
}

// fsOf reads an image's flattened file system (whiteouts applied).
func fsOf(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	return readTar(t, rc)
}

func readTar(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		// The first 64 KiB of each file: the real images are hundreds of MB.
		data, err := io.ReadAll(io.LimitReader(tr, 1<<16))
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")] = entry{hdr, string(data)}
	}
}

func layerFiles(t *testing.T, l v1.Layer) map[string]entry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return readTar(t, rc)
}

func TestBuildFromFakeTree(t *testing.T) {
	r, err := RecipeNamed("router")
	if err != nil {
		t.Fatal(err)
	}
	root := fakeTree(t)
	img, err := fakeBuilder(t, treeBase{root}).Build(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3 (base, packages, files)", len(layers))
	}

	pkgs := layerFiles(t, layers[1])
	for _, want := range []string{"/usr/bin/vtysh", "/etc/passwd", "/usr/share/.wh.obsolete.txt", "/usr/share/fake-packages/frr-pythontools"} {
		if _, ok := pkgs[want]; !ok {
			t.Errorf("package layer lacks %s; it has %v", want, slices.Sorted(maps.Keys(pkgs)))
		}
	}
	for p := range pkgs {
		if ignored(p) {
			t.Errorf("package layer has %s, which is ignored (apt's logs, lent files)", p)
		}
	}

	files := fsOf(t, img)
	start, err := os.ReadFile(filepath.Join(repoRoot(t), "operator/config/router/router-start.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]struct {
		content string
		mode    int64
	}{
		"/usr/local/bin/reloader":     {"fake binary of ./cmd/reloader\n", 0o755},
		"/usr/local/bin/router-start": {string(start), 0o755},
		"/usr/bin/vtysh":              {"#!fake vtysh\n", 0o755},
		"/etc/os-release":             {"PRETTY_NAME=\"fake trixie\"\n", 0o644},
	} {
		got, ok := files[p]
		if !ok {
			t.Errorf("image lacks %s", p)
			continue
		}
		// This repository's files belong to root whoever builds.
		ours := strings.HasPrefix(p, BinDir+"/")
		if got.content != want.content || got.hdr.Mode&0o7777 != want.mode || (ours && (got.hdr.Uid != 0 || got.hdr.Gid != 0)) {
			t.Errorf("%s: content %q mode %o owner %d:%d; want %q mode %o (owner 0:0 for ours)", p, got.content, got.hdr.Mode&0o7777, got.hdr.Uid, got.hdr.Gid, want.content, want.mode)
		}
	}
	for _, gone := range []string{"/usr/share/obsolete.txt", "/dev/null-placeholder", "/var/log/apt/history.log"} {
		if _, ok := files[gone]; ok {
			t.Errorf("image has %s", gone)
		}
	}
	if got := files["/etc/passwd"].content; !strings.Contains(got, "frr:") {
		t.Errorf("/etc/passwd is the base's, not the package step's: %q", got)
	}
	for p, e := range files {
		if !e.hdr.ModTime.Equal(Epoch) {
			t.Errorf("%s has time %s, want %s", p, e.hdr.ModTime, Epoch)
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Entrypoint, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-recipe +image):\n%s", diff)
	}
	if cf.Config.User != r.User || !slices.Contains(cf.Config.Env, DefaultPath) || cf.Config.Labels["org.opencontainers.image.version"] != "v9.9.9" {
		t.Errorf("config user %q env %v labels %v", cf.Config.User, cf.Config.Env, cf.Config.Labels)
	}
	if !cf.Created.Equal(Epoch) {
		t.Errorf("created %s, want %s", cf.Created, Epoch)
	}
	var createdBy []string
	for _, h := range cf.History {
		createdBy = append(createdBy, h.CreatedBy)
	}
	if len(createdBy) != 3 || createdBy[1] != "RUN "+AptInstallScript(r.Packages) {
		t.Errorf("history %q: want the base, the apt step, the files", createdBy)
	}
}

// Rebuilding from the same inputs gives the same image and the same
// archive bytes; the archive reads back as that image, named for
// containerd.
func TestBuildIsReproducible(t *testing.T) {
	r, err := RecipeNamed("perouter")
	if err != nil {
		t.Fatal(err)
	}
	root := fakeTree(t)
	out := t.TempDir()
	var digests []v1.Hash
	var sums []string
	for i := range 2 {
		img, err := fakeBuilder(t, treeBase{root}).Build(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		p := filepath.Join(out, fmt.Sprintf("perouter-%d.tar", i))
		if err := WriteArchive(p, img, "ghcr.io/perouter/perouter:v9.9.9"); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(data)))
		// The second build sees other file times in the tree.
		now := time.Now()
		if err := os.Chtimes(filepath.Join(root, "etc/os-release"), now, now); err != nil {
			t.Fatal(err)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds gave digests %s and %s", digests[0], digests[1])
	}
	if sums[0] != sums[1] {
		t.Errorf("two archives of the same image differ: sha256 %s and %s", sums[0], sums[1])
	}

	back, err := ReadArchive(filepath.Join(out, "perouter-0.tar"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := back.Digest(); err != nil || d != digests[0] {
		t.Errorf("archive reads back as %s (%v), want %s", d, err, digests[0])
	}
	names := archiveAnnotations(t, filepath.Join(out, "perouter-0.tar"))
	want := map[string]string{AnnotationContainerdName: "ghcr.io/perouter/perouter:v9.9.9", AnnotationRefName: "v9.9.9"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", diff)
	}
}

func archiveAnnotations(t *testing.T, archivePath string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if _, err := ReadArchive(archivePath, dir); err != nil {
		t.Fatal(err)
	}
	img, err := layoutIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The registry base: pulled from a registry (ggcr's in-process one, serving
// a base built here), its layers kept unchanged under the package and
// files layers, its PATH kept.
func TestBuildFromRegistryBase(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	baseImg, err := TreeImage(fakeTree(t), "fake debian:trixie-slim")
	if err != nil {
		t.Fatal(err)
	}
	baseImg, err = mutate.Config(baseImg, v1.Config{Env: []string{"PATH=/usr/bin:/bin:/custom"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/library/debian:trixie-slim", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, baseImg); err != nil {
		t.Fatal(err)
	}

	r, err := RecipeNamed("router")
	if err != nil {
		t.Fatal(err)
	}
	src := &RegistryBase{Reference: ref.String(), CacheDir: t.TempDir(), Insecure: true}
	img, err := fakeBuilder(t, src).Build(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, err := baseImg.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(baseLayers)+2 {
		t.Fatalf("%d layers, want the base's %d + packages + files", len(layers), len(baseLayers))
	}
	for i, bl := range baseLayers {
		want, _ := bl.Digest()
		got, _ := layers[i].Digest()
		if got != want {
			t.Errorf("layer %d is %s, want the registry base's %s unchanged", i, got, want)
		}
	}
	files := fsOf(t, img)
	for _, p := range []string{"/etc/os-release", "/usr/bin/vtysh", "/usr/local/bin/reloader", "/usr/local/bin/router-start"} {
		if _, ok := files[p]; !ok {
			t.Errorf("image lacks %s", p)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"PATH=/usr/bin:/bin:/custom"}, cf.Config.Env); diff != "" {
		t.Errorf("env (-base +image):\n%s", diff)
	}
}

// Where no registry answers, the registry base fails saying what to do,
// and FallbackBase uses the other source.
func TestUnreachableRegistryFallsBack(t *testing.T) {
	srv := httptest.NewServer(nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there now
	r, err := RecipeNamed("router")
	if err != nil {
		t.Fatal(err)
	}
	reg := &RegistryBase{Reference: host + "/library/debian:trixie-slim", CacheDir: t.TempDir(), Insecure: true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = reg.Base(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "-base=debootstrap") || !strings.Contains(err.Error(), host) {
		t.Fatalf("registry base error = %v; want one naming %s and -base=debootstrap", err, host)
	}
	var log strings.Builder
	root := fakeTree(t)
	b, err := (&FallbackBase{Primary: reg, Fallback: treeBase{root}, Log: &log}).Base(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if b.Root != root || !strings.Contains(log.String(), "falling back") {
		t.Errorf("fallback base root %s (want %s), log %q", b.Root, root, log.String())
	}
}

// layoutIndex returns the annotations of the one image in an OCI layout.
func layoutIndex(dir string) (map[string]string, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("%d manifests, want 1", len(im.Manifests))
	}
	return im.Manifests[0].Annotations, nil
}

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// TestArchiveReference reads back the reference WriteArchive named the
// image by, and refuses what is not such an archive.
func TestArchiveReference(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "router.tar")
	if err := WriteArchive(archive, empty.Image, "ghcr.io/perouter/router:v1.2.3"); err != nil {
		t.Fatal(err)
	}
	got, err := ArchiveReference(archive)
	if err != nil {
		t.Fatal(err)
	}
	if got != "ghcr.io/perouter/router:v1.2.3" {
		t.Errorf("ArchiveReference = %q, want ghcr.io/perouter/router:v1.2.3", got)
	}
	notArchive := filepath.Join(dir, "empty.tar")
	if err := os.WriteFile(notArchive, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ArchiveReference(notArchive); err == nil || !strings.Contains(err.Error(), "no index.json") {
		t.Errorf("ArchiveReference of a tar without index.json: err %v, want one saying no index.json", err)
	}
}
