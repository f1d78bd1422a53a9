package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// Every kind must reach a scheme through AddToScheme: a *_types.go file
// that forgets its register call would leave the kind unknown to the
// controller's client.
func TestAddToSchemeKnowsEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]runtime.Object{
		"Underlay":             &Underlay{},
		"UnderlayList":         &UnderlayList{},
		"L3VNI":                &L3VNI{},
		"L3VNIList":            &L3VNIList{},
		"L2VNI":                &L2VNI{},
		"L2VNIList":            &L2VNIList{},
		"L3Passthrough":        &L3Passthrough{},
		"L3PassthroughList":    &L3PassthroughList{},
		"RouterNodeStatus":     &RouterNodeStatus{},
		"RouterNodeStatusList": &RouterNodeStatusList{},
		// meta/v1 types every served group version needs (ListOptions
		// for list and watch requests).
		"ListOptions": nil,
	}
	for kind, obj := range kinds {
		t.Run(kind, func(t *testing.T) {
			gvk := GroupVersion.WithKind(kind)
			if !s.Recognizes(gvk) {
				t.Fatalf("scheme does not recognize %s", gvk)
			}
			if obj == nil {
				return
			}
			got, _, err := s.ObjectKinds(obj)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != gvk {
				t.Errorf("ObjectKinds(%T) = %v, want [%s]", obj, got, gvk)
			}
		})
	}
}
