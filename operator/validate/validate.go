// Package validate holds every rule perouter objects must follow, single-
// and cross-object, in Go, so the admission webhook, the controller and
// perouterctl apply exactly the same rules. The single-object rules mirror
// the CRDs' OpenAPI and CEL rules, so perouterctl catches offline what the
// API server would refuse.
package validate

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/objects"
)

// Error is one broken rule, naming the object and the field.
type Error struct {
	Ref     objects.Ref
	Field   string
	Message string
}

func (e Error) Error() string {
	return e.Ref.String() + ": " + e.Field + ": " + e.Message
}

// PasswordKey is the key of a passwordSecret's Secret that holds the
// password.
const PasswordKey = "password"

// Set checks every object of s on its own and against the others. Errors
// come in the order of the objects in s.
func Set(s objects.Set) []Error {
	v := &checker{
		l3vniCIDRs:       make([][]CIDRUse, len(s.L3VNIs)),
		passthroughCIDRs: make([][]CIDRUse, len(s.L3Passthroughs)),
	}
	for i := range s.Underlays {
		v.underlay(&s.Underlays[i])
	}
	for i := range s.L3VNIs {
		v.l3vniCIDRs[i] = v.l3vni(&s.L3VNIs[i])
	}
	for i := range s.L2VNIs {
		v.l2vni(&s.L2VNIs[i])
	}
	for i := range s.L3Passthroughs {
		v.passthroughCIDRs[i] = v.passthrough(&s.L3Passthroughs[i])
	}
	for i := range s.RawFRRConfigs {
		v.rawFRRConfig(&s.RawFRRConfigs[i], s.RawFRRConfigNamespace)
	}
	v.crossObject(s)
	return v.errs
}

type checker struct {
	errs []Error
	// The localCIDR pools of each L3VNI and L3Passthrough of the Set, by
	// index, for the cross-object overlap check.
	l3vniCIDRs, passthroughCIDRs [][]CIDRUse
}

func (v *checker) add(ref objects.Ref, field, format string, args ...any) {
	v.errs = append(v.errs, Error{Ref: ref, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *checker) meta(ref objects.Ref, m metav1.ObjectMeta) {
	for _, msg := range dnsSubdomain(m.Name) {
		v.add(ref, "metadata.name", "%s", msg)
	}
	if m.Namespace != "" {
		for _, msg := range dnsLabel(m.Namespace) {
			v.add(ref, "metadata.namespace", "%s", msg)
		}
	}
}

func (v *checker) selector(ref objects.Ref, field string, sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		v.add(ref, field, "%v", err)
	}
}

func (v *checker) asn(ref objects.Ref, field string, asn uint32) {
	if err := ASN(asn); err != nil {
		v.add(ref, field, "%v", err)
	}
}

func (v *checker) uintRange(ref objects.Ref, field string, val *uint32, min, max uint32) {
	if val != nil && (*val < min || *val > max) {
		v.add(ref, field, "%d is out of range %d..%d", *val, min, max)
	}
}

func (v *checker) oneOf(ref objects.Ref, field, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.add(ref, field, "%q must be one of %s", value, strings.Join(allowed, ", "))
	}
}

