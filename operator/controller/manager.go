package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
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
	Guard  HostGuard
	Resync time.Duration
	// RouterNetns is watched for replacement (NodeReconciler.RouterNetns).
	RouterNetns string
	// MetricsAddr and ProbeAddr: "0" disables.
	MetricsAddr, ProbeAddr string
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
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		Cache: cache.Options{
			// managedFields are server-side apply bookkeeping the
			// reconciler never reads; with 500 L3VNIs (spec, status and
			// status-aggregator entries) they were a large share of the
			// cache.
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Node{}: {Field: fields.OneTermEqualSelector("metadata.name", o.NodeName)},
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
