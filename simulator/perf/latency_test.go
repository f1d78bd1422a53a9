package perf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLatency(t *testing.T) {
	tests := map[string]struct {
		out     string
		want    Latency
		found   bool
		wantErr bool
	}{
		"marker among go test output, console carriage return": {
			out:   "=== RUN   TestE2E\nlab up in 3m\r\n" + Latency{Lane: "VM lane", AddMs: []float64{900, 1100}, WithdrawMs: []float64{400, 500}}.Line() + "\r\n--- PASS: TestE2E\n",
			want:  Latency{Lane: "VM lane", AddMs: []float64{900, 1100}, WithdrawMs: []float64{400, 500}},
			found: true,
		},
		"the last marker wins": {
			out:   `perf-latency: {"lane":"native","add_ms":[1]}` + "\n" + `perf-latency: {"lane":"native","add_ms":[2]}` + "\n",
			want:  Latency{Lane: "native", AddMs: []float64{2}},
			found: true,
		},
		"no marker":     {out: "--- FAIL: TestE2E\n"},
		"broken marker": {out: "perf-latency: {\"add_ms\":[1,\n", wantErr: true},
		"empty output":  {out: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, found, err := ParseLatency(strings.NewReader(tc.out))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if found != tc.found {
				t.Errorf("found = %v, want %v", found, tc.found)
			}
			if diff := cmp.Diff(tc.want, got); tc.found && diff != "" {
				t.Errorf("latency (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLatencyRows(t *testing.T) {
	samples := func(v ...float64) []float64 { return v }
	tests := map[string]struct {
		in   Latency
		note string
		want []string
	}{
		"native within target": {
			in:   Latency{Lane: LaneNative, AddMs: samples(700, 800, 900, 1000, 2000), WithdrawMs: samples(300, 400, 500)},
			want: []string{"|5 changes|900 ms|2.00 s|pass", "|3 changes|400 ms|500 ms|info"},
		},
		"native over target and margin": {
			in:   Latency{Lane: LaneNative, AddMs: samples(1300, 1400, 1500), WithdrawMs: samples(300)},
			want: []string{"|3 changes|1.40 s|1.50 s|FAIL", "|1 changes|300 ms|300 ms|info"},
		},
		"VM lane reported, not judged": {
			in:   Latency{Lane: "VM lane", AddMs: samples(5000, 6000, 7000), WithdrawMs: samples(3000)},
			want: []string{"VM lane|3 changes|6.00 s|7.00 s|info", "VM lane|1 changes|3.00 s|3.00 s|info"},
		},
		"not measured": {
			note: "not measured",
			want: []string{"|20 changes|||n/a", "|20 changes|||n/a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, r := range LatencyRows(tc.in, tc.note) {
				lane := ""
				if strings.Contains(r.Metric, "(VM lane)") {
					lane = "VM lane"
				}
				med, p90 := "", ""
				if r.Note == "" {
					med, p90 = format(r.Median, r.Unit), format(r.P90, r.Unit)
				}
				got = append(got, strings.Join([]string{lane, r.N, med, p90, r.Verdict(0.25)}, "|"))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRSSMarker(t *testing.T) {
	out := "perf: starting FRR\r\nperf-rss: {\"RSSMB\":55.5,\"PeakMB\":70.1,\"Objects\":501,\"Applied\":\"Applied\",\"VRFs\":500}\r\n"
	got, found, err := parseRSSMarker(strings.NewReader(out))
	if err != nil || !found {
		t.Fatalf("parseRSSMarker: found %v, err %v", found, err)
	}
	want := RSSResult{RSSMB: 55.5, PeakMB: 70.1, Objects: 501, Applied: "Applied", VRFs: 500}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestParseGoMemstats(t *testing.T) {
	out := `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 2.097152e+07
go_memstats_sys_bytes 4.194304e+07
go_gc_duration_seconds{quantile="0"} 1e-05
perouter_controller_reloads_total 3
`
	got, err := parseGoMemstats(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_memstats_heap_inuse_bytes": 20971520, "go_memstats_sys_bytes": 41943040}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("memstats (-want +got):\n%s", diff)
	}
}
