package hostnet

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/vishvananda/netns"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/nsexec"
)

// CNIDevice underlay links made by Debian's CNI plugins (macvlan with
// static or host-local IPAM) in the router netns. macvlan needs no VRF:
// these run on the host kernel.

// debianCNIPlugins is where Debian's containernetworking-plugins put the
// plugins.
const debianCNIPlugins = "/usr/lib/cni"

func requireCNIPlugins(tb testing.TB, plugins ...string) {
	tb.Helper()
	for _, p := range plugins {
		if _, err := os.Stat(filepath.Join(debianCNIPlugins, p)); err != nil {
			tb.Skipf("needs Debian's containernetworking-plugins (%s): %v", p, err)
		}
	}
}

// withCNI gives e a Manager that runs CNI plugins with the libcni cache in
// cacheDir, as a controller (re)started on the node would.
func (e *env) withCNI(cacheDir string) {
	e.withCNIOptions(CNIOptions{CacheDir: cacheDir}, logr.Discard())
}

// withCNIOptions is withCNI with more options (Debian's plugin directory
// and the container ID are filled in).
func (e *env) withCNIOptions(o CNIOptions, log logr.Logger) {
	e.tb.Helper()
	e.m.Close()
	o.PluginDirs, o.ContainerID = []string{debianCNIPlugins}, "test-node"
	e.m = NewManager(Options{RouterNetns: e.router, HostNetns: e.host, StateDir: e.stateDir, Logger: log, CNI: o})
	e.tb.Cleanup(e.m.Close)
	e.tb.Cleanup(e.m.StopDHCPDaemon)
}

func cniPlan(e *env, links ...CNIInterface) Plan {
	var c nodeconfig.Config
	if len(links) > 0 {
		u := &nodeconfig.Underlay{}
		for _, l := range links {
			u.CNIInterfaces = append(u.CNIInterfaces, nodeconfig.CNIInterface{Name: l.Name, Config: l.Config, RuntimeConfig: l.RuntimeConfig})
		}
		c.Underlay = u
	}
	return e.planFor(c)
}

func macvlanStatic(master, addr string) []byte {
	return []byte(`{"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "macvlan", "master": "` + master +
		`", "mode": "bridge", "ipam": {"type": "static", "addresses": [{"address": "` + addr + `"}]}}]}`)
}

// changesOf renders the changes to the link name as "action netns kind
// name" for comparison (a new router netns also gets its sysctls and lo).
func changesOf(ch Changes, name string) []string {
	var out []string
	for _, c := range ch {
		if c.Name == name {
			out = append(out, string(c.Action)+" "+c.Netns+" "+c.Kind+" "+c.Name)
		}
	}
	return out
}

func (e *env) cachedCNI(cacheDir string) []string {
	e.tb.Helper()
	entries, err := os.ReadDir(filepath.Join(cacheDir, "results"))
	if err != nil && !os.IsNotExist(err) {
		e.tb.Fatal(err)
	}
	var out []string
	for _, d := range entries {
		out = append(out, d.Name())
	}
	return out
}

// ping sends one ping from the router netns and fails the test when no
// answer comes.
func (e *env) pingFromRouter(dst string) {
	e.tb.Helper()
	if out, err := nsexec.Run(context.Background(), e.router, "ping", "-c", "1", "-W", "2", dst); err != nil {
		e.tb.Fatalf("ping %s from the router netns: %v\n%s", dst, err, out)
	}
}

