// Package webhook rejects perouter objects the controller could not
// apply, at admission time, with the same rules the controller and
// perouterctl use (operator/validate).
//
// One handler serves all five kinds on create, update and delete. A
// change is judged against the whole cluster: the validator lists every
// perouter object, applies the candidate change to that set and refuses
// it when it introduces an error that the set did not already have. A
// reference to an object that does not exist yet (an L2VNI's L3VNI, a
// passwordSecret), and the deletion of an object others refer to, are
// admitted with a warning: apply and delete order never matter. Rules
// that depend on where objects apply (the same VRF or VNI, overlapping
// localCIDRs, two Underlays or L3Passthroughs) refuse a change only when
// a current Node is selected by both objects (validate.Conflicts), or
// when their selectors are equal.
// Errors that existed before (objects created while the webhook was down)
// do not block unrelated changes, and an update that does not make an
// object worse is let through.
//
// An Underlay is also judged against what the nodes' controllers
// reported: it may not name, for a node it selects, a NIC that node
// carries its own connectivity on (validate.ProtectedInterfaces, from
// each RouterNodeStatus's status.protectedInterfaces). A node that has
// not reported yet is protected by its controller, which refuses such a
// move by itself.
//
// A RawFRRConfig's snippet is parsed by real FRR, the vtysh of the
// webhook's image (the perouter image ships FRR), in a dry run (vtysh -C),
// whenever its text is new or changed: FRR's refusal is the webhook's,
// naming the object, spec.rawConfig and FRR's line. A snippet that parses
// can still be refused by the router's daemons when applied; the
// controller reports that in the RawFRRConfig's status.
//
// The webhook reads no Secret (least privilege: the labeler may read only
// its own certificate): a passwordSecret is checked here only for its
// namespace; whether the Secret exists and holds a valid password the
// controller checks, and reports in the Underlay's status.
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
	"github.com/perouter/perouter/operator/vtysh"
)

// Path is where the validating webhook is served.
const Path = "/validate-perouter"

// Validator is the admission handler.
type Validator struct {
	// Reader lists the cluster's perouter objects. An API reader (not a
	// cache) sees a change admitted a moment ago.
	Reader  client.Reader
	Decoder admission.Decoder
	// StatusNamespace holds the RouterNodeStatus objects; "" skips the
	// check of the nodes' protected NICs.
	StatusNamespace string
	// SecretNamespace is the only namespace whose Secrets the controller
	// reads (objects.Set.SecretNamespace), and whose RawFRRConfigs it
	// applies (objects.Set.RawFRRConfigNamespace); empty: any.
	SecretNamespace string
	// ParseFRR parses a RawFRRConfig's snippet with real FRR
	// (validate.RawFRRConfigSyntax). Nil refuses every new or changed
	// snippet: none is admitted unparsed.
	ParseFRR validate.ConfigParser
}

// NewValidator returns a Validator decoding with scheme, parsing
// RawFRRConfigs with the vtysh of the webhook's image (a dry run: vtysh
// -C, no daemon).
func NewValidator(reader client.Reader, scheme *runtime.Scheme, secretNamespace string) *Validator {
	return &Validator{Reader: reader, Decoder: admission.NewDecoder(scheme), SecretNamespace: secretNamespace,
		ParseFRR: vtysh.Cli{Timeout: rawParseTimeout}.CheckConfig}
}

// rawParseTimeout bounds one dry run of a snippet (0.04 s for a whole
// config on the development machine): well within the API server's
// webhook timeout (10 s by default).
const rawParseTimeout = 5 * time.Second

var _ admission.Handler = (*Validator)(nil)

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	newObj, err := v.decode(req.Kind.Kind, req.Object)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	oldObj, err := v.decode(req.Kind.Kind, req.OldObject)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	current, err := v.load(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}

	var errs, warnings []validate.Error
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		if newObj == nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("%s request without an object", req.Operation))
		}
		candidate := current.With(newObj)
		nodes, err := v.nodes(ctx)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		errs = introduced(judge(current, nodes), judge(candidate, nodes))
		if _, ok := newObj.(*v1alpha1.Underlay); ok && v.StatusNamespace != "" {
			reported, err := v.reportedNodes(ctx)
			if err != nil {
				return admission.Errored(http.StatusInternalServerError, err)
			}
			errs = append(errs, introduced(validate.ProtectedInterfaces(current.Underlays, reported), validate.ProtectedInterfaces(candidate.Underlays, reported))...)
		}
		if req.Operation == admissionv1.Update && oldObj != nil {
			errs = append(validate.Update(oldObj, newObj), errs...)
		}
		if raw, ok := newObj.(*v1alpha1.RawFRRConfig); ok && snippetChanged(oldObj, raw) {
			errs = append(errs, v.parseSnippet(ctx, raw)...)
		}
		// A reference to what does not exist yet is admitted, so that
		// apply order never matters; the user hears of it here.
		warnings = validate.DependenciesOf(candidate, objects.RefTo(newObj))
	case admissionv1.Delete:
		if oldObj == nil {
			return admission.Allowed("")
		}
		// Deleting what others refer to is allowed too (a folder deletes
		// in any order); they wait, reported in their status.
		warnings = validate.Deletion(current, oldObj)
	default:
		return admission.Allowed("")
	}
	if len(errs) == 0 {
		resp := admission.Allowed("")
		if len(warnings) > 0 {
			msgs := make([]string, len(warnings))
			for i, w := range warnings {
				msgs[i] = w.Error()
			}
			resp = resp.WithWarnings(msgs...)
		}
		return resp
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return admission.Denied(strings.Join(msgs, "; "))
}

