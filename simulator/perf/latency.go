package perf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LatencyMarker starts the one line the e2e latency spec
// (e2e/latency_test.go) prints to stdout; LatencyRows turns it into rows.
// A line on stdout survives the VM lane, where the guest's stdout is the
// only channel back to the host.
const LatencyMarker = "perf-latency: "

// LaneNative is the lane whose numbers are judged against docs/performance.md's
// targets; any other lane (an emulated VM) is reported only.
const LaneNative = "native"

// Latency is the end-to-end measurement: for each change, the time from
// the object's create (delete) call until its type-5 route from every
// node's VTEP is present on (gone from) a fabric EVPN leaf.
type Latency struct {
	Lane       string    `json:"lane"`
	AddMs      []float64 `json:"add_ms"`
	WithdrawMs []float64 `json:"withdraw_ms"`
}

// Line is the marker line.
func (l Latency) Line() string {
	data, _ := json.Marshal(l)
	return LatencyMarker + string(data)
}

// ParseLatency finds the last marker line in r (go test output). found is
// false when there is none.
func ParseLatency(r io.Reader) (l Latency, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		// The VM lane's serial console may add carriage returns.
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, LatencyMarker)
		if i < 0 {
			continue
		}
		var next Latency
		if err := json.Unmarshal([]byte(line[i+len(LatencyMarker):]), &next); err != nil {
			return l, false, fmt.Errorf("latency marker %q: %w", line, err)
		}
		l, found = next, true
	}
	return l, found, sc.Err()
}

// E2ETargetMs is docs/performance.md's bound on the median time from an applied object
// to its type-5 route on a fabric leaf.
const E2ETargetMs = 1000

// LatencyRows are the end-to-end rows: object -> type-5 route (judged
// against E2ETargetMs on the native lane only) and the withdrawal (no
// target). note, when not empty, replaces the numbers (not measured).
func LatencyRows(l Latency, note string) []Row {
	add := Row{Metric: "end to end: object applied -> type-5 route on a leaf", Unit: "ms", Target: E2ETargetMs, HasTarget: true}
	withdraw := Row{Metric: "end to end: object deleted -> type-5 route withdrawn on a leaf", Unit: "ms"}
	if note != "" {
		add.N, withdraw.N = "20 changes", "20 changes"
		add.Note, withdraw.Note = note, note
		return []Row{add, withdraw}
	}
	for _, r := range []struct {
		row *Row
		v   []float64
	}{{&add, l.AddMs}, {&withdraw, l.WithdrawMs}} {
		r.row.N = strconv.Itoa(len(r.v)) + " changes"
		if len(r.v) == 0 {
			r.row.Note = "no samples"
			continue
		}
		r.row.Median, r.row.P90 = Quantiles(r.v)
		if l.Lane != LaneNative {
			r.row.Metric += " (" + l.Lane + ")"
		}
	}
	if l.Lane != LaneNative {
		// docs/performance.md's bound is for a native run; an emulated one is reported.
		add.Metric += fmt.Sprintf(" [target %s is native]", format(E2ETargetMs, "ms"))
		add.HasTarget = false
	}
	return []Row{add, withdraw}
}
