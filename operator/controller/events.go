package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// eventNewFailures sends an event to each object whose result on this
// node became a failure, or another one, since the previous status.
func (r *NodeReconciler) eventNewFailures(node *corev1.Node, previous, current []v1alpha1.ObjectResult, set objects.Set) {
	before := map[objects.Ref]v1alpha1.ObjectResult{}
	for _, o := range previous {
		before[objects.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = o
	}
	for _, o := range current {
		if o.Result == v1alpha1.ResultApplied {
			continue
		}
		ref := objects.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		if b, ok := before[ref]; ok && b.Result == o.Result && b.Message == o.Message && b.Generation == o.Generation {
			continue
		}
		if obj := set.Find(ref); obj != nil {
			r.event(obj, node, corev1.EventTypeWarning, EventObjectSkipped, fmt.Sprintf("node %s: %s", r.NodeName, o.Message))
		}
	}
}

func (r *NodeReconciler) event(regarding, related client.Object, eventType, reason, note string) {
	if r.Recorder == nil {
		return
	}
	if related == nil {
		// A typed nil inside the interface would be dereferenced.
		r.Recorder.Eventf(regarding, nil, eventType, reason, "Reconcile", "%s", note)
		return
	}
	r.Recorder.Eventf(regarding, related, eventType, reason, "Reconcile", "%s", note)
}
