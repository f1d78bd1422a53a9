package webhook

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/internal/testenv"
	"github.com/perouter/perouter/operator/objects/objectstest"
	"github.com/perouter/perouter/operator/retry"
)

const ns = objectstest.Namespace

var (
	k8s client.Client
	// restConfig reaches the API server, for clients of the tests' own.
	restConfig *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := testenv.Start(&envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(testenv.RepoRoot(), "operator", "config", "webhook", "manifests.yaml")},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	wh := env.Env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	validator := NewValidator(mgr.GetAPIReader(), env.Scheme, secretNamespace)
	validator.StatusNamespace = ns
	mgr.GetWebhookServer().Register(Path, &admission.Webhook{Handler: validator})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "webhook manager:", err)
		}
	}()
	restConfig = env.Config
	k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err == nil {
		err = waitServing(mgr.GetWebhookServer())
	}
	if err == nil {
		err = createBaseline(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func waitServing(srv webhook.Server) error {
	check := srv.StartedChecker()
	var err error
	if retry.Poll(context.Background(), 20*time.Second, retry.Every(50*time.Millisecond), func() (bool, error) {
		err = check(&http.Request{})
		return err == nil, nil
	}) != nil {
		return fmt.Errorf("webhook server not serving: %w", err)
	}
	return nil
}

// The baseline is valid: the lab Underlay, L3VNI vni-0 (VNI 100, VRF vrf0,
// localCIDR 10.100.0.0/24), L3VNI vni-1 (unreferenced), and L2VNI green
// routed through vni-0, and an L3Passthrough.
func createBaseline(ctx context.Context) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNamespace}}); err != nil {
		return err
	}
	s := objectstest.Lab(2)
	objs := []client.Object{&s.Underlays[0], &s.L3VNIs[0], &s.L3VNIs[1], green(), passthrough("pt", "192.170.0.0/24")}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("%T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func green() *v1alpha1.L2VNI {
	return &v1alpha1.L2VNI{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "green"},
		Spec: v1alpha1.L2VNISpec{VNI: 200, RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}},
			GatewayIPs: []string{"192.171.0.1/24"}},
	}
}

func passthrough(name, cidr string) *v1alpha1.L3Passthrough {
	hostASN := uint32(64600)
	return &v1alpha1.L3Passthrough{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.L3PassthroughSpec{HostSession: v1alpha1.HostSession{ASN: 64514, HostASN: &hostASN,
			LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: cidr}}},
	}
}

func u32(v uint32) *uint32 { return &v }

// get returns a fresh copy of a baseline object.
func get[T client.Object](t *testing.T, obj T, name string) T {
	t.Helper()
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func underlay(t *testing.T) *v1alpha1.Underlay { return get(t, &v1alpha1.Underlay{}, "underlay") }
func l3vni(t *testing.T, name string) *v1alpha1.L3VNI {
	return get(t, &v1alpha1.L3VNI{}, name)
}
func l2vni(t *testing.T) *v1alpha1.L2VNI { return get(t, &v1alpha1.L2VNI{}, "green") }

// newL3VNI is a valid L3VNI that collides with nothing in the baseline.
func newL3VNI(name string) *v1alpha1.L3VNI {
	v := objectstest.L3VNI(7)
	v.Name = name
	v.ResourceVersion = ""
	return &v
}

func newL2VNI(name string, vni uint32) *v1alpha1.L2VNI {
	return &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.L2VNISpec{VNI: vni}}
}

// secretNamespace is where the webhook under test lets passwordSecret
// point: not ns, so that the test's Underlays exercise the refusal.
const secretNamespace = "perouter-ops"

type op int

const (
	create op = iota
	update
	remove
)

