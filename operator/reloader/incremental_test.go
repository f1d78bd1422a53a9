package reloader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/nsexec"
)

// vrfConfig is a PE-like config in operator/frr's order (VRFs, policies,
// the default BGP instance, then one BGP instance per VRF), which is an
// order frr-reload.py applies cleanly.
func vrfConfig(vrfs ...string) string {
	var b strings.Builder
	b.WriteString("frr defaults traditional\n!\n")
	for i, v := range vrfs {
		fmt.Fprintf(&b, "vrf %s\n vni %d\nexit-vrf\n!\n", v, 100+i)
	}
	for _, v := range vrfs {
		fmt.Fprintf(&b, "route-map %s-IN permit 10\nexit\n!\n", v)
	}
	b.WriteString("router bgp 64512\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n neighbor 192.0.2.2 remote-as 64513\n!\n address-family l2vpn evpn\n  neighbor 192.0.2.2 activate\n  advertise-all-vni\n exit-address-family\nexit\n!\n")
	for i, v := range vrfs {
		fmt.Fprintf(&b, "router bgp 64512 vrf %s\n bgp router-id 10.0.0.1\n neighbor 10.%d.0.2 remote-as 64515\n !\n address-family ipv4 unicast\n  redistribute connected\n  neighbor 10.%d.0.2 route-map %s-IN in\n exit-address-family\n !\n address-family l2vpn evpn\n  advertise ipv4 unicast\n exit-address-family\nexit\n!\n", v, i, i, v)
	}
	return b.String()
}

// incrementalFixture is a server with the Incremental applier; running
// is canonical, as the incremental path's output is compared with a full
// load's.
type incrementalFixture struct {
	*fixture
}

func newIncrementalFixture(t *testing.T) *incrementalFixture {
	t.Helper()
	return newIncrementalFixtureVerifying(t, VerifyRunningConfig)
}

func newIncrementalFixtureVerifying(t *testing.T, verify VerifyMode) *incrementalFixture {
	t.Helper()
	frrproctest.RequireFRR(t)
	inst := frrproctest.Start(t, frrproc.Options{Netns: routerNetns(t)})
	return &incrementalFixture{startServer(t, inst, t.TempDir(), serverOptions{mode: applyIncremental, verify: verify})}
}

func (f *incrementalFixture) running(t *testing.T) string {
	t.Helper()
	return canonicalRunning(t, f.inst)
}

// canonicalRunning is inst's "show running-config" through vtysh, canonical.
func canonicalRunning(t *testing.T, inst *frrproc.Instance) string {
	t.Helper()
	out, err := inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	canon, err := frrdelta.Canonical(out)
	if err != nil {
		t.Fatal(err)
	}
	return canon
}

