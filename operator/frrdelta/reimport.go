package frrdelta

import (
	"slices"
	"strconv"
	"strings"
)

// L3VNI is a VRF that a config gives both a VNI and a BGP instance: an
// L3VNI whose type-5 routes bgpd imports into the VRF.
type L3VNI struct {
	VRF string
	VNI uint32
	// VNILine is the VRF stanza's line as written, e.g. "vni 100".
	VNILine string
	// BGP is the header of the VRF's BGP instance, e.g. "router bgp 64514
	// vrf red".
	BGP string
	// TableMap reports that an ipv4 or ipv6 unicast family of that
	// instance sets a table-map (perouter renders none).
	TableMap bool
}

// L3VNIs lists the L3VNIs of a config in its order.
func L3VNIs(text string) ([]L3VNI, error) {
	cfg, err := Parse(text)
	if err != nil {
		return nil, err
	}
	return l3vnis(cfg), nil
}

func l3vnis(cfg *Config) []L3VNI {
	var out []L3VNI
	for _, c := range cfg.Contexts {
		if len(c.Path) != 1 || !strings.HasPrefix(c.Path[0], "vrf ") {
			continue
		}
		vrf := strings.TrimPrefix(c.Path[0], "vrf ")
		for _, l := range c.Lines {
			n, ok := strings.CutPrefix(l, "vni ")
			if !ok {
				continue
			}
			vni, err := strconv.ParseUint(strings.Fields(n)[0], 10, 32)
			if err != nil {
				continue
			}
			for _, b := range cfg.Contexts {
				if len(b.Path) == 1 && strings.HasPrefix(b.Path[0], "router bgp ") && strings.HasSuffix(b.Path[0], " vrf "+vrf) {
					out = append(out, L3VNI{VRF: vrf, VNI: uint32(vni), VNILine: l, BGP: b.Path[0], TableMap: hasTableMap(cfg, b.Path[0])})
				}
			}
		}
	}
	return out
}

func hasTableMap(cfg *Config, bgp string) bool {
	for _, af := range []string{"address-family ipv4 unicast", "address-family ipv6 unicast"} {
		if c := cfg.Context(bgp, af); c != nil && slices.ContainsFunc(c.Lines, func(l string) bool { return strings.HasPrefix(l, "table-map ") }) {
			return true
		}
	}
	return false
}

// Reimported returns the L3VNIs of newText whose EVPN import route targets
// differ from oldText's while the L3VNI stays: bgpd answers every such
// change by uninstalling all of the VRF's imported routes and installing
// the matching ones again, so a route that stays imported reaches zebra as
// a withdraw and an add at once. FRR 8.4's zebra can then lose the VRF's
// remote VTEP neighbour and router MAC while it keeps the route
// (operator/reloader, EVPNNexthops). A new L3VNI imports with adds only
// and is not listed; nor are export-only changes, which import nothing.
func Reimported(oldText, newText string) ([]L3VNI, error) {
	oldCfg, err := Parse(oldText)
	if err != nil {
		return nil, err
	}
	newCfg, err := Parse(newText)
	if err != nil {
		return nil, err
	}
	old := l3vnis(oldCfg)
	var out []L3VNI
	for _, l := range l3vnis(newCfg) {
		if !slices.ContainsFunc(old, func(o L3VNI) bool { return o.VRF == l.VRF && o.VNI == l.VNI && o.BGP == l.BGP }) {
			continue
		}
		if !slices.Equal(importRTs(oldCfg, l.BGP), importRTs(newCfg, l.BGP)) {
			out = append(out, l)
		}
	}
	return out, nil
}

// importRTs are the sorted "route-target import|both" lines of an
// instance's EVPN family.
func importRTs(cfg *Config, bgp string) []string {
	c := cfg.Context(bgp, "address-family l2vpn evpn")
	if c == nil {
		return nil
	}
	var rts []string
	for _, l := range c.Lines {
		if strings.HasPrefix(l, "route-target import ") || strings.HasPrefix(l, "route-target both ") {
			rts = append(rts, l)
		}
	}
	slices.Sort(rts)
	return rts
}
