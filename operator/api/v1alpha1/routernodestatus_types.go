package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RouterNodeStatusSpec is empty: the object exists to carry status.
type RouterNodeStatusSpec struct{}

// ObjectResult is what one node did with one user object.
type ObjectResult struct {
	// Kind, Namespace and Name identify the object.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Generation is the object's generation the result refers to.
	Generation int64 `json:"generation"`
	// Result is Applied, Failed or Skipped (invalid, not applied).
	// +kubebuilder:validation:Enum=Applied;Failed;Skipped
	Result string `json:"result"`
	// Message explains a failure, naming the field at fault.
	// +optional
	Message string `json:"message,omitempty"`
	// Reason is DependencyMissing when the object waits for an object
	// it refers to that does not exist yet (an L2VNI's L3VNI, a
	// passwordSecret); it applies once that exists.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// ReasonDependencyMissing is the ObjectResult reason, and the Applied
// condition's reason on user objects and on RouterNodeStatus, of an
// object waiting for something it refers to.
const ReasonDependencyMissing = "DependencyMissing"

// Object results.
const (
	ResultApplied = "Applied"
	ResultFailed  = "Failed"
	ResultSkipped = "Skipped"
)

// BGPNeighborState is one BGP session as FRR reports it.
type BGPNeighborState struct {
	// VRF is "default" for the underlay and passthrough sessions.
	VRF string `json:"vrf"`
	// Neighbor is the peer's address or interface.
	Neighbor string `json:"neighbor"`
	// State is FRR's BGP state, e.g. Established, Active, Idle.
	State string `json:"state"`
}

// ProtectedInterface is a host NIC that carries the node's own
// connectivity.
type ProtectedInterface struct {
	// Name is the Linux name of the NIC.
	Name string `json:"name"`
	// Reason says what it carries: the host's default route, or one of
	// the Node's addresses.
	Reason string `json:"reason"`
}

// RouterNodeStatusStatus is what the controller on one node applied.
type RouterNodeStatusStatus struct {
	// NodeIndex is the node's index from the labeler.
	// +optional
	NodeIndex *int32 `json:"nodeIndex,omitempty"`
	// AppliedConfigHash is the sha256 of the FRR config running on the node.
	// +optional
	AppliedConfigHash string `json:"appliedConfigHash,omitempty"`
	// LastAppliedTime is when that config was applied.
	// +optional
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`
	// Objects lists each selected object's result.
	// +optional
	Objects []ObjectResult `json:"objects,omitempty"`
	// Errors that concern the node as a whole (invalid underlay, pool
	// exhausted, reload refused).
	// +optional
	Errors []string `json:"errors,omitempty"`
	// ProtectedInterfaces are the node's NICs that carry its default
	// route (the one in use, either family) or one of the Node's
	// InternalIP/ExternalIP addresses. The controller never moves them
	// into the router namespace, and the webhook refuses an Underlay
	// that names one of them for a node it selects.
	// +optional
	// +listType=map
	// +listMapKey=name
	ProtectedInterfaces []ProtectedInterface `json:"protectedInterfaces,omitempty"`
	// BGPNeighbors is the state of every BGP session on the router.
	// +optional
	BGPNeighbors []BGPNeighborState `json:"bgpNeighbors,omitempty"`
	// Conditions: Applied (the desired config is live), Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RouterNodeStatus reports what one node's router applied; its name is the
// node's name.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rns
// +kubebuilder:printcolumn:name="Index",type=integer,JSONPath=`.status.nodeIndex`
// +kubebuilder:printcolumn:name="Hash",type=string,JSONPath=`.status.appliedConfigHash`,priority=1
// +kubebuilder:printcolumn:name="Applied",type=date,JSONPath=`.status.lastAppliedTime`
type RouterNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RouterNodeStatusSpec   `json:"spec,omitempty"`
	Status RouterNodeStatusStatus `json:"status,omitempty"`
}

// RouterNodeStatusList is a list of RouterNodeStatus.
// +kubebuilder:object:root=true
type RouterNodeStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RouterNodeStatus `json:"items"`
}

func init() {
	register(&RouterNodeStatus{}, &RouterNodeStatusList{})
}
