package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// L3PassthroughSpec connects the host to the router's default VRF, so the
// host exchanges routes with the fabric directly.
type L3PassthroughSpec struct {
	// NodeSelector picks the nodes; nil selects every node. At most one
	// L3Passthrough may select a node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// HostSession is the BGP session with the host.
	// +required
	HostSession HostSession `json:"hostSession"`
}

// L3PassthroughStatus reports whether it is live on its nodes.
type L3PassthroughStatus struct {
	ObjectStatus `json:",inline"`
}

// L3Passthrough peers the host with the router's default VRF.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedNodes`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L3Passthrough struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L3PassthroughSpec   `json:"spec,omitempty"`
	Status L3PassthroughStatus `json:"status,omitempty"`
}

// L3PassthroughList is a list of L3Passthroughs.
// +kubebuilder:object:root=true
type L3PassthroughList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L3Passthrough `json:"items"`
}

func init() {
	register(&L3Passthrough{}, &L3PassthroughList{})
}
