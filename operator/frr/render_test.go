package frr

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current renderer")

func goldenPath(name string) string { return filepath.Join("testdata", name+".golden") }

func TestRenderGolden(t *testing.T) {
	if len(cases) < 20 {
		t.Fatalf("only %d golden cases; the issue asks for at least 20", len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Render(c)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			again, err := Render(c)
			if err != nil || again != got {
				t.Fatalf("Render is not deterministic (err %v)", err)
			}
			if *update {
				if err := os.WriteFile(goldenPath(name), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath(name))
			if err != nil {
				t.Fatalf("%v (run go test ./operator/frr -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs from the golden (-golden +rendered); review and run with -update:\n%s", name, diff)
			}
		})
	}
}

// Every golden file must belong to a case, so a renamed case cannot leave a
// stale golden that nothing checks.
func TestNoStrayGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if _, ok := cases[name]; !ok {
			t.Errorf("%s has no case in cases_test.go", f)
		}
	}
}

// TestGoldensParseInRealFRR runs FRR's own parser over every golden:
// vtysh -C -f reads a whole config with the command trees of all daemons
// and exits non-zero on the first line it does not understand.
func TestGoldensParseInRealFRR(t *testing.T) {
	vtysh := requireVtysh(t)
	for name := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if out, err := vtyshCheck(vtysh, goldenPath(name)); err != nil {
				t.Errorf("FRR rejects %s: %v\n%s", goldenPath(name), err, out)
			}
		})
	}
}

// TestRealFRRRejectsInvalidConfigs proves the checks above can fail: FRR
// must reject configs that differ from a valid golden by one bad line, in
// each context the goldens use. vtysh -C only checks syntax (a token's type
// and the command tree); values checked by a daemon's handler (a route
// target's format, a neighbour that does not exist) pass it, so those
// mutations are only expected to fail when loaded into running daemons.
func TestRealFRRRejectsInvalidConfigs(t *testing.T) {
	vtysh := requireVtysh(t)
	valid, err := Render(cases["mixed"])
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]struct {
		after, insert string
		syntax        bool // a syntax error: vtysh -C must reject it too
	}{
		"top level garbage":          {"hostname worker-1\n", "this is not a command\n", true},
		"bad line in vrf":            {" vni 100\n", " vni 100 extra\n", true},
		"bad line in router bgp":     {"router bgp 64514\n", " neighbor 192.168.11.2 remote-as\n", true},
		"bad line in vrf instance":   {"router bgp 64514 vrf red\n", " bgp router-id 10.0.0.300\n", true},
		"bad line in evpn family":    {"  advertise-all-vni\n", "  advertise ipv5 unicast\n", true},
		"bad line in route-map":      {"route-map PEROUTER-FABRIC-IN permit 10\n", " match ip address\n", true},
		"bad line in bfd profile":    {" profile PEROUTER-BFD-rx100-tx100\n", "  receive-interval 5\n", true},
		"password injecting command": {" neighbor eth2 password pw1\n", "debug bgp updates extra\n", true},
		"malformed route target":     {"  advertise ipv4 unicast\n", "  route-target import notanrt\n", false},
		"undefined neighbour":        {"  advertise-all-vni\n", "  neighbor 10.9.9.9 activate\n", false},
		"undefined vrf instance asn": {"router bgp 64514 vrf red\n", " neighbor 192.169.10.3 remote-as 0\n", false},
	}
	requireFRRDaemons(t)
	dir := t.TempDir()
	paths := map[string]string{}
	for name, m := range mutations {
		if !strings.Contains(valid, m.after) {
			t.Fatalf("%s: anchor %q not in the rendered config", name, m.after)
		}
		bad := strings.Replace(valid, m.after, m.after+m.insert, 1)
		paths[name] = filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".conf")
		if err := os.WriteFile(paths[name], []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := loadAll(slices.Collect(maps.Values(paths)))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			if m.syntax {
				out, err := vtyshCheck(vtysh, paths[name])
				if err == nil {
					t.Errorf("vtysh -C accepted a config with %q after %q", m.insert, m.after)
				} else if !strings.Contains(out, "%") {
					t.Errorf("vtysh -C failed without FRR's error message: %v\n%s", err, out)
				}
			}
			r := loaded[paths[name]]
			if len(r.problems) == 0 {
				t.Errorf("running FRR accepted a config with %q after %q", m.insert, m.after)
			}
		})
	}
}

