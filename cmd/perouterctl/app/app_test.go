package app

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/objects"
)

var update = flag.Bool("update", false, "rewrite the outputs shown in the docs (and docs/examples/upstream/converted) from what the commands print")

// docPaths are the docs whose console examples TestDocExamples runs, with
// the least number of commands each must show.
var docPaths = map[string]int{"docs/perouterctl.md": 5, "docs/migrating.md": 4, "docs/api.md": 3}

// docCommand is one "$ perouterctl ..." (or "$ cat FILE") line of a
// console block in a doc, with the output shown under it. A trailing
// "# exits N" comment gives the expected exit code (default 0).
type docCommand struct {
	line     int // index of the "$" line in the doc
	args     []string
	cat      string // the file a "$ cat FILE" line shows
	exit     int
	expected []string
	end      int // index after the last output line
}

func parseDoc(lines []string) []docCommand {
	var cmds []docCommand
	inConsole := false
	for i, l := range lines {
		switch {
		case l == "```console":
			inConsole = true
		case inConsole && l == "```":
			inConsole = false
		case inConsole && (strings.HasPrefix(l, "$ perouterctl") || strings.HasPrefix(l, "$ cat ")):
			c := docCommand{line: i, end: i + 1}
			cmdline := strings.TrimPrefix(l, "$ ")
			if before, after, ok := strings.Cut(cmdline, "# exits "); ok {
				cmdline = before
				c.exit, _ = strconv.Atoi(strings.TrimSpace(after))
			}
			if f, ok := strings.CutPrefix(cmdline, "cat "); ok {
				c.cat = strings.TrimSpace(f)
			} else {
				c.args = strings.Fields(cmdline)[1:]
			}
			cmds = append(cmds, c)
		case inConsole && len(cmds) > 0 && !strings.HasPrefix(l, "$ "):
			last := &cmds[len(cmds)-1]
			if last.end == i {
				last.expected = append(last.expected, l)
				last.end = i + 1
			}
		}
	}
	return cmds
}

// TestConvertedExample (before TestDocExamples, so that one -update
// refreshes both): docs/examples/upstream/converted holds what
// perouterctl convert prints for docs/examples/upstream/v0.2.0, so that
// docs/migrating.md can validate it; -update rewrites it.
func TestConvertedExample(t *testing.T) {
	t.Chdir("../../..")
	const in, saved = "docs/examples/upstream/v0.2.0/openpe.yaml", "docs/examples/upstream/converted/openpe.yaml"
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"convert", "-f", in}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("convert exits %d:\n%s", code, stderr.String())
	}
	if *update {
		if err := os.WriteFile(saved, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
		t.Errorf("%s is not what convert prints for %s (-saved +convert; run go test ./cmd/perouterctl/app -update):\n%s", saved, in, diff)
	}
}

// TestDocExamples runs every command shown in the docs of docPaths against
// docs/examples and checks it prints what the doc shows and exits as the
// doc says; a "$ cat FILE" shows FILE as it is. stdout and stderr are
// shown together, stdout first. -update rewrites the shown outputs.
func TestDocExamples(t *testing.T) {
	t.Chdir("../../..")
	for docPath, least := range docPaths {
		t.Run(docPath, func(t *testing.T) { checkDoc(t, docPath, least) })
	}
}

