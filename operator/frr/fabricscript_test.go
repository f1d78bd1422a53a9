package frr

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runFabricScript runs testdata/<name> with the configs in work, in new
// network, PID and mount namespaces (its FRR instances die with it), and
// returns its output split at "=== <heading>" lines, keyed by heading;
// what came before the first heading is under "". The whole output is
// returned too, as evidence for failure messages.
func runFabricScript(t *testing.T, work, name string) (sections map[string]string, out string) {
	t.Helper()
	script := filepath.Join(work, name)
	if err := copyFile(filepath.Join("testdata", name), script); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	raw, err := exec.CommandContext(ctx, "unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "sh", script, work).CombinedOutput()
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
