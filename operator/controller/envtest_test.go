package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/internal/testenv"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

const ns = objectstest.Namespace

var (
	apiServer testenv.Lazy
	setupOnce sync.Once
	env       *testenv.Env
	k8s       client.Client
)

func TestMain(m *testing.M) {
	code := m.Run()
	apiServer.Stop()
	os.Exit(code)
}

// needAPIServer starts the shared API server on first use and creates
// the operator's namespace in it.
func needAPIServer(t *testing.T) {
	t.Helper()
	env = apiServer.Get(t)
	var err error
	setupOnce.Do(func() {
		k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
		if err == nil {
			err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
	if err != nil || k8s == nil {
		t.Fatalf("setting up the API server: %v", err)
	}
}

// callLog records the order of datapath and FRR calls across both ports.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(c string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

func (l *callLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func (l *callLog) count(c string) int {
	n := 0
	for _, x := range l.snapshot() {
		if x == c {
			n++
		}
	}
	return n
}

// recordingFRR is the FRR port of the test: it keeps every config pushed
// and refuses those that refuse() rejects, like the reloader would.
//
// It also answers, as the reloader does, which config FRR runs: the last
// one it accepted, until restartEmpty (a router pod restart: FRR empty,
// the reloader a new process that restored nothing) or down (the
// reloader does not answer).
type recordingFRR struct {
	log     *callLog
	mu      sync.Mutex
	configs []string
	refuse  func(string) error
	// lost: FRR runs none of configs; down: the reloader's error.
	lost bool
	down error
}

func (f *recordingFRR) Reload(_ context.Context, cfg string) error {
	f.log.add("reload")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return f.down
	}
	if f.refuse != nil {
		if err := f.refuse(cfg); err != nil {
			return err
		}
	}
	f.configs = append(f.configs, cfg)
	f.lost = false
	return nil
}

// RunningConfigHash reports the hash of the config FRR runs, "" when
// it runs none the reloader applied.
func (f *recordingFRR) RunningConfigHash(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return "", f.down
	}
	if f.lost || len(f.configs) == 0 {
		return "", nil
	}
	return configHash(f.configs[len(f.configs)-1]), nil
}

// restart makes the router lose its config: down, when set, until up.
func (f *recordingFRR) restart(down error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lost, f.down = true, down
}

func (f *recordingFRR) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = nil
}

func (f *recordingFRR) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.configs) == 0 {
		return ""
	}
	return f.configs[len(f.configs)-1]
}

func (f *recordingFRR) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.configs)
}

type recordingDatapath struct {
	log   *callLog
	mu    sync.Mutex
	plans []hostnet.Plan
	// refuse, when set, is Prepare's error for a plan.
	refuse func(hostnet.Plan) error
}

func (d *recordingDatapath) Prepare(_ context.Context, p hostnet.Plan) (hostnet.Changes, error) {
	d.log.add("prepare")
	d.mu.Lock()
	defer d.mu.Unlock()
	d.plans = append(d.plans, p)
	if d.refuse != nil {
		return nil, d.refuse(p)
	}
	return nil, nil
}

func (d *recordingDatapath) Activate(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	d.log.add("activate")
	return nil, nil
}

func (d *recordingDatapath) Reapply(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	d.log.add("reapply")
	return nil, nil
}

type fixedBGP []v1alpha1.BGPNeighborState

func (b fixedBGP) Neighbors(context.Context) ([]v1alpha1.BGPNeighborState, error) { return b, nil }

type router struct {
	name string
	log  *callLog
	frr  *recordingFRR
	dp   *recordingDatapath
}

type managerOptions struct {
	nodes      []string
	aggregator bool
	resync     time.Duration
	refuse     map[string]func(string) error
	// routerNetns names each node's router namespace to watch.
	routerNetns map[string]string
	// refusePrepare and guard are each node's datapath refusal and
	// HostGuard.
	refusePrepare map[string]func(hostnet.Plan) error
	guard         map[string]HostGuard
	// refreshers are each node's PlanFollower.
	refreshers map[string]PlanFollower
	// reconcilers are prepared reconcilers (ports and timeouts set) to run
	// besides those of nodes; startManager fills in their API wiring.
	reconcilers []*NodeReconciler
}

