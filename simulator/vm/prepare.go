// Package vm runs commands under a stock Debian kernel inside a QEMU virtual
// machine. It exists because the development and CI machines run a kernel
// without the VRF driver, while the production datapath (one Linux VRF per
// L3VNI) must be tested against a real kernel.
//
// The guest sees the host's root filesystem read-only over virtio-9p with a
// tmpfs overlay on top, so host binaries (Go test binaries, FRR, iproute2)
// run unchanged inside it and every guest write vanishes when it powers off.
// Results come back through a small writable 9p share. See NOTES.md §1 for
// the measurements behind the choices made here (PVH boot, TCG, one vCPU).
package vm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Kernel names a Debian kernel flavour the VM can boot.
type Kernel string

const (
	// Bookworm is Debian 12's linux-image-amd64 (6.1), the default.
	Bookworm Kernel = "bookworm"
	// Trixie is Debian 13's linux-image-amd64 (6.12).
	Trixie Kernel = "trixie"
)

// DefaultKernel is used when a caller leaves the kernel empty.
const DefaultKernel = Bookworm

// Kernels lists the kernels Prepare knows how to fetch.
var Kernels = []Kernel{Bookworm, Trixie}

func (k Kernel) orDefault() Kernel {
	if k == "" {
		return DefaultKernel
	}
	return k
}

func (k Kernel) valid() bool {
	for _, known := range Kernels {
		if k == known {
			return true
		}
	}
	return false
}

// Assets are the prepared files needed to boot a kernel.
type Assets struct {
	Kernel Kernel
	// Release is the kernel's `uname -r`, e.g. "6.1.0-56-amd64".
	Release string
	// Vmlinux is the uncompressed ELF kernel; QEMU boots it through its
	// PVH entry point, which skips the BIOS and the in-guest decompressor.
	Vmlinux string
	// ModulesDir is the unpacked /lib/modules/<release> tree, with modules.dep.
	ModulesDir string
	// Initramfs is an uncompressed newc cpio holding busybox and /init.
	Initramfs string
}

// CacheDir is where prepared kernels are kept: $PEROUTER_CACHE, else
// ~/.cache/perouter (via os.UserCacheDir).
func CacheDir() (string, error) {
	if dir := os.Getenv("PEROUTER_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vm: locating cache directory (set PEROUTER_CACHE): %w", err)
	}
	return filepath.Join(base, "perouter"), nil
}

// stampName marks a completely prepared kernel directory; its content is
// the kernel release. Everything is rebuilt when it is missing, so an
// interrupted Prepare never leaves a half-usable cache behind.
const stampName = "prepared"

// initramfsName changes whenever the generated /init changes, so a cached
// initramfs is never used with a stale script.
func initramfsName() string {
	sum := sha256.Sum256([]byte(initScript))
	return fmt.Sprintf("initramfs-%x.cpio", sum[:6])
}

