package config_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const (
	operatorNS    = "perouter-system"
	certSecret    = "perouter-webhook-cert"
	webhookConfig = "perouter-validating-webhook-configuration"
	// reloaderSocketDir is the host directory of the reloader's socket.
	reloaderSocketDir = "/var/run/perouter"
)

// install is one rendering (kustomize or Helm) decoded into typed objects.
type install struct {
	pods         map[string]podSpecOf // by workload name
	clusterRoles map[string]rbacv1.ClusterRole
	roles        map[string]rbacv1.Role
	crbs         []rbacv1.ClusterRoleBinding
	rbs          []rbacv1.RoleBinding
	webhooks     []admissionv1.ValidatingWebhookConfiguration
	pdbs         []policyv1.PodDisruptionBudget
	deployments  map[string]appsv1.Deployment
	// plurals are the CRDs' resource names, by kind.
	plurals map[string]string
}

type podSpecOf struct {
	kind     string
	template corev1.PodTemplateSpec
}

func decodeInstall(t *testing.T, objs []*unstructured.Unstructured) install {
	t.Helper()
	in := install{pods: map[string]podSpecOf{}, clusterRoles: map[string]rbacv1.ClusterRole{},
		roles: map[string]rbacv1.Role{}, deployments: map[string]appsv1.Deployment{}, plurals: map[string]string{}}
	// What each kind adds to in; other kinds are not looked at.
	add := map[string]func(o *unstructured.Unstructured){
		"DaemonSet": func(o *unstructured.Unstructured) {
			ds := decodeAs[appsv1.DaemonSet](t, o)
			in.pods[ds.Name] = podSpecOf{kind: "DaemonSet", template: ds.Spec.Template}
		},
		"Deployment": func(o *unstructured.Unstructured) {
			d := decodeAs[appsv1.Deployment](t, o)
			in.pods[d.Name] = podSpecOf{kind: "Deployment", template: d.Spec.Template}
			in.deployments[d.Name] = d
		},
		"ClusterRole": func(o *unstructured.Unstructured) {
			r := decodeAs[rbacv1.ClusterRole](t, o)
			in.clusterRoles[r.Name] = r
		},
		"Role": func(o *unstructured.Unstructured) {
			r := decodeAs[rbacv1.Role](t, o)
			in.roles[r.Namespace+"/"+r.Name] = r
		},
		"ClusterRoleBinding": func(o *unstructured.Unstructured) {
			in.crbs = append(in.crbs, decodeAs[rbacv1.ClusterRoleBinding](t, o))
		},
		"RoleBinding": func(o *unstructured.Unstructured) {
			in.rbs = append(in.rbs, decodeAs[rbacv1.RoleBinding](t, o))
		},
		"ValidatingWebhookConfiguration": func(o *unstructured.Unstructured) {
			in.webhooks = append(in.webhooks, decodeAs[admissionv1.ValidatingWebhookConfiguration](t, o))
		},
		"PodDisruptionBudget": func(o *unstructured.Unstructured) {
			in.pdbs = append(in.pdbs, decodeAs[policyv1.PodDisruptionBudget](t, o))
		},
		"CustomResourceDefinition": func(o *unstructured.Unstructured) {
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
			in.plurals[kind] = plural
		},
	}
	for _, o := range objs {
		if f, ok := add[o.GetKind()]; ok {
			f(o)
		}
	}
	return in
}

// decodeAs decodes o into a T, refusing fields T does not have.
func decodeAs[T any](t *testing.T, o *unstructured.Unstructured) T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("decoding %s: %v", key(o), err)
	}
	return v
}

// grant is one (scope, API group, resource, verb, resourceNames) a
// ServiceAccount holds.
type grant struct {
	Scope         string // "cluster" or the namespace of the Role
	APIGroup      string
	Resource      string // or the non-resource URL
	Verb          string
	ResourceNames string // comma-separated, "" for all
}

func (g grant) String() string {
	s := fmt.Sprintf("%s %s/%s %s", g.Scope, g.APIGroup, g.Resource, g.Verb)
	if g.ResourceNames != "" {
		s += " [" + g.ResourceNames + "]"
	}
	return s
}

func expand(scope string, rules []rbacv1.PolicyRule) []grant {
	var out []grant
	for _, r := range rules {
		names := strings.Join(slices.Sorted(slices.Values(r.ResourceNames)), ",")
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				out = append(out, grant{Scope: scope, Resource: u, Verb: v})
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					out = append(out, grant{Scope: scope, APIGroup: g, Resource: res, Verb: v, ResourceNames: names})
				}
			}
		}
	}
	return out
}

