package frrdelta_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// labVNIs keeps each FRR start and load quick while still giving the
// delta many unrelated stanzas to leave alone.
const labVNIs = 20

func render(t *testing.T, s objects.Set) string {
	t.Helper()
	c, report, err := nodeconfig.Build(s, nodeconfig.Node{Name: "worker-1", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Skipped) > 0 {
		t.Fatalf("objects skipped: %v", report.Skipped)
	}
	text, err := frr.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func running(t *testing.T, inst *frrproc.Instance) string {
	t.Helper()
	out, err := inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	canon, err := frrdelta.Canonical(out)
	if err != nil {
		t.Fatalf("canonical running config: %v\n%s", err, out)
	}
	return canon
}

// applyThen runs the delta's deferred removals, one vtysh session each,
// as the reloader does.
func applyThen(t *testing.T, inst *frrproc.Instance, d *frrdelta.Delta) {
	t.Helper()
	for _, c := range d.Then {
		if out, err := inst.Vtysh(context.Background(), "-c", "configure terminal", "-c", c); err != nil {
			t.Fatalf("vtysh %q: %v\n%s", c, err, out)
		}
	}
}

// TestDeltaMatchesFullLoad applies delta(A→B) to an FRR running A through
// one vtysh session and checks that FRR ends up with exactly the running
// config of a second FRR that loaded B from scratch.
func TestDeltaMatchesFullLoad(t *testing.T) {
	frrproctest.RequireFRR(t)
	lab := func(mutate func(*objects.Set)) objects.Set {
		s := objectstest.Lab(labVNIs)
		if mutate != nil {
			mutate(&s)
		}
		return s
	}
	withRTs := func(s *objects.Set) {
		s.L3VNIs[3].Spec.ImportRTs = []string{"64514:103", "64600:1"}
		s.L3VNIs[3].Spec.ExportRTs = []string{"64514:103"}
	}
	tests := map[string]struct {
		a, b objects.Set
	}{
		"+1 VNI":        {a: lab(nil), b: objectstest.Lab(labVNIs + 1)},
		"-1 VNI (last)": {a: lab(nil), b: objectstest.Lab(labVNIs - 1)},
		"-1 VNI (middle)": {a: lab(nil), b: lab(func(s *objects.Set) {
			s.L3VNIs = append(s.L3VNIs[:7:7], s.L3VNIs[8:]...)
		})},
		"change neighbour address and ASN": {a: lab(nil), b: lab(func(s *objects.Set) {
			asn := uint32(64516)
			s.Underlays[0].Spec.Neighbors[1].Address = "192.168.13.1"
			s.Underlays[0].Spec.Neighbors[1].ASN = &asn
		})},
		"change neighbour ASN only": {a: lab(nil), b: lab(func(s *objects.Set) {
			asn := uint32(64520)
			s.Underlays[0].Spec.Neighbors[0].ASN = &asn
		})},
		"add route targets":    {a: lab(nil), b: lab(withRTs)},
		"remove route targets": {a: lab(withRTs), b: lab(nil)},
		"no-op":                {a: lab(nil), b: lab(nil)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, b := render(t, tc.a), render(t, tc.b)
			d, err := frrdelta.Compute(a, b, frrdelta.Options{})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if name == "no-op" {
				if !d.Empty() {
					t.Fatalf("no-op change gave commands:\n%s", d.Script())
				}
			} else if d.Empty() {
				t.Fatal("Compute found no change")
			}

			want := running(t, frrproctest.Start(t, frrproc.Options{InitialConfig: b}))

			inst := frrproctest.Start(t, frrproc.Options{InitialConfig: a})
			if !d.Empty() {
				script := filepath.Join(inst.Dir(), "delta.conf")
				if err := os.WriteFile(script, []byte(d.Script()), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := inst.Vtysh(context.Background(), "-f", script); err != nil {
					t.Fatalf("vtysh -f delta: %v\n%s\ndelta:\n%s", err, out, d.Script())
				}
				applyThen(t, inst, d)
			}
			got := running(t, inst)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("running config after the delta differs from a full load of B (-full +delta):\n%s\ndelta:\n%s", diff, d.Script())
			}
			t.Logf("%d commands for %d changed lines", len(d.Commands), d.Changed)
		})
	}
}

// TestDefaultASNChangeIsRefused: a new node ASN re-creates every BGP
// instance, which only a full reload orchestrates.
func TestDefaultASNChangeIsRefused(t *testing.T) {
	a := render(t, objectstest.Lab(3))
	s := objectstest.Lab(3)
	s.Underlays[0].Spec.ASN = 64600
	for i := range s.L3VNIs {
		s.L3VNIs[i].Spec.HostSession.ASN = 64600
	}
	b := render(t, s)
	_, err := frrdelta.Compute(a, b, frrdelta.Options{})
	if !frrdelta.IsRefused(err) || !strings.Contains(err.Error(), "default BGP instance") {
		t.Errorf("Compute error = %v, want a refusal naming the default BGP instance", err)
	}
}

// TestDeltaChainThroughGoldens walks one FRR instance through every
// operator/frr golden config in turn (bfd, passthrough, L2VNIs, IPv6,
// passwords, timers…), applying only deltas, and compares it after each
// step with a fresh FRR that loaded that golden. Goldens whose change the
// delta refuses (another node ASN or router-id) are skipped.
func TestDeltaChainThroughGoldens(t *testing.T) {
	frrproctest.RequireFRR(t)
	files, err := filepath.Glob("../frr/testdata/*.golden")
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens in ../frr/testdata (%v)", err)
	}
	first, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	cur := string(first)
	inst := frrproctest.Start(t, frrproc.Options{InitialConfig: cur})
	steps := 0
	for _, f := range files[1:] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		next := string(data)
		d, err := frrdelta.Compute(cur, next, frrdelta.Options{MaxChangedFraction: 1000})
		if frrdelta.IsRefused(err) {
			t.Logf("%s: skipped: %v", filepath.Base(f), err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(inst.Dir(), "delta.conf")
		if err := os.WriteFile(script, []byte(d.Script()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := inst.Vtysh(context.Background(), "-f", script); err != nil {
			t.Fatalf("%s: vtysh -f delta: %v\n%s\ndelta:\n%s", filepath.Base(f), err, out, d.Script())
		}
		applyThen(t, inst, d)
		want := running(t, frrproctest.Start(t, frrproc.Options{InitialConfig: next}))
		if diff := cmp.Diff(want, running(t, inst)); diff != "" {
			t.Fatalf("%s: running config after the delta differs from a full load (-full +delta):\n%s\ndelta:\n%s", filepath.Base(f), diff, d.Script())
		}
		cur = next
		steps++
	}
	t.Logf("%d deltas between goldens matched full loads", steps)
}