func (v *checker) underlay(u *v1alpha1.Underlay) {
	ref := objects.RefOf(objects.KindUnderlay, u.ObjectMeta)
	v.meta(ref, u.ObjectMeta)
	v.selector(ref, "spec.nodeSelector", u.Spec.NodeSelector)
	v.asn(ref, "spec.asn", u.Spec.ASN)
	v.notYetSupported(ref, u)
	if p, err := RouterIDPool(u.Spec.RouterIDCIDR); err != nil {
		v.add(ref, "spec.routerIDCIDR", "%v", err)
	} else if _, err := ipam.RouterID(p, 0); err != nil {
		v.add(ref, "spec.routerIDCIDR", "%v", err)
	}

	if n := len(u.Spec.Neighbors); n < 1 || n > 128 {
		v.add(ref, "spec.neighbors", "must have 1 to 128 items, has %d", n)
	}
	peers := map[string]int{}
	type listenRange struct {
		p netip.Prefix
		i int
	}
	var ranges []listenRange
	for i := range u.Spec.Neighbors {
		field := fmt.Sprintf("spec.neighbors[%d]", i)
		n := &u.Spec.Neighbors[i]
		v.neighbor(ref, field, n)
		v.neighborFamilies(ref, field, u.Spec.ASN, n)
		if n.ListenRange != "" {
			// Upstream refuses overlapping ranges: a peer in both would
			// belong to either peer-group.
			if p, err := ListenRange(n.ListenRange); err == nil && n.Address == "" && n.Interface == "" {
				for _, r := range ranges {
					if r.p.Overlaps(p) {
						v.add(ref, field+".listenRange", "%s overlaps spec.neighbors[%d].listenRange %s: a peer may match only one range", p, r.i, r.p)
					}
				}
				ranges = append(ranges, listenRange{p, i})
			}
			continue
		}
		if n.Address == "" && n.Interface == "" {
			continue // no peer named: refused by neighbor
		}
		peer := n.Address
		if a, err := netip.ParseAddr(n.Address); err == nil {
			peer = a.String()
		}
		if peer == "" {
			peer = "interface " + n.Interface
		}
		if first, dup := peers[peer]; dup {
			v.add(ref, field, "peer %s is also spec.neighbors[%d]", peer, first)
		} else {
			peers[peer] = i
		}
	}

	v.interfaces(ref, u.Spec.Interfaces)

	if rr := u.Spec.RouteReflector; rr != nil && rr.ClusterID != "" {
		id, err := Addr(rr.ClusterID)
		switch {
		case err != nil || !id.Is4():
			v.add(ref, "spec.routeReflector.clusterID", "%q must be an IPv4 address (a 32-bit cluster ID)", rr.ClusterID)
		default:
			if p, err := RouterIDPool(u.Spec.RouterIDCIDR); err == nil && p.Masked().Contains(id) {
				v.add(ref, "spec.routeReflector.clusterID", "%s is inside routerIDCIDR %s, so it could equal a node's router ID: choose an address outside it (the default is %s)", id, p, v1alpha1.DefaultClusterID)
			}
		}
	}

	if gr := u.Spec.GracefulRestart; gr != nil {
		// FRR's bounds for restart-time and stalepath-time (the GR
		// capability carries restart-time in 12 bits).
		v.uintRange(ref, "spec.gracefulRestart.restartTimeSeconds", gr.RestartTimeSeconds, 1, 4095)
		v.uintRange(ref, "spec.gracefulRestart.stalePathTimeSeconds", gr.StalePathTimeSeconds, 1, 4095)
	}

	if te := u.Spec.TunnelEndpoint; te != nil {
		if n := len(te.CIDRs); n < 1 || n > 2 {
			v.add(ref, "spec.tunnelEndpoint.cidrs", "must have 1 or 2 items, has %d", n)
		}
		var v4, v6 int
		for i, c := range te.CIDRs {
			field := fmt.Sprintf("spec.tunnelEndpoint.cidrs[%d]", i)
			p, err := Prefix(c)
			if err != nil {
				v.add(ref, field, "%v", err)
				continue
			}
			if p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
		if v4 > 1 || v6 > 1 {
			v.add(ref, "spec.tunnelEndpoint.cidrs", "must hold at most one IPv4 and one IPv6 CIDR")
		}
	}
}

// interfaces checks the Underlay's links: the union OpenPERouter defines
// (type NetworkDevice or CNIDevice, type optional here), all of one type,
// with distinct names in the router namespace.
func (v *checker) interfaces(ref objects.Ref, ifaces []v1alpha1.UnderlayInterface) {
	if n := len(ifaces); n < 1 || n > 16 {
		v.add(ref, "spec.interfaces", "must have 1 to 16 items, has %d: the router needs a link to the fabric", n)
	}
	names := map[string]int{}
	first := -1 // the first item whose member is known, for the type check
	for i, nic := range ifaces {
		field := fmt.Sprintf("spec.interfaces[%d]", i)
		switch {
		case nic.NetworkDevice != nil && nic.CNIDevice != nil:
			v.add(ref, field, "exactly one of networkDevice or cniDevice must be set, both are")
			continue
		case nic.NetworkDevice == nil && nic.CNIDevice == nil:
			v.add(ref, field, "exactly one of networkDevice or cniDevice must be set, neither is")
			continue
		}
		if nic.Type != "" {
			v.oneOf(ref, field+".type", nic.Type, v1alpha1.InterfaceTypeNetworkDevice, v1alpha1.InterfaceTypeCNIDevice)
			if (nic.Type == v1alpha1.InterfaceTypeNetworkDevice) != (nic.NetworkDevice != nil) ||
				(nic.Type == v1alpha1.InterfaceTypeCNIDevice) != (nic.CNIDevice != nil) {
				v.add(ref, field+".type", "is %s but %s is set", nic.Type, map[bool]string{true: "networkDevice", false: "cniDevice"}[nic.NetworkDevice != nil])
				continue
			}
		}
		if first < 0 {
			first = i
		} else if (ifaces[first].CNIDevice != nil) != (nic.CNIDevice != nil) {
			v.add(ref, field, "is a %s but spec.interfaces[%d] is a %s: all interfaces must be of the same type, mixing NetworkDevice and CNIDevice is not supported; use one Underlay per node with either kind",
				nic.EffectiveType(), first, ifaces[first].EffectiveType())
			continue
		}
		var name string
		if nic.CNIDevice != nil {
			field += ".cniDevice"
			v.cniDevice(ref, field, nic.CNIDevice)
			name = nic.CNIDevice.LinkName()
			field += ".interfaceName"
			if err := CNILinkName(name); err != nil {
				v.add(ref, field, "%v", err)
			}
		} else {
			field += ".networkDevice.interfaceName"
			name = nic.HostNIC()
			if err := NICName(name); err != nil {
				v.add(ref, field, "%v", err)
			}
		}
		if first, dup := names[name]; dup {
			v.add(ref, field, "%q is also spec.interfaces[%d]", name, first)
		} else {
			names[name] = i
		}
	}
}

// cniDevice checks a CNIDevice's config source and blobs (field is
// spec.interfaces[i].cniDevice); the plugins themselves run on the node.
func (v *checker) cniDevice(ref objects.Ref, field string, d *v1alpha1.CNIDevice) {
	v.oneOf(ref, field+".type", d.Type, v1alpha1.CNIConfigTypeRawConfig)
	if d.RawConfig == nil {
		v.add(ref, field+".rawConfig", "must be set with type RawConfig: the CNI network configuration list to run")
	} else if err := CNIConfig(d.RawConfig.Raw); err != nil {
		v.add(ref, field+".rawConfig", "%v", err)
	}
	if d.RuntimeConfig != nil {
		if err := CNIRuntimeConfig(d.RuntimeConfig.Raw); err != nil {
			v.add(ref, field+".runtimeConfig", "%v", err)
		}
	}
}

func (v *checker) neighbor(ref objects.Ref, field string, n *v1alpha1.Neighbor) {
	switch {
	case n.ASN != nil && n.Type != "":
		v.add(ref, field, "exactly one of asn or type must be set, both are")
	case n.ASN == nil && n.Type == "":
		v.add(ref, field, "exactly one of asn or type must be set, neither is")
	case n.ASN != nil:
		v.asn(ref, field+".asn", *n.ASN)
	default:
		v.oneOf(ref, field+".type", n.Type, "External", "Internal")
	}
	named := 0
	for _, s := range []string{n.Address, n.Interface, n.ListenRange} {
		if s != "" {
			named++
		}
	}
	switch {
	case named > 1:
		v.add(ref, field, "exactly one of address, interface or listenRange must be set, %d are", named)
	case named == 0:
		v.add(ref, field, "exactly one of address, interface or listenRange must be set, neither is")
	case n.ListenRange != "":
		if _, err := ListenRange(n.ListenRange); err != nil {
			v.add(ref, field+".listenRange", "%v", err)
		}
	case n.Address != "":
		if _, err := Addr(n.Address); err != nil {
			v.add(ref, field+".address", "%v", err)
		}
	default:
		if err := NeighborInterface(n.Interface); err != nil {
			v.add(ref, field+".interface", "%v", err)
		}
	}
	if n.Port != nil && *n.Port == 0 {
		v.add(ref, field+".port", "must be between 1 and 65535")
	}
	if n.Password != "" && n.PasswordSecret != "" {
		v.add(ref, field, "at most one of password or passwordSecret may be set")
	}
	if n.Password != "" {
		if err := Password(n.Password); err != nil {
			v.add(ref, field+".password", "%v", err)
		}
	}
	if n.PasswordSecret != "" {
		for _, msg := range dnsSubdomain(n.PasswordSecret) {
			v.add(ref, field+".passwordSecret", "%s", msg)
		}
	}
	if (n.HoldTimeSeconds == nil) != (n.KeepaliveTimeSeconds == nil) {
		v.add(ref, field, "holdTimeSeconds and keepaliveTimeSeconds must be set together")
	}
	if h := n.HoldTimeSeconds; h != nil {
		if *h > 65535 || (*h != 0 && *h < 3) {
			v.add(ref, field+".holdTimeSeconds", "%d must be 0 or between 3 and 65535", *h)
		}
		if k := n.KeepaliveTimeSeconds; k != nil && *k > *h {
			v.add(ref, field+".keepaliveTimeSeconds", "%d must not exceed holdTimeSeconds %d", *k, *h)
		}
	}
	v.uintRange(ref, field+".keepaliveTimeSeconds", n.KeepaliveTimeSeconds, 0, 65535)
	v.uintRange(ref, field+".connectTimeSeconds", n.ConnectTimeSeconds, 1, 65535)
	if b := n.BFD; b != nil {
		v.uintRange(ref, field+".bfd.receiveInterval", b.ReceiveInterval, 10, 60000)
		v.uintRange(ref, field+".bfd.transmitInterval", b.TransmitInterval, 10, 60000)
		v.uintRange(ref, field+".bfd.detectMultiplier", b.DetectMultiplier, 2, 255)
		if b.SessionMode != "" {
			v.oneOf(ref, field+".bfd.sessionMode", b.SessionMode, v1alpha1.BFDSessionModeActive, v1alpha1.BFDSessionModePassive)
		}
		v.uintRange(ref, field+".bfd.minimumTTL", b.MinimumTTL, 1, 254)
	}
	v.neighborProperties(ref, field, n)
}

// neighborFamilies checks a neighbour's addressFamilies: known types (the
// SRv6 VPN families are refused by notYetSupported), each once, and
// routeReflectorClient only on an internal session, as upstream requires.
func (v *checker) neighborFamilies(ref objects.Ref, field string, asn uint32, n *v1alpha1.Neighbor) {
	internal := n.Type == "Internal" || (n.ASN != nil && *n.ASN == asn)
	seen := map[string]int{}
	for i, af := range n.AddressFamilies {
		aff := fmt.Sprintf("%s.addressFamilies[%d]", field, i)
		switch af.Type {
		case v1alpha1.AddressFamilyIPv4VPN, v1alpha1.AddressFamilyIPv6VPN:
			// refused once by notYetSupported
		default:
			v.oneOf(ref, aff+".type", af.Type, v1alpha1.AddressFamilyIPv4Unicast, v1alpha1.AddressFamilyIPv6Unicast, v1alpha1.AddressFamilyEVPN)
		}
		if first, dup := seen[af.Type]; dup {
			v.add(ref, aff+".type", "%s is also %s.addressFamilies[%d]", af.Type, field, first)
		} else {
			seen[af.Type] = i
		}
		props := map[string]bool{}
		for j, p := range af.Properties {
			pf := fmt.Sprintf("%s.properties[%d].type", aff, j)
			if p.Type != v1alpha1.AddressFamilyPropertyRouteReflectorClient {
				v.add(ref, pf, "%q must be %s", p.Type, v1alpha1.AddressFamilyPropertyRouteReflectorClient)
				continue
			}
			if props[p.Type] {
				v.add(ref, pf, "%s is listed twice", p.Type)
			}
			props[p.Type] = true
			if !internal {
				v.add(ref, pf, "routeReflectorClient needs an internal (iBGP) session: set %s.type: Internal or %s.asn to the Underlay's asn %d", field, field, asn)
			}
		}
	}
}

// neighborProperties checks OpenPERouter's properties list and that it
// does not repeat perouter's older ebgpMultiHop flag.
func (v *checker) neighborProperties(ref objects.Ref, field string, n *v1alpha1.Neighbor) {
	if len(n.Properties) > 1 {
		v.add(ref, field+".properties", "must have at most 1 item, has %d: ebgpMultiHop is the only property", len(n.Properties))
	}
	for i, p := range n.Properties {
		pf := fmt.Sprintf("%s.properties[%d]", field, i)
		if p.Type != v1alpha1.NeighborPropertyEBGPMultiHop {
			v.add(ref, pf+".type", "%q must be %s", p.Type, v1alpha1.NeighborPropertyEBGPMultiHop)
			continue
		}
		if n.EBGPMultiHop {
			v.add(ref, pf, "ebgpMultiHop: true and properties [{type: ebgpMultiHop}] say the same: remove %s.ebgpMultiHop", field)
		}
		if p.EBGPMultiHop != nil {
			v.uintRange(ref, pf+".ebgpMultiHop.ttl", p.EBGPMultiHop.TTL, 1, 255)
		}
	}
}

// notYetSupported refuses each field of OpenPERouter's that perouter's
// schema accepts but does not implement yet (v1alpha1.NotYetSupported).
func (v *checker) notYetSupported(ref objects.Ref, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		v.add(ref, "", "cannot read the object: %v", err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		v.add(ref, "", "cannot read the object: %v", err)
		return
	}
	for _, p := range v1alpha1.FindNotYetSupported(ref.Kind, m) {
		v.add(ref, p.Field, "%s", p.Message)
	}
}

func (v *checker) vni(ref objects.Ref, field string, vni uint32) {
	if err := VNI(vni); err != nil {
		v.add(ref, field, "%v", err)
	}
}

func (v *checker) vxlanPort(ref objects.Ref, field string, port uint16) {
	if err := VXLANPort(port); err != nil {
		v.add(ref, field, "%v", err)
	}
}

// underlayAddressFamily checks the enumeration the CRDs hold; whether the
// Underlay has a VTEP of the family is a cross-object rule
// (vniFamilies).
func (v *checker) underlayAddressFamily(ref objects.Ref, family string) {
	if family != "" {
		v.oneOf(ref, "spec.underlayAddressFamily", family, v1alpha1.UnderlayAddressFamilyIPv4, v1alpha1.UnderlayAddressFamilyIPv6)
	}
}

// l3vni checks an L3VNI and returns its localCIDR pools.
func (v *checker) l3vni(l *v1alpha1.L3VNI) []CIDRUse {
	ref := objects.RefOf(objects.KindL3VNI, l.ObjectMeta)
	v.meta(ref, l.ObjectMeta)
	v.selector(ref, "spec.nodeSelector", l.Spec.NodeSelector)
	if err := VRFName(l.Spec.VRF); err != nil {
		v.add(ref, "spec.vrf", "%v", err)
	}
	v.vni(ref, "spec.vni", l.Spec.VNI)
	v.vxlanPort(ref, "spec.vxlanPort", l.Spec.VXLANPort)
	v.underlayAddressFamily(ref, l.Spec.UnderlayAddressFamily)
	v.notYetSupported(ref, l)
	var uses []CIDRUse
	if l.Spec.HostSession != nil {
		uses = v.hostSession(ref, l.Spec.HostSession)
		v.l3vniHostASN(ref, l.Spec.HostSession)
	}
	v.routeTargets(ref, "spec.importRTs", l.Spec.ImportRTs)
	v.routeTargets(ref, "spec.exportRTs", l.Spec.ExportRTs)
	return uses
}

// l3vniHostASN refuses an L3VNI host session with hostASN equal to asn,
// as upstream does; an L3Passthrough may (upstream's e2e peers iBGP with
// the host there), so the rule is not part of hostSession.
func (v *checker) l3vniHostASN(ref objects.Ref, h *v1alpha1.HostSession) {
	if h.HostASN != nil && h.HostType == "" && *h.HostASN == h.ASN {
		v.add(ref, "spec.hostSession.hostASN", "must differ from asn (%d); use hostType: Internal for iBGP", h.ASN)
	}
}

func (v *checker) routeTargets(ref objects.Ref, field string, rts []string) {
	if len(rts) > 16 {
		v.add(ref, field, "must have at most 16 items, has %d", len(rts))
	}
	seen := map[string]int{}
	for i, rt := range rts {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := RouteTarget(rt); err != nil {
			v.add(ref, f, "%v", err)
		}
		if first, dup := seen[rt]; dup {
			v.add(ref, f, "%q is also %s[%d]", rt, field, first)
		} else {
			seen[rt] = i
		}
	}
}

// hostSession checks a host session and returns its localCIDR pools.
func (v *checker) hostSession(ref objects.Ref, h *v1alpha1.HostSession) []CIDRUse {
	const field = "spec.hostSession"
	v.asn(ref, field+".asn", h.ASN)
	switch {
	case h.HostASN != nil && h.HostType != "":
		v.add(ref, field, "exactly one of hostASN or hostType must be set, both are")
	case h.HostASN == nil && h.HostType == "":
		v.add(ref, field, "exactly one of hostASN or hostType must be set, neither is")
	case h.HostASN != nil:
		v.asn(ref, field+".hostASN", *h.HostASN)
	default:
		v.oneOf(ref, field+".hostType", h.HostType, "External", "Internal")
	}
	lc := h.LocalCIDR
	if lc.IPv4 == "" && lc.IPv6 == "" {
		v.add(ref, field+".localCIDR", "at least one of ipv4 or ipv6 must be set")
	}
	uses, errs := HostSessionCIDRs(ref, field, h)
	v.errs = append(v.errs, errs...)
	return uses
}

func (v *checker) l2vni(l *v1alpha1.L2VNI) {
	ref := objects.RefOf(objects.KindL2VNI, l.ObjectMeta)
	v.meta(ref, l.ObjectMeta)
	v.selector(ref, "spec.nodeSelector", l.Spec.NodeSelector)
	v.vni(ref, "spec.vni", l.Spec.VNI)
	v.vxlanPort(ref, "spec.vxlanPort", l.Spec.VXLANPort)
	v.underlayAddressFamily(ref, l.Spec.UnderlayAddressFamily)
	v.notYetSupported(ref, l)
	// OpenPERouter's other routing domain and master types are refused
	// once, by notYetSupported.
	if rd := l.Spec.RoutingDomain; rd != nil && rd.Type != "L3VPN" {
		v.oneOf(ref, "spec.routingDomain.type", rd.Type, "L3VNI")
		if rd.L3VNI == nil || rd.L3VNI.Name == "" {
			v.add(ref, "spec.routingDomain.l3vni.name", "is required")
		}
	}
	if hm := l.Spec.HostMaster; hm != nil && hm.Type != "OVSBridge" {
		v.oneOf(ref, "spec.hostMaster.type", hm.Type, "LinuxBridge")
		if lb := hm.LinuxBridge; lb != nil {
			v.oneOf(ref, "spec.hostMaster.linuxBridge.lifecycle", lb.Lifecycle, v1alpha1.LifecycleManaged, v1alpha1.LifecycleExternal)
			switch {
			case lb.Lifecycle == v1alpha1.LifecycleExternal && lb.Name == "":
				v.add(ref, "spec.hostMaster.linuxBridge.name", "is required when lifecycle is External")
			case lb.Lifecycle != v1alpha1.LifecycleExternal && lb.Name != "":
				v.add(ref, "spec.hostMaster.linuxBridge.name", "is only allowed when lifecycle is External")
			case lb.Name != "":
				if err := ExternalBridgeName(lb.Name); err != nil {
					v.add(ref, "spec.hostMaster.linuxBridge.name", "%v", err)
				}
			}
		}
	}
	if len(l.Spec.GatewayIPs) > 0 && l.Spec.RoutingDomain == nil {
		v.add(ref, "spec.gatewayIPs", "requires routingDomain")
	}
	if len(l.Spec.GatewayIPs) > 2 {
		v.add(ref, "spec.gatewayIPs", "must have at most 2 items, has %d", len(l.Spec.GatewayIPs))
	}
	var v4, v6 int
	for i, g := range l.Spec.GatewayIPs {
		field := fmt.Sprintf("spec.gatewayIPs[%d]", i)
		p, err := Prefix(g)
		if err != nil {
			v.add(ref, field, "%v", err)
			continue
		}
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
		if err := gatewayAddress(p); err != nil {
			v.add(ref, field, "%q %v", g, err)
		}
	}
	if v4 > 1 || v6 > 1 {
		v.add(ref, "spec.gatewayIPs", "must hold at most one IPv4 and one IPv6 address")
	}
}

// gatewayAddress refuses a gateway on its subnet's IPv4 broadcast address
// (subnets of /31 and /32 have none). The network address is accepted, as
// upstream does: in IPv6 it is the subnet-router anycast address (RFC 4291
// 2.6.1), meant for exactly this, and Linux routes IPv4 through it too.
func gatewayAddress(p netip.Prefix) error {
	if p.Addr().BitLen()-p.Bits() <= 1 {
		return nil
	}
	if p.Addr().Is4() {
		a := p.Addr().As4()
		host := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) & (^uint32(0) >> p.Bits())
		if host == ^uint32(0)>>p.Bits() {
			return fmt.Errorf("is the broadcast address of its subnet")
		}
	}
	return nil
}

