package perf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

func TestL2LatencyRows(t *testing.T) {
	tests := map[string]struct {
		l        L2Latency
		note     string
		wantVerd []string
		wantN    []string
	}{
		"fast enough": {
			l:        L2Latency{Latency: Latency{Lane: LaneNative, AddMs: []float64{300, 400, 500}, WithdrawMs: []float64{200, 250, 300}}},
			wantVerd: []string{"pass", "pass"},
			wantN:    []string{"3 changes", "3 changes"},
		},
		"withdrawal too slow": {
			l:        L2Latency{Latency: Latency{Lane: LaneNative, AddMs: []float64{300}, WithdrawMs: []float64{2000}}},
			wantVerd: []string{"pass", "FAIL"},
			wantN:    []string{"1 changes", "1 changes"},
		},
		"not measured": {
			note:     "not measured (pass --l2-latency-bin)",
			wantVerd: []string{"n/a", "n/a"},
			wantN:    []string{"20 changes", "20 changes"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rows := L2LatencyRows(tc.l, 20, tc.note)
			var verdicts, ns []string
			for _, r := range rows {
				if !r.HasTarget || r.Target != L2TargetMs {
					t.Errorf("row %q: target %v (set %v), want %d ms", r.Metric, r.Target, r.HasTarget, L2TargetMs)
				}
				verdicts = append(verdicts, r.Verdict(0.25))
				ns = append(ns, r.N)
			}
			if diff := cmp.Diff(tc.wantVerd, verdicts); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantN, ns); diff != "" {
				t.Errorf("N (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoutersOnSwitchesOf(t *testing.T) {
	topo, err := topology.Load(filepath.Join("..", "..", "topologies", "l2.clab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := routersOnSwitchesOf(topo, "pe-kind-worker")
	if diff := cmp.Diff(map[string]bool{"leafkind1": true, "leafkind2": true}, got); diff != "" {
		t.Errorf("routers sharing a switch with pe-kind-worker (-want +got):\n%s", diff)
	}
}

// TestStages splits one change into its steps from logs in the formats
// FRR 8.4 (debug bgp updates, log timestamp precision 3) and the
// controller (funcr JSON) write; the lines are taken from a real run.
func TestStages(t *testing.T) {
	topo, err := topology.Load(filepath.Join("..", "..", "topologies", "l2.clab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	lab := netns.New(topo, netns.Options{StateRoot: root})
	const node = "pe-kind-control-plane"
	routers := map[string]string{}
	for _, r := range []string{node, "leafkind1", "leafkind2", "spine", "leafA"} {
		routers[r] = filepath.Join(root, "frr-"+r)
	}
	write := func(path string, lines ...string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctrl := func(ts, msg string) string {
		return `{"logger":"","ts":"2026-12-07 ` + ts + `","level":0,"msg":"` + msg + `","node":"` + node + `"}`
	}
	write(filepath.Join(lab.NodeDir(node), "controller.log"),
		ctrl("01:56:25.050000", "datapath prepared"),
		ctrl("01:56:25.120000", "FRR configuration applied"),
		ctrl("01:56:25.200000", "datapath activated"),
		ctrl("01:56:25.900000", "datapath prepared"),
		ctrl("01:56:25.990000", "FRR configuration applied"))
	const key = "RD 10.0.0.1:2 [3]:[0]:[32]:[100.65.0.0]"
	write(filepath.Join(routers[node], timedLog),
		"2026/12/07 01:56:25.253 BGP: [HVRWP-5R9NQ] u2:s2 send UPDATE "+key+" label 7000 l2vpn evpn",
		"2026/12/07 01:56:25.956 BGP: [WHJ94-YXNE1] u2:s2 send UPDATE "+key+" l2vpn evpn -- unreachable")
	write(filepath.Join(routers["leafkind1"], timedLog),
		"2026/12/07 01:56:25.255 BGP: [YCKEM-GB33T] 192.168.11.3(vm) rcvd "+key+" l2vpn evpn")
	write(filepath.Join(routers["leafkind2"], timedLog),
		"2026/12/07 01:56:25.254 BGP: [YCKEM-GB33T] 192.168.12.3(vm) rcvd "+key+" l2vpn evpn")
	write(filepath.Join(routers["spine"], timedLog),
		"2026/12/07 01:56:25.300 BGP: [YCKEM-GB33T] 192.168.1.5(vm) rcvd "+key+" l2vpn evpn")
	write(filepath.Join(routers["leafA"], timedLog),
		"2026/12/07 01:56:25.547 BGP: [YCKEM-GB33T] 192.168.1.0(vm) rcvd "+key+" l2vpn evpn",
		"2026/12/07 01:56:26.063 BGP: [YCKEM-GB33T] 192.168.1.0(vm) rcvd "+key+" l2vpn evpn",
		"2026/12/07 01:56:26.164 BGP: [PAPP6-VDAWM] 192.168.1.0(vm) rcvd UPDATE about "+key+" l2vpn evpn -- withdrawn")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("15:04:05.000", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 12, 7, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.Local)
	}
	windows := []changeWindow{{vni: 7000, created: at("01:56:25.000"), added: at("01:56:25.600"), deleted: at("01:56:25.800"), withdrawn: at("01:56:26.300")}}
	got := map[string][]float64{}
	for _, s := range stages(lab, L2Latency{Node: node, Leaf: "leafA", VTEP: "100.65.0.0"}, routers, windows) {
		got[s.Name] = s.Ms
	}
	want := map[string][]float64{
		"add: create call -> controller done (API, reconcile, devices up)": {200},
		"add: controller done -> node's bgpd sends the type-3 route":       {53},
		"add: node sent -> node-facing leaf received":                      {1},
		"add: node-facing leaf -> spine received":                          {46},
		"add: spine -> fabric leaf received":                               {247},
		"add: fabric leaf received -> seen by the poll":                    {53},
		"delete: delete call -> controller removed the devices":            {100},
		"delete: devices removed -> node's bgpd sends the withdrawal":      {56},
		"delete: node sent -> fabric leaf received":                        {208},
		"delete: fabric leaf received -> seen by the poll":                 {136},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 0.001)); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}
