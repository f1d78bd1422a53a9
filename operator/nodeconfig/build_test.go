package nodeconfig

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
	"github.com/perouter/perouter/operator/validate"
)

func u32(v uint32) *uint32 { return &v }

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func load(t *testing.T, dirs ...string) objects.Set {
	t.Helper()
	var paths []string
	for _, d := range dirs {
		paths = append(paths, "../../docs/examples/"+d)
	}
	s, err := objects.Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ref(kind, name string) objects.Ref {
	return objects.Ref{Kind: kind, Namespace: "perouter-system", Name: name}
}

var labUnderlay = func(index int, vtep, routerID string) *Underlay {
	return &Underlay{
		Source:    ref("Underlay", "underlay"),
		ASN:       64514,
		RouterID:  netip.MustParseAddr(routerID),
		VTEPs:     []netip.Prefix{pfx(vtep)},
		VTEPPools: []netip.Prefix{pfx("100.65.0.0/24")},
		Neighbors: []Neighbor{
			{Address: netip.MustParseAddr("192.168.11.1"), ASN: 64512},
			{Address: netip.MustParseAddr("192.168.12.1"), ASN: 64513},
		},
		Interfaces: []string{"toswitch1", "toswitch2"},
	}
}

func TestBuildExamples(t *testing.T) {
	tests := map[string]struct {
		dirs       []string
		node       Node
		want       Config
		wantReport Report
	}{
		"lab node 1": {
			dirs: []string{"lab"},
			node: Node{Name: "worker", Index: 1},
			want: Config{
				NodeName: "worker", NodeIndex: 1,
				Underlay: labUnderlay(1, "100.65.0.1/32", "10.0.0.2"),
				L3VNIs: []L3VNI{
					{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789, VTEP: addr("100.65.0.1"), RouterMAC: mac("02:00:01:00:00:64"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.3/24"),
							RouterIPv6: pfx("2001:db8:10::1/64"), HostIPv6: pfx("2001:db8:10::3/64")}},
					{Source: ref("L3VNI", "blue"), VRF: "blue", VNI: 200, VXLANPort: 4789, VTEP: addr("100.65.0.1"), RouterMAC: mac("02:00:01:00:00:c8"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.11.1/24"), HostIPv4: pfx("192.169.11.3/24")}},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "underlay"), ref("L3VNI", "red"), ref("L3VNI", "blue")}},
		},
		"lab with l2vnis and passthrough, node 5 labelled": {
			dirs: []string{"lab", "l2vni", "passthrough"},
			node: Node{Name: "worker5", Index: 5, Labels: map[string]string{"passthrough": "true"}},
			want: Config{
				NodeName: "worker5", NodeIndex: 5,
				Underlay: labUnderlay(5, "100.65.0.5/32", "10.0.0.6"),
				L3VNIs: []L3VNI{
					{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789, VTEP: addr("100.65.0.5"), RouterMAC: mac("02:00:05:00:00:64"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.7/24"),
							RouterIPv6: pfx("2001:db8:10::1/64"), HostIPv6: pfx("2001:db8:10::7/64")}},
					{Source: ref("L3VNI", "blue"), VRF: "blue", VNI: 200, VXLANPort: 4789, VTEP: addr("100.65.0.5"), RouterMAC: mac("02:00:05:00:00:c8"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.11.1/24"), HostIPv4: pfx("192.169.11.7/24")}},
				},
				L2VNIs: []L2VNI{
					{Source: ref("L2VNI", "green"), VNI: 110, VXLANPort: 4789, VTEP: addr("100.65.0.5"), VRF: "red", GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24")},
						GatewayMAC: mac("06:00:00:00:00:6e"), HostBridge: HostBridge{Name: "br-hs-110", Managed: true}},
					{Source: ref("L2VNI", "yellow"), VNI: 120, VXLANPort: 4789, VTEP: addr("100.65.0.5"), GatewayMAC: mac("06:00:00:00:00:78"), HostBridge: HostBridge{Name: "br-yellow"}},
				},
				Passthrough: &Passthrough{Source: ref("L3Passthrough", "passthrough"), HostSession: HostSession{
					ASN: 64514, HostASN: 64516, MaxPrefixes: 200,
					RouterIPv4: pfx("192.169.20.1/24"), HostIPv4: pfx("192.169.20.7/24"),
					RouterIPv6: pfx("fd00:20::1/64"), HostIPv6: pfx("fd00:20::7/64"),
				}},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "underlay"), ref("L3VNI", "red"), ref("L3VNI", "blue"),
				ref("L2VNI", "green"), ref("L2VNI", "yellow"), ref("L3Passthrough", "passthrough")}},
		},
		"unlabelled node gets no passthrough": {
			dirs: []string{"lab", "passthrough"},
			node: Node{Name: "worker", Index: 0},
			want: Config{
				NodeName: "worker",
				Underlay: labUnderlay(0, "100.65.0.0/32", "10.0.0.1"),
				L3VNIs: []L3VNI{
					{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789, VTEP: addr("100.65.0.0"), RouterMAC: mac("02:00:00:00:00:64"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.2/24"),
							RouterIPv6: pfx("2001:db8:10::1/64"), HostIPv6: pfx("2001:db8:10::2/64")}},
					{Source: ref("L3VNI", "blue"), VRF: "blue", VNI: 200, VXLANPort: 4789, VTEP: addr("100.65.0.0"), RouterMAC: mac("02:00:00:00:00:c8"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.11.1/24"), HostIPv4: pfx("192.169.11.2/24")}},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "underlay"), ref("L3VNI", "red"), ref("L3VNI", "blue")}},
		},
		"dual-stack VTEPs, family per VNI": {
			dirs: []string{"dual-stack-vteps"},
			node: Node{Name: "n", Index: 2},
			want: Config{
				NodeName: "n", NodeIndex: 2,
				Underlay: &Underlay{
					Source:    ref("Underlay", "underlay"),
					ASN:       64514,
					RouterID:  netip.MustParseAddr("10.0.0.3"),
					VTEPs:     []netip.Prefix{pfx("100.65.0.2/32"), pfx("fd00:65::2/128")},
					VTEPPools: []netip.Prefix{pfx("100.65.0.0/24"), pfx("fd00:65::/64")},
					Neighbors: []Neighbor{
						{Address: netip.MustParseAddr("192.168.11.1"), ASN: 64512},
						{Address: netip.MustParseAddr("2001:db8:11::1"), ASN: 64512},
					},
					Interfaces: []string{"toswitch"},
				},
				L3VNIs: []L3VNI{
					{Source: ref("L3VNI", "red"), VRF: "red", VNI: 100, VXLANPort: 4789, VTEP: addr("100.65.0.2"), RouterMAC: mac("02:00:02:00:00:64"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.4/24")}},
					{Source: ref("L3VNI", "blue"), VRF: "blue", VNI: 200, VXLANPort: 4789, VTEP: addr("fd00:65::2"), RouterMAC: mac("02:00:02:00:00:c8"),
						HostSession: &HostSession{ASN: 64514, HostASN: 64515, MaxPrefixes: 1000, RouterIPv6: pfx("2001:db8:20::1/64"), HostIPv6: pfx("2001:db8:20::4/64")}},
				},
				L2VNIs: []L2VNI{
					{Source: ref("L2VNI", "green"), VNI: 110, VXLANPort: 4789, VTEP: addr("100.65.0.2"), VRF: "red", GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24")},
						GatewayMAC: mac("06:00:00:00:00:6e"), HostBridge: HostBridge{Name: "br-hs-110", Managed: true}},
					{Source: ref("L2VNI", "yellow"), VNI: 120, VXLANPort: 4789, VTEP: addr("fd00:65::2"), GatewayMAC: mac("06:00:00:00:00:78")},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "underlay"), ref("L3VNI", "red"), ref("L3VNI", "blue"),
				ref("L2VNI", "green"), ref("L2VNI", "yellow")}},
		},
		"password from secret, unnumbered, dual-stack VTEPs": {
			dirs: []string{"password"},
			node: Node{Name: "n", Index: 2},
			want: Config{
				NodeName: "n", NodeIndex: 2,
				Underlay: &Underlay{
					Source:    ref("Underlay", "secured"),
					ASN:       64514,
					RouterID:  netip.MustParseAddr("10.1.0.3"),
					VTEPs:     []netip.Prefix{pfx("100.65.0.2/32"), pfx("fd00:65::2/128")},
					VTEPPools: []netip.Prefix{pfx("100.65.0.0/24"), pfx("fd00:65::/64")},
					Neighbors: []Neighbor{
						{Address: netip.MustParseAddr("192.168.11.1"), ASN: 64512, Password: "s3cr3t-Pass", HoldTime: u32(9), Keepalive: u32(3)},
						{Interface: "eth2", Type: "internal", BFD: &BFD{ReceiveInterval: u32(300), TransmitInterval: u32(300), DetectMultiplier: u32(3)}},
					},
					Interfaces: []string{"eth2", "toswitch"},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "secured")}},
		},
		"route reflector": {
			dirs: []string{"route-reflector"},
			node: Node{Name: "rr", Index: 0, Labels: map[string]string{"perouter.io/route-reflector": "true"}},
			want: Config{
				NodeName: "rr",
				Underlay: &Underlay{
					Source:         ref("Underlay", "reflectors"),
					ASN:            64514,
					RouterID:       netip.MustParseAddr("10.0.0.1"),
					VTEPs:          []netip.Prefix{pfx("100.65.0.0/32")},
					VTEPPools:      []netip.Prefix{pfx("100.65.0.0/24")},
					RouteReflector: &RouteReflector{ClusterID: netip.MustParseAddr("192.0.2.1")},
					Neighbors: []Neighbor{{Type: "internal", ListenRange: pfx("192.168.11.0/24"), AddressFamilies: []AddressFamily{
						{Type: FamilyIPv4Unicast, RouteReflectorClient: true}, {Type: FamilyEVPN, RouteReflectorClient: true},
					}}},
					Interfaces: []string{"toswitch"},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "reflectors")}},
		},
		"route reflector client": {
			dirs: []string{"route-reflector"},
			node: Node{Name: "n", Index: 3},
			want: Config{
				NodeName: "n", NodeIndex: 3,
				Underlay: &Underlay{
					Source:     ref("Underlay", "clients"),
					ASN:        64514,
					RouterID:   netip.MustParseAddr("10.0.0.4"),
					VTEPs:      []netip.Prefix{pfx("100.65.0.3/32")},
					VTEPPools:  []netip.Prefix{pfx("100.65.0.0/24")},
					Neighbors:  []Neighbor{{Type: "internal", Address: netip.MustParseAddr("192.168.11.10")}},
					Interfaces: []string{"toswitch"},
				},
			},
			wantReport: Report{Selected: []objects.Ref{ref("Underlay", "clients")}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, report, err := Build(load(t, tc.dirs...), tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("Config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantReport, report); diff != "" {
				t.Errorf("Report (-want +got):\n%s", diff)
			}
		})
	}
}

func skipped(errs []validate.Error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestBuildSkipsAndFails(t *testing.T) {
	rackA := &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "a"}}
	zoneX := &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "x"}}
	node := Node{Name: "n1", Index: 3, Labels: map[string]string{"rack": "a", "zone": "x"}}
	tests := map[string]struct {
		mutate      func(s *objects.Set)
		node        *Node
		wantErr     string
		wantSkipped []string
		wantVNIs    []uint32
		wantL2VNIs  []uint32
		wantMissing []string
		wantWon     []string
		// wantDependencyErr: the error is a *DependencyError.
		wantDependencyErr bool
	}{
		"all good": {mutate: func(*objects.Set) {}, wantVNIs: []uint32{100, 101, 102}},
		"negative index": {
			mutate:  func(*objects.Set) {},
			node:    &Node{Name: "n1", Index: -1},
			wantErr: "node n1: index -1 is out of range 0..65535",
		},
		"vtep pool exhausted is fatal": {
			mutate:  func(s *objects.Set) { s.Underlays[0].Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0/30"} },
			wantErr: "node n1: Underlay perouter-system/underlay spec.tunnelEndpoint.cidrs[0]: VTEP pool 100.65.0.0/30, node index 3: pool 100.65.0.0/30 is too small: no usable address at offset 3 (usable: 0..2)",
		},
		"router id pool exhausted is fatal": {
			mutate:  func(s *objects.Set) { s.Underlays[0].Spec.RouterIDCIDR = "10.0.0.0/30" },
			wantErr: "node n1: Underlay perouter-system/underlay spec.routerIDCIDR: router-id pool 10.0.0.0/30, node index 3: pool 10.0.0.0/30 is too small: no usable address at offset 4 (usable: 0..2)",
		},
		"invalid underlay is fatal": {
			mutate:  func(s *objects.Set) { s.Underlays[0].Spec.ASN = 0 },
			wantErr: "node n1: invalid Underlay: Underlay perouter-system/underlay: spec.asn: must be between 1 and 4294967295",
		},
		"two underlays meeting on the node is fatal": {
			mutate: func(s *objects.Set) {
				u := s.Underlays[0].DeepCopy()
				u.Name = "zone-x"
				u.Spec.NodeSelector = zoneX
				s.Underlays[0].Spec.NodeSelector = rackA
				s.Underlays = append(s.Underlays, *u)
			},
			wantErr: "node n1: selected by 2 Underlays (Underlay perouter-system/underlay, Underlay perouter-system/zone-x): at most one Underlay may select a node",
		},
		"two underlays on different nodes are fine": {
			mutate: func(s *objects.Set) {
				u := s.Underlays[0].DeepCopy()
				u.Name = "rack-b"
				u.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
				s.Underlays[0].Spec.NodeSelector = rackA
				s.Underlays = append(s.Underlays, *u)
			},
			wantVNIs: []uint32{100, 101, 102},
		},
		"no underlay skips the overlays": {
			mutate: func(s *objects.Set) { s.Underlays = nil },
			wantSkipped: []string{
				"L3VNI perouter-system/vni-0: spec.nodeSelector: no Underlay selects node n1",
				"L3VNI perouter-system/vni-1: spec.nodeSelector: no Underlay selects node n1",
				"L3VNI perouter-system/vni-2: spec.nodeSelector: no Underlay selects node n1",
			},
		},
		"underlay without tunnel endpoint skips the overlays": {
			mutate: func(s *objects.Set) { s.Underlays[0].Spec.TunnelEndpoint = nil; s.L3VNIs = s.L3VNIs[:1] },
			wantSkipped: []string{
				"L3VNI perouter-system/vni-0: spec.nodeSelector: Underlay perouter-system/underlay has no tunnelEndpoint, so node n1 has no VTEP",
			},
		},
		"a VNI's family the underlay has no VTEP of is skipped, the rest applies": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[1].Spec.UnderlayAddressFamily = "IPv6"
				s.L3VNIs[2].Spec.UnderlayAddressFamily = "IPv4"
			},
			wantSkipped: []string{"L3VNI perouter-system/vni-1: spec.underlayAddressFamily: IPv6 needs an IPv6 VTEP, but Underlay perouter-system/underlay, which may select the same nodes, has no IPv6 cidr in spec.tunnelEndpoint.cidrs; add one there, choose the other family (or leave the field out), or narrow spec.nodeSelector"},
			wantVNIs:    []uint32{100, 102},
		},
		"a VNI's family on a dual-stack underlay": {
			mutate: func(s *objects.Set) {
				s.Underlays[0].Spec.TunnelEndpoint.CIDRs = []string{"fd00:65::/64", "100.65.0.0/24"}
				s.L3VNIs[1].Spec.UnderlayAddressFamily = "IPv6"
				s.L3VNIs[2].Spec.UnderlayAddressFamily = "IPv4"
			},
			wantVNIs: []uint32{100, 101, 102},
		},
		"invalid l3vni is skipped, the rest applies": {
			mutate:      func(s *objects.Set) { s.L3VNIs[1].Spec.VRF = "bad vrf" },
			wantSkipped: []string{`L3VNI perouter-system/vni-1: spec.vrf: "bad vrf" must match ^[a-zA-Z][a-zA-Z0-9_-]*$`},
			wantVNIs:    []uint32{100, 102},
		},
		"l3vni not selecting the node is not reported": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[1].Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
			},
			wantVNIs: []uint32{100, 102},
		},
		"localCIDR too small for this index": {
			mutate: func(s *objects.Set) { s.L3VNIs[2].Spec.HostSession.LocalCIDR.IPv4 = "10.100.2.0/30" },
			wantSkipped: []string{
				"L3VNI perouter-system/vni-2: spec.hostSession.localCIDR: localCIDR 10.100.2.0/30, node index 3: pool 10.100.2.0/30 is too small: no usable address at offset 5 (usable: 0..2)",
			},
			wantVNIs: []uint32{100, 101},
		},
		"overlap on this node keeps the older object": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.NodeSelector = rackA
				s.L3VNIs[0].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[1].Spec.NodeSelector = zoneX
				s.L3VNIs[1].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[0].Spec.HostSession.LocalCIDR.IPv4 = "10.100.1.0/25"
			},
			wantSkipped: []string{
				"L3VNI perouter-system/vni-0: spec.hostSession.localCIDR.ipv4: 10.100.1.0/25 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI perouter-system/vni-1 (10.100.1.0/24) on node n1",
			},
			wantVNIs: []uint32{101, 102},
		},
		"l2vni whose routing domain is skipped is skipped": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.HostSession.LocalCIDR.IPv4 = "10.100.0.0/30"
				s.L2VNIs = []v1alpha1.L2VNI{{
					ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: objectstest.Namespace},
					Spec:       v1alpha1.L2VNISpec{VNI: 5000, VXLANPort: 4789, RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}},
				}}
			},
			wantSkipped: []string{
				"L3VNI perouter-system/vni-0: spec.hostSession.localCIDR: localCIDR 10.100.0.0/30, node index 3: pool 10.100.0.0/30 is too small: no usable address at offset 5 (usable: 0..2)",
				"L2VNI perouter-system/l2: spec.routingDomain.l3vni.name: L3VNI perouter-system/vni-0 is not applied on node n1",
			},
			wantVNIs: []uint32{101, 102},
		},
		"gateway subnet overlapping an older L2VNI's in the VRF is skipped on the node": {
			mutate: func(s *objects.Set) {
				mk := func(name string, vni uint32, sel *metav1.LabelSelector, created int) v1alpha1.L2VNI {
					return v1alpha1.L2VNI{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: objectstest.Namespace,
							CreationTimestamp: metav1.NewTime(time.Date(2026, 1, created, 0, 0, 0, 0, time.UTC))},
						Spec: v1alpha1.L2VNISpec{NodeSelector: sel, VNI: vni, VXLANPort: 4789, GatewayIPs: []string{"192.170.1.1/24"},
							RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}},
					}
				}
				s.L2VNIs = []v1alpha1.L2VNI{mk("young", 5001, zoneX, 2), mk("old", 5000, rackA, 1), mk("other-vrf", 5002, zoneX, 3)}
				s.L2VNIs[2].Spec.RoutingDomain.L3VNI.Name = "vni-1"
			},
			wantSkipped: []string{
				`L2VNI perouter-system/young: spec.gatewayIPs[0]: 192.170.1.0/24 overlaps spec.gatewayIPs[0] of L2VNI perouter-system/old (192.170.1.0/24) in VRF "vrf0" on node n1`,
			},
			wantVNIs:   []uint32{100, 101, 102},
			wantL2VNIs: []uint32{5000, 5002},
		},
		"gateway subnet overlapping the VRF's localCIDR is skipped": {
			mutate: func(s *objects.Set) {
				s.L2VNIs = []v1alpha1.L2VNI{{
					ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: objectstest.Namespace},
					Spec: v1alpha1.L2VNISpec{NodeSelector: rackA, VNI: 5000, VXLANPort: 4789, GatewayIPs: []string{"10.100.0.200/25"},
						RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "vni-0"}}},
				}}
			},
			wantSkipped: []string{
				`L2VNI perouter-system/l2: spec.gatewayIPs[0]: 10.100.0.128/25 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI perouter-system/vni-0 (10.100.0.0/24) in VRF "vrf0" on node n1`,
			},
			wantVNIs: []uint32{100, 101, 102},
		},
		"passthrough peering iBGP with the host applies": {
			mutate: func(s *objects.Set) {
				s.L3Passthroughs = []v1alpha1.L3Passthrough{{
					ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: objectstest.Namespace},
					Spec: v1alpha1.L3PassthroughSpec{HostSession: v1alpha1.HostSession{
						ASN: 64514, HostASN: u32(64514), LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: "192.169.20.0/24"}}},
				}}
			},
			wantVNIs: []uint32{100, 101, 102},
		},
		"l2vni whose L3VNI does not exist yet waits": {
			mutate: func(s *objects.Set) {
				s.L2VNIs = []v1alpha1.L2VNI{{
					ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: objectstest.Namespace},
					Spec:       v1alpha1.L2VNISpec{VNI: 5000, VXLANPort: 4789, RoutingDomain: &v1alpha1.RoutingDomain{Type: "L3VNI", L3VNI: &v1alpha1.L3VNIReference{Name: "later"}}},
				}}
			},
			wantMissing: []string{"L2VNI perouter-system/l2: spec.routingDomain.l3vni.name: L3VNI perouter-system/later does not exist yet; the L2VNI applies once it does"},
			wantVNIs:    []uint32{100, 101, 102},
		},
		"underlay whose password Secret does not exist yet keeps the node waiting": {
			mutate:            func(s *objects.Set) { s.Underlays[0].Spec.Neighbors[0].PasswordSecret = "later" },
			wantErr:           "node n1: Underlay perouter-system/underlay: spec.neighbors[0].passwordSecret: Secret perouter-system/later does not exist yet; the Underlay applies once it does",
			wantDependencyErr: true,
		},
		// Upstream's per-rack pattern: one VRF name, one L3VNI per rack.
		"same VRF in another rack does not matter": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.NodeSelector = rackA
				s.L3VNIs[1].Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
				s.L3VNIs[1].Spec.VRF = s.L3VNIs[0].Spec.VRF
			},
			wantVNIs: []uint32{100, 102},
		},
		"same VNI in another rack does not matter": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "b"}}
				s.L3VNIs[1].Spec.NodeSelector = rackA
				s.L3VNIs[1].Spec.VNI = 100
			},
			wantVNIs: []uint32{100, 102},
		},
		"same VRF meeting on the node: the older applies": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.NodeSelector = rackA
				s.L3VNIs[0].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[1].Spec.NodeSelector = zoneX
				s.L3VNIs[1].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[1].Spec.VRF = s.L3VNIs[0].Spec.VRF
			},
			wantSkipped: []string{`L3VNI perouter-system/vni-0: spec.vrf: VRF "vrf0" is also used by L3VNI perouter-system/vni-1, created earlier, on node n1`},
			wantWon:     []string{`L3VNI perouter-system/vni-1: spec.vrf: VRF "vrf0" is also used by L3VNI perouter-system/vni-0, created later, which is skipped on node n1`},
			wantVNIs:    []uint32{101, 102},
		},
		// Validation refuses the pair (equal selectors); should it exist
		// anyway (created while the webhook was down), the running one
		// stays.
		"duplicate VNI with equal selectors: the older applies": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[1].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				s.L3VNIs[0].Spec.VNI = 101
			},
			wantSkipped: []string{`L3VNI perouter-system/vni-0: spec.vni: VNI 101 is also used by L3VNI perouter-system/vni-1, created earlier, on node n1`},
			wantVNIs:    []uint32{101, 102},
		},
		"same VNI on an L3VNI and an L2VNI meeting on the node: the older applies": {
			mutate: func(s *objects.Set) {
				s.L3VNIs[0].Spec.NodeSelector = rackA
				s.L3VNIs[0].CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
				s.L2VNIs = []v1alpha1.L2VNI{{
					ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: objectstest.Namespace, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
					Spec:       v1alpha1.L2VNISpec{NodeSelector: zoneX, VNI: 100, VXLANPort: 4789},
				}}
			},
			wantSkipped: []string{`L3VNI perouter-system/vni-0: spec.vni: VNI 100 is also used by L2VNI perouter-system/l2, created earlier, on node n1`},
			wantVNIs:    []uint32{101, 102},
			wantL2VNIs:  []uint32{100},
		},
		"second passthrough on the node is skipped": {
			mutate: func(s *objects.Set) {
				mk := func(name string, sel *metav1.LabelSelector, cidr string) v1alpha1.L3Passthrough {
					return v1alpha1.L3Passthrough{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: objectstest.Namespace},
						Spec: v1alpha1.L3PassthroughSpec{NodeSelector: sel, HostSession: v1alpha1.HostSession{
							ASN: 64514, HostType: "External", LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: cidr}}},
					}
				}
				s.L3Passthroughs = []v1alpha1.L3Passthrough{mk("b", zoneX, "192.169.21.0/24"), mk("a", rackA, "192.169.20.0/24")}
			},
			wantSkipped: []string{
				"L3Passthrough perouter-system/b: spec.nodeSelector: L3Passthrough perouter-system/a, created earlier, already selects node n1: at most one L3Passthrough may select a node",
			},
			wantVNIs: []uint32{100, 101, 102},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := objectstest.Lab(3)
			tc.mutate(&s)
			n := node
			if tc.node != nil {
				n = *tc.node
			}
			cfg, report, err := Build(s, n)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tc.wantErr)
				}
				var dep *DependencyError
				if errors.As(err, &dep) != tc.wantDependencyErr {
					t.Errorf("err is a DependencyError: %v, want %v", !tc.wantDependencyErr, tc.wantDependencyErr)
				}
				return
			}
			if diff := cmp.Diff(tc.wantMissing, skipped(report.Missing)); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
			if tc.wantWon != nil {
				if diff := cmp.Diff(tc.wantWon, skipped(report.Won)); diff != "" {
					t.Errorf("Won (-want +got):\n%s", diff)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSkipped, skipped(report.Skipped)); diff != "" {
				t.Errorf("Skipped (-want +got):\n%s", diff)
			}
			var vnis []uint32
			for _, l := range cfg.L3VNIs {
				vnis = append(vnis, l.VNI)
			}
			if diff := cmp.Diff(tc.wantVNIs, vnis); diff != "" {
				t.Errorf("L3VNIs (-want +got):\n%s", diff)
			}
			var l2 []uint32
			for _, l := range cfg.L2VNIs {
				l2 = append(l2, l.VNI)
			}
			if diff := cmp.Diff(tc.wantL2VNIs, l2); diff != "" {
				t.Errorf("L2VNIs (-want +got):\n%s", diff)
			}
			for _, sk := range report.Skipped {
				for _, sel := range report.Selected {
					if sel == sk.Ref {
						t.Errorf("%s is both selected and skipped", sel)
					}
				}
			}
			if strings.Contains(name, "passthrough") && (cfg.Passthrough == nil || cfg.Passthrough.Source.Name != "a") {
				t.Errorf("passthrough = %+v, want a", cfg.Passthrough)
			}
		})
	}
}

