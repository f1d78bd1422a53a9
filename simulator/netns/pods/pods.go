// Package pods runs the operator on the netns provider's cluster nodes the
// way users install it: every cluster node runs a real kubelet and
// containerd in its namespace (simulator/kubenode), the images come from
// the OCI archives `make images` writes, and charts/perouter is installed
// with Helm's Go library. The simulator starts no operator process: the
// router, controller and labeler are the chart's pods.
//
// What a real cluster has and this one gets from the lab:
//   - The API server (simulator/controlplane) runs in the root namespace.
//     Pods reach it at the `kubernetes` Service's ClusterIP (there is no
//     kube-proxy): each node's namespace holds the ClusterIP on lo and a
//     forwarder (kubenode.Options.KubernetesService); the serving
//     certificate names the ClusterIP (controlplane.Options.ServingIPs).
//   - The API server reaches kubelets and pod IPs (the labeler's webhook)
//     through its "cluster" egress, an HTTP CONNECT proxy that dials inside
//     the right node's namespace (kubenode.KubeletProxy); with
//     --enable-aggregator-routing it calls a webhook Service at its
//     endpoints' pod IPs, as on clusters whose control plane runs no
//     kube-proxy.
//   - ServiceAccount tokens are the kubelet's TokenRequest-projected tokens,
//     signed with the API server's service-account key; the
//     kube-root-ca.crt ConfigMap comes from kube-controller-manager.
//   - Each node has a pod network of its own (bridge CNI, PodCIDR) and a
//     mount namespace of its own in which every hostPath directory of the
//     chart is private to the node (kubenode.Options.PrivateDirs): the
//     router pod's `ip netns add perouter` and the reloader's socket then
//     live on that node only, as on separate machines.
package pods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/chartinstall"
	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/kubenode"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/topology"
)

// The cluster's address plan. The Service range is kubeadm's default; it
// keeps clear of the operator's default router-id pool (10.0.0.0/24),
// which envtest's default Service range (10.0.0.0/24) overlaps.
const (
	ServiceCIDR = "10.96.0.0/16"
	// KubernetesServiceIP is the `kubernetes` Service's ClusterIP (the
	// first address of ServiceCIDR, which the API server reserves for it).
	KubernetesServiceIP = "10.96.0.1"
	// PodCIDRs holds one /24 per node (node i gets 10.244.i.0/24).
	PodCIDRs = "10.244.0.0/16"
	// NodeIPs holds one management address per node (node i gets
	// 10.255.0.<i+1>, on lo of its namespace): the kubelet's node IP.
	// It is not an underlay NIC's address, which the controller moves
	// into the router namespace.
	NodeIPs = "10.255.0.0/24"
)

// Options configure the agents.
type Options struct {
	// Chart is the chart directory (charts/perouter).
	Chart string
	// Kustomize, when set, is a kustomization directory
	// (operator/config/default) installed instead of the chart, as
	// `kubectl apply -k` does: built with kustomize's Go library, applied
	// server-side. Its image references must be the archives' (they are
	// when `make images` tagged them with the chart's appVersion).
	Kustomize string
	// Images are the OCI archives of the chart's images (bin/images/*.tar);
	// the perouter and router images are matched by repository.
	Images []string
	// AssetsDir holds the Kubernetes binaries; empty means k8sassets.Dir().
	AssetsDir string
	// ReadyTimeout bounds the wait from the install until every pod of
	// the chart is Ready and the webhook answers; zero means 5 minutes.
	ReadyTimeout time.Duration
	// NodeTimeout bounds each node's containerd start and image import,
	// and then the wait for its Node to be Ready; zero means 2 minutes
	// each.
	NodeTimeout time.Duration

	// Kubeconfig, when set, is the admin kubeconfig of an API server that
	// runs elsewhere with ControlPlaneOptions' flags and certificate and
	// kube-scheduler and kube-controller-manager beside it: the VM lane's,
	// on the host (cluster.LaneRun with KubeletNodes). The agents then
	// start no control plane, and serve the API server's "cluster" egress
	// (kubelets, webhooks on pod IPs) on EgressListen, a TCP address the
	// API server's egress configuration reaches.
	Kubeconfig   string
	EgressListen string
	// ImageSeed is kubenode.Options.ImageSeed for every node.
	ImageSeed string
}