func TestInvalidObjectsRejected(t *testing.T) {
	tests := map[string]struct {
		op  op
		obj func(t *testing.T) client.Object
		// field must appear in the error message.
		field string
		// crossObject rules involve other objects: no schema rule can
		// check them, so the webhook must be the one refusing.
		crossObject bool
	}{
		// Underlay
		"second underlay selecting the same nodes": {crossObject: true, op: create, field: "spec.nodeSelector", obj: func(t *testing.T) client.Object {
			u := underlay(t).DeepCopy()
			u.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "underlay-2"}
			return u
		}},
		"router id pool is not a CIDR": {op: update, field: "spec.routerIDCIDR", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.RouterIDCIDR = "10.0.0.0/33"
			return u
		}},
		"router id pool is IPv6": {op: update, field: "spec.routerIDCIDR", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.RouterIDCIDR = "fd00::/64"
			return u
		}},
		"neighbour address is not an IP": {op: update, field: "spec.neighbors[0].address", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].Address = "300.1.1.1"
			return u
		}},
		"duplicate neighbour": {op: update, field: "spec.neighbors[1]", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[1].Address = u.Spec.Neighbors[0].Address
			return u
		}},
		"loopback as underlay interface": {op: update, field: "spec.interfaces[0]", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces[0].NetworkDevice.InterfaceName = "lo"
			return u
		}},
		"underlay interface named like a VXLAN device": {op: update, field: "spec.interfaces[0]", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces[0].NetworkDevice.InterfaceName = "vni100"
			return u
		}},
		"underlay interface named like an existing VRF": {crossObject: true, op: update, field: "spec.vrf", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces[0].NetworkDevice.InterfaceName = "vrf0"
			return u
		}},
		"unnumbered neighbour named like an IP address": {op: update, field: "spec.neighbors[0].interface", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].Address = ""
			u.Spec.Neighbors[0].Interface = "10.0.0.1"
			return u
		}},
		"two IPv4 tunnel pools": {op: update, field: "spec.tunnelEndpoint.cidrs", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0/24", "100.66.0.0/24"}
			return u
		}},
		"tunnel pool is not a CIDR": {op: update, field: "spec.tunnelEndpoint.cidrs", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0"}
			return u
		}},
		"keepalive above hold time": {op: update, field: "spec.neighbors[0].keepaliveTimeSeconds", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].HoldTimeSeconds, u.Spec.Neighbors[0].KeepaliveTimeSeconds = u32(9), u32(30)
			return u
		}},
		// The webhook reads no Secret (least privilege), so a missing
		// Secret is the controller's to report; a reference the controller
		// may never read is refused here.
		"password secret outside the readable namespace": {crossObject: true, op: update, field: "spec.neighbors[0].passwordSecret", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].PasswordSecret = "no-such-secret"
			return u
		}},
		"CNI device with a pre-1.0 single-plugin rawConfig": {op: update, field: "spec.interfaces[0].cniDevice.rawConfig", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces = []v1alpha1.UnderlayInterface{{Type: v1alpha1.InterfaceTypeCNIDevice, CNIDevice: &v1alpha1.CNIDevice{
				Type: "RawConfig", RawConfig: &runtime.RawExtension{Raw: []byte(`{"cniVersion":"0.4.0","name":"ul","type":"macvlan"}`)}}}}
			return u
		}},
		"no interfaces": {op: update, field: "spec.interfaces", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces = nil
			return u
		}},
		"interface type naming the other member": {op: update, field: "spec.interfaces[0]", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Interfaces[0].Type = v1alpha1.InterfaceTypeCNIDevice
			return u
		}},
		"password with a space": {op: update, field: "spec.neighbors[0].password", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].Password = "two words"
			return u
		}},
		"selector with an unknown operator": {op: update, field: "spec.nodeSelector", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
			return u
		}},
		"neighbour with asn and type": {op: update, field: "spec.neighbors[0]", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].Type = "External"
			return u
		}},
		"asn zero": {op: update, field: "spec.asn", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.ASN = 0
			return u
		}},
		"hold time 2": {op: update, field: "spec.neighbors[0].holdTimeSeconds", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors[0].HoldTimeSeconds, u.Spec.Neighbors[0].KeepaliveTimeSeconds = u32(2), u32(1)
			return u
		}},
		"no neighbours": {op: update, field: "spec.neighbors", obj: func(t *testing.T) client.Object {
			u := underlay(t)
			u.Spec.Neighbors = nil
			return u
		}},

		// L3VNI
		"duplicate VNI": {crossObject: true, op: create, field: "spec.vni", obj: func(*testing.T) client.Object {
			v := newL3VNI("dup-vni")
			v.Spec.VNI = 100
			return v
		}},
		"duplicate VRF": {crossObject: true, op: create, field: "spec.vrf", obj: func(*testing.T) client.Object {
			v := newL3VNI("dup-vrf")
			v.Spec.VRF = "vrf0"
			return v
		}},
		"VRF named default": {op: create, field: "spec.vrf", obj: func(*testing.T) client.Object {
			v := newL3VNI("vrf-default")
			v.Spec.VRF = "default"
			return v
		}},
		"local CIDR overlaps another L3VNI": {crossObject: true, op: create, field: "spec.hostSession.localCIDR.ipv4", obj: func(*testing.T) client.Object {
			v := newL3VNI("overlap")
			v.Spec.HostSession.LocalCIDR.IPv4 = "10.100.0.128/25"
			return v
		}},
		"IPv6 CIDR in the ipv4 field": {op: create, field: "spec.hostSession.localCIDR.ipv4", obj: func(*testing.T) client.Object {
			v := newL3VNI("v6-in-v4")
			v.Spec.HostSession.LocalCIDR.IPv4 = "fd00:1::/64"
			return v
		}},
		"bad import route target": {op: create, field: "spec.importRTs[0]", obj: func(*testing.T) client.Object {
			v := newL3VNI("bad-rt")
			v.Spec.ImportRTs = []string{"not-a-target"}
			return v
		}},
		"duplicate export route target": {op: create, field: "spec.exportRTs[1]", obj: func(*testing.T) client.Object {
			v := newL3VNI("dup-rt")
			v.Spec.ExportRTs = []string{"64514:100", "64514:100"}
			return v
		}},
		"host ASN equals router ASN": {op: create, field: "spec.hostSession.hostASN", obj: func(*testing.T) client.Object {
			v := newL3VNI("same-asn")
			v.Spec.HostSession.HostASN = u32(v.Spec.HostSession.ASN)
			return v
		}},
		"VRF named lo": {op: create, field: "spec.vrf", obj: func(*testing.T) client.Object {
			v := newL3VNI("vrf-lo")
			v.Spec.VRF = "lo"
			return v
		}},
		"VRF named like the underlay NIC": {crossObject: true, op: create, field: "spec.vrf", obj: func(*testing.T) client.Object {
			v := newL3VNI("vrf-nic")
			v.Spec.VRF = "toswitch"
			return v
		}},
		"VXLAN port of FRR's BFD": {op: create, field: "spec.vxlanPort", obj: func(*testing.T) client.Object {
			v := newL3VNI("bfd-port")
			v.Spec.VXLANPort = 3784
			return v
		}},
		"VRF starting with a digit": {op: create, field: "spec.vrf", obj: func(*testing.T) client.Object {
			v := newL3VNI("digit-vrf")
			v.Spec.VRF = "1red"
			return v
		}},
		"VNI zero": {op: create, field: "spec.vni", obj: func(*testing.T) client.Object {
			v := newL3VNI("vni-zero")
			v.Spec.VNI = 0
			return v
		}},
		"local CIDR changed": {op: update, field: "localCIDR", obj: func(t *testing.T) client.Object {
			v := l3vni(t, "vni-1")
			v.Spec.HostSession.LocalCIDR.IPv4 = "10.200.0.0/24"
			return v
		}},

		// L2VNI
		"gateway subnet overlapping another L2VNI's in the VRF": {crossObject: true, op: create, field: "spec.gatewayIPs[0]", obj: func(*testing.T) client.Object {
			l := newL2VNI("gw-overlap", 301)
			l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}
			l.Spec.GatewayIPs = []string{"192.171.0.129/25"}
			return l
		}},
		"gateway on the IPv4 broadcast address": {op: create, field: "spec.gatewayIPs[0]", obj: func(*testing.T) client.Object {
			l := newL2VNI("gw-broadcast", 306)
			l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}
			l.Spec.GatewayIPs = []string{"192.172.0.255/24"}
			return l
		}},
		"L2VNI reuses an L3VNI's VNI": {crossObject: true, op: create, field: "spec.vni", obj: func(*testing.T) client.Object {
			return newL2VNI("clash", 100)
		}},
		"gateway IP is not an address": {op: create, field: "spec.gatewayIPs", obj: func(*testing.T) client.Object {
			l := newL2VNI("bad-gw", 302)
			l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}
			l.Spec.GatewayIPs = []string{"192.172.0.300/24"}
			return l
		}},
		"two IPv4 gateways": {op: create, field: "spec.gatewayIPs", obj: func(*testing.T) client.Object {
			l := newL2VNI("two-gw", 303)
			l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}
			l.Spec.GatewayIPs = []string{"192.172.0.1/24", "192.173.0.1/24"}
			return l
		}},
		"gateway without routing domain": {op: create, field: "spec", obj: func(*testing.T) client.Object {
			l := newL2VNI("gw-no-rd", 304)
			l.Spec.GatewayIPs = []string{"192.172.0.1/24"}
			return l
		}},
		"external bridge named like a perouter device": {op: create, field: "spec.hostMaster.linuxBridge.name", obj: func(*testing.T) client.Object {
			l := newL2VNI("ext-reserved", 330)
			l.Spec.HostMaster = &v1alpha1.HostMaster{Type: "LinuxBridge", LinuxBridge: &v1alpha1.LinuxBridgeConfig{Lifecycle: v1alpha1.LifecycleExternal, Name: "host-e-330"}}
			return l
		}},
		"external bridge without a name": {op: create, field: "spec.hostMaster.linuxBridge", obj: func(*testing.T) client.Object {
			l := newL2VNI("ext-no-name", 305)
			l.Spec.HostMaster = &v1alpha1.HostMaster{Type: "LinuxBridge", LinuxBridge: &v1alpha1.LinuxBridgeConfig{Lifecycle: "External"}}
			return l
		}},
		"gateway IPs changed": {op: update, field: "spec.gatewayIPs", obj: func(t *testing.T) client.Object {
			l := l2vni(t)
			l.Spec.GatewayIPs = []string{"192.171.0.2/24"}
			return l
		}},

		// L3Passthrough
		"second passthrough on the same nodes": {crossObject: true, op: create, field: "spec.nodeSelector", obj: func(*testing.T) client.Object {
			return passthrough("pt-2", "192.174.0.0/24")
		}},
		"passthrough CIDR overlaps an L3VNI": {crossObject: true, op: update, field: "spec.hostSession.localCIDR.ipv4", obj: func(t *testing.T) client.Object {
			p := get(t, &v1alpha1.L3Passthrough{}, "pt").DeepCopy()
			p.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "pt-overlap"}
			p.Spec.HostSession.LocalCIDR.IPv4 = "10.100.1.0/24"
			return p
		}},
		"passthrough without host ASN or type": {op: create, field: "spec.hostSession", obj: func(*testing.T) client.Object {
			p := passthrough("pt-no-host", "192.175.0.0/24")
			p.Spec.HostSession.HostASN = nil
			return p
		}},
	}
	if len(tests) < 30 {
		t.Fatalf("%d cases: the suite must cover at least 30 invalid objects", len(tests))
	}
	var mu sync.Mutex
	byWebhook := 0
	t.Cleanup(func() {
		// Single-object rules may live in the CRD schema (CEL) or in the
		// webhook; both run on every request. Log the split.
		t.Logf("%d of %d invalid objects refused by the webhook, the rest by the CRD schema", byWebhook, len(tests))
	})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			obj := tc.obj(t)
			var err error
			switch tc.op {
			case create:
				err = k8s.Create(ctx, obj)
			case update:
				if obj.GetResourceVersion() == "" {
					err = k8s.Create(ctx, obj)
				} else {
					err = k8s.Update(ctx, obj)
				}
			case remove:
				err = k8s.Delete(ctx, obj)
			}
			if err == nil {
				t.Fatalf("accepted; want a rejection naming %s", tc.field)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field) {
				t.Errorf("rejection does not name %s: %s", tc.field, msg)
			}
			fromWebhook := strings.Contains(msg, "denied the request")
			if fromWebhook {
				mu.Lock()
				byWebhook++
				mu.Unlock()
			}
			if tc.crossObject && !fromWebhook {
				t.Errorf("a cross-object rule was not enforced by the webhook: %s", msg)
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
				t.Errorf("error is neither Forbidden nor Invalid: %v", err)
			}
		})
	}
}

