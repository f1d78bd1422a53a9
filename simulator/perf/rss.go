package perf

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/objects/objectstest"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/controlplane"
)

// RSSOptions configure the controller memory measurement.
type RSSOptions struct {
	VNIs int
	// ControllerBinary is a built cmd/controller.
	ControllerBinary string
	// CRDDir holds the CRD manifests (operator/config/crd/bases).
	CRDDir string
	// RouterNetns is the router namespace the controller programs.
	RouterNetns string
	// ReloaderBinary is a built cmd/reloader (VM lane: FRR runs there and
	// the controller's reloads succeed).
	ReloaderBinary string
	// Kubeconfig is the API server the guest's controller uses (VM lane).
	Kubeconfig string
	// GOMAXPROCS for the controller in the guest (0: the runtime's default).
	GOMAXPROCS int
	Progress   func(format string, args ...any)
}

// RSSResult is the controller's memory once it has reconciled the lab.
type RSSResult struct {
	RSSMB, PeakMB float64
	// Objects is the number of object results in its RouterNodeStatus.
	Objects int
	// Applied is the Applied condition's reason, or the reconcile error:
	// on a kernel without VRF the datapath step fails, after the
	// controller built the whole configuration.
	Applied string
	// Lane is where the controller ran: "native" (a throwaway namespace
	// on this host) or "VM lane".
	Lane string `json:",omitempty"`
	// ApplySeconds is the time from the controller's start to the whole
	// config reported applied (VM lane).
	ApplySeconds float64 `json:",omitempty"`
	// VRFs counts the VRF devices in the router namespace afterwards (VM
	// lane).
	VRFs int `json:",omitempty"`
	// AnonMB and FileMB split RSSMB into the heap and stacks (anonymous)
	// and the mapped binary's pages (file).
	AnonMB, FileMB float64 `json:",omitempty"`
	// HeapInuseMB, HeapAllocMB and GoSysMB are the Go runtime's view
	// (go_memstats_heap_inuse_bytes, _heap_alloc_bytes, _sys_bytes).
	HeapInuseMB, HeapAllocMB, GoSysMB float64 `json:",omitempty"`
	// CPUSeconds is the controller's CPU time (user + system) until the
	// memory was read.
	CPUSeconds float64 `json:",omitempty"`
}

// MeasureControllerRSS runs a real API server (simulator/controlplane) and
// the controller binary inside a throwaway network namespace, with a second
// throwaway namespace as its router netns, so everything the controller's
// datapath creates (host-side veths included) disappears with them. It
// re-executes inner (this program in its inner mode) inside the namespace
// and reads its JSON result.
func MeasureControllerRSS(ctx context.Context, o RSSOptions, inner []string) (res RSSResult, err error) {
	outer := fmt.Sprintf("perf-rss-%d", os.Getpid())
	router := fmt.Sprintf("perf-rss-router-%d", os.Getpid())
	for _, ns := range []string{outer, router} {
		if err := nsexec.Add(ctx, ns); err != nil {
			return res, err
		}
		defer func() {
			if e := nsexec.Delete(context.Background(), ns); e != nil {
				err = errors.Join(err, e)
			}
		}()
	}
	// kube-apiserver needs a default route to pick an advertise address;
	// a veth pair with both ends inside the namespace gives it one without
	// any path out of the namespace.
	for _, c := range [][]string{
		{"link", "add", "perf0", "type", "veth", "peer", "name", "perf1"},
		{"addr", "add", "192.0.2.1/24", "dev", "perf0"},
		{"link", "set", "perf0", "up"},
		{"link", "set", "perf1", "up"},
		{"route", "add", "default", "via", "192.0.2.2", "dev", "perf0"},
	} {
		if _, err := nsexec.Run(ctx, outer, append([]string{"ip"}, c...)...); err != nil {
			return res, err
		}
	}
	args := append(slices.Clone(inner), "--vnis", strconv.Itoa(o.VNIs), "--controller", o.ControllerBinary, "--crd-dir", o.CRDDir, "--router-netns", router)
	cmd := nsexec.Command(ctx, outer, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("controller RSS run in netns %s: %w", outer, err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("controller RSS run: result %q: %w", out, err)
	}
	res.Lane = LaneNative
	return res, nil
}

// RunControllerRSSInner is the part of MeasureControllerRSS that runs
// inside the namespace.
func RunControllerRSSInner(ctx context.Context, o RSSOptions) (RSSResult, error) {
	var res RSSResult
	progress := o.progressf()
	progress("controller RSS: starting etcd and kube-apiserver")
	cp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		return res, err
	}
	defer func() { _ = cp.Stop() }()
	c, err := createLab(ctx, cp.RESTConfig(), o)
	if err != nil {
		return res, err
	}

	dir, err := os.MkdirTemp("", "perf-controller-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	progress("controller RSS: starting the controller")
	ctl, err := startAgent(filepath.Join(dir, "controller.log"), []string{"KUBECONFIG=" + cp.KubeconfigPath()}, o.ControllerBinary,
		"--node-name", LabNode.Name,
		"--namespace", objectstest.Namespace,
		"--reloader-socket", filepath.Join(dir, "reloader.sock"),
		"--router-netns", o.RouterNetns,
		"--vty-socket-dir", "",
		"--underlay-state-dir", filepath.Join(dir, "underlay"),
		// Plain HTTP on the loopback: the harness scrapes without a token.
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address", "0",
	)
	if err != nil {
		return res, err
	}
	defer ctl.stop()

	want := o.VNIs + 1
	err = retry.Poll(ctx, 3*time.Minute, retry.Every(500*time.Millisecond), func() (bool, error) {
		var rns v1alpha1.RouterNodeStatus
		err := c.Get(ctx, client.ObjectKey{Namespace: objectstest.Namespace, Name: LabNode.Name}, &rns)
		if err == nil && len(rns.Status.Objects) >= want {
			res.Objects = len(rns.Status.Objects)
			res.Applied = appliedReason(rns)
			return true, nil
		}
		// On this kernel the datapath step fails after the whole config was
		// built; a reconcile that ended in an error has done its work too.
		if log, _ := os.ReadFile(ctl.logPath); strings.Contains(string(log), `"msg":"Reconciler error"`) {
			res.Applied = "reconcile error: " + firstError(string(log))
			return true, nil
		}
		return false, nil
	})
	if errors.Is(err, retry.ErrTimeout) {
		log, _ := os.ReadFile(ctl.logPath)
		return res, fmt.Errorf("controller did not report %d objects within 3 minutes; its log:\n%s", want, tail(string(log), 40))
	}
	if err != nil {
		return res, err
	}
	// Let the reconcile that wrote the status finish and the heap settle.
	time.Sleep(3 * time.Second)
	err = readControllerMemory(ctx, ctl, &res, progress)
	return res, err
}

func (o RSSOptions) progressf() func(string, ...any) {
	if o.Progress == nil {
		return func(string, ...any) {}
	}
	return o.Progress
}

// createLab installs the CRDs and creates the lab's namespace, Node (with
// its index label, as the labeler would set it), Underlay and L3VNIs.
func createLab(ctx context.Context, cfg *rest.Config, o RSSOptions) (client.Client, error) {
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{o.CRDDir}, ErrorIfPathMissing: true}); err != nil {
		return nil, fmt.Errorf("installing CRDs from %s: %w", o.CRDDir, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: labScheme()})
	if err != nil {
		return nil, err
	}
	lab := objectstest.Lab(o.VNIs)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: objectstest.Namespace}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: LabNode.Name, Labels: map[string]string{v1alpha1.NodeIndexLabel: strconv.Itoa(LabNode.Index)}}},
	}
	for _, o := range lab.All() {
		objs = append(objs, o)
	}
	o.progressf()("controller RSS: creating %d objects", len(objs))
	// The namespace first; then several requests at a time: one by one,
	// 500 creates took minutes on a loaded machine.
	if err := c.Create(ctx, objs[0]); err != nil {
		return nil, fmt.Errorf("creating Namespace %s: %w", objs[0].GetName(), err)
	}
	work := make(chan client.Object)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for obj := range work {
				if err := c.Create(ctx, obj); err != nil {
					errs <- fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
				}
			}
		})
	}
	for _, obj := range objs[1:] {
		work <- obj
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return c, errors.Join(all...)
}

