package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Suite 6: invalid objects are rejected and no node changes.
var _ = Describe("Admission", Label("admission"), func() {
	It("rejects every object of docs/examples/invalid and leaves the routers untouched", func(ctx SpecContext) {
		requireCluster()
		before := runningConfigs(ctx)
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
		Consistently(func() map[string]string { return runningConfigs(ctx) }).
			WithTimeout(15 * 1e9).WithPolling(5 * 1e9).Should(Equal(before))
	})
})

func runningConfigs(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, n := range env.ClusterNodes() {
		cfg, err := env.Vtysh(ctx, n, "show running-config no-header")
		Expect(err).NotTo(HaveOccurred())
		out[n] = cfg
	}
	return out
}
