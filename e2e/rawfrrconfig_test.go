package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Suite 11: RawFRRConfig (issue 18 item 7). A snippet selecting one node
// reaches that node's running FRR configuration and no other's; one FRR's
// parser refuses is refused at admission by the webhook; one that parses
// but that bgpd refuses when applied (a second router bgp with another AS)
// is reported in the RawFRRConfig's status and the node's
// RouterNodeStatus while the node keeps running its previous
// configuration; deleting a snippet removes its lines. Runs wherever the
// cluster runs (process mode and pods mode, L2 lab or default lab).
var _ = Describe("RawFRRConfig", Ordered, Label("raw-frr-config"), func() {
	const (
		prefixLine = "ip prefix-list E2E-RAW seq 5 permit 10.99.0.0/16"
		// Parses (vtysh -C knows no running daemon), but the node's bgpd
		// already runs router bgp <the Underlay's AS>.
		secondAS = "router bgp 64999\n neighbor 192.0.2.9 remote-as 64998\nexit\n"
	)
	var (
		target   string
		others   []string
		onTarget *metav1.LabelSelector
	)
	raw := func(name, text string) *v1alpha1.RawFRRConfig {
		return &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
			Spec: v1alpha1.RawFRRConfigSpec{NodeSelector: onTarget.DeepCopy(), RawConfig: text}}
	}
	// The specs build on each other (the prefix list of the first is the
	// running config the third keeps): what they create is removed after
	// the last one, not at the end of each.
	var created []client.Object
	deleteLater := func(o client.Object) { created = append(created, o) }
	AfterAll(func(ctx SpecContext) {
		for _, o := range created {
			Expect(client.IgnoreNotFound(env.Kube().Delete(ctx, o))).To(Succeed())
		}
	})

	BeforeAll(func(ctx SpecContext) {
		requireCluster()
		nodes := env.ClusterNodes()
		Expect(len(nodes)).To(BeNumerically(">=", 2), "the spec compares a selected node with an unselected one")
		target, others = nodes[0], nodes[1:]
		onTarget = &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.NodeIndexLabel: strconv.Itoa(eventuallyNodeIndex(ctx, target))}}
		u := underlay(ctx)
		Eventually(func() error {
			return statusApplied(ctx, &u, func() v1alpha1.ObjectStatus { return u.Status.ObjectStatus })
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})

	It("puts a snippet in the running config of the node it selects, and of no other", func(ctx SpecContext) {
		prefixes := raw("e2e-raw-prefixes", prefixLine+"\n")
		admit(ctx, func(ctx context.Context) error { return env.Kube().Create(ctx, prefixes) })
		deleteLater(prefixes)
		Eventually(func() error {
			configs, err := runningConfigs(ctx)
			if err != nil {
				return err
			}
			if !strings.Contains(configs[target], prefixLine) {
				return fmt.Errorf("%s's running config lacks %q", target, prefixLine)
			}
			for _, n := range others {
				if strings.Contains(configs[n], "E2E-RAW") {
					return fmt.Errorf("%s, not selected, runs the snippet", n)
				}
			}
			return nil
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		Eventually(func() error { return rawStatus(ctx, prefixes, 1, 1, 0) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})

	It("refuses at admission a snippet FRR's parser refuses, naming the object, the field and FRR's line", func(ctx SpecContext) {
		err := env.Kube().Create(ctx, raw("e2e-raw-typo", "ip prefix-lst E2E-TYPO seq 5 permit 10.0.0.0/8\n"), client.DryRunAll)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(And(ContainSubstring(webhookDenial),
			ContainSubstring("RawFRRConfig "+operatorNamespace+"/e2e-raw-typo: spec.rawConfig: FRR refuses it: line 1: % Unknown command")))
	})

	It("reports a snippet the node's FRR refuses and keeps the running config", func(ctx SpecContext) {
		before, err := runningConfigs(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(before[target]).To(ContainSubstring(prefixLine))
		bad := raw("e2e-raw-second-as", secondAS)
		admit(ctx, func(ctx context.Context) error { return env.Kube().Create(ctx, bad) })
		deleteLater(bad)

		By("the RawFRRConfig's status counts the node failed")
		Eventually(func() error { return rawStatus(ctx, bad, 1, 0, 1) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		Expect(bad.Status.FailedNodeNames).To(ConsistOf(target))
		By("the node's RouterNodeStatus names FRR's refusal of the snippet's command")
		var rns v1alpha1.RouterNodeStatus
		Expect(env.Kube().Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: target}, &rns)).To(Succeed())
		i := slices.IndexFunc(rns.Status.Objects, func(o v1alpha1.ObjectResult) bool {
			return o.Kind == "RawFRRConfig" && o.Name == bad.Name
		})
		Expect(i).To(BeNumerically(">=", 0), "RouterNodeStatus %s lists no result for %s: %+v", target, bad.Name, rns.Status.Objects)
		Expect(rns.Status.Objects[i].Result).To(Equal(v1alpha1.ResultFailed))
		Expect(rns.Status.Objects[i].Message).To(ContainSubstring("router bgp 64999"))
		By("every node keeps running what it ran")
		unchanged(ctx, before)

		By("deleting it: the node applies again")
		Expect(env.Kube().Delete(ctx, bad)).To(Succeed())
		prefixes := &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "e2e-raw-prefixes"}}
		Eventually(func() error { return rawStatus(ctx, prefixes, 1, 1, 0) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})

	It("removes the snippet's lines when it is deleted", func(ctx SpecContext) {
		prefixes := &v1alpha1.RawFRRConfig{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "e2e-raw-prefixes"}}
		Expect(env.Kube().Delete(ctx, prefixes)).To(Succeed())
		Eventually(func() error {
			configs, err := runningConfigs(ctx)
			if err != nil {
				return err
			}
			for n, cfg := range configs {
				if strings.Contains(cfg, "E2E-RAW") {
					return fmt.Errorf("%s still runs the deleted snippet", n)
				}
			}
			return nil
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})
})

// rawStatus checks a RawFRRConfig's status for its current generation:
// how many nodes select it, applied it and failed it.
func rawStatus(ctx context.Context, r *v1alpha1.RawFRRConfig, selected, applied, failed int32) error {
	if err := env.Kube().Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
		return err
	}
	st := r.Status.ObjectStatus
	if st.ObservedGeneration != r.Generation || st.SelectedNodes != selected || st.AppliedNodes != applied || st.FailedNodes != failed {
		return fmt.Errorf("RawFRRConfig %s: generation %d, status observedGeneration %d, selected %d applied %d failed %d (want %d, %d, %d)",
			r.Name, r.Generation, st.ObservedGeneration, st.SelectedNodes, st.AppliedNodes, st.FailedNodes, selected, applied, failed)
	}
	return nil
}
