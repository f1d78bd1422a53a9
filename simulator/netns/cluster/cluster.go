// Package cluster runs the real operator on the netns provider's cluster
// nodes: one kube-apiserver + etcd (simulator/controlplane) on loopback,
// every cluster node registered as a Node, the real labeler once, and per
// node the real reloader, FRR in the node's router namespace and the real
// controller. The operator's processes run in the root namespace (where the
// API server is reachable) and reach into the node's namespaces by name,
// as the controller does with netlink.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// Namespace holds the operator's own objects in the simulated cluster.
const Namespace = "perouter-system"

// Options configure the agents.
type Options struct {
	// BinDir holds controller, reloader and labeler (make build puts them in bin/).
	BinDir string
	// CRDDir holds the CRD manifests to install.
	CRDDir string
	// Manifests (files or directories) are applied by StartCluster, before
	// any node's operator starts: each node's first reconcile then sees
	// them, and FRR gets one config instead of an empty one and a second.
	Manifests []string
	// InVM says the agents run inside the VM lane, where everything is
	// emulated and slow: the reloader gets a longer apply timeout.
	InVM bool
	// Kubeconfig names the admin kubeconfig of an API server that runs
	// elsewhere (the VM lane runs it on the host: StartVMControlPlane).
	// StartCluster then installs the CRDs and registers the nodes there
	// instead of starting etcd and kube-apiserver itself.
	Kubeconfig string
	// WebhookPort is where the labeler serves the validating webhook, which
	// the API server calls at https://127.0.0.1:<port>. 0 takes
	// $PESIM_WEBHOOK_PORT (WebhookPortEnv), else a free port; in the VM
	// lane with an external API server (InVM and Kubeconfig) it means no
	// webhook, since the host reaches the guest only through a forward
	// (VMControlPlane.HostForward).
	WebhookPort int
	// WebhookManifest is the ValidatingWebhookConfiguration to install
	// (its rules and paths; the lab points it at the labeler); default
	// CRDDir/../../webhook/manifests.yaml (operator/config/webhook).
	WebhookManifest string
}

// Agents implements netns.ClusterAgents.
type Agents struct {
	opts Options

	mu          sync.Mutex
	cp          *controlplane.ControlPlane
	kubectlPath string
	routers     map[string]*frrproc.Instance
	procs       map[string]map[string]*agentProc // node ("" = cluster) -> binary -> process
	// webhookConfig is the ValidatingWebhookConfiguration StartCluster made.
	webhookConfig string
}

type agentProc struct {
	cmd     *exec.Cmd
	logPath string
	args    []string
}

var _ netns.ClusterAgents = (*Agents)(nil)

// New returns agents that start nothing until the provider calls them.
func New(opts Options) *Agents {
	return &Agents{opts: opts, routers: map[string]*frrproc.Instance{}, procs: map[string]map[string]*agentProc{}}
}

// Kubeconfig is the admin kubeconfig of a lab's API server.
func Kubeconfig(l *netns.Lab) string { return filepath.Join(l.StateDir(), "kubeconfig") }

// ControlPlane returns the running API server (nil before StartCluster).
func (a *Agents) ControlPlane() *controlplane.ControlPlane { return a.cp }

func logf(l *netns.Lab, format string, args ...any) {
	fmt.Fprintf(l.Progress(), "[cluster] %s\n", fmt.Sprintf(format, args...))
}

