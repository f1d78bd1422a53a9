package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
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

// DefaultBGPRefresh is NodeReconciler.BGPRefresh's default.
const DefaultBGPRefresh = 30 * time.Second

// DefaultRouterPoll is NodeReconciler.RouterPoll's default.
const DefaultRouterPoll = hostnet.DefaultIdentityPoll

// routerAnswerTimeout bounds one question to the router's reloader.
const routerAnswerTimeout = 10 * time.Second

// DefaultPushTimeout is NodeReconciler.PushTimeout's default: above the
// reloader's own bounds for one apply and its rollback (2 min each), so a
// slow but working router is not cut off.
const DefaultPushTimeout = 5 * time.Minute

// DefaultStallTimeout is NodeReconciler.StallTimeout's default: far above
// a bounded reconcile (PushTimeout plus the API calls around it).
const DefaultStallTimeout = 15 * time.Minute

// reconcileMargin is what a reconcile may take beyond its push: the API
// reads before and the status write after, which must still run when the
// push timed out.
const reconcileMargin = 2 * time.Minute

// NodeReconciler runs on one node and makes its router match the objects.
//
// The files of this type, by job:
//   - reconciler.go: this type and Reconcile, which picks a path;
//   - pipeline.go: the full path, list → validate → nodeconfig →
//     frr/hostnet → push: read the Node (index and labels) and every
//     perouter object (load.go) → nodeconfig.Build → frr.Render and
//     hostnet.PlanFor → Datapath.Prepare (new VXLANs and bridges stay
//     down) → FRR reload, only when the rendered config differs from the
//     one last applied → Datapath.Activate (devices up, now that FRR
//     knows their VNIs) → status;
//   - fastpath.go: the fast path and the wake-ups. When the inputs'
//     fingerprint (fingerprint.go) equals the one of the last successful
//     reconcile, nothing is built, rendered or reloaded. The datapath is
//     still re-applied from the remembered plan once per Resync, which
//     repairs drift without touching FRR, the BGP sessions are read at
//     most once per BGPRefresh (bgp.go), and zebra's addresses are
//     checked when due (zebra.go);
//   - applied.go: what was applied, the state kept between reconciles;
//   - watches.go: what wakes the reconciler, including the router
//     namespace's identity and the config the router reports FRR runs
//     (a router pod restart changes neither inputs nor namespace);
//   - nodestatus.go, events.go, results.go: the RouterNodeStatus, the
//     events, and each object's result on this node.
type NodeReconciler struct {
	// Client reads the perouter objects and Nodes from the cache.
	Client client.Client
	// APIReader reads what must be current: Secrets' data (only their
	// metadata is cached) and this node's RouterNodeStatus.
	APIReader client.Reader
	NodeName  string
	// Namespace holds the RouterNodeStatus objects, and the only Secrets
	// (passwordSecret) the controller may read.
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
	// path). When set, its identity is checked every RouterPoll and on
	// every reconcile: a namespace deleted and created again (node
	// rebooted, namespace removed) has lost every device the controller
	// built, so everything is applied again at once instead of at the
	// next resync.
	RouterNetns string
	// RouterPoll is how often the router is checked for having lost what
	// was applied: the namespace's identity (RouterNetns) and, when FRR
	// is a RunningConfigReader, the config FRR runs. Zero means
	// DefaultRouterPoll.
	RouterPoll time.Duration
	// Addresses, when set, makes the reconciler announce the host-side
	// addresses the datapath added once more a moment after each change
	// or reload; with Zebra also set, it then checks that zebra knows
	// every address of the router netns and has the kernel announce again
	// what it missed (see checkZebra). ZebraCheckDelay is that moment;
	// zero means DefaultZebraCheckDelay.
	Zebra           ZebraAddressReader
	Addresses       AddressAnnouncer
	ZebraCheckDelay time.Duration
	// PushTimeout bounds one push (datapath prepare, FRR reload,
	// datapath activate); zero means DefaultPushTimeout. A push that
	// overruns fails like any other: the status says so and the reconcile
	// is retried. The whole reconcile is bounded by PushTimeout plus a
	// margin for the API calls (controller-runtime's ReconciliationTimeout).
	PushTimeout time.Duration
	// StallTimeout is how long Live tolerates no reconcile finishing
	// (successfully or not) before it reports the controller wedged, so
	// that the kubelet restarts it; zero means DefaultStallTimeout.
	// Reconciles run at least every BGPRefresh, so a healthy controller
	// always finishes one well within it.
	StallTimeout time.Duration

	// lastFinished is when the last reconcile returned (unix ns), or
	// when the reconciler was set up; atomic, because Live must answer
	// while a wedged reconcile holds mu.
	lastFinished atomic.Int64
	// Guard, when set, lists the host NICs that carry the node's own
	// connectivity in the status (ProtectedInterfaces), on every full
	// pass and resync.
	Guard HostGuard
	// Refreshers, when set, are told the plan after every successful full
	// pass: they keep one neighbour refresher per routed L2VNI bridge of
	// it running (hostnet.Refreshers), so silent workloads keep their
	// type-2 routes.
	Refreshers PlanFollower

	// mu serialises reconciles (one work item, but tests call in too).
	mu    sync.Mutex
	state appliedState
	// protected is the last list Guard gave.
	protected []v1alpha1.ProtectedInterface
	bgp       bgpCache
	zebra     zebraSchedule
}

