package perf

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

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
