package reloader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/redact"
	"github.com/perouter/perouter/operator/retry"
)

// Incremental applies a config by sending FRR only the commands that turn
// the previously applied config into the new one (computed by frrdelta, run
// through one "vtysh -f"). When it does not know what FRR runs (first
// apply, daemon restart, an earlier failure) it reads the running config:
// an FRR that runs no configuration at all (just started, as after a pod
// restart) gets the whole config the same way, as one delta from nothing.
// Otherwise it falls back to a full frr-reload.py reload: FRR runs
// something unknown, frrdelta refuses the change (too large, or one it
// cannot make in place), or the incremental apply fails. It never
// leaves FRR half-changed: after a failed delta it reloads the new config
// fully, and when FRR refuses that too it restores the previous config.
type Incremental struct {
	Paths FRRPaths
	// WorkDir holds the delta script and the full reload's files.
	WorkDir string
	// Full applies what the delta cannot. Nil means a single-pass
	// FRRReload (SkipTest: --reload's own parse refuses a bad candidate
	// before changing anything).
	Full Applier
	// Delta tunes which changes count as small.
	Delta frrdelta.Options
	// Verify says how an applied delta is checked; the zero value is
	// VerifyRunningConfig.
	Verify VerifyMode
	Logger logr.Logger

	mu sync.Mutex
	// last is the config FRR runs as far as this applier knows; empty
	// when unknown.
	last            string
	lastFingerprint string

	execs                                                   atomic.Int64
	incremental, initial, full, fallbacks, drifts, restores atomic.Int64
	resets                                                  atomic.Int64
}

// VerifyMode says how Incremental checks that FRR took a delta.
type VerifyMode string

const (
	// VerifyRunningConfig: vtysh's exit status, and every stanza the delta
	// creates or removes is present or gone in "show running-config". It
	// costs a second vtysh run and FRR printing its whole config.
	VerifyRunningConfig VerifyMode = "running-config"
	// VerifyExitStatus: vtysh's exit status only (it is non-zero when any
	// command failed); the periodic drift check catches the rest.
	VerifyExitStatus VerifyMode = "exit-status"
)

// IncrementalStats counts what an Incremental did.
type IncrementalStats struct {
	// Execs counts FRR tool processes started: vtysh runs and frr-reload.py
	// runs (each of which starts several vtysh processes of its own).
	Execs int64
	// Incremental applies (including empty deltas, which start nothing),
	// whole configs loaded into an FRR that ran none, full reloads,
	// fallbacks from a failed delta to a full reload, and drift checks
	// that found FRR's running config off the model, and re-applies of the
	// last config after FRR restarted; session resets after a graceful
	// restart change.
	Incremental, Initial, Full, Fallbacks, Drifts, Restores, Resets int64
}

// Stats returns the counters since the applier was created.
func (a *Incremental) Stats() IncrementalStats {
	return IncrementalStats{
		Execs:       a.execs.Load(),
		Incremental: a.incremental.Load(),
		Initial:     a.initial.Load(),
		Full:        a.full.Load(),
		Fallbacks:   a.fallbacks.Load(),
		Drifts:      a.drifts.Load(),
		Restores:    a.restores.Load(),
		Resets:      a.resets.Load(),
	}
}

// Collectors expose Stats as Prometheus counters, for the reloader's
// registry.
func (a *Incremental) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "perouter", Subsystem: "reloader", Name: name, Help: help,
		}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("incremental_applies_total", "Configs applied as a delta through one vtysh session (including empty deltas, which start no FRR process).", &a.incremental),
		counter("initial_loads_total", "Whole configs loaded through one vtysh session into an FRR running no configuration (first apply, FRR restarted).", &a.initial),
		counter("full_reloads_total", "Configs applied with a full frr-reload.py run (FRR runs an unknown config, refused or failed delta, drift repair).", &a.full),
		counter("incremental_fallbacks_total", "Deltas that failed and were followed by a full reload.", &a.fallbacks),
		counter("drifts_total", "Drift checks that found FRR's running config different from the last applied config.", &a.drifts),
		counter("restores_total", "Re-applies of the last config after FRR restarted (its vty sockets changed).", &a.restores),
		counter("bgp_session_resets_total", "Resets of every BGP session of the default instance after a graceful restart change (FRR announces the capability only in new sessions).", &a.resets),
		counter("frr_processes_total", "FRR tool processes started (vtysh and frr-reload.py runs).", &a.execs),
	}
}

