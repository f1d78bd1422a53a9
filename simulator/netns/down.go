package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/topology"
)

// Down removes everything the lab owns: processes inside its namespaces
// (found through /proc, so daemons of a crashed run are found too), the
// agents' processes, the namespaces (and with them every veth and bridge),
// and the state directory. It succeeds on a machine where the lab is not up.
func (l *Lab) Down(ctx context.Context) error {
	var errs []error
	if l.opts.Agents != nil {
		if err := l.opts.Agents.StopCluster(ctx, l); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, killPidFiles(l.StateDir()))
	var present []string
	for _, ns := range l.namespaces() {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			present = append(present, ns)
		}
	}
	if len(present) > 0 {
		l.logf("removing %d namespaces of lab %s", len(present), l.Topo.Name)
	}
	errs = append(errs, killInNamespaces(present))
	errs = append(errs, deleteNamespaces(present))
	if err := os.RemoveAll(l.StateDir()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killPidFiles kills the processes whose pid files (*.pid, one pid each) lie
// anywhere under dir: agents running in the root namespace record
// themselves there.
func killPidFiles(dir string) error {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".agent.pid") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
		return nil
	})
	return Terminate(pids)
}

// killInNamespaces kills every process whose network namespace is one of
// names.
func killInNamespaces(names []string) error {
	if len(names) == 0 {
		return nil
	}
	want := map[[2]uint64]bool{}
	for _, ns := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", ns), &st); err == nil {
			want[[2]uint64{st.Dev, st.Ino}] = true
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st); err != nil {
			continue
		}
		if want[[2]uint64{st.Dev, st.Ino}] {
			pids = append(pids, pid)
		}
	}
	return Terminate(pids)
}

// Terminate sends SIGTERM, waits up to 5 s, then SIGKILLs what is left.
func Terminate(pids []int) error {
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	// One deadline for all: the later pids have had the earlier ones' wait.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		if waitGone(pid, time.Until(deadline)) != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var errs []error
	// A killed process can sit in uninterruptible sleep for a while (seen
	// under heavy load, with the kernel busy tearing down namespaces).
	for _, pid := range pids {
		if waitGone(pid, 20*time.Second) != nil {
			errs = append(errs, fmt.Errorf("process %d survived SIGKILL", pid))
		}
	}
	return errors.Join(errs...)
}

// waitGone waits up to timeout for pid to be gone (retry.ErrTimeout if not).
func waitGone(pid int, timeout time.Duration) error {
	if timeout <= 0 {
		if alive(pid) {
			return retry.ErrTimeout
		}
		return nil
	}
	return retry.Poll(context.Background(), timeout, retry.Every(20*time.Millisecond), func() (bool, error) {
		return !alive(pid), nil
	})
}

// alive is false for processes that are gone or zombies (a zombie holds no
// namespace and waits only for its parent).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func deleteNamespaces(names []string) error {
	if len(names) == 0 {
		return nil
	}
	var batch strings.Builder
	for _, ns := range names {
		fmt.Fprintf(&batch, "netns del %s\n", ns)
	}
	cmd := exec.Command("ip", "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deleting namespaces: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Reboot destroys a node's namespaces, processes and state and recreates
// it with the same name, links, setup, FRR and agents, like a machine that
// lost power and came back.
func (l *Lab) Reboot(ctx context.Context, node string) error {
	n, ok := l.Topo.Node(node)
	if !ok {
		return fmt.Errorf("reboot: node %q is not in lab %s", node, l.Topo.Name)
	}
	if n.Role == topology.RoleCluster {
		return fmt.Errorf("reboot: node %q is the cluster, not a machine", node)
	}
	// A veth dies with either namespace, taking the peer's addresses along;
	// only a bridge peer can take a new end without re-running its setup.
	for _, link := range l.Topo.LinksOf(node) {
		peer := link.A
		if peer.Node == node {
			peer = link.B
		}
		if p, _ := l.Topo.Node(peer.Node); p.Role != topology.RoleBridge {
			return fmt.Errorf("reboot: node %q is linked to %s, which is not a bridge: rebooting it would delete %s's interface and its addresses", node, peer, peer.Node)
		}
	}
	l.logf("rebooting %s: stopping", node)
	if n.Role == topology.RoleClusterNode && l.opts.Agents != nil {
		if err := l.opts.Agents.StopNode(ctx, l, n); err != nil {
			return fmt.Errorf("reboot %s: %w", node, err)
		}
	}
	l.mu.Lock()
	if inst, ok := l.routers[node]; ok {
		_ = inst.Stop()
		delete(l.routers, node)
	}
	l.mu.Unlock()
	names := []string{l.Namespace(node)}
	if n.Role == topology.RoleClusterNode {
		names = append(names, l.RouterNamespace(node))
	}
	if err := killInNamespaces(names); err != nil {
		return fmt.Errorf("reboot %s: %w", node, err)
	}
	// A deleted namespace's devices are destroyed asynchronously, so a
	// veth whose end sits in one of the node's namespaces could outlive
	// the deletion long enough for its peer to collide with the recreated
	// link ("file exists"). The node's end may be anywhere by now (the
	// operator moves the underlay NICs into the router namespace), but the
	// peer end stays in its bridge: deleting it there removes both ends at
	// once, before anything is deleted or recreated.
	if err := l.deletePeerEnds(node); err != nil {
		return fmt.Errorf("reboot %s: %w", node, err)
	}
	if err := deleteNamespaces(names); err != nil {
		return fmt.Errorf("reboot %s: %w", node, err)
	}
	if err := os.RemoveAll(l.NodeDir(node)); err != nil {
		return err
	}
	l.logf("rebooting %s: starting", node)
	if err := l.createNamespaces(names); err != nil {
		return err
	}
	for _, link := range l.Topo.LinksOf(node) {
		if err := l.createLink(link); err != nil {
			return err
		}
	}
	for _, link := range l.Topo.LinksOf(node) {
		// The peer's end is new too: bring it up (and into its bridge).
		peer := link.A.Node
		if peer == node {
			peer = link.B.Node
		}
		if err := l.wireNode(l.mustNode(peer), link); err != nil {
			return err
		}
	}
	if err := l.wireNode(n, l.Topo.LinksOf(node)...); err != nil {
		return err
	}
	if err := l.startNode(ctx, n); err != nil {
		return err
	}
	if n.Role == topology.RoleClusterNode && l.opts.Agents != nil {
		if err := l.opts.Agents.StartNode(ctx, l, n); err != nil {
			return fmt.Errorf("reboot %s: %w", node, err)
		}
	}
	l.logf("rebooted %s", node)
	return nil
}

// deletePeerEnds deletes, in each peer's namespace, the far end of every
// link of node (which deletes the node's end with it, wherever it was
// moved), and checks that none is left.
func (l *Lab) deletePeerEnds(node string) error {
	for _, link := range l.Topo.LinksOf(node) {
		peer := link.A
		if peer.Node == node {
			peer = link.B
		}
		err := l.inNamespace(l.Namespace(peer.Node), func(h *netlink.Handle) error {
			dev, err := h.LinkByName(peer.Interface)
			if errors.As(err, new(netlink.LinkNotFoundError)) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := h.LinkDel(dev); err != nil && !errors.Is(err, syscall.ENODEV) {
				return fmt.Errorf("delete %s: %w", peer, err)
			}
			// A veth pair goes as a whole, synchronously: the end must be
			// gone now, or a later link would collide with it.
			if _, err := h.LinkByName(peer.Interface); err == nil {
				return fmt.Errorf("%s still exists after its deletion", peer)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
