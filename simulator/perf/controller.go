package perf

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// countingFRR stands in for the reloader: it counts pushes, which is
// what the no-op target is about (zero FRR process invocations).
type countingFRR struct{ pushes atomic.Int64 }

func (c *countingFRR) Reload(context.Context, string) error {
	c.pushes.Add(1)
	return nil
}

// steadyDatapath is a datapath that already matches every plan.
type steadyDatapath struct{}

func (steadyDatapath) Prepare(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	return nil, nil
}

func (steadyDatapath) Activate(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	return nil, nil
}

func (steadyDatapath) Reapply(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	return nil, nil
}

// cachedReads serves the reconciler's cached reads (the Node and the
// perouter lists) the way controller-runtime's informer cache does: typed
// objects in memory, deep-copied unless the caller passes
// client.UnsafeDisableDeepCopy. The fake client alone round-trips every
// object through JSON on each List, which was 98 % of a fake List at 500
// VNIs and is a cost no deployed controller pays. Writes, the status and
// Secret metadata go to the fake client.
type cachedReads struct {
	client.Client
	node corev1.Node
	set  objects.Set
}

func (c cachedReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if n, ok := obj.(*corev1.Node); ok && key.Name == c.node.Name {
		c.node.DeepCopyInto(n)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c cachedReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var o client.ListOptions
	o.ApplyOptions(opts)
	shared := o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy
	k := objects.KindOfList(list)
	if k == nil {
		return c.Client.List(ctx, list, opts...)
	}
	objs := k.In(&c.set)
	if !shared {
		for i, o := range objs {
			objs[i] = o.DeepCopyObject().(objects.Object)
		}
	}
	k.SetItems(list, objs)
	return nil
}

// ControllerNoop times operator/controller's NodeReconciler.Reconcile for
// an event that changes nothing, with the lab's n L3VNIs served like the
// informer cache serves them (cachedReads), a datapath that is already in
// sync and an FRR port that counts pushes. It reports the pushes per
// reconcile, which must be zero.
func ControllerNoop(n int) func(*testing.B) {
	return func(b *testing.B) {
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			b.Fatal(err)
		}
		if err := v1alpha1.AddToScheme(scheme); err != nil {
			b.Fatal(err)
		}
		lab := objectstest.Lab(n)
		node := corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   LabNode.Name,
			Labels: map[string]string{v1alpha1.NodeIndexLabel: strconv.Itoa(LabNode.Index)},
		}}
		objs := []client.Object{&node}
		for _, o := range lab.All() {
			objs = append(objs, o)
		}
		api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
			WithStatusSubresource(&v1alpha1.RouterNodeStatus{}).Build()
		c := cachedReads{Client: api, node: node, set: lab}
		frr := &countingFRR{}
		r := &controller.NodeReconciler{
			Client: c, APIReader: api, NodeName: LabNode.Name, Namespace: controller.DefaultNamespace,
			FRR: frr, Datapath: steadyDatapath{},
		}
		ctx := context.Background()
		req := reconcile.Request{}
		if _, err := r.Reconcile(ctx, req); err != nil {
			b.Fatal(err)
		}
		if frr.pushes.Load() != 1 {
			b.Fatalf("first reconcile pushed %d configs, want 1", frr.pushes.Load())
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := r.Reconcile(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(frr.pushes.Load()-1)/float64(b.N), "frr-pushes/op")
	}
}