func TestValidChangesAdmitted(t *testing.T) {
	ctx := context.Background()
	v := newL3VNI("fresh")
	if err := k8s.Create(ctx, v); err != nil {
		t.Fatalf("creating a valid L3VNI: %v", err)
	}
	v.Spec.ExportRTs = []string{"64514:777"}
	if err := k8s.Update(ctx, v); err != nil {
		t.Fatalf("updating it validly: %v", err)
	}
	if err := k8s.Delete(ctx, v); err != nil {
		t.Fatalf("deleting an L3VNI no L2VNI uses: %v", err)
	}
	l := newL2VNI("temp", 320)
	l.Spec.RoutingDomain = &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "fresh-2"}}
	v2 := newL3VNI("fresh-2")
	if err := k8s.Create(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, l); err != nil {
		t.Fatalf("creating an L2VNI routed through an existing L3VNI: %v", err)
	}
	if err := k8s.Delete(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, v2); err != nil {
		t.Fatalf("deleting the L3VNI after its L2VNI went: %v", err)
	}
}

// An Underlay may not name the NIC a node it selects reported as its
// own (status.protectedInterfaces); before a node reports, its
// controller's own check is what protects it.
func TestOwnNICRefused(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "wh-0", Labels: map[string]string{"rack": "a"}}}
	if err := k8s.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	rns := &v1alpha1.RouterNodeStatus{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wh-0"}}
	if err := k8s.Create(ctx, rns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8s.Delete(ctx, rns)
		_ = k8s.Delete(ctx, node)
	})
	withNIC := func(name string) *v1alpha1.Underlay {
		u := underlay(t)
		u.Spec.Interfaces = append(u.Spec.Interfaces, v1alpha1.UnderlayInterface{NetworkDevice: &v1alpha1.NetworkDevice{InterfaceName: name}})
		return u
	}
	field := fmt.Sprintf("spec.interfaces[%d].networkDevice.interfaceName", len(underlay(t).Spec.Interfaces))

	baseline := underlay(t).Spec
	t.Cleanup(func() {
		// Registered after the deletes above, so it runs before them.
		u := underlay(t)
		u.Spec = baseline
		if err := k8s.Update(ctx, u); err != nil {
			t.Errorf("restoring the baseline Underlay: %v", err)
		}
	})

	// Not reported yet: admitted, the controller refuses the move.
	if err := k8s.Update(ctx, withNIC("eth0")); err != nil {
		t.Fatalf("naming eth0 before any node reported it: %v", err)
	}
	u := underlay(t)
	u.Spec.Interfaces = u.Spec.Interfaces[:len(u.Spec.Interfaces)-1]
	if err := k8s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}

	rns.Status.ProtectedInterfaces = []v1alpha1.ProtectedInterface{{Name: "eth0", Reason: "it carries the host's IPv4 default route (via 10.0.0.1, metric 100)"}}
	if err := k8s.Status().Update(ctx, rns); err != nil {
		t.Fatal(err)
	}
	err := k8s.Update(ctx, withNIC("eth0"))
	if err == nil {
		t.Fatalf("an Underlay selecting every node named node wh-0's own NIC eth0 and was admitted")
	}
	for _, want := range []string{"denied the request", field, `"eth0"`, "node wh-0", "default route", "cut the node off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal does not say %q: %v", want, err)
		}
	}
	// Another NIC is fine, and so is eth0 for nodes the Underlay does not
	// select.
	if err := k8s.Update(ctx, withNIC("eth1")); err != nil {
		t.Errorf("naming eth1, which no node protects: %v", err)
	}
	u = withNIC("eth0")
	u.Spec.Interfaces = slices.DeleteFunc(u.Spec.Interfaces, func(i v1alpha1.UnderlayInterface) bool { return i.HostNIC() == "eth1" })
	u.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
	if err := k8s.Update(ctx, u); err != nil {
		t.Errorf("naming eth0 with a nodeSelector that leaves node wh-0 out: %v", err)
	}
	// Widening the selector to the node is refused like naming the NIC.
	u = underlay(t)
	u.Spec.NodeSelector = nil
	if err := k8s.Update(ctx, u); err == nil || !strings.Contains(err.Error(), "node wh-0") {
		t.Errorf("widening the nodeSelector to node wh-0 while naming eth0: want a refusal naming the node, got %v", err)
	}
}

