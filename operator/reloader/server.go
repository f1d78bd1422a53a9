// Package reloader is the sidecar that owns FRR's configuration: the
// controller sends the full FRR config over a unix socket, the server
// validates and applies it, keeps the last good config and answers health
// checks.
//
// Protocol (HTTP over the unix socket, no TCP listener for reloads):
//
//	POST /reload   body: full FRR config text
//	               200 {"applied":true,"hash":…,"durationMs":…}
//	               200 {"applied":false,"unchanged":true,…} when the config equals the last applied one
//	               422 FRR rejected it (nothing changed); 503 FRR did not answer
//	               (nothing changed); 500 FRR failed mid-apply (the server
//	               restored the last good config when it had one);
//	               the JSON "error" field carries FRR's own text
//	GET  /status   200 {"runningHash":…}: the hash of the config FRR runs as far
//	               as the reloader knows, "" when it does not know (FRR restarted
//	               and nothing was re-applied yet; the reloader restarted and
//	               restored nothing); the controller pushes again when it
//	               differs from the hash it pushed last
//	GET  /healthz  200 when every FRR daemon answers, else 503 with the reason
//	GET  /metrics  Prometheus metrics (also servable on a TCP address, see Server.Gatherer)
package reloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/redact"
)

const (
	// LastGoodFile is the name, inside Options.StateDir, of the last config
	// FRR accepted; LastGoodFile+".sha256" holds its hash.
	LastGoodFile = "frr.conf"

	defaultApplyTimeout   = 2 * time.Minute
	defaultMaxConfigBytes = 16 << 20
	healthTimeout         = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	// SocketPath is the unix socket the server listens on (mode 0600).
	SocketPath string
	// StateDir keeps the last good config.
	StateDir string
	Applier  Applier
	Health   HealthChecker
	Logger   logr.Logger
	// Registry receives the server's metrics; nil means a private registry.
	Registry *prometheus.Registry
	// ApplyTimeout bounds one apply. The apply does not follow the request's
	// context: a client that hangs up must not cut FRR off mid-change.
	ApplyTimeout time.Duration
	// MaxConfigBytes bounds a request body. Default 16 MiB.
	MaxConfigBytes int64
	// EVPN, when set, repairs the L3VNI neighbours and router MACs FRR 8.4's
	// zebra loses when a change re-imports a VRF's routes (see
	// EVPNNexthops): Reload waits for them to settle before it answers,
	// and CheckEVPN looks between reloads.
	EVPN *EVPNNexthops
}

// Result answers a reload.
type Result struct {
	Applied    bool    `json:"applied"`
	Unchanged  bool    `json:"unchanged,omitempty"`
	Hash       string  `json:"hash"`
	DurationMs float64 `json:"durationMs"`
	// Error is FRR's text when the reload failed.
	Error string `json:"error,omitempty"`
	// Stage is where a failed reload stopped: "validate" or "unavailable"
	// (nothing changed) or "apply" (FRR may have been changed, see RolledBack).
	Stage Stage `json:"stage,omitempty"`
	// RolledBack reports that after a failed apply the last good config was
	// applied again.
	RolledBack bool `json:"rolledBack,omitempty"`
}

// Server serialises reloads: one apply at a time, in arrival order of the
// lock.
type Server struct {
	opts    Options
	log     logr.Logger
	metrics *metrics
	mux     *http.ServeMux

	// sem is the reload lock; a channel so that waiting honours the
	// request's context.
	sem chan struct{}
	// mu guards lastHash and lastFingerprint for Status, which must
	// answer while a reload holds sem; they are written holding both.
	mu              sync.Mutex
	lastHash        string
	lastFingerprint string
	// Guarded by sem.
	lastGood string
	// restorePending: lastGood was read from StateDir and nothing has
	// been applied since this server started; RestoreAfterRestart then
	// loads it into an FRR that runs no configuration.
	restorePending bool
}

// Status is what the reloader knows about FRR's running config.
type Status struct {
	// RunningHash is the hash of the config FRR runs as far as the
	// reloader knows: the one it applied or restored last, while the
	// daemons that took it still run. Empty when it does not know: FRR
	// restarted and nothing was re-applied yet, or the reloader itself
	// restarted and found FRR running a config it did not restore.
	RunningHash string `json:"runningHash"`
}