// routerNetns is a namespace with forwarding on, as hostnet prepares the
// router's before any reload. (frr-reload.py would otherwise switch
// forwarding on as a side effect: FRR prints "no ip forwarding" and the
// candidate lacks that line, so the full reload removes it.)
func routerNetns(t *testing.T) string {
	t.Helper()
	ns := frrproctest.Netns(t)
	if _, err := nsexec.Run(context.Background(), ns, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	return ns
}

// fullLoad is FRR's running config after a full frr-reload.py reload of
// config into a fresh instance: what the incremental path must end up with.
func fullLoad(t *testing.T, config string) string {
	t.Helper()
	inst := frrproctest.Start(t, frrproc.Options{Netns: routerNetns(t)})
	full := &FRRReload{Paths: FRRPaths{VtySocketDir: inst.VtySocketDir()}, WorkDir: t.TempDir(), SkipTest: true}
	if err := full.Apply(context.Background(), config); err != nil {
		t.Fatal(err)
	}
	return canonicalRunning(t, inst)
}

func TestIncrementalAppliesSmallChangesInPlace(t *testing.T) {
	f := newIncrementalFixture(t)
	steps := []struct {
		name      string
		config    string
		want      IncrementalStats
		unchanged bool
	}{
		{name: "first config into an empty FRR: read it, load, check", config: vrfConfig("red", "blue"),
			want: IncrementalStats{Execs: 3, Initial: 1}},
		{name: "+1 VRF: delta and a running-config check", config: vrfConfig("red", "blue", "green"),
			want: IncrementalStats{Execs: 5, Initial: 1, Incremental: 1}},
		{name: "-1 VRF", config: vrfConfig("red", "green"),
			want: IncrementalStats{Execs: 7, Initial: 1, Incremental: 2}},
		{name: "same text again: skipped by the server", config: vrfConfig("red", "green"), unchanged: true,
			want: IncrementalStats{Execs: 7, Initial: 1, Incremental: 2}},
		{name: "only a comment differs: empty delta, no FRR process", config: "! a comment\n" + vrfConfig("red", "green"),
			want: IncrementalStats{Execs: 7, Initial: 1, Incremental: 3}},
		{name: "a line inside a stanza: delta only", config: strings.Replace(vrfConfig("red", "green"), "  advertise ipv4 unicast\n", "  advertise ipv4 unicast\n  route-target import 64512:7\n", 1),
			want: IncrementalStats{Execs: 8, Initial: 1, Incremental: 4}},
	}
	for _, s := range steps {
		res := f.reload(t, s.config)
		if res.Unchanged != s.unchanged || res.Applied == s.unchanged {
			t.Errorf("%s: result %+v, want unchanged=%v", s.name, res, s.unchanged)
		}
		if diff := cmp.Diff(s.want, f.incremental.Stats()); diff != "" {
			t.Errorf("%s: stats (-want +got):\n%s", s.name, diff)
		}
		t.Logf("%s: %.0f ms", s.name, res.DurationMs)
	}
	last := steps[len(steps)-1].config
	if diff := cmp.Diff(fullLoad(t, last), f.running(t)); diff != "" {
		t.Errorf("running config differs from a full load of the last config (-full +incremental):\n%s", diff)
	}
}

func TestIncrementalExitStatusVerificationRunsOneVtysh(t *testing.T) {
	f := newIncrementalFixtureVerifying(t, VerifyExitStatus)
	f.reload(t, vrfConfig("red"))
	f.reload(t, vrfConfig("red", "blue"))
	if diff := cmp.Diff(IncrementalStats{Execs: 3, Initial: 1, Incremental: 1}, f.incremental.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fullLoad(t, vrfConfig("red", "blue")), f.running(t)); diff != "" {
		t.Errorf("running config (-full load +incremental):\n%s", diff)
	}
}

// A rewrite of most of the config goes in place too, and FRR ends up with
// what a full load gives; past Delta.MaxChangedLines it is a full reload.
func TestIncrementalLargeChanges(t *testing.T) {
	var many []string
	for i := range 8 {
		many = append(many, fmt.Sprintf("v%d", i))
	}
	want := fullLoad(t, vrfConfig(many...))
	tests := map[string]struct {
		delta frrdelta.Options
		want  IncrementalStats
	}{
		"default limits: delta": {want: IncrementalStats{Initial: 1, Incremental: 1}},
		"over MaxChangedLines: full reload": {delta: frrdelta.Options{MaxChangedLines: 10},
			want: IncrementalStats{Initial: 1, Full: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newIncrementalFixture(t)
			f.incremental.Delta = tc.delta
			f.reload(t, vrfConfig("a"))
			f.reload(t, vrfConfig(many...))
			got := f.incremental.Stats()
			got.Execs = 0
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, f.running(t)); diff != "" {
				t.Errorf("running config (-full load +reloaded):\n%s", diff)
			}
		})
	}
}

func TestIncrementalFailureNeverLeavesAHalfAppliedConfig(t *testing.T) {
	tests := map[string]struct {
		// edit turns the good config into one whose delta fails part-way:
		// the first commands succeed, a later one fails.
		edit           func(string) string
		wantStatus     int
		wantStage      Stage
		wantRolledBack bool
		wantText       string
	}{
		"unknown command: FRR's parser refuses the new config, the previous one is restored": {
			edit: func(c string) string {
				return c + "route-map extra permit 10\nexit\nrouter bgp 64512 vrf red\n neighbor 10.9.9.9 remote-as banana\nexit\n"
			},
			wantStatus: http.StatusUnprocessableEntity,
			wantStage:  StageValidate,
			wantText:   "% Unknown command",
		},
		"daemon refusal: the full reload fails too and the server rolls back": {
			edit: func(c string) string {
				return c + "route-map extra permit 10\nexit\nrouter bgp 64512 vrf red\n neighbor 10.9.9.9 peer-group nonexist\nexit\n"
			},
			wantStatus:     http.StatusInternalServerError,
			wantStage:      StageApply,
			wantRolledBack: true,
			wantText:       "% Configure the peer-group first",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newIncrementalFixture(t)
			good := vrfConfig("red", "blue")
			f.reload(t, good)
			before := f.running(t)

			res, err := f.client.Reload(context.Background(), tc.edit(good))
			var re *ReloadError
			if !errors.As(err, &re) {
				t.Fatalf("Reload error = %v (result %+v), want a *ReloadError", err, res)
			}
			if re.StatusCode != tc.wantStatus || res.Stage != tc.wantStage || res.RolledBack != tc.wantRolledBack {
				t.Errorf("status %d stage %q rolledBack %v, want %d %q %v", re.StatusCode, res.Stage, res.RolledBack, tc.wantStatus, tc.wantStage, tc.wantRolledBack)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error lacks FRR's text %q: %v", tc.wantText, err)
			}
			if got := f.incremental.Stats(); got.Fallbacks != 1 {
				t.Errorf("stats %+v, want one fallback from the failed delta", got)
			}
			if diff := cmp.Diff(before, f.running(t)); diff != "" {
				t.Errorf("running config changed by a failed reload (-before +after):\n%s", diff)
			}
			// What FRR runs is known again: the next change is incremental.
			f.reload(t, vrfConfig("red", "blue", "green"))
			if got := f.incremental.Stats(); got.Incremental != 2 {
				t.Errorf("stats %+v after a good change, want it applied incrementally", got)
			}
		})
	}
}

