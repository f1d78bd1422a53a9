package frr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
	"github.com/perouter/perouter/operator/validate"
)

// TestRenderAppliesValidatesRules runs each value through both places a
// rule is applied: validate.Set on the objects (the webhook's and
// perouterctl's path) and Render on the model (the renderer's last line of
// defence). Both must accept and refuse the same values, and the values
// the table marks; a renderer that grew its own copy of a rule again would
// drift from validate and fail here.
//
// Route targets: FRR 8.4's bgpd refuses 4294967295:65536, 1.2.3.4:65536
// and 256.1.1.1:1 ("Malformed Route Target list") and rewrites 64514:0100
// and 01.2.3.4:1 without the zeros, so the running config would never
// match the rendered one.
func TestRenderAppliesValidatesRules(t *testing.T) {
	type rule struct {
		// object puts v into a valid Set and returns the object and the
		// field validate must name.
		object func(s *objects.Set, v string) (objects.Ref, string)
		// model puts v into a valid model.
		model  func(c *nodeconfig.Config, v string)
		values map[string]bool // value → accepted
	}
	l3vniRef := func(s *objects.Set) objects.Ref { return objects.RefOf(objects.KindL3VNI, s.L3VNIs[0].ObjectMeta) }
	underlayRef := func(s *objects.Set) objects.Ref {
		return objects.RefOf(objects.KindUnderlay, s.Underlays[0].ObjectMeta)
	}
	rules := map[string]rule{
		"vrf name": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				s.L3VNIs[0].Spec.VRF = v
				return l3vniRef(s), "spec.vrf"
			},
			model: func(c *nodeconfig.Config, v string) { c.L3VNIs[0].VRF = v },
			values: map[string]bool{
				"red": true, "Blue_2-x": true, "abcdefghijklmno": true, "vnix": true, "vni": true,
				"": false, "abcdefghijklmnop": false, "default": false, "1red": false, "red\n!": false, "red blue": false,
				"vni100": false, "br-pe-1": false, "pe-e-1": false, "br-hs-x": false, "host-e-1": false, "pe-pt": false, "host-pt": false, "lo": false,
			},
		},
		"neighbour interface": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				n := &s.Underlays[0].Spec.Neighbors[0]
				n.Address, n.Interface = "", v
				return underlayRef(s), "spec.neighbors[0]"
			},
			model: func(c *nodeconfig.Config, v string) {
				c.Underlay.Neighbors[0] = nodeconfig.Neighbor{Interface: v, ASN: 64512}
			},
			values: map[string]bool{
				"eth1": true, "enp0s1.100": true, "0": true, "abcdefghijklmno": true,
				"abcdefghijklmnop": false, "eth1 bfd": false, ".eth": false, "-eth": false, "eth!": false, "eth#1": false, "eth\n": false,
				"10.0.0.1": false, "1.2.3": true, "10.0.0.01": true,
			},
		},
		"password": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				s.Underlays[0].Spec.Neighbors[0].Password = v
				return underlayRef(s), "spec.neighbors[0].password"
			},
			model: func(c *nodeconfig.Config, v string) { c.Underlay.Neighbors[0].Password = v },
			values: map[string]bool{
				"s3cr3t$%&*": true, "~": true, strings.Repeat("x", 80): true,
				strings.Repeat("x", 81): false, "a b": false, "!x": false, "a#b": false, `a"b`: false, "a'b": false,
				`a\b`: false, "a`b": false, "pässword": false, "a\tb": false, "a\nb": false,
			},
		},
		"route target": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				s.L3VNIs[0].Spec.ImportRTs = []string{v}
				return l3vniRef(s), "spec.importRTs[0]"
			},
			model: func(c *nodeconfig.Config, v string) { c.L3VNIs[0].ImportRTs = []string{v} },
			values: map[string]bool{
				"64514:100": true, "4294967295:65535": true, "65535:4294967295": true, "1.2.3.4:65535": true, "1:0": true, "0.0.0.0:1": true,
				"4294967295:65536": false, "1.2.3.4:65536": false, "256.1.1.1:1": false, "0:100": false,
				"64514:0100": false, "01.2.3.4:1": false, "1:1\nexit": false, "1:1 !": false, "a:1": false, "1": false, "": false,
			},
		},
		"object name": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				s.L3VNIs[0].Name = v
				return l3vniRef(s), "metadata.name"
			},
			model: func(c *nodeconfig.Config, v string) { c.L3VNIs[0].Source.Name = v },
			values: map[string]bool{
				"red": true, "a.b": true, "0": true, strings.Repeat("a", 253): true,
				strings.Repeat("a", 254): false, "a..b": false, "a.-b": false, "Red": false, "-red": false, "red\n": false, "": false,
			},
		},
		"namespace": {
			object: func(s *objects.Set, v string) (objects.Ref, string) {
				s.L3VNIs[0].Namespace = v
				return l3vniRef(s), "metadata.namespace"
			},
			model: func(c *nodeconfig.Config, v string) { c.L3VNIs[0].Source.Namespace = v },
			values: map[string]bool{
				"perouter-system": true, strings.Repeat("a", 63): true,
				strings.Repeat("a", 64): false, "a.b": false, "Ns": false, "ns\n": false,
			},
		},
	}
	for name, r := range rules {
		checkAgree(t, name, r.object, r.model, r.values)
	}
}

