package frr

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/nodeconfig"
)

// renderDirect renders like Render but runs the per-VRF templates on every
// VRF itself, without the shape cache.
func renderDirect(c nodeconfig.Config) (string, error) {
	v, err := buildView(c)
	if err != nil {
		return "", err
	}
	r := renderedVRFs{patterns: make([]*vrfPatterns, len(v.VRFs)), values: make([][]string, len(v.VRFs))}
	for i := range v.VRFs {
		t, err := executeVRF(&v.VRFs[i])
		if err != nil {
			return "", err
		}
		r.patterns[i] = &vrfPatterns{
			stanza:      pattern{literals: []string{t.Stanza}},
			prefixLists: pattern{literals: []string{t.PrefixLists}},
			bgp:         pattern{literals: []string{t.BGP}},
		}
	}
	return renderView(v, r)
}

func TestShapeCacheMatchesTemplates(t *testing.T) {
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := renderDirect(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("shape cache output differs from the templates (-templates +cache):\n%s", diff)
			}
		})
	}
}

func TestShapeKeysSeparateShapes(t *testing.T) {
	mixed := cases["mixed"]
	v, err := buildView(mixed)
	if err != nil {
		t.Fatal(err)
	}
	blue, red := v.VRFs[1], v.VRFs[0] // sorted by VNI: red 100, blue 200
	var vb, vr []string
	if kb, kr := blue.shape(&vb), red.shape(&vr); kb == kr {
		t.Errorf("blue (custom RTs) and red (automatic RTs) share shape key %q", kb)
	}
	base, err := buildView(cases["basic"])
	if err != nil {
		t.Fatal(err)
	}
	var va []string
	if ka, kr := base.VRFs[0].shape(&va), red.shape(&vr); ka != kr {
		t.Errorf("red in basic and in mixed have different shapes %q and %q", ka, kr)
	}
}
