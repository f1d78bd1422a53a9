package validate

import (
	"context"
	"unicode/utf8"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// MaxRawConfigBytes bounds a RawFRRConfig's snippet, as the CRD's
// maxLength does.
const MaxRawConfigBytes = 65536

// rawFRRConfig checks a RawFRRConfig on its own. namespace, if set, is the
// only namespace whose RawFRRConfigs are applied (objects.Set.RawFRRConfigNamespace).
// Whether FRR parses the snippet is RawFRRConfigSyntax's rule: it needs
// FRR, which the pure core does not run.
func (v *checker) rawFRRConfig(r *v1alpha1.RawFRRConfig, namespace string) {
	ref := objects.RefOf(objects.KindRawFRRConfig, r.ObjectMeta)
	v.meta(ref, r.ObjectMeta)
	if namespace != "" && r.Namespace != namespace {
		v.add(ref, "metadata.namespace", "perouter applies RawFRRConfigs only in its own namespace %s (a snippet controls the routing of every node it selects; see docs/security.md); create it in %s", namespace, namespace)
	}
	v.selector(ref, "spec.nodeSelector", r.Spec.NodeSelector)
	if p := r.Spec.Priority; p != nil && *p < 0 {
		v.add(ref, "spec.priority", "%d must be 0 or more", *p)
	}
	switch {
	case r.Spec.RawConfig == "":
		v.add(ref, "spec.rawConfig", "must not be empty: give FRR configuration text, e.g. \"ip prefix-list PL seq 5 permit 10.0.0.0/8\"")
	case len(r.Spec.RawConfig) > MaxRawConfigBytes:
		v.add(ref, "spec.rawConfig", "is %d bytes, more than the %d allowed", len(r.Spec.RawConfig), MaxRawConfigBytes)
	case !utf8.ValidString(r.Spec.RawConfig):
		v.add(ref, "spec.rawConfig", "is not valid UTF-8")
	}
}

// ConfigParser parses FRR configuration text as FRR reads frr.conf and
// returns an error naming what FRR refuses (vtysh.Cli.CheckConfig, a dry
// run of real FRR).
type ConfigParser func(ctx context.Context, config string) error

// RawFRRConfigSyntax is the rule that FRR parses a RawFRRConfig's snippet:
// the webhook checks it at admission and perouterctl validate on files,
// both with parse = vtysh's dry run. The snippet is parsed on its own,
// from the top level of frr.conf, which is where perouter renders it
// (after its own configuration, each stanza of which ends at the top
// level). A dry run knows FRR's grammar, not the running daemons: a
// snippet that parses can still be refused when applied (a second router
// bgp with another AS); the reloader then keeps the running configuration
// and the controller reports the refusal in the RawFRRConfig's status.
func RawFRRConfigSyntax(ctx context.Context, r *v1alpha1.RawFRRConfig, parse ConfigParser) []Error {
	if r.Spec.RawConfig == "" {
		return nil // the single-object rule names it
	}
	err := parse(ctx, r.Spec.RawConfig)
	if err == nil {
		return nil
	}
	ref := objects.RefOf(objects.KindRawFRRConfig, r.ObjectMeta)
	return []Error{{Ref: ref, Field: "spec.rawConfig", Message: err.Error() + " (line numbers count from the snippet's first line; fix the snippet)"}}
}
