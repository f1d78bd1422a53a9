package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// Reasons of the Applied and Valid conditions on user objects.
const (
	ReasonAllApplied      = "Applied"
	ReasonProgressing     = "Progressing"
	ReasonFailed          = "Failed"
	ReasonNoNodesSelected = "NoNodesSelected"
	ReasonValid           = "Valid"
	ReasonInvalid         = "Invalid"
	// ReasonWinsConflict: valid, and on some node it clashed with a
	// younger object (same VRF, VNI, overlapping localCIDR...), which is
	// skipped there.
	ReasonWinsConflict = "WinsConflict"
)

// maxFailedNames bounds ObjectStatus.FailedNodeNames.
const maxFailedNames = 10

// StatusAggregator writes each user object's status from all
// RouterNodeStatus objects. It is the only writer of those statuses, so
// the per-node controllers never contend for them; it runs once per
// cluster (in the labeler Deployment, under its leader election).
type StatusAggregator struct {
	Client client.Client
	// Namespace holds the RouterNodeStatus objects.
	Namespace string
}

// SetupWithManager registers one controller per kind.
func (a *StatusAggregator) SetupWithManager(mgr ctrl.Manager) error {
	for _, k := range objects.Kinds() {
		all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			list := k.NewList()
			if err := a.Client.List(ctx, list); err != nil {
				return nil
			}
			var reqs []reconcile.Request
			for _, o := range k.Items(list) {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
			}
			return reqs
		})
		err := ctrl.NewControllerManagedBy(mgr).
			Named("status-"+strings.ToLower(k.Name)).
			// Only spec changes matter for the object itself; the
			// aggregator's own status writes must not wake it up.
			For(k.New(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			Watches(&v1alpha1.RouterNodeStatus{}, all).
			Watches(&corev1.Node{}, all, builder.WithPredicates(predicate.LabelChangedPredicate{})).
			Complete(&kindAggregator{StatusAggregator: a, kind: k})
		if err != nil {
			return err
		}
	}
	return nil
}

type kindAggregator struct {
	*StatusAggregator
	kind *objects.Kind
}

func (k *kindAggregator) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var nodes corev1.NodeList
	if err := k.Client.List(ctx, &nodes); err != nil {
		return reconcile.Result{}, err
	}
	var reports v1alpha1.RouterNodeStatusList
	if err := k.Client.List(ctx, &reports, client.InNamespace(k.Namespace)); err != nil {
		return reconcile.Result{}, err
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := k.kind.New()
		if err := k.Client.Get(ctx, req.NamespacedName, obj); err != nil {
			return err
		}
		status := k.kind.Status(obj)
		next := Aggregate(k.kind.Ref(obj), obj.GetGeneration(), k.kind.NodeSelector(obj), nodes.Items, reports.Items, status.Conditions)
		if equality.Semantic.DeepEqual(*status, next) {
			return nil
		}
		*status = next
		return k.Client.Status().Update(ctx, obj)
	})
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, err
}

// Aggregate computes one object's status: the nodes its selector picks,
// and of those, how many report the current generation applied or
// failed. A node that has not yet reported the current generation counts
// as neither, so Applied turns True only when every selected node caught up.
func Aggregate(ref objects.Ref, generation int64, selector *metav1.LabelSelector, nodes []corev1.Node,
	reports []v1alpha1.RouterNodeStatus, previous []metav1.Condition) v1alpha1.ObjectStatus {
	byNode := map[string]*v1alpha1.RouterNodeStatus{}
	for i := range reports {
		byNode[reports[i].Name] = &reports[i]
	}
	st := v1alpha1.ObjectStatus{ObservedGeneration: generation}
	var invalid, waiting, wins string
	waitingNodes := int32(0)
	for _, n := range nodes {
		if !nodeconfig.Selects(selector, n.Labels) {
			continue
		}
		st.SelectedNodes++
		rns := byNode[n.Name]
		if rns == nil {
			continue
		}
		for _, res := range rns.Status.Objects {
			if res.Kind != ref.Kind || res.Namespace != ref.Namespace || res.Name != ref.Name || res.Generation != generation {
				continue
			}
			switch res.Result {
			case v1alpha1.ResultApplied:
				st.AppliedNodes++
				if res.Message != "" && wins == "" {
					wins = res.Message
				}
			case v1alpha1.ResultSkipped, v1alpha1.ResultFailed:
				st.FailedNodes++
				st.FailedNodeNames = append(st.FailedNodeNames, n.Name)
				switch {
				case res.Reason == v1alpha1.ReasonDependencyMissing:
					// Not invalid: it waits for what it refers to.
					waitingNodes++
					if waiting == "" {
						waiting = res.Message
					}
				case res.Result == v1alpha1.ResultSkipped && invalid == "":
					invalid = res.Message
				}
			}
		}
	}
	slices.Sort(st.FailedNodeNames)
	st.FailedNodeNames = slices.Compact(st.FailedNodeNames)
	if len(st.FailedNodeNames) > maxFailedNames {
		st.FailedNodeNames = st.FailedNodeNames[:maxFailedNames]
	}

	applied := metav1.Condition{Type: v1alpha1.ConditionApplied, ObservedGeneration: generation}
	switch {
	case st.SelectedNodes == 0:
		applied.Status, applied.Reason, applied.Message = metav1.ConditionFalse, ReasonNoNodesSelected, "no node is selected"
	case st.FailedNodes > 0 && waitingNodes == st.FailedNodes:
		applied.Status, applied.Reason = metav1.ConditionFalse, v1alpha1.ReasonDependencyMissing
		applied.Message = fmt.Sprintf("waiting on %d of %d selected nodes for an object it refers to: %s", waitingNodes, st.SelectedNodes, waiting)
	case st.FailedNodes > 0:
		applied.Status, applied.Reason = metav1.ConditionFalse, ReasonFailed
		applied.Message = fmt.Sprintf("failed on %d of %d selected nodes (%v); see their RouterNodeStatus", st.FailedNodes, st.SelectedNodes, st.FailedNodeNames)
	case st.AppliedNodes == st.SelectedNodes:
		applied.Status, applied.Reason = metav1.ConditionTrue, ReasonAllApplied
		applied.Message = fmt.Sprintf("generation %d applied on all %d selected nodes", generation, st.SelectedNodes)
	default:
		applied.Status, applied.Reason = metav1.ConditionFalse, ReasonProgressing
		applied.Message = fmt.Sprintf("generation %d applied on %d of %d selected nodes", generation, st.AppliedNodes, st.SelectedNodes)
	}
	valid := metav1.Condition{Type: v1alpha1.ConditionValid, ObservedGeneration: generation,
		Status: metav1.ConditionTrue, Reason: ReasonValid, Message: "no node reported a validation error"}
	switch {
	case invalid != "":
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, ReasonInvalid, invalid
	case wins != "":
		valid.Reason, valid.Message = ReasonWinsConflict, wins
	}
	for _, c := range []metav1.Condition{applied, valid} {
		if old := meta.FindStatusCondition(previous, c.Type); old != nil {
			st.Conditions = append(st.Conditions, *old)
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}
	return st
}
