package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/topology"
)

// netnsEnv is the hermetic provider: it brings the lab up itself.
type netnsEnv struct {
	cfg    netnsConfig
	lab    *netns.Lab
	agents *cluster.Agents
	kube   client.Client

	mu      sync.Mutex
	hostFRR map[string]*frrproc.Instance
}

type netnsConfig struct {
	Topology  string
	BinDir    string
	CRDDir    string
	Manifests []string
	StateRoot string
	// FabricOnly leaves the cluster nodes as plain namespaces.
	FabricOnly bool
}

func newNetnsEnv(ctx context.Context, cfg netnsConfig) (*netnsEnv, error) {
	topo, err := topology.Load(cfg.Topology)
	if err != nil {
		return nil, err
	}
	opts := netns.Options{StateRoot: cfg.StateRoot, Progress: progressWriter{}}
	var agents *cluster.Agents
	if !cfg.FabricOnly {
		agents = cluster.New(cluster.Options{BinDir: cfg.BinDir, CRDDir: cfg.CRDDir, InVM: os.Getenv(envInVM) != "", Kubeconfig: os.Getenv(envKube), Manifests: cfg.Manifests})
		opts.Agents = agents
	}
	lab, err := netns.Up(ctx, topo, opts)
	env := &netnsEnv{cfg: cfg, lab: lab, agents: agents, hostFRR: map[string]*frrproc.Instance{}}
	if err != nil || cfg.FabricOnly {
		return env, err
	}
	env.kube, err = kubeClient(cluster.Kubeconfig(lab))
	return env, err
}

// progressWriter forwards the provider's progress lines to the Ginkgo log.
type progressWriter struct{}

func (progressWriter) Write(p []byte) (int, error) {
	fmt.Fprint(ginkgoWriter(), string(p))
	return len(p), nil
}

func kubeClient(kubeconfig string) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

func names(nodes []topology.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func (e *netnsEnv) ClusterNodes() []string {
	if e.agents == nil {
		return nil
	}
	return names(e.lab.Topo.NodesWithRole(topology.RoleClusterNode))
}

func (e *netnsEnv) FabricRouters() []string {
	return names(e.lab.Topo.NodesWithRole(topology.RoleRouter))
}

func (e *netnsEnv) EVPNLeaves() []string { return e.lab.EVPNLeaves() }

func (e *netnsEnv) Hosts(ctx context.Context) ([]Host, error) {
	hosts, err := e.lab.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, h := range hosts {
		out = append(out, Host{Name: h.Node, VRF: h.VRF, Address: h.Address, Leaf: h.Leaf})
	}
	return out, nil
}

func (e *netnsEnv) isClusterNode(node string) bool {
	n, ok := e.lab.Topo.Node(node)
	return ok && n.Role == topology.RoleClusterNode
}

func (e *netnsEnv) Exec(ctx context.Context, node string, cmd ...string) (string, error) {
	if _, ok := e.lab.Topo.Node(node); !ok {
		return "", fmt.Errorf("node %q is not in lab %s", node, e.lab.Topo.Name)
	}
	return e.lab.Exec(ctx, node, cmd...)
}

func (e *netnsEnv) ExecRouter(ctx context.Context, node string, cmd ...string) (string, error) {
	if !e.isClusterNode(node) {
		return "", fmt.Errorf("node %q is not a cluster node", node)
	}
	return e.lab.ExecIn(ctx, e.lab.RouterNamespace(node), cmd...)
}

func (e *netnsEnv) Vtysh(ctx context.Context, node string, commands ...string) (string, error) {
	if e.isClusterNode(node) {
		return e.lab.VtyshDir(ctx, cluster.RouterFRRDir(e.lab, node), commands...)
	}
	return e.lab.Vtysh(ctx, node, commands...)
}

func (e *netnsEnv) Kube() client.Client { return e.kube }

func (e *netnsEnv) StartHostBGP(ctx context.Context, node, config string) error {
	if !e.isClusterNode(node) {
		return fmt.Errorf("host BGP: %q is not a cluster node", node)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.hostFRR[node]; old != nil {
		_ = old.Stop()
	}
	inst, err := frrproc.Start(ctx, frrproc.Options{
		Netns:         e.lab.Namespace(node),
		Dir:           filepath.Join(e.lab.NodeDir(node), "host-frr"),
		Daemons:       []string{"zebra", "bgpd"},
		InitialConfig: config,
		Attempts:      frrproc.StartAttempts,
	})
	if err != nil {
		return fmt.Errorf("node %s: host FRR: %w", node, err)
	}
	e.hostFRR[node] = inst
	return nil
}

func (e *netnsEnv) Reboot(ctx context.Context, node string) error {
	if !e.isClusterNode(node) {
		return fmt.Errorf("reboot: %q is not a cluster node", node)
	}
	return e.lab.Reboot(ctx, node)
}

func (e *netnsEnv) RestartAgent(ctx context.Context, component, node string) error {
	if component == "labeler" {
		node = ""
	}
	return e.agents.Restart(e.lab, node, component)
}

func (e *netnsEnv) KillRouterFRR(ctx context.Context, node string) error {
	return e.agents.RestartRouter(ctx, e.lab, node, false)
}

func (e *netnsEnv) DeleteRouterNamespace(ctx context.Context, node string) error {
	return e.agents.RestartRouter(ctx, e.lab, node, true)
}

func (e *netnsEnv) RestartRouterPod(ctx context.Context, node string) error {
	return e.agents.RestartRouterPod(ctx, e.lab, node)
}

func (e *netnsEnv) Logs(node string) string {
	var b strings.Builder
	dir := e.lab.NodeDir(node)
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "==> %s (last 4 KiB) <==\n%s\n", f, tail(string(data), 4096))
	}
	return b.String()
}

// Restore tears the lab down and brings it up again as the suite started
// it: the same topology, agents and manifests (with an external API
// server the objects are applied again over what is there).
func (e *netnsEnv) Restore(ctx context.Context) error {
	if err := e.Close(ctx); err != nil {
		return fmt.Errorf("restore: down: %w", err)
	}
	fresh, err := newNetnsEnv(ctx, e.cfg)
	if fresh == nil {
		return fmt.Errorf("restore: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lab, e.agents, e.kube, e.hostFRR = fresh.lab, fresh.agents, fresh.kube, map[string]*frrproc.Instance{}
	if err != nil {
		return fmt.Errorf("restore: up: %w", err)
	}
	return nil
}

func (e *netnsEnv) Close(ctx context.Context) error {
	if e.lab == nil {
		return nil
	}
	return e.lab.Down(ctx)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