// log is a.Logger with FRR's secrets redacted: the drift check logs
// config lines, and vtysh echoes the commands it refuses.
func (a *Incremental) log() logr.Logger { return redact.Logger(a.Logger) }

func (a *Incremental) fullApplier() Applier {
	if a.Full == nil {
		a.Full = &FRRReload{Paths: a.Paths, WorkDir: filepath.Join(a.WorkDir, "full"), SkipTest: true}
	}
	return a.Full
}

// Fingerprint implements Fingerprinter.
func (a *Incremental) Fingerprint() (string, error) {
	return socketFingerprint(a.Paths.withDefaults().socketDir())
}

// Apply implements Applier.
func (a *Incremental) Apply(ctx context.Context, config string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := a.last
	err := a.apply(ctx, config, &before)
	if err == nil && runsBGP(before) && gracefulRestartLines(before) != gracefulRestartLines(config) {
		// FRR takes a graceful restart change only into sessions that
		// start after it ("reset all peers to take effect"): the
		// capability is exchanged in OPEN. An FRR that ran no BGP (just
		// started, as in a graceful restart) has no session to reset,
		// and a reset then would end the restart the fabric is waiting
		// for.
		a.resetSessions(ctx)
	}
	return err
}

// apply makes FRR run config; before is what it ran, when that was read
// or known ("" when not).
func (a *Incremental) apply(ctx context.Context, config string, before *string) error {
	fingerprint, err := a.Fingerprint()
	if a.last == "" || err != nil || fingerprint != a.lastFingerprint {
		return a.applyUnknown(ctx, config, before)
	}
	d, err := frrdelta.Compute(a.last, config, a.Delta)
	if err != nil {
		return a.reloadFully(ctx, config, err.Error())
	}
	a.incremental.Add(1)
	if d.Empty() {
		a.last = config
		return nil
	}
	previous := a.last
	if err := a.applyDelta(ctx, d); err != nil {
		a.fallbacks.Add(1)
		a.last = ""
		a.log().Error(err, "incremental apply failed, reloading the whole config", "changedLines", d.Changed)
		return a.recover(ctx, config, previous)
	}
	a.last = config
	a.log().V(1).Info("applied incrementally", "commands", len(d.Commands), "changedLines", d.Changed)
	return nil
}

const unknownRunning = "FRR's running config is not known (first apply, daemon restart or an earlier failure)"

// applyUnknown applies config when what FRR runs is not known. Python and
// frr-reload.py's several vtysh runs cost seconds (minutes in an emulated
// VM); an FRR that runs nothing needs none of that: the config goes in as
// one delta from an empty config, checked like any other delta.
func (a *Incremental) applyUnknown(ctx context.Context, config string, before *string) error {
	running, err := a.vtysh(ctx, "-c", "show running-config")
	if err == nil {
		*before = running
	}
	if err != nil || !runsNothing(running) {
		return a.reloadFully(ctx, config, unknownRunning)
	}
	return a.loadIntoEmpty(ctx, config, running)
}

// LoadIfEmpty implements EmptyLoader: when FRR runs no configuration at
// all, config goes in as applyUnknown puts it into an empty FRR. An FRR
// that runs something is left alone.
func (a *Incremental) LoadIfEmpty(ctx context.Context, config string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	running, err := a.vtysh(ctx, "-c", "show running-config")
	if err != nil {
		return false, &ApplyError{Stage: StageUnavailable, Output: running, Err: err}
	}
	if !runsNothing(running) {
		return false, nil
	}
	a.restores.Add(1)
	return true, a.loadIntoEmpty(ctx, config, running)
}

