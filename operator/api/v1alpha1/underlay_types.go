package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// UnderlaySpec is the fabric-facing side of a node's router: its ASN, the
// BGP neighbours on the leaves, the NICs moved into the router namespace
// and the pool VTEP addresses come from.
type UnderlaySpec struct {
	// NodeSelector picks the nodes this Underlay applies to; nil selects
	// every node. At most one Underlay may select a node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// ASN is the router's autonomous system number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +required
	ASN uint32 `json:"asn"`

	// RouterIDCIDR is the pool router IDs come from: node index N gets the
	// (N+1)-th address.
	// +kubebuilder:default="10.0.0.0/24"
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="routerIDCIDR must be a CIDR"
	// +optional
	RouterIDCIDR string `json:"routerIDCIDR,omitempty"`

	// Neighbors are the router's BGP peers on the fabric.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +required
	Neighbors []Neighbor `json:"neighbors"`

	// Interfaces are the router's links to the fabric, moved into (or,
	// later, created in) its namespace. At least one is required.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +required
	Interfaces []UnderlayInterface `json:"interfaces"`

	// TunnelEndpoint holds the pools VTEP addresses come from.
	// +optional
	TunnelEndpoint *TunnelEndpoint `json:"tunnelEndpoint,omitempty"`
}

// Underlay interface types, the discriminator of UnderlayInterface.
const (
	// InterfaceTypeNetworkDevice moves an existing host device into the
	// router namespace.
	InterfaceTypeNetworkDevice = "NetworkDevice"
	// InterfaceTypeCNIDevice has a CNI plugin create the link in the router
	// namespace. Accepted by the schema so upstream manifests parse;
	// validation refuses it until perouter implements it.
	InterfaceTypeCNIDevice = "CNIDevice"
)

// UnderlayInterface is one fabric link of the router: a union
// discriminated by type, as in OpenPERouter. type may be left out: it
// then follows the member that is set, so manifests written before the
// union existed ({networkDevice: {...}}) stay valid.
// +kubebuilder:validation:XValidation:rule="has(self.networkDevice) != has(self.cniDevice)",message="exactly one of networkDevice or cniDevice must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || (self.type == 'NetworkDevice') == has(self.networkDevice)",message="type/config mismatch: networkDevice must be set if and only if type is NetworkDevice"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || (self.type == 'CNIDevice') == has(self.cniDevice)",message="type/config mismatch: cniDevice must be set if and only if type is CNIDevice"
type UnderlayInterface struct {
	// Type is NetworkDevice or CNIDevice; when absent it is the member
	// that is set.
	// +kubebuilder:validation:Enum=NetworkDevice;CNIDevice
	// +optional
	Type string `json:"type,omitempty"`

	// NetworkDevice moves an existing host device into the router
	// namespace.
	// +optional
	NetworkDevice *NetworkDevice `json:"networkDevice,omitempty"`

	// CNIDevice has a CNI plugin create the link. Not supported yet:
	// validation refuses it, naming the field.
	// +optional
	CNIDevice *CNIDevice `json:"cniDevice,omitempty"`
}

// HostNIC is the name of the host NIC this interface moves into the
// router namespace, "" when it names none (a CNIDevice).
func (i UnderlayInterface) HostNIC() string {
	if i.NetworkDevice == nil {
		return ""
	}
	return i.NetworkDevice.InterfaceName
}

// EffectiveType is Type, or when Type is empty the type of the member
// that is set ("" when neither is).
func (i UnderlayInterface) EffectiveType() string {
	switch {
	case i.Type != "":
		return i.Type
	case i.NetworkDevice != nil:
		return InterfaceTypeNetworkDevice
	case i.CNIDevice != nil:
		return InterfaceTypeCNIDevice
	}
	return ""
}

// CNIDevice is OpenPERouter's CNI-provisioned underlay link, kept in the
// schema so its manifests decode. Its config blobs are opaque JSON
// objects.
// +kubebuilder:validation:XValidation:rule="has(self.rawConfig) == (self.type == 'RawConfig')",message="type/config mismatch: rawConfig must be set if and only if type is RawConfig"
type CNIDevice struct {
	// Type is the source of the CNI configuration: RawConfig.
	// +kubebuilder:validation:Enum=RawConfig
	// +required
	Type string `json:"type"`

	// RawConfig is a CNI conflist as a JSON object.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +kubebuilder:validation:Schemaless
	// +optional
	RawConfig *runtime.RawExtension `json:"rawConfig,omitempty"`

	// InterfaceName is the name of the link the plugin creates in the
	// router namespace; net1 when absent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9._-]*$`
	// +optional
	InterfaceName string `json:"interfaceName,omitempty"`

	// RuntimeConfig holds the CNI capability arguments, a JSON object.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +kubebuilder:validation:Schemaless
	// +optional
	RuntimeConfig *runtime.RawExtension `json:"runtimeConfig,omitempty"`
}

