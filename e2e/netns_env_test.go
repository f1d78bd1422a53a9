package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/netns/pods"
	"github.com/perouter/perouter/simulator/topology"
)

// netnsEnv is the hermetic provider: it brings the lab up itself, with the
// operator on its cluster nodes run one of two ways (nodeOperator).
type netnsEnv struct {
	cfg  netnsConfig
	lab  *netns.Lab
	op   nodeOperator
	kube client.Client

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
	// FabricFRRRoot is netns.Options.FabricFRRRoot.
	FabricFRRRoot string
	// Pods runs the operator as the chart's pods on real kubelets
	// (simulator/netns/pods) from the image archives in Images, instead
	// of as processes.
	Pods      bool
	Chart     string
	Kustomize string // install operator/config/default instead of the chart
	Images    []string
	// Kubeconfig and EgressListen: the pods mode in the VM lane, with the
	// API server on the host (pods.Options).
	Kubeconfig, EgressListen, ImageSeed string
}

func newNetnsEnv(ctx context.Context, cfg netnsConfig) (*netnsEnv, error) {
	topo, err := topology.Load(cfg.Topology)
	if err != nil {
		return nil, err
	}
	opts := netns.Options{StateRoot: cfg.StateRoot, Progress: progressWriter{}, FabricFRRRoot: cfg.FabricFRRRoot}
	var op nodeOperator
	switch {
	case cfg.FabricOnly:
	case cfg.Pods:
		opts := pods.Options{Chart: cfg.Chart, Kustomize: cfg.Kustomize, Images: cfg.Images, Kubeconfig: cfg.Kubeconfig, EgressListen: cfg.EgressListen, ImageSeed: cfg.ImageSeed}
		if os.Getenv(envInVM) != "" {
			// Under TCG: the image import of both images into each node's
			// containerd, and every pod's start, take minutes.
			opts.NodeTimeout, opts.ReadyTimeout = 10*time.Minute, 15*time.Minute
		}
		op = podsOperator{pods.New(opts)}
	default:
		op = processOperator{cluster.New(cluster.Options{BinDir: cfg.BinDir, CRDDir: cfg.CRDDir, InVM: os.Getenv(envInVM) != "", Kubeconfig: os.Getenv(envKube), Manifests: cfg.Manifests})}
	}
	if op != nil {
		opts.Agents = op
	}
	lab, err := netns.Up(ctx, topo, opts)
	env := &netnsEnv{cfg: cfg, lab: lab, op: op, hostFRR: map[string]*frrproc.Instance{}}
	if err != nil || cfg.FabricOnly {
		return env, err
	}
	if cfg.Pods {
		// The chart installed the CRDs; the lab's objects go through its
		// webhook, as a user's `kubectl apply` does.
		for _, m := range cfg.Manifests {
			if out, err := op.(podsOperator).Kubectl(ctx, lab, "", "apply", "-f", m); err != nil {
				return env, fmt.Errorf("kubectl apply -f %s: %w: %s", m, err, out)
			}
		}
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
	if e.op == nil {
		return nil
	}
	return names(e.lab.Topo.NodesWithRole(topology.RoleClusterNode))
}

func (e *netnsEnv) FabricRouters() []string {
	return names(e.lab.Topo.NodesWithRole(topology.RoleRouter))
}

func (e *netnsEnv) EVPNLeaves() []string { return e.lab.EVPNLeaves() }

func (e *netnsEnv) Hosts(ctx context.Context) ([]Host, error) {
	return labHosts(e.lab.Hosts(ctx))
}

func (e *netnsEnv) L2Hosts(ctx context.Context) ([]Host, error) {
	return labHosts(e.lab.L2Hosts(ctx))
}

func labHosts(hosts []netns.Host, err error) ([]Host, error) {
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, h := range hosts {
		out = append(out, Host{Name: h.Node, VRF: h.VRF, L2VNI: h.L2VNI, Address: h.Address, Leaf: h.Leaf})
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
	return e.op.ExecRouter(ctx, e.lab, node, cmd...)
}

func (e *netnsEnv) Vtysh(ctx context.Context, node string, commands ...string) (string, error) {
	if e.isClusterNode(node) {
		return e.op.Vtysh(ctx, e.lab, node, commands...)
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
	return e.op.RestartAgent(ctx, e.lab, component, node)
}

func (e *netnsEnv) KillRouterFRR(ctx context.Context, node string) error {
	return e.op.KillRouterFRR(ctx, e.lab, node)
}

func (e *netnsEnv) DeleteRouterNamespace(ctx context.Context, node string) error {
	return e.op.DeleteRouterNamespace(ctx, e.lab, node)
}

func (e *netnsEnv) RestartRouterPod(ctx context.Context, node string) error {
	return e.op.RestartRouterPod(ctx, e.lab, node)
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
	if e.op != nil && e.isClusterNode(node) {
		b.WriteString(e.op.Logs(e.lab, node))
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
	e.lab, e.op, e.kube, e.hostFRR = fresh.lab, fresh.op, fresh.kube, map[string]*frrproc.Instance{}
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

// nodeOperator is how the netns provider runs the operator on its cluster
// nodes: as processes the simulator starts (processOperator, the default)
// or as the chart's pods on real kubelets (podsOperator,
// PEROUTER_E2E_PODS=1). The specs see one Env either way; each fault is
// caused the way it happens in that world.
type nodeOperator interface {
	netns.ClusterAgents
	Vtysh(ctx context.Context, lab *netns.Lab, node string, commands ...string) (string, error)
	ExecRouter(ctx context.Context, lab *netns.Lab, node string, cmd ...string) (string, error)
	RestartAgent(ctx context.Context, lab *netns.Lab, component, node string) error
	KillRouterFRR(ctx context.Context, lab *netns.Lab, node string) error
	DeleteRouterNamespace(ctx context.Context, lab *netns.Lab, node string) error
	RestartRouterPod(ctx context.Context, lab *netns.Lab, node string) error
	// Logs are what the lab's files do not hold (pod logs).
	Logs(lab *netns.Lab, node string) string
}

// processOperator: the operator's binaries as plain processes.
type processOperator struct{ *cluster.Agents }

func (o processOperator) Vtysh(ctx context.Context, lab *netns.Lab, node string, commands ...string) (string, error) {
	return lab.VtyshDir(ctx, cluster.RouterFRRDir(lab, node), commands...)
}

func (o processOperator) ExecRouter(ctx context.Context, lab *netns.Lab, node string, cmd ...string) (string, error) {
	return lab.ExecIn(ctx, lab.RouterNamespace(node), cmd...)
}

func (o processOperator) RestartAgent(ctx context.Context, lab *netns.Lab, component, node string) error {
	return o.Restart(lab, node, component)
}

func (o processOperator) KillRouterFRR(ctx context.Context, lab *netns.Lab, node string) error {
	return o.RestartRouter(ctx, lab, node, false)
}

func (o processOperator) DeleteRouterNamespace(ctx context.Context, lab *netns.Lab, node string) error {
	return o.RestartRouter(ctx, lab, node, true)
}

func (o processOperator) Logs(*netns.Lab, string) string { return "" } // all in the lab's files

// podsOperator: the chart's pods; faults are what a user or the cluster
// does to pods: `kubectl delete pod`, a container killed.
type podsOperator struct{ *pods.Agents }

func (o podsOperator) RestartAgent(ctx context.Context, lab *netns.Lab, component, node string) error {
	switch component {
	case "controller":
		return o.DeletePod(ctx, lab, pods.Controller, node)
	case "labeler":
		return o.DeletePod(ctx, lab, pods.Labeler, "")
	case "reloader":
		return o.KillContainer(ctx, pods.Router, node, pods.ReloaderContainer)
	}
	return fmt.Errorf("restart %q: not a component of the chart", component)
}

func (o podsOperator) KillRouterFRR(ctx context.Context, lab *netns.Lab, node string) error {
	return o.KillContainer(ctx, pods.Router, node, pods.FRRContainer)
}

func (o podsOperator) RestartRouterPod(ctx context.Context, lab *netns.Lab, node string) error {
	return o.DeletePod(ctx, lab, pods.Router, node)
}

func (o podsOperator) Logs(lab *netns.Lab, node string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return o.PodLogs(ctx, lab, node, 60)
}