// startManager runs the per-node reconcilers of the given nodes (each
// with its own recording ports, as each node has its own router) and,
// optionally, the status aggregator, in one manager.
func startManager(t *testing.T, o managerOptions) map[string]*router {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:     env.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	resync := o.resync
	if resync == 0 {
		resync = time.Hour
	}
	routers := map[string]*router{}
	var recs []*NodeReconciler
	for _, name := range o.nodes {
		l := &callLog{}
		r := &router{name: name, log: l, frr: &recordingFRR{log: l, refuse: o.refuse[name]}, dp: &recordingDatapath{log: l, refuse: o.refusePrepare[name]}}
		routers[name] = r
		recs = append(recs, &NodeReconciler{
			NodeName: name,
			FRR:      r.frr, Datapath: r.dp, BGP: fixedBGP{{VRF: "default", Neighbor: "192.168.11.1", State: "Established"}, {VRF: "default", Neighbor: "192.168.12.1", State: "Active"}},
			RouterNetns: o.routerNetns[name], RouterPoll: 100 * time.Millisecond,
			Guard: o.guard[name], Refreshers: o.refreshers[name],
		})
	}
	for _, rec := range append(recs, o.reconcilers...) {
		rec.Client, rec.APIReader, rec.Namespace = mgr.GetClient(), mgr.GetAPIReader(), ns
		rec.Recorder = mgr.GetEventRecorder("perouter-controller")
		rec.Resync = resync
		if err := rec.SetupWithManager(mgr); err != nil {
			t.Fatal(err)
		}
	}
	if o.aggregator {
		if err := (&StatusAggregator{Client: mgr.GetClient(), Namespace: ns}).SetupWithManager(mgr); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return routers
}

func createNode(t *testing.T, name string, index int, labels map[string]string) {
	t.Helper()
	l := map[string]string{}
	for k, v := range labels {
		l[k] = v
	}
	if index >= 0 {
		l[v1alpha1.NodeIndexLabel] = fmt.Sprint(index)
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	if err := k8s.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), n)
		_ = k8s.Delete(context.Background(), &v1alpha1.RouterNodeStatus{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	})
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		o.SetResourceVersion("")
		o.SetUID("")
		o.SetCreationTimestamp(metav1.Time{})
		o.SetManagedFields(nil)
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() {
			if err := k8s.Delete(context.Background(), o); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %T %s: %v", o, o.GetName(), err)
			}
		})
	}
}

// labObjects returns the lab Underlay and one L3VNI as API objects.
func labObjects() (*v1alpha1.Underlay, *v1alpha1.L3VNI) {
	s := objectstest.Lab(1)
	return &s.Underlays[0], &s.L3VNIs[0]
}

// eventually fails the test unless cond holds within 30 s; state says
// what was seen last.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	if ok, last := poll(30*time.Second, func() (bool, string) { return cond() }); !ok {
		t.Fatalf("timed out waiting for %s; last state: %s", what, last)
	}
}

// consistently fails the test unless cond holds for all of d.
func consistently(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	if broke, state := poll(d, func() (bool, string) { ok, state := cond(); return !ok, state }); broke {
		t.Fatalf("%s stopped holding: %s", what, state)
	}
}

// poll calls done every 50 ms until it returns true (then poll returns
// true and done's state) or until d has passed.
func poll(d time.Duration, done func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(d)
	for {
		ok, state := done()
		if ok || time.Now().After(deadline) {
			return ok, state
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits until calls stop growing for a whole second and returns
// them.
func settled(t *testing.T, what string, calls func() []string) []string {
	t.Helper()
	last, since := calls(), time.Now()
	eventually(t, what+" settled", func() (bool, string) {
		now := calls()
		if len(now) != len(last) {
			last, since = now, time.Now()
		}
		return time.Since(since) >= time.Second, fmt.Sprint(now)
	})
	return last
}

func getRNS(name string) (*v1alpha1.RouterNodeStatus, error) {
	var rns v1alpha1.RouterNodeStatus
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &rns)
	return &rns, err
}

func waitApplied(t *testing.T, r *router, reloads int) *v1alpha1.RouterNodeStatus {
	t.Helper()
	var rns *v1alpha1.RouterNodeStatus
	eventually(t, fmt.Sprintf("node %s applied after %d reloads", r.name, reloads), func() (bool, string) {
		var err error
		rns, err = getRNS(r.name)
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		ok := c != nil && c.Status == metav1.ConditionTrue && r.frr.count() == reloads &&
			rns.Status.AppliedConfigHash == configHash(r.frr.last())
		return ok, fmt.Sprintf("reloads %d, status %+v", r.frr.count(), rns.Status)
	})
	return rns
}

func TestApplyOrderHashSkipAndResync(t *testing.T) {
	needAPIServer(t)
	createNode(t, "order-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	reloadsBefore := metricValue(t, reloads)
	r := startManager(t, managerOptions{nodes: []string{"order-0"}, resync: 500 * time.Millisecond})["order-0"]

	rns := waitApplied(t, r, 1)
	if got, want := r.log.snapshot()[:3], []string{"prepare", "reload", "activate"}; !slices.Equal(got, want) {
		t.Errorf("first calls = %v, want %v (devices prepared down, FRR reloaded, then activated)", got, want)
	}
	if !strings.Contains(r.frr.last(), "vni 100") || !strings.Contains(r.frr.last(), "router bgp 64514") {
		t.Errorf("pushed config lacks the L3VNI or the underlay:\n%s", r.frr.last())
	}
	if rns.Status.NodeIndex == nil || *rns.Status.NodeIndex != 0 {
		t.Errorf("nodeIndex = %v, want 0", rns.Status.NodeIndex)
	}
	wantObjs := []v1alpha1.ObjectResult{
		{Kind: "L3VNI", Namespace: ns, Name: vni.Name, Generation: 1, Result: v1alpha1.ResultApplied},
		{Kind: "Underlay", Namespace: ns, Name: ul.Name, Generation: 1, Result: v1alpha1.ResultApplied},
	}
	if !slices.Equal(rns.Status.Objects, wantObjs) {
		t.Errorf("objects = %+v, want %+v", rns.Status.Objects, wantObjs)
	}
	if len(rns.Status.BGPNeighbors) != 2 {
		t.Errorf("bgpNeighbors = %+v, want the 2 sessions the reader reports", rns.Status.BGPNeighbors)
	}

	// Resync and unrelated changes re-apply the datapath but never reload
	// an unchanged config.
	before := r.log.count("reapply")
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), vni); err != nil {
		t.Fatal(err)
	}
	vni.Annotations = map[string]string{"touched": "yes"}
	if err := k8s.Update(context.Background(), vni); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three more datapath passes", func() (bool, string) {
		return r.log.count("reapply") >= before+3, fmt.Sprint(r.log.snapshot())
	})
	if n := r.log.count("reload"); n != 1 {
		t.Errorf("%d reloads after resyncs of an unchanged config, want 1; calls %v", n, r.log.snapshot())
	}
	metrics := map[string]float64{
		"frr_reloads_total (delta)": metricValue(t, reloads) - reloadsBefore,
		"vnis_applied{type=l3}":     metricValue(t, vnisApplied.WithLabelValues("l3")),
		"bgp_sessions{state=up}":    metricValue(t, bgpSessions.WithLabelValues("up")),
		"bgp_sessions{state=down}":  metricValue(t, bgpSessions.WithLabelValues("down")),
	}
	want := map[string]float64{"frr_reloads_total (delta)": 1, "vnis_applied{type=l3}": 1, "bgp_sessions{state=up}": 1, "bgp_sessions{state=down}": 1}
	if !maps.Equal(metrics, want) {
		t.Errorf("metrics = %v, want %v", metrics, want)
	}
}

