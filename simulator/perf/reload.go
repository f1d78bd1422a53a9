package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/reloader"
)

// ReloadOptions configure the reload-path measurement.
type ReloadOptions struct {
	// VNIs is the size of the config the changes are made to.
	VNIs int
	// Rounds of (+1 VNI, -1 VNI) pairs.
	Rounds int
	// FullRounds of the same pair through the full frr-reload.py path
	// (--test and --reload, as the reference design does); 0 skips it.
	FullRounds int
	Logger     logr.Logger
	// Progress receives one line per step.
	Progress func(format string, args ...any)
}

// Sample is one timed reload.
type Sample struct {
	Wall time.Duration
	// DaemonCPU is the CPU time FRR's daemons spent meanwhile; ToolCPU
	// that of the reloader and the FRR tools it started (vtysh,
	// frr-reload.py).
	DaemonCPU, ToolCPU time.Duration
	// Execs counts FRR tool processes the applier started.
	Execs int64
}

// ReloadResults are the reload-path measurements.
type ReloadResults struct {
	VNIs int
	// InitialLoad is FRR loading the whole config with one vtysh -f.
	InitialLoad time.Duration
	// FirstFull is the reloader's first reload of the config FRR already
	// runs: a full frr-reload.py run whose diff is empty.
	FirstFull         Sample
	AddVNI, RemoveVNI []Sample
	// ...ExitStatus are the same changes with reloader.VerifyExitStatus.
	AddVNIExitStatus, RemoveVNIExitStatus []Sample
	Unchanged, CommentOnly                []Sample
	FullAddVNI, FullRemove                []Sample
	LoadAverage                           string
	IncrementalStats                      reloader.IncrementalStats
	FallbacksDuringMeasuring              int64
}

