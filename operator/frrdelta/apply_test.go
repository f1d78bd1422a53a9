package frrdelta

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// applyModel runs delta commands against a parsed config the way FRR
// treats them: entering a stanza creates it, "no <header>" removes a
// stanza with everything inside, "no <line>" removes a line, and a line
// replaces the line of the same single-valued setting.
func applyModel(t *testing.T, cfg *Config, commands []string) {
	t.Helper()
	var path []string
	var kinds []*kind
	remove := func(key string) {
		cfg.Contexts = slices.DeleteFunc(cfg.Contexts, func(c *Context) bool {
			k := c.Key()
			if k == key || strings.HasPrefix(k, key+"\n") {
				delete(cfg.byKey, k)
				return true
			}
			return false
		})
	}
	for _, raw := range commands {
		line := strings.TrimSpace(raw)
		var parent *kind
		if len(kinds) > 0 {
			parent = kinds[len(kinds)-1]
			if line == parent.exit {
				path, kinds = path[:len(path)-1], kinds[:len(kinds)-1]
				continue
			}
		}
		if k := opens(parent, line); k != nil {
			path = append(path, line)
			kinds = append(kinds, k)
			cfg.context(path)
			continue
		}
		ctx := cfg.context(path)
		if rest, ok := strings.CutPrefix(line, "no "); ok {
			if opens(parent, rest) != nil {
				remove(strings.Join(append(slices.Clone(path), rest), "\n"))
				continue
			}
			if ctx.has(rest) {
				ctx.Lines = slices.DeleteFunc(ctx.Lines, func(l string) bool { return l == rest })
				delete(ctx.lineSet, rest)
				continue
			}
			// Otherwise a "no …" setting such as "no bgp default
			// ipv4-unicast" is being added.
		}
		if negated := negate(line); ctx.has(negated) {
			// "bgp default ipv4-unicast" undoes "no bgp default ipv4-unicast".
			ctx.Lines = slices.DeleteFunc(ctx.Lines, func(l string) bool { return l == negated })
			delete(ctx.lineSet, negated)
			continue
		}
		if k := overrideKey(line); k != "" {
			ctx.Lines = slices.DeleteFunc(ctx.Lines, func(l string) bool {
				if overrideKey(l) == k {
					delete(ctx.lineSet, l)
					return true
				}
				return false
			})
		}
		ctx.add(line)
	}
	if len(path) != 0 {
		t.Fatalf("commands leave stanza %v open", path)
	}
}

// TestDeltaModelOverGoldenPairs checks, for every pair of operator/frr
// goldens the delta accepts, that old + delta = new under applyModel.
// The real-FRR tests confirm the model for the common changes.
func TestDeltaModelOverGoldenPairs(t *testing.T) {
	files, err := filepath.Glob("../frr/testdata/*.golden")
	if err != nil || len(files) < 2 {
		t.Fatalf("goldens in ../frr/testdata: %v (%d files)", err, len(files))
	}
	texts := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[filepath.Base(f)] = string(data)
	}
	pairs := 0
	for a, oldText := range texts {
		for b, newText := range texts {
			if a == b {
				continue
			}
			d, err := Compute(oldText, newText, Options{MaxChangedFraction: 1000})
			if IsRefused(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(oldText)
			if err != nil {
				t.Fatal(err)
			}
			applyModel(t, cfg, append(slices.Clone(d.Commands), d.Then...))
			got := canonicalConfig(cfg)
			want, err := Canonical(newText)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s -> %s: old + delta differs from new (-new +applied):\n%s\ndelta:\n%s", a, b, diff, d.Script())
			}
			pairs++
		}
	}
	if pairs < len(texts) {
		t.Errorf("only %d golden pairs were accepted; the test checks too little", pairs)
	}
	t.Logf("%d pairs checked", pairs)
}

func canonicalConfig(cfg *Config) string {
	text, err := Canonical(renderConfig(cfg))
	if err != nil {
		panic(err)
	}
	return text
}

// renderConfig prints a parsed config back as FRR text.
func renderConfig(cfg *Config) string {
	e := &emitter{}
	var b strings.Builder
	if cfg.Defaults != "" {
		b.WriteString("frr defaults " + cfg.Defaults + "\n")
	}
	for _, c := range cfg.Contexts {
		e.at(c.Path, "")
		for _, l := range c.Lines {
			e.at(c.Path, l)
		}
	}
	e.at(nil, "")
	b.WriteString(strings.Join(e.out, "\n") + "\n")
	return b.String()
}

// FuzzCompute: arbitrary text never panics, and an accepted delta turns
// old into new under applyModel.
func FuzzCompute(f *testing.F) {
	files, _ := filepath.Glob("../frr/testdata/*.golden")
	for i, file := range files {
		a, _ := os.ReadFile(file)
		b, _ := os.ReadFile(files[(i+1)%len(files)])
		f.Add(string(a), string(b))
	}
	f.Add(base, "router ospf\n")
	f.Fuzz(func(t *testing.T, oldText, newText string) {
		d, err := Compute(oldText, newText, Options{MaxChangedFraction: 1000, MaxChangedLines: 1 << 20})
		if err != nil {
			if !IsRefused(err) {
				t.Fatalf("error that is not a refusal: %v", err)
			}
			return
		}
		cfg, err := Parse(oldText)
		if err != nil {
			t.Fatal(err)
		}
		applyModel(t, cfg, append(slices.Clone(d.Commands), d.Then...))
		want, err := Canonical(newText)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, canonicalConfig(cfg)); diff != "" {
			t.Errorf("old + delta differs from new (-new +applied):\n%s\ndelta:\n%s", diff, d.Script())
		}
	})
}
