package frr

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldensParseInFRR10 runs FRR 10's parser (vtysh -C) over every golden
// and loads the goldens into FRR 10 daemons, inside a Debian root
// file system, so the file stays valid for the FRR that newer images ship,
// not only for bookworm's 8.4. It is an extra
// lane: it needs PEROUTER_FRR10_ROOT, built once by hack/frr-rootfs.sh (make test-unit: forky, FRR 10.7.1)
// (make test sets it).
func TestGoldensParseInFRR10(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the FRR 10 parse")
	}
	root := os.Getenv("PEROUTER_FRR10_ROOT")
	if root == "" {
		t.Skip("PEROUTER_FRR10_ROOT is unset: no FRR 10 root file system to parse the goldens with (build one with hack/frr-rootfs.sh forky 10.7.1-6; make test-unit does)")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/vtysh")); err != nil {
		t.Fatalf("PEROUTER_FRR10_ROOT=%s has no FRR: %v (chroot %s apt-get install -y frr)", root, err, root)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "tmp"), "perouter-goldens-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	inRoot := "/" + mustRel(t, root, dir)
	version, err := exec.Command("chroot", root, "dpkg-query", "-W", "frr").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query -W frr in %s: %v\n%s", root, err, version)
	}
	t.Logf("%s", firstLine(string(version)))
	var loadable []string
	for name := range cases {
		loadable = append(loadable, goldenPath(name))
		t.Run("dry run/"+name, func(t *testing.T) {
			golden, err := os.ReadFile(goldenPath(name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".conf"), golden, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("chroot", root, "vtysh", "-C", "-f", inRoot+"/"+name+".conf").CombinedOutput()
			if err != nil {
				t.Errorf("FRR 10 rejects %s: %v\n%s", goldenPath(name), err, out)
			}
		})
	}
	// One bad config proves the load can fail here too (FRR 10 prints
	// progress lines that must not hide a complaint).
	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("router bgp 64514\n address-family l2vpn evpn\n  neighbor 10.9.9.9 activate\n exit-address-family\nexit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := loadAllIn(root, append(loadable, bad))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded[bad].problems) == 0 {
		t.Errorf("FRR 10 daemons accepted activate on an undefined neighbour")
	}
	for _, golden := range loadable {
		t.Run("running daemons/"+filepath.Base(golden), func(t *testing.T) {
			if r := loaded[golden]; len(r.problems) > 0 {
				t.Errorf("FRR 10 daemons rejected lines of %s:\n%s", golden, strings.Join(r.problems, "\n"))
			}
		})
	}
}

func mustRel(t *testing.T, base, target string) string {
	t.Helper()
	rel, err := filepath.Rel(base, target)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