func TestIncrementalDriftCheckRepairsOutOfBandChanges(t *testing.T) {
	f := newIncrementalFixture(t)
	config := vrfConfig("red")
	f.reload(t, config)
	want := f.running(t)

	drifted, err := f.server.CheckDrift(context.Background())
	if err != nil || drifted {
		t.Fatalf("CheckDrift right after a reload = %v, %v; want false, nil", drifted, err)
	}
	if _, err := f.inst.Vtysh(context.Background(), "-c", "configure terminal", "-c", "router bgp 64512 vrf red", "-c", "neighbor 10.7.7.7 remote-as 64999"); err != nil {
		t.Fatal(err)
	}
	drifted, err = f.server.CheckDrift(context.Background())
	if err != nil || !drifted {
		t.Fatalf("CheckDrift after an out-of-band change = %v, %v; want true, nil", drifted, err)
	}
	if diff := cmp.Diff(want, f.running(t)); diff != "" {
		t.Errorf("running config after the drift repair (-applied +running):\n%s", diff)
	}
	if got := f.incremental.Stats(); got.Drifts != 1 {
		t.Errorf("stats %+v, want one drift", got)
	}
}

// An FRR that runs something the reloader did not apply (here: started
// with a config of its own) gets the full reload, which computes the
// difference against what really runs; an FRR restarted empty gets the
// whole config as one vtysh session again.
func TestIncrementalFirstApplyDependsOnWhatFRRRuns(t *testing.T) {
	config := vrfConfig("red", "blue")
	want := fullLoad(t, config)

	t.Run("FRR runs an unknown config: full reload", func(t *testing.T) {
		f := newIncrementalFixture(t)
		if _, err := f.inst.Vtysh(context.Background(), "-c", "configure terminal", "-c", "route-map stale permit 10"); err != nil {
			t.Fatal(err)
		}
		f.reload(t, config)
		if got := f.incremental.Stats(); got.Full != 1 || got.Initial != 0 {
			t.Errorf("stats %+v, want one full reload", got)
		}
		if diff := cmp.Diff(want, f.running(t)); diff != "" {
			t.Errorf("running config (-full load +reloaded):\n%s", diff)
		}
	})
	t.Run("FRR restarted empty: initial load again", func(t *testing.T) {
		f := newIncrementalFixture(t)
		f.reload(t, config)
		if err := f.inst.Stop(); err != nil {
			t.Fatal(err)
		}
		f.inst = frrproctest.Start(t, frrproc.Options{Netns: f.inst.Netns(), Dir: f.inst.Dir()})
		f.reload(t, config+"! same config, resent after the restart\n")
		if got := f.incremental.Stats(); got.Initial != 2 || got.Full != 0 {
			t.Errorf("stats %+v, want two initial loads", got)
		}
		if diff := cmp.Diff(want, f.running(t)); diff != "" {
			t.Errorf("running config (-full load +initial load):\n%s", diff)
		}
	})
}

