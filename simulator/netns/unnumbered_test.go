package netns

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/frrproc/frrproctest"
)

// A topology the repository does not ship, written here and brought up:
// two routers peering unnumbered over their IPv6 link-locals, r2's IPv4
// loopback reaching r1 with an IPv6 next hop (RFC 8950), and r1 with an
// unnumbered session towards a cluster node whose router the cluster
// would start. Up must wait for the first (the fabric's own) and not for
// the second: before, it waited for every configured session and failed
// after 2 minutes.
func TestUpWithUnnumberedSessions(t *testing.T) {
	frrproctest.RequireFRR(t)
	// Not t.TempDir: FRR (user frr) reads the configs.
	dir, err := os.MkdirTemp("", "pesim-unnumbered-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "r1.conf"), `hostname r1
router bgp 65001
 bgp router-id 10.99.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor eth1 interface remote-as external
 neighbor eth1 timers connect 2
 neighbor tonode interface remote-as external
 address-family ipv4 unicast
  network 10.99.0.1/32
  neighbor eth1 activate
  neighbor tonode activate
 exit-address-family
exit
`)
	writeFile(t, filepath.Join(dir, "r2.conf"), `hostname r2
router bgp 65002
 bgp router-id 10.99.0.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor eth1 interface remote-as external
 neighbor eth1 timers connect 2
 address-family ipv4 unicast
  network 10.99.0.2/32
  neighbor eth1 activate
 exit-address-family
exit
`)
	writeFile(t, filepath.Join(dir, "unnumbered.clab.yml"), `name: pesimv6
topology:
  nodes:
    r1:
      kind: linux
      image: quay.io/frrouting/frr:8.4.0
      binds:
        - r1.conf:/etc/frr/frr.conf
      exec:
        - ip addr add 10.99.0.1/32 dev lo
        - sysctl -qw net.ipv4.ip_forward=1
    r2:
      kind: linux
      image: quay.io/frrouting/frr:8.4.0
      binds:
        - r2.conf:/etc/frr/frr.conf
      exec:
        - ip addr add 10.99.0.2/32 dev lo
    k:
      kind: k8s-kind
    k-worker:
      kind: ext-container
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r1:tonode", "k-worker:toswitch1"]
`)
	start := time.Now()
	lab := startLab(t, filepath.Join(dir, "unnumbered.clab.yml"))
	t.Logf("up in %v", time.Since(start).Round(100*time.Millisecond))
	ctx := context.Background()

	peers, err := lab.BGPPeers(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, p := range peers {
		state[p.Address] = p.State
	}
	if state["eth1"] != "Established" {
		t.Errorf("r1's unnumbered session with r2 is %q after up, want Established (peers %+v)", state["eth1"], peers)
	}
	if state["tonode"] == "Established" {
		t.Errorf("r1's session towards the cluster node is Established with no router there (peers %+v)", peers)
	}
	// r2's loopback reaches r1 over IPv6 next hops, and answers.
	gomega.NewWithT(t).Eventually(func() string {
		out, _ := lab.Vtysh(ctx, "r1", "show ip route 10.99.0.2/32 json")
		return strings.Join(strings.Fields(out), "")
	}).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(gomega.And(
		gomega.ContainSubstring(`"afi":"ipv6"`), gomega.ContainSubstring(`"fib":true`)))
	// The route in the FIB is not yet forwarding: the first packets wait
	// for the neighbour entry of r2's link-local next hop, and under load
	// a single ping was lost (simulator/netns failed once in 4 runs).
	var out string
	gomega.NewWithT(t).Eventually(func() error {
		var err error
		out, err = lab.Exec(ctx, "r1", "ping", "-c1", "-W1", "-I", "10.99.0.1", "10.99.0.2")
		return err
	}).WithTimeout(10*time.Second).WithPolling(200*time.Millisecond).Should(gomega.Succeed(),
		func() string { return "r1 pings r2's loopback over the IPv6 next hop: " + out })
}
