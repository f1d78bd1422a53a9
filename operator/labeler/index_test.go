package labeler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAllocate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := map[string]struct {
		nodes    []NodeInfo
		maxIndex int
		want     map[string]Decision
	}{
		"empty cluster": {
			nodes: nil, maxIndex: Unlimited,
			want: map[string]Decision{},
		},
		"new nodes get lowest indices, oldest first regardless of list order": {
			nodes: []NodeInfo{
				{Name: "c", Created: at(3)},
				{Name: "a", Created: at(1)},
				{Name: "b", Created: at(2)},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"a": {Action: Assign, Index: 0},
				"b": {Action: Assign, Index: 1},
				"c": {Action: Assign, Index: 2},
			},
		},
		"same creation time ordered by name": {
			nodes: []NodeInfo{
				{Name: "z", Created: at(1)},
				{Name: "m", Created: at(1)},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"m": {Action: Assign, Index: 0},
				"z": {Action: Assign, Index: 1},
			},
		},
		"existing indices kept and holes filled lowest first": {
			nodes: []NodeInfo{
				{Name: "a", Created: at(1), Label: "0"},
				{Name: "b", Created: at(2), Label: "2"},
				{Name: "c", Created: at(3), Label: "5"},
				{Name: "new1", Created: at(4)},
				{Name: "new2", Created: at(5)},
				{Name: "new3", Created: at(6)},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"a":    {Action: Keep, Index: 0},
				"b":    {Action: Keep, Index: 2},
				"c":    {Action: Keep, Index: 5},
				"new1": {Action: Assign, Index: 1},
				"new2": {Action: Assign, Index: 3},
				"new3": {Action: Assign, Index: 4},
			},
		},
		"duplicate: older node keeps the index even when younger is listed first": {
			nodes: []NodeInfo{
				{Name: "restored", Created: at(9), Label: "1"},
				{Name: "a", Created: at(1), Label: "0"},
				{Name: "original", Created: at(2), Label: "1"},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"a":        {Action: Keep, Index: 0},
				"original": {Action: Keep, Index: 1},
				"restored": {Action: Assign, Index: 2, Reason: "index 1 is also held by the older node original"},
			},
		},
		"duplicate with equal creation time: name decides": {
			nodes: []NodeInfo{
				{Name: "b", Created: at(1), Label: "0"},
				{Name: "a", Created: at(1), Label: "0"},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"a": {Action: Keep, Index: 0},
				"b": {Action: Assign, Index: 1, Reason: "index 0 is also held by the older node a"},
			},
		},
		"invalid labels replaced": {
			nodes: []NodeInfo{
				{Name: "neg", Created: at(1), Label: "-1"},
				{Name: "word", Created: at(2), Label: "seven"},
				{Name: "zero-padded", Created: at(3), Label: "01"},
				{Name: "plus", Created: at(4), Label: "+2"},
			},
			maxIndex: Unlimited,
			want: map[string]Decision{
				"neg":         {Action: Assign, Index: 0, Reason: `label "-1" is not a node index`},
				"word":        {Action: Assign, Index: 1, Reason: `label "seven" is not a node index`},
				"zero-padded": {Action: Assign, Index: 2, Reason: `label "01" is not a node index`},
				"plus":        {Action: Assign, Index: 3, Reason: `label "+2" is not a node index`},
			},
		},
		"capacity reached: later nodes get no index": {
			nodes: []NodeInfo{
				{Name: "a", Created: at(1), Label: "0"},
				{Name: "b", Created: at(2)},
				{Name: "c", Created: at(3)},
				{Name: "d", Created: at(4), Label: "0"},
			},
			maxIndex: 1,
			want: map[string]Decision{
				"a": {Action: Keep, Index: 0},
				"b": {Action: Assign, Index: 1},
				"c": {Action: NoCapacity, Index: -1},
				"d": {Action: NoCapacity, Index: -1, Reason: "index 0 is also held by the older node a"},
			},
		},
		"existing index above capacity is kept": {
			nodes: []NodeInfo{
				{Name: "a", Created: at(1), Label: "7"},
				{Name: "b", Created: at(2)},
			},
			maxIndex: 0,
			want: map[string]Decision{
				"a": {Action: Keep, Index: 7},
				"b": {Action: Assign, Index: 0},
			},
		},
		"capacity frees up when a node leaves": {
			nodes: []NodeInfo{
				{Name: "b", Created: at(2), Label: "1"},
				{Name: "c", Created: at(3)},
			},
			maxIndex: 1,
			want: map[string]Decision{
				"b": {Action: Keep, Index: 1},
				"c": {Action: Assign, Index: 0},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Allocate(tc.nodes, tc.maxIndex)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Allocate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseIndex(t *testing.T) {
	tests := map[string]struct {
		in     string
		want   int
		wantOK bool
	}{
		"zero":         {in: "0", want: 0, wantOK: true},
		"large":        {in: "4095", want: 4095, wantOK: true},
		"empty":        {in: "", wantOK: false},
		"negative":     {in: "-3", wantOK: false},
		"leading zero": {in: "007", wantOK: false},
		"plus sign":    {in: "+1", wantOK: false},
		"not a number": {in: "x", wantOK: false},
		"space":        {in: " 1", wantOK: false},
		"overflow-ish": {in: "99999999999999999999999", wantOK: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseIndex(tc.in)
			if ok != tc.wantOK || (ok && got != tc.want) {
				t.Errorf("ParseIndex(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
