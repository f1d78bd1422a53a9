// Package config_test checks the install manifests: the kustomization and
// the Helm chart (default values) render, every object they produce is
// accepted by a real API server (server-side apply, dry run), the chart
// carries exactly the generated CRDs, and both installs describe the same
// objects with the same RBAC rules.
package config_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/cluster"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/internal/testenv"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

func root() string { return testenv.RepoRoot() }

func kustomizeBuild(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root(), "operator", "config", "default"))
	if err != nil {
		t.Fatalf("kustomize build operator/config/default: %v", err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, "kustomize build", out)
}

func helmTemplate(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	chart, err := loader.Load(filepath.Join(root(), "charts", "perouter"))
	if err != nil {
		t.Fatalf("loading chart: %v", err)
	}
	vals, err := chartutil.ToRenderValues(chart, nil, chartutil.ReleaseOptions{Name: "perouter", Namespace: "perouter-system", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := engine.Render(chart, vals)
	if err != nil {
		t.Fatalf("rendering chart: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, crd := range chart.CRDObjects() {
		objs = append(objs, decodeAll(t, crd.Filename, crd.File.Data)...)
	}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, ".tpl") || strings.TrimSpace(rendered[name]) == "" {
			continue
		}
		objs = append(objs, decodeAll(t, name, []byte(rendered[name]))...)
	}
	return objs
}

func decodeAll(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("%s: %v", source, err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// applyDryRun applies every object server-side with dryRun=All. The
// namespace is created for real first: a dry-run Namespace does not exist
// for the objects that follow.
func applyDryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			continue
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s: %v", key(o), err)
		}
	}
	accepted := 0
	for _, o := range objs {
		// Server-side apply refuses fields the schema does not declare.
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("perouter-install-test"), client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("server-side apply (dry run) of %s refused: %v", key(o), err)
			continue
		}
		accepted++
	}
	t.Logf("%d of %d objects accepted", accepted, len(objs))
}

func TestKustomizationApplies(t *testing.T) {
	objs := kustomizeBuild(t)
	if len(objs) < 20 {
		t.Fatalf("kustomize build produced %d objects, want the full install", len(objs))
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != "perouter-system" {
			t.Errorf("%s is in namespace %q, want perouter-system", key(o), ns)
		}
	}
	applyDryRun(t, objs)
}

func TestChartApplies(t *testing.T) {
	applyDryRun(t, helmTemplate(t))
}

// The chart must describe the same install as the kustomization: same
// objects, same RBAC rules (the kustomization's come from controller-gen).
func TestChartMatchesKustomization(t *testing.T) {
	byKey := func(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
		m := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			m[key(o)] = o
		}
		return m
	}
	k, h := byKey(kustomizeBuild(t)), byKey(helmTemplate(t))
	keys := func(m map[string]*unstructured.Unstructured) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if diff := cmp.Diff(keys(k), keys(h)); diff != "" {
		t.Errorf("objects differ (-kustomize +chart):\n%s", diff)
	}
	for name, ko := range k {
		ho, ok := h[name]
		if !ok {
			continue
		}
		switch ko.GetKind() {
		case "ClusterRole", "Role":
			if diff := cmp.Diff(normalizeRules(ko.Object["rules"]), normalizeRules(ho.Object["rules"])); diff != "" {
				t.Errorf("%s rules differ (-kustomize +chart):\n%s", name, diff)
			}
		case "ValidatingWebhookConfiguration", "ConfigMap":
			for _, field := range []string{"webhooks", "data"} {
				if diff := cmp.Diff(ko.Object[field], ho.Object[field]); diff != "" {
					t.Errorf("%s %s differ (-kustomize +chart):\n%s", name, field, diff)
				}
			}
		}
	}
}

// normalizeRules makes rule lists comparable whatever their YAML style.
func normalizeRules(v any) []string {
	rules, _ := v.([]any)
	var out []string
	for _, r := range rules {
		m := r.(map[string]any)
		var parts []string
		for _, f := range []string{"apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"} {
			var items []string
			list, _ := m[f].([]any)
			for _, x := range list {
				items = append(items, x.(string))
			}
			slices.Sort(items)
			parts = append(parts, f+"="+strings.Join(items, ","))
		}
		out = append(out, strings.Join(parts, " "))
	}
	slices.Sort(out)
	return out
}

