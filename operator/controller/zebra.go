package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/operator/hostnet"
)

// ZebraAddressReader reads the interface addresses FRR's zebra knows.
type ZebraAddressReader interface {
	Addresses(ctx context.Context) ([]hostnet.IfAddr, error)
}

// AddressAnnouncer is the datapath side of the zebra check: what the
// router netns has, and a way to make the kernel announce it again.
// hostnet.Manager implements it.
type AddressAnnouncer interface {
	RouterAddresses(ctx context.Context) ([]hostnet.IfAddr, error)
	Reannounce(ctx context.Context, addrs []hostnet.IfAddr) error
	// ReannounceHostAdded announces once more the addresses added in the
	// host netns since its last call (for the host's own routing
	// daemons, which cannot be checked from here).
	ReannounceHostAdded(ctx context.Context) ([]hostnet.IfAddr, error)
}

var _ AddressAnnouncer = (*hostnet.Manager)(nil)

// DefaultZebraCheckDelay is NodeReconciler.ZebraCheckDelay's default.
const DefaultZebraCheckDelay = 2 * time.Second

// maxZebraCheckDelay caps the backoff between checks while zebra still
// misses addresses.
const maxZebraCheckDelay = time.Minute

// ParseZebraInterfaces reads `show interface vrf all json`: one object per
// interface, keyed by name, each with its ipAddresses. Link-local
// addresses are left out, as hostnet.Manager.RouterAddresses does.
func ParseZebraInterfaces(out []byte) ([]hostnet.IfAddr, error) {
	var ifaces map[string]struct {
		IPAddresses []struct {
			Address string `json:"address"`
		} `json:"ipAddresses"`
	}
	if err := json.Unmarshal(out, &ifaces); err != nil {
		return nil, fmt.Errorf("parsing zebra interfaces: %w", err)
	}
	var addrs []hostnet.IfAddr
	for name, ifc := range ifaces {
		for _, a := range ifc.IPAddresses {
			p, err := netip.ParsePrefix(a.Address)
			if err != nil {
				return nil, fmt.Errorf("parsing zebra interfaces: %s: %w", name, err)
			}
			if p.Addr().IsLinkLocalUnicast() {
				continue
			}
			addrs = append(addrs, hostnet.IfAddr{Interface: name, Prefix: p})
		}
	}
	slices.SortFunc(addrs, hostnet.CompareIfAddr)
	return addrs, nil
}

// VtyshZebraReader runs vtysh against the router's zebra (see
// VtyshBGPReader).
type VtyshZebraReader struct {
	Vtysh     string
	SocketDir string
}

// Addresses implements ZebraAddressReader.
func (r VtyshZebraReader) Addresses(ctx context.Context) ([]hostnet.IfAddr, error) {
	out, err := runVtysh(ctx, r.Vtysh, r.SocketDir, 0, "show interface vrf all json")
	if err != nil {
		return nil, err
	}
	return ParseZebraInterfaces(out)
}

// MissingInZebra lists the kernel's addresses zebra does not have. Both
// lists are sorted by hostnet.CompareIfAddr.
func MissingInZebra(kernel, zebra []hostnet.IfAddr) []hostnet.IfAddr {
	var missing []hostnet.IfAddr
	for _, a := range kernel {
		if _, found := slices.BinarySearchFunc(zebra, a, hostnet.CompareIfAddr); !found {
			missing = append(missing, a)
		}
	}
	return missing
}

// zebraSchedule is when zebra's addresses are checked next (zero when no
// check is pending), and how many checks in a row found some missing,
// for the backoff.
type zebraSchedule struct {
	at     time.Time
	rounds int
}

// scheduleZebraCheck arranges a check of zebra's addresses a moment after
// the datapath changed: the kernel's events need that long to reach it.
func (r *NodeReconciler) scheduleZebraCheck(now time.Time) {
	if r.Addresses == nil {
		return
	}
	r.zebra.at = now.Add(r.zebraCheckDelay())
	r.zebra.rounds = 0
}

func (r *NodeReconciler) zebraCheckDelay() time.Duration {
	if r.ZebraCheckDelay > 0 {
		return r.ZebraCheckDelay
	}
	return DefaultZebraCheckDelay
}

// checkZebra runs when a check is due. It first announces once more the
// addresses the datapath added in the host netns (for the host's routing
// daemons). Then, with a Zebra reader, it compares the router netns'
// addresses with zebra's: addresses zebra missed (FRRouting/frr#13288: an
// address event handled before its link's) are announced again, and
// checked again after a growing delay until zebra has them all. A failed
// read is retried the same way.
func (r *NodeReconciler) checkZebra(ctx context.Context, now time.Time) {
	if r.zebra.at.IsZero() || now.Before(r.zebra.at) {
		return
	}
	logger := log.FromContext(ctx)
	if added, err := r.Addresses.ReannounceHostAdded(ctx); err != nil {
		logger.Info("announcing the new host-side addresses again", "error", err.Error())
	} else if len(added) > 0 {
		logger.V(1).Info("announced the new host-side addresses again", "count", len(added))
	}
	if r.Zebra == nil {
		r.zebra.at = time.Time{}
		return
	}
	r.zebra.rounds++
	again := now.Add(min(r.zebraCheckDelay()<<min(r.zebra.rounds, 10), maxZebraCheckDelay))
	kernel, err := r.Addresses.RouterAddresses(ctx)
	if err != nil {
		logger.Info("zebra check: reading the router netns' addresses", "error", err.Error())
		r.zebra.at = again
		return
	}
	zebra, err := r.Zebra.Addresses(ctx)
	if err != nil {
		logger.Info("zebra check: reading zebra's addresses", "error", err.Error())
		r.zebra.at = again
		return
	}
	missing := MissingInZebra(kernel, zebra)
	if len(missing) == 0 {
		r.zebra.at = time.Time{}
		r.zebra.rounds = 0
		return
	}
	names := make([]string, len(missing))
	for i, a := range missing {
		names[i] = a.String()
	}
	logger.Info("zebra misses addresses the router netns has; announcing them again", "addresses", names, "round", r.zebra.rounds)
	zebraReannounced.Add(float64(len(missing)))
	if err := r.Addresses.Reannounce(ctx, missing); err != nil {
		logger.Info("zebra check: announcing addresses again", "error", err.Error())
	}
	r.zebra.at = again
}