// TestParseErrorsAreReported: Build leaves out what validate.Set refuses,
// so the fields it parses again always parse. Should the two ever disagree,
// the parse error is reported naming the object and the field, never
// dropped for a zero value. The builder is driven directly, past validate.
func TestParseErrorsAreReported(t *testing.T) {
	n := Node{Name: "n1", Index: 3}
	newBuilder := func(s objects.Set) (*builder, *Report) {
		r := &Report{}
		return &builder{node: n, invalid: map[objects.Ref][]validate.Error{}, secrets: validate.SecretIndex(s.Secrets), report: r}, r
	}
	underlays := map[string]struct {
		mutate  func(u *v1alpha1.Underlay)
		wantErr string
	}{
		"router-id pool": {func(u *v1alpha1.Underlay) { u.Spec.RouterIDCIDR = "10.0.0.0/33" },
			`node n1: Underlay perouter-system/underlay spec.routerIDCIDR: "10.0.0.0/33" is not a CIDR`},
		"ipv6 router-id pool": {func(u *v1alpha1.Underlay) { u.Spec.RouterIDCIDR = "fd00::/64" },
			`node n1: Underlay perouter-system/underlay spec.routerIDCIDR: "fd00::/64" must be IPv4: BGP router-ids are 32-bit`},
		"tunnel endpoint": {func(u *v1alpha1.Underlay) { u.Spec.TunnelEndpoint.CIDRs = []string{"100.65.0.0"} },
			`node n1: Underlay perouter-system/underlay spec.tunnelEndpoint.cidrs[0]: "100.65.0.0" is not a CIDR`},
		"neighbour address": {func(u *v1alpha1.Underlay) { u.Spec.Neighbors[1].Address = "192.168.12.1%eth0" },
			`node n1: Underlay perouter-system/underlay spec.neighbors[1].address: "192.168.12.1%eth0" is not an IP address`},
	}
	for name, tc := range underlays {
		t.Run(name, func(t *testing.T) {
			s := objectstest.Lab(0)
			tc.mutate(&s.Underlays[0])
			b, _ := newBuilder(s)
			if _, err := b.underlay(s.Underlays); err == nil || err.Error() != tc.wantErr {
				t.Errorf("err = %v\nwant %s", err, tc.wantErr)
			}
		})
	}

	s := objectstest.Lab(1)
	s.L3VNIs[0].Spec.HostSession.LocalCIDR.IPv4 = "10.100.0.0/24 "
	pt := v1alpha1.L3Passthrough{ObjectMeta: metav1.ObjectMeta{Name: "pt", Namespace: objectstest.Namespace},
		Spec: v1alpha1.L3PassthroughSpec{HostSession: v1alpha1.HostSession{ASN: 64514, HostType: "External",
			LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: "fd00:20::/64"}}}}
	l2 := v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: objectstest.Namespace},
		Spec: v1alpha1.L2VNISpec{VNI: 300, GatewayIPs: []string{"192.170.1.1/24", "192.170.1.1"}}}
	b, report := newBuilder(s)
	b.vteps, _ = b.underlay(s.Underlays)
	if _, _, errs := b.l3vni(&s.L3VNIs[0]); len(errs) > 0 {
		report.Skipped = append(report.Skipped, errs...)
	}
	if _, _, errs := b.hostSession(objects.RefOf(objects.KindL3Passthrough, pt.ObjectMeta), &pt.Spec.HostSession); len(errs) > 0 {
		report.Skipped = append(report.Skipped, errs...)
	}
	if _, ok := b.l2vni(&l2, nil); ok {
		t.Error("l2vni with an unparsable gateway was kept")
	}
	// A family the node has no VTEP of (validate.Set refuses it where the
	// VNI and the Underlay may meet).
	v6 := s.L3VNIs[0].DeepCopy()
	v6.Spec.HostSession.LocalCIDR.IPv4 = "10.100.0.0/24"
	v6.Spec.UnderlayAddressFamily = "IPv6"
	if _, _, errs := b.l3vni(v6); len(errs) > 0 {
		report.Skipped = append(report.Skipped, errs...)
	}
	l2v6 := l2.DeepCopy()
	l2v6.Spec.GatewayIPs = nil
	l2v6.Spec.UnderlayAddressFamily = "IPv6"
	if _, ok := b.l2vni(l2v6, nil); ok {
		t.Error("l2vni with a family the node has no VTEP of was kept")
	}
	const noV6 = "Underlay perouter-system/underlay has no IPv6 cidr in spec.tunnelEndpoint.cidrs, so node n1 has no IPv6 VTEP; add one there or choose the other family"
	want := []string{
		`L3VNI perouter-system/vni-0: spec.hostSession.localCIDR.ipv4: "10.100.0.0/24 " is not a CIDR`,
		`L3Passthrough perouter-system/pt: spec.hostSession.localCIDR.ipv4: "fd00:20::/64" is not an IPv4 CIDR`,
		`L2VNI perouter-system/l2: spec.gatewayIPs[1]: "192.170.1.1" is not a CIDR`,
		`L3VNI perouter-system/vni-0: spec.underlayAddressFamily: ` + noV6,
		`L2VNI perouter-system/l2: spec.underlayAddressFamily: ` + noV6,
	}
	if diff := cmp.Diff(want, skipped(report.Skipped)); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
}

