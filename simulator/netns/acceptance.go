package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/operator/vtysh"
	"github.com/perouter/perouter/simulator/topology"
)

// HostPair is two hosts of one VRF (or one L2 segment) behind different
// leaves: the lab's acceptance check pings From → To.
type HostPair struct{ From, To Host }

// PingPairs lists the pairs of hosts in the same VRF, or on the same L2
// segment, behind different leaves, each once (From's leaf sorts before
// To's).
func PingPairs(hosts []Host) []HostPair {
	var pairs []HostPair
	for _, a := range hosts {
		for _, b := range hosts {
			if a.VRF == b.VRF && a.L2VNI == b.L2VNI && a.Leaf < b.Leaf {
				pairs = append(pairs, HostPair{a, b})
			}
		}
	}
	return pairs
}

// VTEPs counts the distinct next hops (VTEPs) of EVPN routes: type 5 of
// VRFs, type 3 of L2 segments (the fabric keeps next hops unchanged).
func VTEPs(routes []vtysh.EVPNRoute) int {
	vteps := map[string]bool{}
	for _, r := range routes {
		vteps[r.NextHop] = true
	}
	return len(vteps)
}

// Accept is the lab's acceptance check, what `pesim up` (and so `make lab`)
// shows: hosts of one VRF (or one L2 segment) behind different leaves ping
// each other, with a cluster every VTEP (leaves and nodes) is the next hop
// of an EVPN route (type 5 of a VRF, type 3 of an L2 segment) on every
// leaf, and it prints every leaf's type-5 (VRF hosts) and type-3 (L2
// hosts) routes and a ping of each pair to w. evidence, when set, is
// called when the cluster's VTEPs do not all show up.
func (l *Lab) Accept(ctx context.Context, withCluster bool, evidence func(), w io.Writer) error {
	vrfHosts, err := l.Hosts(ctx)
	if err != nil {
		return err
	}
	l2Hosts, err := l.L2Hosts(ctx)
	if err != nil {
		return err
	}
	pairs := PingPairs(append(vrfHosts, l2Hosts...))
	// Type-5 routes reach the remote VRF about a second after BGP is up:
	// wait for the datapath before printing the routes that explain it.
	for _, p := range pairs {
		if err := l.PingUntil(ctx, p.From.Node, p.To.Address.String(), time.Minute); err != nil {
			return err
		}
	}
	if withCluster {
		// Every VTEP (leaves and nodes) shows up as a type-5 next hop on
		// every leaf once the operator has configured the nodes.
		want := len(l.EVPNLeaves()) + len(l.Topo.NodesWithRole(topology.RoleClusterNode))
		fmt.Fprintf(w, "[cluster] waiting for EVPN routes from %d VTEPs on every leaf\n", want)
		for _, leaf := range l.EVPNLeaves() {
			if err := l.WaitVTEPs(ctx, leaf, want, 10*time.Minute); err != nil {
				if evidence != nil {
					evidence()
				}
				return err
			}
		}
	}
	var shows []string
	if len(vrfHosts) > 0 {
		shows = append(shows, "show bgp l2vpn evpn route type prefix")
	}
	if len(l2Hosts) > 0 {
		shows = append(shows, "show bgp l2vpn evpn route type multicast")
	}
	for _, leaf := range l.EVPNLeaves() {
		for _, show := range shows {
			out, err := l.Vtysh(ctx, leaf, show)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\n=== %s: %s\n%s", leaf, show, out)
		}
	}
	for _, p := range pairs {
		out, err := l.Exec(ctx, p.From.Node, "ping", "-c", "3", "-i", "0.2", p.To.Address.String())
		segment := "VRF " + p.From.VRF
		if p.From.L2VNI != "" {
			segment = "L2VNI " + p.From.L2VNI
		}
		fmt.Fprintf(w, "\n=== %s (%s, behind %s) -> %s (%s, behind %s), %s\n%s",
			p.From.Node, p.From.Address, p.From.Leaf, p.To.Node, p.To.Address, p.To.Leaf, segment, out)
		if err != nil {
			return fmt.Errorf("ping %s -> %s: %w", p.From.Node, p.To.Node, err)
		}
	}
	return nil
}

// WaitVTEPs waits until a leaf has EVPN routes from at least want VTEPs.
func (l *Lab) WaitVTEPs(ctx context.Context, leaf string, want int, within time.Duration) error {
	got := 0
	err := retry.Poll(ctx, within, retry.Every(time.Second), func() (bool, error) {
		out, err := l.Vtysh(ctx, leaf, "show bgp l2vpn evpn route json")
		if err != nil {
			return false, err
		}
		routes, err := vtysh.ParseEVPN([]byte(out))
		if err != nil {
			return false, err
		}
		got = VTEPs(routes)
		return got >= want, nil
	})
	if errors.Is(err, retry.ErrTimeout) {
		return fmt.Errorf("%s: EVPN routes from %d VTEPs after %v, want %d (see `pesim logs NODE`)", leaf, got, within, want)
	}
	return err
}

// PingUntil pings addr from a node until it answers.
func (l *Lab) PingUntil(ctx context.Context, node, addr string, within time.Duration) error {
	var out string
	err := retry.Poll(ctx, within, retry.Every(300*time.Millisecond), func() (bool, error) {
		var err error
		out, err = l.Exec(ctx, node, "ping", "-c", "1", "-W", "1", addr)
		return err == nil, nil
	})
	if errors.Is(err, retry.ErrTimeout) {
		return fmt.Errorf("%s cannot reach %s after %v: %s", node, addr, within, strings.TrimSpace(out))
	}
	return err
}

// Type3VTEPs reads a leaf's type-3 routes for vni: the VTEPs of the VNI's
// flood list as the leaf sees them.
func (l *Lab) Type3VTEPs(ctx context.Context, leaf string, vni uint32) (map[string]bool, error) {
	out, err := l.Vtysh(ctx, leaf, "show bgp l2vpn evpn route type multicast json")
	if err != nil {
		return nil, err
	}
	routes, err := vtysh.ParseEVPN([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", leaf, err)
	}
	return vtysh.Type3VTEPs(routes, vni), nil
}
