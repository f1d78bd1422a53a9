package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/vtysh"
)

// Deadlines. The VM lane (TCG, one vCPU, often on a shared host) is the
// slow case they are sized for.
const (
	convergeTimeout = 3 * time.Minute
	poll            = time.Second
)

const operatorNamespace = "perouter-system"

// nodeIndex reads the index the labeler gave a node.
func nodeIndex(ctx context.Context, node string) (int, error) {
	var n corev1.Node
	if err := env.Kube().Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
		return 0, err
	}
	v, ok := n.Labels[v1alpha1.NodeIndexLabel]
	if !ok {
		return 0, fmt.Errorf("Node %s: label %s not set yet", node, v1alpha1.NodeIndexLabel)
	}
	return strconv.Atoi(v)
}

func eventuallyNodeIndex(ctx context.Context, node string) int {
	var idx int
	Eventually(func() error {
		var err error
		idx, err = nodeIndex(ctx, node)
		return err
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	return idx
}

// underlay returns the lab's only Underlay.
func underlay(ctx context.Context) v1alpha1.Underlay {
	var list v1alpha1.UnderlayList
	Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
	Expect(list.Items).To(HaveLen(1), "the lab applies exactly one Underlay")
	return list.Items[0]
}

func l3vnis(ctx context.Context) []v1alpha1.L3VNI {
	var list v1alpha1.L3VNIList
	Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.VNI < list.Items[j].Spec.VNI })
	return list.Items
}

// nodeVTEP is the VTEP ipam gives the node at its current index, from
// the Underlay that selects it (labs with one Underlay per kind of node,
// as the single-NIC lab, have several).
func nodeVTEP(ctx context.Context, node string) netip.Addr {
	GinkgoHelper()
	var list v1alpha1.UnderlayList
	Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
	var obj corev1.Node
	Expect(env.Kube().Get(ctx, client.ObjectKey{Name: node}, &obj)).To(Succeed())
	var u v1alpha1.Underlay
	for _, item := range list.Items {
		if objects.Selects(item.Spec.NodeSelector, obj.Labels) {
			u = item
		}
	}
	Expect(u.Spec.TunnelEndpoint).NotTo(BeNil(), "no Underlay with a tunnelEndpoint selects node %s", node)
	pool := netip.MustParsePrefix(u.Spec.TunnelEndpoint.CIDRs[0])
	vtep, err := ipam.VTEP(pool, eventuallyNodeIndex(ctx, node))
	Expect(err).NotTo(HaveOccurred())
	return vtep.Addr()
}

// hostSession returns the router and host addresses of a node's session
// in one L3VNI.
func hostSession(ctx context.Context, vni v1alpha1.L3VNI, node string) (router, host netip.Prefix) {
	Expect(vni.Spec.HostSession).NotTo(BeNil(), "L3VNI %s/%s has no hostSession", vni.Namespace, vni.Name)
	return sessionAddrs(ctx, *vni.Spec.HostSession, node)
}

// hostSession6 returns the router and host addresses of a node's IPv6
// session in a dual-stack L3VNI.
func hostSession6(ctx context.Context, vni v1alpha1.L3VNI, node string) (router, host netip.Prefix) {
	Expect(dualStack(vni)).To(BeTrue(), "L3VNI %s/%s has no IPv6 localCIDR", vni.Namespace, vni.Name)
	cidr := netip.MustParsePrefix(vni.Spec.HostSession.LocalCIDR.IPv6)
	router, host, err := ipam.HostSession(cidr, eventuallyNodeIndex(ctx, node))
	Expect(err).NotTo(HaveOccurred())
	return router, host
}

// sessionAddrs are a node's router-side and host-side addresses of a host
// session (IPv4).
func sessionAddrs(ctx context.Context, hs v1alpha1.HostSession, node string) (router, host netip.Prefix) {
	cidr := netip.MustParsePrefix(hs.LocalCIDR.IPv4)
	router, host, err := ipam.HostSession(cidr, eventuallyNodeIndex(ctx, node))
	Expect(err).NotTo(HaveOccurred())
	return router, host
}

