package config_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// startupBudget is how long the kubelet lets a container start before
	// it restarts it. A node that is loaded or emulated starts a Go binary
	// slowly (in the VM lane's TCG guest the controller had not logged its
	// first line after 32 s, when the liveness probe alone killed it, over
	// and over); a start that hangs is still ended.
	startupBudget = 5 * time.Minute
	// liveBudget bounds how long a started container may stop answering
	// its liveness probe before it is restarted.
	liveBudget = time.Minute
)

// probeWindow is how long a probe may keep failing before the kubelet acts:
// the initial delay plus failureThreshold periods, with the API's defaults
// (period 10 s, threshold 3) for fields left unset.
func probeWindow(p *corev1.Probe) time.Duration {
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period == 0 {
		period = 10
	}
	if failures == 0 {
		failures = 3
	}
	return time.Duration(p.InitialDelaySeconds+period*failures) * time.Second
}

// TestProbes checks, in both renderings, that every container with an HTTP
// liveness probe (the controller and the labeler) has a startup probe on the
// same endpoint that allows startupBudget, so liveness starts only once the
// binary has answered; and that liveness after start stays within
// liveBudget.
func TestProbes(t *testing.T) {
	renderings := map[string]func(*testing.T) []*unstructured.Unstructured{
		"kustomize": kustomizeBuild,
		"helm":      helmTemplate,
	}
	for name, render := range renderings {
		t.Run(name, func(t *testing.T) {
			in := decodeInstall(t, render(t))
			var checked []string
			for _, c := range in.containers() {
				live := c.container.LivenessProbe
				if live == nil || live.HTTPGet == nil {
					continue
				}
				checked = append(checked, c.String())
				if got := probeWindow(live); got > liveBudget {
					t.Errorf("%s: liveness probe restarts a hung container after %s, want at most %s", c, got, liveBudget)
				}
				start := c.container.StartupProbe
				if start == nil {
					t.Errorf("%s: no startupProbe, so its liveness probe kills a container that has not started within %s; want one on %s allowing %s",
						c, probeWindow(live), live.HTTPGet.Path, startupBudget)
					continue
				}
				if diff := cmp.Diff(live.ProbeHandler, start.ProbeHandler); diff != "" {
					t.Errorf("%s: startupProbe asks something else than the liveness probe (-liveness +startup):\n%s", c, diff)
				}
				if got := probeWindow(start); got < startupBudget {
					t.Errorf("%s: startupProbe allows %s to start, want at least %s", c, got, startupBudget)
				}
			}
			want := []string{"perouter-controller/controller", "perouter-labeler/labeler"}
			if diff := cmp.Diff(want, checked); diff != "" {
				t.Errorf("containers with HTTP liveness probes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChartProbesMatchKustomization: the chart's and the kustomization's
// containers are probed the same way (TestChartMatchesKustomization compares
// the objects, rules and webhooks; the two recipes are written separately).
func TestChartProbesMatchKustomization(t *testing.T) {
	type probes struct{ Startup, Liveness, Readiness *corev1.Probe }
	probesOf := func(in install) map[string]probes {
		out := map[string]probes{}
		for _, c := range in.containers() {
			out[c.String()] = probes{c.container.StartupProbe, c.container.LivenessProbe, c.container.ReadinessProbe}
		}
		return out
	}
	k := probesOf(decodeInstall(t, kustomizeBuild(t)))
	h := probesOf(decodeInstall(t, helmTemplate(t)))
	if diff := cmp.Diff(k, h); diff != "" {
		t.Errorf("probes differ (-kustomize +chart):\n%s", diff)
	}
}

// execProbeTimeout is the least time an exec probe must be given to answer.
// The router's FRR liveness probe runs `vtysh -c "show version"`, which
// connects to every daemon: in the VM lane's TCG guest (load 12) vtysh
// alone took 1.5–4.8 s (five runs against bare zebra and bgpd, 2026-12-07),
// before the runtime's exec (runc, ~80 ms a Go binary start there) is
// counted. The API's default timeout (1 s) fails every such probe, and after
// three the kubelet restarts FRR: its routes flap on any slow or loaded
// node.
const execProbeTimeout = 10 * time.Second

// TestExecProbesAllowASlowNode checks, in both renderings, that every exec
// probe allows execProbeTimeout.
func TestExecProbesAllowASlowNode(t *testing.T) {
	renderings := map[string]func(*testing.T) []*unstructured.Unstructured{
		"kustomize": kustomizeBuild,
		"helm":      helmTemplate,
	}
	for name, render := range renderings {
		t.Run(name, func(t *testing.T) {
			var checked []string
			for _, c := range decodeInstall(t, render(t)).containers() {
				for kind, p := range map[string]*corev1.Probe{"startupProbe": c.container.StartupProbe, "livenessProbe": c.container.LivenessProbe, "readinessProbe": c.container.ReadinessProbe} {
					if p == nil || p.Exec == nil {
						continue
					}
					checked = append(checked, c.String()+" "+kind)
					timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second // the API's default is 1 s
					if timeout < execProbeTimeout {
						t.Errorf("%s: %s %v times out after %s, want timeoutSeconds of at least %s", c, kind, p.Exec.Command, timeout, execProbeTimeout)
					}
				}
			}
			if len(checked) == 0 {
				t.Error("no exec probe found: the router's frr container has one")
			}
		})
	}
}
