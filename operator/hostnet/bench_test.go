package hostnet

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
)

// Benchmarks at 500 L3VNIs (each: VRF, bridge, VXLAN, veth pair with a
// host session). They need VRF, so on a kernel without it they skip; run
// them in the kernel lane, e.g.
//
//	go test -c -o /tmp/hostnet.test ./operator/hostnet
//	go run ./cmd/vmrun -- /tmp/hostnet.test -test.run '^$' -test.bench . -test.benchtime 3x

const benchVNIs = 500

func benchConfig(n int) nodeconfig.Config {
	c := nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")}
	for i := range n {
		vni := uint32(10000 + i)
		local := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		c.L3VNIs = append(c.L3VNIs, l3(fmt.Sprintf("vrf%d", vni), vni, local.String()))
	}
	return c
}

func reportWrites(b *testing.B, e *env, before uint64) {
	b.ReportMetric(float64(e.m.Writes()-before)/float64(b.N), "writes/op")
}

// BenchmarkApply500FromEmpty: Prepare+Activate of 500 L3VNIs into an
// empty router netns.
func BenchmarkApply500FromEmpty(b *testing.B) {
	requireVRF(b)
	var writes uint64
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		p := e.planFor(benchConfig(benchVNIs))
		b.StartTimer()
		e.apply(p)
		b.StopTimer()
		writes += e.m.Writes()
		e.release()
	}
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

// BenchmarkNoopReapply500: the same 500-VNI plan again: reads only.
func BenchmarkNoopReapply500(b *testing.B) {
	requireVRF(b)
	e := newEnv(b)
	p := e.planFor(benchConfig(benchVNIs))
	e.apply(p)
	before := e.m.Writes()
	b.ResetTimer()
	for range b.N {
		if ch := e.apply(p); len(ch) != 0 {
			b.Fatalf("no-op re-apply changed:\n%s", ch)
		}
	}
	b.StopTimer()
	reportWrites(b, e, before)
	e.release()
}

// BenchmarkAddOneVNIAt500: 500 VNIs running, one more added.
func BenchmarkAddOneVNIAt500(b *testing.B) {
	requireVRF(b)
	e := newEnv(b)
	p500 := e.planFor(benchConfig(benchVNIs))
	p501 := e.planFor(benchConfig(benchVNIs + 1))
	e.apply(p500)
	var writes uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.apply(p500)
		before := e.m.Writes()
		b.StartTimer()
		e.apply(p501)
		b.StopTimer()
		writes += e.m.Writes() - before
	}
	b.StopTimer()
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	e.release()
}

// The L2VNI benchmarks need no VRF (bridge, VXLAN, veth and a managed
// host bridge per VNI: five links, like an L3VNI with a host session), so
// they also run natively on kernels without VRF.

func benchL2Config(n int) nodeconfig.Config {
	c := nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")}
	for i := range n {
		vni := uint32(20000 + i)
		c.L2VNIs = append(c.L2VNIs, l2(vni, HostBridgeName(vni), true))
	}
	return c
}

// BenchmarkApply500L2VNIsFromEmpty: Prepare+Activate of 500 L2VNIs into
// an empty router netns.
func BenchmarkApply500L2VNIsFromEmpty(b *testing.B) {
	var writes uint64
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		p := e.planFor(benchL2Config(benchVNIs))
		b.StartTimer()
		e.apply(p)
		b.StopTimer()
		writes += e.m.Writes()
		e.release()
	}
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

// BenchmarkNoopReapply500L2VNIs: the same 500-L2VNI plan again: reads only.
func BenchmarkNoopReapply500L2VNIs(b *testing.B) {
	e := newEnv(b)
	p := e.planFor(benchL2Config(benchVNIs))
	e.apply(p)
	before := e.m.Writes()
	b.ResetTimer()
	for range b.N {
		if ch := e.apply(p); len(ch) != 0 {
			b.Fatalf("no-op re-apply changed:\n%s", ch)
		}
	}
	b.StopTimer()
	reportWrites(b, e, before)
	e.release()
}

// BenchmarkAddOneL2VNIAt500: 500 L2VNIs running, one more added.
func BenchmarkAddOneL2VNIAt500(b *testing.B) {
	e := newEnv(b)
	p500 := e.planFor(benchL2Config(benchVNIs))
	p501 := e.planFor(benchL2Config(benchVNIs + 1))
	e.apply(p500)
	var writes uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.apply(p500)
		before := e.m.Writes()
		b.StartTimer()
		e.apply(p501)
		b.StopTimer()
		writes += e.m.Writes() - before
	}
	b.StopTimer()
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	e.release()
}
