package perf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/objects/objectstest"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/vm"
)

// rssMarker starts the line the guest prints its result on: the guest's
// stdout is the only channel back to the host.
const rssMarker = "perf-rss: "

// The guest's namespaces: the router's, and the node's host side (holding
// the underlay NIC the controller moves into the router's, and the host
// ends of the host-session veths). The guest's root namespace keeps the
// path to the API server.
const (
	vmRouterNetns = "perf-rss-router"
	vmHostNetns   = "perf-rss-host"
	// vmUnderlayNIC is the Underlay's interface in objectstest.Lab.
	vmUnderlayNIC = "toswitch"
)

// MeasureControllerRSSInVM measures the controller where this kernel has
// no VRF: etcd and kube-apiserver run here, the lab's objects are created
// here, and the controller, the reloader and a real FRR run inside the VM
// lane (simulator/vm, a stock kernel with VRF) against that API server,
// so the 500 L3VNIs are applied for real. inner is this program in the
// mode that calls RunControllerRSSInVM; the program must call
// vm.ServeRelayIfAsked first thing in main.
func MeasureControllerRSSInVM(ctx context.Context, o RSSOptions, inner []string) (res RSSResult, err error) {
	progress := o.progressf()
	logs, err := os.CreateTemp("", "perf-rss-controlplane-*.log")
	if err != nil {
		return res, err
	}
	defer func() {
		logs.Close()
		if err == nil {
			os.Remove(logs.Name())
		}
	}()
	progress("controller RSS (VM lane): starting etcd and kube-apiserver on this host")
	vcp, err := cluster.StartVMControlPlane(ctx, logs, nil)
	if err != nil {
		return res, fmt.Errorf("control plane (logs in %s): %w", logs.Name(), err)
	}
	defer func() { err = errors.Join(err, vcp.Stop()) }()
	cfg, err := clientcmd.BuildConfigFromFlags("", vcp.Kubeconfig())
	if err != nil {
		return res, err
	}
	// client-go's default of 5 requests a second makes 500 creates take
	// minutes.
	cfg.QPS, cfg.Burst = 500, 1000
	if _, err := createLab(ctx, cfg, o); err != nil {
		return res, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return res, err
	}
	cmd := append(append([]string{}, inner...),
		"--vnis", strconv.Itoa(o.VNIs), "--controller", o.ControllerBinary, "--reloader", o.ReloaderBinary,
		"--kubeconfig", vcp.GuestKubeconfig, "--gomaxprocs", strconv.Itoa(runtime.NumCPU()))
	var out bytes.Buffer
	progress("controller RSS (VM lane): booting the VM; the controller applies %d L3VNIs in it (minutes under TCG)", o.VNIs)
	code, err := vm.Run(ctx, vm.Options{
		Command:  cmd,
		WorkDir:  wd,
		Timeout:  45 * time.Minute,
		MemoryMB: 3072,
		Forwards: []vm.Forward{vcp.Forward},
		Stdout:   io.MultiWriter(&out, &prefixWriter{w: os.Stderr}),
	})
	if err != nil {
		return res, fmt.Errorf("VM lane: %w", err)
	}
	res, found, perr := parseRSSMarker(&out)
	if perr != nil {
		return res, perr
	}
	if code != 0 || !found {
		return res, fmt.Errorf("controller RSS in the VM lane: exit status %d, result found: %v", code, found)
	}
	res.Lane = "VM lane"
	return res, nil
}

// prefixWriter passes the guest's output on as progress lines. The serial
// console delivers it in pieces as small as one byte.
type prefixWriter struct {
	w       io.Writer
	pending []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		if line := strings.TrimRight(string(p.pending[:i]), "\r"); strings.TrimSpace(line) != "" {
			fmt.Fprintln(p.w, "perf: [vm] "+line)
		}
		p.pending = p.pending[i+1:]
	}
}

func parseRSSMarker(r io.Reader) (res RSSResult, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, rssMarker)
		if i < 0 {
			continue
		}
		if err := json.Unmarshal([]byte(line[i+len(rssMarker):]), &res); err != nil {
			return res, false, fmt.Errorf("controller RSS result %q: %w", line, err)
		}
		found = true
	}
	return res, found, sc.Err()
}

