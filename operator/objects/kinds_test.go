package objects

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// notUserKinds are the kinds of the API group that are no user object:
// the controllers' own per-node reports.
var notUserKinds = []string{"RouterNodeStatus"}

// TestKindsCoverTheAPIGroup: the registry has one entry for each kind the
// API group defines, with the Go types the scheme knows it by. A kind
// added to operator/api without its entry fails here.
func TestKindsCoverTheAPIGroup(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	apiPkg := reflect.TypeFor[v1alpha1.Underlay]().PkgPath()
	var want []string
	for name, typ := range scheme.KnownTypes(v1alpha1.GroupVersion) {
		if typ.PkgPath() == apiPkg && !strings.HasSuffix(name, "List") && !slices.Contains(notUserKinds, name) {
			want = append(want, name)
		}
	}
	var got []string
	for _, k := range Kinds() {
		got = append(got, k.Name)
		gvk := v1alpha1.GroupVersion.WithKind(k.Name)
		for _, c := range []struct {
			what string
			obj  runtime.Object
			gvk  string
		}{{"New", k.New(), gvk.String()}, {"NewList", k.NewList(), gvk.GroupVersion().WithKind(k.Name + "List").String()}} {
			gvks, _, err := scheme.ObjectKinds(c.obj)
			if err != nil {
				t.Errorf("%s: %s() gives %T: %v", k.Name, c.what, c.obj, err)
				continue
			}
			if len(gvks) != 1 || gvks[0].String() != c.gvk {
				t.Errorf("%s: %s() gives %T, which the scheme knows as %v, want %s", k.Name, c.what, c.obj, gvks, c.gvk)
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("registry kinds (-API group +registry):\n%s", diff)
	}
}

// TestSetHasOneFieldPerKind: every slice of a Set belongs to exactly one
// kind (the perouter kinds and Secrets), so no kind's objects escape the
// code the registry drives.
func TestSetHasOneFieldPerKind(t *testing.T) {
	setType := reflect.TypeFor[Set]()
	var fields []string
	for i := range setType.NumField() {
		if f := setType.Field(i); f.Type.Kind() == reflect.Slice {
			fields = append(fields, f.Name)
		}
	}
	var owners []string
	for _, k := range decodable() {
		var s Set
		obj := k.New()
		obj.SetName("one")
		k.add(&s, obj)
		v := reflect.ValueOf(s)
		var filled []string
		for _, name := range fields {
			if v.FieldByName(name).Len() > 0 {
				filled = append(filled, name)
			}
		}
		if len(filled) != 1 {
			t.Errorf("%s: adding one object fills Set fields %v, want exactly one", k.Name, filled)
			continue
		}
		owners = append(owners, filled[0])
		if n := k.Len(&s); n != 1 {
			t.Errorf("%s: Len = %d, want 1", k.Name, n)
		}
		if in := k.In(&s); len(in) != 1 || in[0].GetName() != "one" {
			t.Errorf("%s: In = %v, want the one object", k.Name, in)
		}
	}
	slices.Sort(fields)
	slices.Sort(owners)
	if diff := cmp.Diff(fields, owners); diff != "" {
		t.Errorf("Set slice fields (-fields +owned by a kind):\n%s", diff)
	}
}

func underlay(ns, name string, asn uint32) *v1alpha1.Underlay {
	return &v1alpha1.Underlay{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.UnderlaySpec{ASN: asn}}
}

func l3vni(ns, name string, vni uint32) *v1alpha1.L3VNI {
	return &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.L3VNISpec{VNI: vni}}
}

func TestSetWith(t *testing.T) {
	base := Set{
		Underlays:       []v1alpha1.Underlay{*underlay("a", "u", 1)},
		L3VNIs:          []v1alpha1.L3VNI{*l3vni("a", "red", 100), *l3vni("a", "blue", 200)},
		Secrets:         []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pw"}}},
		SecretNamespace: "a",
		SecretsUnread:   true,
	}
	tests := map[string]struct {
		obj  Object
		want func(s *Set)
	}{
		"replaces the object of the same kind, namespace and name": {
			obj:  l3vni("a", "blue", 201),
			want: func(s *Set) { s.L3VNIs[1].Spec.VNI = 201 },
		},
		"adds an object of another namespace": {
			obj:  l3vni("b", "blue", 300),
			want: func(s *Set) { s.L3VNIs = append(s.L3VNIs, *l3vni("b", "blue", 300)) },
		},
		"adds a kind the set has none of": {
			obj: &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "green"}},
			want: func(s *Set) {
				s.L2VNIs = []v1alpha1.L2VNI{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "green"}}}
			},
		},
		"an object of no perouter kind changes nothing": {
			obj:  &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pw2"}},
			want: func(*Set) {},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := cloneSet(base)
			got := base.With(tc.obj)
			want := cloneSet(base)
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("With (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, base); diff != "" {
				t.Errorf("With modified its receiver (-before +after):\n%s", diff)
			}
		})
	}
}

func cloneSet(s Set) Set {
	out := s
	out.Underlays = slices.Clone(s.Underlays)
	out.L3VNIs = slices.Clone(s.L3VNIs)
	out.L2VNIs = slices.Clone(s.L2VNIs)
	out.L3Passthroughs = slices.Clone(s.L3Passthroughs)
	out.Secrets = slices.Clone(s.Secrets)
	return out
}

