package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Values of spec.underlayAddressFamily of L3VNIs and L2VNIs.
const (
	UnderlayAddressFamilyIPv4 = "IPv4"
	UnderlayAddressFamilyIPv6 = "IPv6"
)

// L3VNISpec is a routed overlay: one VRF on every selected node, bound to a
// VXLAN VNI and advertised as EVPN type-5 routes.
// +kubebuilder:validation:XValidation:rule="!has(self.hostSession) || !has(self.hostSession.hostASN) || self.hostSession.hostASN != self.hostSession.asn",message="hostASN must differ from asn; use hostType: Internal for iBGP",fieldPath=".hostSession.hostASN"
type L3VNISpec struct {
	// NodeSelector picks the nodes; nil selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// VRF is the name of the Linux VRF and of FRR's VRF.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]*$`
	// +required
	VRF string `json:"vrf"`

	// VNI is the VXLAN network identifier.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777215
	// +required
	VNI uint32 `json:"vni"`

	// VXLANPort is the UDP port of the VXLAN device.
	// +kubebuilder:default=4789
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	VXLANPort uint16 `json:"vxlanPort,omitempty"`

	// UnderlayAddressFamily is the family of the node's VTEP this VNI's
	// VXLAN uses as its local address: IPv4 or IPv6, which the Underlay's
	// tunnelEndpoint.cidrs must then hold. Empty: the IPv4 VTEP when the
	// Underlay has one, else the IPv6 one (as upstream).
	// +kubebuilder:validation:Enum=IPv4;IPv6
	// +optional
	UnderlayAddressFamily string `json:"underlayAddressFamily,omitempty"`

	// HostSession is the BGP session with the host inside this VRF.
	// +optional
	HostSession *HostSession `json:"hostSession,omitempty"`

	// ImportRTs are route targets (ASN:NN or A.B.C.D:NN) imported into the
	// VRF; empty means FRR's automatic RT.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^([0-9]{1,10}|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,10}$`
	// +optional
	ImportRTs []string `json:"importRTs,omitempty"`

	// ExportRTs are route targets attached to routes exported from the VRF.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^([0-9]{1,10}|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,10}$`
	// +optional
	ExportRTs []string `json:"exportRTs,omitempty"`
}

// L3VNIStatus reports whether the L3VNI is live on its nodes.
type L3VNIStatus struct {
	ObjectStatus `json:",inline"`
}

// L3VNI is a routed EVPN overlay (type-5 routes) in its own VRF.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="VRF",type=string,JSONPath=`.spec.vrf`
// +kubebuilder:printcolumn:name="VNI",type=integer,JSONPath=`.spec.vni`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedNodes`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L3VNI struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L3VNISpec   `json:"spec,omitempty"`
	Status L3VNIStatus `json:"status,omitempty"`
}

// L3VNIList is a list of L3VNIs.
// +kubebuilder:object:root=true
type L3VNIList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L3VNI `json:"items"`
}

func init() {
	register(&L3VNI{}, &L3VNIList{})
}