// RunControllerRSSInVM is the guest's part of MeasureControllerRSSInVM: it
// starts FRR in a router namespace, the reloader and the controller
// (against o.Kubeconfig), waits until the controller reports the whole
// config applied, reads the controller's memory and prints it on one
// marker line.
func RunControllerRSSInVM(ctx context.Context, o RSSOptions) (res RSSResult, err error) {
	progress := o.progressf()
	for _, c := range [][]string{
		{"netns", "add", vmRouterNetns},
		{"netns", "add", vmHostNetns},
		{"-n", vmRouterNetns, "link", "set", "lo", "up"},
		{"-n", vmHostNetns, "link", "set", "lo", "up"},
		{"-n", vmHostNetns, "link", "add", vmUnderlayNIC, "type", "veth", "peer", "name", vmUnderlayNIC + "-fab"},
		{"-n", vmHostNetns, "link", "set", vmUnderlayNIC + "-fab", "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", c...).CombinedOutput(); err != nil {
			return res, fmt.Errorf("ip %s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	defer func() {
		for _, ns := range []string{vmRouterNetns, vmHostNetns} {
			if out, e := exec.Command("ip", "netns", "del", ns).CombinedOutput(); e != nil {
				err = errors.Join(err, fmt.Errorf("ip netns del %s: %w: %s", ns, e, out))
			}
		}
	}()
	dir, err := os.MkdirTemp("", "perf-rss-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	// FRR's daemons run as user frr and reach their sockets below dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return res, err
	}
	frrDir := filepath.Join(dir, "frr")
	progress("controller RSS: starting FRR in netns %s", vmRouterNetns)
	router, err := frrproc.Start(ctx, frrproc.Options{Netns: vmRouterNetns, Dir: frrDir})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, router.Stop()) }()
	socket := filepath.Join(dir, "reloader.sock")
	rel, err := startAgent(filepath.Join(dir, "reloader.log"), nil, o.ReloaderBinary,
		"--socket", socket, "--state-dir", filepath.Join(dir, "reloader"), "--vty-socket-dir", frrDir,
		// The whole 500-VNI config's first load is slow under TCG.
		"--apply-timeout", "20m")
	if err != nil {
		return res, err
	}
	defer rel.stop()
	env := []string{"KUBECONFIG=" + o.Kubeconfig}
	if o.GOMAXPROCS > 0 {
		// The guest has one vCPU; the Go runtime sizes per-P caches and GC
		// workers by GOMAXPROCS, so this makes the heap behave as on the host.
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.GOMAXPROCS))
	}
	start := time.Now()
	progress("controller RSS: starting the controller")
	ctl, err := startAgent(filepath.Join(dir, "controller.log"), env, o.ControllerBinary,
		"--node-name", LabNode.Name,
		"--namespace", objectstest.Namespace,
		"--reloader-socket", socket,
		"--router-netns", vmRouterNetns,
		"--host-netns", vmHostNetns,
		"--vty-socket-dir", frrDir,
		"--underlay-state-dir", filepath.Join(dir, "underlay"),
		// Plain HTTP on the loopback: the harness scrapes without a token.
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address", "0",
	)
	if err != nil {
		return res, err
	}
	defer ctl.stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return res, err
	}
	c, err := client.New(cfg, client.Options{Scheme: labScheme()})
	if err != nil {
		return res, err
	}
	want := o.VNIs + 1
	timeout := 30 * time.Minute
	lastReport := time.Now()
	err = retry.Poll(ctx, timeout, retry.Every(time.Second), func() (bool, error) {
		var rns v1alpha1.RouterNodeStatus
		err := c.Get(ctx, client.ObjectKey{Namespace: objectstest.Namespace, Name: LabNode.Name}, &rns)
		if err == nil {
			res.Objects = len(rns.Status.Objects)
			res.Applied = appliedReason(rns)
			if res.Objects >= want && res.Applied == controller.ReasonApplied && appliedTrue(rns) {
				return true, nil
			}
		}
		if time.Since(lastReport) > time.Minute {
			rss, _, _ := processMemory(ctl.cmd.Process.Pid)
			log, _ := os.ReadFile(ctl.logPath)
			progress("controller RSS: waiting %v: %d object results, Applied reason %q, RSS %.1f MB; controller's last log line: %s",
				time.Since(start).Round(time.Second), res.Objects, res.Applied, rss, truncate(tail(string(log), 1), 200))
			lastReport = time.Now()
		}
		return false, nil
	})
	if errors.Is(err, retry.ErrTimeout) {
		log, _ := os.ReadFile(ctl.logPath)
		relLog, _ := os.ReadFile(rel.logPath)
		return res, fmt.Errorf("controller did not report %d objects applied within %v (last: %d, reason %q); its log:\n%s\nreloader log:\n%s",
			want, timeout, res.Objects, res.Applied, tail(string(log), 30), tail(string(relLog), 20))
	}
	if err != nil {
		return res, err
	}
	res.ApplySeconds = time.Since(start).Seconds()
	progress("controller RSS: %d objects applied after %v; letting the heap settle", res.Objects, time.Since(start).Round(time.Second))
	// The reconcile that wrote the status may still be finishing, and the
	// garbage collector returns freed memory over the following seconds.
	time.Sleep(15 * time.Second)
	if err := readControllerMemory(ctx, ctl, &res, progress); err != nil {
		return res, err
	}
	if kernels, err := exec.Command("ip", "-n", vmRouterNetns, "-o", "link", "show", "type", "vrf").Output(); err == nil {
		res.VRFs = strings.Count(string(kernels), "\n")
	}
	line, _ := json.Marshal(res)
	fmt.Println(rssMarker + string(line))
	return res, nil
}

// appliedTrue says the Applied condition is True.
func appliedTrue(rns v1alpha1.RouterNodeStatus) bool {
	for _, cond := range rns.Status.Conditions {
		if cond.Type == "Applied" && cond.Status != "True" {
			return false
		}
	}
	return true
}
