package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Suite 1: the underlay. The fabric's own sessions come up, and every
// node's router peers with the node-facing leaves its Underlay names.
var _ = Describe("Underlay", Label("underlay"), func() {
	It("establishes every configured session of the fabric routers", func(ctx SpecContext) {
		for _, r := range env.FabricRouters() {
			Eventually(func() (map[string]string, error) { return bgpPeers(ctx, r, "") }).
				WithTimeout(convergeTimeout).WithPolling(poll).
				Should(And(Not(BeEmpty()), HaveEach("Established")), "router %s", r)
		}
	})

	It("establishes BGP sessions between every node's router and its leaves", func(ctx SpecContext) {
		requireCluster()
		u := underlay(ctx)
		for _, node := range env.ClusterNodes() {
			for _, nb := range u.Spec.Neighbors {
				Eventually(func() (string, error) {
					peers, err := bgpPeers(ctx, node, "")
					return peers[neighborID(nb)], err
				}).WithTimeout(convergeTimeout).WithPolling(poll).
					Should(Equal("Established"), "node %s: session with %s (Underlay %s/%s spec.neighbors)", node, neighborID(nb), u.Namespace, u.Name)
			}
		}
	})
})

func establishedWithAll(ctx context.Context, node string) error {
	u := underlay(ctx)
	peers, err := bgpPeers(ctx, node, "")
	if err != nil {
		return err
	}
	for _, nb := range u.Spec.Neighbors {
		if id := neighborID(nb); peers[id] != "Established" {
			return fmt.Errorf("node %s: session with %s is %q", node, id, peers[id])
		}
	}
	return nil
}

// neighborID is how FRR names an Underlay neighbour: its address
// (written the way FRR prints it) or, unnumbered, its interface.
func neighborID(nb v1alpha1.Neighbor) string {
	if a, err := netip.ParseAddr(nb.Address); err == nil {
		return a.String()
	}
	return nb.Interface
}

// Suite 1, continued: a neighbour's passwordSecret. The leaf asks for TCP
// MD5 first, so the nodes' sessions with it fall; they come back only
// once the controller has read the Secret (in the pods mode under the
// chart's own Role: issue 15 item 8) and FRR signs them with it. The
// password must then appear in no status, event or log tail (item 7).
var _ = Describe("Underlay password", Label("underlay", "password"), func() {
	It("signs the nodes' sessions with the password of spec.neighbors[0].passwordSecret, and shows it nowhere", func(ctx SpecContext) {
		requireCluster()
		const password = "e2e-Md5-s3cret"
		u := underlay(ctx)
		nb := u.Spec.Neighbors[0]
		leaf := listeningLeaf(ctx, netip.MustParseAddr(nb.Address))
		sessions := func(node string) func() (string, error) {
			return func() (string, error) {
				peers, err := bgpPeers(ctx, node, "")
				return peers[nb.Address], err
			}
		}
		for _, node := range env.ClusterNodes() {
			Eventually(sessions(node)).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal("Established"), "node %s", node)
		}

		By("leaf " + leaf.router + " asks for a password the nodes lack")
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: u.Namespace, Name: "e2e-leaf-password"},
			StringData: map[string]string{"password": password}}
		Expect(env.Kube().Create(ctx, secret)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { _ = env.Kube().Delete(ctx, secret) })
		leaf.setPassword(ctx, password)
		// Registered last, so it runs first: both sides forget the
		// password, and every session is back before the next spec. The
		// leaf first, while its dynamic peers still exist: FRR 8.4 keeps
		// the TCP MD5 key of a dynamic peer that went away with the
		// password set on its listening socket, and `no neighbor GROUP
		// password` then leaves that node refused for good (measured in
		// two netns FRRs: TcpExtTCPMD5NotFound counts its SYNs).
		DeferCleanup(func(ctx context.Context) {
			leaf.setPassword(ctx, "")
			setPasswordSecret(ctx, 0, "")
			for _, node := range env.ClusterNodes() {
				Eventually(func() error { return establishedWithAll(ctx, node) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		})
		for _, node := range env.ClusterNodes() {
			Eventually(sessions(node)).WithTimeout(convergeTimeout).WithPolling(poll).ShouldNot(Equal("Established"),
				"node %s: session with %s after leaf %s asked for a password", node, nb.Address, leaf.router)
		}

		By("the Underlay names the Secret")
		start := time.Now()
		setPasswordSecret(ctx, 0, secret.Name)
		for _, node := range env.ClusterNodes() {
			Eventually(sessions(node)).WithTimeout(convergeTimeout).WithPolling(poll).Should(Equal("Established"),
				"node %s: session with %s, signed with Secret %s/%s", node, nb.Address, secret.Namespace, secret.Name)
		}
		AddReportEntry("passwordSecret set → every node's session with the leaf established", time.Since(start).Round(100*time.Millisecond).String())

		By("the password is in no status, event or log")
		var texts []string
		for _, list := range []client.ObjectList{&v1alpha1.UnderlayList{}, &v1alpha1.RouterNodeStatusList{}, &corev1.EventList{}} {
			Expect(env.Kube().List(ctx, list, client.InNamespace(u.Namespace))).To(Succeed())
			data, err := json.Marshal(list)
			Expect(err).NotTo(HaveOccurred())
			texts = append(texts, string(data))
		}
		for _, node := range env.ClusterNodes() {
			texts = append(texts, env.Logs(node))
		}
		for _, t := range texts {
			Expect(t).NotTo(ContainSubstring(password))
		}
	})
})

// leafListen is a fabric router that accepts the nodes' sessions on a
// listen range, and the peer group the range puts them in.
type leafListen struct {
	router, asn, group string
}

var (
	routerBGPLine   = regexp.MustCompile(`(?m)^router bgp (\d+)$`)
	listenRangeLine = regexp.MustCompile(`(?m)^\s*bgp listen range (\S+) peer-group (\S+)$`)
)

// listeningLeaf finds the fabric router whose listen range holds addr (a
// neighbour address of the Underlay: the leaf's own, on the nodes'
// segment), from its running config.
func listeningLeaf(ctx context.Context, addr netip.Addr) leafListen {
	GinkgoHelper()
	for _, r := range env.FabricRouters() {
		conf, err := env.Vtysh(ctx, r, "show running-config")
		Expect(err).NotTo(HaveOccurred())
		asn := routerBGPLine.FindStringSubmatch(conf)
		for _, m := range listenRangeLine.FindAllStringSubmatch(conf, -1) {
			if p, err := netip.ParsePrefix(m[1]); err == nil && p.Contains(addr) && asn != nil {
				return leafListen{router: r, asn: asn[1], group: m[2]}
			}
		}
	}
	Fail(fmt.Sprintf("no fabric router has a BGP listen range holding %s", addr))
	return leafListen{}
}

// setPassword sets (or, with "", removes) the TCP MD5 password of the
// leaf's peer group for the nodes.
func (l leafListen) setPassword(ctx context.Context, password string) {
	GinkgoHelper()
	cmd := "no neighbor " + l.group + " password"
	if password != "" {
		cmd = "neighbor " + l.group + " password " + password
	}
	out, err := env.Vtysh(ctx, l.router, "configure terminal", "router bgp "+l.asn, cmd)
	Expect(err).NotTo(HaveOccurred(), out)
}

// setPasswordSecret sets the passwordSecret of the Underlay's i-th
// neighbour and waits until every node reports the change applied.
func setPasswordSecret(ctx context.Context, i int, name string) {
	GinkgoHelper()
	updateUnderlay(ctx, func(s *v1alpha1.UnderlaySpec) { s.Neighbors[i].PasswordSecret = name })
}
