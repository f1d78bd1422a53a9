package vtysh_test

import (
	"os"
	"slices"
	"testing"

	"github.com/perouter/perouter/operator/vtysh"
)

// The samples are FRR 8.4's answers, taken from two instances in network
// namespaces joined by a veth: one with an established session (ipv4Unicast
// and l2VpnEvpn), a dynamic peer from a listen range, a neighbor that never
// answers, and a VRF instance whose neighbor stays Idle; and one without BGP.
func TestParseBGPSummary(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []vtysh.Peer
	}{
		{"summary-frr84.json", []vtysh.Peer{
			{Family: "ipv4Unicast", Address: "10.0.12.1", State: "Established"},
			{Family: "ipv4Unicast", Address: "10.0.13.1", State: "Established", Dynamic: true},
			{Family: "ipv4Unicast", Address: "10.0.99.9", State: "Active"},
			{Family: "l2VpnEvpn", Address: "10.0.12.1", State: "Established"},
		}},
		{"summary-vrf-frr84.json", []vtysh.Peer{
			{Family: "ipv4Unicast", Address: "192.168.7.2", State: "Idle"},
		}},
		{"summary-nobgp-frr84.json", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vtysh.ParseBGPSummary(data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseBGPSummary =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestParseBGPSummaryRejectsText(t *testing.T) {
	if _, err := vtysh.ParseBGPSummary([]byte("% BGP instance not found\n")); err == nil {
		t.Error("ParseBGPSummary accepted vtysh's text answer")
	}
}
