package netns

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseType5(t *testing.T) {
	// Captured from leafA of the default lab (FRR 8.4, VM lane).
	data, err := os.ReadFile("testdata/evpn-type5-frr84.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseType5(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Type5{
		{RD: "100.64.0.1:2", Prefix: "[5]:[0]:[24]:[192.168.20.0]", NextHop: "100.64.0.1", RTs: []string{"64520:100"}, Best: true},
		{RD: "100.64.0.1:3", Prefix: "[5]:[0]:[24]:[192.168.21.0]", NextHop: "100.64.0.1", RTs: []string{"64520:200"}, Best: true},
		{RD: "100.64.0.2:2", Prefix: "[5]:[0]:[24]:[192.168.22.0]", NextHop: "100.64.0.2", RTs: []string{"64520:100"}, Best: true},
		{RD: "100.64.0.2:3", Prefix: "[5]:[0]:[24]:[192.168.23.0]", NextHop: "100.64.0.2", RTs: []string{"64520:200"}, Best: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The acceptance check counts the VTEPs: both leaves.
	if n := VTEPs(got); n != 2 {
		t.Errorf("VTEPs = %d, want 2 (100.64.0.1 and 100.64.0.2)", n)
	}
	if _, err := ParseType5([]byte("% Unknown command")); err == nil {
		t.Error("ParseType5 accepted non-JSON output")
	}
}
