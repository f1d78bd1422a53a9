package perf

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// Row is one line of the perf table. Values are in Unit.
type Row struct {
	Metric string
	N      string
	Unit   string
	Median float64
	P90    float64
	// Target is the bound docs/performance.md sets; HasTarget false means the row is
	// informational.
	Target    float64
	HasTarget bool
	// Note replaces the numbers for rows that were not measured.
	Note string
	// NoMargin judges the row against Target itself: the noise margin is
	// for wall-clock rows on a shared machine, not for memory.
	NoMargin bool
}

// Verdict is "pass", "FAIL", "info" or "n/a": a row fails when its median
// exceeds the target by more than margin (e.g. 0.25 = 25 %).
func (r Row) Verdict(margin float64) string {
	if r.NoMargin {
		margin = 0
	}
	switch {
	case r.Note != "":
		return "n/a"
	case !r.HasTarget:
		return "info"
	case r.Median <= r.Target*(1+margin) || (r.Target == 0 && r.Median == 0):
		return "pass"
	default:
		return "FAIL"
	}
}

// WriteTable prints rows as one aligned table and returns the number of
// failed rows.
func WriteTable(w io.Writer, rows []Row, margin float64) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tN\tmedian\tp90\ttarget\tresult")
	failed := 0
	for _, r := range rows {
		v := r.Verdict(margin)
		if v == "FAIL" {
			failed++
		}
		target := "-"
		if r.HasTarget {
			target = "<= " + format(r.Target, r.Unit)
		}
		if r.Note != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t%s\t%s\n", r.Metric, r.N, r.Note, target, v)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Metric, r.N, format(r.Median, r.Unit), format(r.P90, r.Unit), target, v)
	}
	tw.Flush()
	return failed
}

func format(v float64, unit string) string {
	switch unit {
	case "ms":
		if v >= 1000 {
			return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
		}
		if v < 10 {
			return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case "MB":
		return strconv.FormatFloat(v, 'f', 1, 64) + " MB"
	case "":
		return strconv.FormatFloat(v, 'f', 0, 64)
	case "x":
		return strconv.FormatFloat(v, 'f', 2, 64) + "x"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + unit
}

// Quantiles returns the median and the 90th percentile (nearest rank).
func Quantiles(v []float64) (median, p90 float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	if len(s)%2 == 1 {
		median = s[len(s)/2]
	} else {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, rank(0.9)
}

// BenchRow runs a benchmark runs times (each run a full testing.Benchmark)
// and returns the distribution of ms/op across runs.
func BenchRow(b Bench, runs int) Row {
	var ms []float64
	for range runs {
		r := testing.Benchmark(b.Run)
		if r.N == 0 {
			return Row{Metric: b.Metric, N: strconv.Itoa(b.N), Note: "benchmark failed"}
		}
		ms = append(ms, float64(r.NsPerOp())/1e6)
	}
	med, p90 := Quantiles(ms)
	return Row{Metric: b.Metric, N: strconv.Itoa(b.N), Unit: "ms", Median: med, P90: p90, Target: b.TargetMs, HasTarget: b.TargetMs > 0}
}

// SampleRows turns reload samples into wall-time, CPU and exec rows.
func SampleRows(metric string, n int, samples []Sample, targetMs float64, withTarget bool) []Row {
	var wall, daemons, tools, execs []float64
	for _, s := range samples {
		wall = append(wall, ms(s.Wall))
		daemons = append(daemons, ms(s.DaemonCPU))
		tools = append(tools, ms(s.ToolCPU))
		execs = append(execs, float64(s.Execs))
	}
	N := strconv.Itoa(n)
	row := func(name, unit string, v []float64) Row {
		med, p90 := Quantiles(v)
		return Row{Metric: metric + ": " + name, N: N, Unit: unit, Median: med, P90: p90}
	}
	rows := []Row{
		row("wall", "ms", wall),
		row("CPU of FRR daemons", "ms", daemons),
		row("CPU of reloader + vtysh/frr-reload.py", "ms", tools),
		row("FRR process invocations", "", execs),
	}
	rows[0].Target, rows[0].HasTarget = targetMs, withTarget
	return rows
}

// RatioRow compares two benchmark rows: b's median over a's. Linear growth
// from a's N to b's N gives the ratio of the Ns.
func RatioRow(metric string, a, b Row, target float64) Row {
	return Row{Metric: metric, N: a.N + "->" + b.N, Unit: "x", Median: b.Median / a.Median, P90: b.P90 / a.P90, Target: target, HasTarget: true}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// HostnetRows reads "go test -bench" output of operator/hostnet (run in the
// kernel lane) and returns the datapath rows; missing benchmarks give a
// row saying so.
func HostnetRows(path, lane string) []Row {
	want := []struct {
		name, metric string
		target       float64
	}{
		{"BenchmarkApply500FromEmpty", "datapath Apply from empty (" + lane + ")", 1000},
		{"BenchmarkNoopReapply500", "datapath no-op re-apply (" + lane + ")", 50},
	}
	found := map[string][]float64{}
	if path != "" {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
					v, _ := strconv.ParseFloat(m[2], 64)
					found[m[1]] = append(found[m[1]], v/1e6)
				}
			}
			f.Close()
		}
	}
	var rows []Row
	for _, w := range want {
		metric := w.metric
		if lane != "native" {
			// The bounds of docs/performance.md are for native runs; emulated runs are reported.
			metric += fmt.Sprintf(" [target %s is native]", format(w.target, "ms"))
		}
		v := found[w.name]
		if len(v) == 0 {
			rows = append(rows, Row{Metric: w.metric, N: "500", Target: w.target, HasTarget: true, Unit: "ms",
				Note: "not measured (kernel lane; --hostnet-bench)"})
			continue
		}
		med, p90 := Quantiles(v)
		rows = append(rows, Row{Metric: metric, N: "500", Unit: "ms", Median: med, P90: p90, Target: w.target, HasTarget: lane == "native"})
	}
	return rows
}
