package webhook

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Upstream main's shapes, written as a user writes them (YAML merged into
// the baseline Underlay), reach the API server: the ones perouter
// implements are admitted, and every field perouter does not implement
// yet survives the schema (no pruning) and is refused by the webhook,
// which names it and says it is not supported yet. Dry runs: the
// baseline is never changed.
func TestUpstreamNeighborShapes(t *testing.T) {
	tests := map[string]struct {
		neighbor string // YAML merged into spec.neighbors[0]
		spec     string // YAML merged into spec
		// refused: the field and words the rejection must name; "" admits.
		refused []string
		// byWebhook: the refusal must come from the webhook, not the schema.
		byWebhook bool
	}{
		"ebgpMultiHop property with ttl": {neighbor: "properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 3}}]"},
		"bfd passive with minimum ttl":   {neighbor: "bfd: {sessionMode: Passive, minimumTTL: 250}"},
		"older ebgpMultiHop flag":        {neighbor: "ebgpMultiHop: true"},
		"both multihop spellings": {neighbor: "{ebgpMultiHop: true, properties: [{type: ebgpMultiHop}]}",
			refused: []string{"ebgpMultiHop", "say the same"}},
		"ttl out of range": {neighbor: "properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 256}}]",
			refused: []string{"spec.neighbors[0].properties[0].ebgpMultiHop.ttl"}},
		"bfd session mode unknown": {neighbor: "bfd: {sessionMode: Sometimes}",
			refused: []string{"spec.neighbors[0].bfd.sessionMode"}},
		"listen range beside an address": {neighbor: "listenRange: 192.168.20.0/24",
			refused: []string{"spec.neighbors[0]", "exactly one of address, interface or listenRange"}},
		"listen range route reflector client": {spec: "neighbors: [{type: Internal, listenRange: 192.168.20.0/24, addressFamilies: [{type: ipv4unicast, properties: [{type: routeReflectorClient}]}, {type: evpn, properties: [{type: routeReflectorClient}]}]}]"},
		"listen range not a CIDR": {spec: "neighbors: [{type: Internal, listenRange: 192.168.20.5}]",
			refused: []string{"spec.neighbors[0].listenRange", "must be a valid CIDR"}},
		"address families": {neighbor: "addressFamilies: [{type: evpn}]"},
		"address family ipv4vpn": {neighbor: "addressFamilies: [{type: ipv4vpn}]",
			refused: []string{"spec.neighbors[0].addressFamilies[0].type", "not supported yet"}, byWebhook: true},
		"route reflector client on eBGP": {neighbor: "addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]",
			refused: []string{"spec.neighbors[0].addressFamilies[0].properties[0].type", "internal (iBGP) session"}, byWebhook: true},
		"graceful restart":       {spec: "gracefulRestart: {restartTimeSeconds: 120, stalePathTimeSeconds: 360}"},
		"graceful restart empty": {spec: "gracefulRestart: {}"},
		"restart time too long": {spec: "gracefulRestart: {restartTimeSeconds: 4096}",
			refused: []string{"spec.gracefulRestart.restartTimeSeconds"}},
		"route reflector":                 {spec: "routeReflector: {clusterID: 192.0.2.7}"},
		"route reflector default cluster": {spec: "routeReflector: {}"},
		"cluster ID inside routerIDCIDR": {spec: "routeReflector: {clusterID: 10.0.0.1}",
			refused: []string{"spec.routeReflector.clusterID", "inside routerIDCIDR"}, byWebhook: true},
		"cluster ID not IPv4": {spec: "routeReflector: {clusterID: '2001:db8::1'}",
			refused: []string{"clusterID must be a valid IPv4 address"}},
		"isis": {spec: "isis: {net: [49.0001.0000.0000.0001.00]}",
			refused: []string{"spec.isis", "not supported yet"}, byWebhook: true},
		"srv6": {spec: "srv6: {locator: {basePrefix: 'fd00:0:1::/48'}}",
			refused: []string{"spec.srv6", "not supported yet"}, byWebhook: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(underlay(t))
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: raw}
			u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Underlay"))
			if tc.neighbor != "" {
				neighbors, _, _ := unstructured.NestedSlice(u.Object, "spec", "neighbors")
				merge(t, neighbors[0].(map[string]any), tc.neighbor)
				if err := unstructured.SetNestedSlice(u.Object, neighbors, "spec", "neighbors"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.spec != "" {
				merge(t, u.Object["spec"].(map[string]any), tc.spec)
			}
			err = k8s.Update(context.Background(), u, client.DryRunAll)
			if len(tc.refused) == 0 {
				if err != nil {
					t.Fatalf("refused; upstream's shape should be admitted: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("admitted; want a rejection naming %q", tc.refused)
			}
			for _, w := range tc.refused {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("rejection lacks %q: %v", w, err)
				}
			}
			if tc.byWebhook && !strings.Contains(err.Error(), "denied the request") {
				t.Errorf("refused by the schema, not the webhook (was the field pruned?): %v", err)
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
				t.Errorf("error is neither Forbidden nor Invalid: %v", err)
			}
		})
	}
}

// merge sets the fields of a YAML object into m.
func merge(t *testing.T, m map[string]any, fields string) {
	t.Helper()
	var add map[string]any
	if err := yaml.Unmarshal([]byte(fields), &add); err != nil {
		t.Fatal(err)
	}
	for k, v := range add {
		m[k] = v
	}
}

// The L2VNI's upstream fields perouter does not implement yet are refused
// by the webhook, by name (dry runs on the baseline objects).
func TestUpstreamVNIFieldsNotYetSupported(t *testing.T) {
	tests := map[string]struct {
		kind, name string
		spec       string // YAML merged into spec
		refused    []string
	}{
		"l2vni open vswitch bridge": {kind: "L2VNI", name: "green", spec: "hostMaster: {type: OVSBridge, ovsBridge: {autoCreate: true}}",
			refused: []string{"spec.hostMaster.type: OVSBridge is not supported yet", "spec.hostMaster.ovsBridge: not supported yet"}},
		"l2vni l3vpn routing domain": {kind: "L2VNI", name: "green", spec: "routingDomain: {type: L3VPN, l3vpn: {name: red}}",
			refused: []string{"spec.routingDomain.type: L3VPN is not supported yet", "spec.routingDomain.l3vpn: not supported yet"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(tc.kind))
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tc.name}, u); err != nil {
				t.Fatal(err)
			}
			merge(t, u.Object["spec"].(map[string]any), tc.spec)
			err := k8s.Update(context.Background(), u, client.DryRunAll)
			if err == nil {
				t.Fatalf("admitted; want a rejection naming %q", tc.refused)
			}
			for _, w := range tc.refused {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("rejection lacks %q: %v", w, err)
				}
			}
			if !strings.Contains(err.Error(), "denied the request") {
				t.Errorf("refused by the schema, not the webhook: %v", err)
			}
		})
	}
}

