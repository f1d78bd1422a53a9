package nodeconfig

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/objects"
)

// forbidden are the characters that could end an FRR command or start a
// new one or a comment.
const forbidden = "\n\r \t!#"

// FuzzDecodeValidate feeds arbitrary YAML through the path every consumer
// uses (Decode, validate, Build) and checks that no string reaching the
// per-node model, hence FRR and the kernel, can break out of its token.
func FuzzDecodeValidate(f *testing.F) {
	examples, _ := filepath.Glob("../../docs/examples/*/*.yaml")
	var all []byte
	for _, p := range examples {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		all = append(all, data...)
		all = append(all, "\n---\n"...)
	}
	f.Add(all)
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: x}\nspec: {vrf: \"a\\nb\", vni: 1, importRTs: [\"1:1 !\"]}\n"))
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, neighbors: [{type: External, interface: \"eth0 \", password: \"a#b\"}], tunnelEndpoint: {cidrs: [\"10.0.0.0/8\"]}}\n"))
	// Names and numbers the validation refuses since issue 15: names of
	// perouter's own devices, a VRF named like the Underlay's NIC, BFD's
	// ports, IP-like unnumbered neighbours; and maxPrefixes.
	const underlay = "apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, neighbors: [{type: External, interface: %q}], interfaces: [{networkDevice: {interfaceName: %q}}], tunnelEndpoint: {cidrs: [\"10.0.0.0/8\"]}}\n---\n"
	const l3vni = "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: x}\nspec: {vrf: %q, vni: 1, vxlanPort: %d, hostSession: {asn: 2, hostType: External, maxPrefixes: %d, localCIDR: {ipv4: 10.9.0.0/24}}}\n"
	for _, c := range []struct {
		neighbor, nic, vrf string
		port, maxPrefixes  int
	}{
		{"eth0", "eth1", "red", 4789, 0},
		{"eth0", "eth1", "red", 4789, 4294967295},
		{"eth0", "eth1", "lo", 4789, 1},
		{"eth0", "eth1", "eth1", 4789, 10},
		{"eth0", "vni1", "red", 4789, 10},
		{"eth0", "host-pt", "pe-pt", 4789, 10},
		{"eth0", "lo", "host-e-1", 3784, 10},
		{"10.0.0.1", "eth1", "red", 4784, 10},
		{"eth0", "eth1", "red", 3785, 10},
	} {
		f.Add([]byte(fmt.Sprintf(underlay, c.neighbor, c.nic) + fmt.Sprintf(l3vni, c.vrf, c.port, c.maxPrefixes)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := objects.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, node := range []Node{{Name: "n0", Index: 0}, {Name: "n7", Index: 7, Labels: map[string]string{"passthrough": "true"}}} {
			cfg, _, err := Build(s, node)
			if err != nil {
				continue
			}
			// A RawFRRConfig's text is FRR configuration by design, lines
			// and all (only the perouter-rawfrrconfig-editor role may write
			// it); it is rendered as whole lines after perouter's own, so
			// it is no token of perouter's that it could break out of.
			checked := cfg
			checked.RawSnippets = nil
			if bad := unsafeStrings(reflect.ValueOf(checked), "Config"); len(bad) > 0 {
				t.Fatalf("unsafe strings in the model built for %s:\n%s", node.Name, strings.Join(bad, "\n"))
			}
			if bad := brokenRules(cfg); len(bad) > 0 {
				t.Fatalf("the model built for %s breaks validation rules:\n%s", node.Name, strings.Join(bad, "\n"))
			}
		}
	})
}