// grantsOf lists what the bindings of the install give ServiceAccount sa.
func (in install) grantsOf(sa string) []grant {
	var out []grant
	isSA := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == operatorNS
		})
	}
	for _, b := range in.crbs {
		if isSA(b.Subjects) {
			out = append(out, expand("cluster", in.clusterRoles[b.RoleRef.Name].Rules)...)
		}
	}
	for _, b := range in.rbs {
		if !isSA(b.Subjects) {
			continue
		}
		if b.RoleRef.Kind == "ClusterRole" {
			out = append(out, expand(b.Namespace, in.clusterRoles[b.RoleRef.Name].Rules)...)
		} else {
			out = append(out, expand(b.Namespace, in.roles[b.Namespace+"/"+b.RoleRef.Name].Rules)...)
		}
	}
	slices.SortFunc(out, func(a, b grant) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

type containerRef struct {
	workload  string
	container corev1.Container
	init      bool
	pod       corev1.PodSpec
}

func (c containerRef) String() string { return c.workload + "/" + c.container.Name }

func (in install) containers() []containerRef {
	var out []containerRef
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range in.pods {
			if !yield(k) {
				return
			}
		}
	}) {
		spec := in.pods[name].template.Spec
		for _, c := range spec.InitContainers {
			out = append(out, containerRef{workload: name, container: c, init: true, pod: spec})
		}
		for _, c := range spec.Containers {
			out = append(out, containerRef{workload: name, container: c, pod: spec})
		}
	}
	return out
}

func argValue(c corev1.Container, flag string) (string, bool) {
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func appVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(), "charts", "perouter", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	return chart.AppVersion
}

// privilegedWhy names, for each container allowed to be privileged, the
// kernel work that needs it. Everything else must run unprivileged.
var privilegedWhy = map[string]string{
	"perouter-controller/controller": "creates the router netns (bind mount under /run/netns, Bidirectional propagation), setns into it, netlink, /proc/sys writes in it",
	"perouter-router/frr":            "creates the router netns (ip netns add: bind mount, Bidirectional propagation); zebra writes /proc/sys in it",
}

