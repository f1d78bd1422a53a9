package perf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/topology"
)

// L2LatencyOptions configure MeasureL2Latency.
type L2LatencyOptions struct {
	// BinDir holds the built controller, reloader and labeler.
	BinDir string
	// CRDDir holds the CRD manifests (operator/config/crd/bases).
	CRDDir string
	// Topology is a lab that needs no VRF device (topologies/l2.clab.yml).
	Topology string
	// Manifests are applied before the operator starts: the Underlay.
	Manifests []string
	// Changes is the number of create/delete pairs timed (20).
	Changes int
	// Poll is the interval of the leaf's route reads (default 50 ms).
	Poll time.Duration
	// LogDir, when set, receives every router's timed log and the node's
	// controller.log before the lab goes down (the stages' evidence).
	LogDir   string
	Progress func(format string, args ...any)
}

// L2Latency is the native L2VNI measurement: per change, the time from
// the create (delete) call of an L2VNI without routing domain selecting
// one node until that node's type-3 route for the VNI is on (gone from) a
// fabric leaf, and where the time went.
type L2Latency struct {
	Latency
	Node, VTEP, Leaf string
	// Stages are medians and p90s of each step of a change, from the
	// timestamps in the controller's and the routers' logs.
	Stages []Stage
	// AdvertisementIntervalMs is each BGP hop's minimum time between
	// advertisement runs (FRR's MRAI), as the sending router reports it.
	AdvertisementIntervalMs map[string]int
	// LoadAverage is /proc/loadavg at the end.
	LoadAverage string
}

// Stage is one step of a change with its samples.
type Stage struct {
	Name string
	Ms   []float64
}

// L2TargetMs is issue 16's bound on the median of both L2VNI rows.
const L2TargetMs = 1000

// L2LatencyRows are the two rows of the L2VNI measurement, judged against
// L2TargetMs. note, when not empty, replaces the numbers.
func L2LatencyRows(l L2Latency, changes int, note string) []Row {
	add := Row{Metric: "end to end, L2VNI without routing domain (native): applied -> the node's type-3 route on a leaf", Unit: "ms", Target: L2TargetMs, HasTarget: true}
	withdraw := Row{Metric: "end to end, L2VNI without routing domain (native): deleted -> type-3 route withdrawn on a leaf", Unit: "ms", Target: L2TargetMs, HasTarget: true}
	if note != "" {
		add.N, withdraw.N = fmt.Sprintf("%d changes", changes), fmt.Sprintf("%d changes", changes)
		add.Note, withdraw.Note = note, note
		return []Row{add, withdraw}
	}
	for _, r := range []struct {
		row *Row
		v   []float64
	}{{&add, l.AddMs}, {&withdraw, l.WithdrawMs}} {
		r.row.N = fmt.Sprintf("%d changes", len(r.v))
		if len(r.v) == 0 {
			r.row.Note = "no samples"
			continue
		}
		r.row.Median, r.row.P90 = Quantiles(r.v)
	}
	return []Row{add, withdraw}
}

// Breakdown is a few lines for below the table: every stage's p50/p90.
func (l L2Latency) Breakdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "L2VNI latency (node %s, VTEP %s, leaf %s; load average at the end %s):\n", l.Node, l.VTEP, l.Leaf, l.LoadAverage)
	for _, s := range l.Stages {
		if len(s.Ms) == 0 {
			fmt.Fprintf(&b, "  %-62s no samples\n", s.Name)
			continue
		}
		p50, p90 := Quantiles(s.Ms)
		fmt.Fprintf(&b, "  %-62s p50 %6.0f ms  p90 %6.0f ms  (%d)\n", s.Name, p50, p90, len(s.Ms))
	}
	var hops []string
	for hop, interval := range l.AdvertisementIntervalMs {
		hops = append(hops, fmt.Sprintf("%s %d ms", hop, interval))
	}
	slices.Sort(hops)
	fmt.Fprintf(&b, "  BGP advertisement interval per hop: %s\n", strings.Join(hops, ", "))
	return b.String()
}