// loadIntoEmpty applies config to an FRR whose running config, running,
// holds nothing (runsNothing).
func (a *Incremental) loadIntoEmpty(ctx context.Context, config, running string) error {
	// The defaults profile is fixed when FRR starts: a config asking for
	// another one needs the full reload (which reports the mismatch).
	base := "!\n"
	if want := defaultsProfile(config); want != "" {
		if want != defaultsProfile(running) {
			return a.reloadFully(ctx, config, "the config's frr defaults profile differs from the running one")
		}
		base = "frr defaults " + want + "\n"
	}
	d, err := frrdelta.Compute(base, config, frrdelta.Options{MaxChangedLines: math.MaxInt})
	if err != nil {
		return a.reloadFully(ctx, config, fmt.Sprintf("%s: %v", unknownRunning, err))
	}
	a.initial.Add(1)
	if err := a.applyDelta(ctx, d); err != nil {
		a.fallbacks.Add(1)
		a.last = ""
		a.log().Error(err, "loading the config into an empty FRR failed, reloading the whole config", "changedLines", d.Changed)
		return a.recover(ctx, config, base)
	}
	a.last = config
	a.lastFingerprint, _ = a.Fingerprint()
	a.log().V(1).Info("loaded the whole config into an FRR that ran none", "commands", len(d.Commands))
	return nil
}

// runsNothing reports that "show running-config" output holds nothing but
// the lines every FRR prints: banner, defaults profile, hostname, logging,
// services and forwarding switches.
func runsNothing(running string) bool {
	for _, raw := range strings.Split(running, "\n") {
		l := strings.TrimSpace(raw)
		switch {
		case l == "", l == "!", l == "end", strings.HasPrefix(l, "!"),
			l == "Building configuration...", l == "Current configuration:",
			strings.HasPrefix(l, "frr version "), strings.HasPrefix(l, "frr defaults "),
			strings.HasPrefix(l, "hostname "), strings.HasPrefix(l, "log "),
			strings.HasPrefix(l, "service "),
			l == "ip forwarding", l == "no ip forwarding",
			l == "ipv6 forwarding", l == "no ipv6 forwarding":
		default:
			return false
		}
	}
	return true
}

func defaultsProfile(running string) string {
	for _, raw := range strings.Split(running, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(raw), "frr defaults "); ok {
			return strings.TrimSpace(p)
		}
	}
	return ""
}

// reloadFully applies config with the full applier and records what FRR
// runs afterwards.
func (a *Incremental) reloadFully(ctx context.Context, config, reason string) error {
	a.full.Add(1)
	a.execs.Add(1)
	a.log().V(1).Info("full reload", "reason", reason)
	err := a.fullApplier().Apply(ctx, config)
	var ae *ApplyError
	switch {
	case err == nil:
		a.last = config
		a.lastFingerprint, _ = a.Fingerprint()
	case errors.As(err, &ae) && (ae.Stage == StageValidate || ae.Stage == StageUnavailable):
		// Nothing changed; what FRR runs is as known as before.
	default:
		a.last = ""
	}
	return err
}

// recover runs after a delta failed part-way: FRR runs neither the old
// nor the new config. A full reload of the new config computes its diff
// against what FRR really runs; when FRR's parser refuses the new config,
// the previous one is restored so that the refusal changes nothing.
func (a *Incremental) recover(ctx context.Context, config, previous string) error {
	err := a.reloadFully(ctx, config, "incremental apply failed")
	var ae *ApplyError
	if err == nil || !errors.As(err, &ae) || ae.Stage != StageValidate {
		return err
	}
	if rerr := a.reloadFully(ctx, previous, "restoring the previous config after FRR refused the new one"); rerr != nil {
		return &ApplyError{Stage: StageApply, FRRErrors: ae.FRRErrors, Output: ae.Output,
			Err: fmt.Errorf("refused config was partly applied and restoring the previous one failed: %w", rerr)}
	}
	return err
}