// TestInstallSecurity checks the least-privilege and exposure properties
// of both renderings (issue 15 items 8–11). Each case states one property
// a security review relies on; docs/security.md describes the same.
func TestInstallSecurity(t *testing.T) {
	renderings := map[string]func(*testing.T) []*unstructured.Unstructured{
		"kustomize": kustomizeBuild,
		"helm":      helmTemplate,
	}
	cases := map[string]func(t *testing.T, in install){
		"no ServiceAccount reads Secrets cluster-wide": func(t *testing.T, in install) {
			for _, sa := range []string{"perouter-controller", "perouter-labeler", "perouter-router"} {
				for _, g := range in.grantsOf(sa) {
					if g.Scope == "cluster" && g.APIGroup == "" && (g.Resource == "secrets" || g.Resource == "*") {
						t.Errorf("%s holds %s: Secrets must be readable only in %s (a Role)", sa, g, operatorNS)
					}
				}
			}
		},
		"controller reads Secrets in the operator namespace only": func(t *testing.T, in install) {
			var got []string
			for _, g := range in.grantsOf("perouter-controller") {
				if g.APIGroup == "" && g.Resource == "secrets" {
					got = append(got, g.String())
				}
			}
			want := []string{operatorNS + " /secrets get", operatorNS + " /secrets list", operatorNS + " /secrets watch"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("controller's Secret grants (-want +got):\n%s", diff)
			}
		},
		"labeler reads and updates only its certificate Secret and its webhook configuration": func(t *testing.T, in install) {
			for _, g := range in.grantsOf("perouter-labeler") {
				switch {
				case g.APIGroup == "" && g.Resource == "secrets":
					if g.Scope != operatorNS || g.ResourceNames != certSecret {
						t.Errorf("labeler holds %s, want Secrets only in %s with resourceNames [%s]", g, operatorNS, certSecret)
					}
				case g.Resource == "validatingwebhookconfigurations":
					if g.ResourceNames != webhookConfig {
						t.Errorf("labeler holds %s, want resourceNames [%s]", g, webhookConfig)
					}
				}
			}
		},
		"metrics are served over HTTPS with authentication and authorization": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				addr, ok := argValue(c.container, "metrics-bind-address")
				if !ok {
					if slices.ContainsFunc(c.container.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" }) {
						t.Errorf("%s declares a metrics port but no --metrics-bind-address", c)
					}
					continue
				}
				if addr == "0" || strings.HasPrefix(addr, "127.0.0.1:") {
					continue
				}
				if secure, _ := argValue(c.container, "metrics-secure"); secure != "true" {
					t.Errorf("%s serves metrics on %q without --metrics-secure=true", c, addr)
					continue
				}
				sa := "perouter-" + strings.TrimPrefix(c.workload, "perouter-")
				var have []string
				for _, g := range in.grantsOf(sa) {
					if g.Scope == "cluster" && g.Verb == "create" {
						have = append(have, g.APIGroup+"/"+g.Resource)
					}
				}
				for _, need := range []string{"authentication.k8s.io/tokenreviews", "authorization.k8s.io/subjectaccessreviews"} {
					if !slices.Contains(have, need) {
						t.Errorf("%s authenticates metrics requests but %s cannot create %s", c, sa, need)
					}
				}
			}
			if _, ok := in.clusterRoles["perouter-metrics-reader"]; !ok {
				t.Errorf("no ClusterRole perouter-metrics-reader to bind a scraper to")
			}
		},
		// A RawFRRConfig is root-equivalent control of the nodes' routing
		// (docs/security.md): one documented role may write them, it
		// aggregates into no other, and perouter's own identities only
		// read them.
		"only perouter-rawfrrconfig-editor may write RawFRRConfigs": func(t *testing.T, in install) {
			writes := func(r rbacv1.PolicyRule) bool {
				group := slices.Contains(r.APIGroups, "network.perouter.io") || slices.Contains(r.APIGroups, "*")
				res := slices.Contains(r.Resources, "rawfrrconfigs") || slices.Contains(r.Resources, "*")
				return group && res && slices.ContainsFunc(r.Verbs, func(v string) bool {
					return !slices.Contains([]string{"get", "list", "watch"}, v)
				})
			}
			var writers []string
			for name, cr := range in.clusterRoles {
				if slices.ContainsFunc(cr.Rules, writes) {
					writers = append(writers, "ClusterRole "+name)
				}
			}
			for name, r := range in.roles {
				if slices.ContainsFunc(r.Rules, writes) {
					writers = append(writers, "Role "+name)
				}
			}
			if diff := cmp.Diff([]string{"ClusterRole perouter-rawfrrconfig-editor"}, writers); diff != "" {
				t.Errorf("roles that may write RawFRRConfigs (-want +got):\n%s", diff)
			}
			editor, ok := in.clusterRoles["perouter-rawfrrconfig-editor"]
			if !ok {
				t.Fatal("no ClusterRole perouter-rawfrrconfig-editor")
			}
			if editor.AggregationRule != nil {
				t.Errorf("perouter-rawfrrconfig-editor aggregates other roles: %+v", editor.AggregationRule)
			}
			for k := range editor.Labels {
				if strings.Contains(k, "aggregate-to-") {
					t.Errorf("perouter-rawfrrconfig-editor carries %s: it would be aggregated into a built-in role", k)
				}
			}
			for _, b := range in.crbs {
				if b.RoleRef.Name == "perouter-rawfrrconfig-editor" {
					t.Errorf("the install binds perouter-rawfrrconfig-editor (ClusterRoleBinding %s): it must be left to the cluster admin", b.Name)
				}
			}
			for _, b := range in.rbs {
				if b.RoleRef.Name == "perouter-rawfrrconfig-editor" {
					t.Errorf("the install binds perouter-rawfrrconfig-editor (RoleBinding %s/%s)", b.Namespace, b.Name)
				}
			}
			for _, sa := range []string{"perouter-controller", "perouter-labeler", "perouter-router"} {
				for _, g := range in.grantsOf(sa) {
					if g.Resource == "rawfrrconfigs" && !slices.Contains([]string{"get", "list", "watch"}, g.Verb) {
						t.Errorf("%s holds %s: perouter only reads RawFRRConfigs", sa, g)
					}
				}
			}
		},
		"reloader serves no TCP port": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				if c.container.Name != "reloader" {
					continue
				}
				if addr, ok := argValue(c.container, "metrics-addr"); ok && !strings.HasPrefix(addr, "127.0.0.1:") {
					t.Errorf("%s serves metrics on %q", c, addr)
				}
				if len(c.container.Ports) > 0 {
					t.Errorf("%s declares ports %v", c, c.container.Ports)
				}
			}
		},
		"probes of host-network pods bind to localhost": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				if !c.pod.HostNetwork {
					continue
				}
				for _, p := range []*corev1.Probe{c.container.LivenessProbe, c.container.ReadinessProbe, c.container.StartupProbe} {
					if p != nil && p.HTTPGet != nil && p.HTTPGet.Host != "127.0.0.1" {
						t.Errorf("%s probes %s on host %q, want 127.0.0.1", c, p.HTTPGet.Path, p.HTTPGet.Host)
					}
				}
				if c.container.LivenessProbe != nil && c.container.LivenessProbe.HTTPGet != nil {
					if addr, _ := argValue(c.container, "health-probe-bind-address"); !strings.HasPrefix(addr, "127.0.0.1:") {
						t.Errorf("%s binds its probes to %q (hostNetwork: every host interface), want 127.0.0.1:<port>", c, addr)
					}
				}
			}
		},
		"reloader socket directory is mounted only where it is used": func(t *testing.T, in install) {
			var got []string
			for _, c := range in.containers() {
				for _, m := range c.container.VolumeMounts {
					for _, v := range c.pod.Volumes {
						if v.Name == m.Name && v.HostPath != nil && v.HostPath.Path == reloaderSocketDir {
							got = append(got, c.String())
						}
					}
				}
			}
			if diff := cmp.Diff([]string{"perouter-controller/controller", "perouter-router/reloader"}, got); diff != "" {
				t.Errorf("containers mounting %s (-want +got):\n%s", reloaderSocketDir, diff)
			}
		},
		"every container has CPU and memory requests": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if q, ok := c.container.Resources.Requests[r]; !ok || q.IsZero() {
						t.Errorf("%s has no %s request", c, r)
					}
				}
			}
		},
		"router and controller pods are node-critical": func(t *testing.T, in install) {
			for _, w := range []string{"perouter-router", "perouter-controller"} {
				if got := in.pods[w].template.Spec.PriorityClassName; got != "system-node-critical" {
					t.Errorf("%s has priorityClassName %q, want system-node-critical", w, got)
				}
			}
		},
		"images are pinned to the chart's appVersion": func(t *testing.T, in install) {
			want := appVersion(t)
			for _, c := range in.containers() {
				_, tag, _ := strings.Cut(c.container.Image, ":")
				if tag != want {
					t.Errorf("%s runs image %q, want tag %q (Chart.yaml appVersion)", c, c.container.Image, want)
				}
			}
		},
		"privileged only where the kernel work needs it": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				sc := c.container.SecurityContext
				privileged := sc != nil && sc.Privileged != nil && *sc.Privileged
				why, allowed := privilegedWhy[c.String()]
				switch {
				case privileged && !allowed:
					t.Errorf("%s is privileged; only %v may be", c, slices.Sorted(func(y func(string) bool) {
						for k := range privilegedWhy {
							if !y(k) {
								return
							}
						}
					}))
				case privileged:
					// The reason must still hold: Kubernetes admits
					// Bidirectional propagation only for privileged containers.
					if !slices.ContainsFunc(c.container.VolumeMounts, func(m corev1.VolumeMount) bool {
						return m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional
					}) {
						t.Errorf("%s is privileged for %q but mounts nothing Bidirectional: drop privileged", c, why)
					}
				default:
					if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
						t.Errorf("%s does not set allowPrivilegeEscalation: false", c)
					}
					if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
						t.Errorf("%s does not drop ALL capabilities", c)
					}
				}
			}
		},
		"reloader has a securityContext adding only DAC_OVERRIDE": func(t *testing.T, in install) {
			for _, c := range in.containers() {
				if c.container.Name != "reloader" {
					continue
				}
				sc := c.container.SecurityContext
				if sc == nil || sc.Capabilities == nil {
					t.Fatalf("%s has no securityContext with capabilities", c)
				}
				if diff := cmp.Diff([]corev1.Capability{"DAC_OVERRIDE"}, sc.Capabilities.Add); diff != "" {
					t.Errorf("%s adds capabilities (-want +got):\n%s", c, diff)
				}
			}
		},
		"every pod uses the RuntimeDefault seccomp profile": func(t *testing.T, in install) {
			for name, p := range in.pods {
				sc := p.template.Spec.SecurityContext
				if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext.seccompProfile is not RuntimeDefault", name)
				}
			}
		},
		"two labeler replicas under leader election and a PodDisruptionBudget": func(t *testing.T, in install) {
			d := in.deployments["perouter-labeler"]
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("perouter-labeler replicas = %d, want at least 2", ptrOr(d.Spec.Replicas, 1))
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if v, ok := argValue(c, "leader-elect"); ok && v != "true" {
					t.Errorf("labeler runs with --leader-elect=%s", v)
				}
			}
			covered := false
			for _, p := range in.pdbs {
				sel, err := metav1LabelSelector(p)
				if err != nil {
					t.Fatal(err)
				}
				if sel.Matches(labels.Set(d.Spec.Template.Labels)) && p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() >= 1 {
					covered = true
				}
			}
			if !covered {
				t.Errorf("no PodDisruptionBudget with minAvailable ≥ 1 covers the labeler pods")
			}
		},
		// The manifests name the kinds by hand; objects.Kinds is the list
		// the code serves, so a kind added there and not here fails.
		"every perouter kind is judged by the webhook and readable by the controller and the labeler": func(t *testing.T, in install) {
			var resources []string
			for _, k := range objects.Kinds() {
				plural, ok := in.plurals[k.Name]
				if !ok {
					t.Fatalf("no CRD of kind %s", k.Name)
				}
				resources = append(resources, plural)
			}
			slices.Sort(resources)
			if len(in.webhooks) == 0 {
				t.Fatal("no ValidatingWebhookConfiguration")
			}
			for _, cfg := range in.webhooks {
				for _, w := range cfg.Webhooks {
					var got []string
					for _, r := range w.Rules {
						got = append(got, r.Resources...)
					}
					slices.Sort(got)
					if diff := cmp.Diff(resources, got); diff != "" {
						t.Errorf("webhook %s resources (-kinds +manifest):\n%s", w.Name, diff)
					}
				}
			}
			need := map[string][]string{
				"perouter-controller": {"list", "watch"},
				"perouter-labeler":    {"list", "watch"},
			}
			for sa, verbs := range need {
				grants := in.grantsOf(sa)
				for _, res := range resources {
					for _, verb := range verbs {
						if !slices.ContainsFunc(grants, func(g grant) bool {
							return g.Scope == "cluster" && g.APIGroup == "network.perouter.io" && g.Resource == res && g.Verb == verb && g.ResourceNames == ""
						}) {
							t.Errorf("%s may not %s %s cluster-wide", sa, verb, res)
						}
					}
				}
			}
			// The status aggregator writes every kind's status.
			grants := in.grantsOf("perouter-labeler")
			for _, res := range resources {
				if !slices.ContainsFunc(grants, func(g grant) bool {
					return g.Scope == "cluster" && g.APIGroup == "network.perouter.io" && g.Resource == res+"/status" && g.Verb == "update"
				}) {
					t.Errorf("perouter-labeler may not update %s/status", res)
				}
			}
		},
		"webhook down does not block deletions": func(t *testing.T, in install) {
			if len(in.webhooks) == 0 {
				t.Fatal("no ValidatingWebhookConfiguration")
			}
			for _, cfg := range in.webhooks {
				for _, w := range cfg.Webhooks {
					for _, r := range w.Rules {
						if !slices.Equal(r.APIGroups, []string{"network.perouter.io"}) {
							t.Errorf("webhook %s matches API groups %v, want only network.perouter.io", w.Name, r.APIGroups)
						}
						fails := w.FailurePolicy == nil || *w.FailurePolicy == admissionv1.Fail
						if fails && (slices.Contains(r.Operations, admissionv1.Delete) || slices.Contains(r.Operations, admissionv1.OperationAll)) {
							t.Errorf("webhook %s has failurePolicy Fail on DELETE: with the labeler down, deleting a namespace that holds perouter objects hangs", w.Name)
						}
					}
				}
			}
		},
	}
	for rname, render := range renderings {
		t.Run(rname, func(t *testing.T) {
			in := decodeInstall(t, render(t))
			for _, name := range slices.Sorted(func(y func(string) bool) {
				for k := range cases {
					if !y(k) {
						return
					}
				}
			}) {
				t.Run(name, func(t *testing.T) { cases[name](t, in) })
			}
		})
	}
}