// Agents implements netns.ClusterAgents with kubelets and the chart.
type Agents struct {
	opts Options

	mu     sync.Mutex
	assets string
	cp     *controlplane.ControlPlane
	// kubeconfig, apiServer (host:port) and kubectl are the control
	// plane's, whether the agents started it or it runs elsewhere.
	kubeconfig, apiServer, kubectl string
	ctrls                          *kubenode.Controllers
	proxy                          *kubenode.KubeletProxy
	nodes                          map[string]*kubenode.Node
	private                        []string
	values                         map[string]any
	client                         kubernetes.Interface
	timings                        []Timing
	released                       *release.Release
	// restoreSysctls puts back the host-wide sysctls the kubelets set
	// (kubenode.HostSysctls): the lab leaves the machine as it found it.
	restoreSysctls func() error
	// tags are the references TagImage added (new → existing), given
	// again to every node that (re)starts: the lab's stand-in for a
	// registry keeps them.
	tags map[string]string
}

// Timing is one measured step of the bring-up.
type Timing struct {
	Step string
	Took time.Duration
}

var _ netns.ClusterAgents = (*Agents)(nil)

// New returns agents that start nothing until the provider calls them.
func New(opts Options) *Agents {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 5 * time.Minute
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = 2 * time.Minute
	}
	return &Agents{opts: opts, nodes: map[string]*kubenode.Node{}}
}

// Kubeconfig is the admin kubeconfig of the lab's API server.
func Kubeconfig(l *netns.Lab) string { return cluster.Kubeconfig(l) }

// ControlPlane is the running API server (nil before StartCluster, and
// when it runs elsewhere: Options.Kubeconfig).
func (a *Agents) ControlPlane() *controlplane.ControlPlane {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cp
}

// Node is a cluster node's kubelet (nil when it does not run).
func (a *Agents) Node(name string) *kubenode.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[name]
}

// Timings are the measured steps so far.
func (a *Agents) Timings() []Timing {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Timing(nil), a.timings...)
}

// Values are the Helm values the lab installed the chart with.
func (a *Agents) Values() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.values
}

func (a *Agents) measure(l *netns.Lab, step string, since time.Time) {
	took := time.Since(since)
	a.mu.Lock()
	a.timings = append(a.timings, Timing{Step: step, Took: took})
	a.mu.Unlock()
	logf(l, "%s: %v", step, took.Round(10*time.Millisecond))
}

func logf(l *netns.Lab, format string, args ...any) {
	fmt.Fprintf(l.Progress(), "[pods] %s\n", fmt.Sprintf(format, args...))
}

