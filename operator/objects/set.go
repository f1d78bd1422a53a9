// Package objects holds the set of perouter resources the core works on,
// and reads it from YAML the way the API server would, so that the CLI, the
// tests and the controller see the same objects. Its registry of the
// resource kinds (Kinds, one entry per kind) drives all code that treats
// every kind alike: decoding, defaults, the webhook, the controllers'
// lists, lookups and watches, and the status aggregator.
package objects

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Set is every perouter object visible to the core, plus the Secrets that
// neighbours reference by passwordSecret.
type Set struct {
	Underlays      []v1alpha1.Underlay
	L3VNIs         []v1alpha1.L3VNI
	L2VNIs         []v1alpha1.L2VNI
	L3Passthroughs []v1alpha1.L3Passthrough
	RawFRRConfigs  []v1alpha1.RawFRRConfig
	Secrets        []corev1.Secret
	// SecretNamespace, if set, is the only namespace whose Secrets the
	// controller may read (its RBAC is a Role there): a passwordSecret on
	// an Underlay in another namespace cannot be honoured. Empty: any
	// namespace (perouterctl on files).
	SecretNamespace string
	// SecretsUnread says whoever built the Set may not read Secrets (the
	// webhook: its RBAC reaches only its own certificate), so Secrets is
	// empty by design and a passwordSecret's Secret is not checked; the
	// controller checks it and reports it in the Underlay's status.
	SecretsUnread bool
	// RawFRRConfigNamespace, if set, is the only namespace whose
	// RawFRRConfigs are applied (the operator's, as upstream): a snippet
	// controls the routing of every node it selects, so a namespace
	// administrator elsewhere must not be able to add one. Empty: any
	// namespace (perouterctl on files).
	RawFRRConfigNamespace string
}

// Ref identifies one object in error messages and status.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// PasswordSecrets lists the Secrets the underlays' neighbours name by
// passwordSecret, each once, in the order first named.
func PasswordSecrets(underlays []v1alpha1.Underlay) []types.NamespacedName {
	var keys []types.NamespacedName
	seen := map[types.NamespacedName]bool{}
	for _, u := range underlays {
		for _, n := range u.Spec.Neighbors {
			key := types.NamespacedName{Namespace: u.Namespace, Name: n.PasswordSecret}
			if n.PasswordSecret != "" && !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// Selects reports whether a nodeSelector selects a node with these
// labels: nil selects every node, an invalid selector none.
func Selects(sel *metav1.LabelSelector, nodeLabels map[string]string) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(nodeLabels))
}
