// Package netns is the hermetic lab provider: every node of a containerlab
// topology becomes a network namespace, every link a veth pair created
// directly inside the two namespaces, every FRR node a set of real FRR
// daemons (operator/frrproc) with the node's clab config, every bridge node a
// Linux bridge in a namespace of its own. Nothing is left in the root
// namespace, so two labs (or a lab and the host) never collide.
//
// Everything a lab owns is derived from the lab and node names (namespace
// pesim-<lab>-<node>, state under <StateRoot>/<lab>/), which is what lets
// Down clean up after a crashed or interrupted run.
package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/operator/vtysh"
	"github.com/perouter/perouter/simulator/topology"
)

// DefaultStateRoot holds one directory per lab: FRR sockets, logs, pids.
const DefaultStateRoot = "/run/pesim"

// NamespacePrefix starts every namespace the provider creates.
const NamespacePrefix = "pesim-"

// Options configure a provider.
type Options struct {
	// StateRoot defaults to DefaultStateRoot.
	StateRoot string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Agents start what runs on cluster nodes beyond their namespace (the
	// operator). Nil leaves cluster nodes as plain namespaces.
	Agents ClusterAgents
	// FabricFRRRoot, when set, is an FRR root file system
	// (hack/frr-rootfs.sh) the fabric's routers run FRR from
	// (frrproc.Options.Root) instead of the host's FRR.
	FabricFRRRoot string
}

// ClusterAgents run the per-cluster and per-node software of cluster nodes.
type ClusterAgents interface {
	// StartCluster runs once after every namespace and the fabric are up.
	StartCluster(ctx context.Context, lab *Lab) error
	// StartNode (re)starts what runs on one cluster node.
	StartNode(ctx context.Context, lab *Lab, node topology.Node) error
	// StopNode stops what runs on one cluster node (reboot).
	StopNode(ctx context.Context, lab *Lab, node topology.Node) error
	// StopCluster stops everything StartCluster and StartNode started.
	StopCluster(ctx context.Context, lab *Lab) error
}

// Lab is a lab brought up (or found) by this provider.
type Lab struct {
	Topo  *topology.Lab
	opts  Options
	start time.Time

	mu      sync.Mutex
	routers map[string]*frrproc.Instance // only those this process started
}

type stateFile struct {
	Topology string    `json:"topology"`
	Started  time.Time `json:"started"`
}

func (o Options) withDefaults() Options {
	if o.StateRoot == "" {
		o.StateRoot = DefaultStateRoot
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// New returns a handle on the lab described by topo without touching the
// machine: for exec, vtysh, status and down on a lab another process started.
func New(topo *topology.Lab, opts Options) *Lab {
	return &Lab{Topo: topo, opts: opts.withDefaults(), routers: map[string]*frrproc.Instance{}, start: time.Now()}
}

// Namespace is the network namespace of a node.
func (l *Lab) Namespace(node string) string {
	return NamespacePrefix + l.Topo.Name + "-" + node
}

// RouterNamespace is the namespace of a cluster node's PE router (what the
// operator calls its router netns); it is part of the node.
func (l *Lab) RouterNamespace(node string) string {
	return l.Namespace(node) + "-pe"
}

// StateDir is the lab's state directory.
func (l *Lab) StateDir() string { return filepath.Join(l.opts.StateRoot, l.Topo.Name) }

// NodeDir is a node's state directory (FRR sockets and logs, agent logs).
func (l *Lab) NodeDir(node string) string { return filepath.Join(l.StateDir(), node) }

// FRRDir is the FRR instance directory (the --vty_socket dir) of a router node.
func (l *Lab) FRRDir(node string) string { return filepath.Join(l.NodeDir(node), "frr") }

// Progress returns the progress writer, for agents.
func (l *Lab) Progress() io.Writer { return l.opts.Progress }

func (l *Lab) logf(format string, args ...any) {
	fmt.Fprintf(l.opts.Progress, "[%6.1fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// namespaces lists every namespace the lab may own, in creation order.
func (l *Lab) namespaces() []string {
	var out []string
	for _, n := range l.Topo.Nodes {
		switch n.Role {
		case topology.RoleCluster:
		case topology.RoleClusterNode:
			out = append(out, l.Namespace(n.Name), l.RouterNamespace(n.Name))
		default:
			out = append(out, l.Namespace(n.Name))
		}
	}
	return out
}

// Up brings the lab up: it cleans what an earlier run left, creates the
// namespaces and links, runs each node's setup, starts FRR on routers,
// waits for the fabric's BGP sessions, then starts the cluster agents.
func Up(ctx context.Context, topo *topology.Lab, opts Options) (*Lab, error) {
	l := New(topo, opts)
	if err := l.Down(ctx); err != nil {
		return nil, fmt.Errorf("cleaning an earlier run of lab %s: %w", topo.Name, err)
	}
	if err := l.up(ctx); err != nil {
		return l, err
	}
	return l, nil
}

func (l *Lab) up(ctx context.Context) error {
	if err := os.MkdirAll(l.StateDir(), 0o755); err != nil {
		return err
	}
	// FRR daemons run as user frr and must traverse to their sockets.
	for _, d := range []string{l.opts.StateRoot, l.StateDir()} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	st, _ := json.Marshal(stateFile{Topology: l.Topo.Path, Started: time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(l.StateDir(), "state.json"), st, 0o644); err != nil {
		return err
	}

	var nodes []topology.Node
	for _, n := range l.Topo.Nodes {
		if n.Role != topology.RoleCluster {
			nodes = append(nodes, n)
		}
	}
	l.logf("lab %s: creating %d namespaces and %d links", l.Topo.Name, len(l.namespaces()), len(l.Topo.Links))
	if err := l.createNamespaces(l.namespaces()); err != nil {
		return err
	}
	for _, link := range l.Topo.Links {
		if err := l.createLink(link); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := l.wireNode(n, l.Topo.LinksOf(n.Name)...); err != nil {
			return err
		}
	}

	routers := l.Topo.NodesWithRole(topology.RoleRouter)
	l.logf("configuring %d hosts and cluster nodes, starting FRR on %d routers", len(nodes)-len(routers), len(routers))
	if err := parallel(nodes, func(n topology.Node) error { return l.startNode(ctx, n) }, runtime.NumCPU()); err != nil {
		return err
	}
	l.logf("waiting for the fabric's BGP sessions")
	if err := l.WaitBGP(ctx, 2*time.Minute); err != nil {
		return err
	}
	l.logf("fabric BGP established")
	if l.opts.Agents != nil {
		l.logf("starting the cluster")
		if err := l.opts.Agents.StartCluster(ctx, l); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		if err := parallel(l.Topo.NodesWithRole(topology.RoleClusterNode), func(n topology.Node) error {
			return l.opts.Agents.StartNode(ctx, l, n)
		}, runtime.NumCPU()); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f on every node, at most limit at a time: daemons starting
// on more nodes than there are CPUs (one vCPU in the VM lane) only push
// each other past their readiness timeouts.
func parallel(nodes []topology.Node, f func(topology.Node) error, limit int) error {
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f(n)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *Lab) createNamespaces(names []string) error {
	var batch strings.Builder
	for _, ns := range names {
		fmt.Fprintf(&batch, "netns add %s\n", ns)
	}
	cmd := exec.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating namespaces %v: %w: %s", names, err, strings.TrimSpace(string(out)))
	}
	for _, ns := range names {
		if err := l.inNamespace(ns, func(h *netlink.Handle) error {
			lo, err := h.LinkByName("lo")
			if err != nil {
				return err
			}
			return h.LinkSetUp(lo)
		}); err != nil {
			return fmt.Errorf("netns %s: lo up: %w", ns, err)
		}
	}
	return nil
}

// inNamespace gives f a netlink handle inside the named namespace.
func (l *Lab) inNamespace(ns string, f func(*netlink.Handle) error) error {
	nsh, err := vnetns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer h.Close()
	return f(h)
}

// createLink creates the veth pair directly inside both namespaces, so its
// names never exist in (or clash with) the root namespace.
func (l *Lab) createLink(link topology.Link) error {
	a, err := vnetns.GetFromName(l.Namespace(link.A.Node))
	if err != nil {
		return fmt.Errorf("link %s-%s: %w", link.A, link.B, err)
	}
	defer a.Close()
	b, err := vnetns.GetFromName(l.Namespace(link.B.Node))
	if err != nil {
		return fmt.Errorf("link %s-%s: %w", link.A, link.B, err)
	}
	defer b.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: link.A.Interface, Namespace: netlink.NsFd(a), MTU: 1500},
		PeerName:      link.B.Interface,
		PeerNamespace: netlink.NsFd(b),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("link %s-%s: %w", link.A, link.B, err)
	}
	return nil
}

// wireNode brings a node's ends of links up; on a bridge node it creates the
// bridge when missing and enslaves them.
func (l *Lab) wireNode(n topology.Node, links ...topology.Link) error {
	var ifaces []string
	for _, link := range links {
		for _, ep := range []topology.Endpoint{link.A, link.B} {
			if ep.Node == n.Name {
				ifaces = append(ifaces, ep.Interface)
			}
		}
	}
	return l.inNamespace(l.Namespace(n.Name), func(h *netlink.Handle) error {
		var br netlink.Link
		if n.Role == topology.RoleBridge {
			var err error
			if br, err = h.LinkByName(n.Name); err != nil {
				if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Name}}); err != nil {
					return fmt.Errorf("node %s: bridge: %w", n.Name, err)
				}
				if br, err = h.LinkByName(n.Name); err != nil {
					return fmt.Errorf("node %s: %w", n.Name, err)
				}
			}
			if err := h.LinkSetUp(br); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		for _, name := range ifaces {
			link, err := h.LinkByName(name)
			if err != nil {
				return fmt.Errorf("node %s: %s: %w", n.Name, name, err)
			}
			if br != nil {
				if err := h.LinkSetMaster(link, br); err != nil {
					return fmt.Errorf("node %s: enslave %s: %w", n.Name, name, err)
				}
			}
			if err := h.LinkSetUp(link); err != nil {
				return fmt.Errorf("node %s: %s up: %w", n.Name, name, err)
			}
		}
		return nil
	})
}

// startNode runs the node's exec commands (clab's post-start commands) and,
// on a router, starts FRR with its config. Unlike in a container, setup
// runs before FRR, so FRR starts with every VRF and VXLAN device present.
func (l *Lab) startNode(ctx context.Context, n topology.Node) error {
	if err := os.MkdirAll(l.NodeDir(n.Name), 0o755); err != nil {
		return err
	}
	start := time.Now()
	defer func() {
		l.logf("node %s (%s) ready in %v", n.Name, n.Role, time.Since(start).Round(10*time.Millisecond))
	}()
	for _, line := range n.Exec {
		args, err := topology.SplitCommand(line)
		if err != nil {
			return fmt.Errorf("node %s: exec: %w", n.Name, err)
		}
		for i, a := range args {
			args[i] = n.HostPath(a)
		}
		if out, err := l.Exec(ctx, n.Name, args...); err != nil {
			return fmt.Errorf("node %s: exec %q: %w: %s", n.Name, line, err, strings.TrimSpace(out))
		}
	}
	if n.Role != topology.RoleRouter {
		return nil
	}
	bind, _ := n.Bind(topology.FRRConfigPath)
	conf, err := os.ReadFile(bind.Host)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	inst, err := frrproc.Start(ctx, frrproc.Options{
		Netns:         l.Namespace(n.Name),
		Dir:           l.FRRDir(n.Name),
		Daemons:       FabricDaemons,
		InitialConfig: string(conf),
		Attempts:      frrproc.StartAttempts,
		Logf:          func(format string, args ...any) { l.logf("node %s: "+format, append([]any{n.Name}, args...)...) },
		Root:          l.opts.FabricFRRRoot,
	})
	if err != nil {
		return fmt.Errorf("node %s: FRR: %w", n.Name, err)
	}
	l.mu.Lock()
	l.routers[n.Name] = inst
	l.mu.Unlock()
	return nil
}

// FabricDaemons are what the fabric's routers run: BGP only. Fewer daemons
// start faster, which counts in the VM lane.
var FabricDaemons = []string{"zebra", "bgpd"}

func (l *Lab) mustNode(name string) topology.Node {
	n, ok := l.Topo.Node(name)
	if !ok {
		panic("netns: node " + name + " is not in the topology")
	}
	return n
}

// Exec runs a command in a node's namespace and returns its combined output.
func (l *Lab) Exec(ctx context.Context, node string, args ...string) (string, error) {
	return l.ExecIn(ctx, l.Namespace(node), args...)
}

// ExecIn runs a command in any namespace of the lab.
func (l *Lab) ExecIn(ctx context.Context, ns string, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("exec: empty command")
	}
	out, err := nsexec.Command(ctx, ns, args...).CombinedOutput()
	return string(out), err
}

// Vtysh runs vtysh commands against a router node's FRR.
func (l *Lab) Vtysh(ctx context.Context, node string, commands ...string) (string, error) {
	l.mu.Lock()
	inst := l.routers[node]
	l.mu.Unlock()
	if inst != nil {
		// The router's own vtysh: that of its FRR root where it runs from
		// one. vtysh answers some commands itself ("show version").
		return l.vtysh(ctx, vtysh.Cli{Binary: inst.VtyshPath(), SocketDir: inst.VtySocketDir(), ConfigDir: inst.Dir()}, commands...)
	}
	return l.VtyshDir(ctx, l.FRRDir(node), commands...)
}

// VtyshDir runs vtysh commands against the FRR whose vty sockets are in dir.
func (l *Lab) VtyshDir(ctx context.Context, dir string, commands ...string) (string, error) {
	return l.vtysh(ctx, vtysh.Cli{SocketDir: dir, ConfigDir: dir}, commands...)
}

func (l *Lab) vtysh(ctx context.Context, cli vtysh.Cli, commands ...string) (string, error) {
	dir := cli.SocketDir
	out, err := cli.Commands(ctx, commands...)
	if err != nil {
		return out, fmt.Errorf("%w (in %s): %s", err, dir, strings.TrimSpace(out))
	}
	return out, nil
}

// Peer is one BGP session of a router as FRR reports it.
type Peer struct {
	Router string
	vtysh.Peer
}

// BGPPeers reads "show bgp summary json" of a router node.
func (l *Lab) BGPPeers(ctx context.Context, node string) ([]Peer, error) {
	return l.BGPPeersDir(ctx, node, l.FRRDir(node))
}

// BGPPeersDir reads the BGP sessions of the FRR whose sockets are in dir.
func (l *Lab) BGPPeersDir(ctx context.Context, name, dir string) ([]Peer, error) {
	out, err := l.VtyshDir(ctx, dir, "show bgp summary json")
	if err != nil {
		return nil, err
	}
	parsed, err := vtysh.ParseBGPSummary([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("%s: show bgp summary json: %w", name, err)
	}
	peers := make([]Peer, len(parsed))
	for i, p := range parsed {
		peers[i] = Peer{Router: name, Peer: p}
	}
	return peers, nil
}

// WaitBGP waits until every configured (non-dynamic) BGP session of every
// router node is established, but those towards cluster nodes: their
// routers start with the cluster, after the fabric.
func (l *Lab) WaitBGP(ctx context.Context, timeout time.Duration) error {
	var down []string
	err := retry.Poll(ctx, timeout, retry.Every(500*time.Millisecond), func() (bool, error) {
		down = nil
		for _, n := range l.Topo.NodesWithRole(topology.RoleRouter) {
			peers, err := l.BGPPeers(ctx, n.Name)
			if err != nil {
				down = append(down, err.Error())
				continue
			}
			for _, p := range peers {
				if p.Dynamic || p.State == "Established" {
					continue
				}
				devs, err := l.peerDevices(p)
				if err != nil {
					down = append(down, err.Error())
					continue
				}
				if !slices.ContainsFunc(devs, func(dev string) bool { return l.facesCluster(p.Router, dev) }) {
					down = append(down, fmt.Sprintf("%s %s %s: %s", p.Router, p.Family, p.Address, p.State))
				}
			}
		}
		return len(down) == 0, nil
	})
	if errors.Is(err, retry.ErrTimeout) {
		return fmt.Errorf("BGP sessions not established after %v:\n  %s", timeout, strings.Join(down, "\n  "))
	}
	return err
}

// peerDevices names the router's interfaces a session may run over: the
// interface itself for an unnumbered session (FRR names the peer by it),
// else the one the router's kernel routes the peer's address through and,
// when that is a bridge the router's own setup made (no topology link
// ends on it), the bridge's ports.
func (l *Lab) peerDevices(p Peer) ([]string, error) {
	addr, err := netip.ParseAddr(p.Address)
	if err != nil {
		return []string{p.Address}, nil
	}
	var devs []string
	err = l.inNamespace(l.Namespace(p.Router), func(h *netlink.Handle) error {
		routes, err := h.RouteGet(addr.AsSlice())
		if err != nil || len(routes) == 0 {
			return err
		}
		link, err := h.LinkByIndex(routes[0].LinkIndex)
		if err != nil {
			return err
		}
		devs = append(devs, link.Attrs().Name)
		if link.Type() != "bridge" {
			return nil
		}
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, port := range links {
			if port.Attrs().MasterIndex == link.Attrs().Index {
				devs = append(devs, port.Attrs().Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: route to BGP peer %s: %w", p.Router, p.Address, err)
	}
	return devs, nil
}

// facesCluster tells whether a router's interface leads to a cluster node:
// its link ends on one, or on a bridge node that a cluster node is wired
// to. Sessions over such an interface start with the cluster, after the
// fabric, numbered (a leaf naming the nodes beside its listen range) or
// unnumbered.
func (l *Lab) facesCluster(router, dev string) bool {
	other, ok := l.Topo.Across(topology.Endpoint{Node: router, Interface: dev})
	if !ok {
		return false
	}
	n, ok := l.Topo.Node(other.Node)
	if !ok {
		return false
	}
	switch n.Role {
	case topology.RoleClusterNode:
		return true
	case topology.RoleBridge:
		for _, link := range l.Topo.LinksOf(n.Name) {
			for _, end := range []topology.Endpoint{link.A, link.B} {
				if m, ok := l.Topo.Node(end.Node); ok && m.Role == topology.RoleClusterNode {
					return true
				}
			}
		}
	}
	return false
}
