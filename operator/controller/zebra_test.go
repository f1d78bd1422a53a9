package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/hostnet"
)

func ifAddr(name, prefix string) hostnet.IfAddr {
	return hostnet.IfAddr{Interface: name, Prefix: netip.MustParsePrefix(prefix)}
}

func TestParseZebraInterfaces(t *testing.T) {
	// Shape of FRR 8.4.4's `show interface vrf all json` (fields trimmed):
	// a flat object keyed by interface name, VRF members included.
	out := `{
	  "toswitch1":{"vrfName":"default","ipAddresses":[
	    {"address":"192.168.11.3/24","secondary":false},
	    {"address":"fe80::188e:2cff:fef2:7333/64","secondary":false},
	    {"address":"fd00:11::3/64","secondary":false}]},
	  "lo":{"vrfName":"default","ipAddresses":[{"address":"100.65.0.0/32"}]},
	  "pe-e-100":{"vrfName":"red","ipAddresses":[{"address":"192.169.10.1/24"}]},
	  "red":{"vrfName":"red","ipAddresses":[]},
	  "br-pe-100":{"vrfName":"red"}
	}`
	got, err := ParseZebraInterfaces([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []hostnet.IfAddr{
		ifAddr("lo", "100.65.0.0/32"),
		ifAddr("pe-e-100", "192.169.10.1/24"),
		ifAddr("toswitch1", "192.168.11.3/24"),
		ifAddr("toswitch1", "fd00:11::3/64"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	for name, bad := range map[string]string{
		"not json":    `% Unknown command`,
		"bad address": `{"eth0":{"ipAddresses":[{"address":"10.0.0.1"}]}}`,
	} {
		if _, err := ParseZebraInterfaces([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

type fakeZebra struct {
	addrs []hostnet.IfAddr
	err   error
	reads int
}

func (z *fakeZebra) Addresses(context.Context) ([]hostnet.IfAddr, error) {
	z.reads++
	return z.addrs, z.err
}

type fakeAnnouncer struct {
	kernel    []hostnet.IfAddr
	announced [][]hostnet.IfAddr
	hostCalls int
}

func (a *fakeAnnouncer) ReannounceHostAdded(context.Context) ([]hostnet.IfAddr, error) {
	a.hostCalls++
	return nil, nil
}

func (a *fakeAnnouncer) RouterAddresses(context.Context) ([]hostnet.IfAddr, error) {
	return a.kernel, nil
}

func (a *fakeAnnouncer) Reannounce(_ context.Context, addrs []hostnet.IfAddr) error {
	a.announced = append(a.announced, addrs)
	return nil
}

func TestCheckZebra(t *testing.T) {
	kernel := []hostnet.IfAddr{ifAddr("lo", "100.65.0.1/32"), ifAddr("toswitch1", "192.168.11.3/24"), ifAddr("toswitch2", "192.168.12.3/24")}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const delay = 2 * time.Second
	tests := map[string]struct {
		due       bool
		rounds    int // checks that already found addresses missing
		zebra     []hostnet.IfAddr
		zebraErr  error
		wantReads int
		announced [][]hostnet.IfAddr
		// wantNext is the next check after now; zero: none pending.
		wantNext time.Duration
	}{
		"not due": {
			due: false, zebra: nil, wantReads: 0, wantNext: time.Second,
		},
		"zebra has everything": {
			due: true, zebra: kernel, wantReads: 1, wantNext: 0,
		},
		"zebra has more (its own link-locals are filtered, others do not matter)": {
			due: true, zebra: append([]hostnet.IfAddr{ifAddr("eth9", "10.0.0.1/8")}, kernel...), wantReads: 1, wantNext: 0,
		},
		"zebra missed one": {
			due: true, zebra: []hostnet.IfAddr{kernel[0], kernel[2]}, wantReads: 1,
			announced: [][]hostnet.IfAddr{{kernel[1]}}, wantNext: 2 * delay,
		},
		"still missing after rounds: backoff grows, capped": {
			due: true, rounds: 8, zebra: []hostnet.IfAddr{kernel[0]}, wantReads: 1,
			announced: [][]hostnet.IfAddr{{kernel[1], kernel[2]}}, wantNext: maxZebraCheckDelay,
		},
		"zebra unreadable: checked again later, nothing announced": {
			due: true, zebraErr: errors.New("vtysh: connection refused"), wantReads: 1, wantNext: 2 * delay,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			z := &fakeZebra{addrs: tc.zebra, err: tc.zebraErr}
			a := &fakeAnnouncer{kernel: kernel}
			r := &NodeReconciler{Zebra: z, Addresses: a, ZebraCheckDelay: delay, zebra: zebraSchedule{rounds: tc.rounds}}
			r.zebra.at = now.Add(time.Second)
			if tc.due {
				r.zebra.at = now
			}
			r.checkZebra(log.IntoContext(context.Background(), logr.Discard()), now)
			if z.reads != tc.wantReads {
				t.Errorf("zebra read %d times, want %d", z.reads, tc.wantReads)
			}
			// Host-side addresses are announced again once per due check.
			if a.hostCalls != tc.wantReads {
				t.Errorf("ReannounceHostAdded called %d times, want %d", a.hostCalls, tc.wantReads)
			}
			if diff := cmp.Diff(tc.announced, a.announced, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("announced again (-want +got):\n%s", diff)
			}
			var next time.Duration
			if !r.zebra.at.IsZero() {
				next = r.zebra.at.Sub(now)
			}
			if next != tc.wantNext {
				t.Errorf("next check in %v, want %v", next, tc.wantNext)
			}
		})
	}

	// Without an AddressAnnouncer nothing is ever scheduled.
	r := &NodeReconciler{Zebra: &fakeZebra{}}
	r.scheduleZebraCheck(now)
	if !r.zebra.at.IsZero() {
		t.Errorf("check scheduled without an AddressAnnouncer")
	}
	// Without a Zebra reader a due check announces the host side again
	// and is done.
	a := &fakeAnnouncer{}
	r = &NodeReconciler{Addresses: a, ZebraCheckDelay: delay}
	r.scheduleZebraCheck(now)
	r.checkZebra(log.IntoContext(context.Background(), logr.Discard()), now.Add(delay))
	if a.hostCalls != 1 || len(a.announced) != 0 || !r.zebra.at.IsZero() {
		t.Errorf("without zebra: host calls %d, router announcements %v, next check %v; want 1, none, none", a.hostCalls, a.announced, r.zebra.at)
	}
}

// TestZebraCheckRepairsMissedAddresses reproduces FRRouting/frr#13288
// with real zebra: links created with an address right away (as hostnet
// does for veths and moved NICs) now and then leave zebra without the
// address. The check must find every such address and have zebra learn
// it, and the two views must otherwise agree (same filters). When zebra
// misses nothing the test fails: it cannot force the bug.
func TestZebraCheckRepairsMissedAddresses(t *testing.T) {
	frrproctest.RequireFRR(t)
	ctx := log.IntoContext(context.Background(), logr.Discard())
	inst := frrproctest.Start(t, frrproc.Options{Daemons: []string{"zebra"}})
	ns := inst.Netns()
	zebra := VtyshZebraReader{Vtysh: inst.VtyshPath(), SocketDir: inst.VtySocketDir()}
	dp := hostnet.NewManager(hostnet.Options{RouterNetns: ns, Logger: logr.Discard()})

	// Link-local, loopback and IPv6 addresses are in both views or in
	// neither.
	batch := "addr add 100.65.0.7/32 dev lo\n" +
		"link add uplink type veth peer name uplink-peer\n" +
		"addr add 192.168.11.3/24 dev uplink\naddr add fd00:11::3/64 dev uplink nodad\n" +
		"link set uplink up\nlink set uplink-peer up\n"
	// Most runs reproduce the bug in the first or second round, some only
	// in the fourth: eight rounds leave a margin.
	const perBatch, rounds = 250, 8
	missedBefore := 0
	for round := 0; round < rounds && missedBefore == 0; round++ {
		var b strings.Builder
		if round == 0 {
			b.WriteString(batch)
		}
		for i := range perBatch {
			n := round*perBatch + i
			fmt.Fprintf(&b, "link add v%d type veth peer name w%d\naddr add 10.%d.%d.1/24 dev v%d\n", n, n, n/250, n%250, n)
		}
		cmd := exec.Command("ip", "-n", ns, "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip -batch: %v: %s", err, out)
		}
		want := (round + 1) * perBatch
		kernel, missing := settle(t, ctx, dp, zebra, want)
		missedBefore = len(missing)
		t.Logf("round %d: %d addresses in the router netns, zebra missed %d", round, len(kernel), missedBefore)
	}
	if missedBefore == 0 {
		// The bug depends on zebra's event timing and cannot be forced.
		// Passing without it would test nothing.
		t.Fatalf("precondition not reproduced: zebra missed no address in %d links, so the repair was not exercised. "+
			"FRRouting/frr#13288 cannot be forced; if this FRR has its fix, the check (and this test) may go", rounds*perBatch)
	}

	r := &NodeReconciler{Zebra: zebra, Addresses: dp, ZebraCheckDelay: time.Millisecond}
	r.scheduleZebraCheck(time.Now())
	for range 20 {
		time.Sleep(200 * time.Millisecond)
		r.checkZebra(ctx, r.zebra.at)
		if r.zebra.at.IsZero() {
			break
		}
	}
	if !r.zebra.at.IsZero() {
		t.Fatalf("zebra still misses addresses after %d rounds", r.zebra.rounds)
	}
	kernel, err := dp.RouterAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := zebra.Addresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if missing := MissingInZebra(kernel, got); len(missing) > 0 {
		t.Errorf("after the check zebra still misses %v", missing)
	}
	if extra := MissingInZebra(got, kernel); len(extra) > 0 {
		t.Errorf("zebra lists addresses the router netns does not: %v", extra)
	}
}

// settle waits until zebra knows every link (its view of addresses may
// stay incomplete: that is the bug) and returns the kernel's addresses and
// those zebra misses.
func settle(t *testing.T, ctx context.Context, dp *hostnet.Manager, zebra VtyshZebraReader, links int) ([]hostnet.IfAddr, []hostnet.IfAddr) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		kernel, err := dp.RouterAddresses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out, err := runVtysh(ctx, zebra.Vtysh, zebra.SocketDir, 0, "show interface json")
		if err != nil {
			t.Fatal(err)
		}
		known := strings.Count(string(out), `"interfaceType":"VETH"`)
		if _, err := ParseZebraInterfaces(out); err != nil {
			t.Fatal(err)
		}
		// links v*/w* pairs plus uplink and its peer
		if known >= 2*links+2 {
			// Events still queued land within a moment; give them one.
			time.Sleep(time.Second)
			got, err := zebra.Addresses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return kernel, MissingInZebra(kernel, got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("zebra knows %d veths after 30 s, want %d", known, 2*links+2)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
