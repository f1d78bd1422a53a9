package frr

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/validate"
)

// fuzzInput is every string field of the model that a user controls and
// that reaches the config, plus three numbers.
type fuzzInput struct {
	NodeName, VRF, Interface, Password, RouteTarget, HostType, Bridge string
	VNI, HostASN, MaxPrefixes                                         uint32
}

// The oracle: the patterns the API documents (kubebuilder markers and the
// issue's rules), written independently of the renderer's checks, and the
// rules only the webhook applies on top (validate's: node names are
// Kubernetes names, route-target ranges, VRF names perouter's devices
// take). An input both accept must render.
var (
	oracleDNS       = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	oracleVRF       = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)
	oracleInterface = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	oraclePassword  = regexp.MustCompile(`^[\x24-\x26\x28-\x5b\x5d-\x5f\x61-\x7e]+$`) // printable ASCII but space ! " # ' \ `
	oracleRT        = regexp.MustCompile(`^([0-9]{1,10}|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,10}$`)
	// An unnumbered neighbour may not be named like an IPv4 address (FRR's
	// inet_pton form: four decimal octets, no leading zeros).
	oracleIPv4 = regexp.MustCompile(`^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$`)
)

func (in fuzzInput) acceptable() bool {
	return len(in.NodeName) <= 253 && oracleDNS.MatchString(in.NodeName) && validate.DNSSubdomain(in.NodeName) == nil &&
		len(in.VRF) <= 15 && oracleVRF.MatchString(in.VRF) && in.VRF != "default" && validate.VRFName(in.VRF) == nil &&
		len(in.Interface) <= 15 && oracleInterface.MatchString(in.Interface) && !oracleIPv4.MatchString(in.Interface) &&
		(in.Password == "" || len(in.Password) <= 80 && oraclePassword.MatchString(in.Password)) &&
		(in.RouteTarget == "" || oracleRT.MatchString(in.RouteTarget) && validate.RouteTarget(in.RouteTarget) == nil) &&
		(in.HostType == "" && in.HostASN != 0 || (in.HostType == "external" || in.HostType == "internal") && in.HostASN == 0) &&
		(in.Bridge == "" || len(in.Bridge) <= 15 && oracleInterface.MatchString(in.Bridge)) &&
		in.VNI >= 1 && in.VNI <= 16777215 && in.VNI != 300
}

// canonical replaces every string by a fixed valid one with the same
// presence, so it renders the same lines with other values.
func (in fuzzInput) canonical() fuzzInput {
	c := in
	c.NodeName, c.VRF, c.Interface = "node", "vrfx", "eth9"
	// Neighbours are sorted by name: keep the interface on the same side
	// of the numbered neighbour.
	if in.Interface < "192.168.11.2" {
		c.Interface = "0"
	}
	if c.Password != "" {
		c.Password = "pw"
	}
	if c.RouteTarget != "" {
		c.RouteTarget = "1:1"
	}
	if c.Bridge != "" {
		c.Bridge = "br0"
	}
	// The host ASN only matters through whether it equals the router's
	// (iBGP adds next-hop-self).
	if c.HostType == "" && c.HostASN != 64514 {
		c.HostASN = 64515
	}
	c.VNI = 100
	// 0 renders the default; any value is one word.
	c.MaxPrefixes = 7
	return c
}

func (in fuzzInput) config() nodeconfig.Config {
	u := underlay(
		nodeconfig.Neighbor{Address: addr("192.168.11.2"), ASN: 64512, Password: in.Password},
		nodeconfig.Neighbor{Interface: in.Interface, Type: "external"},
	)
	hs := hostV4("192.169.10.1/24", "192.169.10.3/24")
	hs.HostASN, hs.HostType, hs.MaxPrefixes = in.HostASN, in.HostType, in.MaxPrefixes
	l3 := nodeconfig.L3VNI{Source: ref("L3VNI", "fuzz"), VRF: in.VRF, VNI: in.VNI, VXLANPort: 4789, HostSession: &hs}
	if in.RouteTarget != "" {
		l3.ImportRTs = []string{in.RouteTarget}
		l3.ExportRTs = []string{in.RouteTarget}
	}
	c := node(u, l3)
	c.NodeName = in.NodeName
	c.L2VNIs = []nodeconfig.L2VNI{{
		Source: ref("L2VNI", "fuzz-l2"), VNI: 300, VXLANPort: 4789, VRF: in.VRF,
		GatewayIPs: []netip.Prefix{pfx("192.170.1.1/24")},
		HostBridge: nodeconfig.HostBridge{Name: in.Bridge},
	}}
	return c
}

