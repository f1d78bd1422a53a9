// Package hostnet turns a node's model (nodeconfig.Config) into kernel
// state: first a pure, printable Plan (PlanFor), then netlink changes that
// make the router network namespace and the host side match it (Manager).
//
// This file is the pure half: no netlink, no I/O.
package hostnet

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// DefaultNetns is the router network namespace's name when none is given.
const DefaultNetns = "perouter"

// DefaultUnderlayMTU is assumed when the caller does not know the
// underlay NIC's MTU.
const DefaultUnderlayMTU = 1500

// VXLAN encapsulation overhead: outer Ethernet 14 + IP + UDP 8 + VXLAN 8.
const (
	vxlanOverheadIPv4 = 50 // IPv4 header 20
	vxlanOverheadIPv6 = 70 // IPv6 header 40
)

// TableBase is added to a VNI to get its VRF's routing table id. VNIs are
// 24 bit (1..16777215), so tables land in 1001..16778215: never 0 or the
// kernel's reserved 253 (default), 254 (main) and 255 (local), always fits
// the 32-bit table id, and the same VNI gets the same table on every node
// and after every restart (no "first free" search that depends on history).
const TableBase = 1000

// TableFor returns the routing table id of the VRF of the L3VNI with the
// given VNI.
func TableFor(vni uint32) uint32 { return TableBase + vni }

// PlanOptions are the node facts the model does not carry.
type PlanOptions struct {
	// Netns is the router network namespace; default DefaultNetns.
	Netns string
	// UnderlayMTU is the MTU of the underlay NIC; default DefaultUnderlayMTU.
	UnderlayMTU int
	// NodeAddresses are the node's own addresses (the Node's
	// status.addresses InternalIP and ExternalIP): the NIC holding one of
	// them is how the node reaches the API server, and is never moved.
	NodeAddresses []netip.Addr
}

// Plan is the desired kernel state of one node. Every list is sorted (by
// VNI, then name) so that equal models give byte-equal plans.
type Plan struct {
	// Netns is the router network namespace.
	Netns string `json:"netns"`
	// Sysctls are set inside the router netns.
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Rules are the router netns's policy routing rules that keep each
	// VRF's lookups inside the VRF (rules.go); planned with the first VRF
	// (a kernel without VRF refuses l3mdev rules).
	Rules []Rule `json:"rules,omitempty"`
	// LoopbackAddresses are the VTEPs, on the router netns's lo.
	LoopbackAddresses []netip.Prefix `json:"loopbackAddresses,omitempty"`
	// UnderlayInterfaces are moved from the host netns into the router
	// netns, keeping their addresses, MTU and up state.
	UnderlayInterfaces []string `json:"underlayInterfaces,omitempty"`
	// CNIInterfaces are made in the router netns by CNI plugins (cni.go),
	// sorted by name.
	CNIInterfaces []CNIInterface `json:"cniInterfaces,omitempty"`
	// NodeAddresses are the node's own addresses: a NIC in the host netns
	// holding one of them is not moved (see protect.go).
	NodeAddresses []netip.Addr `json:"nodeAddresses,omitempty"`
	// VRFs live in the router netns, one per L3VNI.
	VRFs []VRF `json:"vrfs,omitempty"`
	// Bridges (br-pe-<VNI>) live in the router netns.
	Bridges []Bridge `json:"bridges,omitempty"`
	// VXLANs (vni<VNI>) live in the router netns, each a port of its bridge.
	VXLANs []VXLAN `json:"vxlans,omitempty"`
	// HostBridges are the managed br-hs-<VNI> bridges in the host netns.
	// External bridges are not listed: we attach to them, never create them.
	HostBridges []HostBridge `json:"hostBridges,omitempty"`
	// Veths connect the host netns with the router netns.
	Veths []Veth `json:"veths,omitempty"`
}

// Sysctl is one /proc/sys value inside the router netns. Key is the path
// under /proc/sys, e.g. "net/ipv4/conf/all/forwarding".
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Optional: a kernel without the key (older than the feature) is not
	// an error; the key is skipped and that is logged once, with what is
	// lost (docs/datapath.md, "Router namespace sysctls").
	Optional bool `json:"optional,omitempty"`
}

// VRF is a Linux VRF device bound to a routing table.
type VRF struct {
	Name  string `json:"name"`
	VNI   uint32 `json:"vni"`
	Table uint32 `json:"table"`
}

// Bridge is a router-netns bridge.
type Bridge struct {
	Name string `json:"name"`
	VNI  uint32 `json:"vni"`
	// MAC is fixed for L3VNI bridges (router MAC) and routed L2VNI bridges
	// (gateway MAC); empty means the kernel picks it.
	MAC string `json:"mac,omitempty"`
	// VRF is the bridge's master, or "" for none.
	VRF string `json:"vrf,omitempty"`
	// Addresses are the distributed gateway addresses of a routed L2VNI.
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// NoIPv6LinkLocal sets addr_gen_mode none (L3VNI bridges carry no
	// addresses; a link-local there only adds noise to FRR).
	NoIPv6LinkLocal bool `json:"noIPv6LinkLocal,omitempty"`
}

