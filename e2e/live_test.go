package e2e

import (
	"context"
	"fmt"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// statusApplied checks that an object's status reports its current
// generation applied on every selected node.
func statusApplied(ctx context.Context, obj client.Object, status func() v1alpha1.ObjectStatus) error {
	if err := env.Kube().Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	st := status()
	want := int32(len(env.ClusterNodes()))
	if st.ObservedGeneration != obj.GetGeneration() || st.AppliedNodes != want || st.SelectedNodes != want {
		return fmt.Errorf("%T %s/%s: generation %d, status observedGeneration %d, selected %d, applied %d (want %d nodes)",
			obj, obj.GetNamespace(), obj.GetName(), obj.GetGeneration(), st.ObservedGeneration, st.SelectedNodes, st.AppliedNodes, want)
	}
	return nil
}

// Suite 5: live changes apply without restarting anything.
var _ = Describe("Live changes", Ordered, Label("live"), func() {
	BeforeAll(func() { requireCluster() })

	It("adds a VNI on every node and reports it applied", func(ctx SpecContext) {
		hostASN := uint32(64515)
		green := &v1alpha1.L3VNI{
			ObjectMeta: metav1.ObjectMeta{Name: "green", Namespace: operatorNamespace},
			Spec: v1alpha1.L3VNISpec{VRF: "green", VNI: 300, HostSession: &v1alpha1.HostSession{
				ASN: 64514, HostASN: &hostASN, LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: "192.169.12.0/24"},
			}},
		}
		Expect(env.Kube().Create(ctx, green)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { _ = env.Kube().Delete(ctx, green) })
		u := underlay(ctx)
		prefix := type5Prefix(netip.MustParsePrefix("192.169.12.0/24"))
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return hasType5(ctx, leaf, prefix, vtep, exportRT(u, *green)) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
		Eventually(func() error {
			return statusApplied(ctx, green, func() v1alpha1.ObjectStatus { return green.Status.ObjectStatus })
		}).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())

		By("removing it again")
		Expect(env.Kube().Delete(ctx, green)).To(Succeed())
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return lacksType5(ctx, leaf, prefix, vtep) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
	})

	It("withdraws a deleted L3VNI's routes and brings them back when it is recreated", func(ctx SpecContext) {
		vnis := l3vnis(ctx)
		victim := vnis[len(vnis)-1].DeepCopy()
		prefix := type5Prefix(netip.MustParsePrefix(victim.Spec.HostSession.LocalCIDR.IPv4).Masked())
		Expect(env.Kube().Delete(ctx, victim)).To(Succeed())
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return lacksType5(ctx, leaf, prefix, vtep) }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed(), "L3VNI %s/%s deleted", victim.Namespace, victim.Name)
			}
		}
		recreated := &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Name: victim.Name, Namespace: victim.Namespace}, Spec: victim.Spec}
		Expect(env.Kube().Create(ctx, recreated)).To(Succeed())
		for _, node := range env.ClusterNodes() {
			vtep := nodeVTEP(ctx, node).String()
			for _, leaf := range env.EVPNLeaves() {
				Eventually(func() error { return hasType5(ctx, leaf, prefix, vtep, "") }).
					WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
			}
		}
	})

	It("changes a neighbour's timers in place", func(ctx SpecContext) {
		u := underlay(ctx)
		hold, keepalive := uint32(30), uint32(10)
		patched := u.DeepCopy()
		patched.Spec.Neighbors[0].HoldTimeSeconds = &hold
		patched.Spec.Neighbors[0].KeepaliveTimeSeconds = &keepalive
		Expect(env.Kube().Update(ctx, patched)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			var cur v1alpha1.Underlay
			if env.Kube().Get(ctx, client.ObjectKeyFromObject(&u), &cur) == nil {
				cur.Spec.Neighbors = u.Spec.Neighbors
				_ = env.Kube().Update(ctx, &cur)
			}
		})
		addr := u.Spec.Neighbors[0].Address
		for _, node := range env.ClusterNodes() {
			Eventually(func() (string, error) {
				return env.Vtysh(ctx, node, "show running-config")
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(ContainSubstring(fmt.Sprintf("neighbor %s timers 10 30", addr)), "node %s", node)
			Eventually(func() error { return establishedWithAll(ctx, node) }).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
		Eventually(func() error {
			return statusApplied(ctx, patched, func() v1alpha1.ObjectStatus { return patched.Status.ObjectStatus })
		}).
			WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	})
})