// StartCluster starts the control plane, the kubelet of every cluster
// node, installs the chart and waits until its pods are Ready, every Node
// has its index and the webhook answers.
func (a *Agents) StartCluster(ctx context.Context, l *netns.Lab) error {
	if err := a.prepare(); err != nil {
		return err
	}
	restore, err := kubenode.SaveHostSysctls()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.restoreSysctls = restore
	a.mu.Unlock()
	if err := a.startControlPlane(ctx, l); err != nil {
		return err
	}
	start := time.Now()
	nodes := l.Topo.NodesWithRole(topology.RoleClusterNode)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = a.startNode(ctx, l, n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.measure(l, fmt.Sprintf("%d kubelet nodes Ready", len(nodes)), start)

	start = time.Now()
	install, step := a.install, "helm install"
	if a.opts.Kustomize != "" {
		install, step = a.applyKustomization, "kubectl apply -k"
	}
	if err := install(ctx, l); err != nil {
		return err
	}
	a.measure(l, step, start)
	if err := a.WaitReady(ctx, l); err != nil {
		return err
	}
	a.measure(l, "install → every pod Ready, nodes indexed, webhook answering", start)
	return nil
}

// prepare checks the inputs and derives the values and private
// directories from the chart.
func (a *Agents) prepare() error {
	assets := a.opts.AssetsDir
	if assets == "" {
		var err error
		if assets, err = k8sassets.Dir(); err != nil {
			return err
		}
	}
	if err := kubenode.Check(assets); err != nil {
		return err
	}
	values, err := chartinstall.ArchiveValues(a.opts.Images)
	if err != nil {
		return err
	}
	var private []string
	if a.opts.Kustomize != "" {
		manifest, err := kustomizeBuild(a.opts.Kustomize)
		if err != nil {
			return err
		}
		if private, err = manifestHostPaths(manifest); err != nil {
			return fmt.Errorf("kustomize build %s: %w", a.opts.Kustomize, err)
		}
		private = outermost(private)
	} else {
		chrt, err := loader.Load(a.opts.Chart)
		if err != nil {
			return fmt.Errorf("loading chart %s: %w", a.opts.Chart, err)
		}
		if private, err = HostPaths(chrt, values); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.assets, a.values, a.private = assets, values, private
	a.mu.Unlock()
	return nil
}

// kustomizeBuild is `kustomize build DIR`, with kustomize's Go library.
func kustomizeBuild(dir string) (string, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return "", fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return "", fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return string(out), nil
}

// applyKustomization installs the kustomization as `kubectl apply -k`
// would (server-side, so the CRDs' size is no concern).
func (a *Agents) applyKustomization(ctx context.Context, l *netns.Lab) error {
	manifest, err := kustomizeBuild(a.opts.Kustomize)
	if err != nil {
		return err
	}
	if out, err := a.Kubectl(ctx, l, manifest, "apply", "--server-side", "-f", "-"); err != nil {
		return fmt.Errorf("kubectl apply -k %s: %w: %s", a.opts.Kustomize, err, out)
	}
	logf(l, "applied kustomization %s", a.opts.Kustomize)
	return nil
}

// HostPaths renders the chart with values and returns the hostPath
// directories its pods mount, symlinks resolved, without those inside
// another: what each simulated node must have of its own.
func HostPaths(chrt *chart.Chart, values map[string]any) ([]string, error) {
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.ReleaseName, install.Namespace = true, true, chartinstall.ReleaseName, chartinstall.ReleaseNamespace
	install.IncludeCRDs = false
	rel, err := install.Run(chrt, values)
	if err != nil {
		return nil, fmt.Errorf("rendering chart %s: %w", chrt.Name(), err)
	}
	paths, err := manifestHostPaths(rel.Manifest)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", chrt.Name(), err)
	}
	return paths, nil
}

// manifestHostPaths are the hostPath directories the pod templates of a
// multi-document manifest mount (see HostPaths).
func manifestHostPaths(manifest string) ([]string, error) {
	var paths []string
	for _, doc := range strings.Split(manifest, "\n---") {
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		for _, v := range obj.Spec.Template.Spec.Volumes {
			if v.HostPath != nil {
				paths = append(paths, resolve(v.HostPath.Path))
			}
		}
	}
	return outermost(paths), nil
}

// resolve resolves the symlinks of the longest existing prefix of p
// (/var/run/x becomes /run/x on Debian).
func resolve(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for dir := p; dir != "/"; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
	}
	return p
}