func TestObjectChangeReloads(t *testing.T) {
	needAPIServer(t)
	createNode(t, "change-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	r := startManager(t, managerOptions{nodes: []string{"change-0"}})["change-0"]
	waitApplied(t, r, 1)

	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), vni); err != nil {
		t.Fatal(err)
	}
	vni.Spec.VNI = 150
	if err := k8s.Update(context.Background(), vni); err != nil {
		t.Fatal(err)
	}
	rns := waitApplied(t, r, 2)
	if !strings.Contains(r.frr.last(), "vni 150") || strings.Contains(r.frr.last(), "vni 100\n") {
		t.Errorf("config after the change does not carry VNI 150 only:\n%s", r.frr.last())
	}
	calls := r.log.snapshot()
	if got := calls[len(calls)-3:]; !slices.Equal(got, []string{"prepare", "reload", "activate"}) {
		t.Errorf("calls of the change = %v, want prepare, reload, activate", got)
	}
	if i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Kind == "L3VNI" }); i < 0 || rns.Status.Objects[i].Generation != 2 {
		t.Errorf("L3VNI result does not carry generation 2: %+v", rns.Status.Objects)
	}
}

// recordingFollower records the plans a PlanFollower is given.
type recordingFollower struct {
	mu    sync.Mutex
	plans []hostnet.Plan
}

func (f *recordingFollower) Sync(p hostnet.Plan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans = append(f.plans, p)
}

func (f *recordingFollower) lastTargets() []hostnet.RefreshTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.plans) == 0 {
		return nil
	}
	return hostnet.RefreshTargets(f.plans[len(f.plans)-1])
}

// TestRefreshersFollowAppliedPlan: the neighbour refreshers are told
// each applied plan, so one runs for a routed L2VNI's bridge while the
// L2VNI is there, and stops when it goes.
func TestRefreshersFollowAppliedPlan(t *testing.T) {
	needAPIServer(t)
	createNode(t, "refresh-0", 0, nil)
	ul, vni := labObjects()
	routed := &v1alpha1.L2VNI{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "routed-segment"},
		Spec: v1alpha1.L2VNISpec{VNI: 310, GatewayIPs: []string{"192.170.1.1/24"}, RoutingDomain: &v1alpha1.RoutingDomain{
			Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: vni.Name}}},
	}
	create(t, ul, vni, routed)
	f := &recordingFollower{}
	r := startManager(t, managerOptions{nodes: []string{"refresh-0"}, refreshers: map[string]PlanFollower{"refresh-0": f}})["refresh-0"]
	waitApplied(t, r, 1)
	want := []hostnet.RefreshTarget{{Bridge: "br-pe-310", IPv4: true}}
	eventually(t, "a refresher for the routed L2VNI's bridge", func() (bool, string) {
		got := f.lastTargets()
		return slices.Equal(got, want), fmt.Sprintf("%+v", got)
	})
	if err := k8s.Delete(context.Background(), routed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no refresher once the L2VNI is deleted", func() (bool, string) {
		got := f.lastTargets()
		return len(got) == 0, fmt.Sprintf("%+v", got)
	})
}

