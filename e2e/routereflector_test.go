package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/vtysh"
)

// Suite 16: route reflection (issue 18 item 5), upstream's case: the
// cluster distributes its own EVPN routes. Runs in the L2 lab with
// docs/examples/rrlab instead of its usual manifests
// (topologies/l2.clab.yml; natively, no VRF): one node is a pure route
// reflector (an Underlay with routeReflector and a listenRange neighbour
// whose families carry routeReflectorClient, no tunnel endpoint), the
// other nodes peer with it only, not with the fabric leaves. Their
// VTEPs, type-3 and type-2 routes reach each other through the
// reflector, and workloads on two clients' host bridges talk over VXLAN.
var _ = Describe("Route reflection", Ordered, Label("route-reflector"), func() {
	var (
		reflector   v1alpha1.Underlay
		clientsU    v1alpha1.Underlay
		reflectors  []string // nodes the reflector Underlay selects
		clients     []string // nodes of the client Underlay
		rrAddr      string   // the clients' neighbour: the reflector's address
		clusterID   string
		vni         uint32
		clientAddr  = map[string]string{}     // a client's underlay address (its source towards the reflector)
		clientVTEP  = map[string]netip.Addr{} // from its index and the clients' pool
		clientRtrID = map[string]string{}
	)

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		var ok bool
		if reflector, clientsU, ok = reflectorLab(ctx); !ok {
			Skip("no Underlay with routeReflector beside a client Underlay: this suite runs in the route reflector lab (topologies/l2.clab.yml with docs/examples/rrlab)")
		}
		Expect(clientsU.Spec.Neighbors).To(HaveLen(1), "Underlay %s/%s: the clients peer with the reflector only", clientsU.Namespace, clientsU.Name)
		Expect(clientsU.Spec.TunnelEndpoint).NotTo(BeNil(), "Underlay %s/%s: the clients need VTEPs", clientsU.Namespace, clientsU.Name)
		rrAddr = clientsU.Spec.Neighbors[0].Address
		clusterID = reflector.Spec.RouteReflector.ClusterID
		for _, node := range env.ClusterNodes() {
			switch {
			case selects(ctx, reflector, node):
				reflectors = append(reflectors, node)
			case selects(ctx, clientsU, node):
				clients = append(clients, node)
			}
		}
		Expect(reflectors).NotTo(BeEmpty(), "no node selected by Underlay %s/%s", reflector.Namespace, reflector.Name)
		Expect(len(clients)).To(BeNumerically(">=", 2), "east/west needs two clients of Underlay %s/%s", clientsU.Namespace, clientsU.Name)
		vnis := l2vnis(ctx)
		Expect(vnis).NotTo(BeEmpty(), "the lab's L2VNI")
		vni = vnis[0].Spec.VNI

		pool := netip.MustParsePrefix(clientsU.Spec.TunnelEndpoint.CIDRs[0])
		nic := clientsU.Spec.Interfaces[0].NetworkDevice.InterfaceName
		for _, c := range clients {
			vtep, err := ipam.VTEP(pool, eventuallyNodeIndex(ctx, c))
			Expect(err).NotTo(HaveOccurred())
			clientVTEP[c] = vtep.Addr()
			Eventually(func() error {
				out, err := env.ExecRouter(ctx, c, "ip", "-j", "-4", "addr", "show", "dev", nic)
				if a := globalAddrs(out); err == nil && len(a) == 1 {
					clientAddr[c] = a[0]
					return nil
				}
				return fmt.Errorf("node %s: one address on %s in the router namespace: %v %s", c, nic, err, out)
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
	})

	It("establishes each client's only session, with the reflector, and the reflector's dynamic sessions from every client; no node peers with a fabric leaf", func(ctx SpecContext) {
		start := time.Now()
		for _, c := range clients {
			Eventually(func() (map[string]string, error) { return bgpPeers(ctx, c, "") }).
				WithTimeout(convergeTimeout).WithPolling(poll).
				Should(Equal(map[string]string{rrAddr: "Established"}), "node %s: its sessions", c)
		}
		for _, rr := range reflectors {
			Eventually(func() error {
				out, err := env.Vtysh(ctx, rr, "show bgp summary json")
				if err != nil {
					return err
				}
				peers, err := vtysh.ParseBGPSummary([]byte(out))
				if err != nil {
					return err
				}
				for _, c := range clients {
					if !slices.ContainsFunc(peers, func(p vtysh.Peer) bool {
						return p.Address == clientAddr[c] && p.Dynamic && p.State == "Established"
					}) {
						return fmt.Errorf("reflector %s: no Established dynamic session from client %s (%s): %+v", rr, c, clientAddr[c], peers)
					}
				}
				return nil
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		AddReportEntry("client and reflector sessions Established", time.Since(start).Round(100*time.Millisecond).String())
		// The fabric leaves listen on the node subnet (the L2 lab's
		// leafkind1): no node may have a session with them.
		for _, r := range env.FabricRouters() {
			peers, err := bgpPeers(ctx, r, "")
			Expect(err).NotTo(HaveOccurred())
			for _, c := range clients {
				Expect(peers).NotTo(HaveKeyWithValue(clientAddr[c], "Established"), "fabric router %s has a session with node %s", r, c)
			}
		}
	})

	It("reflects every client's VTEP and type-3 route to the other clients, with the originator's VTEP as the EVPN next hop", func(ctx SpecContext) {
		start := time.Now()
		for _, from := range clients {
			Eventually(func() (err error) {
				clientRtrID[from], err = bgpRouterID(ctx, from)
				return err
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		for _, from := range clients {
			for _, to := range clients {
				if from == to {
					continue
				}
				vtep := clientVTEP[from]
				Eventually(func() error { return reflectedVTEP(ctx, to, vtep, rrAddr, clientRtrID[from], clusterID) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "node %s's VTEP on node %s", from, to)
				Eventually(func() error {
					routes, err := evpnRoutes(ctx, to, "multicast")
					if err != nil {
						return err
					}
					for _, r := range routes {
						if r.Type() == 3 && r.HasRTFor(vni) && r.Originator() == vtep.String() {
							if r.NextHop != vtep.String() || r.PeerID != rrAddr {
								return fmt.Errorf("node %s: type-3 route of VNI %d from %s: next hop %s from peer %s, want next hop %s (the originator's VTEP) from the reflector %s", to, vni, from, r.NextHop, r.PeerID, vtep, rrAddr)
							}
							return nil
						}
					}
					return fmt.Errorf("node %s: no type-3 route of VNI %d from node %s's VTEP %s", to, vni, from, vtep)
				}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
		AddReportEntry("VTEPs and type-3 routes reflected to every client", time.Since(start).Round(100*time.Millisecond).String())
	})

	It("carries east/west traffic between workloads on two clients' host bridges over VXLAN, both ways", func(ctx SpecContext) {
		a, b := clients[0], clients[1]
		addr := map[string]netip.Prefix{}
		for _, c := range []string{a, b} {
			// On the segment of the L2 lab (192.168.30.0/24), clear of
			// its fabric hosts' low addresses.
			addr[c] = l2WorkloadAddr(ctx, c, netip.MustParseAddr("192.168.30.0"))
			DeferCleanup(func(ctx SpecContext) {
				out, err := env.Exec(ctx, c, "ip", "link", "del", l2Workload)
				Expect(err).NotTo(HaveOccurred(), "node %s: removing the workload: %s", c, out)
			})
		}
		vnis := l2vnis(ctx)
		start := time.Now()
		for _, c := range []string{a, b} {
			Eventually(func() error { return ensureL2Workload(ctx, c, vnis[0], addr[c]) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		for _, p := range [][2]string{{a, b}, {b, a}} {
			src, dst := p[0], p[1]
			Eventually(func() error { return pingFrom(ctx, src, addr[src].Addr(), addr[dst].Addr()) }).
				WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "workload on %s → workload on %s", src, dst)
		}
		AddReportEntry("first ping both ways", time.Since(start).Round(100*time.Millisecond).String())

		// Over VXLAN: each router forwards to the other workload's MAC
		// through its VXLAN device towards the other client's VTEP, and
		// learnt that MAC as a type-2 route reflected with the
		// originator's VTEP as next hop.
		for _, p := range [][2]string{{a, b}, {b, a}} {
			here, there := p[0], p[1]
			out, err := env.Exec(ctx, there, "cat", "/sys/class/net/"+l2Workload+"/address")
			Expect(err).NotTo(HaveOccurred(), out)
			mac := strings.TrimSpace(out)
			Eventually(func() (string, error) {
				return env.ExecRouter(ctx, here, "bridge", "fdb", "show", "dev", devname.VXLAN(vni))
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(
				MatchRegexp(`(?m)^%s dst %s\b`, mac, clientVTEP[there]), "node %s: FDB entry of %s's workload %s via its VTEP", here, there, mac)
			Eventually(func() error {
				routes, err := evpnRoutes(ctx, here, "macip")
				if err != nil {
					return err
				}
				for _, r := range routes {
					if r.Type() == 2 && strings.Contains(r.Prefix, "["+mac+"]") && r.NextHop == clientVTEP[there].String() && r.PeerID == rrAddr {
						return nil
					}
				}
				return fmt.Errorf("node %s: no type-2 route for %s with next hop %s from the reflector %s: %+v", here, mac, clientVTEP[there], rrAddr, routes)
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}

		// The tunnels run directly between the clients: each kernel routes
		// the other client's VTEP to that client's own address, not
		// through the reflector (which reflects routes, and need not
		// forward a packet: upstream's design, enhancements/route-reflector.md).
		for _, p := range [][2]string{{a, b}, {b, a}} {
			here, there := p[0], p[1]
			Eventually(func() (string, error) {
				return env.ExecRouter(ctx, here, "ip", "route", "get", clientVTEP[there].String())
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(
				ContainSubstring(" via "+clientAddr[there]+" "), "node %s: the kernel's route to node %s's VTEP %s, want via %s (that node), not via the reflector %s", here, there, clientVTEP[there], clientAddr[there], rrAddr)
		}
	})
})

// reflectorLab finds the route reflector lab's two Underlays: the
// reflector's (routeReflector set) and its clients'; ok is false in any
// other lab.
func reflectorLab(ctx context.Context) (reflector, clients v1alpha1.Underlay, ok bool) {
	GinkgoHelper()
	var list v1alpha1.UnderlayList
	Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
	for _, u := range list.Items {
		if u.Spec.RouteReflector != nil {
			reflector = u
		} else {
			clients = u
		}
	}
	return reflector, clients, reflector.Name != "" && clients.Name != ""
}

// reflectionHealthy is the route reflector lab's health: every client's
// only session, the one with the reflector, is Established.
func reflectionHealthy(ctx context.Context, clients v1alpha1.Underlay) error {
	if len(clients.Spec.Neighbors) != 1 {
		return fmt.Errorf("Underlay %s/%s: want one neighbour, the reflector", clients.Namespace, clients.Name)
	}
	want := map[string]string{clients.Spec.Neighbors[0].Address: "Established"}
	for _, node := range env.ClusterNodes() {
		if !selects(ctx, clients, node) {
			continue
		}
		peers, err := bgpPeers(ctx, node, "")
		if err != nil {
			return err
		}
		if !maps.Equal(peers, want) {
			return fmt.Errorf("node %s: sessions %v, want %v", node, peers, want)
		}
	}
	return nil
}

// selects reports whether an Underlay's node selector matches a node's
// labels.
func selects(ctx context.Context, u v1alpha1.Underlay, node string) bool {
	GinkgoHelper()
	var n corev1.Node
	Expect(env.Kube().Get(ctx, client.ObjectKey{Name: node}, &n)).To(Succeed())
	if u.Spec.NodeSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(u.Spec.NodeSelector)
	Expect(err).NotTo(HaveOccurred())
	return sel.Matches(labels.Set(n.Labels))
}

// bgpRouterID is the router-id of a node's router.
func bgpRouterID(ctx context.Context, node string) (string, error) {
	out, err := env.Vtysh(ctx, node, "show bgp ipv4 unicast summary json")
	if err != nil {
		return "", err
	}
	var s struct {
		RouterID string `json:"routerId"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.RouterID == "" {
		return "", fmt.Errorf("node %s: no router-id in the summary (%v): %s", node, err, out)
	}
	return s.RouterID, nil
}

// reflectedVTEP checks that a node's best ipv4 unicast path to a VTEP came
// from the reflector, carrying the originator's router-id and the
// reflector's cluster ID (RFC 4456).
func reflectedVTEP(ctx context.Context, node string, vtep netip.Addr, reflectorAddr, originator, clusterID string) error {
	prefix := netip.PrefixFrom(vtep, 32).String()
	out, err := env.Vtysh(ctx, node, "show bgp ipv4 unicast "+prefix+" json")
	if err != nil {
		return err
	}
	paths, err := vtysh.ParseBGPPrefix([]byte(out))
	if err != nil {
		return fmt.Errorf("node %s: show bgp ipv4 unicast %s json: %w", node, prefix, err)
	}
	for _, p := range paths {
		if p.Valid && p.Best && p.PeerID == reflectorAddr && p.OriginatorID == originator && slices.Contains(p.ClusterList, clusterID) {
			return nil
		}
	}
	return fmt.Errorf("node %s: no valid best path to %s from the reflector %s with originator %s and cluster %s: %s", node, prefix, reflectorAddr, originator, clusterID, out)
}
