// Package devname names the network devices perouter creates: one VRF
// bridge, VXLAN and veth pair per VNI in the router network namespace, and
// their host-side peers. hostnet creates the devices, nodeconfig names the
// managed host bridges in the model, validate keeps user-chosen names (VRFs)
// clear of them; all take the names from here.
//
// Linux limits interface names to 15 bytes; the longest name here,
// "host-e-16777215" (the largest VNI), is exactly 15.
package devname

import (
	"strconv"
	"strings"
)

// Prefixes of the per-VNI devices; the VNI follows in decimal.
const (
	bridgePrefix     = "br-pe-"  // router netns: the VNI's bridge
	vxlanPrefix      = "vni"     // router netns: the VXLAN device
	routerVethPrefix = "pe-e-"   // router netns: the veth end in the VRF or bridge
	hostVethPrefix   = "host-e-" // host netns: the other veth end
	hostBridgePrefix = "br-hs-"  // host netns: a managed host bridge (L2VNI)
)

// PassthroughHostVeth and PassthroughRouterVeth name the L3Passthrough
// veth pair (host netns / router netns default VRF).
const (
	PassthroughHostVeth   = "host-pt"
	PassthroughRouterVeth = "pe-pt"
)

func withVNI(prefix string, vni uint32) string {
	return prefix + strconv.FormatUint(uint64(vni), 10)
}

// Bridge is the router-side bridge of a VNI (br-pe-<VNI>).
func Bridge(vni uint32) string { return withVNI(bridgePrefix, vni) }

// VXLAN is the VXLAN device of a VNI (vni<VNI>).
func VXLAN(vni uint32) string { return withVNI(vxlanPrefix, vni) }

// HostVeth is the host-netns end of a VNI's veth pair (host-e-<VNI>).
func HostVeth(vni uint32) string { return withVNI(hostVethPrefix, vni) }

// RouterVeth is the router-netns end of a VNI's veth pair (pe-e-<VNI>).
func RouterVeth(vni uint32) string { return withVNI(routerVethPrefix, vni) }

// HostBridge is the managed host-side bridge of an L2VNI (br-hs-<VNI>).
func HostBridge(vni uint32) string { return withVNI(hostBridgePrefix, vni) }

// vniSuffixed reports whether s is prefix followed by at least one digit
// and only digits.
func vniSuffixed(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// HostSide reports whether name is one perouter gives to a device in the
// host network namespace: host-e-<N>, br-hs-<N> or host-pt. The host netns
// is shared with everything else on the node, so a device there is only
// perouter's if its name matches (and it carries perouter's marker).
func HostSide(name string) bool {
	return name == PassthroughHostVeth || vniSuffixed(name, hostVethPrefix) || vniSuffixed(name, hostBridgePrefix)
}

// Loopback is the loopback device every network namespace has; in the
// router namespace it carries the VTEP addresses.
const Loopback = "lo"

// Reserved says why a device name chosen by a user (an L3VNI's VRF, an
// Underlay NIC, an external host bridge) would collide with a device
// perouter creates or relies on, or returns "" when the name is free. A
// colliding name makes every reconcile on the selected nodes fail (the
// device exists, or perouter's own device would be taken for the user's)
// before FRR is reloaded. Reserved are: lo; any name with the prefix of a
// per-VNI bridge or veth; vni<N>; and the passthrough veth names. Only
// vni<N> needs digits after its prefix: "vni" starts ordinary words.
//
// This is the one list of reserved names: validate calls it for every
// user-chosen name, so the webhook, the controller and perouterctl
// refuse the same names.
func Reserved(name string) string {
	if name == Loopback {
		return "is the loopback, which every network namespace has"
	}
	for _, p := range []string{bridgePrefix, routerVethPrefix, hostBridgePrefix, hostVethPrefix} {
		if strings.HasPrefix(name, p) {
			return reservedReason
		}
	}
	if vniSuffixed(name, vxlanPrefix) || name == PassthroughHostVeth || name == PassthroughRouterVeth {
		return reservedReason
	}
	return ""
}

const reservedReason = "collides with the names perouter gives its own devices (" + vxlanPrefix + "<N>, " + bridgePrefix + "*, " +
	routerVethPrefix + "*, " + hostBridgePrefix + "*, " + hostVethPrefix + "*, " + PassthroughRouterVeth + ", " + PassthroughHostVeth + ")"
