package reloader

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/frrdelta"
)

var redL3VNI = frrdelta.L3VNI{VRF: "red", VNI: 100, BGP: "router bgp 64514 vrf red"}

// zebraEVPN fakes what vtysh prints for EVPNNexthops.Gaps: zebra's L3VNI
// next-hops and RMACs, and the VRF's routes through the leaf VTEP.
type zebraEVPN struct {
	// broken: zebra lost the VTEP's neighbour and RMAC (FRR 8.4 after a
	// withdraw and re-add in one burst).
	broken bool
	// breakAfter: the number of looks after which zebra's delayed delete
	// lands (the state looks complete until then).
	breakAfter int
	looks      int
	scripts    []string
}

const (
	completeNexthops = `{"100":{"numNextHops":1,"100.64.0.1":{"nexthopIp":"100.64.0.1","routerMac":"02:00:64:00:01:c8"}}}`
	completeRMACs    = `{"100":{"numRmacs":1,"02:00:64:00:01:c8":{"routerMac":"02:00:64:00:01:c8","vtepIp":"100.64.0.1"}}}`
	leafRoutes       = `{"10.100.1.0/24":[{"prefix":"10.100.1.0/24","protocol":"bgp","selected":true,"installed":true,"nexthops":[{"fib":true,"ip":"100.64.0.1","afi":"ipv4","interfaceName":"br-pe-100","active":true,"onLink":true}]}]}`
)

func (z *zebraEVPN) run(_ context.Context, args ...string) (string, error) {
	if args[0] == "-f" {
		data, err := os.ReadFile(args[1])
		if err != nil {
			return "", err
		}
		z.scripts = append(z.scripts, string(data))
		// bgpd re-sends the routes as adds: zebra re-creates the
		// neighbour and the RMAC.
		z.broken = false
		return "", nil
	}
	z.looks++
	if z.breakAfter > 0 && z.looks == z.breakAfter {
		z.broken = true
	}
	nh, rm := completeNexthops, completeRMACs
	if z.broken {
		nh, rm = "{}", "{}"
	}
	out := nh + "\n" + rm + "\n"
	for i := 2; i < len(args)/2; i++ {
		if strings.HasPrefix(args[2*i+1], "show ip route vrf red") {
			out += leafRoutes + "\n"
		} else {
			out += "{}\n"
		}
	}
	return out, nil
}

func newTestEVPN(t *testing.T, z *zebraEVPN) *EVPNNexthops {
	e := &EVPNNexthops{
		WorkDir: t.TempDir(), Logger: testr.New(t),
		Quiet: 2 * time.Second, Poll: 500 * time.Millisecond,
		run: z.run,
	}
	// A fake clock that moves only while Settle sleeps.
	now := time.Unix(0, 0)
	e.now = func() time.Time { return now }
	e.sleep = func(ctx context.Context, d time.Duration) error {
		now = now.Add(d)
		return ctx.Err()
	}
	return e
}

func TestEVPNSettleRepairsWhatZebraLosesLate(t *testing.T) {
	for name, tc := range map[string]struct {
		breakAfter  int
		wantRepairs int
		wantLooks   int
	}{
		// zebra kept its VTEPs: four complete looks (2s quiet / 0.5s).
		"nothing lost": {0, 0, 4},
		// The delete lands on the second look, after one look that saw
		// the state before it: repaired once, then quiet again.
		"lost after a complete look": {2, 1, 6},
		"lost at once":               {1, 1, 5},
	} {
		t.Run(name, func(t *testing.T) {
			z := &zebraEVPN{breakAfter: tc.breakAfter}
			repairs, err := newTestEVPN(t, z).Settle(context.Background(), []frrdelta.L3VNI{redL3VNI})
			if err != nil {
				t.Fatal(err)
			}
			if repairs != tc.wantRepairs || z.looks != tc.wantLooks || len(z.scripts) != tc.wantRepairs {
				t.Errorf("Settle: %d repairs, %d looks, %d scripts; want %d repairs, %d looks", repairs, z.looks, len(z.scripts), tc.wantRepairs, tc.wantLooks)
			}
			if z.broken {
				t.Error("zebra still lacks the VTEP after Settle")
			}
		})
	}
}

