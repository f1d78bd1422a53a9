package reloader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega/gbytes"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
)

// bgpConfig is a small PE-like config with one neighbor per address.
func bgpConfig(neighbors ...string) string {
	var b strings.Builder
	b.WriteString("frr defaults traditional\n!\nrouter bgp 64512\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n")
	for _, n := range neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as 64513\n", n)
	}
	b.WriteString("exit\n!\n")
	return b.String()
}

// recordingApplier wraps the real FRRReload to observe how the server calls
// it: whether applies overlap and in which order configs reached FRR.
type recordingApplier struct {
	*FRRReload

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	calls       int
	applied     []string
}

func (r *recordingApplier) Apply(ctx context.Context, config string) error {
	r.mu.Lock()
	r.calls++
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.mu.Unlock()
	err := r.FRRReload.Apply(ctx, config)
	r.mu.Lock()
	r.inFlight--
	if err == nil {
		r.applied = append(r.applied, config)
	}
	r.mu.Unlock()
	return err
}

// applyMode picks the Applier behind a test server.
type applyMode int

const (
	// applyFull is frr-reload.py (FRRReload), wrapped in a recordingApplier.
	applyFull applyMode = iota
	// applyIncremental is Incremental.
	applyIncremental
)

// serverOptions are what tests vary about the reloader startServer runs.
type serverOptions struct {
	mode applyMode
	// verify is Incremental's Verify (applyIncremental only).
	verify VerifyMode
	// logger defaults to the test's log at verbosity 1.
	logger logr.Logger
}

// fixture is one reloader server serving on a socket under base, with its
// state dir and work dir there too: servers started on the same base share
// them, as a restarted reloader process shares its hostPath volumes.
type fixture struct {
	inst     *frrproc.Instance
	server   *Server
	client   *Client
	socket   string
	stateDir string
	// applier is set in applyFull mode, incremental in applyIncremental mode.
	applier     *recordingApplier
	incremental *Incremental
	// stop shuts the server down once (later calls do nothing); it also
	// runs at cleanup.
	stop func()
}

func startServer(t *testing.T, inst *frrproc.Instance, base string, opts serverOptions) *fixture {
	t.Helper()
	log := opts.logger
	if log.GetSink() == nil {
		log = testr.NewWithOptions(t, testr.Options{Verbosity: 1})
	}
	paths := FRRPaths{VtySocketDir: inst.VtySocketDir()}
	work := filepath.Join(base, "work")
	f := &fixture{
		inst: inst,
		// In a directory Listen must create; short, as t.TempDir() holds
		// the (sub)test's name and a socket path has at most 107 bytes.
		socket:   filepath.Join(base, "run", "r.sock"),
		stateDir: filepath.Join(base, "state"),
	}
	var applier Applier
	switch opts.mode {
	case applyFull:
		f.applier = &recordingApplier{FRRReload: &FRRReload{Paths: paths, WorkDir: work}}
		applier = f.applier
	case applyIncremental:
		f.incremental = &Incremental{Paths: paths, WorkDir: work, Verify: opts.verify, Logger: log}
		applier = f.incremental
	}
	srv, err := NewServer(Options{
		SocketPath: f.socket,
		StateDir:   f.stateDir,
		Applier:    applier,
		Health:     &DaemonCheck{Paths: paths, Daemons: inst.Daemons()},
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ServeListener(ctx, l) }()
	stopped := false
	f.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(f.socket); !os.IsNotExist(err) {
			t.Errorf("socket %s still exists after shutdown (stat err %v)", f.socket, err)
		}
	}
	t.Cleanup(f.stop)
	f.server = srv
	f.client = NewClient(f.socket)
	return f
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	frrproctest.RequireFRR(t)
	return startServer(t, frrproctest.Start(t, frrproc.Options{}), t.TempDir(), serverOptions{})
}

func (f *fixture) running(t *testing.T) string {
	t.Helper()
	out, err := f.inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) reload(t *testing.T, config string) Result {
	t.Helper()
	res, err := f.client.Reload(context.Background(), config)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	return res
}

