package reloader

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration    *prometheus.HistogramVec
	failures    *prometheus.CounterVec
	skipped     prometheus.Counter
	lastSuccess prometheus.Gauge
	// stateRestores counts last good configs loaded from the state dir
	// into an FRR that ran none (router pod restarted).
	stateRestores prometheus.Counter
	// evpnRepairs counts re-announces of a VRF's routes to zebra that
	// restored lost L3VNI neighbours and router MACs (EVPNNexthops).
	evpnRepairs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "reload_duration_seconds",
			Help:    "Time to apply an FRR config, by outcome (applied, failed).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "reload_failures_total",
			Help: "Failed reloads by stage: validate (FRR refused the text, nothing changed), unavailable (FRR did not answer, nothing changed), apply (FRR failed mid-change), rollback (restoring the last good config failed), restore (loading the last good config from the state dir into a restarted FRR failed).",
		}, []string{"stage"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "reloads_skipped_total",
			Help: "Reloads skipped because the config equals the last applied one.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the last successful reload.",
		}),
		stateRestores: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "state_restores_total",
			Help: "Last good configs loaded from the state dir into an FRR that ran no configuration after the reloader started (router pod restarted).",
		}),
		evpnRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: "evpn_nexthop_repairs_total",
			Help: "Re-announces of L3VNI VRF routes to zebra that restored remote VTEP neighbours and router MACs zebra had lost while keeping the routes (FRR 8.4, after an import route-target change).",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.failures, m.skipped, m.lastSuccess, m.stateRestores, m.evpnRepairs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Expose zero-valued series so alerts can use rate() from the start.
	for _, stage := range []string{string(StageValidate), string(StageUnavailable), string(StageApply), "rollback", "restore"} {
		m.failures.WithLabelValues(stage)
	}
	return m, nil
}

func (m *metrics) observe(d time.Duration, ok bool) {
	outcome := "applied"
	if !ok {
		outcome = "failed"
	}
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
}
