package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

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
// when the rendered config differs from the one last applied →
// Datapath.Activate (devices up, now that FRR knows their VNIs) → status.
//
// Fast path: when the inputs' fingerprint (see inputFingerprint) equals
// the one of the last successful reconcile, nothing is built, rendered or
// reloaded. The datapath is still re-applied from the remembered plan once
// per Resync, which repairs drift without touching FRR, and the BGP
// sessions are read at most once per BGPRefresh.
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
	// BGPRefresh bounds how often BGP state is read (a vtysh process);
	// zero means DefaultBGPRefresh.
	BGPRefresh time.Duration
	// RouterNetns is the router namespace (name under /run/netns or a
	// path). When set, its identity is checked every NetnsPoll (zero:
	// DefaultNetnsPoll) and on every reconcile: a namespace deleted and
	// created again (router pod restarted) has lost every device the
	// controller built, so everything is applied again at once instead
	// of at the next resync.
	RouterNetns string
	NetnsPoll   time.Duration
	// Addresses, when set, makes the reconciler announce the host-side
	// addresses the datapath added once more a moment after each change
	// or reload; with Zebra also set, it then checks that zebra knows
	// every address of the router netns and has the kernel announce again
	// what it missed (see checkZebra). ZebraCheckDelay is that moment;
	// zero means DefaultZebraCheckDelay.
	Zebra           ZebraAddressReader
	Addresses       AddressAnnouncer
	ZebraCheckDelay time.Duration

	mu sync.Mutex
	// appliedHash is the hash of the config FRR accepted last. It starts
	// empty, so a restarted controller pushes once: the router may have
	// restarted too, and reloading an identical config changes nothing.
	appliedHash string
	appliedText string
	appliedAt   metav1.Time
	// applied is what the last successful reconcile saw and did; nil
	// after a failure, so the next reconcile takes the full path.
	applied *appliedInputs
	// bgpAt is when the BGP sessions were read last, bgpNeighbors what
	// that read returned.
	bgpAt        time.Time
	bgpNeighbors []v1alpha1.BGPNeighborState
	// zebraCheckAt is when zebra's addresses are checked next; zero when
	// no check is pending. zebraRounds counts checks that found some
	// missing, for the backoff.
	zebraCheckAt time.Time
	zebraRounds  int
}

// DefaultBGPRefresh is NodeReconciler.BGPRefresh's default.
const DefaultBGPRefresh = 30 * time.Second

// DefaultNetnsPoll is NodeReconciler.NetnsPoll's default: one namespace
// open, setns and socket per tick.
const DefaultNetnsPoll = 2 * time.Second

type appliedInputs struct {
	fingerprint string
	// netns is the router namespace the plan was applied in.
	netns hostnet.NetnsIdentity
	plan  hostnet.Plan
	// status is the status written, without the BGP sessions.
	status     v1alpha1.RouterNodeStatusStatus
	datapathAt time.Time
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
		WatchesRawSource(source.Channel(r.watchRouterNetns(mgr), handler.TypedFuncs[struct{}, reconcile.Request]{
			GenericFunc: func(_ context.Context, _ event.TypedGenericEvent[struct{}], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(r.nodeRequest()[0])
			},
		})).
		Complete(r)
}

// watchRouterNetns returns a channel that gets an event whenever the
// router namespace's identity changes (deleted, created, replaced). The
// reconcile then compares it with the one it applied in; this only wakes
// it. Without RouterNetns the channel stays silent.
func (r *NodeReconciler) watchRouterNetns(mgr ctrl.Manager) <-chan event.TypedGenericEvent[struct{}] {
	ch := make(chan event.TypedGenericEvent[struct{}], 1)
	if r.RouterNetns == "" {
		return ch
	}
	poll := cmp.Or(r.NetnsPoll, DefaultNetnsPoll)
	_ = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		last, _ := hostnet.IdentityOf(r.RouterNetns)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			id, _ := hostnet.IdentityOf(r.RouterNetns)
			if id == last {
				continue
			}
			log.FromContext(ctx).Info("router namespace changed", "netns", r.RouterNetns, "identity", uint64(id))
			last = id
			select {
			case ch <- event.TypedGenericEvent[struct{}]{}:
			default: // a wake is already pending
			}
		}
	}))
	return ch
}