// MeasureL2Latency brings the lab up natively with the real operator,
// then Changes times creates an L2VNI (a new VNI each time, no routing
// domain, selecting the first cluster node by its hostname label) and
// polls the first fabric leaf until the node's type-3 route for the VNI is
// there, then deletes it and polls until the route is gone. The lab must
// need no VRF device (cluster.VRFNeeds) or this kernel must have VRF.
//
// While measuring, the routers log BGP updates (debug bgp updates) with
// millisecond timestamps; with the controller's own log they split each
// change into stages: the controller (informer, reconcile, datapath, the
// FRR push), the node's zebra and bgpd (VXLAN device → type-3 route sent),
// the BGP hops to the leaf, and the measurement's own poll.
func MeasureL2Latency(ctx context.Context, o L2LatencyOptions, hasVRF bool) (L2Latency, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	topo, err := topology.Load(o.Topology)
	if err != nil {
		return L2Latency{}, err
	}
	if needs, err := cluster.VRFNeeds(topo, o.Manifests, false); err != nil {
		return L2Latency{}, err
	} else if len(needs) > 0 && !hasVRF {
		return L2Latency{}, fmt.Errorf("%s needs VRF devices, which this kernel lacks; this measurement runs natively only:\n  %s", o.Topology, strings.Join(needs, "\n  "))
	}
	root, err := os.MkdirTemp("", "perf-l2-")
	if err != nil {
		return L2Latency{}, err
	}
	defer os.RemoveAll(root)
	// FRR (user frr) must reach its sockets under the state root.
	if err := os.Chmod(root, 0o755); err != nil {
		return L2Latency{}, err
	}
	var upLog strings.Builder
	opts := netns.Options{StateRoot: root, Progress: &upLog, Agents: cluster.New(cluster.Options{BinDir: o.BinDir, CRDDir: o.CRDDir, Manifests: o.Manifests})}
	start := time.Now()
	progress("L2 lab %s: bringing it up natively", topo.Name)
	lab, err := netns.Up(ctx, topo, opts)
	defer func() { _ = netns.New(topo, opts).Down(context.Background()) }()
	if err != nil {
		return L2Latency{}, fmt.Errorf("lab up: %w\n%s", err, upLog.String())
	}
	res := L2Latency{Latency: Latency{Lane: LaneNative}}
	leaves := lab.EVPNLeaves()
	nodes := lab.Topo.NodesWithRole(topology.RoleClusterNode)
	if len(leaves) == 0 || len(nodes) == 0 {
		return res, fmt.Errorf("lab %s: %d EVPN leaves and %d cluster nodes; need at least one of each", topo.Name, len(leaves), len(nodes))
	}
	res.Leaf, res.Node = leaves[0], nodes[0].Name
	if err := retry.Poll(ctx, 3*time.Minute, retry.Every(time.Second), func() (bool, error) {
		addr, err := lab.InterfaceAddr(ctx, lab.RouterNamespace(res.Node), "lo")
		if err != nil {
			return false, nil
		}
		res.VTEP = addr.String()
		// The node's router has its BGP sessions up: a route it sends
		// reaches the fabric.
		peers, err := lab.BGPPeersDir(ctx, res.Node, cluster.RouterFRRDir(lab, res.Node))
		if err != nil {
			return false, nil
		}
		up := 0
		for _, p := range peers {
			if p.State == "Established" {
				up++
			}
		}
		return up > 0 && up == len(peers), nil
	}); err != nil {
		return res, fmt.Errorf("node %s: no VTEP or BGP sessions not established: %w\n%s", res.Node, err, tail(readFileString(filepath.Join(lab.NodeDir(res.Node), "controller.log")), 3000))
	}
	progress("L2 lab up in %v; node %s (VTEP %s), leaf %s", time.Since(start).Round(100*time.Millisecond), res.Node, res.VTEP, res.Leaf)

	routers := routerDirs(lab)
	for name, dir := range routers {
		// The daemons' command-line log target (frrproc's --log file:)
		// ignores "log timestamp precision": a configured one honours it.
		if _, err := lab.VtyshDir(ctx, dir, "configure terminal", "log timestamp precision 3",
			"log file "+filepath.Join(dir, timedLog)+" debugging", "debug bgp updates"); err != nil {
			return res, fmt.Errorf("%s: enabling the update log: %w", name, err)
		}
	}
	res.AdvertisementIntervalMs = advertisementIntervals(ctx, lab, routers)

	kubeconfig, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig(lab))
	if err != nil {
		return res, err
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return res, err
	}
	c, err := client.New(kubeconfig, client.Options{Scheme: scheme})
	if err != nil {
		return res, err
	}
	var windows []changeWindow
	timeout := 2 * time.Minute
	for i := range o.Changes {
		vni := uint32(7000 + i)
		obj := &v1alpha1.L2VNI{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("perf-l2-%d", i), Namespace: cluster.Namespace},
			Spec: v1alpha1.L2VNISpec{
				VNI:          vni,
				NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": res.Node}},
				HostMaster:   &v1alpha1.HostMaster{Type: "LinuxBridge", LinuxBridge: &v1alpha1.LinuxBridgeConfig{Lifecycle: v1alpha1.LifecycleManaged}},
			},
		}
		present := func() (bool, error) {
			vteps, err := lab.Type3VTEPs(ctx, res.Leaf, vni)
			return vteps[res.VTEP], err
		}
		w := changeWindow{vni: vni, created: time.Now()}
		if err := c.Create(ctx, obj); err != nil {
			return res, fmt.Errorf("creating L2VNI %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		if err := pollUntil(ctx, timeout, o.Poll, present, true); err != nil {
			return res, fmt.Errorf("change %d: node %s's type-3 route for VNI %d not on %s: %w", i+1, res.Node, vni, res.Leaf, err)
		}
		w.added = time.Now()
		w.deleted = time.Now()
		if err := c.Delete(ctx, obj); err != nil {
			return res, fmt.Errorf("deleting L2VNI %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		if err := pollUntil(ctx, timeout, o.Poll, present, false); err != nil {
			return res, fmt.Errorf("change %d: node %s's type-3 route for VNI %d still on %s: %w", i+1, res.Node, vni, res.Leaf, err)
		}
		w.withdrawn = time.Now()
		windows = append(windows, w)
		res.AddMs = append(res.AddMs, ms(w.added.Sub(w.created)))
		res.WithdrawMs = append(res.WithdrawMs, ms(w.withdrawn.Sub(w.deleted)))
		progress("change %d: VNI %d: type-3 on %s after %v, withdrawn after %v", i+1, vni, res.Leaf,
			w.added.Sub(w.created).Round(time.Millisecond), w.withdrawn.Sub(w.deleted).Round(time.Millisecond))
	}
	res.Stages = stages(lab, res, routers, windows)
	if o.LogDir != "" {
		if err := keepLogs(o.LogDir, lab, res.Node, routers); err != nil {
			return res, err
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return res, nil
}

// timedLog is the log with millisecond timestamps each router writes
// while the L2VNI latency is measured.
const timedLog = "timed.log"

type changeWindow struct {
	vni                                uint32
	created, added, deleted, withdrawn time.Time
}

// pollUntil polls cond until it returns want.
func pollUntil(ctx context.Context, timeout, every time.Duration, cond func() (bool, error), want bool) error {
	var last error
	err := retry.Poll(ctx, timeout, retry.Every(every), func() (bool, error) {
		got, err := cond()
		last = err
		return err == nil && got == want, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last read: %v)", err, last)
	}
	return err
}

// routerDirs maps every FRR of the lab (fabric routers and the cluster
// nodes' routers) to its vty socket directory.
func routerDirs(lab *netns.Lab) map[string]string {
	dirs := map[string]string{}
	for _, n := range lab.Topo.NodesWithRole(topology.RoleRouter) {
		dirs[n.Name] = lab.FRRDir(n.Name)
	}
	for _, n := range lab.Topo.NodesWithRole(topology.RoleClusterNode) {
		dirs[n.Name] = cluster.RouterFRRDir(lab, n.Name)
	}
	return dirs
}

// advertisementIntervals reads every established session's minimum time
// between advertisement runs, keyed "router->peer".
func advertisementIntervals(ctx context.Context, lab *netns.Lab, routers map[string]string) map[string]int {
	out := map[string]int{}
	for name, dir := range routers {
		data, err := lab.VtyshDir(ctx, dir, "show bgp neighbors json")
		if err != nil {
			continue
		}
		var neighbors map[string]struct {
			State string `json:"bgpState"`
			MRAI  *int   `json:"minBtwnAdvertisementRunsTimerMsecs"`
		}
		if json.Unmarshal([]byte(data), &neighbors) != nil {
			continue
		}
		for peer, n := range neighbors {
			if n.State == "Established" && n.MRAI != nil {
				out[name+"->"+peer] = *n.MRAI
			}
		}
	}
	return out
}

// frrLogTime is the head of an FRR log line with "log timestamp precision
// 3": "2026/12/07 01:02:03.456".
var frrLogTime = regexp.MustCompile(`^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3})`)

// logEvent is one timestamped line of a log.
type logEvent struct {
	at   time.Time
	line string
}

// readFRRLog returns the lines of an FRR daemon log that carry a
// millisecond timestamp and match keep.
func readFRRLog(path string, keep func(string) bool) []logEvent {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := frrLogTime.FindStringSubmatch(sc.Text())
		if m == nil || !keep(sc.Text()) {
			continue
		}
		at, err := time.ParseInLocation("2006/01/02 15:04:05.000", m[1], time.Local)
		if err == nil {
			out = append(out, logEvent{at, sc.Text()})
		}
	}
	return out
}

// readControllerLog returns the controller's log entries (funcr JSON).
func readControllerLog(path string) []logEvent {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var e struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.TS == "" {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05.000000", e.TS, time.Local)
		if err == nil {
			out = append(out, logEvent{at, e.Msg})
		}
	}
	return out
}

// firstEvent returns the first event in [from, to] matching keep.
func firstEvent(events []logEvent, from, to time.Time, keep func(string) bool) (time.Time, bool) {
	for _, e := range events {
		// FRR's timestamps have milliseconds only.
		if !e.at.Before(from.Truncate(time.Millisecond)) && !e.at.After(to) && keep(e.line) {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// lastEvent returns the last event in [from, to] matching keep.
func lastEvent(events []logEvent, from, to time.Time, keep func(string) bool) (time.Time, bool) {
	var at time.Time
	found := false
	for _, e := range events {
		if !e.at.Before(from) && !e.at.After(to) && keep(e.line) {
			at, found = e.at, true
		}
	}
	return at, found
}

// stages splits every change into steps by the logs' timestamps. A route
// update about the node's type-3 route names "[3]:…:[VTEP]"; the node's
// bgpd logs it as sent ("send UPDATE"), the fabric's routers as received
// ("rcvd"); a withdrawal carries "withdrawn" or "unreachable". Each step
// is the time from the end of the previous one to the first such line in
// the change's window; a hop that logged nothing is left out.
func stages(lab *netns.Lab, res L2Latency, routers map[string]string, windows []changeWindow) []Stage {
	type3Key := "[3]:[0]:[32]:[" + res.VTEP + "]"
	routeLines := func(path string) []logEvent {
		return readFRRLog(path, func(l string) bool { return strings.Contains(l, type3Key) })
	}
	nodeBGP := routeLines(filepath.Join(routers[res.Node], timedLog))
	leafBGP := routeLines(filepath.Join(routers[res.Leaf], timedLog))
	// The first hop is every router sharing a switch with the node (the
	// node is dual-homed: whichever logged first); the second every other
	// router that is not a fabric leaf (the spines).
	var hop1, hop2 []logEvent
	nodeFacing := routersOnSwitchesOf(lab.Topo, res.Node)
	for _, n := range lab.Topo.NodesWithRole(topology.RoleRouter) {
		if slices.Contains(lab.EVPNLeaves(), n.Name) {
			continue
		}
		events := routeLines(filepath.Join(routers[n.Name], timedLog))
		if nodeFacing[n.Name] {
			hop1 = append(hop1, events...)
		} else {
			hop2 = append(hop2, events...)
		}
	}
	for _, h := range [][]logEvent{hop1, hop2} {
		slices.SortFunc(h, func(a, b logEvent) int { return a.at.Compare(b.at) })
	}
	ctrl := readControllerLog(filepath.Join(lab.NodeDir(res.Node), "controller.log"))
	isStep := func(m string) bool {
		return m == "datapath prepared" || m == "datapath activated" || m == "FRR configuration applied"
	}
	sent := func(l string) bool { return strings.Contains(l, "send UPDATE") }
	rcvd := func(l string) bool { return strings.Contains(l, "rcvd") }
	withdrawn := func(l string) bool { return strings.Contains(l, "withdrawn") || strings.Contains(l, "unreachable") }
	not := func(f func(string) bool) func(string) bool { return func(l string) bool { return !f(l) } }
	and := func(a, b func(string) bool) func(string) bool { return func(l string) bool { return a(l) && b(l) } }

	names := []string{
		"add: create call -> controller done (API, reconcile, devices up)",
		"add: controller done -> node's bgpd sends the type-3 route",
		"add: node sent -> node-facing leaf received",
		"add: node-facing leaf -> spine received",
		"add: spine -> fabric leaf received",
		"add: fabric leaf received -> seen by the poll",
		"delete: delete call -> controller removed the devices",
		"delete: devices removed -> node's bgpd sends the withdrawal",
		"delete: node sent -> fabric leaf received",
		"delete: fabric leaf received -> seen by the poll",
	}
	samples := make([][]float64, len(names))
	for _, w := range windows {
		// Add.
		steps := []struct {
			events []logEvent
			keep   func(string) bool
		}{
			{nodeBGP, and(sent, not(withdrawn))},
			{hop1, and(rcvd, not(withdrawn))},
			{hop2, and(rcvd, not(withdrawn))},
			{leafBGP, and(rcvd, not(withdrawn))},
		}
		prev, ok := lastEvent(ctrl, w.created, w.added, isStep)
		if ok {
			samples[0] = append(samples[0], ms(prev.Sub(w.created)))
			for i, s := range steps {
				at, found := firstEvent(s.events, prev, w.added, s.keep)
				if !found {
					continue
				}
				samples[1+i] = append(samples[1+i], ms(at.Sub(prev)))
				prev = at
			}
			samples[5] = append(samples[5], ms(w.added.Sub(prev)))
		}
		// Delete: the devices go in the reconcile's first step (Prepare),
		// before the FRR push; zebra and bgpd withdraw while it runs.
		prev, ok = firstEvent(ctrl, w.deleted, w.withdrawn, func(m string) bool { return m == "datapath prepared" })
		if !ok {
			continue
		}
		samples[6] = append(samples[6], ms(prev.Sub(w.deleted)))
		if at, found := firstEvent(nodeBGP, prev, w.withdrawn, and(sent, withdrawn)); found {
			samples[7] = append(samples[7], ms(at.Sub(prev)))
			prev = at
		}
		if at, found := firstEvent(leafBGP, prev, w.withdrawn, and(rcvd, withdrawn)); found {
			samples[8] = append(samples[8], ms(at.Sub(prev)))
			prev = at
		}
		samples[9] = append(samples[9], ms(w.withdrawn.Sub(prev)))
	}
	out := make([]Stage, len(names))
	for i, n := range names {
		out[i] = Stage{Name: n, Ms: samples[i]}
	}
	return out
}

// routersOnSwitchesOf names the routers linked to a bridge node the given
// node is linked to.
func routersOnSwitchesOf(topo *topology.Lab, node string) map[string]bool {
	peerOf := func(l topology.Link, name string) string {
		if l.A.Node == name {
			return l.B.Node
		}
		return l.A.Node
	}
	out := map[string]bool{}
	for _, l := range topo.LinksOf(node) {
		sw, ok := topo.Node(peerOf(l, node))
		if !ok || sw.Role != topology.RoleBridge {
			continue
		}
		for _, sl := range topo.LinksOf(sw.Name) {
			if r, ok := topo.Node(peerOf(sl, sw.Name)); ok && r.Role == topology.RoleRouter {
				out[r.Name] = true
			}
		}
	}
	return out
}

// keepLogs copies the logs the stages come from into dir.
func keepLogs(dir string, lab *netns.Lab, node string, routers map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{node + "-controller.log": filepath.Join(lab.NodeDir(node), "controller.log")}
	for name, d := range routers {
		files[name+"-"+timedLog] = filepath.Join(d, timedLog)
	}
	for to, from := range files {
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readFileString(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}
