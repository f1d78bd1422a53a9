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
	// The fingerprint only reads the listed objects, so the cache's own
	// copies do and nothing is deep-copied.
	s, err := objects.Collect(func(l objects.ObjectList) error { return r.Client.List(ctx, l, client.UnsafeDisableDeepCopy) })
	if err != nil {
		return "", err
	}
	entries := make([]string, 0, s.Len()+4)
	keys := map[string]bool{}
	for k, o := range s.All() {
		version := strconv.FormatInt(o.GetGeneration(), 10)
		if o.GetGeneration() == 0 {
			// A store that does not track generations (never the API
			// server) still changes the resourceVersion on every write.
			version = "rv" + o.GetResourceVersion()
		}
		entries = append(entries, k.Name+" "+o.GetNamespace()+"/"+o.GetName()+" "+string(o.GetUID())+" "+version)
		sel := k.NodeSelector(o)
		if sel == nil {
			continue
		}
		for label := range sel.MatchLabels {
			keys[label] = true
		}
		for _, e := range sel.MatchExpressions {
			keys[e.Key] = true
		}
	}
	for _, key := range objects.PasswordSecrets(s.Underlays) {
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
