package controller

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
)

func TestParseBGPSummary(t *testing.T) {
	tests := map[string]struct {
		file    string
		want    []v1alpha1.BGPNeighborState
		wantErr bool
	}{
		// Captured from FRR 8.4.4 (Debian bookworm): one established
		// underlay peer (ipv4 unicast and l2vpn evpn), one peer that never
		// came up, and a host session in VRF red.
		"underlay and vrf": {
			file: "testdata/bgp-summary-frr8.4.json",
			want: []v1alpha1.BGPNeighborState{
				{VRF: "default", Neighbor: "192.168.11.2", State: "Established"},
				{VRF: "default", Neighbor: "192.168.11.9", State: "Active"},
				{VRF: "red", Neighbor: "192.169.10.2", State: "Idle"},
			},
		},
		"no bgp configured": {file: "testdata/bgp-summary-frr8.4-no-bgp.json", want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseBGPSummary(data)
			if err != nil {
				t.Fatalf("ParseBGPSummary: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ParseBGPSummary([]byte("% Unknown command")); err == nil {
		t.Error("ParseBGPSummary accepted vtysh's error text")
	}
}

// TestBGPReadOfAStoppedBGPDIsBounded: reading BGP state from a bgpd that
// stopped answering (SIGSTOP) fails within the reader's timeout instead
// of holding the reconcile, and works again once bgpd runs.
func TestBGPReadOfAStoppedBGPDIsBounded(t *testing.T) {
	frrproctest.RequireFRR(t)
	inst := frrproctest.Start(t, frrproc.Options{})
	if err := inst.ApplyConfig(context.Background(), "router bgp 64512\n bgp router-id 10.0.0.1\n neighbor 192.0.2.2 remote-as 64513\nexit\n"); err != nil {
		t.Fatal(err)
	}
	r := VtyshBGPReader{Vtysh: inst.VtyshPath(), SocketDir: inst.VtySocketDir(), Timeout: 2 * time.Second}
	if _, err := r.Neighbors(context.Background()); err != nil {
		t.Fatalf("bgpd running: %v", err)
	}
	bgpd := inst.PID("bgpd")
	if err := syscall.Kill(bgpd, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = syscall.Kill(bgpd, syscall.SIGCONT)
		}
	})
	start := time.Now()
	_, err := r.Neighbors(context.Background())
	if took := time.Since(start); err == nil || took > 10*time.Second {
		t.Fatalf("bgpd stopped: Neighbors = %v after %s; want an error within the 2s timeout", err, took)
	}
	if err := syscall.Kill(bgpd, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if _, err := r.Neighbors(context.Background()); err != nil {
		t.Fatalf("bgpd running again: %v", err)
	}
}