// labScheme knows the core types and perouter's.
func labScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return scheme
}

func appliedReason(rns v1alpha1.RouterNodeStatus) string {
	for _, cond := range rns.Status.Conditions {
		if cond.Type == "Applied" {
			return cond.Reason
		}
	}
	return ""
}

// agent is an operator binary started by a measurement.
type agent struct {
	cmd     *exec.Cmd
	logPath string
}

func startAgent(logPath string, env []string, binary string, args ...string) (*agent, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	return &agent{cmd: cmd, logPath: logPath}, nil
}

// stop sends SIGTERM and kills the process when it has not exited after
// 20 s.
func (a *agent) stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

const (
	// metricsAddr serves the controller's metrics (inside the guest or the
	// throwaway namespace), for the Go heap figures next to the RSS.
	metricsAddr = "127.0.0.1:19481"
	mb          = 1 << 20
)

// readControllerMemory fills res's memory figures from /proc and from the
// controller's metrics.
func readControllerMemory(ctx context.Context, ctl *agent, res *RSSResult, progress func(string, ...any)) error {
	mem, err := procStatusMB(ctl.cmd.Process.Pid)
	if err != nil {
		return err
	}
	res.RSSMB, res.PeakMB, res.AnonMB, res.FileMB = mem["VmRSS"], mem["VmHWM"], mem["RssAnon"], mem["RssFile"]
	res.CPUSeconds = procCPU(ctl.cmd.Process.Pid).Seconds()
	if m, err := goMemoryMetrics(ctx, "http://"+metricsAddr+"/metrics"); err == nil {
		res.HeapInuseMB, res.HeapAllocMB, res.GoSysMB = m["go_memstats_heap_inuse_bytes"]/mb, m["go_memstats_heap_alloc_bytes"]/mb, m["go_memstats_sys_bytes"]/mb
	} else {
		progress("controller RSS: reading the controller's Go memory metrics: %v", err)
	}
	return nil
}

// goMemoryMetrics reads the go_memstats_* gauges of a Prometheus endpoint.
func goMemoryMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseGoMemstats(resp.Body)
}

func parseGoMemstats(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || !strings.HasPrefix(fields[0], "go_memstats_") {
			continue
		}
		if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
			m[fields[0]] = v
		}
	}
	return m, sc.Err()
}

// processMemory reads VmRSS and VmHWM (peak RSS) in MB.
func processMemory(pid int) (rss, peak float64, err error) {
	m, err := procStatusMB(pid)
	return m["VmRSS"], m["VmHWM"], err
}

// procStatusMB reads the kB fields of /proc/PID/status (VmRSS, VmHWM,
// RssAnon, RssFile…) in MB.
func procStatusMB(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		m[strings.TrimSuffix(fields[0], ":")] = kb / 1024
	}
	return m, sc.Err()
}

// firstError returns the start of the first "Reconciler error" log
// line's error.
func firstError(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `"msg":"Reconciler error"`) {
			continue
		}
		var entry struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(l), &entry) == nil {
			return truncate(entry.Error, 160)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
