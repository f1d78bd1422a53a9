package validate

import (
	"fmt"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// GatewayCIDRs returns the subnets of an L2VNI's gateways (masked), one
// CIDRUse per gateway that parses, for the overlap checks within a VRF.
func GatewayCIDRs(l *v1alpha1.L2VNI) []CIDRUse {
	ref := objects.RefOf(objects.KindL2VNI, l.ObjectMeta)
	var uses []CIDRUse
	for i, g := range l.Spec.GatewayIPs {
		p, err := Prefix(g)
		if err != nil {
			continue // l2vni reports it
		}
		uses = append(uses, CIDRUse{Ref: ref, Field: fmt.Sprintf("spec.gatewayIPs[%d]", i), Prefix: p.Masked()})
	}
	return uses
}

// VRFOverlaps returns the errors for the subnets of one VRF that overlap:
// gateway subnets of its L2VNIs with each other (reported on both) and
// with the localCIDR of its L3VNI (reported on the L2VNI only: it is the
// L2VNI that joins the VRF, and an error on the L3VNI would take the VRF
// and all its other L2VNIs down with it). Two L3VNI pools are left out:
// the localCIDR rule reports those, across VRFs too.
func VRFOverlaps(vrf string, uses []CIDRUse) []Error {
	var errs []Error
	report := func(a, b CIDRUse) {
		errs = append(errs, Error{Ref: a.Ref, Field: a.Field, Message: fmt.Sprintf("%s overlaps %s of %s (%s) in VRF %q", a.Prefix, b.Field, b.Ref, b.Prefix, vrf)})
	}
	for _, p := range OverlapPairs(uses) {
		a, b := uses[p[0]], uses[p[1]]
		if a.Ref.Kind == objects.KindL2VNI {
			report(a, b)
		}
		if b.Ref.Kind == objects.KindL2VNI {
			report(b, a)
		}
	}
	return errs
}

// gatewayOverlaps applies upstream's rule that the subnets routed in one
// VRF are distinct: two bridges of a VRF with the same subnet, or a
// bridge subnet equal to the host veth's, give the VRF two connected
// routes for one prefix and hosts an ambiguous gateway. Like the other
// node-dependent rules it fires here for objects with equal node
// selectors; nodeconfig.Build applies it exactly on each node.
func (v *checker) gatewayOverlaps(s objects.Set) {
	type group struct {
		vrf  string
		uses []CIDRUse
	}
	groups := map[string]*group{}
	var order []string
	add := func(vrf, selKey string, uses []CIDRUse) {
		key := vrf + "\x00" + selKey
		g, ok := groups[key]
		if !ok {
			g = &group{vrf: vrf}
			groups[key] = g
			order = append(order, key)
		}
		g.uses = append(g.uses, uses...)
	}
	byRef := make(map[objects.Ref]int, len(s.L3VNIs))
	for i, l := range s.L3VNIs {
		byRef[objects.RefOf(objects.KindL3VNI, l.ObjectMeta)] = i
	}
	for i := range s.L2VNIs {
		l := &s.L2VNIs[i]
		rd := l.Spec.RoutingDomain
		if rd == nil || rd.L3VNI == nil || len(l.Spec.GatewayIPs) == 0 {
			continue
		}
		j, ok := byRef[objects.Ref{Kind: objects.KindL3VNI, Namespace: l.Namespace, Name: rd.L3VNI.Name}]
		if !ok {
			continue // a missing dependency, not an overlap
		}
		key, ok := SelectorKey(l.Spec.NodeSelector)
		if !ok {
			continue
		}
		add(s.L3VNIs[j].Spec.VRF, key, GatewayCIDRs(l))
	}
	if len(groups) == 0 {
		return
	}
	for i, l := range s.L3VNIs {
		key, ok := SelectorKey(l.Spec.NodeSelector)
		if !ok {
			continue
		}
		if _, used := groups[l.Spec.VRF+"\x00"+key]; used {
			add(l.Spec.VRF, key, v.l3vniCIDRs[i])
		}
	}
	for _, key := range order {
		v.errs = append(v.errs, VRFOverlaps(groups[key].vrf, groups[key].uses)...)
	}
}