func TestBadObjectSkippedAndReported(t *testing.T) {
	needAPIServer(t)
	createNode(t, "bad-0", 0, nil)
	ul, vni := labObjects()
	// The schema admits it (a CIDR); validate refuses a gateway on the
	// IPv4 broadcast address.
	bad := &v1alpha1.L2VNI{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateway-on-broadcast"},
		Spec: v1alpha1.L2VNISpec{VNI: 300, GatewayIPs: []string{"192.170.1.255/24"}, RoutingDomain: &v1alpha1.RoutingDomain{
			Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: vni.Name}}},
	}
	create(t, ul, vni, bad)
	r := startManager(t, managerOptions{nodes: []string{"bad-0"}, aggregator: true})["bad-0"]
	rns := waitApplied(t, r, 1)

	if strings.Contains(r.frr.last(), "vni 300") {
		t.Errorf("the invalid L2VNI reached the config:\n%s", r.frr.last())
	}
	i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Name == bad.Name })
	if i < 0 || rns.Status.Objects[i].Result != v1alpha1.ResultSkipped || !strings.Contains(rns.Status.Objects[i].Message, "spec.gatewayIPs[0]") {
		t.Errorf("L2VNI result = %+v, want Skipped naming spec.gatewayIPs[0]", rns.Status.Objects)
	}
	if c := meta.FindStatusCondition(rns.Status.Conditions, ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Degraded condition = %+v, want True", c)
	}

	eventually(t, "L2VNI status: failed on the node, invalid", func() (bool, string) {
		var got v1alpha1.L2VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(bad), &got); err != nil {
			return false, err.Error()
		}
		valid := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionValid)
		st := got.Status
		return st.SelectedNodes == 1 && st.FailedNodes == 1 && st.AppliedNodes == 0 && slices.Equal(st.FailedNodeNames, []string{"bad-0"}) &&
			valid != nil && valid.Status == metav1.ConditionFalse && strings.Contains(valid.Message, "spec.gatewayIPs[0]"), fmt.Sprintf("%+v", st)
	})
	eventually(t, "L3VNI status: applied on the node", func() (bool, string) {
		var got v1alpha1.L3VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), &got); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionApplied)
		return got.Status.AppliedNodes == 1 && c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", got.Status)
	})
	requireEvent(t, "L2VNI", bad.Name, EventObjectSkipped)
}

func TestInvalidUnderlayKeepsRunningConfig(t *testing.T) {
	needAPIServer(t)
	createNode(t, "keep-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	r := startManager(t, managerOptions{nodes: []string{"keep-0"}})["keep-0"]
	applied := waitApplied(t, r, 1)

	second := ul.DeepCopy()
	second.Name = "second-underlay"
	second.Spec.ASN = 65000
	create(t, second)
	eventually(t, "status says the running config is kept", func() (bool, string) {
		rns, err := getRNS("keep-0")
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		return c != nil && c.Reason == ReasonInvalidConfig && len(rns.Status.Errors) == 1 &&
			strings.Contains(rns.Status.Errors[0], "running configuration is kept") &&
			rns.Status.AppliedConfigHash == applied.Status.AppliedConfigHash, fmt.Sprintf("%+v", rns.Status)
	})
	if n := r.frr.count(); n != 1 {
		t.Errorf("%d reloads with two Underlays selecting the node, want 1 (keep the running config)", n)
	}

	// Removing the duplicate brings back the same config: nothing to reload.
	if err := k8s.Delete(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, r, 1)
}

func TestSecretPasswordChangeReloads(t *testing.T) {
	needAPIServer(t)
	createNode(t, "secret-0", 0, nil)
	ul, _ := labObjects()
	ul.Spec.Neighbors[0].PasswordSecret = "leaf-password"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leaf-password"}, StringData: map[string]string{"password": "first-secret"}}
	create(t, secret, ul)
	r := startManager(t, managerOptions{nodes: []string{"secret-0"}})["secret-0"]
	waitApplied(t, r, 1)
	if !strings.Contains(r.frr.last(), "password first-secret") {
		t.Fatalf("config lacks the Secret's password:\n%s", r.frr.last())
	}

	secret.StringData = map[string]string{"password": "second-secret"}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, r, 2)
	if !strings.Contains(r.frr.last(), "password second-secret") {
		t.Errorf("config after the Secret changed lacks the new password:\n%s", r.frr.last())
	}
}

func TestNodeWithoutIndexWaits(t *testing.T) {
	needAPIServer(t)
	createNode(t, "noindex-0", -1, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	r := startManager(t, managerOptions{nodes: []string{"noindex-0"}})["noindex-0"]
	eventually(t, "status says the node waits for its index", func() (bool, string) {
		rns, err := getRNS("noindex-0")
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		return c != nil && c.Reason == ReasonNoNodeIndex, fmt.Sprintf("%+v", rns.Status)
	})
	if n := len(r.log.snapshot()); n != 0 {
		t.Errorf("calls before the node had an index: %v", r.log.snapshot())
	}
	var node corev1.Node
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "noindex-0"}, &node); err != nil {
		t.Fatal(err)
	}
	node.Labels = map[string]string{v1alpha1.NodeIndexLabel: "3"}
	if err := k8s.Update(context.Background(), &node); err != nil {
		t.Fatal(err)
	}
	rns := waitApplied(t, r, 1)
	if *rns.Status.NodeIndex != 3 || !strings.Contains(r.frr.last(), "100.65.0.3") {
		t.Errorf("index 3 not applied (VTEP 100.65.0.3): index %v\n%s", rns.Status.NodeIndex, r.frr.last())
	}
}