// A RawFRRConfig is admitted only when real FRR (the host's vtysh, as the
// perouter image's serves the webhook in a cluster) parses its snippet,
// and only in the operator's namespace; an update that leaves the text
// alone is not parsed again.
func TestRawFRRConfigAdmission(t *testing.T) {
	ctx := context.Background()
	raw := func(namespace, name, text string) *v1alpha1.RawFRRConfig {
		return &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: v1alpha1.RawFRRConfigSpec{RawConfig: text}}
	}
	good := raw(secretNamespace, "site-prefixes", "ip prefix-list SITE-PREFIXES seq 10 permit 10.0.0.0/8 le 24\nroute-map SITE-ONLY permit 10\n match ip address prefix-list SITE-PREFIXES\nexit\n")
	if err := k8s.Create(ctx, good); err != nil {
		t.Fatalf("creating a snippet FRR parses: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, good) })

	refused := map[string]struct {
		change func() error
		want   []string
	}{
		"unknown command": {
			change: func() error {
				return k8s.Create(ctx, raw(secretNamespace, "typo", "route-map SITE-ONLY permit 10\n match ip address prefix-lst SITE-PREFIXES\nexit\n"))
			},
			want: []string{"denied the request", "RawFRRConfig " + secretNamespace + "/typo: spec.rawConfig: FRR refuses it: line 2: % Unknown command", "prefix-lst SITE-PREFIXES"},
		},
		"changed to a snippet FRR refuses": {
			change: func() error {
				var cur v1alpha1.RawFRRConfig
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), &cur); err != nil {
					return err
				}
				cur.Spec.RawConfig = "ip prefix-list\n"
				return k8s.Update(ctx, &cur)
			},
			want: []string{"denied the request", "spec.rawConfig: FRR refuses it: line 1: % Command incomplete"},
		},
		"outside the operator's namespace": {
			change: func() error {
				return k8s.Create(ctx, raw(ns, "elsewhere", "ip prefix-list X seq 5 permit 10.0.0.0/8\n"))
			},
			want: []string{"denied the request", "RawFRRConfig " + ns + "/elsewhere: metadata.namespace: perouter applies RawFRRConfigs only in its own namespace " + secretNamespace},
		},
		"negative priority (the schema)": {
			change: func() error {
				r := raw(secretNamespace, "negative", "ip prefix-list X seq 5 permit 10.0.0.0/8\n")
				r.Spec.Priority = ptr.To[int32](-1)
				return k8s.Create(ctx, r)
			},
			want: []string{"spec.priority"},
		},
		"empty (the schema)": {
			change: func() error { return k8s.Create(ctx, raw(secretNamespace, "empty", "")) },
			want:   []string{"spec.rawConfig"},
		},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			err := tc.change()
			if err == nil {
				t.Fatal("admitted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q: %v", w, err)
				}
			}
		})
	}

	// A label change keeps the text: admitted without parsing it again.
	var cur v1alpha1.RawFRRConfig
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Labels = map[string]string{"touched": "yes"}
	if err := k8s.Update(ctx, &cur); err != nil {
		t.Errorf("label update of an admitted snippet: %v", err)
	}
	if cur.Spec.Priority == nil || *cur.Spec.Priority != 0 {
		t.Errorf("priority = %v, want the CRD default 0", cur.Spec.Priority)
	}
}
