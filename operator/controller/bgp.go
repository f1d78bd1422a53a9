package controller

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/vtysh"
)

// ParseBGPSummary reads the output of `vtysh -c 'show bgp vrf all summary
// json'`: one object per VRF, each with one object per address family,
// each with its peers. A peer that appears in several address families is
// reported once per VRF.
func ParseBGPSummary(out []byte) ([]v1alpha1.BGPNeighborState, error) {
	var vrfs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(out, &vrfs); err != nil {
		return nil, fmt.Errorf("parsing BGP summary: %w", err)
	}
	type key struct{ vrf, peer string }
	seen := map[key]bool{}
	var states []v1alpha1.BGPNeighborState
	for vrf, afs := range vrfs {
		for af, raw := range afs {
			// Address families are objects; a VRF's other members are
			// scalars (vrfId, vrfName) and are not peers.
			if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
				continue
			}
			var summary struct {
				Peers map[string]struct {
					State    string `json:"state"`
					Hostname string `json:"hostname"`
				} `json:"peers"`
			}
			if err := json.Unmarshal(raw, &summary); err != nil {
				return nil, fmt.Errorf("parsing BGP summary of VRF %s, %s: %w", vrf, af, err)
			}
			for peer, p := range summary.Peers {
				k := key{vrf, peer}
				if seen[k] {
					continue
				}
				seen[k] = true
				states = append(states, v1alpha1.BGPNeighborState{VRF: vrf, Neighbor: peer, State: p.State})
			}
		}
	}
	slices.SortFunc(states, func(a, b v1alpha1.BGPNeighborState) int {
		if c := strings.Compare(a.VRF, b.VRF); c != 0 {
			return c
		}
		return strings.Compare(a.Neighbor, b.Neighbor)
	})
	return states, nil
}

// VtyshBGPReader runs vtysh against the router's daemons through their vty
// sockets, which the router pod shares with the controller.
type VtyshBGPReader struct {
	// Vtysh is the vtysh binary; default "vtysh".
	Vtysh string
	// SocketDir is the daemons' vty socket directory (vtysh --vty_socket).
	SocketDir string
	// Timeout bounds one read; zero means vtysh.DefaultTimeout. A stopped
	// bgpd must not hold the reconcile that refreshes the status.
	Timeout time.Duration
}

// Neighbors implements BGPStateReader.
func (r VtyshBGPReader) Neighbors(ctx context.Context) ([]v1alpha1.BGPNeighborState, error) {
	out, err := runVtysh(ctx, r.Vtysh, r.SocketDir, r.Timeout, "show bgp vrf all summary json")
	if err != nil {
		return nil, err
	}
	return ParseBGPSummary(out)
}

// runVtysh runs one vtysh command through the one vtysh seam, bounded by
// timeout (zero: vtysh.DefaultTimeout); bin defaults to "vtysh" on the
// PATH, socketDir to vtysh's own default.
func runVtysh(ctx context.Context, bin, socketDir string, timeout time.Duration, command string) ([]byte, error) {
	return vtysh.Cli{Binary: cmp.Or(bin, "vtysh"), SocketDir: socketDir, Timeout: timeout}.Output(ctx, "-c", command)
}

// bgpCache is the BGP sessions read last, and when.
type bgpCache struct {
	at        time.Time
	neighbors []v1alpha1.BGPNeighborState
}

func (r *NodeReconciler) bgpRefresh() time.Duration {
	if r.BGPRefresh > 0 {
		return r.BGPRefresh
	}
	return DefaultBGPRefresh
}

// refreshBGP reads the BGP sessions unless they were read less than
// BGPRefresh ago, and reports whether they changed.
func (r *NodeReconciler) refreshBGP(ctx context.Context, now time.Time) bool {
	if r.BGP == nil || (!r.bgp.at.IsZero() && now.Sub(r.bgp.at) < r.bgpRefresh()) {
		return false
	}
	r.bgp.at = now
	neighbors, err := r.BGP.Neighbors(ctx)
	if err != nil {
		log.FromContext(ctx).Info("reading BGP state", "error", err.Error())
		return false
	}
	up := 0
	for _, n := range neighbors {
		if n.State == "Established" {
			up++
		}
	}
	bgpSessions.WithLabelValues("up").Set(float64(up))
	bgpSessions.WithLabelValues("down").Set(float64(len(neighbors) - up))
	changed := !slices.Equal(neighbors, r.bgp.neighbors)
	r.bgp.neighbors = neighbors
	return changed
}