func TestChartCRDsEqualGenerated(t *testing.T) {
	generated, err := filepath.Glob(filepath.Join(root(), "operator", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	inChart, err := filepath.Glob(filepath.Join(root(), "charts", "perouter", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	if diff := cmp.Diff(base(generated), base(inChart)); diff != "" {
		t.Fatalf("CRD files differ (-generated +chart); run make chart-crds:\n%s", diff)
	}
	for _, g := range generated {
		want, _ := os.ReadFile(g)
		got, _ := os.ReadFile(filepath.Join(root(), "charts", "perouter", "crds", filepath.Base(g)))
		if !bytes.Equal(want, got) {
			t.Errorf("charts/perouter/crds/%s differs from the generated CRD; run make chart-crds", filepath.Base(g))
		}
	}
}

// recordingFRR keeps the last config the controller pushed.
type recordingFRR struct {
	mu   sync.Mutex
	last string
}

func (r *recordingFRR) Reload(_ context.Context, config string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = config
	return nil
}

func (r *recordingFRR) Last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

type nopDatapath struct{}

func (nopDatapath) Prepare(context.Context, hostnet.Plan) (hostnet.Changes, error)  { return nil, nil }
func (nopDatapath) Activate(context.Context, hostnet.Plan) (hostnet.Changes, error) { return nil, nil }
func (nopDatapath) Reapply(context.Context, hostnet.Plan) (hostnet.Changes, error)  { return nil, nil }

// TestLeastPrivilegeRBACSuffices runs the labeler's and the controller's
// managers exactly as cmd/labeler and cmd/controller build them (the
// labeler with cert-controller, both with HTTPS metrics), each as its
// ServiceAccount bound to the generated roles only, and checks that they
// do their work: anything the roles lack shows up as a stall. The
// controller reads a passwordSecret in the operator namespace under its
// Role; the labeler fills its certificate Secret and the caBundle of its
// webhook configuration under resourceNames-bound rules; a token bound to
// perouter-metrics-reader may scrape the controller's metrics and no
// token may not.
func TestLeastPrivilegeRBACSuffices(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "perouter-system"
	for _, o := range kustomizeBuild(t) {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "Secret":
		case "ValidatingWebhookConfiguration":
			// Present for cert-controller to fill in, but matching no
			// namespace: nothing in envtest serves its Service.
			ws, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
			for _, w := range ws {
				w.(map[string]any)["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"perouter-install-test": "never"}}
			}
			if err := unstructured.SetNestedSlice(o.Object, ws, "webhooks"); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s: %v", key(o), err)
		}
		if o.GetKind() == "ValidatingWebhookConfiguration" || o.GetKind() == "Secret" {
			t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
		}
	}
	as := func(sa string) *rest.Config {
		u, err := env.Env.AddUser(envtest.User{Name: "system:serviceaccount:" + ns + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return u.Config()
	}
	run := func(mgr ctrl.Manager) {
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mgr.Start(mctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	clusterMgr, err := cluster.NewManager(as("perouter-labeler"), cluster.Options{
		Scheme: env.Scheme, Namespace: ns, MaxIndex: 100, LeaderElect: true, MetricsAddr: "0", ProbeAddr: "0",
		Webhook: &cluster.WebhookOptions{Port: freePort(t), CertDir: t.TempDir(), CertSecret: "perouter-webhook-cert",
			Service: "perouter-webhook-service", Configuration: "perouter-validating-webhook-configuration"}})
	if err != nil {
		t.Fatal(err)
	}
	frr := &recordingFRR{}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	nodeMgr, err := controller.NewNodeManager(as("perouter-controller"), controller.NodeManagerOptions{
		Scheme: env.Scheme, NodeName: "rbac-0", Namespace: ns, FRR: frr, Datapath: nopDatapath{},
		Resync: time.Hour, MetricsAddr: metricsAddr, MetricsSecure: true, ProbeAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	run(clusterMgr)
	run(nodeMgr)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rbac-0"}}
	l2 := &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-l2"}, Spec: v1alpha1.L2VNISpec{VNI: 777}}
	ul := objectstest.Lab(0).Underlays[0]
	ul.Name = "rbac-underlay"
	ul.Spec.Neighbors[0].PasswordSecret = "rbac-leaf-password"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-leaf-password"}, StringData: map[string]string{"password": "rbac-s3cret"}}
	for _, o := range []client.Object{node, l2, secret, &ul} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	state := ""
	gomega.NewGomega(func(string, ...int) {
		t.Helper()
		t.Fatalf("components stalled under their generated roles (missing permission?): %s", state)
	}).Eventually(func() bool {
		var (
			n    corev1.Node
			rns  v1alpha1.RouterNodeStatus
			l    v1alpha1.L2VNI
			cert corev1.Secret
			vwc  admissionv1.ValidatingWebhookConfiguration
		)
		errs := []error{
			admin.Get(ctx, client.ObjectKey{Name: "rbac-0"}, &n),
			admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rbac-0"}, &rns),
			admin.Get(ctx, client.ObjectKeyFromObject(l2), &l),
			admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "perouter-webhook-cert"}, &cert),
			admin.Get(ctx, client.ObjectKey{Name: "perouter-validating-webhook-configuration"}, &vwc),
		}
		injected := len(vwc.Webhooks) == 2 && len(vwc.Webhooks[0].ClientConfig.CABundle) > 0 && len(vwc.Webhooks[1].ClientConfig.CABundle) > 0
		password := strings.Contains(frr.Last(), "password rbac-s3cret")
		state = fmt.Sprintf("node labels %v; RouterNodeStatus %+v (%v); L2VNI status %+v; certificate Secret keys %d; caBundle injected %v; password in FRR config %v",
			n.Labels, rns.Status, errs[1], l.Status, len(cert.Data), injected, password)
		return !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) &&
			n.Labels[v1alpha1.NodeIndexLabel] == "0" && // labeler: list/watch/patch nodes, lease
			rns.Status.NodeIndex != nil && *rns.Status.NodeIndex == 0 && len(rns.Status.Objects) > 0 && // controller: reads, RNS create + status
			l.Status.ObservedGeneration == 1 && l.Status.SelectedNodes == 1 && // aggregator: RNS list, status update
			len(cert.Data["tls.crt"]) > 0 && injected && // cert-controller under resourceNames
			password // controller: Secret in its namespace (Role, namespaced cache)
	}).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(gomega.BeTrue())
	t.Logf("all components worked with their generated roles: %s", state)

	checkMetricsAuth(t, admin, "https://"+metricsAddr+"/metrics")
}

// checkMetricsAuth scrapes url without a token (refused) and with the
// token of a ServiceAccount bound to perouter-metrics-reader (served).
func checkMetricsAuth(t *testing.T, admin client.Client, url string) {
	t.Helper()
	ctx := context.Background()
	const ns = "perouter-system"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-scraper"}}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "perouter-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "rbac-scraper"}},
	}
	for _, o := range []client.Object{sa, crb} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	tr := &authenticationv1.TokenRequest{}
	if err := admin.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("token for %s: %v", sa.Name, err)
	}
	// The server's certificate is self-signed (controller-runtime makes
	// one when no CertDir is given); only the token is under test here.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test server
	get := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := 0, ""
	gomega.NewWithT(t).Eventually(func() int {
		code, body = get(tr.Status.Token)
		return code
	}).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(gomega.Equal(http.StatusOK), "scrape with a perouter-metrics-reader token: %d %.200s", code, body)
	if !strings.Contains(body, "controller_runtime_reconcile_total") {
		t.Errorf("metrics body lacks controller-runtime's metrics: %.300s", body)
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Errorf("scrape without a token: %d %.200s, want 401", code, body)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDocExamplesApply applies the documented examples (all but the
// deliberately invalid ones) server-side, dry run, against the generated
// CRDs: a CRD the API server cannot validate objects with fails here.
func TestDocExamplesApply(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "perouter-system"}}}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(ns), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"lab", "l2vni", "l2lab", "l2v6lab", "passthrough", "password", "rawfrrconfig", "route-reflector", "rrlab", "dual-stack-vteps"} {
		files, _ := filepath.Glob(filepath.Join(root(), "docs", "examples", dir, "*.yaml"))
		if len(files) == 0 {
			t.Errorf("docs/examples/%s has no YAML", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range decodeAll(t, f, data) {
				err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("perouter-install-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("docs/examples/%s/%s: %s refused: %v", dir, filepath.Base(f), key(o), err)
				}
			}
		}
	}
}
