package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// webhookDenial starts every refusal of the validating webhook.
const webhookDenial = `admission webhook "validate.network.perouter.io" denied the request: `

// Suite 6: invalid objects are rejected and no node changes.
var _ = Describe("Admission", Label("admission"), func() {
	It("rejects every object of docs/examples/invalid and leaves the routers untouched", func(ctx SpecContext) {
		requireCluster()
		before := settledConfigs(ctx)
		data, err := os.ReadFile(filepath.Join(repoRoot, "docs/examples/invalid/invalid.yaml"))
		Expect(err).NotTo(HaveOccurred())
		for _, doc := range strings.Split(string(data), "\n---") {
			var obj unstructured.Unstructured
			Expect(yaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed())
			if len(obj.Object) == 0 {
				continue
			}
			err := env.Kube().Create(ctx, &obj, client.DryRunAll)
			Expect(err).To(HaveOccurred(), "%s %s/%s was admitted", obj.GetKind(), obj.GetNamespace(), obj.GetName())
		}
		unchanged(ctx, before)
	})

	// These changes are well-formed on their own: only the validating
	// webhook, judging them against the lab's objects (docs/examples/lab:
	// L3VNIs red VNI 100 and blue VNI 200, one Underlay), sees the conflict.
	It("rejects changes that conflict with the lab's objects, with the webhook's message, and leaves the routers untouched", func(ctx SpecContext) {
		requireCluster()
		before := settledConfigs(ctx)
		hostASN := uint32(64515)
		l3vni := func(name, vrf string, vni uint32, localCIDR string) *v1alpha1.L3VNI {
			o := &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
				Spec: v1alpha1.L3VNISpec{VRF: vrf, VNI: vni}}
			if localCIDR != "" {
				o.Spec.HostSession = &v1alpha1.HostSession{ASN: 64514, HostASN: &hostASN, LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: localCIDR}}
			}
			return o
		}
		lab := underlay(ctx)
		secondUnderlay := &v1alpha1.Underlay{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "second-underlay"},
			Spec: *lab.Spec.DeepCopy()}
		for _, tc := range []struct {
			what string
			obj  client.Object
			want string
		}{
			{"an L3VNI reusing red's VNI", l3vni("dup-vni", "dupvni", 100, ""),
				"L3VNI perouter-system/dup-vni: spec.vni: VNI 100 is also used by L3VNI perouter-system/red"},
			{"an L3VNI reusing blue's VRF", l3vni("dup-vrf", "blue", 300, ""),
				`L3VNI perouter-system/dup-vrf: spec.vrf: VRF "blue" is also used by L3VNI perouter-system/blue`},
			{"an L3VNI whose localCIDR overlaps red's on the same nodes", l3vni("overlap", "overlap", 301, "192.169.10.128/25"),
				"L3VNI perouter-system/overlap: spec.hostSession.localCIDR.ipv4: 192.169.10.128/25 overlaps spec.hostSession.localCIDR.ipv4 of L3VNI perouter-system/red (192.169.10.0/24)"},
			{"a second Underlay for the same nodes", secondUnderlay,
				"Underlay perouter-system/second-underlay: spec.nodeSelector: selects the same nodes as Underlay perouter-system/" + lab.Name},
		} {
			By("creating " + tc.what)
			err := env.Kube().Create(ctx, tc.obj, client.DryRunAll)
			Expect(err).To(HaveOccurred(), "%s was admitted", tc.what)
			Expect(err.Error()).To(And(ContainSubstring(webhookDenial), ContainSubstring(tc.want)), tc.what)
		}

		By("creating an L2VNI routed through an L3VNI that does not exist yet: admitted, so apply order never matters")
		orphan := &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "orphan"},
			Spec: v1alpha1.L2VNISpec{VNI: 302, RoutingDomain: &v1alpha1.RoutingDomain{L3VNI: &v1alpha1.L3VNIReference{Name: "missing"}}}}
		Expect(env.Kube().Create(ctx, orphan, client.DryRunAll)).To(Succeed())

		By("deleting red while an L2VNI routes through it: admitted with a warning, as upstream allows")
		// The L2VNI selects no node, so creating it changes no router.
		l2 := &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "through-red"},
			Spec: v1alpha1.L2VNISpec{VNI: 303, NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e.perouter.io/no-node": "true"}},
				RoutingDomain: &v1alpha1.RoutingDomain{L3VNI: &v1alpha1.L3VNIReference{Name: "red"}}}}
		Expect(env.Kube().Create(ctx, l2)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			Expect(client.IgnoreNotFound(env.Kube().Delete(ctx, l2))).To(Succeed())
		})
		red := l3vni("red", "red", 100, "")
		Expect(env.Kube().Delete(ctx, red, client.DryRunAll)).To(Succeed(), "a dry-run delete of red while L2VNI through-red routes through it")

		unchanged(ctx, before)
	})
})

// settledConfigs waits until the lab's objects are applied on every node
// (right after the lab is up, the first reloads may still run: minutes in
// the VM lane) and returns each node's running FRR configuration.
func settledConfigs(ctx context.Context) map[string]string {
	Eventually(func() error {
		for _, l := range l3vnis(ctx) {
			if err := statusApplied(ctx, &l, func() v1alpha1.ObjectStatus { return l.Status.ObjectStatus }); err != nil {
				return err
			}
		}
		u := underlay(ctx)
		return statusApplied(ctx, &u, func() v1alpha1.ObjectStatus { return u.Status.ObjectStatus })
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	var configs map[string]string
	Eventually(func() (err error) {
		configs, err = runningConfigs(ctx)
		return err
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	return configs
}

// unchanged checks for a while that no node's FRR configuration moves
// away from before.
func unchanged(ctx context.Context, before map[string]string) {
	Consistently(func() (map[string]string, error) { return runningConfigs(ctx) }).
		WithTimeout(15 * time.Second).WithPolling(5 * time.Second).Should(Equal(before))
}

// runningConfigs reads every node's running FRR configuration. A vtysh
// that times out (a busy, emulated FRR) is asked again: a failed read is
// not a change.
func runningConfigs(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range env.ClusterNodes() {
		var err error
		for range 3 {
			var cfg string
			if cfg, err = env.Vtysh(ctx, n, "show running-config no-header"); err == nil {
				out[n] = cfg
				break
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
