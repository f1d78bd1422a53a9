package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/labeler"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
)

// Condition types and reasons on RouterNodeStatus.
const (
	ConditionApplied  = "Applied"
	ConditionDegraded = "Degraded"

	ReasonApplied        = "Applied"
	ReasonNoNodeIndex    = "NoNodeIndex"
	ReasonInvalidConfig  = "InvalidConfig"
	ReasonDatapathFailed = "DatapathFailed"
	ReasonReloadFailed   = "ReloadFailed"
	ReasonObjectsSkipped = "ObjectsSkipped"
	ReasonHealthy        = "Healthy"
)

// Event reasons.
const (
	EventObjectSkipped = "SkippedOnNode"
	EventReloadFailed  = "FRRReloadFailed"
	EventInvalidConfig = "InvalidNodeConfig"
	EventDatapath      = "DatapathFailed"
)

// DefaultNamespace holds the RouterNodeStatus objects.
const DefaultNamespace = "perouter-system"

// NodeReconciler runs on one node and makes its router match the objects.
//
// Flow of one reconcile: read the Node (index and labels) and every
// perouter object → nodeconfig.Build → frr.Render and hostnet.PlanFor →
// Datapath.Prepare (new VXLANs and bridges stay down) → FRR reload, only
// when the rendered config's hash differs from the one last applied →
// Datapath.Activate (devices up, now that FRR knows their VNIs) → status.
// Every reconcile re-applies the datapath, so the periodic resync repairs
// drift without touching FRR.
type NodeReconciler struct {
	// Client reads the perouter objects and Nodes from the cache.
	Client client.Client
	// APIReader reads what must be current: Secrets' data (only their
	// metadata is cached) and this node's RouterNodeStatus.
	APIReader client.Reader
	NodeName  string
	// Namespace holds the RouterNodeStatus objects.
	Namespace   string
	FRR         FRRPusher
	Datapath    hostnet.Datapath
	PlanOptions hostnet.PlanOptions
	// BGP is optional; without it the status lists no neighbours.
	BGP      BGPStateReader
	Recorder events.EventRecorder
	// Resync is how often the datapath is re-applied when nothing changed.
	Resync time.Duration

	mu sync.Mutex
	// appliedHash is the hash of the config FRR accepted last. It starts
	// empty, so a restarted controller pushes once: the router may have
	// restarted too, and reloading an identical config changes nothing.
	appliedHash string
	appliedAt   metav1.Time
}

func (r *NodeReconciler) nodeRequest() []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.NodeName}}}
}

// SetupWithManager registers the reconciler. Every watched event maps to
// the one work item, this node.
func (r *NodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toNode := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return r.nodeRequest() })
	ownNode := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetName() != r.NodeName {
			return nil
		}
		return r.nodeRequest()
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("router-node-"+r.NodeName).
		Watches(&corev1.Node{}, ownNode).
		Watches(&v1alpha1.Underlay{}, toNode).
		Watches(&v1alpha1.L3VNI{}, toNode).
		Watches(&v1alpha1.L2VNI{}, toNode).
		Watches(&v1alpha1.L3Passthrough{}, toNode).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToNode)).
		Complete(r)
}

// secretToNode reacts only to Secrets a neighbour's passwordSecret names.
func (r *NodeReconciler) secretToNode(ctx context.Context, o client.Object) []reconcile.Request {
	var underlays v1alpha1.UnderlayList
	if err := r.Client.List(ctx, &underlays, client.InNamespace(o.GetNamespace())); err != nil {
		return r.nodeRequest()
	}
	for _, u := range underlays.Items {
		for _, n := range u.Spec.Neighbors {
			if n.PasswordSecret == o.GetName() {
				return r.nodeRequest()
			}
		}
	}
	return nil
}

