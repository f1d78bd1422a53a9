package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/perouter/perouter/operator/hostnet"
)

// NodeManagerOptions configure the per-node controller's manager.
type NodeManagerOptions struct {
	Scheme      *runtime.Scheme
	NodeName    string
	Namespace   string
	FRR         FRRPusher
	Datapath    hostnet.Datapath
	PlanOptions hostnet.PlanOptions
	BGP         BGPStateReader
	// Zebra and Addresses enable the zebra address check
	// (NodeReconciler.Zebra).
	Zebra     ZebraAddressReader
	Addresses AddressAnnouncer
	// Guard publishes the protected host NICs (NodeReconciler.Guard).
	Guard HostGuard
	// Refreshers keep silent workloads' type-2 routes alive
	// (NodeReconciler.Refreshers); the manager stops them when it stops.
	Refreshers *hostnet.Refreshers
	Resync     time.Duration
	// RouterNetns is watched for replacement (NodeReconciler.RouterNetns).
	RouterNetns string
	// MetricsAddr and ProbeAddr: "0" disables.
	MetricsAddr, ProbeAddr string
	// MetricsSecure serves metrics over HTTPS to authenticated and
	// authorized callers only (MetricsServer).
	MetricsSecure bool
	// Ready, if set, gates readiness (the reloader's health).
	Ready healthz.Checker
	// PushTimeout and StallTimeout: NodeReconciler's.
	PushTimeout, StallTimeout time.Duration
}

// NewNodeManager returns the manager cmd/controller runs: the
// NodeReconciler, with a cache that holds only this node's Node (a
// DaemonSet pod must not cache every Node of the cluster).
func NewNodeManager(cfg *rest.Config, o NodeManagerOptions) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 o.Scheme,
		Metrics:                MetricsServer(o.MetricsAddr, o.MetricsSecure),
		HealthProbeBindAddress: o.ProbeAddr,
		Cache: cache.Options{
			// managedFields are server-side apply bookkeeping the
			// reconciler never reads; with 500 L3VNIs (spec, status and
			// status-aggregator entries) they were a large share of the
			// cache.
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Node{}: {Field: fields.OneTermEqualSelector("metadata.name", o.NodeName)},
				// Password Secrets are read in the operator's namespace
				// only: the controller's RBAC is a Role there, so a
				// cluster-wide watch would be refused.
				secretMetadata(): {Namespaces: map[string]cache.Config{o.Namespace: {}}},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	r := &NodeReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		NodeName:    o.NodeName,
		Namespace:   o.Namespace,
		FRR:         o.FRR,
		Datapath:    o.Datapath,
		PlanOptions: o.PlanOptions,
		BGP:         o.BGP,
		Zebra:       o.Zebra,
		Addresses:   o.Addresses,
		Guard:       o.Guard,
		Recorder:    mgr.GetEventRecorder("perouter-controller"),
		Resync:      o.Resync,
		RouterNetns: o.RouterNetns,
		PushTimeout: o.PushTimeout, StallTimeout: o.StallTimeout,
	}
	if o.Refreshers != nil {
		r.Refreshers = o.Refreshers
		if err := mgr.Add(o.Refreshers); err != nil {
			return nil, err
		}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("reconciling", r.Live); err != nil {
		return nil, err
	}
	if o.Ready != nil {
		if err := mgr.AddReadyzCheck("reloader", o.Ready); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// secretMetadata is the cache key of the metadata-only Secret watch
// (watches.go).
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// MetricsServer returns the metrics endpoint's options. Secure serves
// HTTPS (a self-signed certificate) and answers only callers whose bearer
// token the API server authenticates (TokenReview) and allows to get
// /metrics (SubjectAccessReview), hence the tokenreviews and
// subjectaccessreviews create rules: on a host-network pod the port is
// open on every host interface. Without secure, bind to 127.0.0.1.
func MetricsServer(addr string, secure bool) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr}
	if secure {
		o.SecureServing = true
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}