func TestStatusCountsPerGeneration(t *testing.T) {
	needAPIServer(t)
	pe := map[string]string{"perouter-test/pe": "true"}
	createNode(t, "gen-0", 0, pe)
	createNode(t, "gen-1", 1, pe)
	createNode(t, "gen-2", 2, nil) // not selected by the L3VNI
	ul, vni := labObjects()
	vni.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: pe}
	create(t, ul, vni)
	refuse150 := func(cfg string) error {
		if strings.Contains(cfg, "vni 150") {
			return errors.New("line 42: % Unknown command")
		}
		return nil
	}
	startManager(t, managerOptions{nodes: []string{"gen-0", "gen-1", "gen-2"}, aggregator: true,
		refuse: map[string]func(string) error{"gen-1": refuse150}})

	waitVNIStatus := func(gen int64, selected, applied, failed int32, failedNames []string, reason string) {
		t.Helper()
		eventually(t, fmt.Sprintf("L3VNI generation %d: %d/%d applied, %d failed", gen, applied, selected, failed), func() (bool, string) {
			var got v1alpha1.L3VNI
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), &got); err != nil {
				return false, err.Error()
			}
			st := got.Status
			c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionApplied)
			return st.ObservedGeneration == gen && st.SelectedNodes == selected && st.AppliedNodes == applied && st.FailedNodes == failed &&
				slices.Equal(st.FailedNodeNames, failedNames) && c != nil && c.Reason == reason && c.ObservedGeneration == gen, fmt.Sprintf("%+v", st)
		})
	}
	waitVNIStatus(1, 2, 2, 0, nil, ReasonAllApplied)
	eventually(t, "Underlay applied on all 3 nodes", func() (bool, string) {
		var got v1alpha1.Underlay
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ul), &got); err != nil {
			return false, err.Error()
		}
		return got.Status.SelectedNodes == 3 && got.Status.AppliedNodes == 3, fmt.Sprintf("%+v", got.Status)
	})

	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), vni); err != nil {
		t.Fatal(err)
	}
	vni.Spec.VNI = 150
	if err := k8s.Update(context.Background(), vni); err != nil {
		t.Fatal(err)
	}
	waitVNIStatus(2, 2, 1, 1, []string{"gen-1"}, ReasonFailed)
	requireEvent(t, "Node", "gen-1", EventReloadFailed)
}

func requireEvent(t *testing.T, kind, name, reason string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	eventually(t, "event "+reason+" on "+kind+" "+name, func() (bool, string) {
		evs, err := cs.EventsV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
}

// metricValue reads a counter or gauge the way the metrics endpoint would.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue() + out.GetGauge().GetValue()
}

// TestUnchangedInputsSkipBuild checks the fast path: events that change
// no input of the node's config (a label on an object, the aggregator's
// status writes, an unreferenced Secret, a Node label no selector reads)
// neither build, render nor reload; a Node label a selector reads does.
func TestUnchangedInputsSkipBuild(t *testing.T) {
	needAPIServer(t)
	createNode(t, "fast-0", 0, map[string]string{"rack": "a"})
	lab := objectstest.Lab(2)
	ul, vni, other := &lab.Underlays[0], &lab.L3VNIs[0], &lab.L3VNIs[1]
	other.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
	create(t, ul, vni, other)
	r := startManager(t, managerOptions{nodes: []string{"fast-0"}, aggregator: true})["fast-0"]
	waitApplied(t, r, 1)
	if strings.Contains(r.frr.last(), fmt.Sprintf("vni %d", other.Spec.VNI)) {
		t.Fatalf("the L3VNI selecting rack=b reached node fast-0 (rack=a):\n%s", r.frr.last())
	}
	// The aggregator's first status writes on both L3VNIs are unrelated
	// updates too; wait for them so the counts below start from rest.
	eventually(t, "aggregator status on the unselected L3VNI", func() (bool, string) {
		var got v1alpha1.L3VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(other), &got); err != nil {
			return false, err.Error()
		}
		return got.Status.ObservedGeneration == got.Generation && len(got.Status.Conditions) > 0, fmt.Sprintf("%+v", got.Status)
	})
	buildsBefore := metricValue(t, configBuilds)

	ctx := context.Background()
	unrelated := []struct {
		name   string
		change func() error
		// wakes says whether the change reaches the reconciler at all.
		wakes bool
	}{
		{name: "annotation on the unselected L3VNI", wakes: true, change: func() error {
			var got v1alpha1.L3VNI
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(other), &got); err != nil {
				return err
			}
			got.Annotations = map[string]string{"touched": "yes"}
			return k8s.Update(ctx, &got)
		}},
		{name: "label on the selected L3VNI", wakes: true, change: func() error {
			var got v1alpha1.L3VNI
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(vni), &got); err != nil {
				return err
			}
			got.Labels = map[string]string{"team": "blue"}
			return k8s.Update(ctx, &got)
		}},
		{name: "Node label no selector reads", wakes: true, change: func() error {
			var n corev1.Node
			if err := k8s.Get(ctx, client.ObjectKey{Name: "fast-0"}, &n); err != nil {
				return err
			}
			n.Labels["unrelated"] = "yes"
			return k8s.Update(ctx, &n)
		}},
		{name: "unreferenced Secret", wakes: false, change: func() error {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated-secret"}, StringData: map[string]string{"k": "v"}}
			if err := k8s.Create(ctx, s); err != nil {
				return err
			}
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), s) })
			return nil
		}},
	}
	for _, u := range unrelated {
		skipsBefore := metricValue(t, unchangedReconciles)
		if err := u.change(); err != nil {
			t.Fatalf("%s: %v", u.name, err)
		}
		noBuild := func() (bool, string) {
			got := metricValue(t, configBuilds) - buildsBefore
			return got == 0, fmt.Sprintf("after %s: %v config builds, want 0", u.name, got)
		}
		if u.wakes {
			eventually(t, u.name+": a fast-path reconcile", func() (bool, string) {
				got := metricValue(t, unchangedReconciles)
				return got > skipsBefore, fmt.Sprintf("unchanged reconciles %v, before %v", got, skipsBefore)
			})
		} else {
			// Nothing to wait for: a reconcile it caused would come
			// within this time.
			consistently(t, u.name+": no config build", 500*time.Millisecond, noBuild)
		}
		if ok, msg := noBuild(); !ok {
			t.Error(msg)
		}
	}
	if n := r.frr.count(); n != 1 {
		t.Errorf("%d reloads after unrelated events, want 1", n)
	}

	// rack=b makes the other L3VNI select the node: a real input change.
	var n corev1.Node
	if err := k8s.Get(ctx, client.ObjectKey{Name: "fast-0"}, &n); err != nil {
		t.Fatal(err)
	}
	n.Labels["rack"] = "b"
	if err := k8s.Update(ctx, &n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reload with the L3VNI selecting rack=b", func() (bool, string) {
		return r.frr.count() == 2 && strings.Contains(r.frr.last(), fmt.Sprintf("vni %d", other.Spec.VNI)), fmt.Sprintf("%d reloads", r.frr.count())
	})
	if got := metricValue(t, configBuilds) - buildsBefore; got < 1 {
		t.Errorf("config builds after a selecting label changed = %v, want >= 1", got)
	}
}