// passthrough checks an L3Passthrough and returns its localCIDR pools.
func (v *checker) passthrough(p *v1alpha1.L3Passthrough) []CIDRUse {
	ref := objects.RefOf(objects.KindL3Passthrough, p.ObjectMeta)
	v.meta(ref, p.ObjectMeta)
	v.selector(ref, "spec.nodeSelector", p.Spec.NodeSelector)
	return v.hostSession(ref, &p.Spec.HostSession)
}

// SecretPassword returns the password a passwordSecret points to.
func SecretPassword(secrets map[objects.Ref]*corev1.Secret, namespace, name string) (string, error) {
	sec, ok := secrets[objects.Ref{Kind: objects.KindSecret, Namespace: namespace, Name: name}]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s does not exist", namespace, name)
	}
	pw, ok := sec.Data[PasswordKey]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s has no key %q", namespace, name, PasswordKey)
	}
	if err := Password(string(pw)); err != nil {
		return "", fmt.Errorf("Secret %s/%s key %q: %v", namespace, name, PasswordKey, err)
	}
	return string(pw), nil
}

func secretExists(secrets map[objects.Ref]*corev1.Secret, namespace, name string) bool {
	_, ok := secrets[objects.Ref{Kind: objects.KindSecret, Namespace: namespace, Name: name}]
	return ok
}

// SecretIndex maps each Secret's Ref to it, for SecretPassword.
func SecretIndex(secrets []corev1.Secret) map[objects.Ref]*corev1.Secret {
	m := make(map[objects.Ref]*corev1.Secret, len(secrets))
	for i := range secrets {
		m[objects.RefOf(objects.KindSecret, secrets[i].ObjectMeta)] = &secrets[i]
	}
	return m
}