// bgpPeers parses "show bgp [vrf X] summary json" into address -> state.
func bgpPeers(ctx context.Context, node, vrf string) (map[string]string, error) {
	cmd := "show bgp summary json"
	if vrf != "" {
		cmd = "show bgp vrf " + vrf + " summary json"
	}
	out, err := env.Vtysh(ctx, node, cmd)
	if err != nil {
		return nil, err
	}
	parsed, err := vtysh.ParseBGPSummary([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", node, cmd, err)
	}
	peers := map[string]string{}
	for _, p := range parsed {
		peers[p.Address] = p.State
	}
	return peers, nil
}

// type5Routes reads a router's EVPN type-5 paths.
func type5Routes(ctx context.Context, router string) ([]vtysh.EVPNRoute, error) {
	return evpnRoutes(ctx, router, "prefix")
}

// evpnRoutes reads a router's EVPN paths of one type, by FRR's name for
// it ("prefix", "multicast", "macip").
func evpnRoutes(ctx context.Context, router, routeType string) ([]vtysh.EVPNRoute, error) {
	out, err := env.Vtysh(ctx, router, "show bgp l2vpn evpn route type "+routeType+" json")
	if err != nil {
		return nil, err
	}
	routes, err := vtysh.ParseEVPN([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", router, err)
	}
	return routes, nil
}

// type5Prefix renders a prefix the way FRR keys type-5 routes.
func type5Prefix(p netip.Prefix) string {
	return fmt.Sprintf("[5]:[0]:[%d]:[%s]", p.Bits(), p.Addr())
}

// vrfRoutes lists the prefixes in a VRF's kernel-facing RIB of a router.
func vrfRoutes(ctx context.Context, node, vrf string) (map[string]bool, error) {
	return jsonKeys(ctx, node, "show ip route vrf "+vrf+" json")
}

// jsonKeys runs a vtysh command whose JSON answer is an object (a route
// table keyed by prefix) and returns its keys.
func jsonKeys(ctx context.Context, node, command string) (map[string]bool, error) {
	out, err := env.Vtysh(ctx, node, command)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", node, command, err)
	}
	got := map[string]bool{}
	for k := range obj {
		got[k] = true
	}
	return got, nil
}

func ping(ctx context.Context, node string, addr netip.Addr) error {
	return pingFrom(ctx, node, netip.Addr{}, addr)
}

// pingFrom pings from a given source address (any when invalid).
func pingFrom(ctx context.Context, node string, src, addr netip.Addr) error {
	args := []string{"ping", "-c", "1", "-W", "1"}
	if src.IsValid() {
		args = append(args, "-I", src.String())
	}
	out, err := env.Exec(ctx, node, append(args, addr.String())...)
	if err != nil {
		return fmt.Errorf("%s: ping from %v to %s: %w: %s", node, src, addr, err, strings.TrimSpace(out))
	}
	return nil
}

// evidence collects what a failed spec needs to be diagnosed.
func evidence(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var b strings.Builder
	section := func(title, out string, err error) {
		fmt.Fprintf(&b, "\n### %s\n%s", title, out)
		if err != nil {
			fmt.Fprintf(&b, "(error: %v)\n", err)
		}
	}
	for _, r := range env.FabricRouters() {
		out, err := env.Vtysh(ctx, r, "show bgp summary", "show bgp l2vpn evpn route type prefix", "show evpn vni")
		section(r+": vtysh", out, err)
	}
	for _, n := range env.ClusterNodes() {
		out, err := env.Vtysh(ctx, n, "show running-config", "show bgp vrf all summary json", "show bgp l2vpn evpn route type prefix json", "show ip route vrf all")
		section(n+" router: vtysh", out, err)
		out, err = env.ExecRouter(ctx, n, "sh", "-c", "ip -d addr; ip route show table all; ip neigh; bridge fdb")
		section(n+" router: ip addr/route/neigh, bridge fdb", out, err)
		out, err = env.Exec(ctx, n, "sh", "-c", "ip addr; ip route")
		section(n+" host: ip addr/route", out, err)
		section(n+": logs", env.Logs(n), nil)
	}
	if env.Kube() != nil {
		for _, list := range []client.ObjectList{&corev1.NodeList{}, &v1alpha1.UnderlayList{}, &v1alpha1.L3VNIList{}, &v1alpha1.RouterNodeStatusList{}} {
			err := env.Kube().List(ctx, list)
			y, _ := yaml.Marshal(list)
			section(fmt.Sprintf("%T", list), string(y), err)
		}
	}
	return b.String()
}

// admit runs a write to the API server (Create, Update, Patch) and expects
// it to succeed, retrying while the validating webhook cannot be called:
// under TCG on a loaded 2-core host the labeler's webhook has missed the
// API server's 10 s timeout, and the API server then refuses the write
// (failurePolicy Fail) without storing anything. Any other error, the
// webhook's own verdict included, fails at once.
func admit(ctx context.Context, write func(context.Context) error) {
	GinkgoHelper()
	Eventually(func() error {
		err := write(ctx)
		if err != nil && !strings.Contains(err.Error(), "failed calling webhook") {
			return StopTrying("the API server refused the write").Wrap(err)
		}
		return err
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
}