// TestGoldensLoadIntoRunningFRR loads every golden into freshly started
// zebra, bgpd, bfdd and staticd, which also runs the checks vtysh -C skips,
// and checks that the running config then holds every BGP instance and VRF.
func TestGoldensLoadIntoRunningFRR(t *testing.T) {
	requireVtysh(t)
	requireFRRDaemons(t)
	var paths []string
	for name := range cases {
		paths = append(paths, goldenPath(name))
	}
	loaded, err := loadAll(paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(golden), ".golden"), func(t *testing.T) {
			r := loaded[golden]
			if len(r.problems) > 0 {
				t.Fatalf("running FRR rejected lines of %s:\n%s", golden, strings.Join(r.problems, "\n"))
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(want), "\n") {
				if strings.HasPrefix(line, "router bgp ") || strings.HasPrefix(line, "vrf ") {
					if !slices.Contains(r.running, line) {
						t.Errorf("running config lacks %q after loading %s", line, golden)
					}
				}
			}
		})
	}
}

func requireFRRDaemons(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"unshare", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "/usr/lib/frr/staticd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%v: loading into running FRR needs util-linux and frr (apt-get install -y frr frr-pythontools)", err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("loading into running FRR needs root (network, PID and mount namespaces; daemons switching to user frr): run as root, or with -short to skip")
	}
}

type loadResult struct {
	problems, running []string
}

// loadAll applies each config to its own new FRR daemons (see
// testdata/load-into-frr.sh) and returns, per config, the lines FRR
// complained about and the running config's lines.
func loadAll(configs []string) (map[string]loadResult, error) {
	return loadAllIn("", configs)
}

// loadAllIn is loadAll with the FRR of the root file system rootfs ("" for
// this machine's).
func loadAllIn(rootfs string, configs []string) (map[string]loadResult, error) {
	// The daemons run as user frr and must reach the work directory, so it
	// cannot live under t.TempDir's private parent.
	base := ""
	if rootfs != "" {
		base = filepath.Join(rootfs, "tmp")
	}
	work, err := os.MkdirTemp(base, "perouter-frr-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, err
	}
	// Paths as the script sees them (inside rootfs).
	inside := func(p string) string { return "/" + strings.TrimPrefix(strings.TrimPrefix(p, rootfs), "/") }
	if rootfs == "" {
		inside = func(p string) string { return p }
	}
	script := filepath.Join(work, "load-into-frr.sh")
	run := filepath.Join(work, "run")
	if err := copyFile(filepath.Join("testdata", "load-into-frr.sh"), script); err != nil {
		return nil, err
	}
	if err := os.Mkdir(run, 0o755); err != nil {
		return nil, err
	}
	args := []string{"--net", "--pid", "--mount", "--fork", "--kill-child"}
	if rootfs != "" {
		args = append(args, "chroot", rootfs)
	}
	args = append(args, "sh", inside(script), inside(run))
	for i, c := range configs {
		dst := filepath.Join(work, fmt.Sprintf("config-%d.conf", i+1))
		if err := copyFile(c, dst); err != nil {
			return nil, err
		}
		args = append(args, inside(dst))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// --kill-child: if this test dies, the namespace's init dies, and the
	// kernel then kills every daemon in the PID namespace.
	if out, err := exec.CommandContext(ctx, "unshare", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("load-into-frr.sh: %v\n%s", err, out)
	}
	results := make(map[string]loadResult, len(configs))
	for i, c := range configs {
		out, err := os.ReadFile(filepath.Join(run, strconv.Itoa(i+1), "result"))
		if err != nil {
			return nil, err
		}
		before, after, found := strings.Cut(string(out), "=== running-config\n")
		if !found {
			return nil, fmt.Errorf("loading %s into FRR failed:\n%s", c, out)
		}
		var r loadResult
		for _, line := range strings.Split(before, "\n") {
			if strings.TrimSpace(line) != "" && !vtyshProgress.MatchString(line) {
				r.problems = append(r.problems, line)
			}
		}
		r.running = strings.Split(after, "\n")
		results[c] = r
	}
	return results, nil
}

// vtyshProgress matches what FRR 10's vtysh -f prints while it works, and
// bgpd's notice that graceful restart reaches only new sessions (the
// reloader resets them: Incremental.resetSessions); every other line it
// prints is a complaint.
var vtyshProgress = regexp.MustCompile(`^(\[\d+\|\w+\] (sending configuration|done)|Waiting for children to finish applying config\.\.\.|MGMTD: No connected daemons interested in changes|Graceful restart configuration changed, reset all peers to take effect)$`)

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func requireVtysh(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the real-FRR checks (vtysh -C -f, running daemons); CI runs them without -short")
	}
	path, err := exec.LookPath("vtysh")
	if err != nil {
		t.Fatalf("vtysh not found (%v): install FRR, e.g. apt-get install -y frr frr-pythontools", err)
	}
	return path
}

// vtyshCheck is a dry run: no daemon is contacted and nothing is applied.
func vtyshCheck(vtysh, path string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(vtysh, "-C", "-f", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
