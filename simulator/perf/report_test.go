package perf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuantiles(t *testing.T) {
	tests := map[string]struct {
		in          []float64
		median, p90 float64
	}{
		"odd count":     {in: []float64{5, 1, 3}, median: 3, p90: 5},
		"even count":    {in: []float64{4, 1, 3, 2}, median: 2.5, p90: 4},
		"ten samples":   {in: []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, median: 5.5, p90: 9},
		"single sample": {in: []float64{7}, median: 7, p90: 7},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, p := Quantiles(tc.in)
			if m != tc.median || p != tc.p90 {
				t.Errorf("Quantiles(%v) = %v, %v; want %v, %v", tc.in, m, p, tc.median, tc.p90)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := map[string]struct {
		row  Row
		want string
	}{
		"within target":              {row: Row{Median: 290, Target: 300, HasTarget: true}, want: "pass"},
		"over target, within margin": {row: Row{Median: 370, Target: 300, HasTarget: true}, want: "pass"},
		"over target and margin":     {row: Row{Median: 380, Target: 300, HasTarget: true}, want: "FAIL"},
		"zero target met":            {row: Row{Median: 0, Target: 0, HasTarget: true}, want: "pass"},
		"zero target missed":         {row: Row{Median: 1, Target: 0, HasTarget: true}, want: "FAIL"},
		"no target":                  {row: Row{Median: 1e9}, want: "info"},
		"not measured":               {row: Row{Note: "not measured", Target: 1, HasTarget: true}, want: "n/a"},
		"no margin, within target":   {row: Row{Median: 59, Target: 60, HasTarget: true, NoMargin: true}, want: "pass"},
		"no margin, over target":     {row: Row{Median: 69.5, Target: 60, HasTarget: true, NoMargin: true}, want: "FAIL"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.row.Verdict(0.25); got != tc.want {
				t.Errorf("Verdict = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteTableCountsFailures(t *testing.T) {
	var b strings.Builder
	failed := WriteTable(&b, []Row{
		{Metric: "fast", N: "1", Unit: "ms", Median: 1, P90: 2, Target: 5, HasTarget: true},
		{Metric: "slow", N: "1", Unit: "ms", Median: 10, P90: 20, Target: 5, HasTarget: true},
	}, 0.25)
	if failed != 1 {
		t.Errorf("failed = %d, want 1", failed)
	}
	if !strings.Contains(b.String(), "slow") || !strings.Contains(b.String(), "FAIL") {
		t.Errorf("table lacks the failed row:\n%s", b.String())
	}
}

func TestHostnetRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.txt")
	out := "goos: linux\nBenchmarkApply500FromEmpty-2 \t       1\t800000000 ns/op\t 11505 writes/op\nBenchmarkNoopReapply500 \t 3\t40000000 ns/op\nPASS\n"
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range HostnetRows(path, "native") {
		got = append(got, r.Metric+" "+format(r.Median, r.Unit)+" "+r.Verdict(0.25))
	}
	want := []string{"datapath Apply from empty (native) 800 ms pass", "datapath no-op re-apply (native) 40 ms pass"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, r := range HostnetRows(path, "VM lane, TCG") {
		if r.Verdict(0.25) != "info" {
			t.Errorf("%s: emulated run judged %q, want info", r.Metric, r.Verdict(0.25))
		}
	}
	if r := HostnetRows("", "native")[0]; r.Verdict(0.25) != "n/a" {
		t.Errorf("missing benchmark output judged %q, want n/a", r.Verdict(0.25))
	}
}