func TestCNIUnderlay(t *testing.T) {
	requireCNIPlugins(t, "macvlan", "static")
	e := newEnv(t)
	// The node's only NIC: the macvlan's master. Its peer plays the leaf.
	e.addFakeNIC("eth0", 1500)
	leaf := e.link(e.hostH, "eth0-peer")
	if err := e.hostH.AddrAdd(leaf, addrOf(netip.MustParsePrefix("192.168.11.1/24"))); err != nil {
		t.Fatal(err)
	}
	if err := e.hostH.LinkSetUp(leaf); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	e.withCNI(cache)
	want := CNIInterface{Name: "net1", Config: macvlanStatic("eth0", "192.168.11.3/24")}
	p := cniPlan(e, want)

	// ADD makes the link in the router netns, with its address, up.
	if diff := cmp.Diff([]string{"created router macvlan net1"}, changesOf(e.apply(p), "net1")); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}
	l := e.link(e.routerH(), "net1")
	if l.Type() != "macvlan" || !isUp(l) {
		t.Errorf("net1 is a %s, up=%v; want an up macvlan", l.Type(), isUp(l))
	}
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("192.168.11.3/24")}, e.addrs(e.routerH(), "net1"), equateIP); diff != "" {
		t.Errorf("net1's addresses (-want +got):\n%s", diff)
	}
	e.pingFromRouter("192.168.11.1") // over the host's NIC, which stayed in the host netns
	e.link(e.hostH, "eth0")
	if got := e.cachedCNI(cache); len(got) != 1 {
		t.Errorf("libcni cache holds %v, want one result", got)
	}

	// Re-reconcile: no plugin runs, nothing changes.
	execs := e.m.cni.execs.Load()
	e.requireNoop(p)
	if n := e.m.cni.execs.Load() - execs; n != 0 {
		t.Errorf("re-reconciling ran %d CNI plugins, want none", n)
	}

	// A controller restarted: a new Manager on the same cache. Its first
	// pass CHECKs the link (the plugins pass), changes nothing.
	e.withCNI(cache)
	if ch := e.apply(p); len(ch) != 0 {
		t.Errorf("first pass after a restart changed things:\n%s", ch)
	}
	if n := e.m.cni.execs.Load(); n != 1 {
		t.Errorf("first pass after a restart ran %d CNI plugins, want 1 (CHECK of macvlan, which runs static itself)", n)
	}
	e.requireNoop(p)
	if n := e.m.cni.execs.Load(); n != 1 {
		t.Errorf("passes after the CHECK ran %d CNI plugins in all, want the CHECK's 1 only", n)
	}

	// Drift found by CHECK after a restart: the address went away. The
	// link is deleted (DEL with the cached config) and added again.
	if err := e.routerH().AddrDel(e.link(e.routerH(), "net1"), addrOf(netip.MustParsePrefix("192.168.11.3/24"))); err != nil {
		t.Fatal(err)
	}
	e.withCNI(cache)
	if diff := cmp.Diff([]string{"deleted router macvlan net1", "created router macvlan net1"}, changesOf(e.apply(p), "net1")); diff != "" {
		t.Errorf("pass after drift (-want +got):\n%s", diff)
	}
	e.pingFromRouter("192.168.11.1")

	// The router netns deleted and created again (router pod restarted):
	// the link went with it; the cache entry is deleted, the link added.
	if err := deleteNamedNetns(netnsPath(e.router)); err != nil {
		t.Fatal(err)
	}
	routerHandles.Delete(e.router)
	if diff := cmp.Diff([]string{"deleted router cni link net1", "created router macvlan net1"}, changesOf(e.apply(p), "net1")); diff != "" {
		t.Errorf("pass in a new router netns (-want +got):\n%s", diff)
	}
	e.pingFromRouter("192.168.11.1")

	// A changed config replaces the link.
	want.Config = macvlanStatic("eth0", "192.168.11.4/24")
	p = cniPlan(e, want)
	if diff := cmp.Diff([]string{"deleted router macvlan net1", "created router macvlan net1"}, changesOf(e.apply(p), "net1")); diff != "" {
		t.Errorf("pass with a changed config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("192.168.11.4/24")}, e.addrs(e.routerH(), "net1"), equateIP); diff != "" {
		t.Errorf("net1's addresses after the change (-want +got):\n%s", diff)
	}
	e.requireNoop(p)

	// Removal, by a restarted controller: DEL with the cached config.
	e.withCNI(cache)
	if diff := cmp.Diff([]string{"deleted router macvlan net1"}, changesOf(e.apply(cniPlan(e)), "net1")); diff != "" {
		t.Errorf("removal (-want +got):\n%s", diff)
	}
	e.noLink(e.routerH(), "net1")
	e.link(e.hostH, "eth0")
	if got := e.cachedCNI(cache); len(got) != 0 {
		t.Errorf("libcni cache still holds %v after the removal", got)
	}
}