// A restarted FRR gets the last config back from the reloader itself,
// without waiting for the controller.
func TestRestoreAfterRestartReappliesTheLastConfig(t *testing.T) {
	f := newIncrementalFixture(t)
	config := vrfConfig("red", "blue")
	f.reload(t, config)
	if restored, err := f.server.RestoreAfterRestart(context.Background()); err != nil || restored {
		t.Fatalf("RestoreAfterRestart with FRR untouched = %v, %v; want false, nil", restored, err)
	}
	if got := f.server.Status().RunningHash; got != configHash(config) {
		t.Errorf("status with FRR untouched: runningHash %q, want %q", got, configHash(config))
	}
	if err := f.inst.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := f.server.Status().RunningHash; got != "" {
		t.Errorf("status with FRR down: runningHash %q, want none", got)
	}
	if restored, err := f.server.RestoreAfterRestart(context.Background()); err != nil || restored {
		t.Fatalf("RestoreAfterRestart with FRR down = %v, %v; want false, nil (retried later)", restored, err)
	}
	f.inst = frrproctest.Start(t, frrproc.Options{Netns: f.inst.Netns(), Dir: f.inst.Dir()})
	if restored, err := f.server.RestoreAfterRestart(context.Background()); err != nil || !restored {
		t.Fatalf("RestoreAfterRestart after the restart = %v, %v; want true, nil", restored, err)
	}
	if got := f.server.Status().RunningHash; got != configHash(config) {
		t.Errorf("status after the restore: runningHash %q, want %q", got, configHash(config))
	}
	if diff := cmp.Diff(fullLoad(t, config), f.running(t)); diff != "" {
		t.Errorf("running config after the restore (-full load +restored):\n%s", diff)
	}
	if got := f.incremental.Stats(); got.Restores != 1 || got.Initial != 2 || got.Full != 0 {
		t.Errorf("stats %+v, want one restore through an initial load", got)
	}
}

func TestIncrementalCollectorsFollowStats(t *testing.T) {
	a := &Incremental{}
	a.full.Add(2)
	a.execs.Add(5)
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	want := map[string]float64{
		"perouter_reloader_incremental_applies_total":   0,
		"perouter_reloader_full_reloads_total":          2,
		"perouter_reloader_incremental_fallbacks_total": 0,
		"perouter_reloader_initial_loads_total":         0,
		"perouter_reloader_restores_total":              0,
		"perouter_reloader_drifts_total":                0,
		"perouter_reloader_bgp_session_resets_total":    0,
		"perouter_reloader_frr_processes_total":         5,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestDriftLines(t *testing.T) {
	out := "2026-11-26 11:17:11,328  INFO: Called via \"Namespace()\"\n\nLines To Delete\n===============\nno hostname vm\nrouter bgp 64512 vrf red\n no neighbor 10.7.7.7 remote-as 64999\n\nLines To Add\n============\nhostname worker-1\n2026-11-26 11:17:11,936  INFO: \"frr version 8.4.4\" cannot be removed\n"
	want := []string{"router bgp 64512 vrf red", " no neighbor 10.7.7.7 remote-as 64999"}
	if diff := cmp.Diff(want, driftLines(out)); diff != "" {
		t.Errorf("driftLines (-want +got):\n%s", diff)
	}
	if got := driftLines("\nLines To Delete\n===============\nno hostname vm\n\nLines To Add\n============\nhostname worker-1\n"); len(got) != 0 {
		t.Errorf("hostname-only difference reported as drift: %q", got)
	}
}

func TestGracefulRestartLines(t *testing.T) {
	for name, c := range map[string]struct {
		a, b string
		same bool
	}{
		"none on either side":  {"router bgp 1\n neighbor x remote-as 2\nexit\n", "router bgp 1\nexit\n", true},
		"turned on":            {"router bgp 1\nexit\n", "router bgp 1\n bgp graceful-restart\n bgp graceful-restart preserve-fw-state\nexit\n", false},
		"timer changed":        {"router bgp 1\n bgp graceful-restart\n bgp graceful-restart restart-time 60\n", "router bgp 1\n bgp graceful-restart\n", false},
		"indentation only":     {" bgp graceful-restart\n", "  bgp graceful-restart\n", true},
		"other lines changed":  {"router bgp 1\n bgp graceful-restart\n neighbor a remote-as 2\n", "router bgp 1\n bgp graceful-restart\n neighbor b remote-as 3\n", true},
		"running config shape": {"router bgp 64514\n bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n", "router bgp 64514\n bgp graceful-restart preserve-fw-state\n", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := gracefulRestartLines(c.a) == gracefulRestartLines(c.b); got != c.same {
				t.Errorf("same = %v, want %v", got, c.same)
			}
		})
	}
}

func TestRunsBGP(t *testing.T) {
	for name, c := range map[string]struct {
		config string
		want   bool
	}{
		"nothing":              {"", false},
		"just started":         {"frr version 10.3\nfrr defaults traditional\nhostname n\n!\nend\n", false},
		"default instance":     {"hostname n\nrouter bgp 64514\n bgp router-id 10.0.0.2\nexit\n", true},
		"vrf instance":         {"router bgp 64514 vrf red\nexit\n", true},
		"a neighbour line":     {"hostname n\n router bgp-ish\n", false},
		"route map named like": {"route-map router-bgp permit 10\n", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := runsBGP(c.config); got != c.want {
				t.Errorf("runsBGP = %v, want %v", got, c.want)
			}
		})
	}
}