func TestReloadAppliesConfigAndStoresLastGood(t *testing.T) {
	f := newFixture(t)

	first := bgpConfig("192.0.2.2")
	res := f.reload(t, first)
	if diff := cmp.Diff(Result{Applied: true, Hash: configHash(first)}, res, ignoreDuration); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	t.Logf("first reload of a small config: %.0f ms", res.DurationMs)
	running := f.running(t)
	for _, want := range []string{"router bgp 64512", "neighbor 192.0.2.2 remote-as 64513"} {
		if !strings.Contains(running, want) {
			t.Errorf("running config lacks %q:\n%s", want, running)
		}
	}

	// The reload replaces: a neighbor missing from the new text is removed.
	second := bgpConfig("192.0.2.3")
	res = f.reload(t, second)
	t.Logf("reload replacing one neighbor: %.0f ms", res.DurationMs)
	running = f.running(t)
	if strings.Contains(running, "192.0.2.2") || !strings.Contains(running, "neighbor 192.0.2.3 remote-as 64513") {
		t.Errorf("running config after replacing 192.0.2.2 by 192.0.2.3:\n%s", running)
	}

	stored, err := os.ReadFile(filepath.Join(f.stateDir, LastGoodFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, string(stored)); diff != "" {
		t.Errorf("stored last good config (-want +got):\n%s", diff)
	}
	sum, err := os.ReadFile(filepath.Join(f.stateDir, LastGoodFile+".sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(sum))[0], configHash(second); got != want {
		t.Errorf("stored hash = %s, want %s", got, want)
	}
}

var ignoreDuration = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".DurationMs" }, cmp.Ignore())

func TestReloadRefusesConfigFRRRejects(t *testing.T) {
	f := newFixture(t)
	good := bgpConfig("192.0.2.2")
	f.reload(t, good)
	before := f.running(t)

	tests := map[string]struct {
		config     string
		wantStatus int
		wantStage  Stage
		wantText   []string
		// FRR's parser accepts the text but bgpd refuses it mid-apply; the
		// server must restore the last good config.
		wantRolledBack bool
	}{
		"unknown command is refused before anything changes": {
			config:     "router bgp 64512\n neighbor 1.2.3.4 remote-as banana\n",
			wantStatus: http.StatusUnprocessableEntity,
			wantStage:  StageValidate,
			wantText:   []string{"line 2: % Unknown command", "neighbor 1.2.3.4 remote-as banana"},
		},
		"daemon refusal mid-apply is rolled back": {
			config:         bgpConfig("192.0.2.2", "192.0.2.9") + "router bgp 64512 vrf red\n neighbor 10.9.9.9 peer-group nonexist\nexit\n",
			wantStatus:     http.StatusInternalServerError,
			wantStage:      StageApply,
			wantText:       []string{"% Configure the peer-group first"},
			wantRolledBack: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := f.client.Reload(context.Background(), tc.config)
			var re *ReloadError
			if !errors.As(err, &re) {
				t.Fatalf("Reload error = %v (result %+v), want a *ReloadError", err, res)
			}
			if re.StatusCode != tc.wantStatus || res.Stage != tc.wantStage || res.RolledBack != tc.wantRolledBack || res.Applied {
				t.Errorf("status %d stage %q rolledBack %v applied %v, want %d %q %v false",
					re.StatusCode, res.Stage, res.RolledBack, res.Applied, tc.wantStatus, tc.wantStage, tc.wantRolledBack)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks FRR's text %q: %v", want, err)
				}
			}
			if diff := cmp.Diff(before, f.running(t)); diff != "" {
				t.Errorf("running config changed by a refused reload (-before +after):\n%s", diff)
			}
			stored, err := os.ReadFile(filepath.Join(f.stateDir, LastGoodFile))
			if err != nil {
				t.Fatal(err)
			}
			if string(stored) != good {
				t.Errorf("last good config was overwritten by a refused one:\n%s", stored)
			}
		})
	}
}

