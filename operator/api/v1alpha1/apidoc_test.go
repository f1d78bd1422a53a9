package v1alpha1

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestAPIDocCoversEveryField fails when a field of the API has no entry in
// docs/api.md, so the reference cannot fall behind the types.
func TestAPIDocCoversEveryField(t *testing.T) {
	data, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	skip := map[reflect.Type]bool{
		reflect.TypeOf(metav1.LabelSelector{}): true,
		reflect.TypeOf(metav1.Condition{}):     true,
		reflect.TypeOf(metav1.Time{}):          true,
		reflect.TypeOf(runtime.RawExtension{}): true,
	}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || skip[typ] {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" { // inlined
				walk(f.Type, path)
				continue
			}
			// The field appears as a column entry or inside a path, e.g.
			// `spec.interfaces[].networkDevice.interfaceName`.
			if !regexp.MustCompile("[`.]" + regexp.QuoteMeta(name) + "[`.\\[]").MatchString(doc) {
				t.Errorf("docs/api.md does not document %s%s", path, name)
			}
			walk(f.Type, path+name+".")
		}
	}
	for _, spec := range []any{UnderlaySpec{}, L3VNISpec{}, L2VNISpec{}, L3PassthroughSpec{}, ObjectStatus{}, RouterNodeStatusStatus{}} {
		typ := reflect.TypeOf(spec)
		walk(typ, typ.Name()+".")
	}
}
