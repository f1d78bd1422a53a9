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

	// Interfaces are the router's links to the fabric: host devices moved
	// into its namespace (NetworkDevice), or links a CNI plugin creates
	// there (CNIDevice). At least one is required, all of one type.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(i, has(i.cniDevice) == has(self[0].cniDevice))",message="all interfaces must be of the same type: mixing NetworkDevice and CNIDevice is not supported"
	// +required
	Interfaces []UnderlayInterface `json:"interfaces"`

	// TunnelEndpoint holds the pools VTEP addresses come from.
	// +optional
	TunnelEndpoint *TunnelEndpoint `json:"tunnelEndpoint,omitempty"`

	// GracefulRestart turns on BGP graceful restart (RFC 4724) on the
	// underlay sessions: the node's router announces that it preserves
	// forwarding across a restart, so the fabric keeps its routes (as
	// stale) while FRR or the router pod restarts, and the kernel keeps
	// forwarding meanwhile. Omit it to leave graceful restart off.
	// +optional
	GracefulRestart *GracefulRestart `json:"gracefulRestart,omitempty"`

	// RouteReflector makes the node's router a BGP route reflector (RFC
	// 4456): it sets the cluster ID, and the neighbours whose address
	// families carry the routeReflectorClient property become its clients.
	// Omit it for a router that reflects nothing.
	// +optional
	RouteReflector *RouteReflector `json:"routeReflector,omitempty"`

	// ISIS is OpenPERouter's IS-IS underlay. Not supported yet.
	// +optional
	ISIS *runtime.RawExtension `json:"isis,omitempty"`

	// SRv6 is OpenPERouter's SRv6 configuration. Not supported yet.
	// +optional
	SRv6 *runtime.RawExtension `json:"srv6,omitempty"`
}

