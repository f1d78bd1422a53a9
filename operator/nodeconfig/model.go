// Package nodeconfig computes one node's desired router state from the
// perouter objects: which objects select the node and which addresses it
// gets. The result is a plain model with no Kubernetes types, consumed by
// the FRR renderer (operator/frr) and the kernel planner (operator/hostnet).
package nodeconfig

import (
	"net"
	"net/netip"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// Node is what the core needs to know about a node.
type Node struct {
	Name   string
	Index  int
	Labels map[string]string
}

// Config is one node's desired router state. Slices are sorted (L3VNIs and
// L2VNIs by VNI, neighbours by address/interface) so that rendering is
// deterministic.
type Config struct {
	NodeName  string
	NodeIndex int

	// Underlay is nil when no Underlay selects the node; the router then
	// runs no BGP and no overlay.
	Underlay *Underlay

	L3VNIs      []L3VNI
	L2VNIs      []L2VNI
	Passthrough *Passthrough

	// RawSnippets are the RawFRRConfigs that select the node, in the
	// order FRR reads them: by priority, then namespace, then name.
	RawSnippets []RawSnippet
}

// RawSnippet is one RawFRRConfig's text, rendered verbatim after
// perouter's own configuration.
type RawSnippet struct {
	Source   objects.Ref
	Priority int32
	Text     string
}

// Underlay is the fabric-facing BGP instance in the default VRF.
type Underlay struct {
	Source   objects.Ref
	ASN      uint32
	RouterID netip.Addr
	// VTEPs holds at most one IPv4 (/32) and one IPv6 (/128) address,
	// configured on the router namespace's lo.
	VTEPs []netip.Prefix
	// VTEPPools are the tunnelEndpoint CIDRs the VTEPs of all nodes come
	// from; the host of a passthrough session may not announce into them.
	VTEPPools []netip.Prefix
	Neighbors []Neighbor
	// Interfaces are the host NICs moved into the router namespace.
	Interfaces []string
	// CNIInterfaces are the links CNI plugins create in the router
	// namespace, by name.
	CNIInterfaces []CNIInterface
	// GracefulRestart is nil when graceful restart is off.
	GracefulRestart *GracefulRestart
	// RouteReflector is nil when the router reflects no routes.
	RouteReflector *RouteReflector
}

// CNIInterface is an underlay link made by CNI plugins inside the router
// namespace.
type CNIInterface struct {
	// Name is the link's name (CNI_IFNAME).
	Name string
	// Config is the CNI network configuration list, JSON.
	Config []byte
	// RuntimeConfig holds the capability arguments, a JSON object, or
	// is nil.
	RuntimeConfig []byte
}

// RouteReflector is the router's route reflection (RFC 4456).
type RouteReflector struct {
	ClusterID netip.Addr
}

// GracefulRestart is BGP graceful restart on the underlay sessions, with
// FRR's defaults filled in.
type GracefulRestart struct {
	RestartTime   uint32 // seconds
	StalePathTime uint32 // seconds
}

// FRR's defaults for graceful restart's timers (bgpd.h
// BGP_DEFAULT_RESTART_TIME, BGP_DEFAULT_STALEPATH_TIME).
const (
	DefaultRestartTime   = 120
	DefaultStalePathTime = 360
)

// VTEP4 returns the IPv4 VTEP, if any.
func (u *Underlay) VTEP4() (netip.Prefix, bool) { return u.vtep(true) }

// VTEP6 returns the IPv6 VTEP, if any.
func (u *Underlay) VTEP6() (netip.Prefix, bool) { return u.vtep(false) }

// Underlay address families of an L3VNI's or L2VNI's VXLAN
// (spec.underlayAddressFamily).
const (
	FamilyIPv4 = v1alpha1.UnderlayAddressFamilyIPv4
	FamilyIPv6 = v1alpha1.UnderlayAddressFamilyIPv6
)

// VTEPFor returns the VTEP a VNI whose spec.underlayAddressFamily is
// family uses as its VXLAN's local address: that family's, or, for "",
// the IPv4 VTEP if the node has one, else the IPv6 one (upstream's
// default too). ok is false when the node has no VTEP of that family.
func (u *Underlay) VTEPFor(family string) (netip.Prefix, bool) {
	switch family {
	case FamilyIPv4:
		return u.VTEP4()
	case FamilyIPv6:
		return u.VTEP6()
	case "":
		if v, ok := u.VTEP4(); ok {
			return v, true
		}
		return u.VTEP6()
	}
	return netip.Prefix{}, false
}

func (u *Underlay) vtep(v4 bool) (netip.Prefix, bool) {
	if u == nil {
		return netip.Prefix{}, false
	}
	for _, p := range u.VTEPs {
		if p.Addr().Is4() == v4 {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Neighbor is one underlay BGP peer. Exactly one of Address, Interface and
// ListenRange is set; exactly one of ASN and Type.
type Neighbor struct {
	Address   netip.Addr
	Interface string
	// ListenRange (masked) accepts sessions from any peer in it.
	ListenRange netip.Prefix
	// AddressFamilies is nil for the families the renderer chooses
	// (ipv4/ipv6 unicast by the peer's address, evpn with a VTEP), else
	// exactly the families listed, in the order ipv4unicast, ipv6unicast,
	// evpn.
	AddressFamilies []AddressFamily
	ASN             uint32
	// Type is "external" or "internal" when ASN is 0.
	Type     string
	Port     uint16
	Password string
	// HoldTime and Keepalive are both set or both nil.
	HoldTime     *uint32
	Keepalive    *uint32
	ConnectTime  *uint32
	EBGPMultiHop bool
	// EBGPMultiHopTTL is nil for FRR's default (255); only with EBGPMultiHop.
	EBGPMultiHopTTL *uint32
	BFD             *BFD
}

// Address family types of Neighbor.AddressFamilies.
const (
	FamilyIPv4Unicast = "ipv4unicast"
	FamilyIPv6Unicast = "ipv6unicast"
	FamilyEVPN        = "evpn"
)

// AddressFamily is one family enabled with a neighbour.
type AddressFamily struct {
	Type string
	// RouteReflectorClient makes the neighbour a route reflector client
	// in this family.
	RouteReflectorClient bool
}

// BFD holds the BFD profile values; nil fields keep FRR's defaults.
type BFD struct {
	ReceiveInterval  *uint32
	TransmitInterval *uint32
	DetectMultiplier *uint32
	// Passive waits for the peer to start the session.
	Passive bool
	// MinimumTTL applies to multi-hop sessions only; nil keeps FRR's.
	MinimumTTL *uint32
}

// L3VNI is one routed overlay on the node.
type L3VNI struct {
	Source    objects.Ref
	VRF       string
	VNI       uint32
	VXLANPort uint16
	// ImportRTs and ExportRTs are empty for FRR's automatic RTs.
	ImportRTs []string
	ExportRTs []string
	// VTEP is the local address of the VNI's VXLAN: one of
	// Underlay.VTEPs, chosen by Underlay.VTEPFor.
	VTEP netip.Addr
	// RouterMAC is the fixed MAC of the VRF's bridge (br-pe-<VNI>).
	RouterMAC   net.HardwareAddr
	HostSession *HostSession
}

// HostSession is a BGP session with the host over a veth pair.
type HostSession struct {
	// ASN is the router side's ASN in this session.
	ASN uint32
	// HostASN is the host's ASN, or 0 when HostType is set.
	HostASN uint32
	// HostType is "external" or "internal" when HostASN is 0.
	HostType string
	// MaxPrefixes caps the prefixes accepted from the host per address
	// family; 0 means objects.DefaultMaxPrefixes.
	MaxPrefixes uint32
	// Router and host side addresses, with the localCIDR's prefix length.
	// Invalid (zero) prefixes mean the family is not configured.
	RouterIPv4, HostIPv4 netip.Prefix
	RouterIPv6, HostIPv6 netip.Prefix
}

// L2VNI is one bridged overlay on the node.
type L2VNI struct {
	Source    objects.Ref
	VNI       uint32
	VXLANPort uint16
	// VTEP is the local address of the VNI's VXLAN: one of
	// Underlay.VTEPs, chosen by Underlay.VTEPFor.
	VTEP netip.Addr
	// VRF is the routing domain's VRF, or "" when the segment is not routed.
	VRF string
	// GatewayIPs are the distributed gateway addresses on br-pe-<VNI>.
	GatewayIPs []netip.Prefix
	GatewayMAC net.HardwareAddr
	// HostBridge is the host-side bridge the veth joins.
	HostBridge HostBridge
}

// HostBridge is the bridge on the host side of an L2VNI. A zero HostBridge
// (the L2VNI has no hostMaster) leaves the host-side veth unattached.
type HostBridge struct {
	Name string
	// Managed bridges are created and deleted by perouter (br-hs-<VNI>);
	// external ones are only attached to.
	Managed bool
}

// Passthrough is the host session into the router's default VRF.
type Passthrough struct {
	Source      objects.Ref
	HostSession HostSession
}
