// Command reloader is the FRR config sidecar: it serves reloads on a unix
// socket (see package operator/reloader) and applies them with frr-reload.py.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/perouter/perouter/operator/redact"
	"github.com/perouter/perouter/operator/reloader"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "reloader:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("reloader", flag.ContinueOnError)
	socket := fs.String("socket", reloader.DefaultSocket, "unix socket to serve reloads on (created with mode 0600)")
	stateDir := fs.String("state-dir", "/var/lib/perouter/reloader", "directory keeping the last good FRR config ("+reloader.LastGoodFile+")")
	workDir := fs.String("work-dir", "", "directory for candidate configs and frr-reload.py temp files (default <state-dir>/work)")
	reloadScript := fs.String("frr-reload", reloader.DefaultReloadScript, "path of frr-reload.py")
	vtyshBinDir := fs.String("vtysh-bindir", reloader.DefaultVtyshBinDir, "directory containing vtysh")
	vtySocketDir := fs.String("vty-socket-dir", "", "FRR daemons' --vty_socket directory (default FRR's /var/run/frr)")
	pathspace := fs.String("pathspace", "", "FRR -N pathspace, for instances started by frrinit.sh")
	daemons := fs.String("daemons", strings.Join(reloader.DefaultDaemons(), ","), "comma-separated daemons that must answer for /healthz")
	metricsAddr := fs.String("metrics-addr", "", "optional TCP address for /metrics (e.g. 127.0.0.1:9120); metrics are always on the socket at GET /metrics")
	applyTimeout := fs.Duration("apply-timeout", 2*time.Minute, "upper bound for one apply")
	applyMode := fs.String("apply-mode", "incremental", "incremental: send FRR only the changed commands through vtysh, full frr-reload.py for large or failed changes; full: frr-reload.py --test and --reload on every change")
	verify := fs.String("verify", string(reloader.VerifyRunningConfig), "with --apply-mode=incremental, how an applied change is checked: running-config (vtysh exit status and the created/removed stanzas in show running-config) or exit-status (vtysh exit status only; cheaper, the drift check catches the rest)")
	driftInterval := fs.Duration("drift-interval", 5*time.Minute, "with --apply-mode=incremental, how often to compare FRR's running config with the last applied one and reload it on a difference (0 disables)")
	restoreInterval := fs.Duration("restore-interval", 2*time.Second, "how often to give FRR its config back without waiting for the controller, from the reloader's start on: until a config is applied, an FRR running no configuration (router pod restarted) gets the last good config from --state-dir; with --apply-mode=incremental, an FRR restarted since the last apply (changed vty sockets) gets the last config again (0 disables)")
	evpnInterval := fs.Duration("evpn-check-interval", 30*time.Second, "how often to check that zebra has the neighbour and router MAC of every remote VTEP the L3VNI VRFs' routes use, and re-announce a VRF's routes when it lost some (FRR 8.4 loses them when routes are withdrawn and re-added at once, as on an import route-target change; reloads that change import route targets wait for this themselves); 0 disables the periodic check")
	verbosity := fs.Int("v", 0, "log verbosity (1 logs frr-reload.py output and skipped reloads)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workDir == "" {
		*workDir = filepath.Join(*stateDir, "work")
	}

	// FRR's error text echoes refused lines, passwords included: every log
	// line passes the redaction.
	log := redact.Logger(funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) },
		funcr.Options{LogTimestamp: true, Verbosity: *verbosity}))

	paths := reloader.FRRPaths{
		ReloadScript: *reloadScript,
		VtyshBinDir:  *vtyshBinDir,
		VtySocketDir: *vtySocketDir,
		Pathspace:    *pathspace,
	}
	var applier reloader.Applier
	switch *applyMode {
	case "incremental":
		mode := reloader.VerifyMode(*verify)
		if mode != reloader.VerifyRunningConfig && mode != reloader.VerifyExitStatus {
			return fmt.Errorf("--verify=%q: want %s or %s", *verify, reloader.VerifyRunningConfig, reloader.VerifyExitStatus)
		}
		applier = &reloader.Incremental{Paths: paths, WorkDir: *workDir, Verify: mode, Logger: log}
	case "full":
		applier = &reloader.FRRReload{Paths: paths, WorkDir: *workDir}
	default:
		return fmt.Errorf("--apply-mode=%q: want incremental or full", *applyMode)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if inc, ok := applier.(*reloader.Incremental); ok {
		registry.MustRegister(inc.Collectors()...)
	}
	srv, err := reloader.NewServer(reloader.Options{
		SocketPath:   *socket,
		StateDir:     *stateDir,
		Applier:      applier,
		Health:       &reloader.DaemonCheck{Paths: paths, Daemons: strings.Split(*daemons, ",")},
		Logger:       log,
		Registry:     registry,
		ApplyTimeout: *applyTimeout,
		EVPN:         &reloader.EVPNNexthops{Paths: paths, WorkDir: *workDir, Logger: log},
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *metricsAddr != "" {
		go serveMetrics(ctx, log, *metricsAddr, srv.Gatherer())
	}
	if *applyMode == "incremental" && *driftInterval > 0 {
		go every(ctx, *driftInterval, func() { _, _ = srv.CheckDrift(ctx) })
	}
	if *evpnInterval > 0 {
		go every(ctx, *evpnInterval, func() { _, _ = srv.CheckEVPN(ctx) })
	}
	if *restoreInterval > 0 {
		// At once, while serving: a restarted router pod's FRR runs
		// nothing until then. A push that arrives meanwhile waits for the
		// reload lock or, if first, cancels the restore (newer config wins).
		go func() {
			_, _ = srv.RestoreAfterRestart(ctx)
			every(ctx, *restoreInterval, func() { _, _ = srv.RestoreAfterRestart(ctx) })
		}()
	}
	return srv.Serve(ctx)
}

func serveMetrics(ctx context.Context, log logr.Logger, addr string, g prometheus.Gatherer) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("serving metrics", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(err, "metrics listener stopped", "addr", addr)
	}
}

// every runs f at each tick until ctx ends; the server logs outcomes.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
