package labeler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/internal/testenv"
)

var (
	apiServer testenv.Lazy
	env       *testenv.Env
)

func TestMain(m *testing.M) {
	code := m.Run()
	apiServer.Stop()
	os.Exit(code)
}

// needAPIServer starts the shared API server on first use.
func needAPIServer(t *testing.T) {
	t.Helper()
	env = apiServer.Get(t)
}

// startLabeler runs a labeler manager until the returned stop is called;
// stop waits until the manager has really exited, as a restart would.
func startLabeler(t *testing.T, maxIndex int) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Each restart registers the controller name again.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	r := &Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("perouter-labeler"), MaxIndex: maxIndex}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("setting up labeler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("labeler manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newNode(name string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func deleteAllNodes(t *testing.T, c client.Client) {
	t.Helper()
	if err := c.DeleteAllOf(context.Background(), &corev1.Node{}); err != nil {
		t.Fatalf("deleting nodes: %v", err)
	}
	waitFor(t, 30*time.Second, "all nodes gone", func() (bool, string) {
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			return false, err.Error()
		}
		return len(nodes.Items) == 0, fmt.Sprintf("%d nodes left", len(nodes.Items))
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	gomega.NewGomega(func(string, ...int) {
		t.Helper()
		t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
	}).Eventually(func() bool {
		ok, state := cond()
		last = state
		return ok
	}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(gomega.BeTrue())
}

// indexMonitor watches Nodes and checks, at every revision the API server
// emits, that no two nodes share an index and that no node's index ever
// changes once the labeler gave it one.
type indexMonitor struct {
	mu sync.Mutex
	// current label per live node UID, planted duplicates excluded.
	labels map[types.UID]string
	// raw is the last label seen per live node UID.
	raw   map[types.UID]string
	names map[types.UID]string
	// stable is the first index the labeler gave each node.
	stable map[types.UID]string
	// planted nodes were created carrying a duplicate label on purpose;
	// they are exempt until the labeler replaces it.
	planted    map[string]string
	violations []string
	seen       map[types.UID]bool
}

func watchIndices(t *testing.T, ctx context.Context, cs kubernetes.Interface) *indexMonitor {
	t.Helper()
	m := &indexMonitor{labels: map[types.UID]string{}, raw: map[types.UID]string{}, names: map[types.UID]string{}, stable: map[types.UID]string{},
		planted: map[string]string{}, seen: map[types.UID]bool{}}
	w, err := cs.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watching nodes: %v", err)
	}
	go func() {
		for ev := range w.ResultChan() {
			node, ok := ev.Object.(*corev1.Node)
			if !ok {
				continue
			}
			m.observe(ev.Type, node)
		}
	}()
	t.Cleanup(w.Stop)
	return m
}

func (m *indexMonitor) plant(name, label string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.planted[name] = label
}

func (m *indexMonitor) observe(typ watch.EventType, node *corev1.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid := node.UID
	m.seen[uid] = true
	if typ == watch.Deleted {
		delete(m.raw, uid)
		delete(m.labels, uid)
		delete(m.names, uid)
		return
	}
	label, has := node.Labels[v1alpha1.NodeIndexLabel]
	m.raw[uid] = label
	exempt := false
	if p, ok := m.planted[node.Name]; ok && has && label == p && m.stable[uid] == "" {
		exempt = true
	}
	if has && !exempt {
		if first, ok := m.stable[uid]; ok && first != label {
			m.violations = append(m.violations, fmt.Sprintf("rv %s: node %s (uid %s) index changed from %s to %s", node.ResourceVersion, node.Name, uid, first, label))
		} else if !ok {
			m.stable[uid] = label
		}
	}
	if !has || exempt {
		delete(m.labels, uid)
	} else {
		m.labels[uid] = label
	}
	m.names[uid] = node.Name
	holders := map[string]types.UID{}
	for u, l := range m.labels {
		if other, dup := holders[l]; dup {
			m.violations = append(m.violations, fmt.Sprintf("rv %s: index %s held by both %s and %s", node.ResourceVersion, l, m.names[other], m.names[u]))
		}
		holders[l] = u
	}
}

func TestLabelerChurn(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	t.Cleanup(func() { deleteAllNodes(t, c) })
	mon := watchIndices(t, ctx, cs)
	rng := rand.New(rand.NewPCG(4, 2))
	start := time.Now()

	stopFirst := startLabeler(t, Unlimited)

	createMany := func(names []string) {
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Go(func() {
				if err := c.Create(ctx, newNode(name, nil)); err != nil {
					t.Errorf("creating node %s: %v", name, err)
				}
			})
		}
		wg.Wait()
	}
	deleteMany := func(names []string) {
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Go(func() {
				if err := c.Delete(ctx, newNode(name, nil)); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting node %s: %v", name, err)
				}
			})
		}
		wg.Wait()
	}
	nodeName := func(i int) string { return fmt.Sprintf("node-%03d", i) }

	// Phase 1: 60 nodes join at once.
	var first []string
	for i := range 60 {
		first = append(first, nodeName(i))
	}
	createMany(first)
	time.Sleep(200 * time.Millisecond)

	// Phase 2: while the labeler is busy, 15 leave and 25 join.
	perm := rng.Perm(60)
	var leaving []string
	for _, i := range perm[:15] {
		leaving = append(leaving, nodeName(i))
	}
	var joining []string
	for i := 60; i < 85; i++ {
		joining = append(joining, nodeName(i))
	}
	var wg sync.WaitGroup
	wg.Go(func() { deleteMany(leaving) })
	wg.Go(func() { createMany(joining) })
	wg.Wait()

	// The labeler restarts in the middle of the churn.
	stopFirst()
	// Same names, new Node objects (new UIDs).
	rejoin := append([]string(nil), leaving[:10]...)
	var late []string
	for i := 85; i < 100; i++ {
		late = append(late, nodeName(i))
	}
	createMany(rejoin)
	startLabeler(t, Unlimited)
	createMany(late)
	deleteMany([]string{nodeName(85), nodeName(86), first[perm[20]]})

	waitAllLabelled(t, c)

	// Phase 3: "restored" Nodes arrive carrying an index a live node
	// already holds; the older node keeps it.
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		victim := nodes.Items[i*7]
		name := fmt.Sprintf("restored-%d", i)
		mon.plant(name, victim.Labels[v1alpha1.NodeIndexLabel])
		if err := c.Create(ctx, newNode(name, map[string]string{v1alpha1.NodeIndexLabel: victim.Labels[v1alpha1.NodeIndexLabel]})); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	waitAllLabelled(t, c)
	t.Logf("churn converged in %v", time.Since(start).Round(time.Millisecond))

	// The monitor must have seen the final state before its verdict counts.
	waitFor(t, 10*time.Second, "the watch to catch up", func() (bool, string) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			return false, err.Error()
		}
		mon.mu.Lock()
		defer mon.mu.Unlock()
		for _, n := range nodes.Items {
			if l, seen := mon.raw[n.UID]; !seen || l != n.Labels[v1alpha1.NodeIndexLabel] {
				return false, "node " + n.Name + " not yet seen with its final label"
			}
		}
		return len(mon.raw) == len(nodes.Items), fmt.Sprintf("%d nodes in the watch, %d in the API", len(mon.raw), len(nodes.Items))
	})

	mon.mu.Lock()
	defer mon.mu.Unlock()
	for _, v := range mon.violations {
		t.Error(v)
	}
	if len(mon.seen) < 100 {
		t.Errorf("churn saw %d distinct Node objects, want at least 100", len(mon.seen))
	}
	for i := range 3 {
		name := fmt.Sprintf("restored-%d", i)
		var n corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
			t.Fatal(err)
		}
		if n.Labels[v1alpha1.NodeIndexLabel] == mon.planted[name] {
			t.Errorf("restored node %s kept the duplicate index %s", name, mon.planted[name])
		}
		requireEvent(t, cs, name, ReasonIndexReassigned)
	}
}

