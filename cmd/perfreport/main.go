// Command perfreport measures the targets of docs/performance.md on this machine and prints
// one table (metric, N, median, p90, target, result). It exits 1 when a
// target is missed by more than --margin. It needs root and FRR for the
// reload path (see hack/perf.sh and docs/performance.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/simulator/perf"
	"github.com/perouter/perouter/simulator/vm"
)

func main() {
	// The VM lane's forward to the API server runs this binary as its relay.
	vm.ServeRelayIfAsked()
	// envtest's CRD install logs through controller-runtime; the progress
	// lines say what happens.
	ctrllog.SetLogger(logr.Discard())
	if len(os.Args) > 1 && os.Args[1] == controllerRSSInVM {
		if err := runControllerRSSInVM(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "perfreport:", err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == controllerRSSInner {
		if err := runControllerRSSInner(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "perfreport:", err)
			os.Exit(2)
		}
		return
	}
	failed, err := run(os.Args[1:])
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "perfreport:", err)
		os.Exit(2)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "perfreport: %d target(s) missed by more than the noise margin\n", failed)
		os.Exit(1)
	}
}

func run(args []string) (int, error) {
	fs := flag.NewFlagSet("perfreport", flag.ContinueOnError)
	vnis := fs.Int("vnis", 500, "L3VNIs in the config the reload path changes")
	rounds := fs.Int("rounds", 10, "+1/-1 VNI pairs through the incremental reloader")
	fullRounds := fs.Int("full-rounds", 3, "+1/-1 VNI pairs through frr-reload.py --test + --reload, for comparison (0 skips)")
	benchRuns := fs.Int("bench-runs", 5, "runs of each Go benchmark; median and p90 are across runs (0 skips the benchmarks)")
	margin := fs.Float64("margin", 0.25, "noise margin: a row fails when its median exceeds the target by more than this fraction")
	hostnetBench := fs.String("hostnet-bench", "", "go test -bench output of operator/hostnet to include (datapath rows)")
	hostnetLane := fs.String("hostnet-lane", "VM lane, TCG", "where the hostnet benchmarks ran")
	skipFRR := fs.Bool("skip-frr", false, "only the Go benchmarks (no root or FRR needed)")
	controllerBin := fs.String("controller", "", "a built cmd/controller: measure its RSS with --vnis L3VNIs against a real API server (needs hack/build-k8s-assets.sh's binaries)")
	reloaderBin := fs.String("reloader", "", "a built cmd/reloader, for the controller RSS run in the VM lane (FRR runs there, so the reloads succeed)")
	rssLane := fs.String("rss-lane", "auto", "where the controller RSS run happens: native (a throwaway namespace here; its datapath needs VRF), vm (the VM lane against an API server here), auto (native when this kernel has VRF)")
	e2eOutput := fs.String("e2e-output", "", "go test output of the e2e latency spec (e2e/latency_test.go) to turn into the end-to-end rows")
	crdDir := fs.String("crd-dir", "operator/config/crd/bases", "CRD manifests for the controller RSS run and the L2VNI latency lab")
	l2Bin := fs.String("l2-latency-bin", "", "a directory with the built controller, reloader and labeler: measure the native L2VNI latency on --l2-topology (needs hack/build-k8s-assets.sh's binaries)")
	l2Topology := fs.String("l2-topology", "topologies/l2.clab.yml", "the lab of the L2VNI latency run; it must need no VRF device unless this kernel has VRF")
	l2Manifests := fs.String("l2-manifests", "docs/examples/lab/underlay.yaml", "comma-separated manifests the L2VNI latency lab applies before the operator starts (its Underlay)")
	l2Changes := fs.Int("l2-changes", 20, "L2VNI create/delete pairs timed")
	l2Logs := fs.String("l2-logs", "", "a directory to keep the L2VNI run's bgpd and controller logs in")
	verbose := fs.Bool("v", false, "log the reloader's decisions")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "perf: "+format+"\n", a...) }
	log := logr.Discard()
	if *verbose {
		log = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
	}

	// One core: steadier on a shared machine, and an upper bound for the
	// render, which spreads large configs over every core in production.
	procs := runtime.GOMAXPROCS(1)
	var rows []perf.Row
	render := map[int]perf.Row{}
	for _, b := range perf.Benches() {
		if *benchRuns == 0 {
			break
		}
		progress("benchmark %s", b)
		r := perf.BenchRow(b, *benchRuns)
		rows = append(rows, r)
		if b.Metric == "validate+render" {
			render[b.N] = r
		}
	}
	// Linear growth doubles the time from 500 to 1,000 L3VNIs; the
	// reference's pairwise checks quadrupled it.
	if *benchRuns > 0 {
		rows = append(rows, perf.RatioRow("validate+render growth (linear = 2x)", render[500], render[1000], 2))
	}
	runtime.GOMAXPROCS(procs)

	if !*skipFRR {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		res, err := perf.MeasureReload(ctx, perf.ReloadOptions{
			VNIs: *vnis, Rounds: *rounds, FullRounds: *fullRounds, Logger: log, Progress: progress,
		})
		if err != nil {
			return 0, fmt.Errorf("reload path: %w", err)
		}
		rows = append(rows, reloadRows(res)...)
		defer fmt.Printf("\nload average at the end: %s (2 cores); fallbacks to a full reload during the incremental rounds: %d\n", res.LoadAverage, res.FallbacksDuringMeasuring)
	}
	rows = append(rows, perf.HostnetRows(*hostnetBench, *hostnetLane)...)
	rssRows, rssNote, err := controllerRSSRows(*controllerBin, *reloaderBin, *crdDir, *rssLane, *vnis)
	if err != nil {
		return 0, fmt.Errorf("controller RSS: %w", err)
	}
	rows = append(rows, rssRows...)
	if rssNote != "" {
		defer fmt.Println(rssNote)
	}
	e2eRows, err := latencyRows(*e2eOutput)
	if err != nil {
		return 0, err
	}
	rows = append(rows, e2eRows...)
	l2Rows, l2Note := l2LatencyRows(*l2Bin, *crdDir, *l2Topology, *l2Manifests, *l2Logs, *l2Changes, progress)
	rows = append(rows, l2Rows...)
	if l2Note != "" {
		defer fmt.Print("\n" + l2Note)
	}
	failed := perf.WriteTable(os.Stdout, rows, *margin)
	fmt.Printf("\nresult: pass = median within target +%.0f%% noise margin (memory: within the target itself)\n", *margin*100)
	return failed, nil
}

