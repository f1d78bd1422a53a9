package controller

import (
	"context"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
)

// HostGuard reads which host NICs carry the node's own connectivity:
// the datapath never moves them (hostnet's protect.go), and the
// RouterNodeStatus publishes them, so that the webhook can refuse an
// Underlay naming one before it reaches the node.
type HostGuard interface {
	ProtectedInterfaces(ctx context.Context, nodeAddrs []netip.Addr) ([]hostnet.ProtectedInterface, error)
}

var _ HostGuard = (*hostnet.Manager)(nil)

// nodeAddresses are the Node's InternalIP and ExternalIP addresses,
// sorted: those other nodes and the API server reach it at.
func nodeAddresses(node *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// planOptions are the reconciler's PlanOptions with this node's
// addresses, which the datapath must not take away from the host.
func (r *NodeReconciler) planOptions(node *corev1.Node) hostnet.PlanOptions {
	o := r.PlanOptions
	o.NodeAddresses = nodeAddresses(node)
	return o
}

// protectedInterfaces reads the protected NICs for the status. A failed
// read keeps the last list read (and is logged): an empty list would
// tell the webhook that nothing is protected.
func (r *NodeReconciler) protectedInterfaces(ctx context.Context, nodeAddrs []netip.Addr) []v1alpha1.ProtectedInterface {
	if r.Guard == nil {
		return nil
	}
	list, err := r.Guard.ProtectedInterfaces(ctx, nodeAddrs)
	if err != nil {
		log.FromContext(ctx).Error(err, "reading the host NICs the node's connectivity depends on; the status keeps the last list")
		return r.protected
	}
	out := make([]v1alpha1.ProtectedInterface, len(list))
	for i, p := range list {
		out[i] = v1alpha1.ProtectedInterface{Name: p.Name, Reason: p.Reason}
	}
	r.protected = out
	return out
}
