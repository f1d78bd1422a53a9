package convert

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// passiveMode is v0.2.0's BFD passive flag; main and perouter say
// sessionMode: Passive (or Active, the default).
func passiveMode(c *docConverter, p path, v any) ([]keyValue, error) {
	passive, ok := v.(bool)
	if !ok {
		return nil, errors.New("must be true or false")
	}
	mode := "Active"
	if passive {
		mode = "Passive"
	}
	c.change(p.from, "%v → %s: %s", passive, p.to, mode)
	return []keyValue{{"sessionMode", mode}}, nil
}

// nics is v0.1.0's list of host NICs; v0.2.0 and perouter write each as an
// interfaces entry of type NetworkDevice.
func nics(c *docConverter, p path, v any) ([]keyValue, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be a list of interface names")
	}
	var out []any
	for i, item := range list {
		name, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("[%d] must be an interface name", i)
		}
		out = append(out, map[string]any{
			"type":          "NetworkDevice",
			"networkDevice": map[string]any{"interfaceName": name},
		})
	}
	c.change(p.from, "moved to %s, one {type: NetworkDevice, networkDevice: {interfaceName}} per NIC", p.to)
	return []keyValue{{"interfaces", out}}, nil
}

// evpn is v0.1.0's VTEP configuration: vtepcidr became tunnelEndpoint's
// cidrs in v0.2.0.
func evpn(c *docConverter, p path, v any) ([]keyValue, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be an object")
	}
	var cidr any
	for _, key := range sortedKeys(m) {
		switch key {
		case "vtepcidr":
			cidr = m[key]
		case "vtepInterface":
			return nil, errors.New("vtepInterface: not supported: perouter assigns each node's VTEP from tunnelEndpoint.cidrs; use evpn.vtepcidr")
		default:
			return nil, fmt.Errorf("%s: unknown field (%s has no such field)", key, c.doc.version.name)
		}
	}
	if cidr == nil {
		return nil, errors.New("has no vtepcidr")
	}
	c.change(p.from+".vtepcidr", "moved to %s.cidrs: [%v]", p.to, cidr)
	return []keyValue{{"tunnelEndpoint", map[string]any{"cidrs": []any{cidr}}}}, nil
}

// l2vniVRF turns v0.2.0's vrf — the name of the L3VNI's VRF the segment
// routes through — into a routingDomain naming that L3VNI. It is looked
// up among the L3VNIs of the same namespace in all the files convert was
// given, as v0.2.0's controller matched the VRF names.
func l2vniVRF(c *docConverter, p path, v any) ([]keyValue, error) {
	vrf, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string")
	}
	if vrf == "" {
		c.change(p.from, "dropped: an empty vrf routes the segment nowhere, as no routingDomain")
		return nil, nil
	}
	ns := namespaceOf(c.doc.obj)
	names := c.l3vnis[ns][vrf]
	switch len(names) {
	case 0:
		return nil, fmt.Errorf("no L3VNI of namespace %s with vrf %q is among the converted files: perouter's L2VNI names its L3VNI (routingDomain.l3vni.name), so give convert the L3VNI's manifest too (v0.2.0 also matched an L3VPN's vrf, which perouter does not support)", ns, vrf)
	case 1:
		c.change(p.from, "%s → %s: {type: L3VNI, l3vni: {name: %s}} (the L3VNI with vrf %s)", vrf, p.to, names[0], vrf)
		return []keyValue{{"routingDomain", map[string]any{
			"type":  "L3VNI",
			"l3vni": map[string]any{"name": names[0]},
		}}}, nil
	default:
		sorted := slices.Clone(names)
		slices.Sort(sorted)
		return nil, fmt.Errorf("vrf %q is the VRF of several L3VNIs (%s), under different node selectors: perouter's L2VNI names one L3VNI, so split the L2VNI per L3VNI (with the same nodeSelector) and set routingDomain.l3vni.name on each", vrf, strings.Join(sorted, ", "))
	}
}

// linuxBridge is v0.2.0's {name | autoCreate: true}; perouter and main
// say the same with a lifecycle: External with a name, or Managed.
func linuxBridge(c *docConverter, p path, v any) ([]keyValue, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be an object")
	}
	for _, key := range sortedKeys(m) {
		if key != "name" && key != "autoCreate" {
			return nil, fmt.Errorf("%s: unknown field (%s has no such field)", key, c.doc.version.name)
		}
	}
	name, _ := m["name"].(string)
	auto, _ := m["autoCreate"].(bool)
	switch {
	case name != "" && !auto:
		c.change(p.from, "{name: %s} → {lifecycle: External, name: %s}", name, name)
		return []keyValue{{"linuxBridge", map[string]any{"lifecycle": "External", "name": name}}}, nil
	case name == "" && auto:
		c.change(p.from, "{autoCreate: true} → {lifecycle: Managed}")
		return []keyValue{{"linuxBridge", map[string]any{"lifecycle": "Managed"}}}, nil
	default:
		return nil, errors.New("set either name or autoCreate: true, not both and not neither (upstream's own rule)")
	}
}