// TestCNIUnderlayHostLocal: host-local IPAM keeps its reservation in its
// dataDir (on the node in the chart, see docs/datapath.md); a restarted
// controller's DEL releases it.
func TestCNIUnderlayHostLocal(t *testing.T) {
	requireCNIPlugins(t, "macvlan", "host-local")
	e := newEnv(t)
	e.addFakeNIC("eth0", 1500)
	cache, data := t.TempDir(), t.TempDir()
	e.withCNI(cache)
	p := cniPlan(e, CNIInterface{Name: "uplink", Config: []byte(`{"cniVersion": "1.0.0", "name": "hl", "plugins": [{"type": "macvlan", "master": "eth0",
		"ipam": {"type": "host-local", "dataDir": "` + data + `", "ranges": [[{"subnet": "192.168.12.0/24", "rangeStart": "192.168.12.10", "rangeEnd": "192.168.12.20"}]]}}]}`)})
	e.apply(p)
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("192.168.12.10/24")}, e.addrs(e.routerH(), "uplink"), equateIP); diff != "" {
		t.Errorf("uplink's addresses (-want +got):\n%s", diff)
	}
	reservation := filepath.Join(data, "hl", "192.168.12.10")
	b, err := os.ReadFile(reservation)
	if err != nil {
		t.Fatalf("host-local's reservation: %v", err)
	}
	if !strings.HasPrefix(string(b), "test-node") {
		t.Errorf("reservation %s holds %q, want the container ID test-node", reservation, b)
	}
	e.withCNI(cache)
	e.apply(cniPlan(e))
	e.noLink(e.routerH(), "uplink")
	if _, err := os.Stat(reservation); !os.IsNotExist(err) {
		t.Errorf("reservation %s after the removal: %v, want it gone", reservation, err)
	}
}

