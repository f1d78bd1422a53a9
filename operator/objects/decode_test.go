package objects

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

func TestDecodeAppliesDefaults(t *testing.T) {
	in := `
apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: u}
spec:
  asn: 64514
  neighbors: [{asn: 64512, address: 192.168.11.1}]
---
# only a comment
---
apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: red, namespace: ns}
spec: {vrf: red, vni: 100}
---
apiVersion: network.perouter.io/v1alpha1
kind: L2VNI
metadata: {name: green, namespace: ns}
spec:
  vni: 110
  routingDomain: {l3vni: {name: red}}
  hostMaster: {linuxBridge: {}}
---
apiVersion: v1
kind: Secret
metadata: {name: pw, namespace: ns}
data: {other: YQ==}
stringData: {password: secret}
`
	got, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	asn := uint32(64512)
	want := Set{
		Underlays: []v1alpha1.Underlay{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "network.perouter.io/v1alpha1", Kind: "Underlay"},
			ObjectMeta: metav1.ObjectMeta{Name: "u", Namespace: "default"},
			Spec: v1alpha1.UnderlaySpec{
				ASN:          64514,
				RouterIDCIDR: "10.0.0.0/24",
				Neighbors:    []v1alpha1.Neighbor{{ASN: &asn, Address: "192.168.11.1"}},
			},
		}},
		L3VNIs: []v1alpha1.L3VNI{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "network.perouter.io/v1alpha1", Kind: "L3VNI"},
			ObjectMeta: metav1.ObjectMeta{Name: "red", Namespace: "ns"},
			Spec:       v1alpha1.L3VNISpec{VRF: "red", VNI: 100, VXLANPort: 4789},
		}},
		L2VNIs: []v1alpha1.L2VNI{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "network.perouter.io/v1alpha1", Kind: "L2VNI"},
			ObjectMeta: metav1.ObjectMeta{Name: "green", Namespace: "ns"},
			Spec: v1alpha1.L2VNISpec{
				VNI:           110,
				VXLANPort:     4789,
				RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "red"}},
				HostMaster:    &v1alpha1.HostMaster{Type: "LinuxBridge", LinuxBridge: &v1alpha1.LinuxBridgeConfig{Lifecycle: "Managed"}},
			},
		}},
		Secrets: []corev1.Secret{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "pw", Namespace: "ns"},
			Data:       map[string][]byte{"other": []byte("a"), "password": []byte("secret")},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	const head = "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red, namespace: ns}\n"
	tests := map[string]struct {
		in   string
		want []string
	}{
		"unknown field names document, object and path": {
			in:   head + "spec: {vrf: red, vni: 100, colour: blue}\n",
			want: []string{`document 1 (L3VNI ns/red): unknown field "spec.colour"`},
		},
		"field names are case-sensitive like the API server": {
			in:   head + "spec: {vrf: red, VNI: 100}\n",
			want: []string{`document 1 (L3VNI ns/red): unknown field "spec.VNI"`},
		},
		"duplicate field": {
			in:   head + "spec:\n  vni: 100\n  vni: 200\n",
			want: []string{`document 1 (L3VNI ns/red): yaml: unmarshal errors: line 6: key "vni" already set in map`},
		},
		"unknown kind": {
			in:   "apiVersion: network.perouter.io/v1alpha1\nkind: L4VNI\nmetadata: {name: x}\n",
			want: []string{`document 1 (L4VNI default/x): unknown kind "L4VNI"`},
		},
		"upstream kind not supported yet": {
			in:   "apiVersion: network.perouter.io/v1alpha1\nkind: L3VPN\nmetadata: {name: green}\n",
			want: []string{`document 1 (L3VPN default/green): kind L3VPN is OpenPERouter's and not supported yet: perouter has no SRv6 L3VPN yet`},
		},
		"upstream field not implemented yet decodes, for validation to refuse by name": {
			in: head + "spec: {vrf: red, vni: 100, underlayAddressFamily: IPv4}\n",
		},
		"reference apiVersion is not ours": {
			in:   "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: x}\n",
			want: []string{`document 1 (L3VNI default/x): unknown kind "L3VNI" in apiVersion "network.openperouter.io/v1alpha1"`},
		},
		"missing kind": {
			in:   "metadata: {name: x}\n",
			want: []string{`document 1: apiVersion and kind are required`},
		},
		"missing name": {
			in:   "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nspec: {vrf: red, vni: 1}\n",
			want: []string{`document 1 (L3VNI default/): metadata.name is required`},
		},
		"wrong type": {
			in:   head + "spec: {vrf: red, vni: hundred}\n",
			want: []string{`document 1 (L3VNI ns/red):`},
		},
		"duplicate object and every problem reported": {
			in: head + "spec: {vrf: red, vni: 100}\n---\n" + head + "spec: {vrf: red, vni: 100}\n---\n" +
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			want: []string{
				`document 2 (L3VNI ns/red): duplicates document 1`,
				`document 3 (ConfigMap default/c): unknown kind "ConfigMap"`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Decode(strings.NewReader(tc.in))
			errs := Errors(err)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
			if n := len(s.L3VNIs); n > 1 {
				t.Errorf("a failed or duplicate document stayed in the set: %d L3VNIs", n)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l3 := func(name string) string {
		return "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: " + name + "}\nspec: {vrf: " + name + ", vni: 1}\n"
	}
	write("a.yaml", l3("a"))
	write("sub/b.yml", l3("b"))
	write("sub/notes.txt", "not yaml at all: [")
	write("dup.json", `{"apiVersion":"network.perouter.io/v1alpha1","kind":"L3VNI","metadata":{"name":"a"},"spec":{"vrf":"x","vni":2}}`)

	s, err := Load(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "sub"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range s.L3VNIs {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("loaded objects (-want +got):\n%s", diff)
	}

	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), "L3VNI default/a is defined more than once") {
		t.Errorf("Load of a folder with a duplicate across files: err = %v", err)
	}
	write("bad.yaml", l3("c")+"---\nkind: Nope\napiVersion: v1\nmetadata: {name: nope}\n")
	_, err = Load(filepath.Join(dir, "bad.yaml"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad.yaml")+": document 2 (Nope default/nope)") {
		t.Errorf("error does not name the file and document: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestLoadExamples(t *testing.T) {
	s, err := Load("../../docs/examples/lab", "../../docs/examples/l2vni", "../../docs/examples/passthrough")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Underlays) != 1 || len(s.L3VNIs) != 2 || len(s.L2VNIs) != 2 || len(s.L3Passthroughs) != 1 {
		t.Errorf("lab examples: got %d underlays, %d L3VNIs, %d L2VNIs, %d passthroughs", len(s.Underlays), len(s.L3VNIs), len(s.L2VNIs), len(s.L3Passthroughs))
	}
}