// Reconcile implements reconcile.Reconciler.
func (r *NodeReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	defer func() { reconcileDuration.Observe(time.Since(start).Seconds()) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	logger := log.FromContext(ctx).WithValues("node", r.NodeName)
	ctx = log.IntoContext(ctx, logger)

	var node corev1.Node
	if err := r.Client.Get(ctx, client.ObjectKey{Name: r.NodeName}, &node); err != nil {
		if apierrors.IsNotFound(err) {
			logger.Info("node not found; nothing to do until it exists")
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	st := v1alpha1.RouterNodeStatusStatus{AppliedConfigHash: r.appliedHash}
	if !r.appliedAt.IsZero() {
		st.LastAppliedTime = r.appliedAt.DeepCopy()
	}
	label, hasLabel := node.Labels[labeler.IndexLabel]
	index, valid := labeler.ParseIndex(label)
	if !hasLabel || !valid {
		msg := fmt.Sprintf("Node %s has no valid %s label yet (the labeler gives it); nothing is applied", r.NodeName, labeler.IndexLabel)
		st.Errors = []string{msg}
		setCondition(&st, ConditionApplied, metav1.ConditionFalse, ReasonNoNodeIndex, msg)
		return r.finish(ctx, st, nil, objects.Set{})
	}
	idx32 := int32(index)
	st.NodeIndex = &idx32

	set, gens, err := r.loadSet(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	cfg, report, err := nodeconfig.Build(set, nodeconfig.Node{Name: node.Name, Index: index, Labels: node.Labels})
	var text string
	if err == nil {
		text, err = frr.Render(cfg)
	}
	if err != nil {
		// The node as a whole cannot be configured (invalid or duplicate
		// Underlay, exhausted pool): the router keeps what it runs.
		msg := fmt.Sprintf("%v; the running configuration is kept", err)
		logger.Info("invalid configuration for the node; keeping the running one", "error", err.Error())
		st.Errors = []string{msg}
		st.Objects = underlayResults(set, gens, node.Labels, v1alpha1.ResultFailed, msg)
		setCondition(&st, ConditionApplied, metav1.ConditionFalse, ReasonInvalidConfig, msg)
		r.event(&node, nil, corev1.EventTypeWarning, EventInvalidConfig, msg)
		return r.finish(ctx, st, nil, objects.Set{})
	}
	hash := configHash(text)
	plan := hostnet.PlanFor(cfg, r.PlanOptions)

	selected := report.Selected
	results := func(result, msg string) []v1alpha1.ObjectResult {
		return objectResults(selected, report.Skipped, gens, result, msg)
	}

	if changes, err := r.Datapath.Prepare(ctx, plan); err != nil {
		datapathFailures.Inc()
		msg := fmt.Sprintf("datapath prepare: %v", err)
		return r.fail(ctx, &node, st, results(v1alpha1.ResultFailed, msg), ReasonDatapathFailed, EventDatapath, msg)
	} else if len(changes) > 0 {
		logger.Info("datapath prepared", "changes", changes.String())
	}

	if hash != r.appliedHash {
		reloads.Inc()
		reloadStart := time.Now()
		err := r.FRR.Reload(ctx, text)
		reloadDuration.Observe(time.Since(reloadStart).Seconds())
		if err != nil {
			reloadFailures.Inc()
			msg := fmt.Sprintf("FRR reload refused config %s (the previous config keeps running): %v", short(hash), err)
			return r.fail(ctx, &node, st, results(v1alpha1.ResultFailed, msg), ReasonReloadFailed, EventReloadFailed, msg)
		}
		r.appliedHash = hash
		r.appliedAt = metav1.NewTime(time.Now().Truncate(time.Second))
		st.AppliedConfigHash = hash
		st.LastAppliedTime = r.appliedAt.DeepCopy()
		logger.Info("FRR configuration applied", "hash", short(hash), "l3vnis", len(cfg.L3VNIs), "l2vnis", len(cfg.L2VNIs))
	}

	if changes, err := r.Datapath.Activate(ctx, plan); err != nil {
		datapathFailures.Inc()
		msg := fmt.Sprintf("datapath activate: %v", err)
		return r.fail(ctx, &node, st, results(v1alpha1.ResultFailed, msg), ReasonDatapathFailed, EventDatapath, msg)
	} else if len(changes) > 0 {
		logger.Info("datapath activated", "changes", changes.String())
	}
	vnisApplied.WithLabelValues("l3").Set(float64(len(cfg.L3VNIs)))
	vnisApplied.WithLabelValues("l2").Set(float64(len(cfg.L2VNIs)))

	st.Objects = results(v1alpha1.ResultApplied, "")
	setCondition(&st, ConditionApplied, metav1.ConditionTrue, ReasonApplied, "configuration "+short(hash)+" is live")
	if len(report.Skipped) > 0 {
		setCondition(&st, ConditionDegraded, metav1.ConditionTrue, ReasonObjectsSkipped,
			fmt.Sprintf("%d object(s) skipped, see .status.objects", countSkipped(st.Objects)))
	} else {
		setCondition(&st, ConditionDegraded, metav1.ConditionFalse, ReasonHealthy, "no object skipped")
	}
	return r.finish(ctx, st, &node, set)
}

func (r *NodeReconciler) fail(ctx context.Context, node *corev1.Node, st v1alpha1.RouterNodeStatusStatus, objs []v1alpha1.ObjectResult, reason, eventReason, msg string) (reconcile.Result, error) {
	st.Errors = []string{msg}
	st.Objects = objs
	setCondition(&st, ConditionApplied, metav1.ConditionFalse, reason, msg)
	r.event(node, nil, corev1.EventTypeWarning, eventReason, msg)
	if _, err := r.finish(ctx, st, nil, objects.Set{}); err != nil {
		log.FromContext(ctx).Error(err, "writing RouterNodeStatus")
	}
	// Returning the error retries with backoff.
	return reconcile.Result{}, errors.New(msg)
}

// finish reads BGP state, writes the RouterNodeStatus when it changed,
// sends an event to each object whose result on this node newly became
// a failure, and schedules the resync.
func (r *NodeReconciler) finish(ctx context.Context, st v1alpha1.RouterNodeStatusStatus, node *corev1.Node, set objects.Set) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	if r.BGP != nil {
		if neighbors, err := r.BGP.Neighbors(ctx); err != nil {
			logger.Info("reading BGP state", "error", err.Error())
		} else {
			st.BGPNeighbors = neighbors
			up := 0
			for _, n := range neighbors {
				if n.State == "Established" {
					up++
				}
			}
			bgpSessions.WithLabelValues("up").Set(float64(up))
			bgpSessions.WithLabelValues("down").Set(float64(len(neighbors) - up))
		}
	}
	previous, err := r.writeStatus(ctx, st)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("RouterNodeStatus %s/%s: %w", r.Namespace, r.NodeName, err)
	}
	if node != nil {
		r.eventNewFailures(node, previous, st.Objects, set)
	}
	return reconcile.Result{RequeueAfter: r.Resync}, nil
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

func (r *NodeReconciler) eventNewFailures(node *corev1.Node, previous, current []v1alpha1.ObjectResult, set objects.Set) {
	before := map[objects.Ref]v1alpha1.ObjectResult{}
	for _, o := range previous {
		before[objects.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = o
	}
	for _, o := range current {
		if o.Result == v1alpha1.ResultApplied {
			continue
		}
		ref := objects.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		if b, ok := before[ref]; ok && b.Result == o.Result && b.Message == o.Message && b.Generation == o.Generation {
			continue
		}
		if obj := findObject(set, ref); obj != nil {
			r.event(obj, node, corev1.EventTypeWarning, EventObjectSkipped, fmt.Sprintf("node %s: %s", r.NodeName, o.Message))
		}
	}
}

func (r *NodeReconciler) event(regarding, related client.Object, eventType, reason, note string) {
	if r.Recorder == nil {
		return
	}
	if related == nil {
		// A typed nil inside the interface would be dereferenced.
		r.Recorder.Eventf(regarding, nil, eventType, reason, "Reconcile", "%s", note)
		return
	}
	r.Recorder.Eventf(regarding, related, eventType, reason, "Reconcile", "%s", note)
}

func findObject(s objects.Set, ref objects.Ref) client.Object {
	match := func(m metav1.ObjectMeta) bool { return m.Namespace == ref.Namespace && m.Name == ref.Name }
	switch ref.Kind {
	case objects.KindUnderlay:
		for i := range s.Underlays {
			if match(s.Underlays[i].ObjectMeta) {
				return &s.Underlays[i]
			}
		}
	case objects.KindL3VNI:
		for i := range s.L3VNIs {
			if match(s.L3VNIs[i].ObjectMeta) {
				return &s.L3VNIs[i]
			}
		}
	case objects.KindL2VNI:
		for i := range s.L2VNIs {
			if match(s.L2VNIs[i].ObjectMeta) {
				return &s.L2VNIs[i]
			}
		}
	case objects.KindL3Passthrough:
		for i := range s.L3Passthroughs {
			if match(s.L3Passthroughs[i].ObjectMeta) {
				return &s.L3Passthroughs[i]
			}
		}
	}
	return nil
}

// loadSet reads every perouter object and the Secrets their neighbours
// reference, and remembers each object's generation for the status.
func (r *NodeReconciler) loadSet(ctx context.Context) (objects.Set, map[objects.Ref]int64, error) {
	var (
		s     objects.Set
		ul    v1alpha1.UnderlayList
		l3    v1alpha1.L3VNIList
		l2    v1alpha1.L2VNIList
		pt    v1alpha1.L3PassthroughList
		gens  = map[objects.Ref]int64{}
		lists = []client.ObjectList{&ul, &l3, &l2, &pt}
	)
	for _, l := range lists {
		if err := r.Client.List(ctx, l); err != nil {
			return s, nil, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	s.Underlays, s.L3VNIs, s.L2VNIs, s.L3Passthroughs = ul.Items, l3.Items, l2.Items, pt.Items
	for _, u := range s.Underlays {
		gens[objects.RefOf(objects.KindUnderlay, u.ObjectMeta)] = u.Generation
	}
	for _, o := range s.L3VNIs {
		gens[objects.RefOf(objects.KindL3VNI, o.ObjectMeta)] = o.Generation
	}
	for _, o := range s.L2VNIs {
		gens[objects.RefOf(objects.KindL2VNI, o.ObjectMeta)] = o.Generation
	}
	for _, o := range s.L3Passthroughs {
		gens[objects.RefOf(objects.KindL3Passthrough, o.ObjectMeta)] = o.Generation
	}
	seen := map[types.NamespacedName]bool{}
	for _, u := range s.Underlays {
		for _, n := range u.Spec.Neighbors {
			key := types.NamespacedName{Namespace: u.Namespace, Name: n.PasswordSecret}
			if n.PasswordSecret == "" || seen[key] {
				continue
			}
			seen[key] = true
			var secret corev1.Secret
			if err := r.APIReader.Get(ctx, key, &secret); err != nil {
				if apierrors.IsNotFound(err) {
					continue // validate reports the missing Secret on the Underlay
				}
				return s, nil, fmt.Errorf("reading Secret %s: %w", key, err)
			}
			s.Secrets = append(s.Secrets, secret)
		}
	}
	return s, gens, nil
}

// objectResults lists each object's result on this node: the selected
// ones with the reconcile's outcome, the skipped ones with their reasons.
func objectResults(selected []objects.Ref, skipped []validate.Error, gens map[objects.Ref]int64, result, msg string) []v1alpha1.ObjectResult {
	byRef := map[objects.Ref]*v1alpha1.ObjectResult{}
	var out []v1alpha1.ObjectResult
	for _, ref := range selected {
		if _, dup := byRef[ref]; dup {
			continue
		}
		out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref], Result: result, Message: msg})
		byRef[ref] = &out[len(out)-1]
	}
	skippedMsgs := map[objects.Ref][]string{}
	var skippedOrder []objects.Ref
	for _, e := range skipped {
		if _, ok := skippedMsgs[e.Ref]; !ok {
			skippedOrder = append(skippedOrder, e.Ref)
		}
		skippedMsgs[e.Ref] = append(skippedMsgs[e.Ref], e.Field+": "+e.Message)
	}
	for _, ref := range skippedOrder {
		if _, applied := byRef[ref]; applied {
			continue
		}
		out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref],
			Result: v1alpha1.ResultSkipped, Message: strings.Join(skippedMsgs[ref], "; ")})
	}
	sortResults(out)
	return out
}

// underlayResults marks every Underlay selecting the node when the node's
// config as a whole failed: those are the objects the failure is about.
func underlayResults(s objects.Set, gens map[objects.Ref]int64, nodeLabels map[string]string, result, msg string) []v1alpha1.ObjectResult {
	var out []v1alpha1.ObjectResult
	for _, u := range s.Underlays {
		if !nodeconfig.Selects(u.Spec.NodeSelector, nodeLabels) {
			continue
		}
		ref := objects.RefOf(objects.KindUnderlay, u.ObjectMeta)
		out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref], Result: result, Message: msg})
	}
	sortResults(out)
	return out
}

func sortResults(rs []v1alpha1.ObjectResult) {
	slices.SortFunc(rs, func(a, b v1alpha1.ObjectResult) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func countSkipped(rs []v1alpha1.ObjectResult) int {
	n := 0
	for _, r := range rs {
		if r.Result == v1alpha1.ResultSkipped {
			n++
		}
	}
	return n
}

func setCondition(st *v1alpha1.RouterNodeStatusStatus, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(msg, 32768)})
}

func configHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
