package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// fail reports a failed push stage on the node and every object, and
// returns the error, which retries with backoff.
func (r *NodeReconciler) fail(ctx context.Context, node *corev1.Node, st v1alpha1.RouterNodeStatusStatus, objs []v1alpha1.ObjectResult, reason, eventReason, headline string, detail error) (reconcile.Result, error) {
	st.Errors = nodeErrors(headline, detail)
	st.Objects = objs
	summary := strings.Join(st.Errors, "; ")
	setCondition(&st, ConditionApplied, metav1.ConditionFalse, reason, summary)
	// events.k8s.io refuses a note over 1 KiB.
	r.event(node, nil, corev1.EventTypeWarning, eventReason, truncate(summary, 1024))
	if _, err := r.finish(ctx, st, nil, objects.Set{}); err != nil {
		log.FromContext(ctx).Error(err, "writing RouterNodeStatus")
	}
	return reconcile.Result{}, fmt.Errorf("%s: %w", headline, detail)
}

// finish reads BGP state, writes the RouterNodeStatus when it changed,
// sends an event to each object whose result on this node newly became
// a failure, and schedules the next wake.
func (r *NodeReconciler) finish(ctx context.Context, st v1alpha1.RouterNodeStatusStatus, node *corev1.Node, set objects.Set) (reconcile.Result, error) {
	now := time.Now()
	r.refreshBGP(ctx, now)
	st.BGPNeighbors = r.bgp.neighbors
	previous, err := r.writeStatus(ctx, st)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("RouterNodeStatus %s/%s: %w", r.Namespace, r.NodeName, err)
	}
	if node != nil {
		r.eventNewFailures(node, previous, st.Objects, set)
	}
	return reconcile.Result{RequeueAfter: r.nextWake(now)}, nil
}

// writeStatus creates the RouterNodeStatus if needed and updates its
// status unless nothing changed; it returns the previous object results.
func (r *NodeReconciler) writeStatus(ctx context.Context, st v1alpha1.RouterNodeStatusStatus) ([]v1alpha1.ObjectResult, error) {
	var previous []v1alpha1.ObjectResult
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var rns v1alpha1.RouterNodeStatus
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.NodeName}, &rns)
		if apierrors.IsNotFound(err) {
			rns = v1alpha1.RouterNodeStatus{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.NodeName}}
			if err := r.Client.Create(ctx, &rns); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		previous = rns.Status.Objects
		next := st.DeepCopy()
		// Keep the transition times of conditions whose status did not
		// change; drop conditions this reconcile did not set.
		var conds []metav1.Condition
		for _, c := range next.Conditions {
			if old := meta.FindStatusCondition(rns.Status.Conditions, c.Type); old != nil {
				conds = append(conds, *old)
			}
			meta.SetStatusCondition(&conds, c)
		}
		next.Conditions = conds
		if equality.Semantic.DeepEqual(rns.Status, *next) {
			return nil
		}
		rns.Status = *next
		return r.Client.Status().Update(ctx, &rns)
	})
	return previous, err
}

// setAppliedConditions sets the conditions of a successful pass: the
// config with this hash is live, degraded when objects were skipped.
func setAppliedConditions(st *v1alpha1.RouterNodeStatusStatus, hash string, skipped bool) {
	setCondition(st, ConditionApplied, metav1.ConditionTrue, ReasonApplied, "configuration "+short(hash)+" is live")
	if skipped {
		setCondition(st, ConditionDegraded, metav1.ConditionTrue, ReasonObjectsSkipped,
			fmt.Sprintf("%d object(s) skipped, see .status.objects", countSkipped(st.Objects)))
	} else {
		setCondition(st, ConditionDegraded, metav1.ConditionFalse, ReasonHealthy, "no object skipped")
	}
}

func setCondition(st *v1alpha1.RouterNodeStatusStatus, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(msg, maxConditionBytes)})
}
