package reloader

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
)

// podRouter is one run of the router pod's two containers: FRR in the
// router namespace and a reloader serving on a socket, keeping its last
// good config in a state dir. Runs of one router share the namespace, the
// FRR instance directory and the state dir, as a restarted pod shares the
// host's namespace and hostPath volumes.
type podRouter struct {
	netns, frrDir, base string
	full                bool

	*fixture
}

func newPodRouter(t *testing.T, full bool) *podRouter {
	t.Helper()
	frrproctest.RequireFRR(t)
	p := &podRouter{netns: routerNetns(t), frrDir: frrproctest.Dir(t), base: t.TempDir(), full: full}
	p.startFRR(t)
	p.startReloader(t)
	return p
}

// startFRR starts FRR empty, as the frr container does from the
// ConfigMap's placeholder frr.conf.
func (p *podRouter) startFRR(t *testing.T) {
	t.Helper()
	inst := frrproctest.Start(t, frrproc.Options{Netns: p.netns, Dir: p.frrDir})
	if p.fixture == nil {
		p.fixture = &fixture{}
	}
	p.inst = inst
}

// startReloader starts a new reloader process's server on the same
// state dir and socket.
func (p *podRouter) startReloader(t *testing.T) {
	t.Helper()
	mode := applyIncremental
	if p.full {
		mode = applyFull
	}
	p.fixture = startServer(t, p.inst, p.base, serverOptions{mode: mode})
}

// restartPod stops the reloader and FRR and starts both again: FRR empty,
// the reloader a new process with the previous one's state dir.
func (p *podRouter) restartPod(t *testing.T) {
	t.Helper()
	p.stop()
	if err := p.inst.Stop(); err != nil {
		t.Fatal(err)
	}
	p.startFRR(t)
	p.startReloader(t)
}

// running is FRR's "show running-config" through vtysh, canonical.
func (p *podRouter) running(t *testing.T) string {
	t.Helper()
	return canonicalRunning(t, p.inst)
}

// runningHash is the reloader's answer to GET /status.
func (p *podRouter) runningHash(t *testing.T) string {
	t.Helper()
	st, err := p.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.RunningHash
}

func applyModeName(full bool) string {
	if full {
		return "full"
	}
	return "incremental"
}

// A router pod restart (rollout, eviction, kubectl delete pod) restarts
// FRR empty and the reloader without its memory; only the state dir (a
// hostPath) survives. The new reloader must put the last good config back
// into the empty FRR by itself: the controller sees the same namespace and
// the same inputs.
func TestRestartedPodGetsTheLastGoodConfigBack(t *testing.T) {
	config := vrfConfig("red", "blue")
	want := fullLoad(t, config)
	for _, full := range []bool{false, true} {
		t.Run(applyModeName(full), func(t *testing.T) {
			p := newPodRouter(t, full)
			p.reload(t, config)
			p.restartPod(t)
			if got := p.running(t); got == want {
				t.Fatal("FRR restarted with the config already: the test proves nothing")
			}
			if got := p.runningHash(t); got != "" {
				t.Errorf("status before the restore: runningHash %q, want none", got)
			}
			restored, err := p.server.RestoreAfterRestart(context.Background())
			if err != nil || !restored {
				t.Errorf("RestoreAfterRestart of the new reloader = %v, %v; want true, nil", restored, err)
			}
			if diff := cmp.Diff(want, p.running(t)); diff != "" {
				t.Errorf("FRR's running config after the pod restart (-last good +running):\n%s", diff)
			}
			if got := p.runningHash(t); got != configHash(config) {
				t.Errorf("status after the restore: runningHash %q, want %q", got, configHash(config))
			}
			// The controller's push of the same config is then a no-op.
			if res, err := p.client.Reload(context.Background(), config); err != nil || !res.Unchanged {
				t.Errorf("push of the restored config = %+v, %v; want unchanged", res, err)
			}
		})
	}
}

