package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RawFRRConfigSpec is a snippet of FRR configuration appended, verbatim,
// after the configuration perouter renders for the nodes it selects.
//
// Whoever may create one controls the routing of every node it selects
// (docs/security.md): only the perouter-rawfrrconfig-editor role grants it.
type RawFRRConfigSpec struct {
	// NodeSelector picks the nodes; nil or empty selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// Priority orders the snippets of a node: lower values are rendered
	// first; equal priorities are ordered by namespace, then name.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	Priority *int32 `json:"priority,omitempty"`

	// RawConfig is FRR configuration text, as in frr.conf, starting at the
	// top level of the configuration. It must parse with FRR's vtysh
	// (vtysh -C); the webhook and perouterctl validate check that.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	// +required
	RawConfig string `json:"rawConfig"`
}

// RawFRRConfigStatus reports whether it is live on its nodes.
type RawFRRConfigStatus struct {
	ObjectStatus `json:",inline"`
}

// RawFRRConfig adds raw FRR configuration to the nodes it selects.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedNodes`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RawFRRConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RawFRRConfigSpec   `json:"spec,omitempty"`
	Status RawFRRConfigStatus `json:"status,omitempty"`
}

// RawFRRConfigList is a list of RawFRRConfigs.
// +kubebuilder:object:root=true
type RawFRRConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RawFRRConfig `json:"items"`
}

func init() {
	register(&RawFRRConfig{}, &RawFRRConfigList{})
}