func TestReplacedRouterNamespaceReappliesAtOnce(t *testing.T) {
	name, ipNetns := addRouterNetns(t, "netns")
	// An hour's resync: only the namespace watch can explain a new pass.
	r, _ := appliedInRouterNetns(t, "netns-0", name)
	first := r.frr.last()
	onePass(t, r, "while the namespace stays", 500*time.Millisecond)

	replacedBefore := metricValue(t, routerNetnsReplaced)
	ipNetns("del", name)
	ipNetns("add", name)
	eventually(t, "the whole config applied again in the new namespace", func() (bool, string) {
		calls := r.log.snapshot()
		return len(calls) >= 6, fmt.Sprint(calls)
	})
	if r.frr.last() != first {
		t.Errorf("config pushed again differs from the first:\n%s", r.frr.last())
	}
	// A poll may fall between `ip netns del` and `ip netns add` and see no
	// namespace at all: that is a replacement too (this fake datapath does
	// not create the namespace as the real one does), and the new
	// namespace then makes a second one. Either way the calls must settle.
	// Such a pass can also end right after Prepare: this fake does not
	// create the missing namespace, so reading its identity after Prepare
	// fails ("router namespace unreadable after prepare") and the pass is
	// retried once the new namespace is there. A CI run saw exactly that:
	// [prepare reload activate prepare prepare reload activate].
	calls := settled(t, "calls after the namespace was replaced", r.log.snapshot)
	var whole []string
	for i, c := range calls {
		if c == "prepare" && i+1 < len(calls) && calls[i+1] == "prepare" {
			continue // a pass that ended after Prepare
		}
		whole = append(whole, c)
	}
	pass := []string{"prepare", "reload", "activate"}
	if n := len(whole) / 3; len(whole)%3 != 0 || n < 2 || n > 3 || !slices.Equal(whole, slices.Repeat(pass, n)) {
		t.Errorf("calls after the namespace was replaced: %v; want 2 or 3 whole passes (a pass may end after a Prepare)", calls)
	}
	calls = whole
	if got := metricValue(t, routerNetnsReplaced) - replacedBefore; got != float64(len(calls)/3-1) {
		t.Errorf("router_netns_replaced_total delta = %v, want %d", got, len(calls)/3-1)
	}
}

// onePass fails the test unless the router's calls stay one whole pass
// for d.
func onePass(t *testing.T, r *router, while string, d time.Duration) {
	t.Helper()
	consistently(t, "one pass "+while, d, func() (bool, string) {
		calls := r.log.snapshot()
		return slices.Equal(calls, []string{"prepare", "reload", "activate"}), fmt.Sprint(calls)
	})
}

