package e2e

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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
					return peers[nb.Address], err
				}).WithTimeout(convergeTimeout).WithPolling(poll).
					Should(Equal("Established"), "node %s: session with %s (Underlay %s/%s spec.neighbors)", node, nb.Address, u.Namespace, u.Name)
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
		if peers[nb.Address] != "Established" {
			return fmt.Errorf("node %s: session with %s is %q", node, nb.Address, peers[nb.Address])
		}
	}
	return nil
}
