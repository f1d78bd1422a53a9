package perf

import (
	"fmt"
	"testing"
)

// Compare runs with benchstat, e.g.
//
//	go test -run '^$' -bench . -count 6 ./simulator/perf > new.txt
//	benchstat old.txt new.txt

func BenchmarkValidateRender(b *testing.B) {
	for _, n := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("l3vnis=%d", n), ValidateRender(n))
	}
}

func BenchmarkNoopEvent(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("l3vnis=%d", n), NoopEvent(n))
	}
}

func BenchmarkDeltaCompute(b *testing.B) {
	b.Run("l3vnis=500", DeltaCompute(500))
}

func BenchmarkControllerNoop(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("l3vnis=%d", n), ControllerNoop(n))
	}
}