// brokenRules lists what in a built model breaks the rules on names,
// ports and bounds, checked here independently of operator/validate: no
// device name of perouter's scheme (or lo) as a VRF or NIC, no VRF named
// like a NIC of the node's Underlay, no BFD port as a VXLAN port, no
// unnumbered neighbour named like an IPv4 address, and a host session
// cap of at least 1 (0 is left only to the renderer's default).
func brokenRules(cfg Config) []string {
	var bad []string
	scheme := regexp.MustCompile(`^(lo|vni[0-9]+|br-pe-.*|pe-e-.*|br-hs-.*|host-e-.*|pe-pt|host-pt)$`)
	ipv4 := regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){3}$`)
	nics := map[string]bool{}
	if u := cfg.Underlay; u != nil {
		for _, n := range u.Interfaces {
			nics[n] = true
			if scheme.MatchString(n) {
				bad = append(bad, fmt.Sprintf("NIC %q is a name of perouter's devices", n))
			}
		}
		for _, n := range u.Neighbors {
			if n.Interface != "" && ipv4.MatchString(n.Interface) {
				if _, err := netip.ParseAddr(n.Interface); err == nil {
					bad = append(bad, fmt.Sprintf("unnumbered neighbour %q is an IP address", n.Interface))
				}
			}
		}
	}
	bfd := map[uint16]bool{3784: true, 3785: true, 4784: true}
	for _, l := range cfg.L3VNIs {
		if scheme.MatchString(l.VRF) || nics[l.VRF] {
			bad = append(bad, fmt.Sprintf("VRF %q collides with a device", l.VRF))
		}
		if bfd[l.VXLANPort] {
			bad = append(bad, fmt.Sprintf("%s: vxlanPort %d is BFD's", l.Source, l.VXLANPort))
		}
		if hs := l.HostSession; hs != nil && hs.MaxPrefixes == 0 {
			bad = append(bad, fmt.Sprintf("%s: maxPrefixes 0", l.Source))
		}
	}
	for _, l := range cfg.L2VNIs {
		if bfd[l.VXLANPort] {
			bad = append(bad, fmt.Sprintf("%s: vxlanPort %d is BFD's", l.Source, l.VXLANPort))
		}
		if !l.HostBridge.Managed && l.HostBridge.Name != "" && scheme.MatchString(l.HostBridge.Name) {
			bad = append(bad, fmt.Sprintf("%s: external bridge %q is a name of perouter's devices", l.Source, l.HostBridge.Name))
		}
	}
	if p := cfg.Passthrough; p != nil && p.HostSession.MaxPrefixes == 0 {
		bad = append(bad, fmt.Sprintf("%s: maxPrefixes 0", p.Source))
	}
	return bad
}

var (
	addrType   = reflect.TypeOf(netip.Addr{})
	prefixType = reflect.TypeOf(netip.Prefix{})
	macType    = reflect.TypeOf(net.HardwareAddr{})
)

// unsafeStrings walks v and returns the path and value of every string, or
// value rendered as text, that contains a forbidden character.
func unsafeStrings(v reflect.Value, path string) []string {
	check := func(s string) []string {
		if strings.ContainsAny(s, forbidden) {
			return []string{fmt.Sprintf("%s = %q", path, s)}
		}
		return nil
	}
	switch v.Type() {
	case addrType, prefixType:
		// The zero value means "not set" and is never rendered.
		if v.IsZero() {
			return nil
		}
		return check(fmt.Sprint(v.Interface()))
	case macType:
		return check(fmt.Sprint(v.Interface()))
	}
	var out []string
	switch v.Kind() {
	case reflect.String:
		return check(v.String())
	case reflect.Pointer:
		if !v.IsNil() {
			out = unsafeStrings(v.Elem(), path)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			out = append(out, unsafeStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			out = append(out, unsafeStrings(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
	}
	return out
}

// The walker must see every string: a model with a bad value is caught.
func TestUnsafeStringsFindsInjections(t *testing.T) {
	cfg := Config{
		Underlay: &Underlay{Neighbors: []Neighbor{{Interface: "eth0", Password: "a b"}}},
		L3VNIs:   []L3VNI{{VRF: "red", ImportRTs: []string{"1:1", "1:2\nrouter bgp 2"}}},
		L2VNIs:   []L2VNI{{HostBridge: HostBridge{Name: "br#0"}}},
	}
	got := unsafeStrings(reflect.ValueOf(cfg), "Config")
	want := []string{
		`Config.Underlay.Neighbors[0].Password = "a b"`,
		`Config.L3VNIs[0].ImportRTs[1] = "1:2\nrouter bgp 2"`,
		`Config.L2VNIs[0].HostBridge.Name = "br#0"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The rule check must fail on models that break the rules.
func TestBrokenRulesFindsViolations(t *testing.T) {
	ref := objects.Ref{Kind: objects.KindL3VNI, Namespace: "ns", Name: "x"}
	cfg := Config{
		Underlay: &Underlay{Interfaces: []string{"eth1", "vni7"}, Neighbors: []Neighbor{{Interface: "10.0.0.1"}, {Interface: "1.2.3"}}},
		L3VNIs: []L3VNI{
			{Source: ref, VRF: "eth1", VXLANPort: 4789, HostSession: &HostSession{MaxPrefixes: 0}},
			{Source: ref, VRF: "lo", VXLANPort: 3784},
		},
	}
	want := []string{
		`NIC "vni7" is a name of perouter's devices`,
		`unnumbered neighbour "10.0.0.1" is an IP address`,
		`VRF "eth1" collides with a device`,
		`L3VNI ns/x: maxPrefixes 0`,
		`VRF "lo" collides with a device`,
		`L3VNI ns/x: vxlanPort 3784 is BFD's`,
	}
	if got := brokenRules(cfg); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
