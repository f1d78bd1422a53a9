package webhook

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// warnings collects the admission warnings the API server relays.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// warningClient is a client whose admission warnings land in w.
func warningClient(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// orderObjects are four objects two of which refer to others: an
// Underlay (for rack "order" only, so it meets the baseline's on no
// node) reading a password from a Secret, both in the namespace whose
// Secrets the controller reads, and an L2VNI routed through an L3VNI.
// None collides with the baseline.
func orderObjects() []client.Object {
	u := objectstest.Lab(0).Underlays[0]
	u.Name, u.Namespace = "order-underlay", secretNamespace
	u.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "order"}}
	u.Spec.Neighbors[0].PasswordSecret = "order-password"
	l3 := objectstest.L3VNI(8)
	l3.Name = "order-l3"
	return []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretNamespace, Name: "order-password"}, StringData: map[string]string{"password": "s3cr3t"}},
		&u,
		&l3,
		&v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "order-l2"},
			Spec: v1alpha1.L2VNISpec{VNI: 330, GatewayIPs: []string{"192.180.0.1/24"},
				RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "order-l3"}}}},
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			out = append(out, slices.Insert(slices.Clone(p), i, n-1))
		}
	}
	return out
}

// TestAnyOrderAdmitted creates the objects in each of the 24 orders, then
// deletes them in the same order: every request is admitted. An L2VNI
// created before its L3VNI, and the deletion of an L3VNI an L2VNI still
// routes through, are admitted with a warning naming the field.
func TestAnyOrderAdmitted(t *testing.T) {
	ctx := context.Background()
	c, w := warningClient(t)
	const (
		secret = iota
		underlay
		l3
		l2
	)
	for _, order := range permutations(4) {
		objs := orderObjects()
		kinds := []string{"Secret", "Underlay", "L3VNI", "L2VNI"}
		var names []string
		for _, i := range order {
			names = append(names, kinds[i])
		}
		t.Run(strings.Join(names, "-"), func(t *testing.T) {
			// A failing order must not leave objects the next one trips on.
			t.Cleanup(func() {
				for _, o := range orderObjects() {
					_ = k8s.Delete(ctx, o)
				}
			})
			exists := map[int]bool{}
			for _, i := range order {
				w.take()
				if err := c.Create(ctx, objs[i]); err != nil {
					t.Fatalf("creating %s: %v", kinds[i], err)
				}
				exists[i] = true
				got := strings.Join(w.take(), "\n")
				var want string
				switch {
				// The webhook reads no Secret (least privilege), so an
				// Underlay created before its Secret draws no warning: the
				// controller reports the wait in status.
				case i == l2 && !exists[l3]:
					want = "L2VNI " + ns + "/order-l2: spec.routingDomain.l3vni.name: L3VNI " + ns + "/order-l3 does not exist yet; the L2VNI applies once it does"
				}
				if got != want {
					t.Errorf("creating %s: warnings %q, want %q", kinds[i], got, want)
				}
			}
			for _, i := range order {
				w.take()
				if err := c.Delete(ctx, objs[i]); err != nil {
					t.Fatalf("deleting %s: %v", kinds[i], err)
				}
				got := strings.Join(w.take(), "\n")
				var want string
				if i == l3 && exists[l2] {
					want = "L3VNI " + ns + "/order-l3: metadata.name: is the routing domain of L2VNI " + ns + "/order-l2 (spec.routingDomain.l3vni.name): that L2VNI stops applying until an L3VNI " + ns + "/order-l3 exists again"
				}
				delete(exists, i)
				if got != want {
					t.Errorf("deleting %s: warnings %q, want %q", kinds[i], got, want)
				}
			}
		})
	}
}

// TestUpstreamInputsAdmitted: inputs upstream's own tests prove to work
// are admitted.
func TestUpstreamInputsAdmitted(t *testing.T) {
	ctx := context.Background()
	tests := map[string]func(t *testing.T) (obj client.Object, undo func()){
		"interface with upstream's type discriminator": func(t *testing.T) (client.Object, func()) {
			u := underlay(t)
			u.Spec.Interfaces[0].Type = v1alpha1.InterfaceTypeNetworkDevice
			return u, nil
		},
		// Upstream's e2e peers the passthrough iBGP with the host.
		"passthrough with hostASN equal to asn": func(t *testing.T) (client.Object, func()) {
			p := get(t, &v1alpha1.L3Passthrough{}, "pt")
			p.Spec.HostSession.HostASN = u32(p.Spec.HostSession.ASN)
			return p, func() {
				p := get(t, &v1alpha1.L3Passthrough{}, "pt")
				p.Spec.HostSession.HostASN = u32(64600)
				if err := k8s.Update(ctx, p); err != nil {
					t.Error(err)
				}
			}
		},
		// In IPv6 the subnet-router anycast address; upstream's tests use
		// 192.168.1.0/24.
		"gateways on the network address": func(t *testing.T) (client.Object, func()) {
			l := newL2VNI("gw-network", 340)
			l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}
			l.Spec.GatewayIPs = []string{"192.168.1.0/24", "2001:db8:1::/64"}
			return l, func() {
				if err := k8s.Delete(ctx, l); err != nil {
					t.Error(err)
				}
			}
		},
	}
	for name, mk := range tests {
		t.Run(name, func(t *testing.T) {
			obj, undo := mk(t)
			var err error
			if obj.GetResourceVersion() == "" {
				err = k8s.Create(ctx, obj)
			} else {
				err = k8s.Update(ctx, obj)
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if undo != nil {
				undo()
			}
		})
	}
}

// TestConflictsJudgedPerNode: upstream's per-rack pattern (one VRF name,
// one L3VNI per rack) is admitted, and an L3VNI that would share the VRF
// with one of them on a current Node is refused, naming the node.
func TestConflictsJudgedPerNode(t *testing.T) {
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"wh-rack-1": {"rack": "rack-1", "zone": "a"},
		"wh-rack-2": {"rack": "rack-2", "zone": "b"},
	} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if err := k8s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, n) })
	}
	l3 := func(name string, vni uint32, sel map[string]string) *v1alpha1.L3VNI {
		return &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.L3VNISpec{VRF: "tenant", VNI: vni, NodeSelector: &metav1.LabelSelector{MatchLabels: sel}}}
	}
	for _, o := range []*v1alpha1.L3VNI{l3("tenant-rack-1", 5001, map[string]string{"rack": "rack-1"}), l3("tenant-rack-2", 5002, map[string]string{"rack": "rack-2"})} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("per-rack L3VNI %s refused: %v", o.Name, err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, o) })
	}
	err := k8s.Create(ctx, l3("tenant-zone-a", 5003, map[string]string{"zone": "a"}))
	want := `L3VNI ` + ns + `/tenant-zone-a: spec.vrf: VRF "tenant" is also claimed by L3VNI ` + ns + `/tenant-rack-1 on node wh-rack-1`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an L3VNI sharing the VRF on node wh-rack-1: got %v, want a refusal saying %q", err, want)
	}
	// No current Node has zone c: nothing meets, nothing is refused.
	o := l3("tenant-zone-c", 5004, map[string]string{"zone": "c"})
	if err := k8s.Create(ctx, o); err != nil {
		t.Errorf("an L3VNI sharing the VRF on no current node refused: %v", err)
	}
	_ = k8s.Delete(ctx, o)
}
