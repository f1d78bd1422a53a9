package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/labeler"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/reloader"
)

// desired is what the inputs ask of this node: the model (with what was
// selected and skipped), its FRR configuration and its kernel plan.
type desired struct {
	cfg    nodeconfig.Config
	report nodeconfig.Report
	text   string
	plan   hostnet.Plan
}

// stageFailure is a push stage that failed, with what the status and
// the event say about it.
type stageFailure struct {
	stage    string // names the stage in each object's result
	reason   string // of the Applied condition
	event    string // the event's reason
	headline string
	err      error
}

// apply is the full path: list → validate → nodeconfig → frr/hostnet →
// push → status. A pass that succeeds is recorded in r.state.
func (r *NodeReconciler) apply(ctx context.Context, node *corev1.Node, fingerprint string, netnsID hostnet.NetnsIdentity) (reconcile.Result, error) {
	st := r.state.status()
	st.ProtectedInterfaces = r.protectedInterfaces(ctx, nodeAddresses(node))
	label, hasLabel := node.Labels[v1alpha1.NodeIndexLabel]
	index, valid := labeler.ParseIndex(label)
	if !hasLabel || !valid {
		msg := fmt.Sprintf("Node %s has no valid %s label yet (the labeler gives it); nothing is applied", r.NodeName, v1alpha1.NodeIndexLabel)
		st.Errors = nodeErrors(msg, nil)
		setCondition(&st, ConditionApplied, metav1.ConditionFalse, ReasonNoNodeIndex, msg)
		return r.finish(ctx, st, nil, objects.Set{})
	}
	idx32 := int32(index)
	st.NodeIndex = &idx32

	set, gens, err := r.loadSet(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	want, err := r.build(set, node, index)
	if err != nil {
		return r.invalidConfig(ctx, node, st, set, gens, err)
	}
	pushCtx, cancel := context.WithTimeout(ctx, r.pushTimeout())
	changed, netnsID, failure := r.push(pushCtx, want, netnsID)
	if failure != nil && pushCtx.Err() != nil && errors.Is(failure.err, context.DeadlineExceeded) {
		failure.headline = fmt.Sprintf("%s: no answer within the push timeout (%s); what runs is unknown until the retry", failure.stage, r.pushTimeout())
	}
	cancel()
	applied := r.state.status()
	st.AppliedConfigHash, st.LastAppliedTime = applied.AppliedConfigHash, applied.LastAppliedTime
	if failure != nil {
		objs := failedResults(want.report, gens, want.cfg, r.NodeName, failure.stage, failure.err)
		return r.fail(ctx, node, st, objs, failure.reason, failure.event, failure.headline, failure.err)
	}
	vnisApplied.WithLabelValues("l3").Set(float64(len(want.cfg.L3VNIs)))
	vnisApplied.WithLabelValues("l2").Set(float64(len(want.cfg.L2VNIs)))

	datapathAt := time.Now()
	if changed {
		r.scheduleZebraCheck(datapathAt)
	}
	st.Objects = objectResults(want.report, gens, v1alpha1.ResultApplied, "")
	setAppliedConditions(&st, r.state.config.hash, len(want.report.Skipped)+len(want.report.Missing) > 0)
	if r.Refreshers != nil {
		r.Refreshers.Sync(want.plan)
	}
	result, err := r.finish(ctx, st, node, set)
	if err == nil {
		r.state.applied(fingerprint, netnsID, want.plan, st, datapathAt)
	}
	return result, err
}

// build turns the objects into what this node should run.
func (r *NodeReconciler) build(set objects.Set, node *corev1.Node, index int) (desired, error) {
	configBuilds.Inc()
	cfg, report, err := nodeconfig.Build(set, nodeconfig.Node{Name: node.Name, Index: index, Labels: node.Labels})
	if err != nil {
		return desired{}, err
	}
	text, err := frr.Render(cfg)
	if err != nil {
		return desired{}, err
	}
	return desired{cfg: cfg, report: report, text: text, plan: hostnet.PlanFor(cfg, r.planOptions(node))}, nil
}

// invalidConfig reports a node that as a whole cannot be configured
// (invalid or duplicate Underlay, exhausted pool), or that waits for its
// Underlay's passwordSecret: the router keeps what it runs.
func (r *NodeReconciler) invalidConfig(ctx context.Context, node *corev1.Node, st v1alpha1.RouterNodeStatusStatus,
	set objects.Set, gens map[objects.Ref]int64, err error) (reconcile.Result, error) {
	msg := fmt.Sprintf("%v; the running configuration is kept", err)
	log.FromContext(ctx).Info("invalid configuration for the node; keeping the running one", "error", err.Error())
	st.Errors = nodeErrors(msg, nil)
	st.Objects = underlayResults(set, gens, node.Labels, v1alpha1.ResultFailed, truncate(msg, maxObjectMessage))
	reason := ReasonInvalidConfig
	if dep := (*nodeconfig.DependencyError)(nil); errors.As(err, &dep) {
		reason = v1alpha1.ReasonDependencyMissing
		for i := range st.Objects {
			st.Objects[i].Reason = reason
		}
	}
	setCondition(&st, ConditionApplied, metav1.ConditionFalse, reason, msg)
	r.event(node, nil, corev1.EventTypeWarning, EventInvalidConfig, truncate(msg, 1024))
	return r.finish(ctx, st, nil, objects.Set{})
}

// push makes the router run want: Prepare (new devices stay down), FRR
// reload when the config changed, Activate. It reports whether the
// kernel or FRR changed (zebra then has events to catch up on) and the
// identity of the router namespace it worked in (Prepare creates a
// missing one).
func (r *NodeReconciler) push(ctx context.Context, want desired, netnsID hostnet.NetnsIdentity) (bool, hostnet.NetnsIdentity, *stageFailure) {
	prepared, failure := datapathStep(ctx, "prepare", r.Datapath.Prepare, want.plan)
	if failure != nil {
		return false, 0, failure
	}
	if netnsID == 0 {
		// Prepare created the namespace.
		id, err := r.routerNetnsIdentity()
		if err != nil {
			return false, 0, &stageFailure{stage: "datapath prepare", reason: ReasonDatapathFailed, event: EventDatapath, headline: "router namespace unreadable after prepare", err: err}
		}
		netnsID = id
	}
	reloaded := r.state.needsReload(want.text)
	if reloaded {
		if failure := r.reload(ctx, want); failure != nil {
			return false, 0, failure
		}
	}
	activated, failure := datapathStep(ctx, "activate", r.Datapath.Activate, want.plan)
	if failure != nil {
		return false, 0, failure
	}
	return reloaded || prepared || activated, netnsID, nil
}

// datapathStep runs one datapath call (Prepare or Activate, named by
// step) and reports whether it changed the kernel.
func datapathStep(ctx context.Context, step string, call func(context.Context, hostnet.Plan) (hostnet.Changes, error), plan hostnet.Plan) (bool, *stageFailure) {
	changes, err := call(ctx, plan)
	if err != nil {
		datapathFailures.Inc()
		stage := "datapath " + step
		return false, &stageFailure{stage: stage, reason: ReasonDatapathFailed, event: EventDatapath, headline: stage + " failed", err: err}
	}
	if len(changes) > 0 {
		log.FromContext(ctx).Info("datapath "+step+"d", "changes", changes.String())
	}
	return len(changes) > 0, nil
}

// reload hands want's config to FRR and records it as applied.
func (r *NodeReconciler) reload(ctx context.Context, want desired) *stageFailure {
	hash := configHash(want.text)
	reloads.Inc()
	start := time.Now()
	err := r.FRR.Reload(ctx, want.text)
	reloadDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		reloadFailures.Inc()
		headline := fmt.Sprintf("FRR reload refused config %s (the previous config keeps running)", short(hash))
		var refused *reloader.ReloadError
		if r.state.config.text == "" && !(errors.As(err, &refused) && refused.Result.Stage == reloader.StageValidate) {
			// Nothing is known to run (the controller just started, or
			// the router lost its config) and FRR did not merely refuse
			// the text: no previous config is known to keep running.
			headline = fmt.Sprintf("FRR reload of config %s failed; what FRR runs is unknown (router restarted, or its reloader does not answer)", short(hash))
		}
		return &stageFailure{stage: "FRR reload", reason: ReasonReloadFailed, event: EventReloadFailed, headline: headline, err: &frrRefusal{err}}
	}
	r.state.reloaded(want.text, hash, time.Now())
	log.FromContext(ctx).Info("FRR configuration applied", "hash", short(hash), "l3vnis", len(want.cfg.L3VNIs), "l2vnis", len(want.cfg.L2VNIs))
	return nil
}
