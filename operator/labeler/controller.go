package labeler

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Event reasons on Nodes.
const (
	ReasonIndexAssigned   = "NodeIndexAssigned"
	ReasonIndexReassigned = "NodeIndexReassigned"
	ReasonNoCapacity      = "NodeIndexCapacityReached"
)

// Reconciler keeps every Node's index label right. All nodes are decided
// together, because an index is only meaningful relative to the others.
type Reconciler struct {
	// Client writes the labels.
	Client client.Client
	// Reader lists Nodes. It must read from the API server, not from a
	// cache: a cache that has not yet seen the label just written would
	// make the same index look free twice.
	Reader   client.Reader
	Recorder events.EventRecorder
	// MaxIndex is the highest index the pools can address, or Unlimited.
	MaxIndex int
}

// allNodes is the single work item: every event collapses into one
// reconcile of the whole node set.
var allNodes = reconcile.Request{NamespacedName: types.NamespacedName{Name: "all-nodes"}}

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("node-labeler").
		Watches(&corev1.Node{},
			handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
				return []reconcile.Request{allNodes}
			}),
			// Status heartbeats change neither labels nor annotations.
			builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Complete(r)
}

// Reconcile decides every node's index and writes the changes.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var nodes corev1.NodeList
	if err := r.Reader.List(ctx, &nodes); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing nodes: %w", err)
	}
	infos := make([]NodeInfo, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		infos = append(infos, NodeInfo{Name: n.Name, Created: n.CreationTimestamp.Time, Label: n.Labels[v1alpha1.NodeIndexLabel]})
	}
	decisions := Allocate(infos, r.MaxIndex)

	// Write duplicates' losers before new nodes only matters for readers
	// of the log; any order is safe because winners are never touched.
	slices.SortFunc(nodes.Items, func(a, b corev1.Node) int {
		return olderFirst(NodeInfo{Name: a.Name, Created: a.CreationTimestamp.Time}, NodeInfo{Name: b.Name, Created: b.CreationTimestamp.Time})
	})
	var firstErr error
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if err := r.apply(ctx, node, decisions[node.Name]); err != nil {
			logger.Error(err, "updating node index", "node", node.Name)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return reconcile.Result{}, firstErr
}

func (r *Reconciler) apply(ctx context.Context, node *corev1.Node, d Decision) error {
	logger := log.FromContext(ctx).WithValues("node", node.Name)
	patched := node.DeepCopy()
	switch d.Action {
	case Keep:
		if _, marked := node.Annotations[NoIndexAnnotation]; !marked {
			return nil
		}
		delete(patched.Annotations, NoIndexAnnotation)
	case Assign:
		if patched.Labels == nil {
			patched.Labels = map[string]string{}
		}
		patched.Labels[v1alpha1.NodeIndexLabel] = strconv.Itoa(d.Index)
		delete(patched.Annotations, NoIndexAnnotation)
	case NoCapacity:
		msg := fmt.Sprintf("no node index available: indices 0..%d are in use (--max-index)", r.MaxIndex)
		if d.Reason != "" {
			msg += "; " + d.Reason
		}
		_, labelled := node.Labels[v1alpha1.NodeIndexLabel]
		if !labelled && node.Annotations[NoIndexAnnotation] == msg {
			return nil
		}
		delete(patched.Labels, v1alpha1.NodeIndexLabel)
		if patched.Annotations == nil {
			patched.Annotations = map[string]string{}
		}
		patched.Annotations[NoIndexAnnotation] = msg
	default:
		return fmt.Errorf("node %s: no decision", node.Name)
	}
	// The optimistic lock makes the patch fail if the node changed since it
	// was listed, so a decision is never written over state it did not see.
	if err := r.Client.Patch(ctx, patched, client.MergeFromWithOptions(node, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("node %s: patching %s: %w", node.Name, v1alpha1.NodeIndexLabel, err)
	}
	switch {
	case d.Action == NoCapacity:
		logger.Info("node gets no index: capacity reached", "maxIndex", r.MaxIndex, "reason", d.Reason)
		r.event(node, corev1.EventTypeWarning, ReasonNoCapacity, patched.Annotations[NoIndexAnnotation])
	case d.Action == Assign && d.Reason != "":
		logger.Info("node index reassigned", "old", node.Labels[v1alpha1.NodeIndexLabel], "new", d.Index, "reason", d.Reason)
		r.event(node, corev1.EventTypeWarning, ReasonIndexReassigned,
			fmt.Sprintf("node index changed from %q to %d: %s", node.Labels[v1alpha1.NodeIndexLabel], d.Index, d.Reason))
	case d.Action == Assign:
		logger.Info("node index assigned", "index", d.Index)
		r.event(node, corev1.EventTypeNormal, ReasonIndexAssigned, fmt.Sprintf("node index %d assigned", d.Index))
	}
	return nil
}

func (r *Reconciler) event(node *corev1.Node, eventType, reason, note string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(node, nil, eventType, reason, "LabelNode", "%s", note)
}
