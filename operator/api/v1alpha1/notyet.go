package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"
)

// NotYetSupportedField is a field of OpenPERouter's API (upstream main)
// that perouter's schema accepts, so that upstream manifests decode and
// the webhook sees them, but that perouter does not implement yet.
// Validation refuses each one it finds, naming the field; nothing is
// dropped silently.
type NotYetSupportedField struct {
	// Kind is the object kind the field belongs to.
	Kind string
	// Path is the field's JSON path, "[]" standing for every list item:
	// spec.neighbors[].listenRange.
	Path string
	// Value, when set, refuses only this value of the field (an
	// enumeration value), not the field itself.
	Value string
	// Reason says what perouter does instead, or what to do.
	Reason string
}

// NotYetSupported is the one list of OpenPERouter's fields perouter does
// not implement yet: validation (so perouterctl validate and the
// webhook), perouterctl convert and docs/migrating.md use it.
var NotYetSupported = []NotYetSupportedField{
	{Kind: "Underlay", Path: "spec.isis", Reason: "perouter has no IS-IS underlay; peer with BGP neighbors"},
	{Kind: "Underlay", Path: "spec.srv6", Reason: "perouter has no SRv6; use L3VNIs and L2VNIs over VXLAN"},
	{Kind: "Underlay", Path: "spec.neighbors[].addressFamilies[].type", Value: "ipv4vpn", Reason: "perouter has no SRv6 L3VPN; use ipv4unicast, ipv6unicast or evpn"},
	{Kind: "Underlay", Path: "spec.neighbors[].addressFamilies[].type", Value: "ipv6vpn", Reason: "perouter has no SRv6 L3VPN; use ipv4unicast, ipv6unicast or evpn"},
	{Kind: "L2VNI", Path: "spec.routingDomain.type", Value: "L3VPN", Reason: "perouter has no SRv6 L3VPN; route the segment through an L3VNI (type L3VNI)"},
	{Kind: "L2VNI", Path: "spec.routingDomain.l3vpn", Reason: "perouter has no SRv6 L3VPN; route the segment through an L3VNI (routingDomain.l3vni)"},
	{Kind: "L2VNI", Path: "spec.hostMaster.type", Value: "OVSBridge", Reason: "perouter has no Open vSwitch bridges; use type LinuxBridge"},
	{Kind: "L2VNI", Path: "spec.hostMaster.ovsBridge", Reason: "perouter has no Open vSwitch bridges; use hostMaster.linuxBridge"},
}

// NotYetSupportedKinds are OpenPERouter's kinds perouter has no
// counterpart for yet, with the reason.
var NotYetSupportedKinds = map[string]string{
	"L3VPN":                         "perouter has no SRv6 L3VPN yet",
	"RouterNodeConfigurationStatus": "it is written by upstream's controller; perouter reports per node in RouterNodeStatus",
}

// FieldProblem is one not-yet-supported field found in an object.
type FieldProblem struct {
	// Field is the path with list indices: spec.neighbors[0].listenRange.
	Field   string
	Message string
}

// FindNotYetSupported lists, in the order of NotYetSupported and then of
// the list items, the fields of obj (an object of kind as JSON, e.g. from
// json.Marshal) that NotYetSupported refuses.
func FindNotYetSupported(kind string, obj map[string]any) []FieldProblem {
	var out []FieldProblem
	for _, f := range NotYetSupported {
		if f.Kind != kind {
			continue
		}
		for _, hit := range lookup(obj, strings.Split(f.Path, "."), "") {
			switch {
			case f.Value == "":
				out = append(out, FieldProblem{Field: hit.path, Message: "not supported yet: " + f.Reason})
			case hit.value == f.Value:
				out = append(out, FieldProblem{Field: hit.path, Message: fmt.Sprintf("%s is not supported yet: %s", f.Value, f.Reason)})
			}
		}
	}
	return out
}

type found struct {
	path  string
	value any
}

// lookup finds the values at path (dot-separated keys, a key ending in
// "[]" stepping into every list item) under v; prefix is the path so far.
func lookup(v any, path []string, prefix string) []found {
	if len(path) == 0 {
		return []found{{path: prefix, value: v}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	key, list := strings.CutSuffix(path[0], "[]")
	child, ok := m[key]
	if !ok || child == nil {
		return nil
	}
	here := key
	if prefix != "" {
		here = prefix + "." + key
	}
	if !list {
		return lookup(child, path[1:], here)
	}
	items, _ := child.([]any)
	var out []found
	for i, item := range items {
		out = append(out, lookup(item, path[1:], here+"["+strconv.Itoa(i)+"]")...)
	}
	return out
}
