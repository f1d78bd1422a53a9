package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// TestInputFingerprint checks which changes invalidate the fast path. The
// fake client does not bump generations, so the spec cases bump it the
// way the API server does on a spec change; the envtest suite covers the
// real API server.
func TestInputFingerprint(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		change  func(t *testing.T, c client.Client, r *NodeReconciler)
		changed bool
	}{
		"nothing": {changed: false, change: func(*testing.T, client.Client, *NodeReconciler) {}},
		"L3VNI status written by the aggregator": {changed: false, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			v := getL3VNI(t, c, "vni-1")
			v.Status.SelectedNodes = 7
			must(t, c.Status().Update(ctx, v))
		}},
		"annotation on an L3VNI": {changed: false, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			v := getL3VNI(t, c, "vni-1")
			v.Annotations = map[string]string{"touched": "yes"}
			must(t, c.Update(ctx, v))
		}},
		"spec of an unselected L3VNI": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			v := getL3VNI(t, c, "vni-1")
			v.Spec.VNI = 4242
			v.Generation++
			must(t, c.Update(ctx, v))
		}},
		"L3VNI deleted and created again": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			v := getL3VNI(t, c, "vni-0")
			must(t, c.Delete(ctx, v))
			v.ResourceVersion, v.UID = "", types.UID("recreated")
			must(t, c.Create(ctx, v))
		}},
		"new L2VNI": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			must(t, c.Create(ctx, &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: objectstest.Namespace, Name: "l2", Generation: 1},
				Spec: v1alpha1.L2VNISpec{VNI: 300}}))
		}},
		"new RawFRRConfig": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			must(t, c.Create(ctx, &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: objectstest.Namespace, Name: "raw", Generation: 1},
				Spec: v1alpha1.RawFRRConfigSpec{RawConfig: "ip prefix-list PL seq 5 permit 10.0.0.0/8\n"}}))
		}},
		"RawFRRConfig priority changed": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			var r v1alpha1.RawFRRConfig
			must(t, c.Get(ctx, client.ObjectKey{Namespace: objectstest.Namespace, Name: "rack-b-raw"}, &r))
			r.Spec.Priority = ptr.To[int32](7)
			r.Generation++
			must(t, c.Update(ctx, &r))
		}},
		"Node label only a RawFRRConfig's selector reads": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeLabel(t, c, "raw", "yes")
		}},
		"referenced Secret changed": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			var s corev1.Secret
			must(t, c.Get(ctx, client.ObjectKey{Namespace: objectstest.Namespace, Name: "leaf-password"}, &s))
			s.Data = map[string][]byte{"password": []byte("new")}
			must(t, c.Update(ctx, &s))
		}},
		"unreferenced Secret changed": {changed: false, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			var s corev1.Secret
			must(t, c.Get(ctx, client.ObjectKey{Namespace: objectstest.Namespace, Name: "other"}, &s))
			s.Data = map[string][]byte{"k": []byte("new")}
			must(t, c.Update(ctx, &s))
		}},
		"Node label a selector reads": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeLabel(t, c, "rack", "b")
		}},
		"Node label no selector reads": {changed: false, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeLabel(t, c, "kubernetes.io/arch", "arm64")
		}},
		"Node index label": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeLabel(t, c, v1alpha1.NodeIndexLabel, "3")
		}},
		// The datapath never moves the NIC holding one of them.
		"Node InternalIP": {changed: true, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeAddresses(t, c, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.50.7"})
		}},
		"Node hostname address": {changed: false, change: func(t *testing.T, c client.Client, _ *NodeReconciler) {
			setNodeAddresses(t, c, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "node-0"})
		}},
		"plan options": {changed: true, change: func(_ *testing.T, _ client.Client, r *NodeReconciler) {
			r.PlanOptions = hostnet.PlanOptions{Netns: "other"}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := fingerprintClient(t)
			r := &NodeReconciler{Client: c, NodeName: "node-0"}
			before := fingerprintOf(t, c, r)
			tc.change(t, c, r)
			after := fingerprintOf(t, c, r)
			if changed := before != after; changed != tc.changed {
				t.Errorf("fingerprint changed = %v, want %v\nbefore:\n%s\nafter:\n%s", changed, tc.changed, before, after)
			}
		})
	}
}

func fingerprintClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	must(t, clientgoscheme.AddToScheme(scheme))
	must(t, v1alpha1.AddToScheme(scheme))
	lab := objectstest.Lab(2)
	lab.Underlays[0].Spec.Neighbors[0].PasswordSecret = "leaf-password"
	lab.L3VNIs[1].Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
	objs := []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-0", Labels: map[string]string{v1alpha1.NodeIndexLabel: "0", "rack": "a"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: objectstest.Namespace, Name: "leaf-password"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: objectstest.Namespace, Name: "other"}},
		&v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: objectstest.Namespace, Name: "rack-b-raw", Generation: 1},
			Spec: v1alpha1.RawFRRConfigSpec{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"raw": "yes"}}, RawConfig: "ip prefix-list PL seq 5 permit 10.0.0.0/8\n"}},
	}
	for i := range lab.Underlays {
		lab.Underlays[i].Generation = 1
		objs = append(objs, &lab.Underlays[i])
	}
	for i := range lab.L3VNIs {
		lab.L3VNIs[i].Generation = 1
		objs = append(objs, &lab.L3VNIs[i])
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.L3VNI{}).Build()
}

func fingerprintOf(t *testing.T, c client.Client, r *NodeReconciler) string {
	t.Helper()
	var n corev1.Node
	must(t, c.Get(context.Background(), client.ObjectKey{Name: "node-0"}, &n))
	fp, err := r.inputFingerprint(context.Background(), &n)
	must(t, err)
	return fp
}

func getL3VNI(t *testing.T, c client.Client, name string) *v1alpha1.L3VNI {
	t.Helper()
	var v v1alpha1.L3VNI
	must(t, c.Get(context.Background(), client.ObjectKey{Namespace: objectstest.Namespace, Name: name}, &v))
	return &v
}

func setNodeLabel(t *testing.T, c client.Client, key, value string) {
	t.Helper()
	var n corev1.Node
	must(t, c.Get(context.Background(), client.ObjectKey{Name: "node-0"}, &n))
	n.Labels[key] = value
	must(t, c.Update(context.Background(), &n))
}

func setNodeAddresses(t *testing.T, c client.Client, addrs ...corev1.NodeAddress) {
	t.Helper()
	var n corev1.Node
	must(t, c.Get(context.Background(), client.ObjectKey{Name: "node-0"}, &n))
	n.Status.Addresses = addrs
	must(t, c.Status().Update(context.Background(), &n))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