// Prepare makes sure the kernel's assets exist in the cache and returns them.
// A cold call downloads the kernel package with `apt-get download` (it is
// never installed), unpacks it with `dpkg -x`, extracts vmlinux, generates
// modules.dep and builds the initramfs. A warm call only reads the cache.
// Concurrent callers (several test processes) are serialised by a file lock.
func Prepare(ctx context.Context, kernel Kernel) (Assets, error) {
	kernel = kernel.orDefault()
	if !kernel.valid() {
		return Assets{}, fmt.Errorf("vm: unknown kernel %q (known: %v)", kernel, Kernels)
	}
	cache, err := CacheDir()
	if err != nil {
		return Assets{}, err
	}
	dir := filepath.Join(cache, "kernels", string(kernel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Assets{}, fmt.Errorf("vm: creating cache %s: %w", dir, err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return Assets{}, err
	}
	defer unlock()

	if release, err := os.ReadFile(filepath.Join(dir, stampName)); err == nil {
		a, err := assetsIn(dir, kernel, strings.TrimSpace(string(release)))
		if err != nil {
			return Assets{}, err
		}
		if err := ensureInitramfs(ctx, a); err != nil {
			return Assets{}, err
		}
		return a, nil
	}
	return prepareCold(ctx, dir, kernel)
}

func assetsIn(dir string, kernel Kernel, release string) (Assets, error) {
	modules, err := findModulesDir(filepath.Join(dir, "root"), release)
	if err != nil {
		return Assets{}, err
	}
	return Assets{
		Kernel:     kernel,
		Release:    release,
		Vmlinux:    filepath.Join(dir, "vmlinux"),
		ModulesDir: modules,
		Initramfs:  filepath.Join(dir, initramfsName()),
	}, nil
}

// findModulesDir copes with bookworm's /lib/modules and trixie's
// merged-/usr /usr/lib/modules.
func findModulesDir(root, release string) (string, error) {
	for _, candidate := range []string{"lib/modules", "usr/lib/modules"} {
		dir := filepath.Join(root, candidate, release)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("vm: no module tree for %s under %s/{lib,usr/lib}/modules", release, root)
}

func prepareCold(ctx context.Context, dir string, kernel Kernel) (Assets, error) {
	for _, stale := range []string{"root", "deb", stampName} {
		if err := os.RemoveAll(filepath.Join(dir, stale)); err != nil {
			return Assets{}, fmt.Errorf("vm: cleaning %s: %w", dir, err)
		}
	}
	apt, err := aptFor(ctx, dir, kernel)
	if err != nil {
		return Assets{}, err
	}
	pkg, err := apt.imagePackage(ctx)
	if err != nil {
		return Assets{}, err
	}
	debDir := filepath.Join(dir, "deb")
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return Assets{}, err
	}
	if err := apt.download(ctx, debDir, pkg); err != nil {
		return Assets{}, err
	}
	debs, _ := filepath.Glob(filepath.Join(debDir, "*.deb"))
	if len(debs) != 1 {
		return Assets{}, fmt.Errorf("vm: expected one .deb for %s in %s, found %d", pkg, debDir, len(debs))
	}
	root := filepath.Join(dir, "root")
	if err := run(ctx, "", "dpkg", "-x", debs[0], root); err != nil {
		return Assets{}, err
	}
	// The package is not needed once unpacked; it is 70–110 MB.
	if err := os.RemoveAll(debDir); err != nil {
		return Assets{}, err
	}
	release := strings.TrimPrefix(pkg, "linux-image-")
	modules, err := findModulesDir(root, release)
	if err != nil {
		return Assets{}, err
	}
	// Debian's package ships no modules.dep (the postinst runs depmod).
	// busybox depmod takes a base directory; the module tree sits below
	// <base>/lib/modules, whichever of / and /usr that is.
	base := filepath.Dir(filepath.Dir(filepath.Dir(modules)))
	if err := run(ctx, "", busyboxPath, "depmod", "-b", base, release); err != nil {
		return Assets{}, err
	}
	if err := extractVmlinux(ctx, filepath.Join(root, "boot", "vmlinuz-"+release), filepath.Join(dir, "vmlinux")); err != nil {
		return Assets{}, err
	}
	a, err := assetsIn(dir, kernel, release)
	if err != nil {
		return Assets{}, err
	}
	if err := ensureInitramfs(ctx, a); err != nil {
		return Assets{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), []byte(release+"\n"), 0o644); err != nil {
		return Assets{}, err
	}
	return a, nil
}

// aptRunner runs apt with optional extra options that point it at a
// private sources list and state, leaving the system's lists untouched.
type aptRunner struct {
	opts []string
}

func aptFor(ctx context.Context, dir string, kernel Kernel) (aptRunner, error) {
	if systemSuiteIs(string(kernel)) {
		return aptRunner{opts: []string{"-o", "APT::Sandbox::User=root"}}, nil
	}
	mirror, err := systemMirror()
	if err != nil {
		return aptRunner{}, err
	}
	aptDir := filepath.Join(dir, "apt")
	for _, d := range []string{"lists/partial", "cache/archives/partial", "sources.list.d"} {
		if err := os.MkdirAll(filepath.Join(aptDir, d), 0o755); err != nil {
			return aptRunner{}, err
		}
	}
	sources := filepath.Join(aptDir, "sources.list")
	line := fmt.Sprintf("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n", mirror, kernel)
	if err := os.WriteFile(sources, []byte(line), 0o644); err != nil {
		return aptRunner{}, err
	}
	a := aptRunner{opts: []string{
		"-o", "Dir::Etc::SourceList=" + sources,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(aptDir, "sources.list.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(aptDir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(aptDir, "cache"),
		"-o", "APT::Sandbox::User=root",
		// Only the package index is needed, not translations or AppStream data.
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::CNF::DefaultEnabled=false",
	}}
	if err := run(ctx, "", "apt-get", append(a.opts, "update")...); err != nil {
		return aptRunner{}, fmt.Errorf("vm: apt-get update for suite %s on %s: %w", kernel, mirror, err)
	}
	return a, nil
}

// imagePackage resolves the linux-image-amd64 meta package to the versioned
// image package, whose name carries the kernel release.
func (a aptRunner) imagePackage(ctx context.Context) (string, error) {
	out, err := output(ctx, "apt-cache", append(a.opts, "depends", "linux-image-amd64")...)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "Depends:" && strings.HasPrefix(fields[1], "linux-image-") {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("vm: apt-cache depends linux-image-amd64 names no linux-image package:\n%s", out)
}

func (a aptRunner) download(ctx context.Context, dir, pkg string) error {
	return run(ctx, dir, "apt-get", append(a.opts, "download", pkg)...)
}

// systemSources returns the URIs and suites of the system's Debian sources,
// in both the one-line and the deb822 formats.
func systemSources() (uris, suites []string) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			key, value, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			switch strings.TrimSpace(key) {
			case "URIs":
				uris = append(uris, strings.Fields(value)...)
			case "Suites":
				suites = append(suites, strings.Fields(value)...)
			}
		}
	}
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append([]string{"/etc/apt/sources.list"}, lists...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != "deb" {
				continue
			}
			fields = fields[1:]
			if strings.HasPrefix(fields[0], "[") {
				for len(fields) > 0 && !strings.HasSuffix(fields[0], "]") {
					fields = fields[1:]
				}
				if len(fields) > 0 {
					fields = fields[1:]
				}
			}
			if len(fields) >= 2 {
				uris = append(uris, fields[0])
				suites = append(suites, fields[1])
			}
		}
	}
	return uris, suites
}