// fuzzSeeds are accepted inputs; TestFuzzSeedsLoadIntoRealFRR checks that
// their configs load into real FRR. Route-target ranges are the validate
// package's rule, not the oracle's: FRR takes ASN:NN with NN <= 65535 when
// the ASN needs 4 bytes (4294967295:4294967295 is "Malformed").
var fuzzSeeds = []fuzzInput{
	{NodeName: "worker-1", VRF: "red", Interface: "eth1", Password: "s3cr3t$%&*", RouteTarget: "64514:100", HostASN: 64515, Bridge: "br-hs-300", VNI: 100, MaxPrefixes: 1},
	{NodeName: "n.example.com", VRF: "Blue_2-x", Interface: "enp0s1.100", HostType: "internal", VNI: 16777215},
	{NodeName: "0", VRF: "a", Interface: "0", Password: "~", RouteTarget: "10.0.0.1:65535", HostType: "external", Bridge: "b", VNI: 1},
	{NodeName: "worker-2", VRF: "abcdefghijklmno", Interface: "abcdefghijklmno", Password: strings.Repeat("x", 80), RouteTarget: "4294967295:65535", HostASN: 4294967295, VNI: 4096, MaxPrefixes: 4294967295},
	// IP-like but not an address to inet_pton: an interface name.
	{NodeName: "worker-3", VRF: "red", Interface: "10.0.0.01", HostType: "external", VNI: 100, MaxPrefixes: 1000},
}

func FuzzRender(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.NodeName, s.VRF, s.Interface, s.Password, s.RouteTarget, s.HostType, s.Bridge, s.VNI, s.HostASN, s.MaxPrefixes)
	}
	// Rejected ones, to start the search near the edges.
	f.Add("worker-1", "red\nexit", "eth1", "pw", "1:1", "", "br0", uint32(100), uint32(64515), uint32(0))
	f.Add("worker-1", "red", "eth1 bfd", "p w", "1:1\n!", "External", "br 0", uint32(0), uint32(0), uint32(0))
	f.Add("worker-1", "red", "eth1", "!pw", "", "", "", uint32(100), uint32(64515), uint32(0))
	// Names of perouter's devices and an IP-like unnumbered neighbour.
	f.Add("worker-1", "lo", "eth1", "pw", "", "", "", uint32(100), uint32(64515), uint32(10))
	f.Add("worker-1", "red", "10.0.0.1", "pw", "", "", "", uint32(100), uint32(64515), uint32(10))
	f.Fuzz(func(t *testing.T, nodeName, vrf, iface, password, rt, hostType, bridge string, vni, hostASN, maxPrefixes uint32) {
		in := fuzzInput{nodeName, vrf, iface, password, rt, hostType, bridge, vni, hostASN, maxPrefixes}
		got, err := Render(in.config())
		if err != nil {
			if in.acceptable() {
				t.Fatalf("Render rejected an input the API accepts: %v\n%+v", err, in)
			}
			return
		}
		want, err := Render(in.canonical().config())
		if err != nil {
			t.Fatalf("canonical input rejected: %v", err)
		}
		assertSameStructure(t, got, want)
		direct, err := renderDirect(in.config())
		if err != nil || direct != got {
			t.Fatalf("shape cache and templates disagree (err %v) for %+v", err, in)
		}
	})
}

// assertSameStructure: the same number of lines, and line by line the same
// command word and the same number of words. A user value that started a
// new line or a new command, or split into several words, breaks it.
func assertSameStructure(t *testing.T, got, want string) {
	t.Helper()
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d lines, want %d:\n%s", len(gl), len(wl), got)
	}
	for i := range gl {
		gf, wf := strings.Fields(gl[i]), strings.Fields(wl[i])
		if len(gf) != len(wf) || (len(wf) > 0 && gf[0] != wf[0]) {
			t.Fatalf("line %d is %q, want the shape of %q", i+1, gl[i], wl[i])
		}
		if strings.HasPrefix(gl[i], " ") != strings.HasPrefix(wl[i], " ") {
			t.Fatalf("line %d %q changed indentation from %q", i+1, gl[i], wl[i])
		}
	}
}

func TestFuzzSeedsAreAccepted(t *testing.T) {
	for i, s := range fuzzSeeds {
		if !s.acceptable() {
			t.Errorf("seed %d is not an accepted input: %+v", i, s)
		}
	}
}

// TestFuzzSeedsLoadIntoRealFRR: the accepted seeds give configs FRR's
// parser and running daemons take without complaint.
func TestFuzzSeedsLoadIntoRealFRR(t *testing.T) {
	vtysh := requireVtysh(t)
	requireFRRDaemons(t)
	dir := t.TempDir()
	var paths []string
	for i, s := range fuzzSeeds {
		out, err := Render(s.config())
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		p := filepath.Join(dir, "seed"+string(rune('a'+i))+".conf")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := vtyshCheck(vtysh, p); err != nil {
			t.Errorf("seed %d: vtysh -C: %v\n%s", i, err, out)
		}
		paths = append(paths, p)
	}
	loaded, err := loadAll(paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if r := loaded[p]; len(r.problems) > 0 {
			t.Errorf("seed %d %+v: FRR complained:\n%s", i, fuzzSeeds[i], strings.Join(r.problems, "\n"))
		}
	}
}
