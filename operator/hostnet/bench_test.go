package hostnet

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"golang.org/x/sys/unix"
)

// Datapath benchmarks at 500 VNIs: Apply (Prepare+Activate) from empty,
// a no-op re-apply (Reapply, and Prepare+Activate; served from the
// Manager's cache, and Uncached: both namespaces read, as after any
// change), and one VNI added. The L3VNI ones (each: VRF, bridge,
// VXLAN, veth pair with a host session) need VRF, so on a kernel without
// it they skip; run them in the kernel lane, e.g.
//
//	TESTFLAGS='-test.run=^$ -test.bench=. -test.benchtime=3x' hack/test-kernel.sh ./operator/hostnet
//
// The L2VNI ones (bridge, VXLAN, veth pair and a managed host bridge: five
// links per VNI, as many as an L3VNI) need no VRF and also run natively:
//
//	go test -run '^$' -bench L2VNI -benchtime 1x -count 5 ./operator/hostnet
//
// Besides ns/op each reports writes/op (kernel mutations), dumps/op
// (namespaces read in full: 0 when a call is served from the Manager's
// cache) and cpu-ms/op (the process's CPU time, kernel work in our
// syscalls included), which moves far less than wall time on a loaded
// machine.
//
// hack/perf.sh (simulator/perf.HostnetRows) reads BenchmarkApply500FromEmpty
// and BenchmarkNoopReapply500 by name.

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

func benchL2Config(n int) nodeconfig.Config {
	c := nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32")}
	for i := range n {
		vni := uint32(20000 + i)
		c.L2VNIs = append(c.L2VNIs, l2(vni, devname.HostBridge(vni), true))
	}
	return c
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// meter times one benchmark's measured sections: wall (the benchmark
// timer), CPU and kernel writes.
type meter struct {
	b             *testing.B
	cpu           time.Duration
	writes, dumps uint64
	// at the start of the running section
	cpu0            time.Duration
	writes0, dumps0 uint64
	e               *env
}

func (m *meter) start(e *env) {
	m.e = e
	m.writes0, m.dumps0 = e.m.Writes(), e.m.Dumps()
	m.cpu0 = cpuTime(m.b)
	m.b.StartTimer()
}

func (m *meter) stop() {
	m.b.StopTimer()
	m.cpu += cpuTime(m.b) - m.cpu0
	m.writes += m.e.m.Writes() - m.writes0
	m.dumps += m.e.m.Dumps() - m.dumps0
}

func (m *meter) report() {
	n := float64(m.b.N)
	m.b.ReportMetric(float64(m.writes)/n, "writes/op")
	m.b.ReportMetric(float64(m.dumps)/n, "dumps/op")
	m.b.ReportMetric(float64(m.cpu)/float64(time.Millisecond)/n, "cpu-ms/op")
}

func benchFromEmpty(b *testing.B, config nodeconfig.Config) {
	b.StopTimer()
	m := &meter{b: b}
	for range b.N {
		e := newEnv(b)
		p := e.planFor(config)
		m.start(e)
		e.apply(p)
		m.stop()
		e.release()
	}
	m.report()
}

// benchNoop re-applies an applied plan with apply: (*env).reapply is the
// controller's resync, (*env).apply a reconcile whose FRR config changed
// but not the datapath. Nothing changed since the previous call, so it
// is served from the cache (dumps/op 0); uncached, the cache is dropped
// before each call, which then reads both namespaces as any call after
// a change does.
func benchNoop(b *testing.B, config nodeconfig.Config, apply func(*env, Plan) Changes, uncached bool) {
	b.StopTimer()
	e := newQuietEnv(b)
	p := e.planFor(config)
	e.apply(p)
	e.settle(p)
	m := &meter{b: b}
	for range b.N {
		if uncached {
			e.m.Close()
		}
		m.start(e)
		ch := apply(e, p)
		m.stop()
		if len(ch) != 0 {
			b.Fatalf("no-op re-apply changed:\n%s", ch)
		}
	}
	if m.writes != 0 {
		b.Errorf("no-op re-apply made %d kernel writes, want 0", m.writes)
	}
	m.report()
	e.release()
}

func benchAddOne(b *testing.B, before, after nodeconfig.Config) {
	b.StopTimer()
	e := newEnv(b)
	pBefore, pAfter := e.planFor(before), e.planFor(after)
	e.apply(pBefore)
	m := &meter{b: b}
	for range b.N {
		e.apply(pBefore)
		m.start(e)
		e.apply(pAfter)
		m.stop()
	}
	m.report()
	e.release()
}

// BenchmarkApply500FromEmpty: Prepare+Activate of 500 L3VNIs into an
// empty router netns.
func BenchmarkApply500FromEmpty(b *testing.B) {
	requireVRF(b)
	benchFromEmpty(b, benchConfig(benchVNIs))
}

// BenchmarkNoopReapply500: the same 500-L3VNI plan again (Reapply, as
// the controller's resync does): reads only.
func BenchmarkNoopReapply500(b *testing.B) {
	requireVRF(b)
	benchNoop(b, benchConfig(benchVNIs), (*env).reapply, false)
}

// BenchmarkNoopReapply500Uncached: the same, reading both namespaces
// (the Manager's cache dropped first), as the first call after any change.
func BenchmarkNoopReapply500Uncached(b *testing.B) {
	requireVRF(b)
	benchNoop(b, benchConfig(benchVNIs), (*env).reapply, true)
}

// BenchmarkNoopPrepareActivate500: the same, as Prepare then Activate
// (a reconcile that changed only FRR's config).
func BenchmarkNoopPrepareActivate500(b *testing.B) {
	requireVRF(b)
	benchNoop(b, benchConfig(benchVNIs), (*env).apply, false)
}

// BenchmarkAddOneVNIAt500: 500 L3VNIs running, one more added.
func BenchmarkAddOneVNIAt500(b *testing.B) {
	requireVRF(b)
	benchAddOne(b, benchConfig(benchVNIs), benchConfig(benchVNIs+1))
}

// BenchmarkApply500L2VNIsFromEmpty: Prepare+Activate of 500 L2VNIs into
// an empty router netns.
func BenchmarkApply500L2VNIsFromEmpty(b *testing.B) {
	benchFromEmpty(b, benchL2Config(benchVNIs))
}

// BenchmarkNoopReapply500L2VNIs: the same 500-L2VNI plan again (Reapply).
func BenchmarkNoopReapply500L2VNIs(b *testing.B) {
	benchNoop(b, benchL2Config(benchVNIs), (*env).reapply, false)
}

// BenchmarkNoopReapply500L2VNIsUncached: the same, reading both
// namespaces (the Manager's cache dropped first).
func BenchmarkNoopReapply500L2VNIsUncached(b *testing.B) {
	benchNoop(b, benchL2Config(benchVNIs), (*env).reapply, true)
}

// BenchmarkNoopPrepareActivate500L2VNIs: the same, as Prepare then Activate.
func BenchmarkNoopPrepareActivate500L2VNIs(b *testing.B) {
	benchNoop(b, benchL2Config(benchVNIs), (*env).apply, false)
}

// BenchmarkAddOneL2VNIAt500: 500 L2VNIs running, one more added.
func BenchmarkAddOneL2VNIAt500(b *testing.B) {
	benchAddOne(b, benchL2Config(benchVNIs), benchL2Config(benchVNIs+1))
}
