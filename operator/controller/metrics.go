package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perouter/perouter/operator/hostnet"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are served by the manager's metrics endpoint (controller-runtime
// registry) next to controller-runtime's own.
var (
	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "perouter_controller_reconcile_duration_seconds",
		Help:    "Time to compute and apply the node's router state, by outcome.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	reloadDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "perouter_controller_frr_reload_duration_seconds",
		Help:    "Time the reloader took to apply an FRR configuration.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 10),
	})
	reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_frr_reload_failures_total",
		Help: "FRR reloads that failed; FRR keeps its previous configuration.",
	})
	reloads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_frr_reloads_total",
		Help: "FRR reloads attempted (only when the rendered configuration changed).",
	})
	bgpSessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "perouter_controller_bgp_sessions",
		Help: "BGP sessions on the node's router by state: up (Established) or down (any other).",
	}, []string{"state"})
	vnisApplied = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "perouter_controller_vnis_applied",
		Help: "VNIs in the configuration the node runs, by type (l3, l2).",
	}, []string{"type"})
	configBuilds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_config_builds_total",
		Help: "Reconciles whose inputs changed, so the node's config was built, rendered and planned again.",
	})
	unchangedReconciles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_unchanged_reconciles_total",
		Help: "Reconciles whose inputs' fingerprint matched the last applied one (fast path: no build, render or reload).",
	})
	datapathFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_datapath_failures_total",
		Help: "Datapath Prepare or Activate calls that failed.",
	})
	routerNetnsReplaced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_router_netns_replaced_total",
		Help: "Times the router namespace was found replaced (deleted and created again), so everything was applied again.",
	})
	routerNetnsReadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_router_netns_read_errors_total",
		Help: "Reads of the router namespace's identity that failed (not counted as a replacement).",
	})
	frrConfigLost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_frr_config_lost_total",
		Help: "Times the router reported that FRR no longer runs the config pushed last (router pod or FRR restarted, reloader unreachable), so it was pushed again.",
	})
	neighbourProbes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "perouter_controller_neighbour_probes_total",
		Help: "Probes of silent workloads' STALE neighbour entries on routed L2VNI bridges, by result (probed, failed, dropped: the bounded queue was full).",
	}, []string{"result"})
	zebraReannounced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "perouter_controller_zebra_addresses_reannounced_total",
		Help: "Router namespace addresses zebra had missed (FRRouting/frr#13288) and the kernel was made to announce again.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileDuration, reloadDuration, reloadFailures, reloads, bgpSessions, vnisApplied, datapathFailures, configBuilds, unchangedReconciles, routerNetnsReplaced, routerNetnsReadErrors, frrConfigLost, zebraReannounced, neighbourProbes)
}

// CountNeighbourProbe is hostnet.RefresherOptions.OnProbe for the
// controller's metrics.
func CountNeighbourProbe(_ string, r hostnet.ProbeResult) {
	neighbourProbes.WithLabelValues(string(r)).Inc()
}
