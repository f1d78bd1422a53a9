// Package config_test checks the install manifests: the kustomization and
// the Helm chart (default values) render, every object they produce is
// accepted by a real API server (server-side apply, dry run), the chart
// carries exactly the generated CRDs, and both installs describe the same
// objects with the same RBAC rules.
package config_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
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

type nopFRR struct{}

func (nopFRR) Reload(context.Context, string) error { return nil }

type nopDatapath struct{}

func (nopDatapath) Prepare(context.Context, hostnet.Plan) (hostnet.Changes, error)  { return nil, nil }
func (nopDatapath) Activate(context.Context, hostnet.Plan) (hostnet.Changes, error) { return nil, nil }
func (nopDatapath) Reapply(context.Context, hostnet.Plan) (hostnet.Changes, error)  { return nil, nil }

// TestLeastPrivilegeRBACSuffices runs the labeler's and the controller's
// managers exactly as cmd/labeler and cmd/controller build them, each as
// its ServiceAccount bound to the generated roles only, and checks that
// they do their work: anything the roles lack shows up as a stall.
func TestLeastPrivilegeRBACSuffices(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range kustomizeBuild(t) {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding":
			if err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s: %v", key(o), err)
			}
		}
	}
	const ns = "perouter-system"
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
		Scheme: env.Scheme, Namespace: ns, MaxIndex: 100, LeaderElect: true, MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	nodeMgr, err := controller.NewNodeManager(as("perouter-controller"), controller.NodeManagerOptions{
		Scheme: env.Scheme, NodeName: "rbac-0", Namespace: ns, FRR: nopFRR{}, Datapath: nopDatapath{},
		Resync: time.Hour, MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	run(clusterMgr)
	run(nodeMgr)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rbac-0"}}
	l2 := &v1alpha1.L2VNI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-l2"}, Spec: v1alpha1.L2VNISpec{VNI: 777}}
	for _, o := range []client.Object{node, l2} {
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
			n   corev1.Node
			rns v1alpha1.RouterNodeStatus
			l   v1alpha1.L2VNI
		)
		errs := []error{
			admin.Get(ctx, client.ObjectKey{Name: "rbac-0"}, &n),
			admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rbac-0"}, &rns),
			admin.Get(ctx, client.ObjectKeyFromObject(l2), &l),
		}
		state = fmt.Sprintf("node labels %v; RouterNodeStatus %+v (%v); L2VNI status %+v", n.Labels, rns.Status, errs[1], l.Status)
		return errs[0] == nil && errs[1] == nil && errs[2] == nil &&
			n.Labels[v1alpha1.NodeIndexLabel] == "0" && // labeler: list/watch/patch nodes, lease
			rns.Status.NodeIndex != nil && *rns.Status.NodeIndex == 0 && len(rns.Status.Objects) > 0 && // controller: reads, RNS create + status
			l.Status.ObservedGeneration == 1 && l.Status.SelectedNodes == 1 // aggregator: RNS list, status update
	}).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(gomega.BeTrue())
	t.Logf("all three components worked with their generated roles: %s", state)
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
	for _, dir := range []string{"lab", "l2vni", "passthrough", "password"} {
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