// applyDelta runs the commands in one vtysh session and checks that FRR
// took them: vtysh exits non-zero when any command failed, and (with
// VerifyRunningConfig) every stanza the delta creates or removes must show
// up, or be gone, in the running config.
func (a *Incremental) applyDelta(ctx context.Context, d *frrdelta.Delta) error {
	if err := os.MkdirAll(a.WorkDir, 0o700); err != nil {
		return fmt.Errorf("reloader: work dir: %w", err)
	}
	script := filepath.Join(a.WorkDir, "delta.conf")
	// The deferred removals go at the end of the same session: bgpd has
	// usually let go of the L3VNI by then. When it has not, vtysh reports
	// it, and each removal is run again until bgpd accepts it.
	text := d.Script()
	if len(d.Then) > 0 {
		text += strings.Join(d.Then, "\n") + "\n"
	}
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		return fmt.Errorf("reloader: delta script: %w", err)
	}
	if out, err := a.vtysh(ctx, "-f", script); err != nil {
		if len(d.Then) == 0 || !strings.Contains(out, l3vniHeld) {
			return newApplyError(StageApply, out, err)
		}
		for _, c := range d.Then {
			if out, err := a.removeWhenReleased(ctx, c); err != nil {
				return newApplyError(StageApply, out, err)
			}
		}
	}
	if a.Verify == VerifyExitStatus || len(d.Created) == 0 && len(d.Removed) == 0 {
		return nil
	}
	out, err := a.vtysh(ctx, "-c", "show running-config")
	if err != nil {
		return &ApplyError{Stage: StageApply, Output: redact.Secrets(out), Err: fmt.Errorf("reading the running config to verify the delta: %w", err)}
	}
	running, err := frrdelta.Parse(out)
	if err != nil {
		return &ApplyError{Stage: StageApply, Err: fmt.Errorf("verifying the delta: running config: %w", err)}
	}
	var problems []string
	for _, h := range d.Created {
		if running.Context(h) == nil {
			problems = append(problems, fmt.Sprintf("%q missing", h))
		}
	}
	for _, h := range d.Removed {
		if running.Context(h) != nil {
			problems = append(problems, fmt.Sprintf("%q still present", h))
		}
	}
	if len(problems) > 0 {
		return &ApplyError{Stage: StageApply, Err: fmt.Errorf("delta not reflected in the running config: %s", strings.Join(problems, ", "))}
	}
	return nil
}

// removeWhenReleased runs one of a delta's deferred removals (see
// frrdelta.Delta.Then), again while bgpd still holds the VRF's L3VNI: it
// lets go once zebra's notice of the "no vni" reaches it, normally within
// milliseconds, longer in an emulated VM.
func (a *Incremental) removeWhenReleased(ctx context.Context, command string) (string, error) {
	var out string
	var err error
	pollErr := retry.Poll(ctx, releaseTimeout, retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}, func() (bool, error) {
		out, err = a.vtysh(ctx, "-c", "configure terminal", "-c", command)
		if err != nil && alreadyGone(out) {
			// The first session's attempt went through after all (vtysh
			// runs every line of a file, failed or not).
			err = nil
			return true, nil
		}
		return err == nil || !strings.Contains(out, l3vniHeld), nil
	})
	if pollErr != nil && !errors.Is(pollErr, retry.ErrTimeout) {
		return out, pollErr
	}
	return out, err
}

// releaseTimeout bounds removeWhenReleased.
const releaseTimeout = 30 * time.Second

// l3vniHeld is bgpd's refusal to remove a VRF's instance whose L3VNI it
// still holds.
const l3vniHeld = "Please unconfigure l3vni"

// alreadyGone recognises vtysh's answer to removing a BGP instance that no
// longer exists (FRR 8.4; "no vrf" of a missing VRF succeeds).
func alreadyGone(out string) bool {
	return strings.Contains(out, "Can't find BGP instance") || strings.Contains(out, "does not exist")
}

func (a *Incremental) vtysh(ctx context.Context, args ...string) (string, error) {
	paths := a.Paths.withDefaults()
	a.execs.Add(1)
	return paths.cli().Run(ctx, args...)
}