// routerNetnsIdentity is the router namespace's identity, zero when it
// is not watched or does not exist.
func (r *NodeReconciler) routerNetnsIdentity() hostnet.NetnsIdentity {
	if r.RouterNetns == "" {
		return 0
	}
	id, _ := hostnet.IdentityOf(r.RouterNetns)
	return id
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
	fingerprint, err := r.inputFingerprint(ctx, &node)
	if err != nil {
		return reconcile.Result{}, err
	}
	netnsID := r.routerNetnsIdentity()
	if r.applied != nil && r.applied.netns != netnsID {
		// The devices went with the old namespace, and the FRR in the new
		// one may run nothing yet: nothing applied before counts.
		logger.Info("router namespace replaced; applying everything again", "netns", r.RouterNetns)
		routerNetnsReplaced.Inc()
		r.applied = nil
		r.appliedText = ""
	}
	if r.applied != nil && r.applied.fingerprint == fingerprint {
		return r.unchanged(ctx)
	}
	r.applied = nil

	st := v1alpha1.RouterNodeStatusStatus{AppliedConfigHash: r.appliedHash}
	if !r.appliedAt.IsZero() {
		st.LastAppliedTime = r.appliedAt.DeepCopy()
	}
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
	configBuilds.Inc()
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
		st.Errors = nodeErrors(msg, nil)
		st.Objects = underlayResults(set, gens, node.Labels, v1alpha1.ResultFailed, truncate(msg, maxObjectMessage))
		setCondition(&st, ConditionApplied, metav1.ConditionFalse, ReasonInvalidConfig, msg)
		r.event(&node, nil, corev1.EventTypeWarning, EventInvalidConfig, truncate(msg, 1024))
		return r.finish(ctx, st, nil, objects.Set{})
	}
	plan := hostnet.PlanFor(cfg, r.PlanOptions)

	failed := func(stage string, detail error) []v1alpha1.ObjectResult {
		return failedResults(report.Selected, report.Skipped, gens, cfg, r.NodeName, stage, detail)
	}

	// changed: the kernel or FRR changed, so zebra has events to catch up on.
	changed := false
	if changes, err := r.Datapath.Prepare(ctx, plan); err != nil {
		datapathFailures.Inc()
		return r.fail(ctx, &node, st, failed("datapath prepare", err), ReasonDatapathFailed, EventDatapath, "datapath prepare failed", err)
	} else if len(changes) > 0 {
		changed = true
		logger.Info("datapath prepared", "changes", changes.String())
	}
	if netnsID == 0 {
		// Prepare created the namespace.
		netnsID = r.routerNetnsIdentity()
	}

	// Comparing the text is cheaper than hashing it, and the hash is
	// only needed for a config that changed.
	if text != r.appliedText {
		hash := configHash(text)
		reloads.Inc()
		reloadStart := time.Now()
		err := r.FRR.Reload(ctx, text)
		reloadDuration.Observe(time.Since(reloadStart).Seconds())
		if err != nil {
			reloadFailures.Inc()
			headline := fmt.Sprintf("FRR reload refused config %s (the previous config keeps running)", short(hash))
			return r.fail(ctx, &node, st, failed("FRR reload", err), ReasonReloadFailed, EventReloadFailed, headline, err)
		}
		changed = true
		r.appliedHash = hash
		r.appliedText = text
		r.appliedAt = metav1.NewTime(time.Now().Truncate(time.Second))
		st.AppliedConfigHash = hash
		st.LastAppliedTime = r.appliedAt.DeepCopy()
		logger.Info("FRR configuration applied", "hash", short(hash), "l3vnis", len(cfg.L3VNIs), "l2vnis", len(cfg.L2VNIs))
	}

	if changes, err := r.Datapath.Activate(ctx, plan); err != nil {
		datapathFailures.Inc()
		return r.fail(ctx, &node, st, failed("datapath activate", err), ReasonDatapathFailed, EventDatapath, "datapath activate failed", err)
	} else if len(changes) > 0 {
		changed = true
		logger.Info("datapath activated", "changes", changes.String())
	}
	vnisApplied.WithLabelValues("l3").Set(float64(len(cfg.L3VNIs)))
	vnisApplied.WithLabelValues("l2").Set(float64(len(cfg.L2VNIs)))

	datapathAt := time.Now()
	if changed {
		r.scheduleZebraCheck(datapathAt)
	}
	st.Objects = objectResults(report.Selected, report.Skipped, gens, v1alpha1.ResultApplied, "")
	setCondition(&st, ConditionApplied, metav1.ConditionTrue, ReasonApplied, "configuration "+short(r.appliedHash)+" is live")
	if len(report.Skipped) > 0 {
		setCondition(&st, ConditionDegraded, metav1.ConditionTrue, ReasonObjectsSkipped,
			fmt.Sprintf("%d object(s) skipped, see .status.objects", countSkipped(st.Objects)))
	} else {
		setCondition(&st, ConditionDegraded, metav1.ConditionFalse, ReasonHealthy, "no object skipped")
	}
	result, err := r.finish(ctx, st, &node, set)
	if err == nil {
		r.applied = &appliedInputs{fingerprint: fingerprint, netns: netnsID, plan: plan, status: st, datapathAt: datapathAt}
	}
	return result, err
}

