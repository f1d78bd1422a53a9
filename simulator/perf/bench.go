package perf

import (
	"fmt"
	"testing"

	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// The benchmark bodies live here so that "go test -bench" (benchstat
// input) and cmd/perfreport (the table) measure the same code.

// ValidateRender is the controller's pure path for a changed object:
// nodeconfig.Build (which runs every validate rule) and frr.Render, for the
// lab with n L3VNIs.
func ValidateRender(n int) func(*testing.B) {
	s := objectstest.Lab(n)
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _, err := nodeconfig.Build(s, LabNode)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := frr.Render(c); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// NoopEvent is the controller's pure work when an input's fingerprint
// changed but the rendered config did not (e.g. an object's spec edited
// back): build, render, plan the datapath and compare the config with the
// applied one, which then matches so no FRR process runs. An event that
// changes no input skips all of it (ControllerNoop).
func NoopEvent(n int) func(*testing.B) {
	s := objectstest.Lab(n)
	applied, err := LabConfig(n)
	if err != nil {
		panic(err)
	}
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _, err := nodeconfig.Build(s, LabNode)
			if err != nil {
				b.Fatal(err)
			}
			out, err := frr.Render(c)
			if err != nil {
				b.Fatal(err)
			}
			_ = hostnet.PlanFor(c, hostnet.PlanOptions{})
			if out != applied {
				b.Fatal("unchanged objects rendered a different config")
			}
		}
	}
}

// DeltaCompute is the reloader's work to turn the n-VNI config into the
// one with one more VNI.
func DeltaCompute(n int) func(*testing.B) {
	from, err := LabConfig(n)
	if err != nil {
		panic(err)
	}
	to, err := LabConfig(n + 1)
	if err != nil {
		panic(err)
	}
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := frrdelta.Compute(from, to, frrdelta.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if d.Empty() {
				b.Fatal("empty delta for +1 VNI")
			}
		}
	}
}

// Bench names a benchmark body and its size, for the table.
type Bench struct {
	Metric string
	N      int
	Run    func(*testing.B)
	// Target is the bound for one operation; zero means none.
	TargetMs float64
}

// Benches are the Go benchmarks of the perf table.
func Benches() []Bench {
	var out []Bench
	for _, n := range []int{100, 500, 1000} {
		b := Bench{Metric: "validate+render", N: n, Run: ValidateRender(n)}
		if n == 1000 {
			b.TargetMs = 30
		}
		out = append(out, b)
	}
	for _, n := range []int{10, 100, 500} {
		out = append(out, Bench{Metric: "same-config input change: build+render+plan+compare", N: n, Run: NoopEvent(n)})
	}
	for _, n := range []int{10, 100, 500} {
		out = append(out, Bench{Metric: "no-op event: controller Reconcile (cache-like reads)", N: n, Run: ControllerNoop(n), TargetMs: 5})
	}
	out = append(out, Bench{Metric: "delta compute (+1 VNI)", N: 500, Run: DeltaCompute(500)})
	return out
}

func (b Bench) String() string { return fmt.Sprintf("%s/l3vnis=%d", b.Metric, b.N) }
