package kubenode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartReportsContainerdExit: a containerd that dies at start (a bad
// config, a missing kernel feature in a guest) must fail Start at once,
// saying so. Before, the exit went unnoticed (nothing reaped the process,
// so its ProcessState stayed nil) and Start polled `ctr version` for the
// whole StartTimeout before reporting "not answering".
func TestStartReportsContainerdExit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and cgroups")
	}
	if err := Check(t.TempDir()); err != nil && !strings.Contains(err.Error(), "missing in") {
		t.Skip(err) // no CNI plugins, busybox or nsenter here
	}
	assets := t.TempDir()
	for _, b := range Binaries {
		script := "#!/bin/sh\nexit 1\n" // ctr: nothing answers
		if b == "containerd" {
			script = "#!/bin/sh\necho 'containerd: failing on purpose' >&2\nexit 3\n"
		}
		if err := os.WriteFile(filepath.Join(assets, b), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ns := fmt.Sprintf("perouter-test-kn-%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })

	const startTimeout = 30 * time.Second
	start := time.Now()
	n, err := Start(context.Background(), Options{
		Name: "exit-" + ns, Netns: ns, Dir: filepath.Join(t.TempDir(), "node"), AssetsDir: assets,
		Kubeconfig: "/nonexistent", APIServer: "127.0.0.1:1", StartTimeout: startTimeout,
		CgroupV2: UnifiedCgroups(),
	})
	took := time.Since(start)
	if err == nil {
		_ = n.Stop()
		t.Fatal("Start succeeded with a containerd that exits")
	}
	if !strings.Contains(err.Error(), "containerd exited") {
		t.Errorf("Start error %q does not say containerd exited", err)
	}
	if took > startTimeout/2 {
		t.Errorf("Start took %v to notice containerd's exit (StartTimeout %v)", took.Round(time.Millisecond), startTimeout)
	}
}
