package validate

import (
	"fmt"

	"github.com/perouter/perouter/operator/objects"
)

// Dependencies returns the references of s to objects that do not exist
// (yet): an L2VNI's routing-domain L3VNI, a neighbour's passwordSecret.
// They are not errors, so that apply order never matters (as upstream
// admits an L2VNI before its L3VNI): the webhook admits such an object
// with a warning, perouterctl validate prints a warning, and the
// controller reports it with reason DependencyMissing and applies it as
// soon as the target exists. Each Error names the referring object and
// field.
func Dependencies(s objects.Set) []Error {
	var out []Error
	l3 := make(map[objects.Ref]bool, len(s.L3VNIs))
	for _, l := range s.L3VNIs {
		l3[objects.RefOf(objects.KindL3VNI, l.ObjectMeta)] = true
	}
	for _, l := range s.L2VNIs {
		rd := l.Spec.RoutingDomain
		if rd == nil || rd.L3VNI == nil || rd.L3VNI.Name == "" {
			continue
		}
		target := objects.Ref{Kind: objects.KindL3VNI, Namespace: l.Namespace, Name: rd.L3VNI.Name}
		if !l3[target] {
			out = append(out, Error{Ref: objects.RefOf(objects.KindL2VNI, l.ObjectMeta), Field: "spec.routingDomain.l3vni.name",
				Message: fmt.Sprintf("%s does not exist yet; the L2VNI applies once it does", target)})
		}
	}
	if s.SecretsUnread {
		// Whoever built the Set may not read Secrets (the webhook): it
		// cannot tell a missing one, the controller reports it.
		return out
	}
	secrets := SecretIndex(s.Secrets)
	for _, u := range s.Underlays {
		for i, n := range u.Spec.Neighbors {
			if n.PasswordSecret == "" || secretExists(secrets, u.Namespace, n.PasswordSecret) {
				continue
			}
			out = append(out, Error{Ref: objects.RefOf(objects.KindUnderlay, u.ObjectMeta), Field: fmt.Sprintf("spec.neighbors[%d].passwordSecret", i),
				Message: fmt.Sprintf("Secret %s/%s does not exist yet; the Underlay applies once it does", u.Namespace, n.PasswordSecret)})
		}
	}
	return out
}

// DependenciesOf returns the Dependencies of s that concern ref.
func DependenciesOf(s objects.Set, ref objects.Ref) []Error {
	var out []Error
	for _, e := range Dependencies(s) {
		if e.Ref == ref {
			out = append(out, e)
		}
	}
	return out
}
