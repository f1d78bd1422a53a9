// Package webhook rejects perouter objects the controller could not
// apply, at admission time, with the same rules the controller and
// perouterctl use (operator/validate).
//
// One handler serves all four kinds on create, update and delete. A
// change is judged against the whole cluster: the validator lists every
// perouter object, applies the candidate change to that set and refuses
// it when it introduces an error that the set did not already have.
// Errors that existed before (objects created while the webhook was down)
// do not block unrelated changes, and an update that does not make an
// object worse is let through.
//
// The webhook reads no Secret (least privilege: the labeler may read only
// its own certificate): a passwordSecret is checked here only for its
// namespace; whether the Secret exists and holds a valid password the
// controller checks, and reports in the Underlay's status.
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
)

// Path is where the validating webhook is served.
const Path = "/validate-perouter"

// Validator is the admission handler.
type Validator struct {
	// Reader lists the cluster's perouter objects. An API reader (not a
	// cache) sees a change admitted a moment ago.
	Reader  client.Reader
	Decoder admission.Decoder
	// SecretNamespace is the only namespace whose Secrets the controller
	// reads (objects.Set.SecretNamespace); empty: any.
	SecretNamespace string
}

// NewValidator returns a Validator decoding with scheme.
func NewValidator(reader client.Reader, scheme *runtime.Scheme, secretNamespace string) *Validator {
	return &Validator{Reader: reader, Decoder: admission.NewDecoder(scheme), SecretNamespace: secretNamespace}
}

var _ admission.Handler = (*Validator)(nil)

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	newObj, err := v.decode(req.Kind.Kind, req.Object)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	oldObj, err := v.decode(req.Kind.Kind, req.OldObject)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	current, err := v.load(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}

	var errs []validate.Error
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		if newObj == nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("%s request without an object", req.Operation))
		}
		candidate := withObject(current, newObj)
		errs = introduced(validate.Set(current), validate.Set(candidate))
		if req.Operation == admissionv1.Update && oldObj != nil {
			errs = append(validate.Update(oldObj, newObj), errs...)
		}
	case admissionv1.Delete:
		if oldObj == nil {
			return admission.Allowed("")
		}
		errs = validate.Deletion(current, oldObj)
	default:
		return admission.Allowed("")
	}
	if len(errs) == 0 {
		return admission.Allowed("")
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return admission.Denied(strings.Join(msgs, "; "))
}

func (v *Validator) decode(kind string, raw runtime.RawExtension) (client.Object, error) {
	if len(raw.Raw) == 0 {
		return nil, nil
	}
	var obj client.Object
	switch kind {
	case objects.KindUnderlay:
		obj = &v1alpha1.Underlay{}
	case objects.KindL3VNI:
		obj = &v1alpha1.L3VNI{}
	case objects.KindL2VNI:
		obj = &v1alpha1.L2VNI{}
	case objects.KindL3Passthrough:
		obj = &v1alpha1.L3Passthrough{}
	default:
		return nil, fmt.Errorf("kind %q is not a perouter kind", kind)
	}
	if err := v.Decoder.DecodeRaw(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	return obj, nil
}

// load lists the cluster's perouter objects (and no Secret).
func (v *Validator) load(ctx context.Context) (objects.Set, error) {
	var (
		s  objects.Set
		ul v1alpha1.UnderlayList
		l3 v1alpha1.L3VNIList
		l2 v1alpha1.L2VNIList
		pt v1alpha1.L3PassthroughList
	)
	for _, l := range []client.ObjectList{&ul, &l3, &l2, &pt} {
		if err := v.Reader.List(ctx, l); err != nil {
			return s, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	s.Underlays, s.L3VNIs, s.L2VNIs, s.L3Passthroughs = ul.Items, l3.Items, l2.Items, pt.Items
	s.SecretNamespace, s.SecretsUnread = v.SecretNamespace, true
	return s, nil
}

// withObject returns a copy of s in which obj replaces the object of the
// same kind, namespace and name, or is added.
func withObject(s objects.Set, obj client.Object) objects.Set {
	out := objects.Set{
		Underlays:      slices.Clone(s.Underlays),
		L3VNIs:         slices.Clone(s.L3VNIs),
		L2VNIs:         slices.Clone(s.L2VNIs),
		L3Passthroughs: slices.Clone(s.L3Passthroughs),
		Secrets:        slices.Clone(s.Secrets),

		SecretNamespace: s.SecretNamespace,
		SecretsUnread:   s.SecretsUnread,
	}
	switch o := obj.(type) {
	case *v1alpha1.Underlay:
		out.Underlays = replace(out.Underlays, *o, func(x v1alpha1.Underlay) metav1.ObjectMeta { return x.ObjectMeta })
	case *v1alpha1.L3VNI:
		out.L3VNIs = replace(out.L3VNIs, *o, func(x v1alpha1.L3VNI) metav1.ObjectMeta { return x.ObjectMeta })
	case *v1alpha1.L2VNI:
		out.L2VNIs = replace(out.L2VNIs, *o, func(x v1alpha1.L2VNI) metav1.ObjectMeta { return x.ObjectMeta })
	case *v1alpha1.L3Passthrough:
		out.L3Passthroughs = replace(out.L3Passthroughs, *o, func(x v1alpha1.L3Passthrough) metav1.ObjectMeta { return x.ObjectMeta })
	}
	return out
}

func replace[T any](items []T, obj T, meta func(T) metav1.ObjectMeta) []T {
	m := meta(obj)
	for i := range items {
		if im := meta(items[i]); im.Namespace == m.Namespace && im.Name == m.Name {
			items[i] = obj
			return items
		}
	}
	return append(items, obj)
}

// introduced returns the errors of after that before does not have.
func introduced(before, after []validate.Error) []validate.Error {
	had := map[string]int{}
	for _, e := range before {
		had[e.Error()]++
	}
	var out []validate.Error
	for _, e := range after {
		if had[e.Error()] > 0 {
			had[e.Error()]--
			continue
		}
		out = append(out, e)
	}
	return out
}
