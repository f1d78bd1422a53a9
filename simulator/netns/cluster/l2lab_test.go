package cluster

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// TestL2Lab brings topologies/l2.clab.yml up natively with the real
// operator and the L2VNI of docs/examples/l2lab (VNI 110, no routing
// domain), then checks issue 16's L2 promises: every fabric leaf has the
// type-3 route of VNI 110 from every VTEP (both leaves and every cluster
// node), and a host on one node's host bridge (br-hs-110) reaches, over
// VXLAN, the hosts behind both fabric leaves on the same subnet. The lab
// needs no VRF device, which the test checks first: that is what lets it
// run on kernels without VRF support (like this project's machines).
func TestL2Lab(t *testing.T) {
	requireRootAndFRR(t)
	if _, err := k8sassets.Dir(); err != nil {
		t.Fatal(err)
	}
	repo := repoRoot()
	topo, err := topology.Load(filepath.Join(repo, "topologies/l2.clab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	manifests := []string{filepath.Join(repo, "docs/examples/lab/underlay.yaml"), filepath.Join(repo, "docs/examples/l2lab")}
	needs, err := VRFNeeds(topo, manifests, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(needs) > 0 {
		t.Fatalf("the L2 lab must need no VRF device, but:\n  %s", strings.Join(needs, "\n  "))
	}
	ctx, lab := upLab(t, topo, Options{Manifests: manifests})
	const vni = 110

	// Every VTEP of the lab: the leaves' and the nodes' (on the lo of
	// their namespace, the router namespace for nodes).
	want := map[string]bool{}
	leaves := lab.EVPNLeaves()
	if !slices.Equal(leaves, []string{"leafA", "leafB"}) {
		t.Fatalf("EVPN leaves = %v, want [leafA leafB]", leaves)
	}
	for _, leaf := range leaves {
		addr, err := lab.InterfaceAddr(ctx, lab.Namespace(leaf), "lo")
		if err != nil {
			t.Fatal(err)
		}
		want[addr.String()] = true
	}
	nodes := lab.Topo.NodesWithRole(topology.RoleClusterNode)
	g := gomega.NewWithT(t)
	for _, n := range nodes {
		g.Eventually(func() error {
			addr, err := lab.InterfaceAddr(ctx, lab.RouterNamespace(n.Name), "lo")
			if err == nil {
				want[addr.String()] = true
			}
			return err
		}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(gomega.Succeed(), func() string {
			return fmt.Sprintf("node %s: no VTEP on the router namespace's lo\n%s", n.Name, nodeLogs(lab, n.Name))
		})
	}
	if len(want) != len(leaves)+len(nodes) {
		t.Fatalf("VTEPs %v: want %d distinct ones", slices.Sorted(maps.Keys(want)), len(leaves)+len(nodes))
	}
	for _, leaf := range leaves {
		g.Eventually(func() ([]string, error) {
			got, err := lab.Type3VTEPs(ctx, leaf, vni)
			return slices.Sorted(maps.Keys(got)), err
		}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(gomega.Equal(slices.Sorted(maps.Keys(want))), func() string {
			return fmt.Sprintf("%s: type-3 routes of VNI %d, want one from every VTEP\n%s", leaf, vni, nodeLogs(lab, nodes[0].Name))
		})
	}

	// The datapath: a host namespace of our own on the first node's host
	// bridge, in the segment's subnet, pings the hosts behind the leaves.
	node := nodes[0].Name
	hostNS := lab.Namespace(node) + "-l2h"
	if err := nsexec.Add(ctx, hostNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsexec.Delete(context.Background(), hostNS); err != nil {
			t.Errorf("deleting %s: %v", hostNS, err)
		}
	})
	bridge := fmt.Sprintf("br-hs-%d", vni)
	g.Eventually(func() (string, error) {
		return nsexec.Run(ctx, lab.Namespace(node), "ip", "-o", "link", "show", bridge)
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(gomega.ContainSubstring(bridge), "node %s: host bridge %s missing", node, bridge)
	for _, step := range [][]string{
		{lab.Namespace(node), "ip", "link", "add", "l2h", "type", "veth", "peer", "name", "eth0", "netns", hostNS},
		{lab.Namespace(node), "ip", "link", "set", "l2h", "master", bridge, "up"},
		{hostNS, "ip", "link", "set", "lo", "up"},
		{hostNS, "ip", "addr", "add", "192.168.30.101/24", "dev", "eth0"},
		{hostNS, "ip", "link", "set", "eth0", "up"},
	} {
		if out, err := nsexec.Run(ctx, step[0], step[1:]...); err != nil {
			t.Fatalf("%s: %v: %v\n%s", step[0], step[1:], err, out)
		}
	}
	hosts, err := lab.L2Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 {
		t.Fatalf("L2 hosts = %+v, want hostA_l2 and hostB_l2", hosts)
	}
	for _, h := range hosts {
		g.Eventually(func() error {
			out, err := nsexec.Run(ctx, hostNS, "ping", "-c1", "-W1", h.Address.String())
			if err != nil {
				return fmt.Errorf("%w\n%s", err, out)
			}
			return nil
		}).WithTimeout(time.Minute).WithPolling(500*time.Millisecond).Should(gomega.Succeed(),
			"a host on %s's %s cannot reach %s (%s, behind %s) over VXLAN", node, bridge, h.Node, h.Address, h.Leaf)
	}
}

// requireRootAndFRR skips, saying why, where the lab cannot run: without
// root (network namespaces) or without Debian's FRR; and with -short.
func requireRootAndFRR(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: brings a whole lab up (root, FRR, the Kubernetes test binaries)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and starts FRR daemons")
	}
	for _, p := range []string{filepath.Join(frrproc.DefaultBinDir, "zebra"), frrproc.DefaultVtysh} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs FRR (%v): apt-get install -y frr frr-pythontools", err)
		}
	}
}

// upLab builds the operator and brings topo up natively under a temporary
// state root with agents made from o; Down runs at cleanup, and a check
// that no namespace of the lab is left.
func upLab(t *testing.T, topo *topology.Lab, o Options) (context.Context, *netns.Lab) {
	t.Helper()
	repo := repoRoot()
	o.BinDir = buildOperator(t, repo)
	o.CRDDir = filepath.Join(repo, "operator/config/crd/bases")
	root, err := os.MkdirTemp("", "pesim-l2-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	var progress strings.Builder
	opts := netns.Options{StateRoot: root, Progress: &progress, Agents: New(o)}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	lab, err := netns.Up(ctx, topo, opts)
	t.Cleanup(func() {
		if err := netns.New(topo, opts).Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
		for _, n := range topo.Nodes {
			if _, err := os.Stat(filepath.Join("/run/netns", lab.Namespace(n.Name))); err == nil {
				t.Errorf("namespace %s survived down", lab.Namespace(n.Name))
			}
		}
	})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	return ctx, lab
}

func nodeLogs(lab *netns.Lab, node string) string {
	return "controller log (tail):\n" + tail(readFile(filepath.Join(lab.NodeDir(node), "controller.log")), 3000) +
		"\nreloader log (tail):\n" + tail(readFile(filepath.Join(lab.NodeDir(node), "reloader.log")), 1500)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