func TestConcurrentReloadsAreSerialized(t *testing.T) {
	f := newFixture(t)
	const n = 10
	configs := make([]string, n)
	for i := range configs {
		configs[i] = bgpConfig(fmt.Sprintf("192.0.2.%d", 10+i))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range configs {
		wg.Go(func() {
			_, errs[i] = f.client.Reload(context.Background(), configs[i])
		})
	}
	wg.Wait()
	t.Logf("%d concurrent reloads answered in %v", n, time.Since(began))
	for i, err := range errs {
		if err != nil {
			t.Errorf("reload %d: %v", i, err)
		}
	}
	f.applier.mu.Lock()
	defer f.applier.mu.Unlock()
	if f.applier.maxInFlight != 1 {
		t.Errorf("up to %d applies ran at once, want 1", f.applier.maxInFlight)
	}
	if len(f.applier.applied) != n {
		t.Fatalf("%d configs applied, want %d", len(f.applier.applied), n)
	}
	last := f.applier.applied[n-1]
	running := f.running(t)
	for _, c := range configs {
		neighbor := regexp.MustCompile(`neighbor \S+ remote-as 64513`).FindString(c)
		if got, want := strings.Contains(running, neighbor), c == last; got != want {
			t.Errorf("running config contains %q = %v, want %v (the last applied config wins):\n%s", neighbor, got, want, running)
		}
	}
}

func TestUnchangedConfigIsSkippedUntilFRRRestarts(t *testing.T) {
	frrproctest.RequireFRR(t)
	netns := frrproctest.Netns(t)
	base := t.TempDir()
	frrDir := frrproctest.Dir(t)
	inst := frrproctest.Start(t, frrproc.Options{Netns: netns, Dir: frrDir})
	f := startServer(t, inst, base, serverOptions{})

	config := bgpConfig("192.0.2.2")
	f.reload(t, config)
	res := f.reload(t, config)
	if diff := cmp.Diff(Result{Unchanged: true, Hash: configHash(config)}, res, ignoreDuration); diff != "" {
		t.Errorf("second identical reload (-want +got):\n%s", diff)
	}
	t.Logf("skipped identical reload: %.2f ms", res.DurationMs)
	if len(f.applier.applied) != 1 {
		t.Errorf("FRR saw %d applies, want 1", len(f.applier.applied))
	}

	// A restarted FRR has lost its config: the same text must be applied again.
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	f.inst = frrproctest.Start(t, frrproc.Options{Netns: netns, Dir: frrDir})
	res = f.reload(t, config)
	if !res.Applied {
		t.Errorf("reload after FRR restart = %+v, want applied", res)
	}
	if running := f.running(t); !strings.Contains(running, "neighbor 192.0.2.2 remote-as 64513") {
		t.Errorf("restarted FRR did not get the config again:\n%s", running)
	}
}

func TestHealthzFollowsDaemons(t *testing.T) {
	f := newFixture(t)
	if err := f.client.Healthy(context.Background()); err != nil {
		t.Fatalf("healthy with all daemons up: %v", err)
	}
	if err := f.inst.Kill("bgpd"); err != nil {
		t.Fatal(err)
	}
	err := f.client.Healthy(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "bgpd") {
		t.Errorf("after killing bgpd: Healthy = %v, want HTTP 503 naming bgpd", err)
	}
	for _, d := range f.inst.Daemons() {
		if d != "bgpd" {
			if err := f.inst.Kill(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.client.Healthy(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("after killing every daemon: Healthy = %v, want HTTP 503", err)
	}

	// With FRR gone a reload is not a verdict on the config, and is not
	// attempted.
	f.applier.mu.Lock()
	before := f.applier.calls
	f.applier.mu.Unlock()
	res, err := f.client.Reload(context.Background(), bgpConfig("192.0.2.2"))
	var re *ReloadError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable || res.Stage != StageUnavailable ||
		!strings.Contains(res.Error, "FRR did not answer") || !strings.Contains(res.Error, "nothing was changed") {
		t.Errorf("reload with FRR down: %+v, %v; want HTTP 503, stage unavailable", res, err)
	}
	f.applier.mu.Lock()
	defer f.applier.mu.Unlock()
	if f.applier.calls != before {
		t.Errorf("a reload with FRR down reached the applier")
	}
}

func TestSocketIsPrivateAndRefusesSecondServer(t *testing.T) {
	f := newFixture(t)
	fi, err := os.Stat(f.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s mode = %v, want a socket with mode 0600", f.socket, fi.Mode())
	}
	second, err := NewServer(Options{SocketPath: f.socket, StateDir: t.TempDir(), Applier: f.applier, Health: &DaemonCheck{}})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := second.Listen(); err == nil {
		l.Close()
		t.Error("a second server took over a socket in use")
	}
	if err := f.client.Healthy(context.Background()); err != nil {
		t.Errorf("first server stopped answering: %v", err)
	}
}

func TestMetricsAndBadRequests(t *testing.T) {
	f := newFixture(t)
	f.reload(t, bgpConfig("192.0.2.2"))
	f.reload(t, bgpConfig("192.0.2.2"))
	if _, err := f.client.Reload(context.Background(), "router bgp 64512\n neighbor 1.2.3.4 remote-as banana\n"); err == nil {
		t.Fatal("invalid config accepted")
	}
	var re *ReloadError
	if _, err := f.client.Reload(context.Background(), ""); !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		t.Errorf("empty config: error %v, want HTTP 400", err)
	}

	text, err := f.client.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`perouter_reloader_reload_duration_seconds_count{outcome="applied"} 1`,
		`perouter_reloader_reload_duration_seconds_count{outcome="failed"} 1`,
		`perouter_reloader_reload_failures_total{stage="validate"} 1`,
		`perouter_reloader_reload_failures_total{stage="apply"} 0`,
		`perouter_reloader_reloads_skipped_total 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^perouter_reloader_last_success_timestamp_seconds 0$`).MatchString(text) ||
		!strings.Contains(text, "perouter_reloader_last_success_timestamp_seconds") {
		t.Errorf("last success timestamp missing or zero after a successful reload")
	}
}

// TestRefusalsDoNotLeakPasswords: FRR echoes the lines it refuses, and a
// refused neighbour line carries its TCP MD5 password. Neither the answer
// the controller gets (it lands in status and events) nor the reloader's
// own logs, debug level included, may hold the password.
func TestRefusalsDoNotLeakPasswords(t *testing.T) {
	frrproctest.RequireFRR(t)
	const secret = "s3cr3tPW"
	logs := gbytes.NewBuffer()
	f := startServer(t, frrproctest.Start(t, frrproc.Options{}), t.TempDir(),
		serverOptions{logger: funcr.New(func(prefix, args string) { fmt.Fprintln(logs, prefix, args) }, funcr.Options{Verbosity: 1})})
	f.reload(t, bgpConfig("192.0.2.2"))
	tests := map[string]struct {
		config    string
		wantStage Stage
		// wantText is FRR's own text that must survive the redaction.
		wantText string
	}{
		"refused by the parser": {
			config:    "router bgp 64512\n neighbor 192.0.2.2 password " + secret + " extra\n",
			wantStage: StageValidate,
			wantText:  "neighbor 192.0.2.2 password <redacted> extra",
		},
		"refused by bgpd mid-apply": {
			config:    bgpConfig("192.0.2.2") + "router bgp 64512 vrf red\n neighbor 10.9.9.9 password " + secret + "\nexit\n",
			wantStage: StageApply,
			wantText:  "neighbor 10.9.9.9 password <redacted>",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := f.client.Reload(context.Background(), tc.config)
			if err == nil || res.Stage != tc.wantStage {
				t.Fatalf("Reload = %+v, %v; want a refusal at stage %s", res, err, tc.wantStage)
			}
			for what, text := range map[string]string{"error": err.Error(), "result": res.Error, "logs": string(logs.Contents())} {
				if strings.Contains(text, secret) {
					t.Errorf("the %s holds the password:\n%s", what, text)
				}
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error lacks FRR's (redacted) text %q: %v", tc.wantText, err)
			}
		})
	}
}

func TestFRRErrors(t *testing.T) {
	tests := map[string]struct {
		output string
		want   string
	}{
		"parser error reported through --test": {
			output: "2026-11-26 10:36:42,451  INFO: Called via \"Namespace(...)\"\n" +
				"2026-11-26 10:36:42,491 \x1b[91m  ERROR\x1b[0m: vtysh failed to process new configuration: vtysh (mark file) exited with status 2:\n" +
				"b\"% Can't open configuration file /x/vtysh.conf due to 'No such file or directory'.\\nline 2: % Unknown command:  neighbor 1.2.3.4 remote-as banana\\n\\n\"\n" +
				"2026-11-26 10:36:42,546  INFO: \"frr defaults traditional\" cannot be removed\n",
			want: "line 2: % Unknown command:  neighbor 1.2.3.4 remote-as banana",
		},
		"daemon refusal during --reload": {
			output: "% Configure the peer-group first\n% Configure the peer-group first\n" +
				"2026-11-26 10:36:57,187  INFO: /x/reload-RZJH84.txt content\n" +
				"line 7: Failure to communicate[13] to bgpd, line:  neighbor 10.9.9.9 peer-group nonexist\n\n" +
				"2026-11-26 10:36:57,268 \x1b[91mWARNING\x1b[0m: frr-reload.py failed due to\nvtysh (exec file) exited with status 13\n",
			want: "% Configure the peer-group first\nline 7: Failure to communicate[13] to bgpd, line:  neighbor 10.9.9.9 peer-group nonexist",
		},
		"traceback when the daemons are gone": {
			output: "2026-11-26 10:50:13,508  INFO: Called via \"Namespace(...)\"\n" +
				"Traceback (most recent call last):\n  File \"/usr/lib/frr/frr-reload.py\", line 162, in mark_show_run\n    raise VtyshException(\n" +
				"VtyshException: vtysh (show running-config) exited with status 1:\n",
			want: "VtyshException: vtysh (show running-config) exited with status 1:",
		},
		"only frr-reload.py's own error": {
			output: "2026-11-26 10:36:42,451 \x1b[91m  ERROR\x1b[0m: Filename /x/frr.conf is an empty file\n",
			want:   "Filename /x/frr.conf is an empty file",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, frrErrors(tc.output)); diff != "" {
				t.Errorf("frrErrors (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkFRRReload measures frr-reload.py (--test then --reload) against
// live daemons: "change" alternates two small configs, "no-change" re-applies
// the running config, "server-skip" is the server's hash shortcut.
func BenchmarkFRRReload(b *testing.B) {
	frrproctest.RequireFRR(b)
	inst := frrproctest.Start(b, frrproc.Options{})
	applier := &FRRReload{Paths: FRRPaths{VtySocketDir: inst.VtySocketDir()}, WorkDir: b.TempDir()}
	ctx := context.Background()
	configs := []string{bgpConfig("192.0.2.2"), bgpConfig("192.0.2.3")}
	b.Run("change", func(b *testing.B) {
		cpu := childCPU()
		for i := 0; b.Loop(); i++ {
			if err := applier.Apply(ctx, configs[i%2]); err != nil {
				b.Fatal(err)
			}
		}
		reportChildCPU(b, cpu)
	})
	b.Run("no-change", func(b *testing.B) {
		if err := applier.Apply(ctx, configs[0]); err != nil {
			b.Fatal(err)
		}
		cpu := childCPU()
		for b.Loop() {
			if err := applier.Apply(ctx, configs[0]); err != nil {
				b.Fatal(err)
			}
		}
		reportChildCPU(b, cpu)
	})
	b.Run("server-skip", func(b *testing.B) {
		srv, err := NewServer(Options{SocketPath: filepath.Join(b.TempDir(), "s"), StateDir: b.TempDir(), Applier: applier, Health: &DaemonCheck{Paths: applier.Paths, Daemons: inst.Daemons()}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := srv.Reload(ctx, configs[1]); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := srv.Reload(ctx, configs[1])
			if err != nil || !res.Unchanged {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
}

// childCPU is the CPU time of waited-for children (frr-reload.py, vtysh and
// the daemons' share is not included); unlike wall time it hardly depends on
// what else the machine runs.
func childCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportChildCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((childCPU()-since).Milliseconds())/float64(b.N), "child-cpu-ms/op")
}

// hangingApplier applies its first config to the real FRR and then, as an
// FRR that stopped answering mid-change would, holds the call until the
// apply's deadline passes. Later calls go straight to FRR.
type hangingApplier struct {
	*FRRReload
	calls int
}

func (h *hangingApplier) Apply(ctx context.Context, config string) error {
	h.calls++
	if h.calls > 1 {
		return h.FRRReload.Apply(ctx, config)
	}
	if err := h.FRRReload.Apply(ctx, config); err != nil {
		return err
	}
	<-ctx.Done()
	return &ApplyError{Stage: StageApply, Err: ctx.Err()}
}

// TestRollbackAfterTimedOutApply: an apply that changed FRR and then ran
// out of time is rolled back under a deadline of its own, so FRR runs the
// last good config again, as the result says.
func TestRollbackAfterTimedOutApply(t *testing.T) {
	frrproctest.RequireFRR(t)
	inst := frrproctest.Start(t, frrproc.Options{})
	base := t.TempDir()
	paths := FRRPaths{VtySocketDir: inst.VtySocketDir()}
	real := &FRRReload{Paths: paths, WorkDir: filepath.Join(base, "work")}
	good := bgpConfig("192.0.2.2")
	if err := real.Apply(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(base, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, LastGoodFile), []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{
		SocketPath:   filepath.Join(base, "run", "reloader.sock"),
		StateDir:     stateDir,
		Applier:      &hangingApplier{FRRReload: real},
		Health:       &DaemonCheck{Paths: paths, Daemons: inst.Daemons()},
		Logger:       testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		ApplyTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Reload(context.Background(), bgpConfig("192.0.2.3"))
	if err == nil || res.Stage != StageApply {
		t.Fatalf("reload = %+v, %v; want a failed apply", res, err)
	}
	running, err := inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !res.RolledBack || !strings.Contains(running, "neighbor 192.0.2.2 ") || strings.Contains(running, "192.0.2.3") {
		t.Fatalf("after the timed-out apply: rolledBack=%v, FRR runs:\n%s\nwant the last good config (neighbor 192.0.2.2) back", res.RolledBack, running)
	}
}