// snippetChanged reports whether a create or update brings snippet text
// FRR has not parsed yet here: a status or label update of a snippet
// admitted earlier is not parsed again (the FRR of a newer image may
// refuse what an older one admitted; the router's FRR judges it then).
func snippetChanged(oldObj client.Object, raw *v1alpha1.RawFRRConfig) bool {
	old, ok := oldObj.(*v1alpha1.RawFRRConfig)
	return !ok || old.Spec.RawConfig != raw.Spec.RawConfig
}

// parseSnippet runs the RawFRRConfig syntax rule with real FRR.
func (v *Validator) parseSnippet(ctx context.Context, raw *v1alpha1.RawFRRConfig) []validate.Error {
	parse := v.ParseFRR
	if parse == nil {
		parse = func(context.Context, string) error {
			return fmt.Errorf("this webhook has no FRR to parse it with, and admits no snippet unparsed")
		}
	}
	return validate.RawFRRConfigSyntax(ctx, raw, parse)
}

func (v *Validator) decode(kind string, raw runtime.RawExtension) (client.Object, error) {
	if len(raw.Raw) == 0 {
		return nil, nil
	}
	k := objects.KindNamed(kind)
	if k == nil {
		return nil, fmt.Errorf("kind %q is not a perouter kind", kind)
	}
	obj := k.New()
	if err := v.Decoder.DecodeRaw(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	return obj, nil
}

// judge applies every rule to s: the object and cross-object rules, and
// the per-node ones against the cluster's nodes.
func judge(s objects.Set, nodes []validate.Node) []validate.Error {
	return append(validate.Set(s), validate.Conflicts(s, nodes)...)
}

// nodes lists the cluster's Nodes' names and labels (metadata only: a
// Node's status is large and not needed).
func (v *Validator) nodes(ctx context.Context) ([]validate.Node, error) {
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := v.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing Nodes: %w", err)
	}
	out := make([]validate.Node, len(list.Items))
	for i, n := range list.Items {
		out[i] = validate.Node{Name: n.Name, Labels: n.Labels}
	}
	return out, nil
}

// load lists the cluster's perouter objects (and no Secret).
func (v *Validator) load(ctx context.Context) (objects.Set, error) {
	s, err := objects.Collect(func(l objects.ObjectList) error { return v.Reader.List(ctx, l) })
	if err != nil {
		return s, err
	}
	s.SecretNamespace, s.SecretsUnread = v.SecretNamespace, true
	s.RawFRRConfigNamespace = v.SecretNamespace
	return s, nil
}

// reportedNodes lists the nodes whose controller reported protected
// NICs, with their labels, by name. Node labels come from one list of
// the Nodes' metadata, and only when some node reported a NIC.
func (v *Validator) reportedNodes(ctx context.Context) ([]validate.ReportedNode, error) {
	var reports v1alpha1.RouterNodeStatusList
	if err := v.Reader.List(ctx, &reports, client.InNamespace(v.StatusNamespace)); err != nil {
		return nil, fmt.Errorf("listing RouterNodeStatuses in %s: %w", v.StatusNamespace, err)
	}
	reports.Items = slices.DeleteFunc(reports.Items, func(r v1alpha1.RouterNodeStatus) bool { return len(r.Status.ProtectedInterfaces) == 0 })
	if len(reports.Items) == 0 {
		return nil, nil
	}
	var nodes metav1.PartialObjectMetadataList
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := v.Reader.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing Nodes: %w", err)
	}
	labels := make(map[string]map[string]string, len(nodes.Items))
	for _, n := range nodes.Items {
		labels[n.Name] = n.Labels
	}
	slices.SortFunc(reports.Items, func(a, b v1alpha1.RouterNodeStatus) int { return strings.Compare(a.Name, b.Name) })
	var out []validate.ReportedNode
	for _, rns := range reports.Items {
		l, ok := labels[rns.Name]
		if !ok {
			continue // a report the node outlived
		}
		out = append(out, validate.ReportedNode{Name: rns.Name, Labels: l, Protected: rns.Status.ProtectedInterfaces})
	}
	return out, nil
}

// introduced returns the errors of after that before does not have.
func introduced(before, after []validate.Error) []validate.Error {
	had := map[string]int{}
	for _, e := range before {
		had[e.Error()]++
	}
	var out []validate.Error
	for _, e := range after {
		if had[e.Error()] > 0 {
			had[e.Error()]--
			continue
		}
		out = append(out, e)
	}
	return out
}