func TestEVPNSettleGivesUp(t *testing.T) {
	z := &zebraEVPN{breakAfter: 1}
	e := newTestEVPN(t, z)
	e.MaxRepairs = 2
	// A zebra that loses the VTEP again after every repair.
	e.run = func(ctx context.Context, args ...string) (string, error) {
		out, err := z.run(ctx, args...)
		z.broken = true
		return out, err
	}
	repairs, err := e.Settle(context.Background(), []frrdelta.L3VNI{redL3VNI})
	if err == nil || repairs != 2 || !strings.Contains(err.Error(), "VRF red (VNI 100): 100.64.0.1") {
		t.Errorf("Settle = %d, %v; want 2 repairs and an error naming the VTEP", repairs, err)
	}
}

func TestEVPNCheck(t *testing.T) {
	config := "vrf red\n vni 100\nexit-vrf\n!\nrouter bgp 64514\nexit\n!\nrouter bgp 64514 vrf red\n address-family l2vpn evpn\n  advertise ipv4 unicast\n exit-address-family\nexit\n"
	z := &zebraEVPN{broken: true}
	repairs, err := newTestEVPN(t, z).Check(context.Background(), config)
	if err != nil || repairs != 1 || z.broken {
		t.Fatalf("Check = %d, %v (zebra broken: %v); want one repair", repairs, err, z.broken)
	}
	repairs, err = newTestEVPN(t, z).Check(context.Background(), config)
	if err != nil || repairs != 0 {
		t.Errorf("Check of a complete state = %d, %v; want nothing", repairs, err)
	}
}

func TestRepairScript(t *testing.T) {
	blue := frrdelta.L3VNI{VRF: "blue", VNI: 200, BGP: "router bgp 64514 vrf blue", TableMap: true}
	got := RepairScript([]Gap{{L3VNI: redL3VNI}, {L3VNI: blue}})
	want := "router bgp 64514 vrf red\n" +
		" address-family ipv4 unicast\n  no table-map perouter-reannounce\n exit-address-family\n" +
		" address-family ipv6 unicast\n  no table-map perouter-reannounce\n exit-address-family\n" +
		"exit\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RepairScript (-want +got):\n%s", diff)
	}
}

// TestRepairScriptLeavesTheConfigAlone runs the repair in real FRR: bgpd
// takes it, and the running config does not change (no table-map, no
// empty address family appears).
func TestRepairScriptLeavesTheConfigAlone(t *testing.T) {
	f := newIncrementalFixture(t)
	config := vrfConfig("red", "blue")
	f.reload(t, config)
	before := f.running(t)
	e := &EVPNNexthops{Paths: FRRPaths{VtySocketDir: f.inst.VtySocketDir()}, WorkDir: t.TempDir(), Logger: testr.New(t)}
	l3vnis, err := frrdelta.L3VNIs(config)
	if err != nil {
		t.Fatal(err)
	}
	var gaps []Gap
	for _, l := range l3vnis {
		gaps = append(gaps, Gap{L3VNI: l})
	}
	if len(gaps) != 2 {
		t.Fatalf("L3VNIs of the test config = %+v", l3vnis)
	}
	if err := e.Repair(context.Background(), gaps); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, f.running(t)); diff != "" {
		t.Errorf("running config changed by the repair (-before +after):\n%s", diff)
	}
}

