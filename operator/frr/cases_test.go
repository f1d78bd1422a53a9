package frr

import (
	"fmt"
	"net/netip"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// The golden cases. The inputs are built here rather than through
// nodeconfig.Build so that a change in addressing or selection cannot hide a
// rendering change (and vice versa). Addresses follow the reference e2e
// fabric (NOTES.md §2): node index 1, ASN 64514, leaves 64512, host 64515.

func u32(v uint32) *uint32 { return &v }

func ref(kind, name string) objects.Ref {
	return objects.Ref{Kind: kind, Namespace: "perouter-system", Name: name}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func underlay(neighbors ...nodeconfig.Neighbor) *nodeconfig.Underlay {
	if len(neighbors) == 0 {
		neighbors = []nodeconfig.Neighbor{{Address: addr("192.168.11.2"), ASN: 64512}}
	}
	return &nodeconfig.Underlay{
		Source:    ref("Underlay", "underlay"),
		ASN:       64514,
		RouterID:  addr("10.0.0.2"),
		VTEPs:     []netip.Prefix{pfx("100.65.0.1/32")},
		VTEPPools: []netip.Prefix{pfx("100.65.0.0/24")},
		Neighbors: neighbors,
	}
}

func hostV4(cidrRouter, cidrHost string) nodeconfig.HostSession {
	return nodeconfig.HostSession{ASN: 64514, HostASN: 64515, RouterIPv4: pfx(cidrRouter), HostIPv4: pfx(cidrHost)}
}

func red() nodeconfig.L3VNI {
	hs := hostV4("192.169.10.1/24", "192.169.10.3/24")
	return nodeconfig.L3VNI{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789, HostSession: &hs}
}

func blue() nodeconfig.L3VNI {
	hs := hostV4("192.169.11.1/24", "192.169.11.3/24")
	return nodeconfig.L3VNI{Source: ref("L3VNI", "blue"), VRF: "blue", VNI: 200, VXLANPort: 4789, HostSession: &hs}
}

func node(u *nodeconfig.Underlay, l3 ...nodeconfig.L3VNI) nodeconfig.Config {
	return nodeconfig.Config{NodeName: "worker-1", NodeIndex: 1, Underlay: u, L3VNIs: l3}
}

func with(c nodeconfig.Config, f func(*nodeconfig.Config)) nodeconfig.Config {
	f(&c)
	return c
}

func manyVNIs(n int) []nodeconfig.L3VNI {
	out := make([]nodeconfig.L3VNI, 0, n)
	for i := range n {
		// 10.<hi>.<lo>.0/24 keeps the localCIDRs apart for any n below 65536.
		base := netip.AddrFrom4([4]byte{10, byte(100 + i/256), byte(i % 256), 0})
		hs := nodeconfig.HostSession{
			ASN: 64514, HostASN: 64515,
			RouterIPv4: netip.PrefixFrom(base.Next(), 24),
			HostIPv4:   netip.PrefixFrom(base.Next().Next().Next(), 24),
		}
		out = append(out, nodeconfig.L3VNI{
			Source:      ref("L3VNI", fmt.Sprintf("vrf%d", i)),
			VRF:         fmt.Sprintf("vrf%d", i),
			VNI:         uint32(1000 + i),
			VXLANPort:   4789,
			HostSession: &hs,
		})
	}
	return out
}

var cases = map[string]nodeconfig.Config{
	"basic": node(underlay(), red()),

	"dual_stack": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		hs := *c.L3VNIs[0].HostSession
		hs.RouterIPv6, hs.HostIPv6 = pfx("2001:db8:10::1/64"), pfx("2001:db8:10::3/64")
		c.L3VNIs[0].HostSession = &hs
	}).L3VNIs...),

	"ipv6_only_host_session": node(underlay(), nodeconfig.L3VNI{
		Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789,
		HostSession: &nodeconfig.HostSession{ASN: 64514, HostASN: 64515, RouterIPv6: pfx("2001:db8:10::1/64"), HostIPv6: pfx("2001:db8:10::3/64")},
	}),

	"two_vrfs": node(underlay(), red(), blue()),

	// Graceful restart at FRR's default timers (no timer lines: FRR's
	// running config leaves defaults out) and at others.
	"graceful_restart_defaults": node(with(node(underlay(), red()), func(c *nodeconfig.Config) {
		c.Underlay.GracefulRestart = &nodeconfig.GracefulRestart{RestartTime: nodeconfig.DefaultRestartTime, StalePathTime: nodeconfig.DefaultStalePathTime}
	}).Underlay, red()),
	"graceful_restart_timers": node(with(node(underlay(), red()), func(c *nodeconfig.Config) {
		c.Underlay.GracefulRestart = &nodeconfig.GracefulRestart{RestartTime: 60, StalePathTime: 4095}
	}).Underlay, red()),

	// RawFRRConfigs, verbatim after perouter's configuration, in the
	// model's order (nodeconfig sorts by priority, namespace, name): a
	// prefix list, then a route map using it and a snippet re-opening the
	// underlay's router bgp (text with and without a final newline).
	"raw_snippets": with(node(underlay(), red()), func(c *nodeconfig.Config) {
		c.RawSnippets = []nodeconfig.RawSnippet{
			{Source: ref("RawFRRConfig", "site-prefixes"), Priority: 5, Text: "ip prefix-list SITE-PREFIXES seq 10 permit 10.0.0.0/8 le 24\n"},
			{Source: ref("RawFRRConfig", "rack-1-bgp-tweak"), Priority: 10, Text: "route-map SITE-ONLY permit 10\n match ip address prefix-list SITE-PREFIXES\nexit\nrouter bgp 64514\n bgp bestpath as-path multipath-relax\n address-family ipv4 unicast\n  network 10.1.0.0/24\n exit-address-family\nexit"},
		}
	}),
	// Snippets apply with no Underlay too: the router then runs them alone.
	"raw_snippet_without_underlay": with(node(nil), func(c *nodeconfig.Config) {
		c.RawSnippets = []nodeconfig.RawSnippet{{Source: ref("RawFRRConfig", "lone"), Text: "ip prefix-list LONE seq 5 deny any\n\n"}}
	}),

	// The model is documented as sorted; the renderer sorts anyway.
	"two_vrfs_unsorted_input": node(underlay(), blue(), red()),

	"l3vni_without_host_session": node(underlay(), nodeconfig.L3VNI{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789}),

	"l3vni_host_session_own_asn": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		hs := *c.L3VNIs[0].HostSession
		hs.ASN = 64600
		c.L3VNIs[0].HostSession = &hs
	}).L3VNIs...),

	"host_internal": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		hs := *c.L3VNIs[0].HostSession
		hs.HostASN, hs.HostType = 0, "internal"
		c.L3VNIs[0].HostSession = &hs
	}).L3VNIs...),

	"host_external": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		hs := *c.L3VNIs[0].HostSession
		hs.HostASN, hs.HostType = 0, "external"
		c.L3VNIs[0].HostSession = &hs
	}).L3VNIs...),

	// maxPrefixes set on the object (the largest FRR takes); the other
	// goldens show the default.
	"host_max_prefixes": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		hs := *c.L3VNIs[0].HostSession
		hs.MaxPrefixes = 4294967295
		hs.RouterIPv6, hs.HostIPv6 = pfx("2001:db8:10::1/64"), pfx("2001:db8:10::3/64")
		c.L3VNIs[0].HostSession = &hs
	}).L3VNIs...),

	"custom_rts": node(underlay(), with(node(nil, red()), func(c *nodeconfig.Config) {
		c.L3VNIs[0].ImportRTs = []string{"64514:100", "10.0.0.1:100"}
		c.L3VNIs[0].ExportRTs = []string{"64514:100"}
	}).L3VNIs...),

	"l2vni_routed": with(node(underlay(), red()), func(c *nodeconfig.Config) {
		c.L2VNIs = []nodeconfig.L2VNI{{
			Source: ref("L2VNI", "red-l2"), VNI: 300, VXLANPort: 4789, VRF: "red",
			GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24"), pfx("2001:db8:170::1/64")},
			HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true},
		}}
	}),

	"l2vni_bridged": with(node(underlay()), func(c *nodeconfig.Config) {
		c.L2VNIs = []nodeconfig.L2VNI{{
			Source: ref("L2VNI", "l2only"), VNI: 300, VXLANPort: 4789,
			HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true},
		}}
	}),

	"l2vni_external_bridge": with(node(underlay()), func(c *nodeconfig.Config) {
		c.L2VNIs = []nodeconfig.L2VNI{{
			Source: ref("L2VNI", "l2ext"), VNI: 301, VXLANPort: 4789,
			HostBridge: nodeconfig.HostBridge{Name: "br-ext"},
		}}
	}),

	// A routed L2VNI in a VRF without host session still needs the gateway
	// subnet redistributed.
	"l2vni_routed_vrf_without_session": with(node(underlay(), nodeconfig.L3VNI{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789}), func(c *nodeconfig.Config) {
		c.L2VNIs = []nodeconfig.L2VNI{{
			Source: ref("L2VNI", "red-l2"), VNI: 300, VXLANPort: 4789, VRF: "red",
			GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24")},
			HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true},
		}}
	}),

	"passthrough": with(node(underlay()), func(c *nodeconfig.Config) {
		c.Passthrough = &nodeconfig.Passthrough{Source: ref("L3Passthrough", "pt"), HostSession: nodeconfig.HostSession{
			ASN: 64514, HostASN: 64515, RouterIPv4: pfx("192.169.20.1/24"), HostIPv4: pfx("192.169.20.3/24"),
		}}
	}),

	// iBGP with the host (hostASN == asn), as upstream's e2e peers it:
	// remote-as is the router's own ASN and next-hop-self force makes the
	// fabric's routes resolve at the host.
	"passthrough_ibgp": with(node(underlay()), func(c *nodeconfig.Config) {
		c.Passthrough = &nodeconfig.Passthrough{Source: ref("L3Passthrough", "pt"), HostSession: nodeconfig.HostSession{
			ASN: 64514, HostASN: 64514, RouterIPv4: pfx("192.169.20.1/24"), HostIPv4: pfx("192.169.20.3/24"),
		}}
	}),

	"passthrough_dual_stack": with(node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512},
		nodeconfig.Neighbor{Address: addr("2001:db8:11::2"), ASN: 64512},
	)), func(c *nodeconfig.Config) {
		c.Underlay.VTEPs = append(c.Underlay.VTEPs, pfx("fd00:65::1/128"))
		c.Underlay.VTEPPools = append(c.Underlay.VTEPPools, pfx("fd00:65::/64"))
		c.Passthrough = &nodeconfig.Passthrough{Source: ref("L3Passthrough", "pt"), HostSession: nodeconfig.HostSession{
			ASN: 64514, HostASN: 64515,
			RouterIPv4: pfx("192.169.20.1/24"), HostIPv4: pfx("192.169.20.3/24"),
			RouterIPv6: pfx("2001:db8:20::1/64"), HostIPv6: pfx("2001:db8:20::3/64"),
		}}
	}),

	"bfd": node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, BFD: &nodeconfig.BFD{ReceiveInterval: u32(300), TransmitInterval: u32(300), DetectMultiplier: u32(3)}},
		nodeconfig.Neighbor{Address: addr("192.168.12.2"), ASN: 64513, BFD: &nodeconfig.BFD{ReceiveInterval: u32(300), TransmitInterval: u32(300), DetectMultiplier: u32(3)}},
		nodeconfig.Neighbor{Address: addr("192.168.13.2"), ASN: 64516, BFD: &nodeconfig.BFD{DetectMultiplier: u32(5)}},
		nodeconfig.Neighbor{Address: addr("192.168.14.2"), ASN: 64517, BFD: &nodeconfig.BFD{}},
	), red()),

	"unnumbered": node(underlay(
		nodeconfig.Neighbor{Interface: "eth1", Type: "external"},
		nodeconfig.Neighbor{Interface: "eth2", ASN: 64513},
	), red()),

	"password": node(underlay(nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, Password: "s3cr3t$pass"}), red()),

	"multihop": node(underlay(nodeconfig.Neighbor{Address: addr("172.30.0.1"), ASN: 64612, EBGPMultiHop: true}), red()),

	// OpenPERouter's properties [{type: ebgpMultiHop, ebgpMultiHop: {ttl}}]
	// and bfd sessionMode/minimumTTL: a multi-hop session with a TTL, and a
	// passive BFD profile that checks incoming TTLs.
	"multihop_ttl_bfd": node(underlay(
		nodeconfig.Neighbor{Address: addr("172.30.0.1"), ASN: 64612, EBGPMultiHop: true, EBGPMultiHopTTL: u32(3),
			BFD: &nodeconfig.BFD{Passive: true, MinimumTTL: u32(252)}},
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, BFD: &nodeconfig.BFD{DetectMultiplier: u32(3), Passive: true}},
	), red()),

	"timers": node(underlay(nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, HoldTime: u32(30), Keepalive: u32(10), ConnectTime: u32(5)}), red()),

	"timers_keepalive_off": node(underlay(nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, HoldTime: u32(0), Keepalive: u32(0)}), red()),

	"port": node(underlay(nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, Port: 1179}), red()),

	"neighbor_type_external": node(underlay(nodeconfig.Neighbor{Address: addr("192.168.11.2"), Type: "external"}), red()),

	"neighbor_ibgp": node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64514},
		nodeconfig.Neighbor{Address: addr("192.168.12.2"), Type: "internal"},
	), red()),

	"no_vnis": node(underlay()),

	"no_underlay": node(nil),

	"no_vtep": with(node(underlay()), func(c *nodeconfig.Config) { c.Underlay.VTEPs, c.Underlay.VTEPPools = nil, nil }),

	"vtep_ipv6": with(node(underlay(nodeconfig.Neighbor{Address: addr("2001:db8:11::2"), ASN: 64512}), red()), func(c *nodeconfig.Config) {
		c.Underlay.VTEPs = []netip.Prefix{pfx("fd00:65::1/128")}
		c.Underlay.VTEPPools = []netip.Prefix{pfx("fd00:65::/64")}
	}),

	"dual_vtep": with(node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512},
		nodeconfig.Neighbor{Address: addr("2001:db8:11::2"), ASN: 64512},
	), red()), func(c *nodeconfig.Config) {
		c.Underlay.VTEPs = append(c.Underlay.VTEPs, pfx("fd00:65::1/128"))
	}),

	// The fabric speaks IPv6 to the node (no IPv4 neighbour): the IPv4
	// VTEP crosses the IPv6 sessions with IPv6 next hops (extended
	// next hop on the numbered one, implied on the unnumbered one).
	"ipv6_neighbor_ipv4_vtep": node(underlay(nodeconfig.Neighbor{Address: addr("fd00:11::1"), ASN: 64512}), red()),
	// The IPv6 lab's shape (topologies/l2-v6.clab.yml with
	// docs/examples/l2v6lab): one numbered IPv6 and one unnumbered
	// neighbour, a bridged L2VNI.
	"ipv6_unnumbered_l2vni": with(node(underlay(
		nodeconfig.Neighbor{Address: addr("fd00:11::1"), ASN: 64512},
		nodeconfig.Neighbor{Interface: "toswitch2", ASN: 64513},
	)), func(c *nodeconfig.Config) {
		c.L2VNIs = []nodeconfig.L2VNI{{
			Source: ref("L2VNI", "segment"), VNI: 110, VXLANPort: 4789,
			HostBridge: nodeconfig.HostBridge{Name: "br-hs-110", Managed: true},
		}}
	}),

	"vnis_100": node(underlay(), manyVNIs(100)...),

	"mixed": with(node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, BFD: &nodeconfig.BFD{ReceiveInterval: u32(100), TransmitInterval: u32(100)}},
		nodeconfig.Neighbor{Interface: "eth2", Type: "external", Password: "pw1"},
	), red(), blue()), func(c *nodeconfig.Config) {
		c.L3VNIs[1].ImportRTs = []string{"64514:200"}
		c.L3VNIs[1].ExportRTs = []string{"64514:200"}
		c.L2VNIs = []nodeconfig.L2VNI{
			{Source: ref("L2VNI", "red-l2"), VNI: 300, VXLANPort: 4789, VRF: "red", GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24")}, HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true}},
			{Source: ref("L2VNI", "plain"), VNI: 301, VXLANPort: 4789, HostBridge: nodeconfig.HostBridge{Name: "br-ext"}},
		}
		c.Passthrough = &nodeconfig.Passthrough{Source: ref("L3Passthrough", "pt"), HostSession: nodeconfig.HostSession{
			ASN: 64514, HostType: "external", RouterIPv4: pfx("192.169.20.1/24"), HostIPv4: pfx("192.169.20.3/24"),
		}}
	}),

	// A route reflector with a VTEP: clients connect from listen ranges
	// (IPv4 and IPv6) and are reflected EVPN and unicast routes; a static
	// iBGP peer in EVPN only stays a non-client; the leaf keeps the
	// default families.
	"route_reflector": with(node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512},
		nodeconfig.Neighbor{Address: addr("192.168.10.4"), Type: "internal", AddressFamilies: []nodeconfig.AddressFamily{{Type: nodeconfig.FamilyEVPN}}},
		nodeconfig.Neighbor{ListenRange: pfx("192.168.10.0/24"), Type: "internal", AddressFamilies: []nodeconfig.AddressFamily{
			{Type: nodeconfig.FamilyIPv4Unicast, RouteReflectorClient: true}, {Type: nodeconfig.FamilyEVPN, RouteReflectorClient: true}}},
		nodeconfig.Neighbor{ListenRange: pfx("fd00:10::/64"), ASN: 64514, AddressFamilies: []nodeconfig.AddressFamily{
			{Type: nodeconfig.FamilyIPv6Unicast, RouteReflectorClient: true}, {Type: nodeconfig.FamilyEVPN, RouteReflectorClient: true}}},
	)), func(c *nodeconfig.Config) {
		c.Underlay.RouteReflector = &nodeconfig.RouteReflector{ClusterID: addr("192.0.2.1")}
	}),

	// A route reflector that is no PE (no VTEP): its EVPN section only
	// reflects, without advertise-all-vni.
	"route_reflector_only": with(node(underlay(
		nodeconfig.Neighbor{ListenRange: pfx("192.168.10.0/24"), Type: "internal", AddressFamilies: []nodeconfig.AddressFamily{
			{Type: nodeconfig.FamilyIPv4Unicast, RouteReflectorClient: true}, {Type: nodeconfig.FamilyEVPN, RouteReflectorClient: true}}},
	)), func(c *nodeconfig.Config) {
		c.Underlay.VTEPs, c.Underlay.VTEPPools = nil, nil
		c.Underlay.RouteReflector = &nodeconfig.RouteReflector{ClusterID: addr("192.0.2.7")}
	}),

	// Dynamic eBGP neighbours, one peer-group per range, default families.
	"listen_range_ebgp": node(underlay(
		nodeconfig.Neighbor{ListenRange: pfx("192.168.11.0/24"), ASN: 64512, Password: "pw1", BFD: &nodeconfig.BFD{}},
		nodeconfig.Neighbor{ListenRange: pfx("192.168.12.0/24"), ASN: 64513},
	)),

	// Explicit families: the leaf carries EVPN only, so the VTEP is not
	// announced to it in ipv4 unicast.
	"address_families_evpn_only": node(underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, AddressFamilies: []nodeconfig.AddressFamily{{Type: nodeconfig.FamilyEVPN}}},
		nodeconfig.Neighbor{Address: addr("192.168.12.2"), ASN: 64513},
	)),
}