// NewServer checks the options and loads the last good config from StateDir.
// The loaded config is a rollback target, and the config RestoreAfterRestart
// puts back into an FRR that runs none (the router pod restarted: FRR
// starts empty, StateDir is kept on the host). It is not taken as what FRR
// runs: the first reload after a restart is always applied, because
// nothing proves FRR still runs it.
func NewServer(opts Options) (*Server, error) {
	if opts.SocketPath == "" {
		return nil, errors.New("reloader: Options.SocketPath is empty")
	}
	if opts.StateDir == "" {
		return nil, errors.New("reloader: Options.StateDir is empty")
	}
	if opts.Applier == nil {
		return nil, errors.New("reloader: Options.Applier is nil")
	}
	if opts.Health == nil {
		return nil, errors.New("reloader: Options.Health is nil")
	}
	if opts.ApplyTimeout == 0 {
		opts.ApplyTimeout = defaultApplyTimeout
	}
	if opts.MaxConfigBytes == 0 {
		opts.MaxConfigBytes = defaultMaxConfigBytes
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("reloader: state dir: %w", err)
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	// FRR's error text echoes refused lines, passwords included.
	s := &Server{opts: opts, log: redact.Logger(opts.Logger), metrics: m, sem: make(chan struct{}, 1)}
	if data, err := os.ReadFile(filepath.Join(opts.StateDir, LastGoodFile)); err == nil {
		s.lastGood = string(data)
		s.restorePending = s.lastGood != ""
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reloader: last good config: %w", err)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /reload", s.handleReload)
	s.mux.HandleFunc("GET /status", s.handleStatus)
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}))
	return s, nil
}

// Handler serves the protocol; Serve uses it on the unix socket.
func (s *Server) Handler() http.Handler { return s.mux }

// Gatherer exposes the metrics for an extra TCP metrics listener.
func (s *Server) Gatherer() prometheus.Gatherer { return s.opts.Registry }

// Listen creates the unix socket with mode 0600. The socket is bound under a
// temporary name, restricted, then renamed into place, so it is never
// reachable with looser permissions.
func (s *Server) Listen() (net.Listener, error) {
	path := s.opts.SocketPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("reloader: socket dir: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("reloader: %s exists and is not a socket", path)
		}
		// A socket left by a previous run; nobody can be listening on it
		// unless another reloader runs, which Dial detects.
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("reloader: another server is listening on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("reloader: remove stale socket: %w", err)
		}
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("reloader: listen: %w", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("reloader: chmod socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("reloader: %w", err)
	}
	return &unlinkingListener{Listener: l, path: path}, nil
}

type unlinkingListener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *unlinkingListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// Serve listens on the socket and serves until ctx ends, then removes the
// socket.
func (s *Server) Serve(ctx context.Context) error {
	l, err := s.Listen()
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, l)
}