// unchanged is the fast path for a reconcile whose inputs did not change.
func (r *NodeReconciler) unchanged(ctx context.Context) (reconcile.Result, error) {
	unchangedReconciles.Inc()
	a := r.applied
	now := time.Now()
	// The requeue fires no earlier than Resync after the last pass; the
	// slack covers a pass that ended a moment after datapathAt was taken.
	resyncDue := r.Resync > 0 && now.Sub(a.datapathAt) >= r.Resync-r.Resync/10
	if resyncDue {
		// FRR runs this plan's config already, so anything recreated may
		// come up at once: one pass instead of Prepare and Activate.
		changes, err := r.Datapath.Reapply(ctx, a.plan)
		if err != nil {
			datapathFailures.Inc()
			// The full path retries and reports the failure.
			r.applied = nil
			return reconcile.Result{}, fmt.Errorf("datapath resync: %w", err)
		}
		if len(changes) > 0 {
			log.FromContext(ctx).Info("datapath drift repaired", "changes", changes.String())
			r.scheduleZebraCheck(now)
		}
		a.datapathAt = now
	}
	r.checkZebra(ctx, now)
	if r.refreshBGP(ctx, now) || resyncDue {
		st := a.status.DeepCopy()
		st.BGPNeighbors = r.bgpNeighbors
		if _, err := r.writeStatus(ctx, *st); err != nil {
			return reconcile.Result{}, fmt.Errorf("RouterNodeStatus %s/%s: %w", r.Namespace, r.NodeName, err)
		}
	}
	return reconcile.Result{RequeueAfter: r.nextWake(now)}, nil
}

// nextWake is when the next resync or BGP refresh is due. A wake is never
// zero, which would mean no requeue at all.
func (r *NodeReconciler) nextWake(now time.Time) time.Duration {
	var wake time.Duration
	if r.Resync > 0 {
		wake = r.Resync
		if r.applied != nil {
			wake = max(r.applied.datapathAt.Add(r.Resync).Sub(now), time.Millisecond)
		}
	}
	if r.BGP != nil {
		bgp := max(r.bgpAt.Add(r.bgpRefresh()).Sub(now), time.Millisecond)
		if wake == 0 || bgp < wake {
			wake = bgp
		}
	}
	if !r.zebraCheckAt.IsZero() {
		zebra := max(r.zebraCheckAt.Sub(now), time.Millisecond)
		if wake == 0 || zebra < wake {
			wake = zebra
		}
	}
	return wake
}

func (r *NodeReconciler) bgpRefresh() time.Duration {
	if r.BGPRefresh > 0 {
		return r.BGPRefresh
	}
	return DefaultBGPRefresh
}

// refreshBGP reads the BGP sessions unless they were read less than
// BGPRefresh ago, and reports whether they changed.
func (r *NodeReconciler) refreshBGP(ctx context.Context, now time.Time) bool {
	if r.BGP == nil || (!r.bgpAt.IsZero() && now.Sub(r.bgpAt) < r.bgpRefresh()) {
		return false
	}
	r.bgpAt = now
	neighbors, err := r.BGP.Neighbors(ctx)
	if err != nil {
		log.FromContext(ctx).Info("reading BGP state", "error", err.Error())
		return false
	}
	up := 0
	for _, n := range neighbors {
		if n.State == "Established" {
			up++
		}
	}
	bgpSessions.WithLabelValues("up").Set(float64(up))
	bgpSessions.WithLabelValues("down").Set(float64(len(neighbors) - up))
	changed := !slices.Equal(neighbors, r.bgpNeighbors)
	r.bgpNeighbors = neighbors
	return changed
}

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
	// Returning the error retries with backoff.
	return reconcile.Result{}, fmt.Errorf("%s: %w", headline, detail)
}

// finish reads BGP state, writes the RouterNodeStatus when it changed,
// sends an event to each object whose result on this node newly became
// a failure, and schedules the resync.
func (r *NodeReconciler) finish(ctx context.Context, st v1alpha1.RouterNodeStatusStatus, node *corev1.Node, set objects.Set) (reconcile.Result, error) {
	now := time.Now()
	r.refreshBGP(ctx, now)
	st.BGPNeighbors = r.bgpNeighbors
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
			Result: v1alpha1.ResultSkipped, Message: truncate(strings.Join(skippedMsgs[ref], "; "), maxObjectMessage)})
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
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(msg, maxConditionBytes)})
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

// truncate shortens s to at most n bytes, cutting at a rune boundary and
// marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
