package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HostSession is the BGP session between the router namespace and the host,
// over the veth pair whose addresses come from LocalCIDR.
// +kubebuilder:validation:XValidation:rule="has(self.hostASN) != has(self.hostType)",message="exactly one of hostASN or hostType must be set"
type HostSession struct {
	// ASN is the router side's autonomous system number in this session.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +required
	ASN uint32 `json:"asn"`

	// HostASN is the host side's ASN. Exactly one of hostASN and hostType.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	HostASN *uint32 `json:"hostASN,omitempty"`

	// HostType peers with whatever ASN the host uses: External or Internal.
	// +kubebuilder:validation:Enum=External;Internal
	// +optional
	HostType string `json:"hostType,omitempty"`

	// MaxPrefixes is the most prefixes the router accepts from the host in
	// each address family of this session (FRR's maximum-prefix). A host
	// that sends more is disconnected and reconnected a minute later, so a
	// runaway host cannot fill the VRF or the fabric with routes.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	MaxPrefixes uint32 `json:"maxPrefixes,omitempty"`

	// LocalCIDR holds the pools the veth addresses come from. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="localCIDR is immutable"
	// +required
	LocalCIDR LocalCIDRConfig `json:"localCIDR"`
}

// LocalCIDRConfig holds at most one pool per address family.
// +kubebuilder:validation:XValidation:rule="has(self.ipv4) || has(self.ipv6)",message="at least one of ipv4 or ipv6 must be set"
type LocalCIDRConfig struct {
	// IPv4 is an IPv4 CIDR, e.g. 192.169.10.0/24.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="ipv4 must be an IPv4 CIDR"
	// +optional
	IPv4 string `json:"ipv4,omitempty"`

	// IPv6 is an IPv6 CIDR, e.g. fd00:10::/64.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 6",message="ipv6 must be an IPv6 CIDR"
	// +optional
	IPv6 string `json:"ipv6,omitempty"`
}

// Condition types set on every perouter object.
const (
	// ConditionApplied is True when every selected node applied the
	// object's current generation.
	ConditionApplied = "Applied"
	// ConditionValid is False when the object breaks a validation rule.
	ConditionValid = "Valid"
)

// ObjectStatus is the status shared by Underlay, L3VNI, L2VNI and
// L3Passthrough: whether the current generation is live on the nodes that
// select it.
type ObjectStatus struct {
	// ObservedGeneration is the generation the counts below refer to.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// SelectedNodes is how many nodes select this object.
	// +optional
	SelectedNodes int32 `json:"selectedNodes,omitempty"`

	// AppliedNodes is how many selected nodes applied observedGeneration.
	// +optional
	AppliedNodes int32 `json:"appliedNodes,omitempty"`

	// FailedNodes is how many selected nodes failed to apply it.
	// +optional
	FailedNodes int32 `json:"failedNodes,omitempty"`

	// FailedNodeNames lists up to 10 of the failing nodes, for a quick look.
	// +optional
	// +listType=set
	FailedNodeNames []string `json:"failedNodeNames,omitempty"`

	// Conditions follow the Kubernetes conventions; each carries
	// observedGeneration.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
