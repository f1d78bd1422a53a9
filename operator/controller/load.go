package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/perouter/perouter/operator/objects"
)

// loadSet reads every perouter object and the Secrets their neighbours
// reference, and remembers each object's generation for the status.
func (r *NodeReconciler) loadSet(ctx context.Context) (objects.Set, map[objects.Ref]int64, error) {
	s, err := objects.Collect(func(l objects.ObjectList) error { return r.Client.List(ctx, l) })
	if err != nil {
		return s, nil, err
	}
	gens := map[objects.Ref]int64{}
	for k, o := range s.All() {
		gens[k.Ref(o)] = o.GetGeneration()
	}
	// The controller may read Secrets only in its own namespace (a Role):
	// validate reports a passwordSecret elsewhere on its Underlay.
	s.SecretNamespace = r.Namespace
	// RawFRRConfigs apply only from the same namespace (docs/security.md):
	// validate reports one elsewhere on itself, and Build leaves it out.
	s.RawFRRConfigNamespace = r.Namespace
	for _, key := range objects.PasswordSecrets(s.Underlays) {
		if r.Namespace != "" && key.Namespace != r.Namespace {
			continue
		}
		var secret corev1.Secret
		if err := r.APIReader.Get(ctx, key, &secret); err != nil {
			if apierrors.IsNotFound(err) {
				continue // validate.Dependencies reports it; the node waits for it
			}
			return s, nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		s.Secrets = append(s.Secrets, secret)
	}
	return s, gens, nil
}
