package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/vtysh"
	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// TestClusterAgents brings up two cluster nodes with the real control
// plane, labeler, reloader, router FRR and controller, checks that the
// labeler numbers the nodes, and that Down leaves no process behind. The
// second case uses an API server started outside the lab, as the VM lane
// does, and applies manifests before the nodes start.
func TestClusterAgents(t *testing.T) {
	t.Run("own control plane", func(t *testing.T) { testClusterAgents(t, false) })
	t.Run("external control plane and manifests", func(t *testing.T) { testClusterAgents(t, true) })
}

func testClusterAgents(t *testing.T, external bool) {
	repo := repoRoot()
	var agentOpts Options
	if external {
		frrproctest.RequireFRR(t) // before starting the control plane
		cp, err := controlplane.Start(context.Background(), controlplane.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := cp.Stop(); err != nil {
				t.Errorf("stopping the external control plane: %v", err)
			}
		})
		agentOpts.Kubeconfig = cp.KubeconfigPath()
		agentOpts.Manifests = []string{filepath.Join(repo, "docs/examples/lab/l3vnis.yaml")}
	}
	_, lab, agents := startMiniCluster(t, agentOpts)
	var pids []string
	for _, f := range []string{"labeler.agent.pid", "c-worker/controller.agent.pid", "c-worker/reloader.agent.pid"} {
		data, err := os.ReadFile(filepath.Join(lab.StateDir(), f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		pids = append(pids, strings.TrimSpace(string(data)))
	}
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if external {
		if agents.ControlPlane() != nil {
			t.Error("agents started a control plane of their own despite Options.Kubeconfig")
		}
		out, err := exec.Command(kubectl, "--kubeconfig", agentOpts.Kubeconfig, "get", "l3vnis", "-A", "-o", "name").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "l3vni.network.perouter.io/blue\nl3vni.network.perouter.io/red" {
			t.Errorf("L3VNIs in the external API server: %q (%v), want blue and red from the manifests", out, err)
		}
	}
	// A miss is reported and the test goes on to check the agents.
	g := gomega.NewGomega(func(message string, _ ...int) {
		t.Helper()
		t.Errorf("nodes not numbered 0 and 1 by the labeler within a minute: %s\nlabeler log:\n%s", message, readFile(filepath.Join(lab.StateDir(), "labeler.log")))
	})
	g.Eventually(func() (string, error) {
		out, err := exec.Command(kubectl, "--kubeconfig", Kubeconfig(lab), "get", "nodes",
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.network\.perouter\.io/node-index}{"\n"}{end}`).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(gomega.BeElementOf("c-control-plane=0\nc-worker=1", "c-control-plane=1\nc-worker=0"))
	// The per-node agents are still running: a bad flag or a crash at
	// start would show here, with the reason in the log.
	for _, n := range []string{"c-control-plane", "c-worker"} {
		for _, agent := range []string{"controller", "reloader"} {
			data, _ := os.ReadFile(filepath.Join(lab.NodeDir(n), agent+".agent.pid"))
			if _, err := os.Stat("/proc/" + strings.TrimSpace(string(data))); err != nil {
				t.Errorf("%s on %s exited:\n%s", agent, n, readFile(filepath.Join(lab.NodeDir(n), agent+".log")))
			}
		}
	}
	if err := lab.Down(context.Background()); err != nil {
		t.Errorf("down: %v", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("process %s survived down", pid)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/netns", lab.RouterNamespace("c-worker"))); err == nil {
		t.Error("router namespace survived down")
	}
}

// TestRouterPodRestartGetsItsConfigBack restarts one node's router pod
// (RestartRouterPod: FRR and the reloader stop and start together, FRR
// empty, the state dir and the router namespace kept) under the real
// operator, and waits for FRR to run the node's config again. Nothing
// else changes: no input, no namespace.
func TestRouterPodRestartGetsItsConfigBack(t *testing.T) {
	ctx, lab, agents := startMiniCluster(t, Options{Manifests: []string{"testdata/underlay.yaml"}})
	t.Cleanup(func() {
		if err := lab.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	const node, want = "c-worker", "router bgp 64514"
	running := func() (string, error) {
		return vtysh.Cli{SocketDir: RouterFRRDir(lab, node)}.Run(ctx, "-c", "show running-config")
	}
	logs := func() string {
		return "reloader log:\n" + readFile(filepath.Join(lab.NodeDir(node), "reloader.log")) +
			"\ncontroller log:\n" + readFile(filepath.Join(lab.NodeDir(node), "controller.log"))
	}
	failed := false
	g := gomega.NewGomega(func(message string, _ ...int) {
		t.Helper()
		failed = true
		t.Errorf("%s\n%s", message, logs())
	})
	g.Eventually(running).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(gomega.ContainSubstring(want),
		"node %s: FRR never ran the underlay's config", node)
	if failed {
		return
	}
	restarted := time.Now()
	if err := agents.RestartRouterPod(ctx, lab, node); err != nil {
		t.Fatal(err)
	}
	g.Eventually(running).WithTimeout(time.Minute).WithPolling(500*time.Millisecond).Should(gomega.ContainSubstring(want),
		"node %s: FRR lacks its config a minute after the router pod restarted", node)
	if !failed {
		t.Logf("config back %v after the router pod restart", time.Since(restarted).Round(100*time.Millisecond))
		// Which of the two ways put it back: the reloader's restore from
		// its state dir, or the controller's push.
		for _, l := range strings.Split(logs(), "\n") {
			if strings.Contains(l, "state dir") || strings.Contains(l, "pushing it again") || strings.Contains(l, "reload applied") {
				t.Log(l)
			}
		}
	}
}

// repoRoot is the repository's top directory.
func repoRoot() string {
	repo, _ := filepath.Abs("../../..")
	return repo
}

// startMiniCluster builds the operator and brings testdata/mini-cluster.clab.yml
// up under a temporary state root with agents made from o (BinDir and
// CRDDir filled in). It needs FRR and the Kubernetes assets. ctx bounds
// the bring-up and what the test does next (5 minutes after the build)
// and ends at cleanup. Taking the lab down is the caller's, except after a
// failed Up.
func startMiniCluster(t *testing.T, o Options) (context.Context, *netns.Lab, *Agents) {
	t.Helper()
	frrproctest.RequireFRR(t)
	if _, err := k8sassets.Dir(); err != nil {
		t.Fatal(err)
	}
	repo := repoRoot()
	o.BinDir = buildOperator(t, repo)
	o.CRDDir = filepath.Join(repo, "operator/config/crd/bases")
	topo, err := topology.Load("testdata/mini-cluster.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "pesim-cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	var progress strings.Builder
	agents := New(o)
	opts := netns.Options{StateRoot: root, Progress: &progress, Agents: agents}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	lab, err := netns.Up(ctx, topo, opts)
	if err != nil {
		_ = netns.New(topo, opts).Down(context.Background()) // best effort: a clean machine first
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	return ctx, lab, agents
}

// buildOperator builds the operator's binaries into a temporary directory.
func buildOperator(t *testing.T, repo string) string {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/controller", "./cmd/reloader", "./cmd/labeler")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	return bin
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}