// appliedInRouterNetns starts the reconciler of node with the lab
// objects and the router namespace netns, and waits for its first pass.
func appliedInRouterNetns(t *testing.T, node, netns string) (*router, *v1alpha1.L3VNI) {
	t.Helper()
	createNode(t, node, 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	r := startManager(t, managerOptions{nodes: []string{node}, routerNetns: map[string]string{node: netns}})[node]
	waitApplied(t, r, 1)
	return r, vni
}

// addRouterNetns creates a router namespace for the test, deleted at its
// end, and returns its name and a function that runs `ip netns` args.
func addRouterNetns(t *testing.T, role string) (string, func(args ...string)) {
	t.Helper()
	needAPIServer(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (CI runs as root)")
	}
	name := fmt.Sprintf("ctrl-%s-%d", role, os.Getpid())
	ipNetns := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip netns %v: %v: %s", args, err, out)
		}
	}
	ipNetns("add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name, ipNetns
}

// TestUnreadableRouterNamespaceIsNoReplacement: while the router
// namespace's identity cannot be read (here a file is bind-mounted over
// /run/netns/<name>, so setns fails, and the namespace itself stays), the
// reconciler must not take it for a replaced namespace and push
// everything again; the failed reads are counted.
func TestUnreadableRouterNamespaceIsNoReplacement(t *testing.T) {
	name, _ := addRouterNetns(t, "unreadable")
	r, vni := appliedInRouterNetns(t, "unreadable-0", name)
	replacedBefore := metricValue(t, routerNetnsReplaced)
	readErrorsBefore := metricValue(t, routerNetnsReadErrors)

	file := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(file, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("/run/netns", name)
	if out, err := exec.Command("mount", "--bind", file, path).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s %s: %v: %s", file, path, err, out)
	}
	lifted := false
	lift := func() {
		if !lifted {
			lifted = true
			if out, err := exec.Command("umount", path).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", path, err, out)
			}
		}
	}
	t.Cleanup(lift)
	// An input event makes the reconciler read the identity too, not only
	// the watch.
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vni), vni); err != nil {
		t.Fatal(err)
	}
	vni.Annotations = map[string]string{"touched": "yes"}
	if err := k8s.Update(context.Background(), vni); err != nil {
		t.Fatal(err)
	}
	onePass(t, r, "while the namespace is unreadable", 2*time.Second)
	lift()
	onePass(t, r, "once the same namespace is readable again", time.Second)
	if got := metricValue(t, routerNetnsReplaced) - replacedBefore; got != 0 {
		t.Errorf("router_netns_replaced_total delta = %v, want 0", got)
	}
	if got := metricValue(t, routerNetnsReadErrors) - readErrorsBefore; got < 1 {
		t.Errorf("router_netns_read_errors_total delta = %v, want >= 1", got)
	}
}

// A router pod restart keeps the router namespace and changes no input:
// only the router's own answer tells that FRR lost its config. The
// controller must push again, and say Applied=False while it cannot.
func TestRouterThatLostItsConfigGetsItAgain(t *testing.T) {
	needAPIServer(t)
	createNode(t, "lost-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	// An hour's resync: only the router's answer can explain a new push.
	r := startManager(t, managerOptions{nodes: []string{"lost-0"}})["lost-0"]
	waitApplied(t, r, 1)
	onePass(t, r, "while FRR keeps its config", 500*time.Millisecond)
	pushed := r.frr.last()

	tests := []struct {
		name string
		down error
	}{
		{name: "restarted router answers at once without the config"},
		{name: "reloader down for a while, then back without the config", down: errors.New("reloader at /run/perouter/reloader.sock: dial unix: connect: connection refused")},
	}
	for i, tc := range tests {
		r.frr.restart(tc.down)
		if tc.down != nil {
			eventually(t, tc.name+": Applied=False while the router does not answer", func() (bool, string) {
				rns, err := getRNS(r.name)
				if err != nil {
					return false, err.Error()
				}
				c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
				return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonReloadFailed, fmt.Sprintf("%+v", rns.Status.Conditions)
			})
			r.frr.up()
		}
		rns := waitApplied(t, r, i+2)
		if r.frr.last() != pushed {
			t.Errorf("%s: config pushed again differs from the first:\n%s", tc.name, r.frr.last())
		}
		if rns.Status.AppliedConfigHash != configHash(pushed) {
			t.Errorf("%s: appliedConfigHash %s, want %s", tc.name, rns.Status.AppliedConfigHash, configHash(pushed))
		}
		// Once FRR runs it again, nothing more is pushed.
		consistently(t, tc.name+": one push", time.Second, func() (bool, string) {
			return r.frr.count() == i+2, fmt.Sprintf("%d reloads", r.frr.count())
		})
	}
}

// fixedGuard is a HostGuard that reports the same NICs whatever the
// addresses, and records the addresses it was asked about.
type fixedGuard struct {
	mu    sync.Mutex
	asked [][]netip.Addr
	list  []hostnet.ProtectedInterface
}

func (g *fixedGuard) ProtectedInterfaces(_ context.Context, addrs []netip.Addr) ([]hostnet.ProtectedInterface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, addrs)
	return g.list, nil
}

