package cluster

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/internal/testenv"
)

// With ExternalCerts the manager serves the certificate it finds in
// CertDir (here: the one envtest made and put into the webhook
// configuration's caBundle), without cert-controller: no Secret, no
// Service. The API server then rejects a cross-object violation with the
// webhook's message.
func TestWebhookWithExternalCerts(t *testing.T) {
	env, err := testenv.Start(&envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(testenv.RepoRoot(), "operator", "config", "webhook", "manifests.yaml")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	wh := env.Env.WebhookInstallOptions
	const ns = "perouter-system"
	mgr, err := NewManager(env.Config, Options{
		Scheme: env.Scheme, Namespace: ns, MaxIndex: 10, MetricsAddr: "0", ProbeAddr: "0",
		Webhook: &WebhookOptions{Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir, ExternalCerts: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	started := mgr.GetWebhookServer().StartedChecker()
	gomega.NewWithT(t).Eventually(func() error { return started(&http.Request{}) }).
		WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(gomega.Succeed(), "webhook server not serving within 30 s")

	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	l3vni := func(name, vrf string) *v1alpha1.L3VNI {
		return &v1alpha1.L3VNI{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: v1alpha1.L3VNISpec{VRF: vrf, VNI: 100}}
	}
	if err := c.Create(ctx, l3vni("red", "red")); err != nil {
		t.Fatalf("creating the first L3VNI with VNI 100: %v", err)
	}
	err = c.Create(ctx, l3vni("other", "other"), client.DryRunAll)
	const want = "L3VNI default/other: spec.vni: VNI 100 is also used by L3VNI default/red"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "admission webhook") {
		t.Fatalf("second L3VNI with VNI 100: got error %v, want the webhook's %q", err, want)
	}
}