// ServeListener serves on l until ctx ends.
func (s *Server) ServeListener(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ApplyTimeout)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	s.log.Info("serving reloads", "socket", s.opts.SocketPath)
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// Reload applies config unless it equals the last applied config and FRR
// has not restarted since. On a failure the error is returned and the Result
// describes it.
func (s *Server) Reload(ctx context.Context, config string) (Result, error) {
	hash := configHash(config)
	unlock, err := s.lock(ctx)
	if err != nil {
		return Result{Hash: hash}, fmt.Errorf("reloader: waiting for the previous reload: %w", err)
	}
	defer unlock()

	log := s.log.WithValues("hash", hash)
	start := time.Now()
	fingerprint := s.fingerprint()
	if fingerprint != "" && s.runs(hash, fingerprint) {
		s.metrics.skipped.Inc()
		log.V(1).Info("config unchanged, reload skipped")
		return Result{Unchanged: true, Hash: hash, DurationMs: ms(time.Since(start))}, nil
	}

	if !s.knowsRunning(fingerprint) {
		// FRR restarted, or nothing was applied yet: while a restarted
		// router pod's FRR is still starting, an apply would fail
		// part-way (frr-reload.py can take minutes in an emulated VM)
		// and its rollback too, holding up the restore. Refused
		// untouched instead; the caller retries once FRR answers.
		healthCtx, cancel := context.WithTimeout(ctx, healthTimeout)
		err := s.opts.Health.Check(healthCtx)
		cancel()
		if err != nil {
			s.metrics.failures.WithLabelValues(string(StageUnavailable)).Inc()
			err = &ApplyError{Stage: StageUnavailable, Err: err, FRRErrors: "nothing was changed; retry once FRR answers"}
			log.Info("FRR does not answer; reload refused", "error", err.Error())
			return Result{Hash: hash, DurationMs: ms(time.Since(start)), Error: err.Error(), Stage: StageUnavailable}, err
		}
	}
	applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ApplyTimeout)
	defer cancel()
	err = s.opts.Applier.Apply(applyCtx, config)
	elapsed := time.Since(start)
	if err != nil {
		// The answer ends up in the controller's status and events.
		res := Result{Hash: hash, DurationMs: ms(elapsed), Error: redact.Secrets(err.Error()), Stage: StageApply}
		var ae *ApplyError
		if errors.As(err, &ae) {
			res.Stage = ae.Stage
			log.V(1).Info("frr-reload.py output", "output", ae.Output)
		}
		s.metrics.observe(elapsed, false)
		s.metrics.failures.WithLabelValues(string(res.Stage)).Inc()
		log.Error(err, "reload failed", "stage", res.Stage)
		if res.Stage == StageApply {
			// A fresh deadline: after a timed-out apply applyCtx has
			// expired, and a rollback under it would fail at once and leave
			// FRR half-applied.
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ApplyTimeout)
			res.RolledBack = s.rollback(rollbackCtx, log)
			cancel()
		}
		return res, err
	}
	s.metrics.observe(elapsed, true)
	s.metrics.lastSuccess.SetToCurrentTime()
	previous := s.lastGood
	s.remember(config, hash)
	if err := s.persist(config, hash); err != nil {
		// FRR runs the config; only the rollback target on disk is stale.
		log.Error(err, "storing last good config")
	}
	s.settleEVPN(applyCtx, log, previous, config)
	log.Info("reload applied", "durationMs", ms(elapsed))
	return Result{Applied: true, Hash: hash, DurationMs: ms(elapsed)}, nil
}

// settleEVPN waits, after a change that re-imported L3VNI routes, until
// zebra has digested it and repairs the neighbours and router MACs it
// lost meanwhile (EVPNNexthops), so that "applied" means a working
// datapath too. FRR runs the config either way: a failure here is logged,
// not returned, and CheckEVPN looks again later.
func (s *Server) settleEVPN(ctx context.Context, log logr.Logger, previous, config string) {
	if s.opts.EVPN == nil || previous == "" {
		return
	}
	l3vnis, err := frrdelta.Reimported(previous, config)
	if err != nil || len(l3vnis) == 0 {
		return
	}
	start := time.Now()
	repairs, err := s.opts.EVPN.Settle(ctx, l3vnis)
	s.metrics.evpnRepairs.Add(float64(repairs))
	if err != nil {
		log.Error(err, "checking L3VNI next-hops after a route-target change")
		return
	}
	log.Info("L3VNI next-hops settled after a route-target change", "vrfs", len(l3vnis), "repairs", repairs, "durationMs", ms(time.Since(start)))
}