func metav1LabelSelector(p policyv1.PodDisruptionBudget) (labels.Selector, error) {
	if p.Spec.Selector == nil {
		return labels.Nothing(), nil
	}
	return labels.ValidatedSelectorFromSet(p.Spec.Selector.MatchLabels)
}

// The reason the router's frr container and the controller stay
// privileged, proven against the API server: without privileged, their
// Bidirectional /run/netns mount is refused.
func TestBidirectionalMountNeedsPrivileged(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range kustomizeBuild(t) {
		if o.GetKind() == "Namespace" {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
				t.Fatal(err)
			}
		}
	}
	objs := map[string]*unstructured.Unstructured{}
	for _, o := range kustomizeBuild(t) {
		if o.GetKind() == "DaemonSet" {
			objs[o.GetName()] = o
		}
	}
	for name := range privilegedWhy {
		t.Run(name, func(t *testing.T) {
			workload, container, _ := strings.Cut(name, "/")
			o := objs[workload].DeepCopy()
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, x := range cs {
				m := x.(map[string]any)
				if m["name"] == container {
					m["securityContext"] = map[string]any{"privileged": false, "capabilities": map[string]any{"add": []any{"NET_ADMIN", "SYS_ADMIN"}}}
				}
			}
			if err := unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers"); err != nil {
				t.Fatal(err)
			}
			err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("perouter-install-test"), client.ForceOwnership, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "Bidirectional") {
				t.Fatalf("%s without privileged: got %v, want the API server to refuse its Bidirectional mount", name, err)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// With the labeler down (nothing serves the webhook's Service), the
// rendered webhook configuration still refuses creates but lets deletes
// through: deleting a namespace that holds perouter objects is not wedged.
func TestWebhookDownDeletesProceed(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	objs := kustomizeBuild(t)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := objectstest.L3VNI(901)
	v.ResourceVersion = ""
	if err := c.Create(ctx, &v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), &v) })
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration", "Service":
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("perouter-install-test"), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s: %v", key(o), err)
			}
			t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
		}
	}
	fresh := objectstest.L3VNI(902)
	fresh.ResourceVersion = ""
	err = c.Create(ctx, &fresh, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("create with the webhook down: got %v, want a refusal (failurePolicy Fail)", err)
	}
	t.Logf("create refused as expected: %.200s", err)
	if err := c.Delete(ctx, &v); err != nil {
		t.Fatalf("delete with the webhook down refused: %v (a namespace holding perouter objects could not be deleted)", err)
	}
}

