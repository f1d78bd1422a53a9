package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// dependentObjects is a folder of manifests in which two objects refer to
// others: the Underlay reads its first neighbour's password from a
// Secret, and an L2VNI routes through the L3VNI. Each call returns fresh
// objects (create mutates what it is given).
func dependentObjects() []client.Object {
	ul, vni := labObjects()
	ul.Spec.Neighbors[0].PasswordSecret = "order-password"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "order-password"},
		StringData: map[string]string{"password": "order-secret"}}
	l2 := &v1alpha1.L2VNI{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "order-l2"},
		Spec: v1alpha1.L2VNISpec{VNI: 300, GatewayIPs: []string{"192.170.1.1/24"},
			RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: vni.Name}}},
	}
	return []client.Object{secret, ul, vni, l2}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

// TestApplyOrderNeverMatters creates the same objects in each of the 24
// orders and checks that the node always ends with the same FRR config,
// every object applied: an object created before what it refers to waits
// and applies once that appears.
func TestApplyOrderNeverMatters(t *testing.T) {
	needAPIServer(t)
	const nodeName = "anyorder-0"
	createNode(t, nodeName, 0, nil)
	r := startManager(t, managerOptions{nodes: []string{nodeName}})[nodeName]

	wantResults := []v1alpha1.ObjectResult{
		{Kind: "L2VNI", Namespace: ns, Name: "order-l2", Generation: 1, Result: v1alpha1.ResultApplied},
		{Kind: "L3VNI", Namespace: ns, Name: "vni-0", Generation: 1, Result: v1alpha1.ResultApplied},
		{Kind: "Underlay", Namespace: ns, Name: "underlay", Generation: 1, Result: v1alpha1.ResultApplied},
	}
	var reference string
	orders := permutations(4)
	if len(orders) != 24 {
		t.Fatalf("%d orders, want 24", len(orders))
	}
	for _, order := range orders {
		objs := dependentObjects()
		var names []string
		for _, i := range order {
			names = append(names, fmt.Sprintf("%T", objs[i])[strings.LastIndex(fmt.Sprintf("%T", objs[i]), ".")+1:])
		}
		t.Run(strings.Join(names, "-"), func(t *testing.T) {
			for _, i := range order {
				create(t, objs[i])
			}
			eventually(t, "every object applied", func() (bool, string) {
				rns, err := getRNS(nodeName)
				if err != nil {
					return false, err.Error()
				}
				c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
				ok := c != nil && c.Status == metav1.ConditionTrue && slices.Equal(rns.Status.Objects, wantResults) &&
					rns.Status.AppliedConfigHash == configHash(r.frr.last())
				return ok, fmt.Sprintf("%+v", rns.Status)
			})
			last := r.frr.last()
			for _, want := range []string{"password order-secret", "vni 100", "vni 300"} {
				if !strings.Contains(last, want) {
					t.Errorf("config lacks %q:\n%s", want, last)
				}
			}
			if reference == "" {
				reference = last
			} else if last != reference {
				t.Errorf("config differs from the first order's:\n%s\nfirst:\n%s", last, reference)
			}
		})
		// The subtest's cleanup deleted the objects; wait until the node
		// has dropped them, so the next order starts from nothing.
		eventually(t, "node back to no objects", func() (bool, string) {
			rns, err := getRNS(nodeName)
			if err != nil {
				return false, err.Error()
			}
			return len(rns.Status.Objects) == 0 && !strings.Contains(r.frr.last(), "vni 300"), fmt.Sprintf("%+v", rns.Status.Objects)
		})
	}
}

