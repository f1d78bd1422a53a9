package hostnet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/validate"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

var pfx = netip.MustParsePrefix

// withVTEP returns l with the VTEP nodeconfig.Build chose for it.
func withVTEP(l nodeconfig.L3VNI, vtep string) nodeconfig.L3VNI {
	l.VTEP = netip.MustParseAddr(vtep)
	return l
}

// equateIP compares netip values by value (their fields are unexported).
var equateIP = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func TestPlanFor(t *testing.T) {
	underlay4 := &nodeconfig.Underlay{
		VTEPs:      []netip.Prefix{pfx("100.65.0.1/32")},
		Interfaces: []string{"eth2", "eth1"},
	}
	red := nodeconfig.L3VNI{
		VRF: "red", VNI: 100, VXLANPort: 4789, RouterMAC: mustMAC("02:00:00:00:00:64"),
		HostSession: &nodeconfig.HostSession{
			RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.3/24"),
			RouterIPv6: pfx("2001:db8::1/64"), HostIPv6: pfx("2001:db8::3/64"),
		},
	}
	blue := nodeconfig.L3VNI{VRF: "blue", VNI: 20, VXLANPort: 4790, RouterMAC: mustMAC("02:00:00:00:00:14")}
	// Written out, not routerSysctls: the list is what this test checks.
	baseSysctls := []Sysctl{
		{Key: "net/ipv4/conf/all/forwarding", Value: "1"},
		{Key: "net/ipv4/conf/all/rp_filter", Value: "0"},
		{Key: "net/ipv4/conf/default/rp_filter", Value: "0"},
		{Key: "net/ipv4/conf/all/arp_accept", Value: "1"},
		{Key: "net/ipv4/conf/default/arp_accept", Value: "1"},
		{Key: "net/ipv6/conf/all/forwarding", Value: "1"},
		{Key: "net/ipv6/conf/all/accept_untracked_na", Value: "1", Optional: true},
		{Key: "net/ipv6/conf/default/accept_untracked_na", Value: "1", Optional: true},
	}
	// Every router netns with a VRF: a VRF's lookup that misses in its
	// table ends there, and the local table comes after the VRFs.
	var baseRules []Rule
	for _, f := range []int{4, 6} {
		baseRules = append(baseRules,
			Rule{Family: f, Priority: 1000, L3mdev: true},
			Rule{Family: f, Priority: 1001, L3mdev: true, Unreachable: true},
			Rule{Family: f, Priority: 32765, Table: 255})
	}

	tests := map[string]struct {
		config nodeconfig.Config
		opts   PlanOptions
		want   Plan
	}{
		"no underlay: namespace and sysctls only": {
			config: nodeconfig.Config{L3VNIs: []nodeconfig.L3VNI{red}},
			want:   Plan{Netns: "perouter", Sysctls: baseSysctls},
		},
		"L3VNIs sorted by VNI, table from VNI, IPv4 VTEP overhead 50": {
			config: nodeconfig.Config{Underlay: underlay4, L3VNIs: []nodeconfig.L3VNI{red, blue}},
			opts:   PlanOptions{Netns: "pe", UnderlayMTU: 9000},
			want: Plan{
				Netns:              "pe",
				Sysctls:            baseSysctls,
				Rules:              baseRules,
				LoopbackAddresses:  []netip.Prefix{pfx("100.65.0.1/32")},
				UnderlayInterfaces: []string{"eth1", "eth2"},
				VRFs: []VRF{
					{Name: "blue", VNI: 20, Table: 1020},
					{Name: "red", VNI: 100, Table: 1100},
				},
				Bridges: []Bridge{
					{Name: "br-pe-20", VNI: 20, MAC: "02:00:00:00:00:14", VRF: "blue", NoIPv6LinkLocal: true},
					{Name: "br-pe-100", VNI: 100, MAC: "02:00:00:00:00:64", VRF: "red", NoIPv6LinkLocal: true},
				},
				VXLANs: []VXLAN{
					{Name: "vni20", VNI: 20, Local: netip.MustParseAddr("100.65.0.1"), Port: 4790, Bridge: "br-pe-20", MTU: 8950},
					{Name: "vni100", VNI: 100, Local: netip.MustParseAddr("100.65.0.1"), Port: 4789, Bridge: "br-pe-100", MTU: 8950},
				},
				Veths: []Veth{{
					Host: "host-e-100", Router: "pe-e-100", VNI: 100, MTU: 8950, RouterMaster: "red",
					HostAddresses:   []netip.Prefix{pfx("192.169.10.3/24"), pfx("2001:db8::3/64")},
					RouterAddresses: []netip.Prefix{pfx("192.169.10.1/24"), pfx("2001:db8::1/64")},
				}},
			},
		},
		"IPv6-only VTEP: overhead 70, default MTU 1500": {
			config: nodeconfig.Config{
				Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("fd00::5/128")}},
				L3VNIs:   []nodeconfig.L3VNI{blue},
			},
			want: Plan{
				Netns: "perouter", Sysctls: baseSysctls, Rules: baseRules,
				LoopbackAddresses: []netip.Prefix{pfx("fd00::5/128")},
				VRFs:              []VRF{{Name: "blue", VNI: 20, Table: 1020}},
				Bridges:           []Bridge{{Name: "br-pe-20", VNI: 20, MAC: "02:00:00:00:00:14", VRF: "blue", NoIPv6LinkLocal: true}},
				VXLANs:            []VXLAN{{Name: "vni20", VNI: 20, Local: netip.MustParseAddr("fd00::5"), Port: 4790, Bridge: "br-pe-20", MTU: 1430}},
			},
		},
		"dual-stack VTEP, no VTEP in the model: the IPv4 one is the VXLAN source": {
			config: nodeconfig.Config{
				Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("fd00::5/128"), pfx("100.65.0.5/32")}},
				L3VNIs:   []nodeconfig.L3VNI{blue},
			},
			want: Plan{
				Netns: "perouter", Sysctls: baseSysctls, Rules: baseRules,
				LoopbackAddresses: []netip.Prefix{pfx("100.65.0.5/32"), pfx("fd00::5/128")},
				VRFs:              []VRF{{Name: "blue", VNI: 20, Table: 1020}},
				Bridges:           []Bridge{{Name: "br-pe-20", VNI: 20, MAC: "02:00:00:00:00:14", VRF: "blue", NoIPv6LinkLocal: true}},
				VXLANs:            []VXLAN{{Name: "vni20", VNI: 20, Local: netip.MustParseAddr("100.65.0.5"), Port: 4790, Bridge: "br-pe-20", MTU: 1450}},
			},
		},
		// Each VNI's VXLAN takes the VTEP its model chose
		// (spec.underlayAddressFamily), and that family's overhead for
		// the VXLAN and the host veths behind it.
		"dual-stack VTEP, family per VNI: local address and MTU each": {
			config: nodeconfig.Config{
				Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.5/32"), pfx("fd00::5/128")}},
				L3VNIs: []nodeconfig.L3VNI{
					withVTEP(red, "fd00::5"),
					withVTEP(blue, "100.65.0.5"),
				},
				L2VNIs: []nodeconfig.L2VNI{
					{VNI: 300, VXLANPort: 4789, VTEP: netip.MustParseAddr("fd00::5"), HostBridge: nodeconfig.HostBridge{Name: "br-hs-300", Managed: true}},
					{VNI: 310, VXLANPort: 4789, VTEP: netip.MustParseAddr("100.65.0.5")},
				},
			},
			opts: PlanOptions{UnderlayMTU: 9000},
			want: Plan{
				Netns: "perouter", Sysctls: baseSysctls, Rules: baseRules,
				LoopbackAddresses: []netip.Prefix{pfx("100.65.0.5/32"), pfx("fd00::5/128")},
				VRFs:              []VRF{{Name: "blue", VNI: 20, Table: 1020}, {Name: "red", VNI: 100, Table: 1100}},
				Bridges: []Bridge{
					{Name: "br-pe-20", VNI: 20, MAC: "02:00:00:00:00:14", VRF: "blue", NoIPv6LinkLocal: true},
					{Name: "br-pe-100", VNI: 100, MAC: "02:00:00:00:00:64", VRF: "red", NoIPv6LinkLocal: true},
					{Name: "br-pe-300", VNI: 300},
					{Name: "br-pe-310", VNI: 310},
				},
				VXLANs: []VXLAN{
					{Name: "vni20", VNI: 20, Local: netip.MustParseAddr("100.65.0.5"), Port: 4790, Bridge: "br-pe-20", MTU: 8950},
					{Name: "vni100", VNI: 100, Local: netip.MustParseAddr("fd00::5"), Port: 4789, Bridge: "br-pe-100", MTU: 8930},
					{Name: "vni300", VNI: 300, Local: netip.MustParseAddr("fd00::5"), Port: 4789, Bridge: "br-pe-300", MTU: 8930},
					{Name: "vni310", VNI: 310, Local: netip.MustParseAddr("100.65.0.5"), Port: 4789, Bridge: "br-pe-310", MTU: 8950},
				},
				HostBridges: []HostBridge{{Name: "br-hs-300", VNI: 300}},
				Veths: []Veth{
					{
						Host: "host-e-100", Router: "pe-e-100", VNI: 100, MTU: 8930, RouterMaster: "red",
						HostAddresses:   []netip.Prefix{pfx("192.169.10.3/24"), pfx("2001:db8::3/64")},
						RouterAddresses: []netip.Prefix{pfx("192.169.10.1/24"), pfx("2001:db8::1/64")},
					},
					{Host: "host-e-300", Router: "pe-e-300", VNI: 300, MTU: 8930, HostMaster: "br-hs-300", RouterMaster: "br-pe-300"},
					{Host: "host-e-310", Router: "pe-e-310", VNI: 310, MTU: 8950, RouterMaster: "br-pe-310"},
				},
			},
		},
		"L2VNIs: routed with managed bridge, unrouted with external bridge": {
			config: nodeconfig.Config{
				Underlay: underlay4,
				L3VNIs:   []nodeconfig.L3VNI{blue},
				L2VNIs: []nodeconfig.L2VNI{
					{
						VNI: 210, VXLANPort: 4789, VRF: "blue",
						GatewayIPs: []netip.Prefix{pfx("fd10::1/64"), pfx("10.10.0.1/24")},
						GatewayMAC: mustMAC("02:00:00:00:00:d2"),
						HostBridge: nodeconfig.HostBridge{Name: "br-hs-210", Managed: true},
					},
					{VNI: 300, VXLANPort: 4789, HostBridge: nodeconfig.HostBridge{Name: "mybridge"}},
				},
			},
			want: Plan{
				Netns: "perouter", Sysctls: baseSysctls, Rules: baseRules,
				LoopbackAddresses:  []netip.Prefix{pfx("100.65.0.1/32")},
				UnderlayInterfaces: []string{"eth1", "eth2"},
				VRFs:               []VRF{{Name: "blue", VNI: 20, Table: 1020}},
				Bridges: []Bridge{
					{Name: "br-pe-20", VNI: 20, MAC: "02:00:00:00:00:14", VRF: "blue", NoIPv6LinkLocal: true},
					{Name: "br-pe-210", VNI: 210, MAC: "02:00:00:00:00:d2", VRF: "blue",
						Addresses: []netip.Prefix{pfx("10.10.0.1/24"), pfx("fd10::1/64")}},
					{Name: "br-pe-300", VNI: 300},
				},
				VXLANs: []VXLAN{
					{Name: "vni20", VNI: 20, Local: netip.MustParseAddr("100.65.0.1"), Port: 4790, Bridge: "br-pe-20", MTU: 1450},
					{Name: "vni210", VNI: 210, Local: netip.MustParseAddr("100.65.0.1"), Port: 4789, Bridge: "br-pe-210", MTU: 1450},
					{Name: "vni300", VNI: 300, Local: netip.MustParseAddr("100.65.0.1"), Port: 4789, Bridge: "br-pe-300", MTU: 1450},
				},
				HostBridges: []HostBridge{{Name: "br-hs-210", VNI: 210}},
				Veths: []Veth{
					{Host: "host-e-210", Router: "pe-e-210", VNI: 210, MTU: 1450, HostMaster: "br-hs-210", RouterMaster: "br-pe-210"},
					{Host: "host-e-300", Router: "pe-e-300", VNI: 300, MTU: 1450, HostMaster: "mybridge", RouterMaster: "br-pe-300"},
				},
			},
		},
		"passthrough: default VRF, no encapsulation overhead": {
			config: nodeconfig.Config{
				Underlay: underlay4,
				Passthrough: &nodeconfig.Passthrough{HostSession: nodeconfig.HostSession{
					RouterIPv4: pfx("192.168.20.1/24"), HostIPv4: pfx("192.168.20.2/24"),
				}},
			},
			want: Plan{
				Netns: "perouter", Sysctls: baseSysctls,
				LoopbackAddresses:  []netip.Prefix{pfx("100.65.0.1/32")},
				UnderlayInterfaces: []string{"eth1", "eth2"},
				Veths: []Veth{{
					Host: "host-pt", Router: "pe-pt", MTU: 1500,
					HostAddresses:   []netip.Prefix{pfx("192.168.20.2/24")},
					RouterAddresses: []netip.Prefix{pfx("192.168.20.1/24")},
				}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := PlanFor(tc.config, tc.opts)
			if diff := cmp.Diff(tc.want, got, equateIP); diff != "" {
				t.Errorf("PlanFor() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanDeviceNames keeps the names the plan creates and the names users
// may not give a VRF in step: a VRF lives in the router netns next to every
// router-side device, and the host side is only cleaned up by name.
func TestPlanDeviceNames(t *testing.T) {
	hs := &nodeconfig.HostSession{RouterIPv4: pfx("192.169.10.1/24"), HostIPv4: pfx("192.169.10.3/24")}
	const maxVNI = 1<<24 - 1
	c := nodeconfig.Config{
		Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.1/32")}},
		L3VNIs:   []nodeconfig.L3VNI{{VRF: "red", VNI: maxVNI, RouterMAC: mustMAC("02:00:00:ff:ff:ff"), HostSession: hs}},
		L2VNIs: []nodeconfig.L2VNI{
			{VNI: 200, VRF: "red", GatewayMAC: mustMAC("06:00:00:00:00:c8"), HostBridge: nodeconfig.HostBridge{Name: devname.HostBridge(200), Managed: true}},
			{VNI: 300, GatewayMAC: mustMAC("06:00:00:00:01:2c"), HostBridge: nodeconfig.HostBridge{Name: "br-lab"}},
		},
		Passthrough: &nodeconfig.Passthrough{HostSession: *hs},
	}
	p := PlanFor(c, PlanOptions{})
	var router, host []string
	for _, b := range p.Bridges {
		router = append(router, b.Name)
	}
	for _, x := range p.VXLANs {
		router = append(router, x.Name)
	}
	for _, v := range p.Veths {
		router = append(router, v.Router)
		host = append(host, v.Host)
	}
	for _, b := range p.HostBridges {
		host = append(host, b.Name)
	}
	if len(router) != 10 || len(host) != 5 {
		t.Fatalf("plan has router devices %v and host devices %v, want 10 and 5", router, host)
	}
	for _, name := range append(router, host...) {
		if len(name) > 15 {
			t.Errorf("%q is longer than a Linux interface name may be", name)
		}
		if err := validate.VRFName(name); err == nil {
			t.Errorf("validate.VRFName(%q) accepts a name the plan gives a device", name)
		}
	}
	for _, name := range host {
		if !devname.HostSide(name) {
			t.Errorf("host-side device %q is not devname.HostSide: Apply would never delete it", name)
		}
	}
}

func TestPlanForIsDeterministic(t *testing.T) {
	c := nodeconfig.Config{
		Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.1/32")}},
	}
	for vni := uint32(1); vni <= 50; vni++ {
		c.L3VNIs = append(c.L3VNIs, nodeconfig.L3VNI{VRF: "v" + string(rune('a'+vni%26)) + string(rune('a'+vni/26)), VNI: vni * 7 % 101})
	}
	first, err := yaml.Marshal(PlanFor(c, PlanOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		again, err := yaml.Marshal(PlanFor(c, PlanOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(first), string(again)); diff != "" {
			t.Fatalf("run %d differs:\n%s", i, diff)
		}
	}
}

func TestPlanYAML(t *testing.T) {
	p := PlanFor(nodeconfig.Config{
		Underlay: &nodeconfig.Underlay{VTEPs: []netip.Prefix{pfx("100.65.0.1/32")}, Interfaces: []string{"eth1"}},
		L3VNIs:   []nodeconfig.L3VNI{{VRF: "red", VNI: 100, VXLANPort: 4789, RouterMAC: mustMAC("02:00:00:00:00:64")}},
	}, PlanOptions{})
	got, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `bridges:
- mac: 02:00:00:00:00:64
  name: br-pe-100
  noIPv6LinkLocal: true
  vni: 100
  vrf: red
loopbackAddresses:
- 100.65.0.1/32
netns: perouter
rules:
- family: 4
  l3mdev: true
  priority: 1000
- family: 4
  l3mdev: true
  priority: 1001
  unreachable: true
- family: 4
  priority: 32765
  table: 255
- family: 6
  l3mdev: true
  priority: 1000
- family: 6
  l3mdev: true
  priority: 1001
  unreachable: true
- family: 6
  priority: 32765
  table: 255
sysctls:
- key: net/ipv4/conf/all/forwarding
  value: "1"
- key: net/ipv4/conf/all/rp_filter
  value: "0"
- key: net/ipv4/conf/default/rp_filter
  value: "0"
- key: net/ipv4/conf/all/arp_accept
  value: "1"
- key: net/ipv4/conf/default/arp_accept
  value: "1"
- key: net/ipv6/conf/all/forwarding
  value: "1"
- key: net/ipv6/conf/all/accept_untracked_na
  optional: true
  value: "1"
- key: net/ipv6/conf/default/accept_untracked_na
  optional: true
  value: "1"
underlayInterfaces:
- eth1
vrfs:
- name: red
  table: 1100
  vni: 100
vxlans:
- bridge: br-pe-100
  local: 100.65.0.1
  mtu: 1450
  name: vni100
  port: 4789
  vni: 100
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("YAML mismatch (-want +got):\n%s", diff)
	}
	var back Plan
	if err := yaml.UnmarshalStrict(got, &back); err != nil {
		t.Fatalf("plan YAML does not read back: %v", err)
	}
	if diff := cmp.Diff(p, back, equateIP); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestTableFor(t *testing.T) {
	reserved := map[uint32]bool{0: true, 253: true, 254: true, 255: true}
	for _, vni := range []uint32{1, 100, 252, 253, 254, 255, 4096, 16777215} {
		if tab := TableFor(vni); reserved[tab] || tab <= vni {
			t.Errorf("TableFor(%d) = %d: reserved or not above the VNI", vni, tab)
		}
	}
	if TableFor(16777215) != 16778215 {
		t.Errorf("TableFor(max VNI) = %d, want 16778215", TableFor(16777215))
	}
}

// The node's own addresses reach the Manager through the plan, in one
// order whatever the Node's, so that the same Node gives the same plan.
func TestPlanNodeAddresses(t *testing.T) {
	addr := netip.MustParseAddr
	cases := map[string]struct {
		cfg  nodeconfig.Config
		in   []netip.Addr
		want []netip.Addr
	}{
		"sorted, unmapped, without duplicates": {
			cfg:  nodeconfig.Config{Underlay: underlayWith("100.65.0.1/32", "eth1")},
			in:   []netip.Addr{addr("fd00::7"), addr("::ffff:192.168.1.7"), addr("192.168.1.7"), {}, addr("10.0.0.7")},
			want: []netip.Addr{addr("10.0.0.7"), addr("192.168.1.7"), addr("fd00::7")},
		},
		"planned without an underlay too": {
			in:   []netip.Addr{addr("10.0.0.7")},
			want: []netip.Addr{addr("10.0.0.7")},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := PlanFor(c.cfg, PlanOptions{NodeAddresses: c.in}).NodeAddresses
			if diff := cmp.Diff(c.want, got, equateIP); diff != "" {
				t.Errorf("NodeAddresses (-want +got):\n%s", diff)
			}
		})
	}
}