// Underlay interface types, the discriminator of UnderlayInterface.
const (
	// InterfaceTypeNetworkDevice moves an existing host device into the
	// router namespace.
	InterfaceTypeNetworkDevice = "NetworkDevice"
	// InterfaceTypeCNIDevice has a CNI plugin create the link in the router
	// namespace (a macvlan on the node's only NIC, for instance).
	InterfaceTypeCNIDevice = "CNIDevice"

	// CNIConfigTypeRawConfig is the CNIDevice config source that embeds
	// the CNI network configuration list in the Underlay.
	CNIConfigTypeRawConfig = "RawConfig"

	// DefaultCNIInterfaceName is a CNIDevice's interfaceName when absent,
	// as upstream defaults it.
	DefaultCNIInterfaceName = "net1"
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

	// CNIDevice has a CNI plugin create the link in the router namespace.
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

// RouterLinkName is the name of the link this interface is in the router
// namespace: the host NIC's name, or the CNIDevice's interfaceName (net1
// when absent).
func (i UnderlayInterface) RouterLinkName() string {
	switch {
	case i.NetworkDevice != nil:
		return i.NetworkDevice.InterfaceName
	case i.CNIDevice != nil:
		return i.CNIDevice.LinkName()
	}
	return ""
}

// LinkName is InterfaceName, or DefaultCNIInterfaceName when it is empty.
func (d CNIDevice) LinkName() string {
	if d.InterfaceName == "" {
		return DefaultCNIInterfaceName
	}
	return d.InterfaceName
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

// CNIDevice is an underlay link a CNI plugin creates inside the router
// namespace (CNI ADD with the router namespace as the container's), as in
// OpenPERouter: the controller runs the plugins with libcni, deletes the
// link with CNI DEL when it is no longer wanted, and keeps libcni's cache
// of results on the node so that a restarted controller still knows what
// it created. Its config blobs are JSON objects.
// +kubebuilder:validation:XValidation:rule="has(self.rawConfig) == (self.type == 'RawConfig')",message="type/config mismatch: rawConfig must be set if and only if type is RawConfig"
type CNIDevice struct {
	// Type is the source of the CNI configuration: RawConfig.
	// +kubebuilder:validation:Enum=RawConfig
	// +required
	Type string `json:"type"`

	// RawConfig is a CNI network configuration list (spec 1.0.0 or later)
	// as a JSON object: cniVersion, name and plugins, each plugin with its
	// type (macvlan, ipvlan, ...) and the plugin's own settings (ipam:
	// static, host-local, dhcp). Changing it replaces the link (CNI DEL
	// of the old config, then ADD of the new one).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +kubebuilder:validation:Schemaless
	// +optional
	RawConfig *runtime.RawExtension `json:"rawConfig,omitempty"`

	// InterfaceName is the name of the link the plugin creates in the
	// router namespace (CNI_IFNAME); net1 when absent.
	// +kubebuilder:default="net1"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9._-]*$`
	// +optional
	InterfaceName string `json:"interfaceName,omitempty"`

	// RuntimeConfig holds the CNI capability arguments, a JSON object
	// (ips, mac, ...): libcni passes a key to the plugins that declare it
	// in their capabilities. Changing it replaces the link.
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

// GracefulRestart holds BGP graceful restart's timers (OpenPERouter's
// names and bounds). Its presence on the Underlay turns graceful restart
// on.
type GracefulRestart struct {
	// RestartTimeSeconds is how long the fabric keeps the node's routes
	// after its BGP session went down, waiting for it to come back
	// (FRR's restart-time; FRR's default when unset).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4095
	// +optional
	RestartTimeSeconds *uint32 `json:"restartTimeSeconds,omitempty"`

	// StalePathTimeSeconds is how long the node keeps a restarting
	// neighbour's routes once its session is back, waiting for its
	// end-of-RIB (FRR's stalepath-time; FRR's default when unset).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4095
	// +optional
	StalePathTimeSeconds *uint32 `json:"stalePathTimeSeconds,omitempty"`
}

// DefaultClusterID is the route reflector's cluster ID when clusterID is
// omitted, as upstream defaults it: an RFC 5737 documentation address,
// outside the default routerIDCIDR.
const DefaultClusterID = "192.0.2.1"

// RouteReflector holds the route reflector's parameters.
type RouteReflector struct {
	// ClusterID is the BGP cluster ID shared by the route reflectors that
	// serve the same clients (RFC 4456 section 7): the CLUSTER_LIST loop
	// check then keeps them from reflecting each other's routes back. An
	// opaque 32-bit value written as an IPv4 address; it must lie outside
	// routerIDCIDR so it never equals a node's router ID.
	// +kubebuilder:default="192.0.2.1"
	// +kubebuilder:validation:MinLength=7
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="clusterID must be a valid IPv4 address"
	// +optional
	ClusterID string `json:"clusterID,omitempty"`
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
// +kubebuilder:validation:XValidation:rule="[has(self.address), has(self.interface), has(self.listenRange)].filter(x, x).size() == 1",message="exactly one of address, interface or listenRange must be set"
// +kubebuilder:validation:XValidation:rule="has(self.holdTimeSeconds) == has(self.keepaliveTimeSeconds)",message="holdTimeSeconds and keepaliveTimeSeconds must be set together"
// +kubebuilder:validation:XValidation:rule="!has(self.password) || !has(self.passwordSecret)",message="at most one of password or passwordSecret may be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.ebgpMultiHop) && self.ebgpMultiHop && has(self.properties) && self.properties.exists(p, p.type == 'ebgpMultiHop'))",message="ebgpMultiHop: true and properties [{type: ebgpMultiHop}] say the same: keep properties only"
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

	// EBGPMultiHop allows an eBGP peer that is not directly connected,
	// with FRR's default TTL (255). It is perouter's older spelling of
	// properties: [{type: ebgpMultiHop}], kept so manifests written with it
	// stay valid; set one or the other, not both.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// Properties are optional session features, as in OpenPERouter:
	// ebgpMultiHop, with an optional ttl.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=1
	// +optional
	Properties []NeighborProperty `json:"properties,omitempty"`

	// BFD enables a BFD session with the peer.
	// +optional
	BFD *BFDSettings `json:"bfd,omitempty"`

	// ListenRange accepts sessions from any peer in this CIDR (dynamic
	// neighbours) instead of naming one peer: the router waits for them to
	// connect. Exactly one of address, interface and listenRange. Host bits
	// are ignored (192.168.10.1/24 is 192.168.10.0/24); ranges of one
	// Underlay may not overlap.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="listenRange must be a valid CIDR"
	// +optional
	ListenRange string `json:"listenRange,omitempty"`

	// AddressFamilies lists the BGP address families enabled with this
	// neighbour, each with optional properties (routeReflectorClient).
	// Omitted: perouter enables the families it needs (ipv4 unicast for
	// IPv4 and unnumbered peers, ipv6 unicast for IPv6 and unnumbered
	// peers when the node has IPv6 routes to announce, l2vpn evpn when the
	// node has a VTEP).
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=4
	// +optional
	AddressFamilies []NeighborAddressFamily `json:"addressFamilies,omitempty"`
}

// Neighbour address family types, as in OpenPERouter.
const (
	AddressFamilyIPv4Unicast = "ipv4unicast"
	AddressFamilyIPv6Unicast = "ipv6unicast"
	AddressFamilyEVPN        = "evpn"
	// AddressFamilyIPv4VPN and AddressFamilyIPv6VPN are upstream's SRv6
	// L3VPN families: in the schema so upstream manifests decode, refused
	// by validation (NotYetSupported).
	AddressFamilyIPv4VPN = "ipv4vpn"
	AddressFamilyIPv6VPN = "ipv6vpn"
)

// NeighborAddressFamily is one BGP address family enabled with a
// neighbour.
type NeighborAddressFamily struct {
	// Type is the address family.
	// +kubebuilder:validation:Enum=ipv4unicast;ipv6unicast;evpn;ipv4vpn;ipv6vpn
	// +required
	Type string `json:"type"`

	// Properties are optional features of the neighbour in this family.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Properties []AddressFamilyProperty `json:"properties,omitempty"`
}

// Address family property types.
const (
	// AddressFamilyPropertyRouteReflectorClient makes the neighbour a
	// route reflector client in this family ("neighbor X
	// route-reflector-client"); the session must be internal (iBGP).
	AddressFamilyPropertyRouteReflectorClient = "routeReflectorClient"
)

// AddressFamilyProperty is one optional feature of a neighbour in an
// address family.
type AddressFamilyProperty struct {
	// Type selects the property.
	// +kubebuilder:validation:Enum=routeReflectorClient
	// +required
	Type string `json:"type"`
}

// Neighbour property types, the discriminator of NeighborProperty.
const (
	// NeighborPropertyEBGPMultiHop renders "neighbor X ebgp-multihop [ttl]".
	NeighborPropertyEBGPMultiHop = "ebgpMultiHop"
)

// NeighborProperty is one optional feature of a neighbour session, a union
// discriminated by type as in OpenPERouter.
// +kubebuilder:validation:XValidation:rule="!has(self.ebgpMultiHop) || self.type == 'ebgpMultiHop'",message="ebgpMultiHop parameters can only be set when type is ebgpMultiHop"
type NeighborProperty struct {
	// Type selects the property: ebgpMultiHop.
	// +kubebuilder:validation:Enum=ebgpMultiHop
	// +required
	Type string `json:"type"`

	// EBGPMultiHop holds the parameters of type ebgpMultiHop.
	// +optional
	EBGPMultiHop *EBGPMultiHopProperties `json:"ebgpMultiHop,omitempty"`
}

// EBGPMultiHopProperties holds the parameters of the ebgpMultiHop property.
type EBGPMultiHopProperties struct {
	// TTL is the most hops the session may cross; FRR's default (255)
	// when absent.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	// +optional
	TTL *uint32 `json:"ttl,omitempty"`
}

// MultiHop reports whether the session may cross several hops, from
// either spelling, and the TTL (nil: FRR's default).
func (n Neighbor) MultiHop() (bool, *uint32) {
	for _, p := range n.Properties {
		if p.Type != NeighborPropertyEBGPMultiHop {
			continue
		}
		if p.EBGPMultiHop == nil {
			return true, nil
		}
		return true, p.EBGPMultiHop.TTL
	}
	return n.EBGPMultiHop, nil
}

// BFD session modes.
const (
	// BFDSessionModeActive sends control packets first (the default).
	BFDSessionModeActive = "Active"
	// BFDSessionModePassive waits for the peer's first packet (RFC 5880
	// section 6.1), FRR's passive-mode.
	BFDSessionModePassive = "Passive"
)

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

	// SessionMode is Active (the default) or Passive: a passive session
	// waits for the peer to start it.
	// +kubebuilder:validation:Enum=Active;Passive
	// +optional
	SessionMode string `json:"sessionMode,omitempty"`

	// MinimumTTL is the lowest TTL accepted on incoming control packets of
	// a multi-hop session (a neighbour with ebgpMultiHop); FRR ignores it
	// on single-hop sessions, which require 255.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	// +optional
	MinimumTTL *uint32 `json:"minimumTTL,omitempty"`
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