// outermost drops duplicates and paths inside another path of the list.
func outermost(paths []string) []string {
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		if len(out) > 0 {
			last := out[len(out)-1]
			if p == last || strings.HasPrefix(p, last+"/") {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// ControlPlaneOptions are the API server's flags and serving addresses
// this cluster needs beside the egress configuration (see
// startControlPlane for why each): the same whether the agents start it
// or the VM lane's host does (Options.Kubeconfig).
func ControlPlaneOptions() (apiServerFlags map[string]string, servingIPs []net.IP) {
	return map[string]string{
		// Webhook Services are called at their endpoints (pod IPs),
		// which the egress proxy reaches; a ClusterIP would need a
		// kube-proxy on the API server's side.
		"enable-aggregator-routing": "true",
		"service-cluster-ip-range":  ServiceCIDR,
		// envtest disables the ServiceAccount admission plugin (its
		// tests run no controller-manager to make default accounts);
		// pods need it: it adds their token's projected volume.
		"disable-admission-plugins": "",
	}, []net.IP{net.ParseIP(KubernetesServiceIP)}
}

// useExternalControlPlane takes the API server of Options.Kubeconfig and
// serves its egress on Options.EgressListen.
func (a *Agents) useExternalControlPlane(l *netns.Lab) error {
	if a.opts.EgressListen == "" {
		return errors.New("pods: Options.Kubeconfig needs Options.EgressListen (the API server's cluster egress)")
	}
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(a.opts.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig of the external API server: %w", err)
	}
	if err := os.WriteFile(Kubeconfig(l), data, 0o600); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", Kubeconfig(l))
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", a.opts.Kubeconfig, err)
	}
	apiServer, err := kubenode.APIServerHostPort(cfg.Host)
	if err != nil {
		return err
	}
	proxy, err := kubenode.StartKubeletProxyTCP(a.opts.EgressListen)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proxy, a.client = proxy, kubernetes.NewForConfigOrDie(cfg)
	a.kubeconfig, a.apiServer, a.kubectl = Kubeconfig(l), apiServer, filepath.Join(a.assets, k8sassets.KubectlBinary)
	a.mu.Unlock()
	logf(l, "using the API server of %s (%s); its cluster egress reaches this lab on %s", a.opts.Kubeconfig, apiServer, a.opts.EgressListen)
	return nil
}

func (a *Agents) startControlPlane(ctx context.Context, l *netns.Lab) error {
	if a.opts.Kubeconfig != "" {
		return a.useExternalControlPlane(l)
	}
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return err
	}
	proxy, err := kubenode.StartKubeletProxy(filepath.Join(l.StateDir(), "egress.sock"))
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proxy = proxy
	a.mu.Unlock()
	egress := filepath.Join(l.StateDir(), "egress.yaml")
	if err := os.WriteFile(egress, []byte(proxy.EgressSelectorConfig()), 0o644); err != nil {
		return err
	}
	logs, err := os.Create(filepath.Join(l.StateDir(), "controlplane.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	start := time.Now()
	flags, servingIPs := ControlPlaneOptions()
	flags["egress-selector-config-file"] = egress
	cp, err := controlplane.Start(ctx, controlplane.Options{
		AssetsDir:      a.assets,
		KubeconfigPath: Kubeconfig(l),
		Logs:           logs,
		StartTimeout:   2 * time.Minute,
		APIServerFlags: flags,
		ServingIPs:     servingIPs,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.cp = cp
	a.client = kubernetes.NewForConfigOrDie(cp.RESTConfig())
	a.kubeconfig, a.apiServer, a.kubectl = cp.KubeconfigPath(), cp.APIServerURL().Host, cp.KubectlPath()
	a.mu.Unlock()
	ctrls, err := kubenode.StartControllers(a.assets, cp.KubeconfigPath(), l.StateDir())
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.ctrls = ctrls
	a.mu.Unlock()
	a.measure(l, "kube-apiserver, etcd, kube-scheduler, kube-controller-manager started", start)
	return nil
}

// nodeIndex is a cluster node's position among the topology's cluster
// nodes: it picks its pod CIDR and node IP.
func nodeIndex(l *netns.Lab, node string) int {
	for i, n := range l.Topo.NodesWithRole(topology.RoleClusterNode) {
		if n.Name == node {
			return i
		}
	}
	return -1
}

// NodeIP and PodCIDR of the i-th cluster node.
func NodeIP(i int) string  { return fmt.Sprintf("10.255.0.%d", i+1) }
func PodCIDR(i int) string { return fmt.Sprintf("10.244.%d.0/24", i) }

// KubeletDir is where a node's kubelet and containerd keep their state.
func KubeletDir(l *netns.Lab, node string) string {
	return filepath.Join(l.NodeDir(node), "kubenode")
}

func (a *Agents) startNode(ctx context.Context, l *netns.Lab, n topology.Node) error {
	i := nodeIndex(l, n.Name)
	if i < 0 || i > 250 {
		return fmt.Errorf("node %s: not a cluster node of the topology, or beyond the 251 the address plan holds", n.Name)
	}
	ns := l.Namespace(n.Name)
	if _, err := nsexec.Run(ctx, ns, "ip", "addr", "replace", NodeIP(i)+"/32", "dev", "lo"); err != nil {
		return fmt.Errorf("node %s: node IP: %w", n.Name, err)
	}
	a.mu.Lock()
	proxy, kubeconfig, apiServer, assets, private, tags := a.proxy, a.kubeconfig, a.apiServer, a.assets, a.private, maps.Clone(a.tags)
	a.mu.Unlock()
	proxy.Register(n.Name, NodeIP(i), ns)
	if err := proxy.RegisterPodNetwork(PodCIDR(i), ns); err != nil {
		return err
	}
	start := time.Now()
	kn, err := kubenode.Start(ctx, kubenode.Options{
		Name: n.Name, Netns: ns, NodeIP: NodeIP(i),
		Dir:               KubeletDir(l, n.Name),
		AssetsDir:         assets,
		Kubeconfig:        kubeconfig,
		APIServer:         apiServer,
		Images:            a.opts.Images,
		ImageSeed:         a.opts.ImageSeed,
		CgroupV2:          kubenode.UnifiedCgroups(),
		StartTimeout:      a.opts.NodeTimeout,
		Tags:              tags,
		PodCIDR:           PodCIDR(i),
		KubernetesService: net.JoinHostPort(KubernetesServiceIP, "443"),
		PrivateDirs:       private,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.nodes[n.Name] = kn
	a.mu.Unlock()
	a.measure(l, "node "+n.Name+": containerd up, images in its store, kubelet started", start)
	if err := a.waitNodeReady(ctx, n.Name); err != nil {
		// The log's end too: in the VM lane the file goes with the guest.
		return fmt.Errorf("%w (kubelet log %s ends:\n%s)", err, kn.KubeletLog(), logTail(kn.KubeletLog(), 3000))
	}
	a.measure(l, "node "+n.Name+": containerd, image import, kubelet → Node Ready", start)
	return nil
}

// logTail is the last n bytes of a log file ("" when unreadable).
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

func (a *Agents) waitNodeReady(ctx context.Context, name string) error {
	err := retry.Poll(ctx, a.opts.NodeTimeout, retry.Every(250*time.Millisecond), func() (bool, error) {
		node, err := a.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return nodeReady(node), nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready: %w", name, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// helm opens a chartinstall session on the lab's API server: the
// discovery cache and Helm's log (helm.log) are in the lab's state.
func (a *Agents) helm(l *netns.Lab) (*chartinstall.Session, error) {
	return chartinstall.Open(a.opts.Chart, chartinstall.Target{
		Kubeconfig: Kubeconfig(l),
		CacheDir:   filepath.Join(l.StateDir(), "kube-cache"),
		Log:        filepath.Join(l.StateDir(), "helm.log"),
	})
}

// install runs `helm install perouter CHART` through Helm's Go library,
// with the lab's kubeconfig as the RESTClientGetter.
func (a *Agents) install(ctx context.Context, l *netns.Lab) error {
	h, err := a.helm(l)
	if err != nil {
		return err
	}
	defer h.Close()
	// No wait: WaitReady checks more than Helm's --wait (node labels,
	// the webhook answering).
	rel, err := h.Install(ctx, a.Values(), false, a.opts.ReadyTimeout)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.released = rel
	a.mu.Unlock()
	logf(l, "helm installed release %s, chart %s %s", rel.Name, rel.Chart.Name(), rel.Chart.Metadata.Version)
	return nil
}

// Upgrade runs `helm upgrade perouter CHART` with the lab's values and
// set merged over them (set wins), as a user upgrading the operator does,
// and does not wait: the DaemonSets roll in their own time (WaitReady).
func (a *Agents) Upgrade(ctx context.Context, l *netns.Lab, set map[string]any) error {
	if a.opts.Kustomize != "" {
		return fmt.Errorf("helm upgrade: the lab installed %s with kustomize, not the chart", a.opts.Kustomize)
	}
	h, err := a.helm(l)
	if err != nil {
		return err
	}
	defer h.Close()
	values := chartutil.MergeTables(set, a.Values())
	rel, err := h.Upgrade(ctx, values, false, 0)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.released, a.values = rel, values
	a.mu.Unlock()
	logf(l, "helm upgraded release %s to revision %d", rel.Name, rel.Version)
	return nil
}

// TagImage gives an image every node's runtime holds another reference
// (`ctr images tag`), as pushing a new tag of the same build to a
// registry would: the lab has none. Nodes that start later (a reboot)
// get the tag too.
func (a *Agents) TagImage(ctx context.Context, from, to string) error {
	a.mu.Lock()
	if a.tags == nil {
		a.tags = map[string]string{}
	}
	a.tags[to] = from
	a.mu.Unlock()
	var errs []error
	for _, name := range a.nodesRunning() {
		if kn := a.Node(name); kn != nil {
			errs = append(errs, kn.TagImage(ctx, from, to))
		}
	}
	return errors.Join(errs...)
}

// ChartNamespace is where the chart puts its objects (values.namespace).
func ChartNamespace() string { return cluster.Namespace }

// WaitReady waits until every DaemonSet and Deployment of the chart has
// all its pods Ready on every node, every Node carries its index label,
// and the webhook refuses the probe object (cert-controller made its
// certificate and caBundle, and the API server reaches the labeler pod).
func (a *Agents) WaitReady(ctx context.Context, l *netns.Lab) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.ReadyTimeout)
	defer cancel()
	start := time.Now()
	var last string
	err := retry.Poll(ctx, 0, retry.Every(500*time.Millisecond), func() (bool, error) {
		last = a.notReady(ctx)
		return last == "", nil
	})
	if err != nil {
		// The pods' own states say why (an image the runtime lacks, a
		// crash loop, a failing probe): a fresh context, ctx is spent.
		why := a.podTrouble(context.WithoutCancel(ctx))
		return fmt.Errorf("chart %s not Ready within %v: %s: %w%s", a.opts.Chart, a.opts.ReadyTimeout, last, err, why)
	}
	a.measure(l, "install → every DaemonSet and Deployment Ready", start)
	err = retry.Poll(ctx, 0, retry.Every(250*time.Millisecond), func() (bool, error) {
		last = a.unindexed(ctx)
		return last == "", nil
	})
	if err != nil {
		return fmt.Errorf("nodes not indexed by the labeler: %s: %w", last, err)
	}
	a.measure(l, "install → every Node has its index label", start)
	err = retry.Poll(ctx, 0, retry.Every(500*time.Millisecond), func() (bool, error) {
		out, err := a.Kubectl(ctx, l, cluster.WebhookProbe, "create", "--dry-run=server", "-f", "-")
		last = strings.TrimSpace(out)
		if err == nil {
			return false, fmt.Errorf("the API server admitted the webhook probe (L2VNI with a broadcast gateway): the webhook is not consulted")
		}
		return strings.Contains(out, "denied the request") && strings.Contains(out, cluster.WebhookProbeDenial), nil
	})
	if err != nil {
		return fmt.Errorf("webhook not answering: last answer %q: %w", last, err)
	}
	a.measure(l, "install → webhook answering", start)
	return nil
}

// podTrouble lists the chart's pods that are not Ready, with what their
// containers wait for or last died of, and the namespace's warning events:
// what `kubectl describe` would show a user whose install hangs.
func (a *Agents) podTrouble(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ns := ChartNamespace()
	var b strings.Builder
	pods, err := a.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "\n  listing pods: " + err.Error()
	}
	for _, p := range pods.Items {
		if podReady(&p) {
			continue
		}
		fmt.Fprintf(&b, "\n  pod %s on %q: %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
		for _, c := range statuses {
			switch {
			case c.State.Waiting != nil:
				fmt.Fprintf(&b, "; %s waiting: %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
			case c.State.Terminated != nil:
				fmt.Fprintf(&b, "; %s terminated: %s (exit %d) %s", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode, c.State.Terminated.Message)
			case !c.Ready:
				fmt.Fprintf(&b, "; %s running, not ready (restarts %d)", c.Name, c.RestartCount)
			}
			if t := c.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&b, " [last: %s, exit %d]", t.Reason, t.ExitCode)
			}
		}
	}
	events, err := a.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err == nil {
		for _, e := range events.Items {
			fmt.Fprintf(&b, "\n  event %s/%s: %s: %s (x%d)", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, max(e.Count, 1))
		}
	}
	return b.String()
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReady says what of the chart is not Ready yet ("" when all is).
func (a *Agents) notReady(ctx context.Context) string {
	ns := ChartNamespace()
	dss, err := a.client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	deps, err := a.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	if len(dss.Items) == 0 || len(deps.Items) == 0 {
		return fmt.Sprintf("%d DaemonSets and %d Deployments in %s", len(dss.Items), len(deps.Items), ns)
	}
	nodes := len(a.nodesRunning())
	var waiting []string
	for _, d := range dss.Items {
		if !daemonSetReady(&d, nodes) {
			waiting = append(waiting, fmt.Sprintf("DaemonSet %s: %d/%d ready", d.Name, d.Status.NumberReady, nodes))
		}
	}
	for _, d := range deps.Items {
		if !deploymentReady(&d) {
			waiting = append(waiting, fmt.Sprintf("Deployment %s: %d/%d ready", d.Name, d.Status.ReadyReplicas, *d.Spec.Replicas))
		}
	}
	return strings.Join(waiting, "; ")
}

func daemonSetReady(d *appsv1.DaemonSet, nodes int) bool {
	s := d.Status
	return s.ObservedGeneration == d.Generation && int(s.DesiredNumberScheduled) == nodes &&
		s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled
}

func deploymentReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration == d.Generation && s.ReadyReplicas == want && s.UpdatedReplicas == want
}

// unindexed names the Nodes without an index label ("" when none).
func (a *Agents) unindexed(ctx context.Context) string {
	nodes, err := a.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var missing []string
	for _, n := range nodes.Items {
		if _, ok := n.Labels[v1alpha1.NodeIndexLabel]; !ok {
			missing = append(missing, n.Name)
		}
	}
	if len(missing) > 0 {
		return "no " + v1alpha1.NodeIndexLabel + " on " + strings.Join(missing, ", ")
	}
	return ""
}

func (a *Agents) nodesRunning() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var names []string
	for n := range a.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Kubectl runs kubectl with the lab's admin kubeconfig, stdin (if not
// empty) on its standard input, and returns its combined output.
func (a *Agents) Kubectl(ctx context.Context, l *netns.Lab, stdin string, args ...string) (string, error) {
	a.mu.Lock()
	kubectl := a.kubectl
	a.mu.Unlock()
	if kubectl == "" {
		return "", errors.New("pods: no control plane (StartCluster has not run)")
	}
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", Kubeconfig(l)}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartNode starts a cluster node's kubelet unless it runs (StartCluster
// started them all; this restarts one after StopNode, e.g. a reboot).
func (a *Agents) StartNode(ctx context.Context, l *netns.Lab, n topology.Node) error {
	if a.Node(n.Name) != nil {
		return nil
	}
	return a.startNode(ctx, l, n)
}

// StopNode stops a node's kubelet, containerd and pods; their logs are
// kept in the node's directory.
func (a *Agents) StopNode(ctx context.Context, l *netns.Lab, n topology.Node) error {
	a.mu.Lock()
	kn := a.nodes[n.Name]
	delete(a.nodes, n.Name)
	a.mu.Unlock()
	if kn == nil {
		return nil
	}
	for _, f := range []string{kn.KubeletLog(), kn.ContainerdLog()} {
		copyFile(f, filepath.Join(l.NodeDir(n.Name), filepath.Base(f)))
	}
	return kn.Stop()
}

// StopCluster stops every node, the controllers, the control plane and
// the egress proxy.
func (a *Agents) StopCluster(ctx context.Context, l *netns.Lab) error {
	var errs []error
	for _, n := range l.Topo.NodesWithRole(topology.RoleClusterNode) {
		errs = append(errs, a.StopNode(ctx, l, n))
	}
	a.mu.Lock()
	ctrls, cp, proxy, restore := a.ctrls, a.cp, a.proxy, a.restoreSysctls
	a.ctrls, a.cp, a.proxy, a.restoreSysctls = nil, nil, nil, nil
	a.mu.Unlock()
	if restore != nil {
		errs = append(errs, restore())
	}
	if ctrls != nil {
		errs = append(errs, ctrls.Stop())
	}
	if cp != nil {
		errs = append(errs, cp.Stop())
	}
	if proxy != nil {
		errs = append(errs, proxy.Close())
	}
	return errors.Join(errs...)
}

func copyFile(from, to string) {
	in, err := os.Open(from)
	if err != nil {
		return
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return
	}
	defer out.Close()
	_, _ = io.Copy(out, in)
}
