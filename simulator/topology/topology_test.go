package topology

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadRepositoryTopologies(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		file         string
		wantName     string
		wantRoles    map[Role][]string
		wantLinks    int
		wantSetup    map[string]string // router -> host path of /setup.sh
		wantNodeExec map[string][]string
		// wantHoming is what every cluster node's links lead to (both
		// switches when unset: dual-homed to shared segments).
		wantHoming []string
	}{
		"default": {
			file:     "topologies/default.clab.yml",
			wantName: "default",
			wantRoles: map[Role][]string{
				RoleRouter:      {"leafA", "leafB", "leafkind1", "leafkind2", "spine"},
				RoleHost:        {"hostA_blue", "hostA_red", "hostB_blue", "hostB_red"},
				RoleBridge:      {"leafkind1-sw", "leafkind2-sw"},
				RoleCluster:     {"pe-kind"},
				RoleClusterNode: {"pe-kind-control-plane", "pe-kind-worker", "pe-kind-worker2"},
			},
			wantLinks: 16,
			wantSetup: map[string]string{
				"leafA": filepath.Join(repo, "clab/default/leafA/setup.sh"),
				"spine": filepath.Join(repo, "clab/default/spine/setup.sh"),
			},
			wantNodeExec: map[string][]string{
				"pe-kind-worker2": {"ip addr add 192.168.11.5/24 dev toswitch1", "ip addr add 192.168.12.5/24 dev toswitch2"},
				"leafA":           {"sh /setup.sh"},
				"hostB_red":       {"ip addr add 192.168.22.2/24 dev eth1", "ip route add default via 192.168.22.1", "ip -6 addr add 2001:db8:22::2/64 dev eth1 nodad", "ip -6 route add default via 2001:db8:22::1"},
			},
		},
		"l2": {
			file:     "topologies/l2.clab.yml",
			wantName: "l2",
			wantRoles: map[Role][]string{
				RoleRouter:      {"leafA", "leafB", "leafkind1", "leafkind2", "spine"},
				RoleHost:        {"hostA_l2", "hostB_l2"},
				RoleBridge:      {"leafkind1-sw", "leafkind2-sw"},
				RoleCluster:     {"pe-kind"},
				RoleClusterNode: {"pe-kind-control-plane", "pe-kind-worker", "pe-kind-worker2"},
			},
			wantLinks: 14,
			wantSetup: map[string]string{
				"leafA": filepath.Join(repo, "clab/l2/leafA/setup.sh"),
				"spine": filepath.Join(repo, "clab/default/spine/setup.sh"),
			},
			wantNodeExec: map[string][]string{
				"hostB_l2": {"ip addr add 192.168.30.3/24 dev eth1"},
			},
		},
		"l2-v6": {
			file:     "topologies/l2-v6.clab.yml",
			wantName: "l2v6",
			wantRoles: map[Role][]string{
				RoleRouter:      {"leafA", "leafB", "leafkind1", "leafkind2", "spine"},
				RoleHost:        {"hostA_l2", "hostB_l2"},
				RoleCluster:     {"pe-kind"},
				RoleClusterNode: {"pe-kind-control-plane", "pe-kind-worker", "pe-kind-worker2"},
			},
			wantLinks: 12,
			wantSetup: map[string]string{
				"leafkind1": filepath.Join(repo, "clab/l2v6/leafkind1/setup.sh"),
				"leafkind2": filepath.Join(repo, "clab/l2v6/leafkind2/setup.sh"),
				"leafA":     filepath.Join(repo, "clab/l2/leafA/setup.sh"),
			},
			wantNodeExec: map[string][]string{
				"pe-kind-worker": {"sysctl -qw net.ipv6.conf.toswitch1.accept_ra=0", "sysctl -qw net.ipv6.conf.toswitch2.accept_ra=0", "ip addr add fd00:11::4/64 dev toswitch1 nodad"},
			},
			// Point to point to each node-facing leaf, no switch.
			wantHoming: []string{"leafkind1", "leafkind2"},
		},
		"large": {
			file:     "topologies/large.clab.yml",
			wantName: "large",
			wantRoles: map[Role][]string{
				RoleRouter:      {"leafA", "leafB", "leafkind1", "leafkind2", "spine1", "spine2"},
				RoleHost:        {"hostA_blue", "hostA_red", "hostB_blue", "hostB_red"},
				RoleBridge:      {"leafkind1-sw", "leafkind2-sw"},
				RoleCluster:     {"pe-kind"},
				RoleClusterNode: {"pe-kind-control-plane", "pe-kind-worker", "pe-kind-worker2", "pe-kind-worker3", "pe-kind-worker4"},
			},
			wantLinks: 24,
			wantSetup: map[string]string{
				"spine2": filepath.Join(repo, "clab/large/spine2/setup.sh"),
			},
			wantNodeExec: map[string][]string{
				"pe-kind-worker4": {"ip addr add 192.168.11.7/24 dev toswitch1", "ip addr add 192.168.12.7/24 dev toswitch2"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lab, err := Load(filepath.Join(repo, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if lab.Name != tc.wantName {
				t.Errorf("name = %q, want %q", lab.Name, tc.wantName)
			}
			gotRoles := map[Role][]string{}
			for _, n := range lab.Nodes {
				gotRoles[n.Role] = append(gotRoles[n.Role], n.Name)
			}
			if diff := cmp.Diff(tc.wantRoles, gotRoles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if len(lab.Links) != tc.wantLinks {
				t.Errorf("links = %d, want %d", len(lab.Links), tc.wantLinks)
			}
			for node, want := range tc.wantSetup {
				n, _ := lab.Node(node)
				if got := n.HostPath("/setup.sh"); got != want {
					t.Errorf("%s: /setup.sh comes from %q, want %q", node, got, want)
				}
				// The group's binds are inherited.
				if _, ok := n.Bind("/etc/frr/daemons"); !ok {
					t.Errorf("%s: group bind /etc/frr/daemons missing", node)
				}
			}
			for node, want := range tc.wantNodeExec {
				n, _ := lab.Node(node)
				if diff := cmp.Diff(want, n.Exec); diff != "" {
					t.Errorf("%s exec (-want +got):\n%s", node, diff)
				}
			}
			// Every cluster node is dual-homed: to both switches, or
			// straight to both node-facing leaves.
			homing := tc.wantHoming
			if homing == nil {
				homing = []string{"leafkind1-sw", "leafkind2-sw"}
			}
			for _, n := range lab.NodesWithRole(RoleClusterNode) {
				var peers []string
				for _, l := range lab.LinksOf(n.Name) {
					other := l.A
					if other.Node == n.Name {
						other = l.B
					}
					peers = append(peers, other.Node)
				}
				if diff := cmp.Diff(homing, peers); diff != "" {
					t.Errorf("%s is not dual-homed (-want +got):\n%s", n.Name, diff)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		yaml    string
		wantErr string
	}{
		"unknown top-level field": {
			yaml:    "name: x\nmgmt: {}\ntopology: {nodes: {a: {kind: bridge}}}\n",
			wantErr: `unknown field "mgmt"`,
		},
		"unknown node field": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i, ports: [1]}}}\n",
			wantErr: `unknown field "ports"`,
		},
		"unsupported kind": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: ceos, image: i}}}\n",
			wantErr: `topology.nodes.a.kind: "ceos" is not supported`,
		},
		"missing kind": {
			yaml:    "name: x\ntopology: {nodes: {a: {image: i}}}\n",
			wantErr: "topology.nodes.a.kind: missing",
		},
		"unknown group": {
			yaml:    "name: x\ntopology: {nodes: {a: {group: g}}}\n",
			wantErr: `topology.nodes.a.group: group "g" is not in topology.groups`,
		},
		"linux without image": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux}}}\n",
			wantErr: "topology.nodes.a.image: a linux node needs an image",
		},
		"bind to missing file": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i, binds: [nope.conf:/etc/frr/frr.conf]}}}\n",
			wantErr: "topology.nodes.a.binds[0]",
		},
		"link to unknown node": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i}}, links: [{endpoints: [a:eth1, b:eth1]}]}\n",
			wantErr: `topology.links[0].endpoints[1]: node "b" is not in topology.nodes`,
		},
		"interface name too long": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i}, b: {kind: linux, image: i}}, links: [{endpoints: [a:eth1, b:averyveryverylongname]}]}\n",
			wantErr: "not a valid Linux name of at most 15 characters",
		},
		"endpoint used twice": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i}, b: {kind: linux, image: i}}, links: [{endpoints: [a:eth1, b:eth1]}, {endpoints: [a:eth1, b:eth2]}]}\n",
			wantErr: "topology.links[1].endpoints[0]: a:eth1 is already used by topology.links[0]",
		},
		"three endpoints": {
			yaml:    "name: x\ntopology: {nodes: {a: {kind: linux, image: i}}, links: [{endpoints: [a:e1, a:e2, a:e3]}]}\n",
			wantErr: "topology.links[0].endpoints: want 2 endpoints, got 3",
		},
		"link to the cluster itself": {
			yaml:    "name: x\ntopology: {nodes: {k: {kind: k8s-kind}, a: {kind: linux, image: i}}, links: [{endpoints: [a:eth1, k:eth1]}]}\n",
			wantErr: `node "k" is a k8s-kind cluster`,
		},
		"bridge port names collide": {
			yaml:    "name: x\ntopology: {nodes: {s1: {kind: bridge}, s2: {kind: bridge}, a: {kind: linux, image: i}}, links: [{endpoints: [a:e1, s1:p]}, {endpoints: [a:e2, s2:p]}]}\n",
			wantErr: `bridge port name "p" is also used on bridge "s1"`,
		},
		"bad lab name": {
			yaml:    "name: 'a b'\ntopology: {nodes: {a: {kind: bridge}}}\n",
			wantErr: `name: "a b" is not a valid lab name`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), dir)
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseRoleAndPrecedence(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"group.conf", "node.conf", "daemons"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := `name: x
topology:
  kinds:
    linux: {image: kind-image, env: {A: kind, B: kind}}
  groups:
    g: {kind: linux, binds: [group.conf:/etc/frr/frr.conf, daemons:/etc/frr/daemons], exec: [group-exec], env: {B: group}}
  nodes:
    r: {group: g, binds: [node.conf:/etc/frr/frr.conf]}
    h: {kind: linux, image: own}
`
	lab, err := Parse([]byte(data), dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := lab.Node("r")
	want := Node{
		Name: "r", Kind: KindLinux, Role: RoleRouter, Image: "kind-image",
		Binds: []Bind{
			{Host: filepath.Join(dir, "node.conf"), Container: "/etc/frr/frr.conf"},
			{Host: filepath.Join(dir, "daemons"), Container: "/etc/frr/daemons"},
		},
		Exec: []string{"group-exec"},
		Env:  map[string]string{"A": "kind", "B": "group"},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("node r (-want +got):\n%s", diff)
	}
	h, _ := lab.Node("h")
	if h.Role != RoleHost || h.Image != "own" {
		t.Errorf("node h: role %q image %q, want host/own", h.Role, h.Image)
	}
}

func TestSplitCommand(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr bool
	}{
		"plain":         {in: "ip addr add 1.2.3.4/24 dev eth1", want: []string{"ip", "addr", "add", "1.2.3.4/24", "dev", "eth1"}},
		"double quotes": {in: `sh -c "echo a b"`, want: []string{"sh", "-c", "echo a b"}},
		"single quotes": {in: `sh -c 'x "y"'`, want: []string{"sh", "-c", `x "y"`}},
		"empty quotes":  {in: `a ''`, want: []string{"a", ""}},
		"extra spaces":  {in: "  a   b ", want: []string{"a", "b"}},
		"unterminated":  {in: `a "b`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := SplitCommand(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Every fabric FRR config must pass real FRR's parser, as containerlab
// and pesim both load it unchanged.
func TestRouterConfigsParseWithFRR(t *testing.T) {
	if _, err := exec.LookPath("vtysh"); err != nil {
		if testing.Short() {
			t.Skip("vtysh not installed; run without -short on a machine with FRR")
		}
		t.Fatalf("vtysh not found (apt-get install frr): %v", err)
	}
	files, err := filepath.Glob("../../topologies/*.clab.yml")
	if err != nil || len(files) < 4 {
		t.Fatalf("topologies: %v %v, want the repository's four at least", files, err)
	}
	for _, file := range files {
		lab, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range lab.NodesWithRole(RoleRouter) {
			b, _ := n.Bind(FRRConfigPath)
			t.Run(lab.Name+"/"+n.Name, func(t *testing.T) {
				if out, err := exec.Command("vtysh", "-C", "-f", b.Host).CombinedOutput(); err != nil {
					t.Errorf("%s: vtysh -C -f: %v\n%s", b.Host, err, out)
				}
			})
		}
	}
}

func TestAcross(t *testing.T) {
	lab := &Lab{Links: []Link{
		{A: Endpoint{"leaf", "lk-n1"}, B: Endpoint{"n1", "toswitch2"}},
		{A: Endpoint{"spine", "eth1"}, B: Endpoint{"leaf", "eth1"}},
	}}
	tests := map[string]struct {
		at     Endpoint
		want   Endpoint
		wantOK bool
	}{
		"from the A end":                   {at: Endpoint{"leaf", "lk-n1"}, want: Endpoint{"n1", "toswitch2"}, wantOK: true},
		"from the B end":                   {at: Endpoint{"leaf", "eth1"}, want: Endpoint{"spine", "eth1"}, wantOK: true},
		"no such link":                     {at: Endpoint{"leaf", "eth9"}},
		"name of a node, not an interface": {at: Endpoint{"leaf", "n1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := lab.Across(tc.at)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Across(%v) = %v, %v; want %v, %v", tc.at, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
