package frr

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nodeconfig"
)

// TestGracefulRestartKeepsEVPNRoutesInRealFRR runs a node's config with
// graceful restart (rendered from the golden cases' underlay and leaf
// peer) against the lab's node-facing leaf (clab/default/leafkind1, as
// the labs run it), SIGKILLs every daemon of the node, and checks what the
// leaf keeps: the node's VTEP route stays, stale, on every FRR; its EVPN
// type-2 and type-3 routes stay, stale, only from FRR 10.6 on (8.4 and
// 10.3 withdraw them at once, so the fabric loses the node's workloads for
// the whole restart: why the router image ships FRR 10.7). Then the node's
// daemons start again and the session must be back within reconnectBound.
// With the node only in the leaf's listen range (the lab's config before),
// FRR 10.7 refused the node's new connection ("Received an open connection
// for a peering ... that we have not fully closed down yet") until the
// restart timer deleted the dynamic peer, and never connected out to it:
// the session was not back after 150 s. It runs on the host's FRR and on
// the FRR root file system's (PEROUTER_FRR10_ROOT, the image's FRR).
func TestGracefulRestartKeepsEVPNRoutesInRealFRR(t *testing.T) {
	requireVtysh(t)
	requireFRRDaemons(t)
	c := node(underlay())
	c.Underlay.GracefulRestart = &nodeconfig.GracefulRestart{RestartTime: nodeconfig.DefaultRestartTime, StalePathTime: nodeconfig.DefaultStalePathTime}
	nodeConf, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	// pe: a second node of the same cluster (index 2), whose workload
	// pings the node's through the restart.
	pe := node(underlay())
	pe.NodeName, pe.NodeIndex = "worker-2", 2
	pe.Underlay.RouterID, pe.Underlay.VTEPs = addr("10.0.0.3"), []netip.Prefix{pfx("100.65.0.2/32")}
	pe.Underlay.GracefulRestart = c.Underlay.GracefulRestart
	peConf, err := Render(pe)
	if err != nil {
		t.Fatal(err)
	}
	leafConf, err := os.ReadFile("../../clab/default/leafkind1/frr.conf")
	if err != nil {
		t.Fatal(err)
	}
	leaf := string(leafConf) + "debug bgp neighbor-events\n"
	roots := map[string]string{"host": ""}
	if r := os.Getenv("PEROUTER_FRR10_ROOT"); r != "" {
		roots["root"] = r
	} else {
		t.Log("PEROUTER_FRR10_ROOT is unset: only the host's FRR runs (make test-unit sets it)")
	}
	for name, root := range roots {
		t.Run(name, func(t *testing.T) {
			// The daemons run as user frr: not under t.TempDir's private parent.
			base := os.TempDir()
			if root != "" {
				base = filepath.Join(root, "tmp")
			}
			work, err := os.MkdirTemp(base, "perouter-frr-gr-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(work)
			if err := os.Chmod(work, 0o755); err != nil {
				t.Fatal(err)
			}
			for f, text := range map[string]string{"node.conf": nodeConf, "pe.conf": peConf, "leaf.conf": leaf} {
				if err := os.WriteFile(filepath.Join(work, f), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sections, out := runFabricScriptIn(t, root, work, "graceful-restart.sh")
			version := strings.TrimSpace(sections["version"])
			t.Log(version)
			for _, l := range strings.Split(sections["setup"], "\n") {
				if strings.Contains(l, "%") {
					t.Errorf("FRR complained while loading the configs: %s", l)
				}
			}
			routes := map[string]*regexp.Regexp{
				"type-3 of VTEP 100.65.0.1":   regexp.MustCompile(`(?m)^\s*(\S*)\s*\[3\]:\[0\]:\[32\]:\[100\.65\.0\.1\]`),
				"type-2 of 02:00:00:00:01:10": regexp.MustCompile(`(?m)^\s*(\S*)\s*\[2\]:\[0\]:\[48\]:\[02:00:00:00:01:10\]`),
			}
			for what, re := range routes {
				if !re.MatchString(sections["before"]) {
					t.Fatalf("the leaf never learnt the node's %s:\n%s", what, out)
				}
				m := re.FindStringSubmatch(sections["after kill"])
				switch {
				case atLeast(version, 10, 6) && (m == nil || !strings.Contains(m[1], "S")):
					t.Errorf("%s: after the node's daemons died the leaf has its %s as %q, want it kept stale (S)\n%s", version, what, m, sections["after kill"])
				case !atLeast(version, 10, 6) && m != nil:
					t.Errorf("%s keeps the node's %s over a restart (%q): FRR < 10.6 was measured withdrawing it; update this test and docs/e2e.md", version, what, m)
				}
			}
			if !regexp.MustCompile(`(?i)\(stale\)|\bstale\b`).MatchString(sections["after kill"]) {
				t.Errorf("%s: the leaf did not keep the node's VTEP route 100.65.0.1/32 stale:\n%s", version, sections["after kill"])
			}
			pings := regexp.MustCompile(`answered up to (\d+), missing (\d+):`).FindStringSubmatch(sections["ping"])
			if pings == nil {
				t.Fatalf("%s: no ping statistics:\n%s", version, out)
			}
			sent, _ := strconv.Atoi(pings[1])
			lost, _ := strconv.Atoi(pings[2])
			t.Logf("%s: pings from pe's workload to the node's, 20/s, through the kill and restart: %d of %d lost", version, lost, sent)
			if atLeast(version, 10, 6) && lost > maxLostWithHelper {
				t.Errorf("%s: %d of %d pings lost through the node's restart, want at most %d (the leaf kept the routes stale)\n%s", version, lost, sent, maxLostWithHelper, sections["ping"])
			}
			re := regexp.MustCompile(`established after (\d+) s`).FindStringSubmatch(sections["reconnect"])
			if re == nil {
				t.Fatalf("%s: the node's session did not come back within 150 s\n%s", version, out)
			}
			secs, _ := strconv.Atoi(re[1])
			t.Logf("%s: session back %d s after the node's daemons started again", version, secs)
			if secs > reconnectBound {
				t.Errorf("%s: the node's session took %d s to come back, want <= %d s\n%s", version, secs, reconnectBound, out)
			}
		})
	}
}

// maxLostWithHelper: pings (20/s) lost through the node's restart when the
// leaf keeps its EVPN routes. 2 of 409 were lost here, seq 301-302: one
// 100 ms gap some 15 s in, when the session came back and the routes were
// installed anew; 8.4 as helper lost 239 of 338.
const maxLostWithHelper = 4

// reconnectBound: the node's session is back this soon after its daemons
// start again: 7–14 s measured under load; the defect it guards against
// (a helper refusing the node until its restart timer ends) took 79–150 s.
const reconnectBound = 30

// atLeast reports whether the "bgpd version X.Y..." line names FRR >= major.minor.
func atLeast(versionLine string, major, minor int) bool {
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(versionLine)
	if m == nil {
		return false
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a > major || a == major && b >= minor
}
