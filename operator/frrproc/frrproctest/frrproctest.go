// Package frrproctest holds test helpers for packages whose tests run real
// FRR daemons with frrproc: the precondition check, a throwaway network
// namespace and an instance stopped when the test ends.
package frrproctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/nsexec"
)

// RequireFRR stops a test that needs real FRR: under -short it skips with the
// reason; otherwise it fails when FRR or root privileges are missing, because
// a silently skipped FRR test would hide a broken lane.
func RequireFRR(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and real FRR daemons in a network namespace; run without -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create network namespaces and start FRR daemons")
	}
	for _, p := range []string{filepath.Join(frrproc.DefaultBinDir, "zebra"), frrproc.DefaultVtysh, "/usr/lib/frr/frr-reload.py"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("FRR is not installed (%v): apt-get install -y frr frr-pythontools", err)
		}
	}
}

// Netns creates a throwaway network namespace with lo up and deletes it
// when the test ends.
func Netns(t testing.TB) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "frrproctest-" + hex.EncodeToString(suffix)
	if err := nsexec.Add(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsexec.Delete(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return name
}

// Dir returns a path for an instance directory (frrproc.Options.Dir) that
// does not exist yet, below a parent removed when the test ends. A test that
// restarts FRR in the same directory passes it to Start each time.
func Dir(t testing.TB) string {
	t.Helper()
	// Not t.TempDir: its parent is mode 0700 and the daemons, running as
	// frr, must reach their socket directory.
	parent, err := os.MkdirTemp("", "frrproctest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(parent, "frr")
}

// Start starts FRR (in a fresh netns unless opts.Netns names one) and stops
// it when the test ends.
func Start(t testing.TB, opts frrproc.Options) *frrproc.Instance {
	t.Helper()
	if opts.Netns == "" {
		opts.Netns = Netns(t)
	}
	if opts.Dir == "" {
		opts.Dir = Dir(t)
	}
	inst, err := frrproc.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start FRR in netns %s: %v", opts.Netns, err)
	}
	// Registered after Netns's cleanup, so it runs first: daemons stop
	// before their namespace goes away.
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("stop FRR in netns %s: %v", opts.Netns, err)
		}
	})
	return inst
}