func BenchmarkBuild(b *testing.B) {
	s := objectstest.Lab(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Build(s, Node{Name: "n", Index: 7}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBuildGracefulRestart(t *testing.T) {
	for name, tc := range map[string]struct {
		spec *v1alpha1.GracefulRestart
		want *GracefulRestart
	}{
		"absent: off":           {nil, nil},
		"empty: FRR's defaults": {&v1alpha1.GracefulRestart{}, &GracefulRestart{RestartTime: 120, StalePathTime: 360}},
		"restart time only":     {&v1alpha1.GracefulRestart{RestartTimeSeconds: ptr.To[uint32](60)}, &GracefulRestart{RestartTime: 60, StalePathTime: 360}},
		"both timers":           {&v1alpha1.GracefulRestart{RestartTimeSeconds: ptr.To[uint32](4095), StalePathTimeSeconds: ptr.To[uint32](1)}, &GracefulRestart{RestartTime: 4095, StalePathTime: 1}},
		"stale path time only":  {&v1alpha1.GracefulRestart{StalePathTimeSeconds: ptr.To[uint32](600)}, &GracefulRestart{RestartTime: 120, StalePathTime: 600}},
	} {
		t.Run(name, func(t *testing.T) {
			s := objectstest.Lab(1)
			s.Underlays[0].Spec.GracefulRestart = tc.spec
			cfg, _, err := Build(s, Node{Name: "n1", Index: 1})
			if err != nil || cfg.Underlay == nil {
				t.Fatalf("Build: %v, underlay %v", err, cfg.Underlay)
			}
			if diff := cmp.Diff(tc.want, cfg.Underlay.GracefulRestart); diff != "" {
				t.Errorf("GracefulRestart (-want +got):\n%s", diff)
			}
		})
	}
}

// RawFRRConfigs that select a node come in priority order, ties broken by
// namespace then name (whatever their order in the Set); those that do
// not select it, and invalid ones, stay out (the invalid ones reported).
func TestBuildRawSnippets(t *testing.T) {
	raw := func(ns, name string, prio int32, sel map[string]string) v1alpha1.RawFRRConfig {
		r := v1alpha1.RawFRRConfig{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       v1alpha1.RawFRRConfigSpec{Priority: ptr.To(prio), RawConfig: "! " + name + "\n"},
		}
		if sel != nil {
			r.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: sel}
		}
		return r
	}
	rack1 := map[string]string{"rack": "rack-1"}
	for name, tc := range map[string]struct {
		set         []v1alpha1.RawFRRConfig
		namespace   string // objects.Set.RawFRRConfigNamespace
		labels      map[string]string
		want        []string // Source.Name of the snippets, in order
		wantSkipped []string
	}{
		"none": {},
		"priority, then namespace, then name": {
			set: []v1alpha1.RawFRRConfig{
				raw("b", "z", 10, nil), raw("b", "a", 10, nil), raw("a", "y", 10, nil), raw("a", "late", 20, nil), raw("z", "first", 0, nil),
			},
			want: []string{"first", "y", "a", "z", "late"},
		},
		"node selector": {
			set:    []v1alpha1.RawFRRConfig{raw("a", "rack-1-only", 0, rack1), raw("a", "everywhere", 1, nil)},
			labels: map[string]string{"rack": "rack-2"},
			want:   []string{"everywhere"},
		},
		"node selector matches": {
			set:    []v1alpha1.RawFRRConfig{raw("a", "rack-1-only", 0, rack1), raw("a", "everywhere", 1, nil)},
			labels: rack1,
			want:   []string{"rack-1-only", "everywhere"},
		},
		"outside the operator's namespace": {
			set:         []v1alpha1.RawFRRConfig{raw("tenant", "sneaky", 0, nil), raw("perouter-system", "ok", 0, nil)},
			namespace:   "perouter-system",
			want:        []string{"ok"},
			wantSkipped: []string{"RawFRRConfig tenant/sneaky: metadata.namespace"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := objectstest.Lab(1)
			s.RawFRRConfigs = tc.set
			s.RawFRRConfigNamespace = tc.namespace
			cfg, report, err := Build(s, Node{Name: "n1", Index: 1, Labels: tc.labels})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range cfg.RawSnippets {
				got = append(got, r.Source.Name)
				if r.Text != "! "+r.Source.Name+"\n" {
					t.Errorf("%s: text %q", r.Source, r.Text)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("snippets (-want +got):\n%s", diff)
			}
			var skipped []string
			for _, e := range report.Skipped {
				skipped = append(skipped, e.Ref.String()+": "+e.Field)
			}
			if diff := cmp.Diff(tc.wantSkipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			for _, name := range tc.want {
				if !slices.ContainsFunc(report.Selected, func(r objects.Ref) bool { return r.Kind == objects.KindRawFRRConfig && r.Name == name }) {
					t.Errorf("%s not in report.Selected %v", name, report.Selected)
				}
			}
		})
	}
}

func TestVTEPFor(t *testing.T) {
	v4, v6 := pfx("100.65.0.3/32"), pfx("fd00:65::3/128")
	for name, tc := range map[string]struct {
		vteps  []netip.Prefix
		family string
		want   netip.Prefix
		wantOK bool
	}{
		"default, dual-stack: IPv4":   {vteps: []netip.Prefix{v4, v6}, want: v4, wantOK: true},
		"default, IPv6 only":          {vteps: []netip.Prefix{v6}, want: v6, wantOK: true},
		"default, IPv4 only":          {vteps: []netip.Prefix{v4}, want: v4, wantOK: true},
		"default, no VTEP":            {},
		"IPv4, dual-stack":            {vteps: []netip.Prefix{v4, v6}, family: FamilyIPv4, want: v4, wantOK: true},
		"IPv6, dual-stack":            {vteps: []netip.Prefix{v4, v6}, family: FamilyIPv6, want: v6, wantOK: true},
		"IPv6 without an IPv6 VTEP":   {vteps: []netip.Prefix{v4}, family: FamilyIPv6},
		"IPv4 without an IPv4 VTEP":   {vteps: []netip.Prefix{v6}, family: FamilyIPv4},
		"unknown family (lower case)": {vteps: []netip.Prefix{v4, v6}, family: "ipv6"},
	} {
		t.Run(name, func(t *testing.T) {
			u := &Underlay{VTEPs: tc.vteps}
			got, ok := u.VTEPFor(tc.family)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("VTEPFor(%q) = %v, %v; want %v, %v", tc.family, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
