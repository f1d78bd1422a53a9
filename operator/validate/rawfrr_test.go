package validate

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

func i32(v int32) *int32 { return &v }

func rawConfig(name, text string) v1alpha1.RawFRRConfig {
	return v1alpha1.RawFRRConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "perouter-system"},
		Spec:       v1alpha1.RawFRRConfigSpec{Priority: i32(0), RawConfig: text},
	}
}

func TestRawFRRConfigRules(t *testing.T) {
	const raw = "RawFRRConfig perouter-system/raw: "
	tests := map[string]struct {
		mutate func(r *v1alpha1.RawFRRConfig, s *objects.Set)
		want   []string
	}{
		"valid":                  {mutate: func(*v1alpha1.RawFRRConfig, *objects.Set) {}},
		"valid in its namespace": {mutate: func(_ *v1alpha1.RawFRRConfig, s *objects.Set) { s.RawFRRConfigNamespace = "perouter-system" }},
		"another namespace": {
			mutate: func(r *v1alpha1.RawFRRConfig, s *objects.Set) {
				s.RawFRRConfigNamespace = "perouter-system"
				r.Namespace = "tenant"
			},
			want: []string{"RawFRRConfig tenant/raw: metadata.namespace: perouter applies RawFRRConfigs only in its own namespace perouter-system (a snippet controls the routing of every node it selects; see docs/security.md); create it in perouter-system"},
		},
		"empty": {
			mutate: func(r *v1alpha1.RawFRRConfig, _ *objects.Set) { r.Spec.RawConfig = "" },
			want:   []string{raw + `spec.rawConfig: must not be empty: give FRR configuration text, e.g. "ip prefix-list PL seq 5 permit 10.0.0.0/8"`},
		},
		"negative priority": {
			mutate: func(r *v1alpha1.RawFRRConfig, _ *objects.Set) { r.Spec.Priority = i32(-1) },
			want:   []string{raw + "spec.priority: -1 must be 0 or more"},
		},
		"too long": {
			mutate: func(r *v1alpha1.RawFRRConfig, _ *objects.Set) {
				r.Spec.RawConfig = string(make([]byte, MaxRawConfigBytes+1))
			},
			want: []string{raw + "spec.rawConfig: is 65537 bytes, more than the 65536 allowed"},
		},
		"bad selector": {
			mutate: func(r *v1alpha1.RawFRRConfig, _ *objects.Set) {
				r.Spec.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "rack", Operator: "Near"}}}
			},
			want: []string{raw + `spec.nodeSelector: "Near" is not a valid label selector operator`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := base()
			r := rawConfig("raw", "ip prefix-list PL seq 5 permit 10.0.0.0/8\n")
			tc.mutate(&r, &s)
			s.RawFRRConfigs = append(s.RawFRRConfigs, r)
			if diff := cmp.Diff(tc.want, strs(Set(s))); diff != "" {
				t.Errorf("Set errors (-want +got):\n%s", diff)
			}
		})
	}
}

// RawFRRConfigSyntax hands the snippet, unchanged, to the parser and names
// the object and field in what the parser refuses. The parser here stands
// for vtysh.Cli.CheckConfig, whose real-FRR tests are in operator/vtysh;
// cmd/perouterctl/app runs the two together on docs/examples.
func TestRawFRRConfigSyntax(t *testing.T) {
	r := rawConfig("raw", "bogus\n")
	var got []string
	parse := func(_ context.Context, text string) error {
		got = append(got, text)
		if text == "bogus\n" {
			return errors.New("FRR refuses it: line 1: % Unknown command: bogus")
		}
		return nil
	}
	errs := RawFRRConfigSyntax(context.Background(), &r, parse)
	want := []string{"RawFRRConfig perouter-system/raw: spec.rawConfig: FRR refuses it: line 1: % Unknown command: bogus (line numbers count from the snippet's first line; fix the snippet)"}
	if diff := cmp.Diff(want, strs(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	ok := rawConfig("ok", "ip prefix-list PL seq 5 permit 10.0.0.0/8\n")
	if errs := RawFRRConfigSyntax(context.Background(), &ok, parse); errs != nil {
		t.Errorf("accepted snippet: %v", errs)
	}
	if diff := cmp.Diff([]string{"bogus\n", "ip prefix-list PL seq 5 permit 10.0.0.0/8\n"}, got); diff != "" {
		t.Errorf("parser saw (-want +got):\n%s", diff)
	}
}
