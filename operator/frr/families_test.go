package frr

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// familySection returns the lines of one address-family block of the
// default VRF's router bgp ("ipv4 unicast", "ipv6 unicast"), nil when the
// block is absent.
func familySection(config, family string) []string {
	var out []string
	in, inDefault := false, false
	for _, line := range strings.Split(config, "\n") {
		switch {
		case strings.HasPrefix(line, "router bgp "):
			inDefault = !strings.Contains(line, " vrf ")
		case inDefault && line == " address-family "+family:
			in = true
			out = []string{}
		case in && line == " exit-address-family":
			in = false
		case in:
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// When the fabric speaks only IPv6 to the node (no neighbour has an IPv4
// address), the IPv4 VTEP (and IPv4 passthrough routes) can only reach it
// over the IPv6 sessions: those carry ipv4 unicast with an IPv6 next hop
// (RFC 8950, FRR's extended-nexthop). Where an IPv4 neighbour exists,
// IPv4 stays on it and the IPv6 sessions stay IPv6-only.
func TestIPv4OverIPv6Neighbors(t *testing.T) {
	v6 := nodeconfig.Neighbor{Address: addr("2001:db8:11::1"), ASN: 64512}
	v4 := nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512}
	iface := nodeconfig.Neighbor{Interface: "toswitch2", ASN: 64513}
	const id = "2001:db8:11::1"
	tests := map[string]struct {
		config nodeconfig.Config
		// carries: the IPv6 neighbour is active in ipv4 unicast, with
		// the extended next hop capability.
		carries bool
	}{
		"ipv6 neighbour, ipv4 vtep":                 {config: node(underlay(v6)), carries: true},
		"ipv6 and unnumbered neighbours, ipv4 vtep": {config: node(underlay(v6, iface)), carries: true},
		"ipv6 neighbour, ipv4 passthrough, no vtep": {config: with(node(underlay(v6)), func(c *nodeconfig.Config) {
			c.Underlay.VTEPs, c.Underlay.VTEPPools = nil, nil
			c.Passthrough = &nodeconfig.Passthrough{Source: ref("L3Passthrough", "pt"), HostSession: hostV4("192.169.20.1/24", "192.169.20.3/24")}
		}), carries: true},
		"ipv4 and ipv6 neighbours, ipv4 vtep": {config: node(underlay(v4, v6)), carries: false},
		"ipv6 neighbour, ipv6 vtep only": {config: with(node(underlay(v6)), func(c *nodeconfig.Config) {
			c.Underlay.VTEPs, c.Underlay.VTEPPools = []netip.Prefix{pfx("fd00:65::1/128")}, []netip.Prefix{pfx("fd00:65::/64")}
		}), carries: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Render(tc.config)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			activeV4 := false
			for _, l := range familySection(got, "ipv4 unicast") {
				if l == "neighbor "+id+" activate" {
					activeV4 = true
				}
			}
			enhe := strings.Contains(got, "\n neighbor "+id+" capability extended-nexthop\n")
			if activeV4 != tc.carries || enhe != tc.carries {
				t.Errorf("neighbour %s: active in ipv4 unicast %v, extended-nexthop %v; want both %v\n%s", id, activeV4, enhe, tc.carries, got)
			}
			// The IPv6 session keeps its own family either way.
			activeV6 := false
			for _, l := range familySection(got, "ipv6 unicast") {
				if l == "neighbor "+id+" activate" {
					activeV6 = true
				}
			}
			if !activeV6 {
				t.Errorf("neighbour %s is not active in ipv6 unicast\n%s", id, got)
			}
		})
	}
}

// The IPv6 lab's manifests (docs/examples/l2v6lab with the L2 lab's
// L2VNI), built for a node the way the controller builds them, render
// the golden the real-FRR tests load: the e2e suite and the golden show
// the same configuration.
func TestIPv6LabExampleRendersItsGolden(t *testing.T) {
	s, err := objects.Load("../../docs/examples/l2v6lab", "../../docs/examples/l2lab")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := nodeconfig.Build(s, nodeconfig.Node{Name: "worker-1", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(goldenPath("ipv6_unnumbered_l2vni"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("docs/examples/l2v6lab renders differently from golden ipv6_unnumbered_l2vni (-golden +rendered):\n%s", diff)
	}
}