func checkDoc(t *testing.T, docPath string, least int) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	cmds := parseDoc(lines)
	if len(cmds) < least {
		t.Fatalf("found only %d commands in %s", len(cmds), docPath)
	}
	var out []string
	prev := 0
	for _, c := range cmds {
		var buf bytes.Buffer
		code := 0
		name := strings.Join(c.args, " ")
		if c.cat != "" {
			name = "cat " + c.cat
			content, err := os.ReadFile(c.cat)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(content)
		} else {
			code = Run(c.args, &buf, &buf)
		}
		got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if buf.Len() == 0 {
			got = nil
		}
		if code != c.exit {
			t.Errorf("%s: exit %d, the doc says %d", name, code, c.exit)
		}
		if diff := cmp.Diff(c.expected, got); diff != "" && !*update {
			t.Errorf("%s: output differs from %s (-doc +got; run go test ./cmd/perouterctl/app -update):\n%s", name, docPath, diff)
		}
		out = append(out, lines[prev:c.line+1]...)
		out = append(out, got...)
		prev = c.end
	}
	out = append(out, lines[prev:]...)
	if *update {
		if err := os.WriteFile(docPath, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownField := write("unknown.yaml", "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100, vnii: 3}\n")
	indexSelected := write("by-index.yaml", `apiVersion: network.perouter.io/v1alpha1
kind: L3Passthrough
metadata: {name: pt, namespace: perouter-system}
spec:
  nodeSelector: {matchLabels: {network.perouter.io/node-index: "3"}}
  hostSession: {asn: 64514, hostType: External, localCIDR: {ipv4: 192.169.30.0/24}}
`)
	byZone := write("by-zone.yaml", `apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: tenant-a-zone-a, namespace: perouter-system}
spec: {vrf: tenant-a, vni: 5003, nodeSelector: {matchLabels: {zone: a}}}
`)
	nodes := write("nodes.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1, labels: {topology.kubernetes.io/rack: rack-1, zone: a}}
- apiVersion: v1
  kind: Node
  metadata: {name: n2, labels: {topology.kubernetes.io/rack: rack-2, zone: b}}
`)
	passthroughVRF := write("pe-pt.yaml", "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: pe-pt, vni: 100}\n")
	// Names that collide with perouter's own devices: lo, a VRF named like
	// the Underlay's NIC, a NIC named like a VXLAN device.
	collisions := write("collisions.yaml", `apiVersion: network.perouter.io/v1alpha1
kind: Underlay
metadata: {name: u}
spec: {asn: 64514, neighbors: [{asn: 64512, address: 192.168.11.1}], interfaces: [{networkDevice: {interfaceName: eth1}}, {networkDevice: {interfaceName: vni100}}]}
---
apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: loop}
spec: {vrf: lo, vni: 100}
---
apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata: {name: nic}
spec: {vrf: eth1, vni: 101}
`)
	badSnippet := write("bad-snippet.yaml", `apiVersion: network.perouter.io/v1alpha1
kind: RawFRRConfig
metadata: {name: typo, namespace: perouter-system}
spec:
  rawConfig: |
    route-map SITE-ONLY permit 10
     match ip address prefix-lst SITE-PREFIXES
    exit
`)
	const examples = "../../../docs/examples/"
	tests := map[string]struct {
		args       []string
		wantExit   int
		wantOutput []string // substrings of stdout+stderr, in order
	}{
		"validate without files": {args: []string{"validate"}, wantExit: ExitUsage, wantOutput: []string{"error: validate needs at least one -f PATH"}},
		"validate missing file":  {args: []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, wantExit: ExitProblems, wantOutput: []string{"nope.yaml: no such file or directory"}},
		"validate unknown field": {
			args: []string{"validate", "-f", unknownField}, wantExit: ExitProblems,
			wantOutput: []string{unknownField + `: document 1 (L3VNI default/red): unknown field "spec.vnii"`},
		},
		"validate several paths": {
			args: []string{"validate", "-f", examples + "lab", "-f", examples + "l2vni", "-f", examples + "passthrough"}, wantExit: ExitOK,
			wantOutput: []string{"valid: 1 Underlay, 2 L3VNI, 2 L2VNI, 1 L3Passthrough, 0 RawFRRConfig, 0 Secret"},
		},
		"validate vrf named like the passthrough veth": {
			args: []string{"validate", "-f", passthroughVRF}, wantExit: ExitProblems,
			wantOutput: []string{`L3VNI default/red: spec.vrf: "pe-pt" collides with the names perouter gives its own devices`},
		},
		"validate names that collide with perouter's devices": {
			args: []string{"validate", "-f", collisions}, wantExit: ExitProblems,
			wantOutput: []string{
				`Underlay default/u: spec.interfaces[1].networkDevice.interfaceName: "vni100" collides with the names perouter gives its own devices`,
				`L3VNI default/loop: spec.vrf: "lo" is the loopback, which every network namespace has: choose another VRF name`,
				`L3VNI default/nic: spec.vrf: "eth1" is also the NIC spec.interfaces[0] of Underlay default/u, which may select the same nodes`,
			},
		},
		// Snippets are parsed by the machine's vtysh (FRR 8.4 here; the
		// webhook's image has FRR 10.3).
		"validate raw FRR config": {
			args: []string{"validate", "-f", examples + "lab", "-f", examples + "rawfrrconfig"}, wantExit: ExitOK,
			wantOutput: []string{"valid: 1 Underlay, 2 L3VNI, 0 L2VNI, 0 L3Passthrough, 2 RawFRRConfig, 0 Secret"},
		},
		"validate a snippet FRR refuses": {
			args: []string{"validate", "-f", badSnippet}, wantExit: ExitProblems,
			wantOutput: []string{"RawFRRConfig perouter-system/typo: spec.rawConfig: FRR refuses it: line 2: % Unknown command", "match ip address prefix-lst SITE-PREFIXES"},
		},
		"validate without vtysh warns that snippets are not parsed": {
			args: []string{"validate", "-f", badSnippet, "--vtysh", "/nonexistent/vtysh"}, wantExit: ExitOK,
			wantOutput: []string{"warning: RawFRRConfig perouter-system/typo: spec.rawConfig: not parsed by FRR:", "valid: 0 Underlay"},
		},
		"render puts snippets last, by priority, on the nodes they select": {
			args: []string{"render", "-f", examples + "lab", "-f", examples + "rawfrrconfig", "--node", "n", "--index", "1", "--labels", "rack=rack-1"},
			wantOutput: []string{"router bgp 64514 vrf", "! RawFRRConfig perouter-system/site-prefixes, priority 5\nip prefix-list SITE-PREFIXES",
				"! RawFRRConfig perouter-system/rack-1-bgp-tweak, priority 10\nroute-map SITE-ONLY permit 10"},
		},
		"validate per-rack VRF": {
			args: []string{"validate", "-f", examples + "per-rack"}, wantExit: ExitOK,
			wantOutput: []string{"valid: 0 Underlay, 2 L3VNI, 0 L2VNI, 0 L3Passthrough, 0 RawFRRConfig, 0 Secret"},
		},
		"validate without nodes warns of selectors that may meet": {
			args: []string{"validate", "-f", examples + "per-rack", "-f", byZone}, wantExit: ExitOK,
			wantOutput: []string{
				`warning: L3VNI perouter-system/tenant-a-rack-1: spec.vrf: VRF "tenant-a" is also claimed by L3VNI perouter-system/tenant-a-zone-a on any node both select`,
				"valid: 0 Underlay, 3 L3VNI",
			},
		},
		"validate against nodes": {
			args: []string{"validate", "-f", examples + "per-rack", "-f", byZone, "--nodes", nodes}, wantExit: ExitProblems,
			wantOutput: []string{`L3VNI perouter-system/tenant-a-rack-1: spec.vrf: VRF "tenant-a" is also claimed by L3VNI perouter-system/tenant-a-zone-a on node n1`},
		},
		"validate against labels": {
			args: []string{"validate", "-f", examples + "per-rack", "-f", byZone, "--labels", "topology.kubernetes.io/rack=rack-2,zone=a"}, wantExit: ExitProblems,
			wantOutput: []string{`L3VNI perouter-system/tenant-a-rack-2: spec.vrf: VRF "tenant-a" is also claimed by L3VNI perouter-system/tenant-a-zone-a on node {topology.kubernetes.io/rack=rack-2,zone=a}`},
		},
		"validate against nodes none of which meets": {
			args: []string{"validate", "-f", examples + "per-rack", "-f", byZone, "--labels", "topology.kubernetes.io/rack=rack-1,zone=b"}, wantExit: ExitOK,
			wantOutput: []string{"valid: 0 Underlay, 3 L3VNI"},
		},
		"validate nodes and labels": {args: []string{"validate", "-f", byZone, "--nodes", nodes, "--labels", "a=b"}, wantExit: ExitUsage, wantOutput: []string{"error: --nodes and --labels are exclusive"}},
		// The case: a rack-1 node gets its rack's L3VNI, whatever
		// rack-2's uses.
		"render per-rack VRF": {
			args:       []string{"render", "-f", examples + "lab", "-f", examples + "per-rack", "--node", "n", "--index", "1", "--labels", "topology.kubernetes.io/rack=rack-1"},
			wantOutput: []string{"vrf tenant-a", "vni 5001"},
		},
		"convert without files": {args: []string{"convert"}, wantExit: ExitUsage, wantOutput: []string{"error: convert needs at least one -f PATH"}},
		"convert missing file":  {args: []string{"convert", "-f", filepath.Join(dir, "nope.yaml")}, wantExit: ExitUsage, wantOutput: []string{"nope.yaml: no such file or directory"}},
		"convert refuses what perouter lacks, printing no YAML": {
			args: []string{"convert", "-f", examples + "upstream/refused"}, wantExit: ExitProblems,
			wantOutput: []string{"l2vni-ovs.yaml: document 1 (L2VNI perouter-system/ovs): spec.hostMaster.ovsBridge: not supported yet", "document 2 (L3VPN perouter-system/green): kind: L3VPN is not supported by perouter"},
		},
		"convert a folder and a file: YAML, then the changes": {
			args: []string{"convert", "-f", examples + "upstream/v0.1.0", "-f", examples + "upstream/main/openpe.yaml"},
			wantOutput: []string{
				"# converted by perouterctl convert from " + examples + "upstream/v0.1.0/underlay.yaml\n", "kind: Underlay",
				"---\n# converted by perouterctl convert from " + examples + "upstream/main/openpe.yaml\n", "kind: Underlay", "---\n", "kind: L3VNI",
				"changed: " + examples + "upstream/v0.1.0/underlay.yaml: document 1 (Underlay perouter-system/underlay): apiVersion: openpe.openperouter.github.io/v1alpha1 → network.perouter.io/v1alpha1",
				"changed: " + examples + "upstream/main/openpe.yaml: document 2 (L3VNI perouter-system/red): apiVersion",
			},
		},
		"convert of perouter's own manifests changes nothing": {
			args:       []string{"convert", "-f", examples + "lab/l3vnis.yaml"},
			wantOutput: []string{"kind: L3VNI"},
		},
		"unknown flag":             {args: []string{"validate", "--nope"}, wantExit: ExitUsage, wantOutput: []string{"error: unknown flag: --nope"}},
		"render without node":      {args: []string{"render", "-f", examples + "lab", "--index", "1"}, wantExit: ExitUsage, wantOutput: []string{"error: render needs --node"}},
		"render without index":     {args: []string{"render", "-f", examples + "lab", "--node", "n"}, wantExit: ExitUsage, wantOutput: []string{"error: render needs --index N"}},
		"render bad output":        {args: []string{"render", "-f", examples + "lab", "--node", "n", "--index", "1", "-o", "json"}, wantExit: ExitUsage, wantOutput: []string{`error: --output must be frr or plan, not "json"`}},
		"render bad labels":        {args: []string{"render", "-f", examples + "lab", "--node", "n", "--index", "1", "--labels", "a"}, wantExit: ExitUsage, wantOutput: []string{`error: --labels: "a" is not key=value`}},
		"render invalid manifests": {args: []string{"render", "-f", unknownField, "--node", "n", "--index", "1"}, wantExit: ExitProblems, wantOutput: []string{`unknown field "spec.vnii"`}},
		"render exhausted router-id pool": {
			args: []string{"render", "-f", examples + "lab", "--node", "n", "--index", "255"}, wantExit: ExitProblems,
			wantOutput: []string{"node n: Underlay perouter-system/underlay spec.routerIDCIDR: router-id pool 10.0.0.0/24, node index 255: pool 10.0.0.0/24 is too small: no usable address at offset 256 (usable: 0..254)"},
		},
		"render reports skipped objects": {
			args: []string{"render", "-f", examples + "l2vni", "-f", examples + "password", "--node", "n", "--index", "1"}, wantExit: ExitOK,
			wantOutput: []string{"waiting: L2VNI perouter-system/green: spec.routingDomain.l3vni.name: L3VNI perouter-system/red does not exist yet; the L2VNI applies once it does"},
		},
		"validate warns of what does not exist yet": {
			args: []string{"validate", "-f", examples + "l2vni"}, wantExit: ExitOK,
			wantOutput: []string{
				"warning: L2VNI perouter-system/green: spec.routingDomain.l3vni.name: L3VNI perouter-system/red does not exist yet; the L2VNI applies once it does",
				"valid: 0 Underlay, 0 L3VNI, 2 L2VNI, 0 L3Passthrough, 0 RawFRRConfig, 0 Secret",
			},
		},
		"render plan selects by labels": {
			args:       []string{"render", "-f", examples + "lab", "-f", examples + "passthrough", "--node", "n", "--index", "2", "--labels", "passthrough=true", "-o", "plan", "--netns", "pe", "--underlay-mtu", "9000"},
			wantOutput: []string{"netns: pe", "host: host-pt", "192.169.20.4/24", "host: host-e-100", "mtu: 8950"},
		},
		"render selects by the node index label": {
			args:       []string{"render", "-f", examples + "lab", "-f", indexSelected, "--node", "n", "--index", "3", "-o", "plan"},
			wantOutput: []string{"192.169.30.5/24"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			code := Run(tc.args, &buf, &buf)
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantExit, buf.String())
			}
			rest := buf.String()
			for _, w := range tc.wantOutput {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order); output:\n%s", w, buf.String())
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestConvertKeepsPerouterManifests: convert of perouter's own manifests
// prints the same objects and reports no change.
func TestConvertKeepsPerouterManifests(t *testing.T) {
	const dir = "../../../docs/examples/lab"
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"convert", "-f", dir}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("convert exits %d:\n%s", code, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("convert reports changes to perouter's own manifests:\n%s", stderr.String())
	}
	want, err := objects.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := objects.Decode(&stdout)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("convert changed perouter's manifests (-files +convert):\n%s", diff)
	}
}