// VXLAN is a VXLAN device, a port of Bridge with neighbour suppression on
// and learning off (both on the device and on the bridge port).
type VXLAN struct {
	Name   string     `json:"name"`
	VNI    uint32     `json:"vni"`
	Local  netip.Addr `json:"local"`
	Port   uint16     `json:"port"`
	Bridge string     `json:"bridge"`
	MTU    int        `json:"mtu"`
}

// HostBridge is a bridge in the host netns created and owned by perouter.
type HostBridge struct {
	Name string `json:"name"`
	VNI  uint32 `json:"vni"`
}

// Veth is a veth pair: Host lives in the host netns, Router in the router
// netns. A master is a VRF or bridge in the same netns as that end ("" =
// none); HostMaster may name an external bridge the user owns.
type Veth struct {
	Host            string         `json:"host"`
	Router          string         `json:"router"`
	VNI             uint32         `json:"vni,omitempty"`
	MTU             int            `json:"mtu"`
	HostMaster      string         `json:"hostMaster,omitempty"`
	RouterMaster    string         `json:"routerMaster,omitempty"`
	HostAddresses   []netip.Prefix `json:"hostAddresses,omitempty"`
	RouterAddresses []netip.Prefix `json:"routerAddresses,omitempty"`
}

// routerSysctls are what FRR's EVPN routing needs: forwarding in both
// families, and reverse-path filtering off, because with symmetric IRB a
// packet arrives on a VRF's bridge while the route back to its source may
// point elsewhere (strict rp_filter would drop it). "default" covers the
// devices created after the sysctl is set; the Manager sets these first
// in every pass, before it creates a bridge.
//
// arp_accept and accept_untracked_na let a gratuitous ARP or an
// unsolicited neighbour advertisement create a neighbour entry on an
// L2VNI's bridge (by default the kernel only updates entries it already
// has). zebra turns the entry into a MAC/IP type-2 route, so a workload
// that moved to this node and announced itself is advertised from here at
// once, without waiting for traffic to it. The kernel reads arp_accept as
// the larger of "all" and the device's own value, but accept_untracked_na
// only per device: for it "default" (the bridges are created after it) is
// what counts. accept_untracked_na exists from Linux 5.18 on (Debian
// bookworm's 6.1 has it); an older kernel skips it (Optional) and then
// learns a moved IPv6 workload only from its next solicited exchange.
var routerSysctls = []Sysctl{
	{Key: "net/ipv4/conf/all/forwarding", Value: "1"},
	{Key: "net/ipv4/conf/all/rp_filter", Value: "0"},
	{Key: "net/ipv4/conf/default/rp_filter", Value: "0"},
	{Key: "net/ipv4/conf/all/arp_accept", Value: "1"},
	{Key: "net/ipv4/conf/default/arp_accept", Value: "1"},
	{Key: "net/ipv6/conf/all/forwarding", Value: "1"},
	{Key: "net/ipv6/conf/all/accept_untracked_na", Value: "1", Optional: true},
	{Key: "net/ipv6/conf/default/accept_untracked_na", Value: "1", Optional: true},
}