// NetworkDevice identifies a host network device.
type NetworkDevice struct {
	// InterfaceName is the Linux name of the device.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
	// +required
	InterfaceName string `json:"interfaceName"`
}

// TunnelEndpoint holds the VTEP pools: node index N gets the N-th address
// as a /32 or /128.
type TunnelEndpoint struct {
	// CIDRs holds at most one IPv4 and one IPv6 pool.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="every tunnelEndpoint cidr must be a CIDR"
	// +kubebuilder:validation:XValidation:rule="self.filter(c, isCIDR(c) && cidr(c).ip().family() == 4).size() <= 1 && self.filter(c, isCIDR(c) && cidr(c).ip().family() == 6).size() <= 1",message="at most one IPv4 and one IPv6 cidr"
	// +required
	CIDRs []string `json:"cidrs"`
}

// Neighbor is one BGP peer of the underlay.
// +kubebuilder:validation:XValidation:rule="has(self.asn) != has(self.type)",message="exactly one of asn or type must be set"
// +kubebuilder:validation:XValidation:rule="has(self.address) != has(self.interface)",message="exactly one of address or interface must be set"
// +kubebuilder:validation:XValidation:rule="has(self.holdTimeSeconds) == has(self.keepaliveTimeSeconds)",message="holdTimeSeconds and keepaliveTimeSeconds must be set together"
// +kubebuilder:validation:XValidation:rule="!has(self.password) || !has(self.passwordSecret)",message="at most one of password or passwordSecret may be set"
type Neighbor struct {
	// ASN is the peer's autonomous system number. Exactly one of asn and type.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	ASN *uint32 `json:"asn,omitempty"`

	// Type peers with any external or internal ASN. Exactly one of asn and type.
	// +kubebuilder:validation:Enum=External;Internal
	// +optional
	Type string `json:"type,omitempty"`

	// Address is the peer's IP address. Exactly one of address and interface.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="address must be an IP address"
	// +optional
	Address string `json:"address,omitempty"`

	// Interface peers unnumbered over this interface (IPv6 link-local).
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
	// +optional
	Interface string `json:"interface,omitempty"`

	// Port is the peer's BGP port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *uint16 `json:"port,omitempty"`

	// Password is the TCP MD5 password, in clear. Prefer passwordSecret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=80
	// +kubebuilder:validation:Pattern=`^[$-&(-\[\]-_a-~]+$`
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret names a Secret in the same namespace whose key
	// "password" holds the TCP MD5 password.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	PasswordSecret string `json:"passwordSecret,omitempty"`

	// HoldTimeSeconds is 0 (keepalives off) or at least 3.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="self == 0 || self >= 3",message="holdTimeSeconds must be 0 or at least 3"
	// +optional
	HoldTimeSeconds *uint32 `json:"holdTimeSeconds,omitempty"`

	// KeepaliveTimeSeconds must not exceed holdTimeSeconds.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	KeepaliveTimeSeconds *uint32 `json:"keepaliveTimeSeconds,omitempty"`

	// ConnectTimeSeconds is the retry interval for connecting to the peer.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	ConnectTimeSeconds *uint32 `json:"connectTimeSeconds,omitempty"`

	// EBGPMultiHop allows an eBGP peer that is not directly connected.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// BFD enables a BFD session with the peer.
	// +optional
	BFD *BFDSettings `json:"bfd,omitempty"`
}

// BFDSettings tunes the BFD session with a neighbour; unset fields take
// FRR's defaults.
type BFDSettings struct {
	// ReceiveInterval is the minimum interval, in ms, this router wants
	// between received control packets.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +optional
	ReceiveInterval *uint32 `json:"receiveInterval,omitempty"`

	// TransmitInterval is the minimum interval, in ms, between sent
	// control packets.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +optional
	TransmitInterval *uint32 `json:"transmitInterval,omitempty"`

	// DetectMultiplier is how many missed packets declare the peer down.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	// +optional
	DetectMultiplier *uint32 `json:"detectMultiplier,omitempty"`
}

// UnderlayStatus reports whether the Underlay is live on its nodes.
type UnderlayStatus struct {
	ObjectStatus `json:",inline"`
}

// Underlay configures the fabric side of the router on the nodes it selects.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ul
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.asn`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedNodes`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Underlay struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UnderlaySpec   `json:"spec,omitempty"`
	Status UnderlayStatus `json:"status,omitempty"`
}

// UnderlayList is a list of Underlays.
// +kubebuilder:object:root=true
type UnderlayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Underlay `json:"items"`
}

func init() {
	register(&Underlay{}, &UnderlayList{})
}
