// Package e2e holds the end-to-end suites (Ginkgo v2 + Gomega). They are
// written against Env, so the same specs run on the hermetic netns
// provider (the default, `make e2e`) and on kind + containerlab
// (`make e2e-kind`). docs/e2e.md lists what each suite proves.
package e2e

import (
	"context"
	"net/netip"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Host is a machine behind a fabric leaf, in one VRF or on one L2
// segment.
type Host struct {
	Name string
	VRF  string
	// L2VNI is the segment of a host on a stretched L2VNI ("" for a VRF's
	// hosts).
	L2VNI   string
	Address netip.Addr
	Leaf    string
}

// Env is a running lab: a fabric, its hosts, and a cluster running the
// operator. Node names are those of the topology file.
type Env interface {
	// ClusterNodes are the Kubernetes nodes (dual-homed to the node leaves).
	ClusterNodes() []string
	// FabricRouters are every FRR router of the fabric; EVPNLeaves the
	// ones terminating L3VNIs.
	FabricRouters() []string
	EVPNLeaves() []string
	// Hosts are the hosts behind the EVPN leaves, in VRFs; L2Hosts those
	// on the leaves' L2 segments.
	Hosts(ctx context.Context) ([]Host, error)
	L2Hosts(ctx context.Context) ([]Host, error)

	// Exec runs a command on a fabric node or in a cluster node's host
	// network namespace.
	Exec(ctx context.Context, node string, cmd ...string) (string, error)
	// ExecRouter runs a command in a cluster node's router namespace.
	ExecRouter(ctx context.Context, node string, cmd ...string) (string, error)
	// Vtysh runs vtysh commands on a fabric router or on a cluster node's
	// PE router.
	Vtysh(ctx context.Context, node string, commands ...string) (string, error)

	// StartHostBGP (re)starts a BGP speaker (FRR) with config in a cluster
	// node's host network namespace: the workload side of the host
	// sessions, as frr-k8s would be on a real node.
	StartHostBGP(ctx context.Context, node, config string) error

	// Kube is an admin client of the cluster.
	Kube() client.Client
	// Reboot destroys a cluster node's namespaces and processes and
	// recreates the node with the same name.
	Reboot(ctx context.Context, node string) error
	// RestartAgent restarts one operator component: "controller",
	// "reloader" (per node) or "labeler" (node ignored).
	RestartAgent(ctx context.Context, component, node string) error
	// KillRouterFRR kills the FRR daemons of a node's router; they come
	// back empty, as a restarted container would.
	KillRouterFRR(ctx context.Context, node string) error
	// DeleteRouterNamespace replaces a node's router namespace (and its
	// FRR) with a fresh one under the running operator.
	DeleteRouterNamespace(ctx context.Context, node string) error
	// RestartRouterPod restarts a node's router pod as a rollout,
	// eviction or `kubectl delete pod` does: FRR and the reloader stop
	// and start again together, FRR empty, the reloader with its state
	// dir (a hostPath); the router namespace stays.
	RestartRouterPod(ctx context.Context, node string) error
	// Logs returns the recent logs of a node's operator processes (or of a
	// fabric router's FRR), for evidence.
	Logs(node string) string
	// Restore brings a lab a failed spec may have broken back to the
	// state of the suite's start (topology, agents, manifests), for the
	// providers that own it; the others return nil and the suite then
	// only checks the lab's health.
	Restore(ctx context.Context) error
	// Close tears the lab down (for the providers that own it).
	Close(ctx context.Context) error
}