// waitAllLabelled waits until every node has a distinct valid index.
func waitAllLabelled(t *testing.T, c client.Client) {
	t.Helper()
	waitFor(t, 60*time.Second, "every node labelled with a distinct index", func() (bool, string) {
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			return false, err.Error()
		}
		seen := map[string]string{}
		for _, n := range nodes.Items {
			l, ok := n.Labels[v1alpha1.NodeIndexLabel]
			if _, valid := ParseIndex(l); !ok || !valid {
				return false, "node " + n.Name + " has no index"
			}
			if other, dup := seen[l]; dup {
				return false, "index " + l + " on " + other + " and " + n.Name
			}
			seen[l] = n.Name
		}
		return true, ""
	})
}

func requireEvent(t *testing.T, cs kubernetes.Interface, nodeName, reason string) {
	t.Helper()
	waitFor(t, 20*time.Second, "event "+reason+" on node "+nodeName, func() (bool, string) {
		evs, err := cs.EventsV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Regarding.Kind == "Node" && e.Regarding.Name == nodeName && e.Reason == reason {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none matching", len(evs.Items))
	})
}

func TestLabelerCapacity(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	t.Cleanup(func() { deleteAllNodes(t, c) })
	startLabeler(t, 2)

	for i := range 3 {
		if err := c.Create(ctx, newNode("cap-"+strconv.Itoa(i), nil)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // distinct creation order is not needed, but keeps the log readable
	}
	waitFor(t, 20*time.Second, "three nodes indexed 0..2", func() (bool, string) {
		var nodes corev1.NodeList
		_ = c.List(ctx, &nodes)
		got := map[string]bool{}
		for _, n := range nodes.Items {
			got[n.Labels[v1alpha1.NodeIndexLabel]] = true
		}
		return len(nodes.Items) == 3 && got["0"] && got["1"] && got["2"], fmt.Sprint(got)
	})
	if err := c.Create(ctx, newNode("cap-over", nil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "cap-over marked as over capacity", func() (bool, string) {
		var n corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: "cap-over"}, &n); err != nil {
			return false, err.Error()
		}
		_, labelled := n.Labels[v1alpha1.NodeIndexLabel]
		return !labelled && n.Annotations[NoIndexAnnotation] != "", fmt.Sprintf("labels %v annotations %v", n.Labels, n.Annotations)
	})
	requireEvent(t, cs, "cap-over", ReasonNoCapacity)

	// A node leaving frees its index for the waiting node.
	if err := c.Delete(ctx, newNode("cap-1", nil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "cap-over gets the freed index 1", func() (bool, string) {
		var n corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: "cap-over"}, &n); err != nil {
			return false, err.Error()
		}
		_, marked := n.Annotations[NoIndexAnnotation]
		return n.Labels[v1alpha1.NodeIndexLabel] == "1" && !marked, fmt.Sprintf("labels %v annotations %v", n.Labels, n.Annotations)
	})
}
