package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// inputFingerprint names every input of nodeconfig.Build, frr.Render and
// hostnet.PlanFor for this node, cheaply: no object is copied or decoded.
// Equal fingerprints mean an equal rendered config and plan, so a
// reconcile whose fingerprint equals the last applied one can skip them.
//
// Perouter objects count by UID and generation, not resourceVersion: Build
// reads their spec, name, namespace and creation time only, and the
// status aggregator's writes (and label or annotation edits) bump the
// resourceVersion but not the generation, which the API server increments
// on every spec change. The UID catches a delete and re-create under the
// same name. Every object counts, selected or not, since validate.Set's
// cross-object rules (duplicate VNIs, overlapping CIDRs) see them all.
// Secrets count by the resourceVersion of their cached metadata, and the
// Node by the labels some selector reads plus its index label, and its
// addresses (hostnet.PlanOptions.NodeAddresses).
func (r *NodeReconciler) inputFingerprint(ctx context.Context, node *corev1.Node) (string, error) {
	var (
		ul v1alpha1.UnderlayList
		l3 v1alpha1.L3VNIList
		l2 v1alpha1.L2VNIList
		pt v1alpha1.L3PassthroughList
	)
	// The fingerprint only reads the listed objects, so the cache's own
	// copies do and nothing is deep-copied.
	for _, l := range []client.ObjectList{&ul, &l3, &l2, &pt} {
		if err := r.Client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return "", fmt.Errorf("listing %T: %w", l, err)
		}
	}
	entries := make([]string, 0, len(ul.Items)+len(l3.Items)+len(l2.Items)+len(pt.Items)+4)
	keys := map[string]bool{}
	add := func(kind string, m *metav1.ObjectMeta, sel *metav1.LabelSelector) {
		version := strconv.FormatInt(m.Generation, 10)
		if m.Generation == 0 {
			// A store that does not track generations (never the API
			// server) still changes the resourceVersion on every write.
			version = "rv" + m.ResourceVersion
		}
		entries = append(entries, kind+" "+m.Namespace+"/"+m.Name+" "+string(m.UID)+" "+version)
		if sel == nil {
			return
		}
		for k := range sel.MatchLabels {
			keys[k] = true
		}
		for _, e := range sel.MatchExpressions {
			keys[e.Key] = true
		}
	}
	for i := range ul.Items {
		add(objects.KindUnderlay, &ul.Items[i].ObjectMeta, ul.Items[i].Spec.NodeSelector)
	}
	for i := range l3.Items {
		add(objects.KindL3VNI, &l3.Items[i].ObjectMeta, l3.Items[i].Spec.NodeSelector)
	}
	for i := range l2.Items {
		add(objects.KindL2VNI, &l2.Items[i].ObjectMeta, l2.Items[i].Spec.NodeSelector)
	}
	for i := range pt.Items {
		add(objects.KindL3Passthrough, &pt.Items[i].ObjectMeta, pt.Items[i].Spec.NodeSelector)
	}
	for _, key := range objects.PasswordSecrets(ul.Items) {
		if r.Namespace != "" && key.Namespace != r.Namespace {
			// Unreadable (RBAC, cache): validate refuses the reference.
			entries = append(entries, "Secret "+key.String()+" unreadable")
			continue
		}
		secret := metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		version := "absent"
		if err := r.Client.Get(ctx, key, &secret); err == nil {
			version = string(secret.UID) + " " + secret.ResourceVersion
		} else if !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("reading Secret %s metadata: %w", key, err)
		}
		entries = append(entries, "Secret "+key.String()+" "+version)
	}
	// The cache lists in no particular order.
	slices.Sort(entries)

	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	keys[v1alpha1.NodeIndexLabel] = true
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if v, ok := node.Labels[k]; ok {
			fmt.Fprintf(&b, "label %s=%s\n", k, v)
		} else {
			fmt.Fprintf(&b, "label %s absent\n", k)
		}
	}
	fmt.Fprintf(&b, "node %s plan %+v\n", node.Name, r.planOptions(node))
	return b.String(), nil
}