// underlayAddressFamily is upstream's field, implemented: a family the
// Underlay has a VTEP pool of is admitted, one it has none of is refused
// on the VNI, and an Underlay change that would take away the pool a VNI
// uses is refused too.
func TestUnderlayAddressFamily(t *testing.T) {
	ctx := context.Background()
	dryRun := func(kind, name, spec string) error {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			t.Fatal(err)
		}
		merge(t, u.Object["spec"].(map[string]any), spec)
		return k8s.Update(ctx, u, client.DryRunAll)
	}
	if err := dryRun("L3VNI", "vni-0", "underlayAddressFamily: IPv4"); err != nil {
		t.Errorf("L3VNI over the IPv4 VTEP of the baseline Underlay: %v", err)
	}
	err := dryRun("L2VNI", "green", "underlayAddressFamily: IPv6")
	if err == nil {
		t.Fatal("L2VNI over an IPv6 VTEP the Underlay has no pool of was admitted")
	}
	for _, want := range []string{"denied the request", "L2VNI " + ns + "/green: spec.underlayAddressFamily: IPv6 needs an IPv6 VTEP", "has no IPv6 cidr in spec.tunnelEndpoint.cidrs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal does not say %q: %v", want, err)
		}
	}

	// A dual-stack pool, and the L2VNI over its IPv6 VTEP.
	baseline := underlay(t).Spec
	u := underlay(t)
	u.Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0/24", "fd00:65::/64"}
	if err := k8s.Update(ctx, u); err != nil {
		t.Fatalf("dual-stack tunnel endpoint: %v", err)
	}
	t.Cleanup(func() {
		u := underlay(t)
		u.Spec = baseline
		if err := k8s.Update(ctx, u); err != nil {
			t.Errorf("restoring the baseline Underlay: %v", err)
		}
	})
	g := l2vni(t)
	g.Spec.UnderlayAddressFamily = "IPv6"
	if err := k8s.Update(ctx, g); err != nil {
		t.Fatalf("L2VNI over the IPv6 VTEP of a dual-stack Underlay: %v", err)
	}
	t.Cleanup(func() { // runs before the Underlay's restore
		g := l2vni(t)
		g.Spec.UnderlayAddressFamily = ""
		if err := k8s.Update(ctx, g); err != nil {
			t.Errorf("restoring the baseline L2VNI: %v", err)
		}
	})
	u = underlay(t)
	u.Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0/24"}
	err = k8s.Update(ctx, u, client.DryRunAll)
	if err == nil {
		t.Fatal("dropping the IPv6 pool an L2VNI uses was admitted")
	}
	for _, want := range []string{"denied the request", "L2VNI " + ns + "/green: spec.underlayAddressFamily"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal does not say %q: %v", want, err)
		}
	}
}