func systemSuiteIs(suite string) bool {
	_, suites := systemSources()
	for _, s := range suites {
		if s == suite {
			return true
		}
	}
	return false
}

// systemMirror picks the system's Debian archive mirror (not the security
// archive), so other suites are fetched from wherever the machine already
// reaches Debian.
func systemMirror() (string, error) {
	uris, _ := systemSources()
	for _, u := range uris {
		u = strings.TrimSuffix(u, "/")
		if strings.HasSuffix(u, "/debian") {
			return u, nil
		}
	}
	return "", fmt.Errorf("vm: no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list{,.d}")
}

const busyboxPath = "/bin/busybox"

// requireBusybox installs busybox-static when missing: its static binary is
// the whole userland of the initramfs.
func requireBusybox(ctx context.Context) error {
	if isStaticBusybox(busyboxPath) {
		return nil
	}
	if err := run(ctx, "", "apt-get", "install", "-y", "--no-install-recommends", "busybox-static"); err != nil {
		return fmt.Errorf("vm: installing busybox-static: %w", err)
	}
	if !isStaticBusybox(busyboxPath) {
		return fmt.Errorf("vm: %s is not a static busybox after installing busybox-static", busyboxPath)
	}
	return nil
}

func isStaticBusybox(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	// A dynamically linked binary names its loader in PT_INTERP; the
	// initramfs has no loader and no libc.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vm: %s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	return nil
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("vm: %s %s: %w\n%s", name, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return string(out), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vm: opening lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("vm: locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// readModulesDep parses modules.dep into module name → path of the module
// and its dependencies, relative to the module tree.
func readModulesDep(modulesDir string) (map[string][]string, error) {
	f, err := os.Open(filepath.Join(modulesDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		path, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[moduleName(path)] = append([]string{path}, strings.Fields(rest)...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(deps) == 0 {
		return nil, errors.New("vm: empty modules.dep in " + modulesDir)
	}
	return deps, nil
}

// moduleName maps "kernel/net/9p/9pnet_virtio.ko.xz" to "9pnet_virtio".
func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