// PlanFor computes the kernel plan of a node. It is pure: the same
// arguments always give the same Plan.
//
// Without an Underlay (or without a VTEP) no overlay object is planned:
// a VXLAN needs a local address.
func PlanFor(c nodeconfig.Config, o PlanOptions) Plan {
	p := Plan{
		Netns:   cmp.Or(o.Netns, DefaultNetns),
		Sysctls: slices.Clone(routerSysctls),
	}
	underlayMTU := cmp.Or(o.UnderlayMTU, DefaultUnderlayMTU)
	p.NodeAddresses = nodeAddresses(o.NodeAddresses)
	if c.Underlay == nil {
		return p
	}
	p.LoopbackAddresses = slices.Clone(c.Underlay.VTEPs)
	slices.SortFunc(p.LoopbackAddresses, comparePrefix)
	p.UnderlayInterfaces = slices.Sorted(slices.Values(c.Underlay.Interfaces))
	for _, ci := range c.Underlay.CNIInterfaces {
		p.CNIInterfaces = append(p.CNIInterfaces, CNIInterface{Name: ci.Name, Config: ci.Config, RuntimeConfig: ci.RuntimeConfig})
	}

	if c.Passthrough != nil {
		hs := c.Passthrough.HostSession
		p.Veths = append(p.Veths, Veth{
			Host:   devname.PassthroughHostVeth,
			Router: devname.PassthroughRouterVeth,
			// No encapsulation on this path: traffic leaves through the
			// underlay as is.
			MTU:             underlayMTU,
			HostAddresses:   prefixes(hs.HostIPv4, hs.HostIPv6),
			RouterAddresses: prefixes(hs.RouterIPv4, hs.RouterIPv6),
		})
	}

	if len(c.Underlay.VTEPs) == 0 {
		return p
	}

	// Each VNI's VXLAN uses the VTEP its model names (the family its
	// spec.underlayAddressFamily chose), and so the overhead of that
	// family: with a dual-stack pool one node carries VXLANs of both.
	for _, l3 := range c.L3VNIs {
		local := localVTEP(c.Underlay, l3.VTEP)
		overlayMTU := underlayMTU - vxlanOverhead(local)
		p.VRFs = append(p.VRFs, VRF{Name: l3.VRF, VNI: l3.VNI, Table: TableFor(l3.VNI)})
		p.Bridges = append(p.Bridges, Bridge{
			Name:            devname.Bridge(l3.VNI),
			VNI:             l3.VNI,
			MAC:             l3.RouterMAC.String(),
			VRF:             l3.VRF,
			NoIPv6LinkLocal: true,
		})
		p.VXLANs = append(p.VXLANs, vxlanFor(l3.VNI, l3.VXLANPort, local, overlayMTU))
		if hs := l3.HostSession; hs != nil {
			p.Veths = append(p.Veths, Veth{
				Host:            devname.HostVeth(l3.VNI),
				Router:          devname.RouterVeth(l3.VNI),
				VNI:             l3.VNI,
				MTU:             overlayMTU,
				RouterMaster:    l3.VRF,
				HostAddresses:   prefixes(hs.HostIPv4, hs.HostIPv6),
				RouterAddresses: prefixes(hs.RouterIPv4, hs.RouterIPv6),
			})
		}
	}

	for _, l2 := range c.L2VNIs {
		local := localVTEP(c.Underlay, l2.VTEP)
		overlayMTU := underlayMTU - vxlanOverhead(local)
		br := Bridge{Name: devname.Bridge(l2.VNI), VNI: l2.VNI}
		if l2.VRF != "" {
			br.VRF = l2.VRF
			br.MAC = l2.GatewayMAC.String()
			br.Addresses = slices.Clone(l2.GatewayIPs)
			slices.SortFunc(br.Addresses, comparePrefix)
		}
		p.Bridges = append(p.Bridges, br)
		p.VXLANs = append(p.VXLANs, vxlanFor(l2.VNI, l2.VXLANPort, local, overlayMTU))
		if l2.HostBridge.Managed {
			p.HostBridges = append(p.HostBridges, HostBridge{Name: l2.HostBridge.Name, VNI: l2.VNI})
		}
		p.Veths = append(p.Veths, Veth{
			Host:         devname.HostVeth(l2.VNI),
			Router:       devname.RouterVeth(l2.VNI),
			VNI:          l2.VNI,
			MTU:          overlayMTU,
			HostMaster:   l2.HostBridge.Name,
			RouterMaster: br.Name,
		})
	}

	sortByVNI(p.VRFs, func(v VRF) (uint32, string) { return v.VNI, v.Name })
	sortByVNI(p.Bridges, func(b Bridge) (uint32, string) { return b.VNI, b.Name })
	sortByVNI(p.VXLANs, func(v VXLAN) (uint32, string) { return v.VNI, v.Name })
	sortByVNI(p.HostBridges, func(b HostBridge) (uint32, string) { return b.VNI, b.Name })
	sortByVNI(p.Veths, func(v Veth) (uint32, string) { return v.VNI, v.Host })
	if len(p.VRFs) > 0 {
		p.Rules = slices.Clone(routerRules)
	}
	return p
}

// localVTEP is a VNI's VXLAN local address: the VTEP the model chose for
// it (nodeconfig.Build always chooses one), else the node's default VTEP
// (nodeconfig.Underlay.VTEPFor("")), so that a model written by hand
// without it plans as before VNIs chose their family. u has a VTEP.
func localVTEP(u *nodeconfig.Underlay, chosen netip.Addr) netip.Addr {
	if chosen.IsValid() {
		return chosen
	}
	v, _ := u.VTEPFor("")
	return v.Addr()
}

// vxlanOverhead is what VXLAN encapsulation from the local VTEP adds to
// each packet.
func vxlanOverhead(local netip.Addr) int {
	if local.Is4() {
		return vxlanOverheadIPv4
	}
	return vxlanOverheadIPv6
}

func vxlanFor(vni uint32, port uint16, local netip.Addr, mtu int) VXLAN {
	return VXLAN{
		Name:   devname.VXLAN(vni),
		VNI:    vni,
		Local:  local,
		Port:   cmp.Or(port, objects.DefaultVXLANPort),
		Bridge: devname.Bridge(vni),
		MTU:    mtu,
	}
}

func sortByVNI[T any](s []T, key func(T) (uint32, string)) {
	slices.SortStableFunc(s, func(a, b T) int {
		av, an := key(a)
		bv, bn := key(b)
		return cmp.Or(cmp.Compare(av, bv), cmp.Compare(an, bn))
	})
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// nodeAddresses returns the valid ones among addrs, unmapped, sorted and
// without duplicates, so that the same Node gives the same plan.
func nodeAddresses(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if a.IsValid() {
			out = append(out, a.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// prefixes returns the valid ones among ps, IPv4 first.
func prefixes(ps ...netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}