// TestSecurityDocRBAC holds docs/security.md's RBAC table to the rendered
// manifests: every grant the table lists, and no other, is what each
// ServiceAccount holds in both renderings.
func TestSecurityDocRBAC(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root(), "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]grant{}
	_, table, ok := strings.Cut(string(data), "\n## RBAC\n")
	if !ok {
		t.Fatal("docs/security.md has no ## RBAC section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	split := func(cell string) []string {
		var out []string
		for _, x := range strings.Split(cell, ",") {
			out = append(out, strings.TrimSpace(x))
		}
		return out
	}
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "perouter-") {
			continue
		}
		rows++
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		group := cells[2]
		if group == "core" {
			group = ""
		}
		names := cells[5]
		if names == "—" {
			names = ""
		}
		rule := rbacv1.PolicyRule{APIGroups: []string{group}, Resources: split(cells[3]), Verbs: split(cells[4])}
		if names != "" {
			rule.ResourceNames = split(names)
		}
		documented[cells[0]] = append(documented[cells[0]], expand(cells[1], []rbacv1.PolicyRule{rule})...)
	}
	if rows == 0 {
		t.Fatal("no rows parsed from docs/security.md's RBAC table")
	}
	for rname, render := range map[string]func(*testing.T) []*unstructured.Unstructured{"kustomize": kustomizeBuild, "helm": helmTemplate} {
		in := decodeInstall(t, render(t))
		for _, sa := range []string{"perouter-controller", "perouter-labeler", "perouter-router"} {
			want := documented[sa]
			slices.SortFunc(want, func(a, b grant) int { return strings.Compare(a.String(), b.String()) })
			want = slices.Compact(want)
			var wantS, gotS []string
			for _, g := range want {
				wantS = append(wantS, g.String())
			}
			for _, g := range in.grantsOf(sa) {
				gotS = append(gotS, g.String())
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("%s: %s grants differ from docs/security.md (-doc +manifests):\n%s", rname, sa, diff)
			}
		}
	}
}