// An Underlay naming the node's own NIC: the datapath gets the Node's
// addresses in the plan and refuses the NIC; the refusal reaches the
// Underlay's result on the node, and the node publishes its protected
// NICs for the webhook.
func TestOwnNICRefusalReachesStatus(t *testing.T) {
	needAPIServer(t)
	createNode(t, "own-0", 0, nil)
	var node corev1.Node
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "own-0"}, &node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "own-0"},
		{Type: corev1.NodeInternalIP, Address: "192.168.50.7"},
	}
	if err := k8s.Status().Update(context.Background(), &node); err != nil {
		t.Fatal(err)
	}
	ul, vni := labObjects()
	ul.Spec.Interfaces = []v1alpha1.UnderlayInterface{{NetworkDevice: &v1alpha1.NetworkDevice{InterfaceName: "eth0"}}}
	create(t, ul, vni)
	nodeIP := netip.MustParseAddr("192.168.50.7")
	reason := "it holds the node's own address 192.168.50.7 (Node status.addresses)"
	guard := &fixedGuard{list: []hostnet.ProtectedInterface{{Name: "eth0", Reason: reason}}}
	startManager(t, managerOptions{
		nodes: []string{"own-0"},
		refusePrepare: map[string]func(hostnet.Plan) error{"own-0": func(p hostnet.Plan) error {
			if !slices.Contains(p.NodeAddresses, nodeIP) || !slices.Contains(p.UnderlayInterfaces, "eth0") {
				return nil
			}
			return errors.Join(&hostnet.UnderlayError{Interface: "eth0", Err: errors.New("underlay interface eth0 (Underlay spec.interfaces): not moved into the router netns: " + reason)})
		}},
		guard: map[string]HostGuard{"own-0": guard},
	})
	eventually(t, "the refusal in the Underlay's result and the protected NIC published", func() (bool, string) {
		rns, err := getRNS("own-0")
		if err != nil {
			return false, err.Error()
		}
		wantProtected := []v1alpha1.ProtectedInterface{{Name: "eth0", Reason: reason}}
		i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Kind == "Underlay" })
		ok := slices.Equal(rns.Status.ProtectedInterfaces, wantProtected) && i >= 0 &&
			rns.Status.Objects[i].Result == v1alpha1.ResultFailed &&
			strings.Contains(rns.Status.Objects[i].Message, "underlay interface eth0 (Underlay spec.interfaces)") &&
			strings.Contains(rns.Status.Objects[i].Message, "192.168.50.7")
		return ok, fmt.Sprintf("%+v", rns.Status)
	})
	guard.mu.Lock()
	defer guard.mu.Unlock()
	if len(guard.asked) == 0 || !slices.Equal(guard.asked[0], []netip.Addr{nodeIP}) {
		t.Errorf("HostGuard asked about %v, want the Node's InternalIP %s", guard.asked, nodeIP)
	}
}

// A RawFRRConfig in the operator's namespace reaches the node's config
// after perouter's own and is counted applied; one in another namespace
// (created while no webhook ran) is skipped and reported invalid, naming
// metadata.namespace, and its text never reaches FRR.
func TestRawFRRConfigAppliedOnlyFromOwnNamespace(t *testing.T) {
	needAPIServer(t)
	createNode(t, "raw-0", 0, nil)
	ul, vni := labObjects()
	own := &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "raw-own"},
		Spec: v1alpha1.RawFRRConfigSpec{RawConfig: "ip prefix-list RAW-OWN seq 5 permit 10.99.0.0/16\n"}}
	elsewhere := &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "raw-elsewhere"},
		Spec: v1alpha1.RawFRRConfigSpec{RawConfig: "ip prefix-list RAW-ELSEWHERE seq 5 permit 10.98.0.0/16\n"}}
	create(t, ul, vni, own, elsewhere)
	r := startManager(t, managerOptions{nodes: []string{"raw-0"}, aggregator: true})["raw-0"]
	rns := waitApplied(t, r, 1)

	cfg := r.frr.last()
	if i, j := strings.Index(cfg, "router bgp"), strings.Index(cfg, "ip prefix-list RAW-OWN"); j < 0 || j < i {
		t.Errorf("the RawFRRConfig is not in the config after perouter's own:\n%s", cfg)
	}
	if strings.Contains(cfg, "RAW-ELSEWHERE") {
		t.Errorf("a RawFRRConfig outside %s reached the config:\n%s", ns, cfg)
	}
	i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Name == elsewhere.Name })
	if i < 0 || rns.Status.Objects[i].Result != v1alpha1.ResultSkipped || !strings.Contains(rns.Status.Objects[i].Message, "metadata.namespace") {
		t.Errorf("results = %+v, want %s Skipped naming metadata.namespace", rns.Status.Objects, elsewhere.Name)
	}
	eventually(t, "RawFRRConfig statuses: own applied, the other invalid", func() (bool, string) {
		var got, other v1alpha1.RawFRRConfig
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(own), &got); err != nil {
			return false, err.Error()
		}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(elsewhere), &other); err != nil {
			return false, err.Error()
		}
		valid := meta.FindStatusCondition(other.Status.Conditions, v1alpha1.ConditionValid)
		return got.Status.SelectedNodes == 1 && got.Status.AppliedNodes == 1 &&
				valid != nil && valid.Status == metav1.ConditionFalse && strings.Contains(valid.Message, "metadata.namespace"),
			fmt.Sprintf("own %+v, elsewhere %+v", got.Status, other.Status)
	})
}
