package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/nsexec"
)

const bootSkip = "boots a QEMU VM (~10–30 s under TCG); skipped with -short"

// runInVM boots the default kernel and returns the exit code and output.
func runInVM(t *testing.T, opts Options) (int, string) {
	t.Helper()
	var out, console bytes.Buffer
	opts.Stdout = &out
	opts.Console = &console
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	start := time.Now()
	code, err := Run(context.Background(), opts)
	t.Logf("run of %q took %v", opts.Command, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Run(%q): the VM lane failed: %v", opts.Command, err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("guest console:\n%s", initLines(console.String()))
	}
	return code, out.String()
}

func initLines(console string) string {
	var lines []string
	for _, l := range strings.Split(console, "\n") {
		if strings.HasPrefix(l, "vm-init:") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func TestRunCreatesVRFInRootAndNamedNetns(t *testing.T) {
	if testing.Short() {
		t.Skip(bootSkip)
	}
	// ip netns add needs a writable /run and bind mounts; the VRF in a
	// named netns is what hostnet tests do.
	script := `set -e
ip link add v0 type vrf table 10
ip -d link show v0
ip netns add t1
ip -n t1 link add v1 type vrf table 11
ip -n t1 -d link show v1
ip netns del t1
touch /tmp/writable`
	code, out := runInVM(t, Options{Command: []string{"sh", "-c", script}})
	if code != 0 {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	for _, want := range []string{"vrf table 10", "vrf table 11"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("output contains carriage returns: %q", out)
	}
}

func TestRunReturnsExitCodeInWorkDirWithEnv(t *testing.T) {
	if testing.Short() {
		t.Skip(bootSkip)
	}
	code, out := runInVM(t, Options{
		Command: []string{"sh", "-c", `echo "$PWD"; echo "$GREETING"; echo "$HOME"; exit 7`},
		WorkDir: "/usr/share",
		Env:     []string{"GREETING=it's a 'quoted' value", "HOME=/nonexistent"},
		Modules: []string{},
	})
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	want := "/usr/share\nit's a 'quoted' value\n/nonexistent\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s", diff)
	}
}

func TestRunFailsLoudlyWhenTheLaneCannotStart(t *testing.T) {
	if testing.Short() {
		t.Skip(bootSkip)
	}
	var out bytes.Buffer
	code, err := Run(context.Background(), Options{
		Command: []string{"true"},
		Modules: []string{"perouter_no_such_module"},
		Stdout:  &out,
		Timeout: 5 * time.Minute,
	})
	if err == nil {
		t.Fatalf("Run with an unloadable module succeeded with exit code %d, want a lane error", code)
	}
	if code != -1 {
		t.Errorf("exit code %d with a lane error, want -1", code)
	}
	if !strings.Contains(err.Error(), "perouter_no_such_module") {
		t.Errorf("error does not name the module: %v", err)
	}
}

func TestHasVRFAgreesWithNamedNetnsProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	ns := fmt.Sprintf("perouter-vrf-probe-%d", os.Getpid())
	if err := nsexec.Add(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsexec.Delete(context.Background(), ns); err != nil {
			t.Error(err)
		}
	})
	out, err := nsexec.Command(context.Background(), ns, "ip", "link", "add", "v0", "type", "vrf", "table", "10").CombinedOutput()
	kernelHasVRF := err == nil
	t.Logf("ip link add type vrf in netns %s: err=%v output=%q", ns, err, out)

	if got := HasVRF(); got != kernelHasVRF {
		t.Errorf("HasVRF() = %v, but creating a VRF in a fresh netns succeeded=%v", got, kernelHasVRF)
	}
}

func TestBootModuleFilesOrdersDependenciesFirst(t *testing.T) {
	tests := map[string]struct {
		modulesDep string
		builtin    string
		want       []string
		wantErr    string
	}{
		"bookworm: all modular": {
			modulesDep: `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/overlayfs/overlay.ko:
kernel/drivers/net/vrf.ko:
`,
			builtin: "",
			want: []string{
				"kernel/drivers/virtio/virtio.ko",
				"kernel/drivers/virtio/virtio_ring.ko",
				"kernel/drivers/virtio/virtio_pci.ko",
				"kernel/net/9p/9pnet.ko",
				"kernel/net/9p/9pnet_virtio.ko",
				"kernel/fs/netfs/netfs.ko",
				"kernel/fs/9p/9p.ko",
				"kernel/fs/overlayfs/overlay.ko",
			},
		},
		"trixie: virtio built in, modules compressed": {
			modulesDep: `kernel/net/9p/9pnet.ko.xz:
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz
kernel/fs/netfs/netfs.ko.xz:
kernel/fs/overlayfs/overlay.ko.xz:
`,
			builtin: "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n",
			want: []string{
				"kernel/net/9p/9pnet.ko.xz",
				"kernel/fs/netfs/netfs.ko.xz",
				"kernel/net/9p/9pnet_virtio.ko.xz",
				"kernel/fs/9p/9p.ko.xz",
				"kernel/fs/overlayfs/overlay.ko.xz",
			},
		},
		"missing overlay": {
			modulesDep: "kernel/drivers/virtio/virtio_pci.ko:\nkernel/net/9p/9pnet_virtio.ko:\nkernel/fs/9p/9p.ko:\n",
			wantErr:    "module overlay is neither",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(tc.modulesDep), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(tc.builtin), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := bootModuleFiles(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("bootModuleFiles error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("boot modules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCRStripperRemovesSerialCarriageReturns(t *testing.T) {
	tests := map[string]struct {
		writes []string
		want   string
	}{
		"crlf lines":          {writes: []string{"a\r\nb\r\n"}, want: "a\nb\n"},
		"split across writes": {writes: []string{"a\r", "\nb"}, want: "a\nb"},
		"no carriage return":  {writes: []string{"plain\n"}, want: "plain\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &crStripper{w: &buf}
			for _, s := range tc.writes {
				n, err := w.Write([]byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
				}
			}
			if diff := cmp.Diff(tc.want, buf.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