// TestDependencyMissingReported checks what the user sees while an
// object waits: the L2VNI's result and its Applied condition say
// DependencyMissing and it stays Valid; the Underlay waiting for its
// Secret keeps the node's config (here none) with the node's Applied
// condition saying DependencyMissing. Both apply once the target exists.
func TestDependencyMissingReported(t *testing.T) {
	needAPIServer(t)
	const nodeName = "waits-0"
	createNode(t, nodeName, 0, nil)
	objs := dependentObjects()
	secret, ul, vni, l2 := objs[0], objs[1], objs[2], objs[3]
	create(t, ul, l2)
	r := startManager(t, managerOptions{nodes: []string{nodeName}, aggregator: true})[nodeName]

	eventually(t, "node waits for the Secret", func() (bool, string) {
		rns, err := getRNS(nodeName)
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Kind == "Underlay" })
		return c != nil && c.Reason == v1alpha1.ReasonDependencyMissing && strings.Contains(c.Message, "Secret "+ns+"/order-password does not exist yet") &&
			i >= 0 && rns.Status.Objects[i].Reason == v1alpha1.ReasonDependencyMissing, fmt.Sprintf("%+v", rns.Status)
	})
	if n := r.frr.count(); n != 0 {
		t.Errorf("%d reloads while the Underlay waits for its Secret, want 0", n)
	}
	eventually(t, "Underlay status: waiting, valid", func() (bool, string) {
		var got v1alpha1.Underlay
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ul), &got); err != nil {
			return false, err.Error()
		}
		applied := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionApplied)
		valid := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionValid)
		return applied != nil && applied.Reason == v1alpha1.ReasonDependencyMissing && valid != nil && valid.Status == metav1.ConditionTrue,
			fmt.Sprintf("%+v", got.Status)
	})

	create(t, secret)
	eventually(t, "L2VNI waits for its L3VNI, the rest applies", func() (bool, string) {
		rns, err := getRNS(nodeName)
		if err != nil {
			return false, err.Error()
		}
		i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool { return o.Kind == "L2VNI" })
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		return c != nil && c.Status == metav1.ConditionTrue && i >= 0 && rns.Status.Objects[i].Result == v1alpha1.ResultSkipped &&
			rns.Status.Objects[i].Reason == v1alpha1.ReasonDependencyMissing &&
			strings.Contains(rns.Status.Objects[i].Message, "spec.routingDomain.l3vni.name: L3VNI "+ns+"/vni-0 does not exist yet"), fmt.Sprintf("%+v", rns.Status)
	})
	eventually(t, "L2VNI status: waiting, valid", func() (bool, string) {
		var got v1alpha1.L2VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(l2), &got); err != nil {
			return false, err.Error()
		}
		applied := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionApplied)
		valid := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionValid)
		return applied != nil && applied.Status == metav1.ConditionFalse && applied.Reason == v1alpha1.ReasonDependencyMissing &&
			strings.Contains(applied.Message, "does not exist yet") && valid != nil && valid.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", got.Status)
	})

	create(t, vni)
	eventually(t, "L2VNI applied once its L3VNI exists", func() (bool, string) {
		var got v1alpha1.L2VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(l2), &got); err != nil {
			return false, err.Error()
		}
		applied := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionApplied)
		return applied != nil && applied.Status == metav1.ConditionTrue && got.Status.AppliedNodes == 1, fmt.Sprintf("%+v", got.Status)
	})
	if !strings.Contains(r.frr.last(), "vni 300") {
		t.Errorf("config lacks the L2VNI:\n%s", r.frr.last())
	}
}

// TestConflictJudgedPerNode: two L3VNIs share a VRF name. Where no node
// selects both (per rack) each node applies its own; on a node that
// selects both the older applies, the younger is skipped there, and both
// objects' status tell of it.
func TestConflictJudgedPerNode(t *testing.T) {
	needAPIServer(t)
	createNode(t, "rack1-0", 0, map[string]string{"rack": "rack-1", "zone": "a"})
	createNode(t, "rack2-0", 1, map[string]string{"rack": "rack-2", "zone": "b"})
	ul, _ := labObjects()
	l3 := func(name string, vni uint32, sel map[string]string) *v1alpha1.L3VNI {
		return &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.L3VNISpec{VRF: "tenant", VNI: vni, NodeSelector: &metav1.LabelSelector{MatchLabels: sel}}}
	}
	rack1, rack2 := l3("tenant-rack-1", 5001, map[string]string{"rack": "rack-1"}), l3("tenant-rack-2", 5002, map[string]string{"rack": "rack-2"})
	create(t, ul, rack1, rack2)
	routers := startManager(t, managerOptions{nodes: []string{"rack1-0", "rack2-0"}, aggregator: true})
	waitApplied(t, routers["rack1-0"], 1)
	waitApplied(t, routers["rack2-0"], 1)
	if c := routers["rack1-0"].frr.last(); !strings.Contains(c, "vni 5001") || strings.Contains(c, "vni 5002") {
		t.Errorf("rack-1 node's config does not carry its rack's VNI only:\n%s", c)
	}

	// Created later, selecting the rack-1 node too: it loses there.
	zone := l3("tenant-zone-a", 5003, map[string]string{"zone": "a"})
	create(t, zone)
	eventually(t, "the younger L3VNI invalid, naming the older; the older valid, winning", func() (bool, string) {
		var young, old v1alpha1.L3VNI
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(zone), &young); err != nil {
			return false, err.Error()
		}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rack1), &old); err != nil {
			return false, err.Error()
		}
		yv := meta.FindStatusCondition(young.Status.Conditions, v1alpha1.ConditionValid)
		ov := meta.FindStatusCondition(old.Status.Conditions, v1alpha1.ConditionValid)
		ok := yv != nil && yv.Status == metav1.ConditionFalse &&
			strings.Contains(yv.Message, `VRF "tenant" is also used by L3VNI `+ns+`/tenant-rack-1, created earlier, on node rack1-0`) &&
			ov != nil && ov.Status == metav1.ConditionTrue && ov.Reason == ReasonWinsConflict &&
			strings.Contains(ov.Message, ns+"/tenant-zone-a, created later, which is skipped on node rack1-0") &&
			old.Status.AppliedNodes == 1
		return ok, fmt.Sprintf("young %+v\nold %+v", young.Status, old.Status)
	})
	if c := routers["rack1-0"].frr.last(); !strings.Contains(c, "vni 5001") || strings.Contains(c, "vni 5003") {
		t.Errorf("rack-1 node's config changed to the younger L3VNI:\n%s", c)
	}
}