// TestRenderAppliesValidatesNumberRules is TestRenderAppliesValidatesRules
// for the numbers both check.
func TestRenderAppliesValidatesNumberRules(t *testing.T) {
	tests := map[string]struct {
		object func(s *objects.Set, v uint32) (objects.Ref, string)
		model  func(c *nodeconfig.Config, v uint32)
		values map[uint32]bool
	}{
		"vni": {
			object: func(s *objects.Set, v uint32) (objects.Ref, string) {
				s.L3VNIs[0].Spec.VNI = v
				return objects.RefOf(objects.KindL3VNI, s.L3VNIs[0].ObjectMeta), "spec.vni"
			},
			model:  func(c *nodeconfig.Config, v uint32) { c.L3VNIs[0].VNI = v },
			values: map[uint32]bool{1: true, 16777215: true, 0: false, 16777216: false},
		},
		"underlay asn": {
			object: func(s *objects.Set, v uint32) (objects.Ref, string) {
				s.Underlays[0].Spec.ASN = v
				return objects.RefOf(objects.KindUnderlay, s.Underlays[0].ObjectMeta), "spec.asn"
			},
			model:  func(c *nodeconfig.Config, v uint32) { c.Underlay.ASN = v },
			values: map[uint32]bool{1: true, 4294967295: true, 0: false},
		},
	}
	for name, tc := range tests {
		checkAgree(t, name, tc.object, tc.model, tc.values)
	}
}

// checkAgree puts each value into objectstest.Lab(1) and into a valid model
// and checks that validate and Render both accept it, or both refuse it, as
// values says.
func checkAgree[V comparable](t *testing.T, name string, object func(*objects.Set, V) (objects.Ref, string), model func(*nodeconfig.Config, V), values map[V]bool) {
	t.Helper()
	for v, want := range values {
		s := objectstest.Lab(1)
		ref, field := object(&s, v)
		validated := true
		for _, e := range validate.Set(s) {
			if e.Ref == ref && strings.HasPrefix(e.Field, field) {
				validated = false
			}
		}
		c := node(underlay(), red())
		model(&c, v)
		_, err := Render(c)
		if validated != want || (err == nil) != want {
			t.Errorf("%s %q: validate accepts: %v, Render accepts: %v (%v), want %v", name, fmt.Sprint(v), validated, err == nil, err, want)
		}
	}
}

// TestHostSessionsAreBounded: every host session, in a VRF or the
// passthrough, caps the prefixes it accepts; objects without maxPrefixes
// get the documented default.
func TestHostSessionsAreBounded(t *testing.T) {
	s := objectstest.Lab(2)
	objects.ApplyDefaults(&s)
	cfg, _, err := nodeconfig.Build(s, nodeconfig.Node{Name: "n", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	text, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cfg.L3VNIs {
		want := fmt.Sprintf("  neighbor %s maximum-prefix %d restart 1\n", l.HostSession.HostIPv4.Addr(), objects.DefaultMaxPrefixes)
		if !strings.Contains(text, want) {
			t.Errorf("%s: no %q in\n%s", l.Source, strings.TrimSpace(want), text)
		}
	}
}