// controllerRSSRows measures the controller's memory with vnis L3VNIs and
// returns its rows and a line for below the table.
func controllerRSSRows(controllerBin, reloaderBin, crdDir, lane string, vnis int) ([]perf.Row, string, error) {
	rssRow := perf.Row{Metric: "controller RSS with the VNIs applied", N: strconv.Itoa(vnis), Unit: "MB", Target: 60, HasTarget: true, NoMargin: true,
		Note: "not measured (pass --controller)"}
	if controllerBin == "" {
		return []perf.Row{rssRow}, "", nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := perf.RSSOptions{VNIs: vnis, ControllerBinary: controllerBin, ReloaderBinary: reloaderBin, CRDDir: crdDir,
		Progress: func(format string, a ...any) { fmt.Fprintf(os.Stderr, "perf: "+format+"\n", a...) }}
	switch lane {
	case "auto":
		lane = "native"
		if !vm.HasVRF() {
			lane = "vm"
		}
	case "native", "vm":
	default:
		return nil, "", fmt.Errorf("--rss-lane=%q: want auto, native or vm", lane)
	}
	var res perf.RSSResult
	if lane == "vm" {
		if reloaderBin == "" {
			return nil, "", errors.New("the VM lane needs --reloader")
		}
		res, err = perf.MeasureControllerRSSInVM(ctx, o, []string{self, controllerRSSInVM})
	} else {
		res, err = perf.MeasureControllerRSS(ctx, o, []string{self, controllerRSSInner})
	}
	if err != nil {
		return nil, "", err
	}
	rssRow.Note = ""
	rssRow.Median, rssRow.P90 = res.RSSMB, res.RSSMB
	if res.Lane != perf.LaneNative {
		rssRow.Metric += " (" + res.Lane + ")"
	}
	if res.Applied != controller.ReasonApplied {
		// A failing datapath (no VRF in this kernel) keeps the controller
		// in an error state that is not the one the target is about.
		rssRow.Metric += " [not applied: not judged]"
		rssRow.HasTarget = false
	}
	peak := perf.Row{Metric: "controller peak RSS (VmHWM)", N: rssRow.N, Unit: "MB", Median: res.PeakMB, P90: res.PeakMB}
	note := fmt.Sprintf("controller RSS run (%s): %d object results in its status, Applied reason %q", res.Lane, res.Objects, res.Applied)
	if res.Lane != perf.LaneNative {
		note += fmt.Sprintf(", whole config applied %.0f s after the controller started, %d VRFs in the router namespace", res.ApplySeconds, res.VRFs)
	}
	note += fmt.Sprintf("; RSS = %.1f MB anonymous (heap, stacks) + %.1f MB file (the binary's pages); controller CPU %.1f s", res.AnonMB, res.FileMB, res.CPUSeconds)
	if res.GoSysMB > 0 {
		note += fmt.Sprintf("; Go heap in use %.1f MB (allocated %.1f MB), memory from the OS %.1f MB", res.HeapInuseMB, res.HeapAllocMB, res.GoSysMB)
	}
	return []perf.Row{rssRow, peak}, note, nil
}

// l2LatencyRows runs the native L2VNI measurement when binDir is set and
// returns its rows and the stage breakdown for below the table. A failed
// run is a row saying why, not a failed report: the other rows stand.
func l2LatencyRows(binDir, crdDir, topo, manifests, logDir string, changes int, progress func(string, ...any)) ([]perf.Row, string) {
	if binDir == "" {
		return perf.L2LatencyRows(perf.L2Latency{}, changes, "not measured (pass --l2-latency-bin)"), ""
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := perf.MeasureL2Latency(ctx, perf.L2LatencyOptions{
		BinDir: binDir, CRDDir: crdDir, Topology: topo, Manifests: strings.Split(manifests, ","),
		Changes: changes, LogDir: logDir, Progress: progress,
	}, vm.HasVRF())
	if err != nil {
		progress("L2VNI latency: %v", err)
		if len(res.AddMs) == 0 {
			return perf.L2LatencyRows(res, changes, "failed: "+firstLine(err.Error())), ""
		}
	}
	return perf.L2LatencyRows(res, changes, ""), res.Breakdown()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// latencyRows reads the e2e latency spec's marker from its go test output.
func latencyRows(path string) ([]perf.Row, error) {
	if path == "" {
		return perf.LatencyRows(perf.Latency{}, "not measured (PERF_E2E=1: simulator e2e)"), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, found, err := perf.ParseLatency(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !found {
		return perf.LatencyRows(perf.Latency{}, fmt.Sprintf("no %q line in %s", strings.TrimSpace(perf.LatencyMarker), path)), nil
	}
	return perf.LatencyRows(l, ""), nil
}

func reloadRows(r perf.ReloadResults) []perf.Row {
	n := r.VNIs
	N := strconv.Itoa(n)
	rows := []perf.Row{
		{Metric: "initial load of the whole config (vtysh -f, FRR's own cost)", N: N, Unit: "ms", Median: ms(r.InitialLoad), P90: ms(r.InitialLoad)},
	}
	rows = append(rows, perf.SampleRows("no-op event (same config, hash skip)", n, r.Unchanged, 0, false)...)
	// The target for a no-op is zero FRR processes.
	rows[len(rows)-1].HasTarget = true
	rows = append(rows, perf.SampleRows("comment-only change (empty delta)", n, r.CommentOnly, 0, false)...)
	rows[len(rows)-1].HasTarget = true
	rows = append(rows, perf.SampleRows("+1 VNI, incremental reloader", n, r.AddVNI, 300, true)...)
	rows = append(rows, perf.SampleRows("-1 VNI, incremental reloader", n, r.RemoveVNI, 300, true)...)
	rows = append(rows, perf.SampleRows("+1 VNI, incremental, --verify=exit-status", n, r.AddVNIExitStatus, 300, true)...)
	rows = append(rows, perf.SampleRows("-1 VNI, incremental, --verify=exit-status", n, r.RemoveVNIExitStatus, 300, true)...)
	rows = append(rows, perf.SampleRows("first reload: full frr-reload.py --reload, nothing to change", n, []perf.Sample{r.FirstFull}, 0, false)...)
	if len(r.FullAddVNI) > 0 {
		rows = append(rows, perf.SampleRows("+1 VNI, reference path (frr-reload.py --test + --reload)", n, r.FullAddVNI, 0, false)...)
		rows = append(rows, perf.SampleRows("-1 VNI, reference path (frr-reload.py --test + --reload)", n, r.FullRemove, 0, false)...)
	}
	return rows
}

func ms(d interface{ Milliseconds() int64 }) float64 { return float64(d.Milliseconds()) }

const (
	controllerRSSInner = "controller-rss-inner"
	controllerRSSInVM  = "controller-rss-vm"
)

// runControllerRSSInVM is perfreport re-executed inside the VM lane; it
// prints the result on a marker line.
func runControllerRSSInVM(args []string) error {
	fs := flag.NewFlagSet(controllerRSSInVM, flag.ContinueOnError)
	o := perf.RSSOptions{}
	fs.IntVar(&o.VNIs, "vnis", 500, "")
	fs.StringVar(&o.ControllerBinary, "controller", "", "")
	fs.StringVar(&o.ReloaderBinary, "reloader", "", "")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "")
	fs.IntVar(&o.GOMAXPROCS, "gomaxprocs", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "perf: "+format+"\n", a...) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err := perf.RunControllerRSSInVM(ctx, o)
	return err
}

// runControllerRSSInner is perfreport re-executed inside the throwaway
// namespace of the controller RSS run; it prints the result as JSON.
func runControllerRSSInner(args []string) error {
	fs := flag.NewFlagSet(controllerRSSInner, flag.ContinueOnError)
	o := perf.RSSOptions{}
	fs.IntVar(&o.VNIs, "vnis", 500, "")
	fs.StringVar(&o.ControllerBinary, "controller", "", "")
	fs.StringVar(&o.CRDDir, "crd-dir", "", "")
	fs.StringVar(&o.RouterNetns, "router-netns", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "perf: "+format+"\n", a...) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := perf.RunControllerRSSInner(ctx, o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