// TestCNIUnderlayFailedAdd: a plugin that fails leaves nothing behind (the
// ADD is followed by a DEL) and the error names the interface.
func TestCNIUnderlayFailedAdd(t *testing.T) {
	requireCNIPlugins(t, "macvlan", "static")
	e := newEnv(t)
	cache := t.TempDir()
	e.withCNI(cache)
	tests := map[string]struct {
		config []byte
		want   string
	}{
		"missing master": {config: macvlanStatic("eth9", "192.168.11.3/24"), want: `CNI ADD of underlay interface net1 (network underlay) in router netns`},
		"unknown plugin": {config: []byte(`{"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "nosuchplugin"}]}`), want: `failed to find plugin "nosuchplugin"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := e.m.Prepare(context.Background(), cniPlan(e, CNIInterface{Name: "net1", Config: tc.config}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prepare: %v, want an error with %q", err, tc.want)
			}
			e.noLink(e.routerH(), "net1")
			if got := e.cachedCNI(cache); len(got) != 0 {
				t.Errorf("libcni cache holds %v after a failed ADD", got)
			}
		})
	}
}

// TestCNIUnderlayDHCP: dhcp IPAM against a real DHCP server (busybox
// udhcpd in a namespace behind the node's NIC, 6-second leases). The
// Manager starts the CNI dhcp daemon, which gets the lease and renews it;
// after a controller restart (daemon stopped, a new Manager) the first
// pass's CHECK hands the lease to the new daemon, which renews it again.
func TestCNIUnderlayDHCP(t *testing.T) {
	requireCNIPlugins(t, "macvlan", "dhcp")
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox's udhcpd as the DHCP server")
	}
	e := newEnv(t)
	e.addFakeNIC("eth0", 1500)
	// The DHCP server's namespace, behind the NIC's peer.
	srv := uniqueNetnsName("dhcp")
	if err := createNamedNetns(netnsPath(srv)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNamedNetns(netnsPath(srv)); err != nil {
			t.Errorf("delete dhcp server netns: %v", err)
		}
	})
	fd, err := netns.GetFromPath(netnsPath(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := e.hostH.LinkSetNsFd(e.link(e.hostH, "eth0-peer"), int(fd)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cmd := range [][]string{{"ip", "addr", "add", "192.168.13.1/24", "dev", "eth0-peer"}, {"ip", "link", "set", "eth0-peer", "up"}} {
		if out, err := nsexec.Run(ctx, srv, cmd...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	if err := os.WriteFile(conf, []byte("start 192.168.13.100\nend 192.168.13.110\ninterface eth0-peer\nlease_file "+dir+"/leases\npidfile "+dir+"/pid\nmin_lease 6\nopt subnet 255.255.255.0\nopt lease 6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serverLog := gbytes.NewBuffer()
	server := nsexec.Command(ctx, srv, "busybox", "udhcpd", "-f", conf)
	server.Stdout, server.Stderr = serverLog, serverLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	acks := func() int { return strings.Count(string(serverLog.Contents()), "sending ACK to 192.168.13.") }
	g := gomega.NewWithT(t)

	cache := t.TempDir()
	opts := CNIOptions{CacheDir: cache, DHCPSocket: filepath.Join(dir, "dhcp.sock")}
	e.withCNIOptions(opts, logr.Discard())
	// The config names no daemon socket, as users write it: the
	// controller points it at its own daemon, which does not listen on
	// the plugin's default here.
	p := cniPlan(e, CNIInterface{Name: "net1", Config: []byte(`{"cniVersion": "1.0.0", "name": "dhcp-underlay", "plugins": [{"type": "macvlan", "master": "eth0",
		"ipam": {"type": "dhcp"}}]}`)})
	if diff := cmp.Diff([]string{"created router macvlan net1"}, changesOf(e.apply(p), "net1")); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}
	addrs := e.addrs(e.routerH(), "net1")
	if len(addrs) != 1 || !netip.MustParsePrefix("192.168.13.0/24").Contains(addrs[0].Addr()) || addrs[0].Bits() != 24 {
		t.Fatalf("net1's addresses %v, want one lease from 192.168.13.100-110/24", addrs)
	}
	e.pingFromRouter("192.168.13.1")
	// Renewed: the server ACKs again, every ~3 s (half the lease).
	first := acks()
	g.Eventually(acks).WithTimeout(15*time.Second).WithPolling(200*time.Millisecond).Should(gomega.BeNumerically(">=", first+2), "the daemon renews the lease; server log:\n%s", serverLog.Contents())
	e.requireNoop(p)

	// A controller restart: the daemon dies with it. The new Manager's
	// first pass CHECKs the link, which gives the new daemon the lease;
	// the renewals go on and the address stays.
	e.m.StopDHCPDaemon()
	e.withCNIOptions(opts, logr.Discard())
	if ch := e.apply(p); len(ch) != 0 {
		t.Errorf("first pass after a restart changed things:\n%s", ch)
	}
	after := acks()
	g.Eventually(acks).WithTimeout(15*time.Second).WithPolling(200*time.Millisecond).Should(gomega.BeNumerically(">=", after+2), "the new daemon renews the lease; server log:\n%s", serverLog.Contents())
	if got := e.addrs(e.routerH(), "net1"); !slices.Equal(got, addrs) {
		t.Errorf("net1's addresses after the restart %v, want %v", got, addrs)
	}
	e.pingFromRouter("192.168.13.1")

	// Removal: DEL releases the lease.
	if diff := cmp.Diff([]string{"deleted router macvlan net1"}, changesOf(e.apply(cniPlan(e)), "net1")); diff != "" {
		t.Errorf("removal (-want +got):\n%s", diff)
	}
	e.noLink(e.routerH(), "net1")
}
