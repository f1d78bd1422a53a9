package controller

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// unchanged is the fast path for a reconcile whose inputs did not change:
// the datapath is re-applied when a resync is due, zebra checked when due,
// the BGP sessions read when due, and the status written when one of
// those changed it.
func (r *NodeReconciler) unchanged(ctx context.Context) (reconcile.Result, error) {
	unchangedReconciles.Inc()
	last := r.state.last
	now := time.Now()
	// The requeue fires no earlier than Resync after the last pass; the
	// slack covers a pass that ended a moment after datapathAt was taken.
	resyncDue := r.Resync > 0 && now.Sub(last.datapathAt) >= r.Resync-r.Resync/10
	if resyncDue {
		// FRR runs this plan's config already, so anything recreated may
		// come up at once: one pass instead of Prepare and Activate.
		changes, err := r.Datapath.Reapply(ctx, last.plan)
		if err != nil {
			datapathFailures.Inc()
			// The full path retries and reports the failure.
			r.state.invalidate()
			return reconcile.Result{}, fmt.Errorf("datapath resync: %w", err)
		}
		if len(changes) > 0 {
			log.FromContext(ctx).Info("datapath drift repaired", "changes", changes.String())
			r.scheduleZebraCheck(now)
		}
		r.state.resynced(now)
		// The node's routes may have changed since (DHCP, an operator):
		// the webhook reads the list from the status.
		last.status.ProtectedInterfaces = r.protectedInterfaces(ctx, last.plan.NodeAddresses)
	}
	r.checkZebra(ctx, now)
	if r.refreshBGP(ctx, now) || resyncDue {
		st := last.status.DeepCopy()
		st.BGPNeighbors = r.bgp.neighbors
		if _, err := r.writeStatus(ctx, *st); err != nil {
			return reconcile.Result{}, fmt.Errorf("RouterNodeStatus %s/%s: %w", r.Namespace, r.NodeName, err)
		}
	}
	return reconcile.Result{RequeueAfter: r.nextWake(now)}, nil
}

// nextWake is when the next resync, BGP refresh or zebra check is due. A
// wake is never zero, which would mean no requeue at all.
func (r *NodeReconciler) nextWake(now time.Time) time.Duration {
	var wake time.Duration
	if r.Resync > 0 {
		wake = r.Resync
		if r.state.last != nil {
			wake = max(r.state.last.datapathAt.Add(r.Resync).Sub(now), time.Millisecond)
		}
	}
	if r.BGP != nil {
		bgp := max(r.bgp.at.Add(r.bgpRefresh()).Sub(now), time.Millisecond)
		if wake == 0 || bgp < wake {
			wake = bgp
		}
	}
	if !r.zebra.at.IsZero() {
		zebra := max(r.zebra.at.Sub(now), time.Millisecond)
		if wake == 0 || zebra < wake {
			wake = zebra
		}
	}
	return wake
}