// The controller's config wins over the restore: a push that reaches the
// new reloader first is not undone by the last good config from disk, and
// a push refused after the restore leaves the restored config running.
func TestRestoreNeverOverridesAPush(t *testing.T) {
	old, newer := vrfConfig("red"), vrfConfig("red", "blue")
	wantNewer, wantOld := fullLoad(t, newer), fullLoad(t, old)

	t.Run("push before the restore", func(t *testing.T) {
		p := newPodRouter(t, false)
		p.reload(t, old)
		p.restartPod(t)
		p.reload(t, newer)
		if restored, err := p.server.RestoreAfterRestart(context.Background()); err != nil || restored {
			t.Errorf("RestoreAfterRestart after a push = %v, %v; want false, nil", restored, err)
		}
		if diff := cmp.Diff(wantNewer, p.running(t)); diff != "" {
			t.Errorf("running config (-pushed +running):\n%s", diff)
		}
	})
	t.Run("push while FRR still starts", func(t *testing.T) {
		p := newPodRouter(t, false)
		p.reload(t, old)
		// The new pod's reloader answers before its FRR is up.
		p.stop()
		if err := p.inst.Stop(); err != nil {
			t.Fatal(err)
		}
		p.startReloader(t)
		res, err := p.client.Reload(context.Background(), newer)
		if err == nil || res.Stage != StageUnavailable {
			t.Fatalf("push with FRR not up = %+v, %v; want refused as unavailable", res, err)
		}
		p.startFRR(t)
		if restored, err := p.server.RestoreAfterRestart(context.Background()); err != nil || !restored {
			t.Errorf("RestoreAfterRestart once FRR is up = %v, %v; want true, nil", restored, err)
		}
		if diff := cmp.Diff(wantOld, p.running(t)); diff != "" {
			t.Errorf("running config after the restore (-last good +running):\n%s", diff)
		}
		p.reload(t, newer)
		if diff := cmp.Diff(wantNewer, p.running(t)); diff != "" {
			t.Errorf("running config after the retried push (-pushed +running):\n%s", diff)
		}
	})
	t.Run("refused push after the restore", func(t *testing.T) {
		p := newPodRouter(t, false)
		p.reload(t, old)
		p.restartPod(t)
		if _, err := p.server.RestoreAfterRestart(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.Reload(context.Background(), "router bgp 64512\n neighbor 1.2.3.4 remote-as banana\n"); err == nil {
			t.Fatal("FRR accepted an invalid config")
		}
		if diff := cmp.Diff(wantOld, p.running(t)); diff != "" {
			t.Errorf("running config after a refused push (-restored +running):\n%s", diff)
		}
		p.reload(t, newer)
		if diff := cmp.Diff(wantNewer, p.running(t)); diff != "" {
			t.Errorf("running config after the next push (-pushed +running):\n%s", diff)
		}
	})
}

// Only the reloader restarted (its container crashed): FRR still runs
// its config, which the new reloader must leave alone.
func TestRestoreLeavesARunningFRRAlone(t *testing.T) {
	config := vrfConfig("red")
	p := newPodRouter(t, false)
	p.reload(t, config)
	before := p.running(t)
	p.stop()
	p.startReloader(t)
	if restored, err := p.server.RestoreAfterRestart(context.Background()); err != nil || restored {
		t.Errorf("RestoreAfterRestart with FRR running its config = %v, %v; want false, nil", restored, err)
	}
	if diff := cmp.Diff(before, p.running(t)); diff != "" {
		t.Errorf("running config changed (-before +after):\n%s", diff)
	}
	// The new reloader does not know what FRR runs: the controller must
	// push, and afterwards it knows.
	if got := p.runningHash(t); got != "" {
		t.Errorf("status of the new reloader: runningHash %q, want none", got)
	}
	p.reload(t, config)
	if got := p.runningHash(t); got != configHash(config) {
		t.Errorf("status after the push: runningHash %q, want %q", got, configHash(config))
	}
}
