package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// L2VNISpec is a bridged overlay: a VXLAN VNI stretched across nodes and
// attached to a bridge on the host.
// +kubebuilder:validation:XValidation:rule="!has(self.gatewayIPs) || size(self.gatewayIPs) == 0 || has(self.routingDomain)",message="gatewayIPs requires routingDomain"
type L2VNISpec struct {
	// NodeSelector picks the nodes; nil selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

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

	// RoutingDomain routes this L2 segment through an L3VNI's VRF.
	// +optional
	RoutingDomain *RoutingDomain `json:"routingDomain,omitempty"`

	// HostMaster is the host-side bridge the segment's veth joins.
	// +optional
	HostMaster *HostMaster `json:"hostMaster,omitempty"`

	// GatewayIPs are the distributed gateway addresses in CIDR form, at
	// most one per family. Immutable.
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="every gatewayIP must be in CIDR form"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="gatewayIPs is immutable"
	// +optional
	GatewayIPs []string `json:"gatewayIPs,omitempty"`
}

// RoutingDomain says which L3 domain routes the segment.
type RoutingDomain struct {
	// Type is the kind of routing domain: L3VNI. OpenPERouter's L3VPN is
	// accepted by the schema and refused by validation (not supported yet).
	// +kubebuilder:validation:Enum=L3VNI;L3VPN
	// +kubebuilder:default=L3VNI
	// +optional
	Type string `json:"type,omitempty"`

	// L3VNI names an L3VNI in the same namespace.
	// +optional
	L3VNI *L3VNIReference `json:"l3vni,omitempty"`

	// L3VPN is OpenPERouter's SRv6 routing domain. Not supported yet.
	// +optional
	L3VPN *runtime.RawExtension `json:"l3vpn,omitempty"`
}

// L3VNIReference names an L3VNI in the same namespace.
type L3VNIReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// Bridge lifecycles.
const (
	// LifecycleManaged bridges are created and deleted by perouter.
	LifecycleManaged = "Managed"
	// LifecycleExternal bridges belong to the user; perouter only attaches.
	LifecycleExternal = "External"
)

// HostMaster is the host-side master of the segment's veth.
type HostMaster struct {
	// Type of master: LinuxBridge. OpenPERouter's OVSBridge is accepted by
	// the schema and refused by validation (not supported yet).
	// +kubebuilder:validation:Enum=LinuxBridge;OVSBridge
	// +kubebuilder:default=LinuxBridge
	// +optional
	Type string `json:"type,omitempty"`

	// LinuxBridge configures the bridge.
	// +optional
	LinuxBridge *LinuxBridgeConfig `json:"linuxBridge,omitempty"`

	// OVSBridge is OpenPERouter's Open vSwitch bridge. Not supported yet.
	// +optional
	OVSBridge *runtime.RawExtension `json:"ovsBridge,omitempty"`
}

// LinuxBridgeConfig says who owns the host bridge.
// +kubebuilder:validation:XValidation:rule="(self.lifecycle == 'External') == has(self.name)",message="name is required when lifecycle is External and forbidden otherwise"
type LinuxBridgeConfig struct {
	// Lifecycle is Managed (perouter creates br-hs-<VNI>) or External.
	// +kubebuilder:validation:Enum=Managed;External
	// +kubebuilder:default=Managed
	// +optional
	Lifecycle string `json:"lifecycle,omitempty"`

	// Name is the existing bridge to attach to; only with External.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
	// +optional
	Name string `json:"name,omitempty"`
}

// L2VNIStatus reports whether the L2VNI is live on its nodes.
type L2VNIStatus struct {
	ObjectStatus `json:",inline"`
}

// L2VNI is a bridged EVPN overlay.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="VNI",type=integer,JSONPath=`.spec.vni`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedNodes`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2VNI struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L2VNISpec   `json:"spec,omitempty"`
	Status L2VNIStatus `json:"status,omitempty"`
}

// L2VNIList is a list of L2VNIs.
// +kubebuilder:object:root=true
type L2VNIList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2VNI `json:"items"`
}

func init() {
	register(&L2VNI{}, &L2VNIList{})
}
