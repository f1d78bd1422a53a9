package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/simulator/kind"
	"github.com/perouter/perouter/simulator/topology"
)

// kindEnv runs the suites against a lab deployed with simulator/kind
// (kind + containerlab + the Helm chart) on a Docker host. Nodes are
// containers; the router of a cluster node is the operator's router pod.
type kindEnv struct {
	topo *topology.Lab
	kube client.Client
	kc   string
}

func newKindEnv(ctx context.Context, topoPath string) (*kindEnv, error) {
	topo, err := topology.Load(topoPath)
	if err != nil {
		return nil, err
	}
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		kc = filepath.Join(os.Getenv("HOME"), ".kube", "config")
	}
	k, err := kubeClient(kc)
	if err != nil {
		return nil, err
	}
	return &kindEnv{topo: topo, kube: k, kc: kc}, nil
}

func (e *kindEnv) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (e *kindEnv) container(node string) string {
	n, _ := e.topo.Node(node)
	if n.Role == topology.RoleClusterNode {
		return node // kind names its containers after the nodes
	}
	return kind.ContainerName(e.topo.Name, node)
}

func (e *kindEnv) ClusterNodes() []string {
	return names(e.topo.NodesWithRole(topology.RoleClusterNode))
}
func (e *kindEnv) FabricRouters() []string { return names(e.topo.NodesWithRole(topology.RoleRouter)) }

func (e *kindEnv) EVPNLeaves() []string {
	var out []string
	for _, n := range e.topo.NodesWithRole(topology.RoleRouter) {
		b, _ := n.Bind(topology.FRRConfigPath)
		if data, err := os.ReadFile(b.Host); err == nil && strings.Contains(string(data), "advertise-all-vni") {
			out = append(out, n.Name)
		}
	}
	return out
}

func (e *kindEnv) Hosts(ctx context.Context) ([]Host, error) {
	var out []Host
	for _, n := range e.topo.NodesWithRole(topology.RoleHost) {
		vrf := n.Labels["perouter.io/vrf"]
		links := e.topo.LinksOf(n.Name)
		if vrf == "" || len(links) == 0 {
			continue
		}
		local, peer := links[0].A, links[0].B
		if local.Node != n.Name {
			local, peer = peer, local
		}
		o, err := e.Exec(ctx, n.Name, "ip", "-4", "-o", "addr", "show", "dev", local.Interface, "scope", "global")
		if err != nil {
			return nil, err
		}
		p, err := netip.ParsePrefix(fieldAfter(o, "inet"))
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", n.Name, err)
		}
		out = append(out, Host{Name: n.Name, VRF: vrf, Address: p.Addr(), Leaf: peer.Node})
	}
	return out, nil
}

func (e *kindEnv) Exec(ctx context.Context, node string, cmd ...string) (string, error) {
	return e.run(ctx, "docker", append([]string{"exec", e.container(node)}, cmd...)...)
}

func (e *kindEnv) ExecRouter(ctx context.Context, node string, cmd ...string) (string, error) {
	return e.run(ctx, "docker", append([]string{"exec", node, "ip", "netns", "exec", kind.RouterNetns}, cmd...)...)
}

// routerPod finds the router pod on a node.
func (e *kindEnv) routerPod(ctx context.Context, node string) (string, error) {
	out, err := e.run(ctx, "kubectl", "--kubeconfig", e.kc, "-n", operatorNamespace, "get", "pods",
		"-l", kind.RouterPodSelector, "--field-selector", "spec.nodeName="+node, "-o", "name")
	if err != nil {
		return "", err
	}
	pod := strings.TrimSpace(out)
	if pod == "" {
		return "", fmt.Errorf("no router pod on node %s", node)
	}
	return pod, nil
}

func (e *kindEnv) Vtysh(ctx context.Context, node string, commands ...string) (string, error) {
	var args []string
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	n, _ := e.topo.Node(node)
	if n.Role != topology.RoleClusterNode {
		return e.Exec(ctx, node, append([]string{"vtysh"}, args...)...)
	}
	pod, err := e.routerPod(ctx, node)
	if err != nil {
		return "", err
	}
	return e.run(ctx, "kubectl", append([]string{"--kubeconfig", e.kc, "-n", operatorNamespace, "exec", pod, "-c", "frr", "--", "vtysh"}, args...)...)
}

func (e *kindEnv) StartHostBGP(ctx context.Context, node, config string) error {
	return fmt.Errorf("kind provider: the host-side BGP speaker is deployed by simulator/kind (frr-k8s), not started per test")
}

func (e *kindEnv) Kube() client.Client { return e.kube }

func (e *kindEnv) Reboot(ctx context.Context, node string) error {
	_, err := e.run(ctx, "docker", "restart", node)
	return err
}

func (e *kindEnv) RestartAgent(ctx context.Context, component, node string) error {
	sel := "app.kubernetes.io/component=" + component
	args := []string{"--kubeconfig", e.kc, "-n", operatorNamespace, "delete", "pod", "-l", sel}
	if node != "" && component != "labeler" {
		args = append(args, "--field-selector", "spec.nodeName="+node)
	}
	_, err := e.run(ctx, "kubectl", args...)
	return err
}

func (e *kindEnv) KillRouterFRR(ctx context.Context, node string) error {
	pod, err := e.routerPod(ctx, node)
	if err != nil {
		return err
	}
	_, err = e.run(ctx, "kubectl", "--kubeconfig", e.kc, "-n", operatorNamespace, "exec", pod, "-c", "frr", "--", "pkill", "-9", "bgpd")
	return err
}

// DeleteRouterNamespace deletes the router pod. The router namespace is a
// named one that outlives the pod (router-start.sh), so on kind this is
// the pod restart RestartRouterPod does, not a new namespace: deleting
// the namespace itself would also destroy the node's fabric veths inside
// it, which the netns provider hands back to the host first
// (cluster.Agents.RestartRouter) and this provider does not.
func (e *kindEnv) DeleteRouterNamespace(ctx context.Context, node string) error {
	pod, err := e.routerPod(ctx, node)
	if err != nil {
		return err
	}
	_, err = e.run(ctx, "kubectl", "--kubeconfig", e.kc, "-n", operatorNamespace, "delete", pod)
	return err
}

// RestartRouterPod deletes the node's router pod; the DaemonSet starts a
// new one. kubectl waits until the old pod is gone.
func (e *kindEnv) RestartRouterPod(ctx context.Context, node string) error {
	pod, err := e.routerPod(ctx, node)
	if err != nil {
		return err
	}
	_, err = e.run(ctx, "kubectl", "--kubeconfig", e.kc, "-n", operatorNamespace, "delete", pod)
	return err
}

func (e *kindEnv) Logs(node string) string {
	out, _ := e.run(context.Background(), "kubectl", "--kubeconfig", e.kc, "-n", operatorNamespace, "logs", "--all-containers", "--tail=200",
		"-l", "app.kubernetes.io/name=perouter")
	return out
}

// Restore leaves the kind lab as it is: it is long-lived and shared with
// the user, so the suite only checks its health after a failure.
func (e *kindEnv) Restore(ctx context.Context) error { return nil }

// Close leaves the lab to `make kind-down`: the kind provider's lab is
// long-lived and shared with the user.
func (e *kindEnv) Close(ctx context.Context) error { return nil }