// CheckEVPN repairs, between reloads, L3VNI neighbours and router MACs
// zebra lost (EVPNNexthops.Check) while FRR runs the last applied config.
// It reports whether it repaired anything.
func (s *Server) CheckEVPN(ctx context.Context) (bool, error) {
	if s.opts.EVPN == nil {
		return false, nil
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if st := s.Status(); st.RunningHash == "" {
		return false, nil
	}
	checkCtx, cancel := context.WithTimeout(ctx, s.opts.ApplyTimeout)
	defer cancel()
	repairs, err := s.opts.EVPN.Check(checkCtx, s.lastGood)
	s.metrics.evpnRepairs.Add(float64(repairs))
	if err != nil {
		s.log.Error(err, "checking L3VNI next-hops")
	}
	return repairs > 0, err
}

// rollback re-applies the last good config after a failed apply left FRR in
// an unknown state.
func (s *Server) rollback(ctx context.Context, log logr.Logger) bool {
	s.setRunning("", "")
	if s.lastGood == "" {
		log.Info("no last good config to roll back to; FRR may run a partial config")
		return false
	}
	if err := s.opts.Applier.Apply(ctx, s.lastGood); err != nil {
		s.metrics.failures.WithLabelValues("rollback").Inc()
		log.Error(err, "rollback to the last good config failed")
		return false
	}
	s.remember(s.lastGood, configHash(s.lastGood))
	log.Info("rolled back to the last good config", "lastGoodHash", s.lastHash)
	return true
}

// remember records that FRR took config (whose hash is hash): it is the
// last good config, and nothing older may be restored over it. Called
// holding sem.
func (s *Server) remember(config, hash string) {
	s.lastGood = config
	s.restorePending = false
	s.setRunning(hash, s.fingerprint())
}

func (s *Server) setRunning(hash, fingerprint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastHash, s.lastFingerprint = hash, fingerprint
}

// runs reports whether FRR runs the config with hash, the daemons that
// took it having fingerprint.
func (s *Server) runs(hash, fingerprint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return hash != "" && hash == s.lastHash && fingerprint == s.lastFingerprint
}

// knowsRunning reports whether the daemons with fingerprint run the last
// config this server applied.
func (s *Server) knowsRunning(fingerprint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHash != "" && fingerprint != "" && fingerprint == s.lastFingerprint
}

// reappliedLast records that the applier re-applied the last config by
// itself (after an FRR restart, or to repair drift): the daemons now
// running have it. Called holding sem.
func (s *Server) reappliedLast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastHash != "" {
		s.lastFingerprint = s.fingerprint()
	}
}

// Status reports what the reloader knows FRR runs. It does not wait for a
// reload in progress: until that ends, FRR runs the previous config or a
// part of the new one, and the previous hash is the answer.
func (s *Server) Status() Status {
	s.mu.Lock()
	hash, fingerprint := s.lastHash, s.lastFingerprint
	s.mu.Unlock()
	if hash == "" {
		return Status{}
	}
	if _, ok := s.opts.Applier.(Fingerprinter); !ok {
		// An applier that cannot notice an FRR restart cannot tell
		// either; its last apply is all it knows.
		return Status{RunningHash: hash}
	}
	if now := s.fingerprint(); now == "" || now != fingerprint {
		// FRR restarted since (or does not answer): it runs nothing of
		// ours until the config is re-applied.
		return Status{}
	}
	return Status{RunningHash: hash}
}

func (s *Server) fingerprint() string {
	fp, ok := s.opts.Applier.(Fingerprinter)
	if !ok {
		// Without a way to notice an FRR restart, skipping could leave a
		// restarted FRR without config; always apply.
		return ""
	}
	v, err := fp.Fingerprint()
	if err != nil {
		return ""
	}
	return v
}

func (s *Server) persist(config, hash string) error {
	if err := writeFileAtomic(filepath.Join(s.opts.StateDir, LastGoodFile), []byte(config)); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.opts.StateDir, LastGoodFile+".sha256"), []byte(hash+"  "+LastGoodFile+"\n"))
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// lock takes the reload lock (sem) unless ctx ends first; every apply
// and every check between reloads holds it, so that they never run on
// FRR at the same time. The caller defers the returned unlock.
func (s *Server) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LastApplied returns the last config FRR accepted (possibly from a previous
// run) and its hash.
func (s *Server) LastApplied() (config, hash string) {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	if s.lastGood == "" {
		return "", ""
	}
	return s.lastGood, configHash(s.lastGood)
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxConfigBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, Result{Error: fmt.Sprintf("config larger than %d bytes", tooLarge.Limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, Result{Error: "reading config: " + err.Error()})
		return
	}
	if len(body) == 0 {
		writeJSON(w, http.StatusBadRequest, Result{Error: "empty config: send the full FRR config as the request body"})
		return
	}
	res, err := s.Reload(r.Context(), string(body))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case res.Stage == StageValidate:
		writeJSON(w, http.StatusUnprocessableEntity, res)
	case res.Stage == StageUnavailable:
		writeJSON(w, http.StatusServiceUnavailable, res)
	case r.Context().Err() != nil:
		writeJSON(w, http.StatusServiceUnavailable, Result{Hash: res.Hash, Error: redact.Secrets(err.Error())})
	default:
		writeJSON(w, http.StatusInternalServerError, res)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.opts.Health.Check(ctx); err != nil {
		s.log.V(1).Info("health check failed", "reason", err.Error())
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func configHash(config string) string {
	sum := sha256.Sum256([]byte(config))
	return hex.EncodeToString(sum[:])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