func TestSetFind(t *testing.T) {
	s := Set{
		Underlays: []v1alpha1.Underlay{*underlay("a", "x", 1)},
		L3VNIs:    []v1alpha1.L3VNI{*l3vni("a", "x", 100), *l3vni("b", "x", 200)},
		Secrets:   []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "x"}}},
	}
	tests := map[string]struct {
		ref  Ref
		want Object // nil: not found
	}{
		"by kind, namespace and name":   {Ref{KindL3VNI, "b", "x"}, &s.L3VNIs[1]},
		"the same name of another kind": {Ref{KindUnderlay, "a", "x"}, &s.Underlays[0]},
		"absent":                        {Ref{KindL2VNI, "a", "x"}, nil},
		"Secrets are no perouter kind":  {Ref{KindSecret, "a", "x"}, nil},
		"unknown kind":                  {Ref{"Pod", "a", "x"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := s.Find(tc.ref)
			if tc.want == nil {
				if got != nil {
					t.Errorf("Find(%s) = %T %s, want nil", tc.ref, got, RefTo(got))
				}
				return
			}
			// The object itself, not a copy: callers record events on it.
			if got != tc.want {
				t.Errorf("Find(%s) = %v, want a pointer to %s", tc.ref, got, tc.ref)
			}
		})
	}
}

func TestCollect(t *testing.T) {
	served := Set{
		Underlays:      []v1alpha1.Underlay{*underlay("a", "u", 1)},
		L3VNIs:         []v1alpha1.L3VNI{*l3vni("a", "red", 100)},
		L3Passthroughs: []v1alpha1.L3Passthrough{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pt"}}},
	}
	var listed []string
	got, err := Collect(func(l ObjectList) error {
		k := KindOfList(l)
		if k == nil {
			t.Fatalf("Collect listed %T, of no kind", l)
		}
		listed = append(listed, k.Name)
		k.SetItems(l, k.In(&served))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A kind with no object may come back as an empty list or none.
	if diff := cmp.Diff(served, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Collect (-served +got):\n%s", diff)
	}
	if want := []string{KindUnderlay, KindL3VNI, KindL2VNI, KindL3Passthrough, KindRawFRRConfig}; !slices.Equal(listed, want) {
		t.Errorf("Collect listed %v, want %v", listed, want)
	}

	_, err = Collect(func(l ObjectList) error {
		if KindOfList(l).Name == KindL3VNI {
			return errors.New("forbidden")
		}
		return nil
	})
	if want := "listing *v1alpha1.L3VNIList: forbidden"; err == nil || err.Error() != want {
		t.Errorf("Collect with a failing list: %v, want %q", err, want)
	}
}

func TestKindOfAndRefTo(t *testing.T) {
	tests := map[string]struct {
		obj  Object
		want Ref
	}{
		"Underlay":      {underlay("a", "u", 1), Ref{KindUnderlay, "a", "u"}},
		"L3VNI":         {l3vni("a", "red", 1), Ref{KindL3VNI, "a", "red"}},
		"L2VNI":         {&v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "g"}}, Ref{KindL2VNI, "a", "g"}},
		"L3Passthrough": {&v1alpha1.L3Passthrough{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p"}}, Ref{KindL3Passthrough, "a", "p"}},
		// Not a perouter kind: the Ref has no kind, as the webhook's was.
		"Secret": {&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}}, Ref{"", "a", "s"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RefTo(tc.obj); got != tc.want {
				t.Errorf("RefTo = %#v, want %#v", got, tc.want)
			}
			k := KindOf(tc.obj)
			if tc.want.Kind == "" {
				if k != nil {
					t.Errorf("KindOf(%T) = %s, want nil", tc.obj, k.Name)
				}
				return
			}
			if k == nil || k != KindNamed(tc.want.Kind) {
				t.Errorf("KindOf(%T) = %v, want the entry %s", tc.obj, k, tc.want.Kind)
			}
		})
	}
}

// TestSetAll: every perouter object once, kind by kind, as pointers into
// the set; Secrets are not among them.
func TestSetAll(t *testing.T) {
	s := Set{
		Underlays:      []v1alpha1.Underlay{*underlay("a", "u", 1)},
		L3VNIs:         []v1alpha1.L3VNI{*l3vni("a", "red", 100), *l3vni("a", "blue", 200)},
		L3Passthroughs: []v1alpha1.L3Passthrough{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pt"}}},
		Secrets:        []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pw"}}},
	}
	var got []string
	for k, o := range s.All() {
		got = append(got, k.Ref(o).String())
	}
	want := []string{"Underlay a/u", "L3VNI a/red", "L3VNI a/blue", "L3Passthrough a/pt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
	if s.Len() != len(want) {
		t.Errorf("Len = %d, want %d", s.Len(), len(want))
	}
	for _, o := range s.All() {
		o.SetLabels(map[string]string{"seen": "yes"})
	}
	if s.L3VNIs[1].Labels["seen"] != "yes" {
		t.Errorf("All yields copies; want pointers into the set")
	}
}
