package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// recoveryBound is the documented bound (docs/e2e.md) for a node to be
// back after a reboot or a component failure, counted from the moment
// the failure is caused, sized for the VM lane (TCG: FRR alone takes
// 15–60 s to start and load its config there).
const recoveryBound = 5 * time.Minute

// nodeHealthy is the whole promise for one node: sessions up, its
// prefixes on every leaf with its VTEP, and the datapath both ways; on
// labs with stretched L2VNIs also its type-3 routes and L2 datapath.
func nodeHealthy(ctx context.Context, node string, vtep netip.Addr) error {
	if err := establishedWithAll(ctx, node); err != nil {
		return err
	}
	for _, vni := range l3vnis(ctx) {
		workload := workloadAddr(ctx, vni, node)
		for _, leaf := range env.EVPNLeaves() {
			if err := hasType5(ctx, leaf, type5Prefix(netip.PrefixFrom(workload, 32)), vtep.String(), ""); err != nil {
				return err
			}
		}
	}
	if err := datapathOK(ctx, node); err != nil {
		return err
	}
	return l2Healthy(ctx, node, vtep)
}

// awaitRecovery polls until the node is healthy and reports how long it took.
func awaitRecovery(ctx context.Context, what, node string, vtep netip.Addr, start time.Time) {
	Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).
		WithTimeout(max(recoveryBound-time.Since(start), poll)).WithPolling(poll).
		Should(Succeed(), "%s: node %s did not recover within %v", what, node, recoveryBound)
	took := time.Since(start).Round(100 * time.Millisecond)
	AddReportEntry(fmt.Sprintf("recovery after %s (%s)", what, node), took.String())
	fmt.Fprintf(GinkgoWriter, "recovery after %s of %s: %v\n", what, node, took)
}

// recoveryRounds is how many times the recovery container runs in one lab,
// one round after the other (PEROUTER_E2E_RECOVERY_ROUNDS, default 1): a
// reboot or failure must heal every time, on a lab that has been through
// the earlier rounds.
var recoveryRounds = func() int {
	n, err := strconv.Atoi(os.Getenv(envRecoveryRounds))
	if err != nil || n < 1 {
		return 1
	}
	return n
}()

var _ = func() bool {
	for round := 1; round <= recoveryRounds; round++ {
		name := "Recovery"
		if recoveryRounds > 1 {
			name = fmt.Sprintf("Recovery (round %d of %d)", round, recoveryRounds)
		}
		describeRecovery(name)
	}
	return true
}()

// Suite 4: node identity survives reboots; every component failure heals
// without a manual step.
func describeRecovery(name string) bool {
	return Describe(name, Ordered, Label("recovery"), func() {
		var node string
		var index int
		var vtep netip.Addr

		BeforeAll(func(ctx SpecContext) {
			requireCluster()
			startWorkloads(ctx)
			nodes := env.ClusterNodes()
			node = nodes[len(nodes)-1]
			index = eventuallyNodeIndex(ctx, node)
			vtep = nodeVTEP(ctx, node)
			Eventually(func() error { return nodeHealthy(ctx, node, vtep) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		})

		It("keeps a rebooted node's index and VTEP and brings routes and datapath back", func(ctx SpecContext) {
			start := time.Now()
			Expect(env.Reboot(ctx, node)).To(Succeed())
			// The workload comes back with the machine.
			startNodeWorkload(ctx, node)
			awaitRecovery(ctx, "reboot", node, vtep, start)
			Expect(nodeIndex(ctx, node)).To(Equal(index), "node %s index changed across reboot", node)
			Expect(nodeVTEP(ctx, node)).To(Equal(vtep))
		})

		It("recovers from a controller restart", func(ctx SpecContext) {
			start := time.Now()
			Expect(env.RestartAgent(ctx, "controller", node)).To(Succeed())
			awaitRecovery(ctx, "controller restart", node, vtep, start)
		})

		It("recovers from a labeler restart without renumbering", func(ctx SpecContext) {
			before := map[string]int{}
			for _, n := range env.ClusterNodes() {
				before[n] = eventuallyNodeIndex(ctx, n)
			}
			start := time.Now()
			Expect(env.RestartAgent(ctx, "labeler", "")).To(Succeed())
			awaitRecovery(ctx, "labeler restart", node, vtep, start)
			Consistently(func() (map[string]int, error) {
				got := map[string]int{}
				for _, n := range env.ClusterNodes() {
					i, err := nodeIndex(ctx, n)
					if err != nil {
						return nil, err
					}
					got[n] = i
				}
				return got, nil
			}).WithTimeout(10 * time.Second).WithPolling(2 * time.Second).Should(Equal(before))
		})

		It("recovers when the router's FRR is killed", func(ctx SpecContext) {
			start := time.Now()
			Expect(env.KillRouterFRR(ctx, node)).To(Succeed())
			awaitRecovery(ctx, "FRR killed", node, vtep, start)
		})

		// The pod restart every rollout, eviction or `kubectl delete pod`
		// does: FRR starts empty, the reloader without its memory, and the
		// controller sees the same namespace and the same inputs.
		It("recovers when the router pod restarts: FRR and reloader restarted together, namespace kept", func(ctx SpecContext) {
			start := time.Now()
			Expect(env.RestartRouterPod(ctx, node)).To(Succeed())
			awaitRecovery(ctx, "router pod restarted", node, vtep, start)
		})

		It("recovers when the router namespace is deleted", func(ctx SpecContext) {
			start := time.Now()
			Expect(env.DeleteRouterNamespace(ctx, node)).To(Succeed())
			awaitRecovery(ctx, "router namespace deleted", node, vtep, start)
		})
	})
}
