package kubenode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestKillCgroupCatchesForks: a node's containers can fork while they are
// being killed (a shell loop, a restarting daemon). A single pass over
// cgroup.procs misses the children forked after the read, and the node's
// cgroups then cannot be removed ("device or resource busy"), which once
// failed a lab's teardown. killCgroup kills until the cgroup is empty.
func TestKillCgroupCatchesForks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a cgroup")
	}
	dir := filepath.Join(cgroupV1Root, "pids", fmt.Sprintf("perouter-test-kill-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if _, err := os.Stat(filepath.Dir(dir)); err != nil {
		t.Skipf("no cgroup v1 pids hierarchy here (%v)", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = killCgroup([]string{dir}); _ = removeCgroupRoot([]string{dir}) })

	// A forker: a shell that starts a short-lived child every few
	// milliseconds, itself in the cgroup from its first instruction.
	cmd := exec.Command("sh", "-c", "while :; do sleep 0.005 & done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	if err := killCgroup([]string{dir}); err != nil {
		t.Fatalf("killCgroup: %v", err)
	}
	if err := removeCgroupRoot([]string{dir}); err != nil {
		t.Fatalf("the cgroup is not empty after killCgroup: %v", err)
	}
}
