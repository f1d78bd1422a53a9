package objects

import (
	"fmt"
	"iter"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Kind names, as in apiVersion/kind and in Ref.Kind.
const (
	KindUnderlay      = "Underlay"
	KindL3VNI         = "L3VNI"
	KindL2VNI         = "L2VNI"
	KindL3Passthrough = "L3Passthrough"
	KindRawFRRConfig  = "RawFRRConfig"
	KindSecret        = "Secret"
)

// RefOf returns the Ref of a perouter object or Secret.
func RefOf(kind string, meta metav1.ObjectMeta) Ref {
	return Ref{Kind: kind, Namespace: meta.Namespace, Name: meta.Name}
}

// Object is a perouter object (or Secret) as the API machinery hands it
// around. A controller-runtime client.Object satisfies it, and it
// satisfies client.Object, without this package importing
// controller-runtime: the core imports no Kubernetes client.
type Object interface {
	metav1.Object
	runtime.Object
}

// ObjectList is a list of objects of one kind, as client.ObjectList.
type ObjectList interface {
	metav1.ListInterface
	runtime.Object
}

// Kind is one entry of the registry of perouter resource kinds: all that
// code which handles every kind alike (decoding, defaults, the webhook,
// the controllers' lists, lookups and watches, the status aggregator)
// needs to know of one kind, so that none of it names the kinds' Go
// types. Adding a kind is adding its API type, its field in Set and one
// entry to kinds; the rules of the kind itself live in operator/validate,
// operator/nodeconfig and operator/frr.
type Kind struct {
	// Name is the kind as in apiVersion/kind and in Ref.Kind.
	Name       string
	apiVersion string

	newObject func() Object
	newList   func() ObjectList
	owns      func(Object) bool
	ownsList  func(ObjectList) bool
	in        func(*Set) []Object
	each      func(*Set, func(Object) bool) bool
	count     func(*Set) int
	add       func(*Set, Object)
	put       func(*Set, Object)
	appendAll func(dst, src *Set)
	clone     func(*Set)
	fromList  func(*Set, ObjectList)
	listItems func(ObjectList) []Object
	setItems  func(ObjectList, []Object)
	defaults  func(Object)
	selector  func(Object) *metav1.LabelSelector
	status    func(Object) *v1alpha1.ObjectStatus
}

// kinds is the registry, in the order a Set lists its kinds.
var kinds = []*Kind{
	newKind(KindUnderlay, v1alpha1.GroupVersion.String(),
		func(s *Set) *[]v1alpha1.Underlay { return &s.Underlays },
		func(l *v1alpha1.UnderlayList) *[]v1alpha1.Underlay { return &l.Items },
		defaultUnderlay,
		func(o *v1alpha1.Underlay) (*metav1.LabelSelector, *v1alpha1.ObjectStatus) {
			return o.Spec.NodeSelector, &o.Status.ObjectStatus
		}),
	newKind(KindL3VNI, v1alpha1.GroupVersion.String(),
		func(s *Set) *[]v1alpha1.L3VNI { return &s.L3VNIs },
		func(l *v1alpha1.L3VNIList) *[]v1alpha1.L3VNI { return &l.Items },
		defaultL3VNI,
		func(o *v1alpha1.L3VNI) (*metav1.LabelSelector, *v1alpha1.ObjectStatus) {
			return o.Spec.NodeSelector, &o.Status.ObjectStatus
		}),
	newKind(KindL2VNI, v1alpha1.GroupVersion.String(),
		func(s *Set) *[]v1alpha1.L2VNI { return &s.L2VNIs },
		func(l *v1alpha1.L2VNIList) *[]v1alpha1.L2VNI { return &l.Items },
		defaultL2VNI,
		func(o *v1alpha1.L2VNI) (*metav1.LabelSelector, *v1alpha1.ObjectStatus) {
			return o.Spec.NodeSelector, &o.Status.ObjectStatus
		}),
	newKind(KindL3Passthrough, v1alpha1.GroupVersion.String(),
		func(s *Set) *[]v1alpha1.L3Passthrough { return &s.L3Passthroughs },
		func(l *v1alpha1.L3PassthroughList) *[]v1alpha1.L3Passthrough { return &l.Items },
		defaultL3Passthrough,
		func(o *v1alpha1.L3Passthrough) (*metav1.LabelSelector, *v1alpha1.ObjectStatus) {
			return o.Spec.NodeSelector, &o.Status.ObjectStatus
		}),
	newKind(KindRawFRRConfig, v1alpha1.GroupVersion.String(),
		func(s *Set) *[]v1alpha1.RawFRRConfig { return &s.RawFRRConfigs },
		func(l *v1alpha1.RawFRRConfigList) *[]v1alpha1.RawFRRConfig { return &l.Items },
		defaultRawFRRConfig,
		func(o *v1alpha1.RawFRRConfig) (*metav1.LabelSelector, *v1alpha1.ObjectStatus) {
			return o.Spec.NodeSelector, &o.Status.ObjectStatus
		}),
}

// secretKind is a Set's Secrets: decoded, defaulted and merged like the
// perouter kinds, but neither selected nor given a status, so it is no
// entry of the registry.
var secretKind = newKind(KindSecret, corev1.SchemeGroupVersion.String(),
	func(s *Set) *[]corev1.Secret { return &s.Secrets },
	func(l *corev1.SecretList) *[]corev1.Secret { return &l.Items },
	defaultSecret, nil)

// Kinds lists the perouter resource kinds (Secrets aside), in the order a
// Set lists them.
func Kinds() []*Kind { return slices.Clone(kinds) }

// decodable is every kind a Set holds: the perouter kinds and Secrets.
func decodable() []*Kind { return append(Kinds(), secretKind) }

// KindNamed returns the perouter kind of that name, or nil.
func KindNamed(name string) *Kind {
	for _, k := range kinds {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// KindOf returns the kind of a perouter object, or nil for any other
// object (a Secret included).
func KindOf(o Object) *Kind {
	for _, k := range kinds {
		if k.owns(o) {
			return k
		}
	}
	return nil
}

// KindOfList returns the kind whose list l is, or nil.
func KindOfList(l ObjectList) *Kind {
	for _, k := range kinds {
		if k.ownsList(l) {
			return k
		}
	}
	return nil
}

// RefTo returns the Ref of a perouter object; an object of no perouter
// kind gets an empty Kind.
func RefTo(o Object) Ref {
	if k := KindOf(o); k != nil {
		return k.Ref(o)
	}
	return Ref{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// New returns an empty object of the kind.
func (k *Kind) New() Object { return k.newObject() }

// NewList returns an empty list of the kind.
func (k *Kind) NewList() ObjectList { return k.newList() }

// Ref returns the Ref of an object of the kind.
func (k *Kind) Ref(o Object) Ref {
	return Ref{Kind: k.Name, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// In returns the objects of the kind in s, as pointers into s.
func (k *Kind) In(s *Set) []Object { return k.in(s) }

// Len returns the number of objects of the kind in s.
func (k *Kind) Len(s *Set) int { return k.count(s) }

// Items returns a list's objects, as pointers into the list.
func (k *Kind) Items(l ObjectList) []Object { return k.listItems(l) }

// SetItems makes objs, of the kind, the list's items (shallow copies of
// the objects, as a cache hands them out when told not to deep-copy).
func (k *Kind) SetItems(l ObjectList, objs []Object) { k.setItems(l, objs) }

// NodeSelector returns an object's spec.nodeSelector (nil: every node).
func (k *Kind) NodeSelector(o Object) *metav1.LabelSelector {
	if k.selector == nil {
		return nil
	}
	return k.selector(o)
}

// Status returns a pointer to an object's status, the part every
// perouter kind shares.
func (k *Kind) Status(o Object) *v1alpha1.ObjectStatus {
	if k.status == nil {
		return nil
	}
	return k.status(o)
}

// All yields every perouter object of s (Secrets aside) with its kind, kind
// by kind in the order of Kinds; the objects are pointers into s.
func (s *Set) All() iter.Seq2[*Kind, Object] {
	return func(yield func(*Kind, Object) bool) {
		for _, k := range kinds {
			if !k.each(s, func(o Object) bool { return yield(k, o) }) {
				return
			}
		}
	}
}

// Len returns the number of perouter objects in s (Secrets aside).
func (s *Set) Len() int {
	n := 0
	for _, k := range kinds {
		n += k.count(s)
	}
	return n
}

// Find returns the perouter object ref names (a pointer into s), or nil.
func (s *Set) Find(ref Ref) Object {
	k := KindNamed(ref.Kind)
	if k == nil {
		return nil
	}
	for _, o := range k.in(s) {
		if o.GetNamespace() == ref.Namespace && o.GetName() == ref.Name {
			return o
		}
	}
	return nil
}

// With returns a copy of s in which o replaces the object of the same
// kind, namespace and name, or is added. s is not modified. An object of
// no perouter kind changes nothing.
func (s Set) With(o Object) Set {
	out := s
	for _, k := range decodable() {
		k.clone(&out)
	}
	if k := KindOf(o); k != nil {
		k.put(&out, o)
	}
	return out
}

// Collect returns the Set of every perouter object (no Secret) that list
// puts into the lists it is handed, one empty list of each kind: a
// client's List, with its options. The Set holds the lists' items, not
// copies.
func Collect(list func(ObjectList) error) (Set, error) {
	var s Set
	for _, k := range kinds {
		l := k.newList()
		if err := list(l); err != nil {
			return s, fmt.Errorf("listing %T: %w", l, err)
		}
		k.fromList(&s, l)
	}
	return s, nil
}

// newKind builds a registry entry from the kind's Go types: T the object,
// L its list; field finds the kind's objects in a Set, items in a list.
// defaults fills the CRD defaults; parts gives the node selector and the
// status (nil for Secrets).
func newKind[T any, PT interface {
	*T
	Object
}, L any, PL interface {
	*L
	ObjectList
}](name, apiVersion string, field func(*Set) *[]T, items func(*L) *[]T, defaults func(*T),
	parts func(*T) (*metav1.LabelSelector, *v1alpha1.ObjectStatus)) *Kind {
	pointers := func(objs []T) []Object {
		out := make([]Object, len(objs))
		for i := range objs {
			out[i] = PT(&objs[i])
		}
		return out
	}
	k := &Kind{
		Name:       name,
		apiVersion: apiVersion,
		newObject:  func() Object { return PT(new(T)) },
		newList:    func() ObjectList { return PL(new(L)) },
		owns:       func(o Object) bool { _, ok := o.(PT); return ok },
		ownsList:   func(l ObjectList) bool { _, ok := l.(PL); return ok },
		in:         func(s *Set) []Object { return pointers(*field(s)) },
		each: func(s *Set, yield func(Object) bool) bool {
			objs := *field(s)
			for i := range objs {
				if !yield(PT(&objs[i])) {
					return false
				}
			}
			return true
		},
		count: func(s *Set) int { return len(*field(s)) },
		add: func(s *Set, o Object) {
			f := field(s)
			*f = append(*f, *o.(PT))
		},
		put: func(s *Set, o Object) {
			f := field(s)
			obj := *o.(PT)
			for i := range *f {
				if PT(&(*f)[i]).GetNamespace() == o.GetNamespace() && PT(&(*f)[i]).GetName() == o.GetName() {
					(*f)[i] = obj
					return
				}
			}
			*f = append(*f, obj)
		},
		appendAll: func(dst, src *Set) {
			f := field(dst)
			*f = append(*f, *field(src)...)
		},
		clone:     func(s *Set) { f := field(s); *f = slices.Clone(*f) },
		fromList:  func(s *Set, l ObjectList) { *field(s) = *items(l.(PL)) },
		listItems: func(l ObjectList) []Object { return pointers(*items(l.(PL))) },
		setItems: func(l ObjectList, objs []Object) {
			out := make([]T, len(objs))
			for i, o := range objs {
				out[i] = *o.(PT)
			}
			*items(l.(PL)) = out
		},
		defaults: func(o Object) { defaults(o.(PT)) },
	}
	if parts != nil {
		k.selector = func(o Object) *metav1.LabelSelector { sel, _ := parts(o.(PT)); return sel }
		k.status = func(o Object) *v1alpha1.ObjectStatus { _, st := parts(o.(PT)); return st }
	}
	return k
}
