package netns

import (
	"testing"

	"github.com/perouter/perouter/operator/vtysh"
)

func TestVTEPs(t *testing.T) {
	route := func(prefix, nh string) vtysh.EVPNRoute {
		return vtysh.EVPNRoute{Prefix: prefix, BGPPath: vtysh.BGPPath{NextHop: nh}}
	}
	// What Accept counts: the distinct next hops of the leaf's EVPN routes.
	routes := []vtysh.EVPNRoute{
		route("[5]:[0]:[24]:[192.168.20.0]", "100.64.0.1"),
		route("[5]:[0]:[24]:[192.168.21.0]", "100.64.0.1"),
		route("[3]:[0]:[32]:[100.65.0.1]", "100.65.0.1"),
		route("[5]:[0]:[24]:[192.168.22.0]", "100.64.0.2"),
	}
	if n := VTEPs(routes); n != 3 {
		t.Errorf("VTEPs = %d, want 3", n)
	}
}