// CheckDrift compares FRR's running config with the last applied config
// (frr-reload.py --test computes the difference with FRR's own knowledge
// of defaults) and, when they differ, reloads the last applied config
// fully. It reports whether FRR had drifted. Without a known applied
// config there is nothing to compare: the next Apply reloads fully anyway.
func (a *Incremental) CheckDrift(ctx context.Context) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == "" {
		return false, nil
	}
	if fp, err := a.Fingerprint(); err != nil || fp != a.lastFingerprint {
		a.drifts.Add(1)
		return true, a.reloadFully(ctx, a.last, "FRR restarted since the last apply")
	}
	full, ok := a.fullApplier().(*FRRReload)
	if !ok {
		return false, errors.New("reloader: drift check needs the full applier to be an FRRReload")
	}
	a.execs.Add(1)
	out, err := full.Run(ctx, "--test", a.last)
	if err != nil {
		return false, newApplyError(reloadStage(out, StageUnavailable), out, err)
	}
	diff := driftLines(out)
	if len(diff) == 0 {
		return false, nil
	}
	a.drifts.Add(1)
	a.log().Info("FRR's running config drifted from the last applied config, reloading it", "difference", strings.Join(diff, "\n"))
	return true, a.reloadFully(ctx, a.last, "drift")
}

// driftLines picks the commands out of frr-reload.py --test's "Lines To
// Delete" and "Lines To Add" sections. The hostname is left out: vtysh
// does not pass it to the daemons, so it differs after every reload.
func driftLines(out string) []string {
	var lines []string
	inSection := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		t := strings.TrimSpace(l)
		switch {
		case t == "Lines To Delete" || t == "Lines To Add":
			inSection = true
		case !inSection || t == "" || strings.HasPrefix(t, "====="):
		case logLine.MatchString(t):
		case strings.HasPrefix(t, "hostname ") || strings.HasPrefix(t, "no hostname "):
		default:
			lines = append(lines, l)
		}
	}
	return lines
}

// RestoreAfterRestart re-applies the last applied config when FRR
// restarted since (its vty sockets changed): a restarted FRR runs nothing,
// and waiting for the controller would leave the node without routes
// until it notices. It reports whether it re-applied. FRR still starting
// (sockets missing) is not an error: the next call tries again. It knows
// only what this applier applied; after the reloader itself restarted,
// Server.RestoreAfterRestart restores from the state dir (LoadIfEmpty).
func (a *Incremental) RestoreAfterRestart(ctx context.Context) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == "" {
		return false, nil
	}
	fp, err := a.Fingerprint()
	if err != nil || fp == a.lastFingerprint {
		return false, nil
	}
	a.restores.Add(1)
	// A restarted FRR takes the config with its sessions: nothing to reset.
	var running string
	return true, a.applyUnknown(ctx, a.last, &running)
}

// Restorer is implemented by appliers that can re-apply their last config
// after FRR restarted.
type Restorer interface {
	RestoreAfterRestart(ctx context.Context) (bool, error)
}

// EmptyLoader is implemented by appliers that can tell an FRR running no
// configuration at all (just started) and load a whole config into it.
type EmptyLoader interface {
	// LoadIfEmpty applies config when FRR runs no configuration and
	// reports whether it tried; an FRR that runs something is left alone.
	LoadIfEmpty(ctx context.Context, config string) (bool, error)
}

