package reloader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/vtysh"
)

// EVPNNexthops keeps zebra's L3VNI neighbours and router MACs in step with
// the VRF routes that use them, working around FRR 8.4 (fixed upstream in
// 9.1, "lib, zebra: Fix EVPN nexthop config order"): zebra queues the
// neighbour/RMAC half of an EVPN route add when it reads the add, but the
// matching half of a delete only when its route queue reaches the delete.
// When bgpd withdraws and re-adds a type-5 route in one burst (it does for
// every route of a VRF whose import route targets change, see
// frrdelta.Reimported, and for any change of an imported route's best
// path), zebra handles them as add, then delete: it removes the remote
// VTEP's neighbour on the L3VNI's bridge and its RMAC from the VXLAN
// device's FDB while the routes through it stay. The kernel then resolves
// the VTEP by ARP on the bridge (a FAILED neighbour) and drops the
// packets; nothing in FRR repairs it until the routes change again.
//
// The repair asks bgpd to send zebra the VRF's routes again as adds only
// ("no table-map" re-announces the table, and perouter configures no
// table-map), which re-creates the neighbour and the RMAC. It is harmless
// on FRR releases without the bug, where nothing is ever missing.
type EVPNNexthops struct {
	Paths  FRRPaths
	Logger logr.Logger
	// WorkDir receives the repair's vtysh script.
	WorkDir string
	// Quiet is how long, after a change that re-imports, the state must
	// stay complete before Settle returns: zebra's delete comes after the
	// add, so an early look can see the state before it breaks. Default
	// defaultEVPNQuiet.
	Quiet time.Duration
	// Poll is the interval between looks. Default defaultEVPNPoll.
	Poll time.Duration
	// MaxRepairs bounds the repairs of one Settle. Default defaultEVPNRepairs.
	MaxRepairs int

	// run runs vtysh with args (tests replace it).
	run func(ctx context.Context, args ...string) (string, error)
	// sleep waits and now reads the clock (tests replace both).
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

const (
	defaultEVPNQuiet   = 5 * time.Second
	defaultEVPNPoll    = 500 * time.Millisecond
	defaultEVPNRepairs = 5
)

func (e *EVPNNexthops) vtysh(ctx context.Context, args ...string) (string, error) {
	if e.run != nil {
		return e.run(ctx, args...)
	}
	return e.Paths.withDefaults().cli().Run(ctx, args...)
}

func (e *EVPNNexthops) clock() time.Time {
	if e.now != nil {
		return e.now()
	}
	return time.Now()
}

func (e *EVPNNexthops) wait(ctx context.Context, d time.Duration) error {
	if e.sleep != nil {
		return e.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Gap is an L3VNI whose VRF routes use remote VTEPs zebra has no
// neighbour or router MAC for.
type Gap struct {
	L3VNI frrdelta.L3VNI
	VTEPs []netip.Addr
}

func (g Gap) String() string {
	vteps := make([]string, len(g.VTEPs))
	for i, v := range g.VTEPs {
		vteps[i] = v.String()
	}
	return fmt.Sprintf("VRF %s (VNI %d): %s", g.L3VNI.VRF, g.L3VNI.VNI, strings.Join(vteps, ","))
}

// Gaps reads zebra's L3VNI state and the routes of each L3VNI's VRF (one
// vtysh run) and returns the L3VNIs with missing VTEPs.
func (e *EVPNNexthops) Gaps(ctx context.Context, l3vnis []frrdelta.L3VNI) ([]Gap, error) {
	if len(l3vnis) == 0 {
		return nil, nil
	}
	args := []string{"-c", "show evpn next-hops vni all json", "-c", "show evpn rmac vni all json"}
	for _, l := range l3vnis {
		args = append(args, "-c", "show ip route vrf "+l.VRF+" json", "-c", "show ipv6 route vrf "+l.VRF+" json")
	}
	out, err := e.vtysh(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("reading EVPN next-hops: %w: %s", err, strings.TrimSpace(out))
	}
	docs, err := jsonDocuments(out, len(args)/2)
	if err != nil {
		return nil, fmt.Errorf("reading EVPN next-hops: %w", err)
	}
	state, err := vtysh.ParseL3VNINexthops(docs[0], docs[1])
	if err != nil {
		return nil, err
	}
	var gaps []Gap
	for i, l := range l3vnis {
		var missing []netip.Addr
		for _, doc := range docs[2+2*i : 4+2*i] {
			nhs, err := vtysh.ParseEVPNRouteNexthops(doc)
			if err != nil {
				return nil, fmt.Errorf("VRF %s: %w", l.VRF, err)
			}
			missing = append(missing, vtysh.MissingVTEPs(nhs, state[l.VNI])...)
		}
		if len(missing) > 0 {
			gaps = append(gaps, Gap{L3VNI: l, VTEPs: missing})
		}
	}
	return gaps, nil
}

// jsonDocuments splits the output of one vtysh run with n JSON commands
// into n documents.
func jsonDocuments(out string, n int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	docs := make([]json.RawMessage, 0, n)
	for {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d of %d: %w", len(docs)+1, n, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) != n {
		return nil, fmt.Errorf("vtysh printed %d JSON documents for %d commands", len(docs), n)
	}
	return docs, nil
}

// RepairScript is the vtysh script that makes bgpd send zebra the routes
// of the gaps' VRFs again, adds only: "no table-map" (which unsets a
// table-map that was never set) re-announces the family's whole table.
// An L3VNI whose config sets a table-map is left out: unsetting it would
// change the config.
func RepairScript(gaps []Gap) string {
	var b strings.Builder
	for _, g := range gaps {
		if g.L3VNI.TableMap {
			continue
		}
		fmt.Fprintf(&b, "%s\n", g.L3VNI.BGP)
		for _, af := range []string{"ipv4", "ipv6"} {
			fmt.Fprintf(&b, " address-family %s unicast\n  no table-map perouter-reannounce\n exit-address-family\n", af)
		}
		b.WriteString("exit\n")
	}
	return b.String()
}

// Repair re-announces the gaps' VRF routes to zebra (RepairScript).
func (e *EVPNNexthops) Repair(ctx context.Context, gaps []Gap) error {
	script := RepairScript(gaps)
	if script == "" {
		return nil
	}
	if err := os.MkdirAll(e.WorkDir, 0o700); err != nil {
		return fmt.Errorf("reloader: work dir: %w", err)
	}
	path := filepath.Join(e.WorkDir, "evpn-reannounce.conf")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		return fmt.Errorf("reloader: re-announce script: %w", err)
	}
	if out, err := e.vtysh(ctx, "-f", path); err != nil {
		return fmt.Errorf("re-announcing VRF routes: %w: %s", err, strings.TrimSpace(out))
	}
	return nil
}

// Settle watches the L3VNIs after a change that re-imported their routes
// (frrdelta.Reimported) and repairs every gap zebra opens, until the state
// has stayed complete for Quiet. It reports the repairs it made.
func (e *EVPNNexthops) Settle(ctx context.Context, l3vnis []frrdelta.L3VNI) (int, error) {
	quiet := cmpDuration(e.Quiet, defaultEVPNQuiet)
	poll := cmpDuration(e.Poll, defaultEVPNPoll)
	maxRepairs := e.MaxRepairs
	if maxRepairs == 0 {
		maxRepairs = defaultEVPNRepairs
	}
	repairs := 0
	// Quiet is wall time, not a count of looks: in an emulated VM under
	// load one vtysh run can take seconds.
	since := e.clock()
	for e.clock().Sub(since) < quiet {
		if err := e.wait(ctx, poll); err != nil {
			return repairs, err
		}
		gaps, err := e.Gaps(ctx, l3vnis)
		if err != nil {
			return repairs, err
		}
		if len(gaps) == 0 {
			continue
		}
		if repairs == maxRepairs {
			return repairs, fmt.Errorf("zebra still lacks remote VTEPs after %d re-announces: %s", repairs, gapList(gaps))
		}
		e.Logger.Info("zebra lost remote VTEPs of an L3VNI that its routes use (FRR 8.4 EVPN route re-add); re-announcing the VRF's routes", "gaps", gapList(gaps))
		if err := e.Repair(ctx, gaps); err != nil {
			return repairs, err
		}
		repairs++
		since = e.clock()
	}
	return repairs, nil
}

// Check looks once at every L3VNI of config and repairs the gaps it finds:
// the periodic safety net for re-imports that no config change caused.
func (e *EVPNNexthops) Check(ctx context.Context, config string) (int, error) {
	l3vnis, err := frrdelta.L3VNIs(config)
	if err != nil || len(l3vnis) == 0 {
		return 0, err
	}
	gaps, err := e.Gaps(ctx, l3vnis)
	if err != nil || len(gaps) == 0 {
		return 0, err
	}
	e.Logger.Info("zebra lacks remote VTEPs of an L3VNI that its routes use; re-announcing the VRF's routes", "gaps", gapList(gaps))
	if err := e.Repair(ctx, gaps); err != nil {
		return 0, err
	}
	return 1, nil
}

func gapList(gaps []Gap) string {
	var b bytes.Buffer
	for i, g := range gaps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(g.String())
	}
	return b.String()
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