// StartCluster starts the API server, installs the CRDs, registers the
// Nodes and starts the labeler.
func (a *Agents) StartCluster(ctx context.Context, l *netns.Lab) error {
	for _, b := range []string{"controller", "reloader", "labeler"} {
		if _, err := os.Stat(filepath.Join(a.opts.BinDir, b)); err != nil {
			return fmt.Errorf("operator binary %s: %w (build them with `make build` or pass the directory holding them)", b, err)
		}
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	if a.opts.Kubeconfig != "" {
		if err := a.useExternalControlPlane(l); err != nil {
			return err
		}
	} else if err := a.startControlPlane(ctx, l); err != nil {
		return err
	}
	logf(l, "installing CRDs and registering nodes")
	if out, err := a.kubectl(ctx, l, "apply", "--server-side", "-f", a.opts.CRDDir); err != nil {
		return fmt.Errorf("installing CRDs from %s: %w: %s", a.opts.CRDDir, err, out)
	}
	var nodes strings.Builder
	fmt.Fprintf(&nodes, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", Namespace)
	for _, n := range l.Topo.NodesWithRole(topology.RoleClusterNode) {
		fmt.Fprintf(&nodes, "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n  labels:\n    kubernetes.io/hostname: %s\n", n.Name, n.Name)
	}
	if out, err := a.kubectlStdin(ctx, l, nodes.String(), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("registering nodes: %w: %s", err, out)
	}
	if out, err := a.kubectl(ctx, l, "wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"); err != nil {
		return fmt.Errorf("waiting for CRDs: %w: %s", err, out)
	}
	if a.opts.Kubeconfig != "" {
		if err := a.removeStaleWebhook(ctx, l); err != nil {
			return err
		}
	}
	if len(a.opts.Manifests) > 0 {
		logf(l, "applying %s", strings.Join(a.opts.Manifests, ", "))
		if err := a.Apply(ctx, l, a.opts.Manifests...); err != nil {
			return err
		}
	}
	// The webhook comes after the manifests: they are the lab's baseline,
	// and the webhook then judges every later change against them.
	port, err := a.webhookPort()
	if err != nil {
		return err
	}
	webhookArgs, caPEM := []string{"--webhook-port", "0"}, []byte(nil)
	if port != 0 {
		if webhookArgs, caPEM, err = labelerWebhookArgs(l, port); err != nil {
			return err
		}
	}
	logf(l, "starting the labeler (webhook port %d)", port)
	if err := a.spawn(l, "", "labeler", filepath.Join(l.StateDir(), "labeler.log"),
		append([]string{"--namespace", Namespace, "--leader-elect=false", "--metrics-bind-address", "0",
			"--health-probe-bind-address", "0"}, webhookArgs...)...); err != nil {
		return err
	}
	if port == 0 {
		logf(l, "no validating webhook: the API server runs outside the VM and no port is forwarded (%s)", WebhookPortEnv)
		return nil
	}
	return a.installWebhook(ctx, l, port, caPEM)
}

func (a *Agents) startControlPlane(ctx context.Context, l *netns.Lab) error {
	logs, err := os.Create(filepath.Join(l.StateDir(), "controlplane.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	logf(l, "starting etcd and kube-apiserver")
	cp, err := controlplane.Start(ctx, controlplane.Options{
		KubeconfigPath: Kubeconfig(l),
		Logs:           logs,
		StartTimeout:   2 * time.Minute,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.cp = cp
	a.kubectlPath = cp.KubectlPath()
	a.mu.Unlock()
	// A later `pesim down` from another process finds the control plane's
	// processes by the state directory on their command lines.
	if err := os.WriteFile(filepath.Join(l.StateDir(), "controlplane.dir"), []byte(cp.StateDir()), 0o644); err != nil {
		return err
	}
	logf(l, "kube-apiserver ready at %s", cp.APIServerURL())
	return nil
}

func (a *Agents) useExternalControlPlane(l *netns.Lab) error {
	data, err := os.ReadFile(a.opts.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig of the external API server: %w", err)
	}
	if err := os.WriteFile(Kubeconfig(l), data, 0o600); err != nil {
		return err
	}
	assets, err := k8sassets.Dir()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.kubectlPath = filepath.Join(assets, "kubectl")
	a.mu.Unlock()
	logf(l, "using the API server of %s", a.opts.Kubeconfig)
	return nil
}

// StartNode starts FRR in the node's router namespace, its reloader and its
// controller.
func (a *Agents) StartNode(ctx context.Context, l *netns.Lab, n topology.Node) error {
	dir := l.NodeDir(n.Name)
	frrDir := RouterFRRDir(l, n.Name)
	if err := a.startRouter(ctx, l, n.Name); err != nil {
		return err
	}
	socket := filepath.Join(dir, "reloader.sock")
	reloaderArgs := []string{"--socket", socket, "--state-dir", filepath.Join(dir, "reloader"), "--vty-socket-dir", frrDir}
	if a.opts.InVM {
		// frr-reload.py (Python, several vtysh runs) takes minutes under TCG.
		reloaderArgs = append(reloaderArgs, "--apply-timeout", "10m")
	}
	if err := a.spawn(l, n.Name, "reloader", filepath.Join(dir, "reloader.log"), reloaderArgs...); err != nil {
		return err
	}
	if err := a.spawn(l, n.Name, "controller", filepath.Join(dir, "controller.log"),
		// The lab proves recovery within minutes; a real node's default is 3m.
		"--resync-period", "30s",
		"--node-name", n.Name, "--namespace", Namespace,
		"--reloader-socket", socket,
		"--router-netns", l.RouterNamespace(n.Name),
		"--host-netns", l.Namespace(n.Name),
		// The simulated nodes share one filesystem: each keeps its
		// underlay NICs' state in its own directory.
		"--underlay-state-dir", filepath.Join(dir, "underlay"),
		// ... and its CNI links' cache (CNIDevice underlays).
		"--cni-cache-dir", filepath.Join(dir, "cni"),
		// ... and its dhcp daemon's socket (the controller points dhcp
		// IPAM configs at it).
		"--cni-dhcp-socket", filepath.Join(dir, "cni", "dhcp.sock"),
		"--vty-socket-dir", frrDir,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0"); err != nil {
		return err
	}
	logf(l, "%s: router FRR, reloader and controller running", n.Name)
	return nil
}

// RouterFRRDir is the vty socket directory of a cluster node's router.
func RouterFRRDir(l *netns.Lab, node string) string {
	return filepath.Join(l.NodeDir(node), "router-frr")
}

// StopNode stops the node's controller, reloader and router FRR.
func (a *Agents) StopNode(ctx context.Context, l *netns.Lab, n topology.Node) error {
	a.mu.Lock()
	procs := a.procs[n.Name]
	delete(a.procs, n.Name)
	inst := a.routers[n.Name]
	delete(a.routers, n.Name)
	a.mu.Unlock()
	errs := []error{stopProcs(procs)}
	if inst != nil {
		errs = append(errs, inst.Stop())
	}
	errs = append(errs, killPidFilesUnder(l.NodeDir(n.Name)))
	return errors.Join(errs...)
}

// StopCluster stops every agent, then the control plane. It also finds
// the processes of a run this process did not start (pid files and the
// control plane's state directory), so `pesim down` works after a crash.
func (a *Agents) StopCluster(ctx context.Context, l *netns.Lab) error {
	errs := []error{a.removeWebhook(ctx, l)}
	for _, n := range l.Topo.NodesWithRole(topology.RoleClusterNode) {
		errs = append(errs, a.StopNode(ctx, l, n))
	}
	a.mu.Lock()
	cluster := a.procs[""]
	delete(a.procs, "")
	cp := a.cp
	a.cp = nil
	a.mu.Unlock()
	errs = append(errs, stopProcs(cluster), killPidFilesUnder(l.StateDir()))
	if cp != nil {
		errs = append(errs, cp.Stop())
	} else if data, err := os.ReadFile(filepath.Join(l.StateDir(), "controlplane.dir")); err == nil {
		dir := strings.TrimSpace(string(data))
		errs = append(errs, killByCmdline(dir))
		if strings.HasPrefix(dir, os.TempDir()) || strings.HasPrefix(dir, "/tmp/") {
			errs = append(errs, os.RemoveAll(dir))
		}
	}
	return errors.Join(errs...)
}

func (a *Agents) kubectl(ctx context.Context, l *netns.Lab, args ...string) (string, error) {
	return a.kubectlStdin(ctx, l, "", args...)
}

func (a *Agents) kubectlStdin(ctx context.Context, l *netns.Lab, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.kubectlPath, append([]string{"--kubeconfig", Kubeconfig(l)}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Apply applies manifests (files or directories) with kubectl.
func (a *Agents) Apply(ctx context.Context, l *netns.Lab, paths ...string) error {
	for _, p := range paths {
		if out, err := a.kubectl(ctx, l, "apply", "-f", p); err != nil {
			return fmt.Errorf("kubectl apply -f %s: %w: %s", p, err, strings.TrimSpace(out))
		}
	}
	return nil
}

// spawn starts an operator binary in the root namespace, logging to a file
// and recording its pid so `pesim down` finds it.
func (a *Agents) spawn(l *netns.Lab, node, binary, logPath string, args ...string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(a.opts.BinDir, binary), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+Kubeconfig(l))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a Ctrl-C on pesim is handled by pesim, which stops
	// the agents in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %s: start %s: %w", node, binary, err)
	}
	go func() { _ = cmd.Wait() }()
	pidFile := strings.TrimSuffix(logPath, ".log") + ".agent.pid"
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	a.mu.Lock()
	if a.procs[node] == nil {
		a.procs[node] = map[string]*agentProc{}
	}
	a.procs[node][binary] = &agentProc{cmd: cmd, logPath: logPath, args: args}
	a.mu.Unlock()
	return nil
}

// Restart stops one agent process ("controller", "reloader" on a node;
// "labeler" with node "") and starts it again with the same arguments.
func (a *Agents) Restart(l *netns.Lab, node, binary string) error {
	p, err := a.stopAgent(node, binary)
	if err != nil {
		return err
	}
	return a.respawn(l, node, binary, p)
}

// stopAgent terminates one agent process and returns what starts it again.
func (a *Agents) stopAgent(node, binary string) (*agentProc, error) {
	a.mu.Lock()
	p := a.procs[node][binary]
	a.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("restart: no %s running for node %q", binary, node)
	}
	if err := netns.Terminate([]int{p.cmd.Process.Pid}); err != nil {
		return nil, err
	}
	return p, nil
}

// respawn starts a stopped agent again with its arguments, keeping the
// previous run's log for evidence.
func (a *Agents) respawn(l *netns.Lab, node, binary string, p *agentProc) error {
	_ = os.Rename(p.logPath, p.logPath+".previous")
	return a.spawn(l, node, binary, p.logPath, p.args...)
}

// RestartRouterPod does to a node what kubelet does when the router pod is
// deleted, evicted or rolled to a new image: both of its containers stop
// (the reloader gets SIGTERM, FRR's daemons are killed), and the new pod
// starts both again, together: FRR empty (its frr.conf volume is an
// emptyDir holding the ConfigMap's placeholder), the reloader a new
// process with the same arguments, so the same --state-dir (a hostPath on
// a real node). The router namespace is the host's and stays, with every
// device the controller built; the controller sees no input change.
// Getting the config back into FRR is then the operator's job.
func (a *Agents) RestartRouterPod(ctx context.Context, l *netns.Lab, node string) error {
	a.mu.Lock()
	inst := a.routers[node]
	delete(a.routers, node)
	a.mu.Unlock()
	if inst == nil {
		return fmt.Errorf("node %s: no router FRR running", node)
	}
	p, err := a.stopAgent(node, "reloader")
	errs := []error{err}
	for _, d := range inst.Daemons() {
		errs = append(errs, inst.Kill(d))
	}
	errs = append(errs, inst.Stop())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node %s: stopping the router pod's containers: %w", node, err)
	}
	// The new pod's containers start at once; the reloader answers long
	// before FRR does, as in a real pod.
	if err := a.respawn(l, node, "reloader", p); err != nil {
		return err
	}
	return a.startRouter(ctx, l, node)
}

// RestartRouter does to a node's router what kubelet does when the router
// pod's FRR dies: SIGKILL the daemons and start FRR again, empty. With
// newNamespace the router namespace is deleted and recreated in between
// (the pod and its network namespace were replaced). Recovering the
// config and the datapath is then the operator's job.
func (a *Agents) RestartRouter(ctx context.Context, l *netns.Lab, node string, newNamespace bool) error {
	a.mu.Lock()
	inst := a.routers[node]
	delete(a.routers, node)
	a.mu.Unlock()
	if inst == nil {
		return fmt.Errorf("node %s: no router FRR running", node)
	}
	var errs []error
	for _, d := range inst.Daemons() {
		errs = append(errs, inst.Kill(d))
	}
	errs = append(errs, inst.Stop())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node %s: killing router FRR: %w", node, err)
	}
	if newNamespace {
		ns := l.RouterNamespace(node)
		// A deleted network namespace hands its physical NICs back to the
		// host when the kernel destroys it, in one step: nothing can move
		// them into the dying namespace again. The lab's NICs are veths,
		// which would die with it instead, so the lab hands them back
		// itself — after taking the namespace's name away. Handed back
		// while the old namespace still had its name, a NIC was moved
		// straight in again by the controller (it wants the NIC in the
		// router namespace) and died with the namespace.
		dying := ns + "-dying"
		_ = nsexec.Delete(ctx, dying) // left by an earlier failed replace
		if err := nsexec.Rename(ctx, ns, dying); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		for _, link := range l.Topo.LinksOf(node) {
			for _, ep := range []topology.Endpoint{link.A, link.B} {
				if ep.Node != node {
					continue
				}
				// Only the NICs the namespace holds: an interface the
				// Underlay does not name stays on the host. One it holds
				// and cannot hand back fails the replace, since the node
				// would lose it with the namespace.
				if _, err := nsexec.Run(ctx, dying, "ip", "link", "show", ep.Interface); err != nil {
					continue
				}
				if _, err := nsexec.Run(ctx, dying, "ip", "link", "set", ep.Interface, "netns", l.Namespace(node)); err != nil {
					return fmt.Errorf("node %s: handing %s back to the host namespace: %w", node, ep.Interface, err)
				}
			}
		}
		if err := nsexec.Delete(ctx, dying); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		// The controller notices a missing router namespace within
		// seconds and creates a fresh one itself; either is the new one.
		if err := nsexec.Add(ctx, ns); err != nil {
			if _, statErr := os.Stat(filepath.Join("/run/netns", ns)); statErr != nil {
				return fmt.Errorf("node %s: %w", node, err)
			}
			logf(l, "%s: router namespace already recreated (by the controller)", node)
			if _, err := nsexec.Run(ctx, ns, "ip", "link", "set", "lo", "up"); err != nil {
				return fmt.Errorf("node %s: %w", node, err)
			}
		}
	}
	return a.startRouter(ctx, l, node)
}

func (a *Agents) startRouter(ctx context.Context, l *netns.Lab, node string) error {
	inst, err := frrproc.Start(ctx, frrproc.Options{
		Netns:    l.RouterNamespace(node),
		Dir:      RouterFRRDir(l, node),
		Attempts: frrproc.StartAttempts,
		Logf:     func(format string, args ...any) { logf(l, "%s: router "+format, append([]any{node}, args...)...) },
	})
	if err != nil {
		return fmt.Errorf("node %s: router FRR: %w", node, err)
	}
	a.mu.Lock()
	a.routers[node] = inst
	a.mu.Unlock()
	return nil
}

func stopProcs(procs map[string]*agentProc) error {
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return netns.Terminate(pids)
}

func killPidFilesUnder(dir string) error {
	files, _ := filepath.Glob(filepath.Join(dir, "*.agent.pid"))
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
		os.Remove(f)
	}
	return netns.Terminate(pids)
}

// killByCmdline terminates the processes whose command line mentions dir
// (a unique temporary directory), i.e. etcd and kube-apiserver of one run.
func killByCmdline(dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return netns.Terminate(pids)
}

// loopbackUp makes sure the namespace the control plane listens in has its
// loopback up: the VM lane's guest starts with lo down, and etcd then binds
// 127.0.0.1 but nobody can connect ("network is unreachable").
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}