// PlanFollower is what runs alongside the plan the node runs:
// hostnet.Refreshers.
type PlanFollower interface{ Sync(hostnet.Plan) }

var _ PlanFollower = (*hostnet.Refreshers)(nil)

// Reconcile implements reconcile.Reconciler: it takes the fast path when
// the inputs did not change since the last successful reconcile in this
// router namespace and FRR still runs the config pushed last, the full
// path otherwise.
func (r *NodeReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	defer func() {
		reconcileDuration.Observe(time.Since(start).Seconds())
		r.lastFinished.Store(time.Now().UnixNano())
	}()
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
	netnsID, err := r.routerNetnsIdentity()
	if err != nil {
		// Not knowing the namespace is not knowing it was replaced: the
		// applied state stands, and the retry reads it again.
		return reconcile.Result{}, err
	}
	if r.state.replacedBy(netnsID) {
		logger.Info("router namespace replaced; applying everything again", "netns", r.RouterNetns)
		routerNetnsReplaced.Inc()
		r.state.forget()
	}
	if running, known := r.runningConfig(ctx); known && r.state.lostBy(running) {
		logger.Info("FRR does not run the config applied last; pushing it again",
			"applied", short(r.state.config.hash), "routerReports", running)
		frrConfigLost.Inc()
		r.state.forget()
	}
	if r.state.upToDate(fingerprint) {
		return r.unchanged(ctx)
	}
	r.state.invalidate()
	return r.apply(ctx, &node, fingerprint, netnsID)
}

// Live is the controller's liveness check: it fails when no reconcile has
// finished for StallTimeout. Every call the reconciler makes is bounded
// (PushTimeout, vtysh's and the reloader's own timeouts), so a reconcile
// that does not return is wedged somewhere unbounded, and only a restart
// frees it.
func (r *NodeReconciler) Live(_ *http.Request) error {
	last := time.Unix(0, r.lastFinished.Load())
	stall := cmp.Or(r.StallTimeout, DefaultStallTimeout)
	if since := time.Since(last); since > stall {
		return fmt.Errorf("no reconcile finished for %s (the last at %s; limit %s)", since.Round(time.Second), last.UTC().Format(time.RFC3339), stall)
	}
	return nil
}

func (r *NodeReconciler) pushTimeout() time.Duration {
	return cmp.Or(r.PushTimeout, DefaultPushTimeout)
}

// runningConfig asks the router which config FRR runs, when FRR is a
// RunningConfigReader: the hash, or "" when the router knows of none.
// The router pod restarted with its namespace kept, or a router whose
// reloader does not answer, changes no input and no namespace identity:
// only this answer shows that the node routes nothing. A reloader that
// does not answer counts as knowing of none: the push then fails and the
// status says Applied=False with the reason, instead of Applied for a
// router that may run nothing. known is false when the router cannot
// tell at all.
func (r *NodeReconciler) runningConfig(ctx context.Context) (running string, known bool) {
	reader, ok := r.FRR.(RunningConfigReader)
	if !ok {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, routerAnswerTimeout)
	defer cancel()
	hash, err := reader.RunningConfigHash(ctx)
	switch {
	case errors.Is(err, ErrRunningConfigUnsupported):
		return "", false
	case err != nil:
		return "unknown: " + err.Error(), true
	}
	return hash, true
}

// routerNetnsIdentity is the router namespace's identity: zero when it is
// not watched or does not exist, an error when it could not be read.
func (r *NodeReconciler) routerNetnsIdentity() (hostnet.NetnsIdentity, error) {
	if r.RouterNetns == "" {
		return 0, nil
	}
	id, err := hostnet.ReadIdentity(r.RouterNetns)
	if err != nil {
		routerNetnsReadErrors.Inc()
		return 0, fmt.Errorf("reading the router namespace's identity: %w", err)
	}
	return id, nil
}
