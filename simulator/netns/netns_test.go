package netns

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/simulator/topology"
)

// startMini brings the VRF-free test lab up in a private state root and
// registers Down as cleanup.
func startMini(t *testing.T) *Lab {
	t.Helper()
	frrproctest.RequireFRR(t)
	return startLab(t, "testdata/mini.clab.yml")
}

// startLab brings a test topology up in a private state root and
// registers Down (and a check that nothing is left) as cleanup.
func startLab(t *testing.T, topologyFile string) *Lab {
	t.Helper()
	topo, err := topology.Load(topologyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private, and FRR (user frr) must reach
	// its sockets under the state root.
	root, err := os.MkdirTemp("", "pesim-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	var progress strings.Builder
	opts := Options{StateRoot: root, Progress: &progress}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := Up(ctx, topo, opts)
	t.Cleanup(func() {
		if err := New(topo, opts).Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
		assertGone(t, lab)
	})
	if err != nil {
		t.Fatalf("up: %v\nprogress:\n%s", err, progress.String())
	}
	return lab
}

func assertGone(t *testing.T, lab *Lab) {
	t.Helper()
	for _, ns := range lab.namespaces() {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Errorf("namespace %s still exists after down", ns)
		}
	}
	if _, err := os.Stat(lab.StateDir()); err == nil {
		t.Errorf("state dir %s still exists after down", lab.StateDir())
	}
}

func pingUntil(t *testing.T, lab *Lab, node, addr string, within time.Duration) {
	t.Helper()
	pingInUntil(t, lab, lab.Namespace(node), addr, within)
}

// pingInUntil pings addr from the namespace ns until it answers.
func pingInUntil(t *testing.T, lab *Lab, ns, addr string, within time.Duration) {
	t.Helper()
	gomega.NewWithT(t).Eventually(func() error {
		out, err := lab.ExecIn(context.Background(), ns, "ping", "-c1", "-W1", addr)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	}).WithTimeout(within).WithPolling(200*time.Millisecond).Should(gomega.Succeed(), "%s cannot ping %s within %v", ns, addr, within)
}

func TestUpRoutesAcrossBGPAndBridge(t *testing.T) {
	lab := startMini(t)
	ctx := context.Background()
	peers, err := lab.BGPPeers(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].State != "Established" || peers[0].Address != "10.0.12.0" {
		t.Errorf("r1 peers = %+v, want one established session with 10.0.12.0", peers)
	}
	// h1 reaches r2's loopback only through the bridge, r1 and the route r1
	// learnt over BGP.
	pingUntil(t, lab, "h1", "10.99.0.2", 20*time.Second)
	pingUntil(t, lab, "h1", "10.10.0.12", 5*time.Second)
	// Links exist only inside the lab's namespaces.
	out, err := lab.Exec(ctx, "sw", "ip", "-o", "link", "show", "master", "sw")
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"sw-r1", "sw-h1", "sw-h2"} {
		if !strings.Contains(out, port+"@") {
			t.Errorf("bridge sw has no port %s:\n%s", port, out)
		}
	}
}

func TestRebootRecreatesNode(t *testing.T) {
	lab := startMini(t)
	ctx := context.Background()
	pingUntil(t, lab, "h2", "10.99.0.2", 20*time.Second)
	if err := lab.Reboot(ctx, "h2"); err != nil {
		t.Fatal(err)
	}
	pingUntil(t, lab, "h2", "10.99.0.2", 10*time.Second)
	if err := lab.Reboot(ctx, "r2"); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Errorf("reboot r2 = %v, want refusal naming the non-bridge peer", err)
	}
}

func TestDownAfterCrashAndUpOnDirtyMachine(t *testing.T) {
	lab := startMini(t)
	ctx := context.Background()
	// A crashed pesim leaves daemons running; a fresh Up must clean them
	// and come up again, with no daemon of the first run surviving.
	oldPID := lab.routers["r1"].PID("bgpd")
	lab2, err := Up(ctx, lab.Topo, lab.opts)
	if err != nil {
		t.Fatalf("up on a dirty machine: %v", err)
	}
	if alive(oldPID) {
		t.Errorf("bgpd %d of the first run survived the second up", oldPID)
	}
	pingUntil(t, lab2, "h1", "10.99.0.2", 20*time.Second)
	if err := lab2.Down(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, lab2)
	if pid := lab2.routers["r2"].PID("zebra"); alive(pid) {
		t.Errorf("zebra %d survived down", pid)
	}
}