// RestoreAfterRestart gives FRR its config back after a restart, without
// waiting for the controller, once FRR answers. It reports whether it
// applied anything. cmd/reloader calls it when it starts and then every
// --restore-interval; each call does one of two things:
//
//   - Until this server applied anything, the last good config read from
//     the state dir goes into FRR when FRR runs no configuration: the
//     router pod restarted, FRR started empty and the reloader lost its
//     memory; only the state dir (a hostPath) survived. An FRR that runs
//     something (only the reloader restarted) is left alone: the
//     controller's next push decides (Status reports nothing known, so it
//     pushes).
//   - Afterwards, the applier's Restorer re-applies what it applied last
//     when the daemons restarted since (Incremental.RestoreAfterRestart).
//
// It never overrides the controller: it takes the reload lock, and a
// reload that succeeded first (a newer config) cancels the restore from
// the state dir for good. A reload FRR refused leaves it pending, so the
// last good config still goes in and keeps running.
func (s *Server) RestoreAfterRestart(ctx context.Context) (bool, error) {
	if err := s.opts.Health.Check(ctx); err != nil {
		return false, nil
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	restoreCtx, cancel := context.WithTimeout(ctx, s.opts.ApplyTimeout)
	defer cancel()
	if s.restorePending {
		return s.restoreLastGood(restoreCtx)
	}
	r, ok := s.opts.Applier.(Restorer)
	if !ok {
		return false, nil
	}
	restored, err := r.RestoreAfterRestart(restoreCtx)
	if err != nil {
		s.log.Error(err, "re-applying the last config after FRR restarted")
	} else if restored {
		s.reappliedLast()
		s.log.Info("FRR restarted; re-applied the last config")
	}
	return restored, err
}

// restoreLastGood loads the last good config from the state dir into an
// FRR that runs none. Called holding sem.
func (s *Server) restoreLastGood(ctx context.Context) (bool, error) {
	loader, ok := s.opts.Applier.(EmptyLoader)
	if !ok {
		s.restorePending = false
		return false, nil
	}
	hash := configHash(s.lastGood)
	log := s.log.WithValues("hash", hash, "stateDir", s.opts.StateDir)
	loaded, err := loader.LoadIfEmpty(ctx, s.lastGood)
	var ae *ApplyError
	switch {
	case err != nil && !loaded && errors.As(err, &ae) && ae.Stage == StageUnavailable:
		// FRR stopped answering after the health check: nothing
		// changed, the next call tries again.
		return false, err
	case err != nil:
		// FRR may run part of it; what it runs is unknown (Status says
		// so), and the controller's push applies its config fully.
		s.restorePending = false
		s.metrics.failures.WithLabelValues("restore").Inc()
		log.Error(err, "loading the last good config from the state dir into FRR failed; waiting for the controller's push")
		return loaded, err
	case !loaded:
		s.restorePending = false
		log.Info("FRR already runs a configuration (only the reloader restarted); the last good config from the state dir is not loaded over it")
		return false, nil
	}
	s.remember(s.lastGood, hash)
	s.metrics.stateRestores.Inc()
	log.Info("FRR ran no configuration; loaded the last good config from the state dir")
	return true, nil
}

// DriftChecker is implemented by appliers that can compare FRR's running
// config with what they applied and repair a difference.
type DriftChecker interface {
	CheckDrift(ctx context.Context) (bool, error)
}

// CheckDrift runs the applier's drift check, if it has one, between
// reloads. It reports whether FRR had drifted (and was reloaded).
func (s *Server) CheckDrift(ctx context.Context) (bool, error) {
	dc, ok := s.opts.Applier.(DriftChecker)
	if !ok {
		return false, nil
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	checkCtx, cancel := context.WithTimeout(ctx, s.opts.ApplyTimeout)
	defer cancel()
	drifted, err := dc.CheckDrift(checkCtx)
	if err != nil {
		s.log.Error(err, "drift check")
	} else if drifted {
		s.reappliedLast()
		s.log.Info("FRR had drifted from the last applied config and was reloaded")
	}
	return drifted, err
}

// runsBGP: a config (FRR's running one, or what was applied) has a BGP
// instance, so sessions may be up.
func runsBGP(config string) bool {
	for _, raw := range strings.Split(config, "\n") {
		if strings.HasPrefix(raw, "router bgp ") {
			return true
		}
	}
	return false
}

// gracefulRestartLines are a config's BGP graceful restart commands, in
// order: the lines FRR needs a session reset to act on.
func gracefulRestartLines(config string) string {
	var b strings.Builder
	for _, raw := range strings.Split(config, "\n") {
		if l := strings.TrimSpace(raw); strings.HasPrefix(l, "bgp graceful-restart") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// resetSessions hard-resets every BGP session of the default instance
// (the underlay's, where graceful restart is configured), so that they
// come back with the capabilities FRR now announces. A failure is logged:
// the config is applied, and the next flap of each session takes it.
func (a *Incremental) resetSessions(ctx context.Context) {
	a.resets.Add(1)
	if out, err := a.vtysh(ctx, "-c", "clear bgp *"); err != nil {
		a.log().Error(err, "resetting the BGP sessions after a graceful restart change", "output", out)
		return
	}
	a.log().Info("reset every BGP session of the default instance: graceful restart changed")
}
