package frr

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runFabricScript runs testdata/<name> (with testdata/fabric-lib.sh beside
// it) and the configs in work, in new network, PID and mount namespaces
// (its FRR instances die with it), and returns its output split at
// "=== <heading>" lines, keyed by heading; what came before the first
// heading is under "". The whole output is returned too, as evidence for
// failure messages.
func runFabricScript(t *testing.T, work, name string) (sections map[string]string, out string) {
	t.Helper()
	return runFabricScriptIn(t, "", work, name)
}

// runFabricScriptIn is runFabricScript inside the FRR root file system
// root (a chroot on a bind mount of itself, so that "ip netns exec" finds / a mount point, with its own /proc), or on the host when root is "";
// work must then lie inside root.
func runFabricScriptIn(t *testing.T, root, work, name string) (sections map[string]string, out string) {
	t.Helper()
	script := filepath.Join(work, name)
	// The scripts source fabric-lib.sh from their own directory.
	for _, f := range []string{name, "fabric-lib.sh"} {
		if err := copyFile(filepath.Join("testdata", f), filepath.Join(work, f)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"--net", "--pid", "--mount", "--fork", "--kill-child", "sh", script, work}
	if root != "" {
		inside := func(p string) string { return "/" + mustRel(t, root, p) }
		args = []string{"--net", "--pid", "--mount", "--fork", "--kill-child", "sh", "-c",
			`mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && exec chroot "$0" sh "$1" "$2"`, root, inside(script), inside(work)}
	}
	raw, err := exec.CommandContext(ctx, "unshare", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, raw)
	}
	sections = map[string]string{}
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		if h, ok := strings.CutPrefix(line, "=== "); ok {
			cur = h
			continue
		}
		sections[cur] += line + "\n"
	}
	return sections, string(raw)
}
