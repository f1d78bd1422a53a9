package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// loadSet reads every perouter object and the Secrets their neighbours
// reference, and remembers each object's generation for the status.
func (r *NodeReconciler) loadSet(ctx context.Context) (objects.Set, map[objects.Ref]int64, error) {
	var (
		s     objects.Set
		ul    v1alpha1.UnderlayList
		l3    v1alpha1.L3VNIList
		l2    v1alpha1.L2VNIList
		pt    v1alpha1.L3PassthroughList
		gens  = map[objects.Ref]int64{}
		lists = []client.ObjectList{&ul, &l3, &l2, &pt}
	)
	for _, l := range lists {
		if err := r.Client.List(ctx, l); err != nil {
			return s, nil, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	s.Underlays, s.L3VNIs, s.L2VNIs, s.L3Passthroughs = ul.Items, l3.Items, l2.Items, pt.Items
	for _, u := range s.Underlays {
		gens[objects.RefOf(objects.KindUnderlay, u.ObjectMeta)] = u.Generation
	}
	for _, o := range s.L3VNIs {
		gens[objects.RefOf(objects.KindL3VNI, o.ObjectMeta)] = o.Generation
	}
	for _, o := range s.L2VNIs {
		gens[objects.RefOf(objects.KindL2VNI, o.ObjectMeta)] = o.Generation
	}
	for _, o := range s.L3Passthroughs {
		gens[objects.RefOf(objects.KindL3Passthrough, o.ObjectMeta)] = o.Generation
	}
	// The controller may read Secrets only in its own namespace (a Role):
	// validate reports a passwordSecret elsewhere on its Underlay.
	s.SecretNamespace = r.Namespace
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