// MeasureReload starts real FRR in a fresh network namespace, serves the
// reloader (incremental applier) on a unix socket, loads the lab config
// with o.VNIs L3VNIs and times reloads through reloader.Client, the path
// the controller uses: +1 VNI, -1 VNI, an unchanged config and a
// comment-only change. Each timed reload ends when the reloader has
// applied the change and confirmed it in FRR's running config; the first
// +1 and -1 are also checked here against the running config.
func MeasureReload(ctx context.Context, o ReloadOptions) (res ReloadResults, err error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	res.VNIs = o.VNIs
	base, err := LabConfig(o.VNIs)
	if err != nil {
		return res, err
	}
	plus, err := LabConfig(o.VNIs + 1)
	if err != nil {
		return res, err
	}
	addedVRF := fmt.Sprintf("router bgp 64514 vrf vrf%d", o.VNIs)

	netns := fmt.Sprintf("perf-%d", os.Getpid())
	if err := nsexec.Add(ctx, netns); err != nil {
		return res, err
	}
	defer func() {
		if e := nsexec.Delete(context.Background(), netns); e != nil {
			err = errors.Join(err, e)
		}
	}()
	parent, err := os.MkdirTemp("", "perf-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil {
		return res, err
	}

	progress("starting FRR in netns %s and loading %d L3VNIs with vtysh -f (FRR's own cost, once)", netns, o.VNIs)
	start := time.Now()
	inst, err := frrproc.Start(ctx, frrproc.Options{Netns: netns, Dir: filepath.Join(parent, "frr"), InitialConfig: base})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, inst.Stop()) }()
	res.InitialLoad = time.Since(start)
	progress("initial load: %v", res.InitialLoad.Round(time.Millisecond))

	paths := reloader.FRRPaths{VtySocketDir: inst.VtySocketDir()}
	applier := &reloader.Incremental{Paths: paths, WorkDir: filepath.Join(parent, "work"), Logger: o.Logger}
	client, stop, err := serve(ctx, parent, "incremental", applier, paths, inst, o.Logger)
	if err != nil {
		return res, err
	}
	defer stop()

	meter := cpuMeter{inst: inst}
	timed := func(config string) (Sample, error) {
		execs := applier.Stats().Execs
		meter.start()
		began := time.Now()
		_, err := client.Reload(ctx, config)
		s := Sample{Wall: time.Since(began), Execs: applier.Stats().Execs - execs}
		s.DaemonCPU, s.ToolCPU = meter.stop()
		return s, err
	}

	progress("first reload through the reloader: full frr-reload.py of the config FRR already runs")
	if res.FirstFull, err = timed(base); err != nil {
		return res, fmt.Errorf("first reload: %w", err)
	}
	for r := range o.Rounds {
		add, err := timed(plus)
		if err != nil {
			return res, fmt.Errorf("+1 VNI: %w", err)
		}
		if r == 0 {
			if err := checkRunning(inst, addedVRF, true); err != nil {
				return res, err
			}
		}
		remove, err := timed(base)
		if err != nil {
			return res, fmt.Errorf("-1 VNI: %w", err)
		}
		if r == 0 {
			if err := checkRunning(inst, addedVRF, false); err != nil {
				return res, err
			}
		}
		res.AddVNI = append(res.AddVNI, add)
		res.RemoveVNI = append(res.RemoveVNI, remove)
		progress("round %d: +1 VNI %v (%d execs), -1 VNI %v (%d execs)", r+1, add.Wall.Round(time.Millisecond), add.Execs, remove.Wall.Round(time.Millisecond), remove.Execs)

		same, err := timed(base)
		if err != nil {
			return res, fmt.Errorf("unchanged config: %w", err)
		}
		comment, err := timed(fmt.Sprintf("! resync %d\n%s", r, base))
		if err != nil {
			return res, fmt.Errorf("comment-only change: %w", err)
		}
		res.Unchanged = append(res.Unchanged, same)
		res.CommentOnly = append(res.CommentOnly, comment)
	}
	res.IncrementalStats = applier.Stats()
	stop()

	progress("the same changes verified by vtysh's exit status only")
	lean := &reloader.Incremental{Paths: paths, WorkDir: filepath.Join(parent, "work-lean"), Verify: reloader.VerifyExitStatus, Logger: o.Logger}
	leanClient, stopLean, err := serve(ctx, parent, "lean", lean, paths, inst, o.Logger)
	if err != nil {
		return res, err
	}
	defer stopLean()
	if _, err := leanClient.Reload(ctx, base); err != nil { // full: a new applier knows nothing
		return res, err
	}
	timedLean := func(config string) (Sample, error) {
		execs := lean.Stats().Execs
		meter.start()
		began := time.Now()
		_, err := leanClient.Reload(ctx, config)
		s := Sample{Wall: time.Since(began), Execs: lean.Stats().Execs - execs}
		s.DaemonCPU, s.ToolCPU = meter.stop()
		return s, err
	}
	for r := range o.Rounds {
		add, err := timedLean(plus)
		if err != nil {
			return res, fmt.Errorf("+1 VNI (exit-status): %w", err)
		}
		if r == 0 {
			if err := checkRunning(inst, addedVRF, true); err != nil {
				return res, err
			}
		}
		remove, err := timedLean(base)
		if err != nil {
			return res, fmt.Errorf("-1 VNI (exit-status): %w", err)
		}
		res.AddVNIExitStatus = append(res.AddVNIExitStatus, add)
		res.RemoveVNIExitStatus = append(res.RemoveVNIExitStatus, remove)
	}
	res.FallbacksDuringMeasuring = res.IncrementalStats.Fallbacks + lean.Stats().Fallbacks
	stopLean()

	if o.FullRounds > 0 {
		progress("the reference design's path for comparison: frr-reload.py --test then --reload")
		full := &reloader.FRRReload{Paths: paths, WorkDir: filepath.Join(parent, "full")}
		fullClient, stopFull, err := serve(ctx, parent, "full", full, paths, inst, o.Logger)
		if err != nil {
			return res, err
		}
		defer stopFull()
		timedFull := func(config string) (Sample, error) {
			meter.start()
			began := time.Now()
			_, err := fullClient.Reload(ctx, config)
			s := Sample{Wall: time.Since(began), Execs: 2}
			s.DaemonCPU, s.ToolCPU = meter.stop()
			return s, err
		}
		// The first reload of a fresh server is not skipped by hash.
		if _, err := timedFull(base); err != nil {
			return res, err
		}
		for r := range o.FullRounds {
			add, err := timedFull(plus)
			if err != nil {
				return res, fmt.Errorf("full +1 VNI: %w", err)
			}
			remove, err := timedFull(base)
			if err != nil {
				return res, fmt.Errorf("full -1 VNI: %w", err)
			}
			res.FullAddVNI = append(res.FullAddVNI, add)
			res.FullRemove = append(res.FullRemove, remove)
			progress("full round %d: +1 VNI %v, -1 VNI %v", r+1, add.Wall.Round(time.Millisecond), remove.Wall.Round(time.Millisecond))
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return res, nil
}

func serve(ctx context.Context, dir, name string, applier reloader.Applier, paths reloader.FRRPaths, inst *frrproc.Instance, log logr.Logger) (*reloader.Client, func(), error) {
	socket := filepath.Join(dir, name+".sock")
	srv, err := reloader.NewServer(reloader.Options{
		SocketPath:   socket,
		StateDir:     filepath.Join(dir, name+"-state"),
		Applier:      applier,
		Health:       &reloader.DaemonCheck{Paths: paths, Daemons: inst.Daemons()},
		Logger:       log,
		ApplyTimeout: 30 * time.Minute,
	})
	if err != nil {
		return nil, nil, err
	}
	l, err := srv.Listen()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeListener(ctx, l)
	}()
	stopped := false
	return reloader.NewClient(socket), func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}, nil
}

func checkRunning(inst *frrproc.Instance, header string, want bool) error {
	out, err := inst.RunningConfig()
	if err != nil {
		return err
	}
	cfg, err := frrdelta.Parse(out)
	if err != nil {
		return err
	}
	if got := cfg.Context(header) != nil; got != want {
		return fmt.Errorf("after the reload, running config has %q = %v, want %v", header, got, want)
	}
	return nil
}

// cpuMeter measures the CPU time of FRR's daemons, and of this process
// with its waited-for children (vtysh, frr-reload.py).
type cpuMeter struct {
	inst              *frrproc.Instance
	daemons, reloader time.Duration
}

func (m *cpuMeter) start() { m.daemons, m.reloader = m.total() }

func (m *cpuMeter) stop() (daemons, reloader time.Duration) {
	d, r := m.total()
	return d - m.daemons, r - m.reloader
}

func (m *cpuMeter) total() (daemons, reloader time.Duration) {
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			reloader += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	for _, d := range m.inst.Daemons() {
		daemons += procCPU(m.inst.PID(d))
	}
	return daemons, reloader
}

// procCPU reads utime+stime of a process from /proc.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	// Fields after the command name, which is in parentheses and may hold blanks.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}