// TestGapsReadsRealFRR runs Gaps' one vtysh run against real FRR: every
// command answers JSON (an L3VNI without remote VTEPs, a VRF without
// routes), so the documents line up and nothing is reported missing.
func TestGapsReadsRealFRR(t *testing.T) {
	f := newIncrementalFixture(t)
	config := vrfConfig("red", "blue")
	f.reload(t, config)
	e := &EVPNNexthops{Paths: FRRPaths{VtySocketDir: f.inst.VtySocketDir()}, WorkDir: t.TempDir(), Logger: testr.New(t)}
	l3vnis, err := frrdelta.L3VNIs(config)
	if err != nil {
		t.Fatal(err)
	}
	gaps, err := e.Gaps(context.Background(), l3vnis)
	if err != nil || len(gaps) != 0 {
		t.Errorf("Gaps = %v, %v; want none", gaps, err)
	}
}

type nopApplier struct{ applied []string }

func (n *nopApplier) Apply(_ context.Context, config string) error {
	n.applied = append(n.applied, config)
	return nil
}

type okHealth struct{}

func (okHealth) Check(context.Context) error { return nil }

// TestReloadSettlesEVPNAfterImportRTChanges: a reload that changes an
// L3VNI's import route targets answers only after zebra's L3VNI state is
// complete again; other reloads do not look at it.
func TestReloadSettlesEVPNAfterImportRTChanges(t *testing.T) {
	rts := func(lines ...string) string {
		c := "vrf red\n vni 100\nexit-vrf\n!\nrouter bgp 64514\nexit\n!\nrouter bgp 64514 vrf red\n address-family l2vpn evpn\n  advertise ipv4 unicast\n"
		for _, l := range lines {
			c += "  " + l + "\n"
		}
		return c + " exit-address-family\nexit\n"
	}
	z := &zebraEVPN{}
	srv, err := NewServer(Options{
		SocketPath: t.TempDir() + "/r.sock", StateDir: t.TempDir(),
		Applier: &nopApplier{}, Health: okHealth{}, Logger: testr.New(t),
		EVPN: newTestEVPN(t, z),
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		config    string
		wantLooks bool
		breaks    bool
	}{
		{rts(), false, false}, // first config: nothing re-imported
		{rts("route-target import 64514:1100", "route-target export 64514:1100"), true, false},
		{rts("route-target import 64514:1100", "route-target import 64520:100", "route-target export 64514:1100"), true, false},
		{rts("route-target import 64514:1100", "route-target import 64520:100", "route-target export 64514:1101"), false, false}, // export only
		{rts(), true, true}, // back to automatic RTs: zebra loses the VTEP
	}
	for i, s := range steps {
		z.looks, z.breakAfter = 0, 0
		if s.breaks {
			z.breakAfter = 2
		}
		if _, err := srv.Reload(context.Background(), s.config); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if looked := z.looks > 0; looked != s.wantLooks {
			t.Errorf("step %d: zebra looked at %d times, want looks: %v", i, z.looks, s.wantLooks)
		}
		if z.broken {
			t.Errorf("step %d: reload answered with zebra lacking the VTEP", i)
		}
	}
	if len(z.scripts) != 1 {
		t.Errorf("%d repairs, want 1 (the last step)", len(z.scripts))
	}
}

// TestEVPNSettleQuietIsWallTime: in an emulated VM one vtysh run can take
// seconds; Settle waits Quiet of wall time, not Quiet/Poll looks.
func TestEVPNSettleQuietIsWallTime(t *testing.T) {
	z := &zebraEVPN{}
	e := newTestEVPN(t, z)
	sleep := e.sleep
	var now time.Time
	e.now = func() time.Time { return now }
	e.sleep = func(ctx context.Context, d time.Duration) error { now = now.Add(d); return sleep(ctx, d) }
	run := e.run
	e.run = func(ctx context.Context, args ...string) (string, error) {
		now = now.Add(3 * time.Second) // a slow vtysh
		return run(ctx, args...)
	}
	if _, err := e.Settle(context.Background(), []frrdelta.L3VNI{redL3VNI}); err != nil {
		t.Fatal(err)
	}
	if z.looks != 1 {
		t.Errorf("%d looks with a 3 s vtysh and 2 s quiet, want 1", z.looks)
	}
}
