package v1alpha1

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	for _, spec := range []any{UnderlaySpec{}, L3VNISpec{}, L2VNISpec{}, L3PassthroughSpec{}, RawFRRConfigSpec{}, ObjectStatus{}, RouterNodeStatusStatus{}} {
		typ := reflect.TypeOf(spec)
		walk(typ, typ.Name()+".")
	}
}

// TestAPIDocListsNotYetSupported fails when docs/api.md's table of fields
// not supported yet differs from NotYetSupported and NotYetSupportedKinds,
// the list validation and convert use.
func TestAPIDocListsNotYetSupported(t *testing.T) {
	data, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(data), "## Fields not supported yet\n")
	if !found {
		t.Fatal(`docs/api.md has no "## Fields not supported yet" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var want []string
	for _, f := range NotYetSupported {
		field := "`" + f.Path + "`"
		if f.Value != "" {
			field = "`" + f.Path + ": " + f.Value + "`"
		}
		want = append(want, "| "+f.Kind+" | "+field+" | "+f.Reason+" |")
	}
	kinds := make([]string, 0, len(NotYetSupportedKinds))
	for k := range NotYetSupportedKinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		want = append(want, "| "+k+" | (the kind) | "+NotYetSupportedKinds[k]+" |")
	}
	var got []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| kind ") && !strings.HasPrefix(line, "|---") {
			got = append(got, line)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("docs/api.md's table of fields not supported yet (-want +got):\n%s", diff)
	}
}
