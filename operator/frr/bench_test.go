package frr

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRender renders nodes with n L3VNIs, each with an IPv4 host
// session. Compare runs with benchstat; docs/performance.md targets 1,000 in < 20 ms
// and linear growth. cpu-ns/op is the process's CPU time per render: on a
// shared machine it is steadier than the wall-clock ns/op, and with -cpu 1
// it shows the cost without the per-VRF parallelism.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{100, 500, 1000} {
		c := node(underlay(), manyVNIs(n)...)
		b.Run(fmt.Sprintf("l3vnis=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			startCPU := cpuTime()
			for b.Loop() {
				out, err := Render(c)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(cpuTime()-startCPU)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(size), "bytes/config")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
