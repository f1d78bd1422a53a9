package validate

import (
	"cmp"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/perouter/perouter/operator/objects"
)

// Node is what the per-node rules know of a node: its name and labels.
type Node struct {
	Name   string
	Labels map[string]string
}

// claim is one thing an object takes on every node it selects, which no
// other object may take on the same node: a VRF name, a VNI, the node's
// one Underlay or L3Passthrough.
type claim struct {
	ref   objects.Ref
	sel   *metav1.LabelSelector
	key   string // what is claimed, e.g. `VRF "red"`
	field string
}

// conflictPair is two objects whose claims clash wherever both apply.
type conflictPair struct {
	a, b claim
	// what the message says of a's clash with b; overlap is set for
	// localCIDR pairs, whose fields differ.
	overlap *[2]CIDRUse
}

// pairsAcrossSelectors returns the clashing pairs of s whose node
// selectors differ: Set reports the pairs with equal selectors (they
// surely meet), these meet only on the nodes both select. OverlapPairs
// finds the localCIDR pairs.
func pairsAcrossSelectors(s objects.Set) []conflictPair {
	var claims []claim
	for _, l := range s.L3VNIs {
		ref := objects.RefOf(objects.KindL3VNI, l.ObjectMeta)
		claims = append(claims,
			claim{ref, l.Spec.NodeSelector, fmt.Sprintf("VRF %q", l.Spec.VRF), "spec.vrf"},
			claim{ref, l.Spec.NodeSelector, fmt.Sprintf("VNI %d", l.Spec.VNI), "spec.vni"})
	}
	for _, l := range s.L2VNIs {
		claims = append(claims, claim{objects.RefOf(objects.KindL2VNI, l.ObjectMeta), l.Spec.NodeSelector, fmt.Sprintf("VNI %d", l.Spec.VNI), "spec.vni"})
	}
	for _, u := range s.Underlays {
		claims = append(claims, claim{objects.RefOf(objects.KindUnderlay, u.ObjectMeta), u.Spec.NodeSelector, "the node's one Underlay", "spec.nodeSelector"})
	}
	for _, p := range s.L3Passthroughs {
		claims = append(claims, claim{objects.RefOf(objects.KindL3Passthrough, p.ObjectMeta), p.Spec.NodeSelector, "the node's one L3Passthrough", "spec.nodeSelector"})
	}
	byKey := map[string][]int{}
	var keys []string
	for i, c := range claims {
		if _, seen := byKey[c.key]; !seen {
			keys = append(keys, c.key)
		}
		byKey[c.key] = append(byKey[c.key], i)
	}
	var out []conflictPair
	for _, k := range keys {
		group := byKey[k]
		for x := 0; x < len(group); x++ {
			for y := x + 1; y < len(group); y++ {
				a, b := claims[group[x]], claims[group[y]]
				if differentSelectors(a.sel, b.sel) {
					out = append(out, conflictPair{a: a, b: b})
				}
			}
		}
	}

	// localCIDR pools of every host session, with their selectors.
	var uses []CIDRUse
	var sels []*metav1.LabelSelector
	for _, l := range s.L3VNIs {
		u, _ := HostSessionCIDRs(objects.RefOf(objects.KindL3VNI, l.ObjectMeta), "spec.hostSession", l.Spec.HostSession)
		for range u {
			sels = append(sels, l.Spec.NodeSelector)
		}
		uses = append(uses, u...)
	}
	for i := range s.L3Passthroughs {
		p := &s.L3Passthroughs[i]
		u, _ := HostSessionCIDRs(objects.RefOf(objects.KindL3Passthrough, p.ObjectMeta), "spec.hostSession", &p.Spec.HostSession)
		for range u {
			sels = append(sels, p.Spec.NodeSelector)
		}
		uses = append(uses, u...)
	}
	for _, p := range OverlapPairs(uses) {
		if differentSelectors(sels[p[0]], sels[p[1]]) {
			a, b := uses[p[0]], uses[p[1]]
			out = append(out, conflictPair{
				a: claim{ref: a.Ref, sel: sels[p[0]], field: a.Field}, b: claim{ref: b.Ref, sel: sels[p[1]], field: b.Field},
				overlap: &[2]CIDRUse{a, b}})
		}
	}
	return out
}

// differentSelectors reports whether two valid selectors have different
// keys (SelectorKey); an invalid selector selects nothing, so never
// clashes.
func differentSelectors(a, b *metav1.LabelSelector) bool {
	ka, okA := SelectorKey(a)
	kb, okB := SelectorKey(b)
	return okA && okB && ka != kb
}

// errors reports the pair on both objects, with where they meet.
func (p conflictPair) errors(where string) []Error {
	if o := p.overlap; o != nil {
		return []Error{
			{Ref: o[0].Ref, Field: o[0].Field, Message: fmt.Sprintf("%s overlaps %s of %s (%s) %s", o[0].Prefix, o[1].Field, o[1].Ref, o[1].Prefix, where)},
			{Ref: o[1].Ref, Field: o[1].Field, Message: fmt.Sprintf("%s overlaps %s of %s (%s) %s", o[1].Prefix, o[0].Field, o[0].Ref, o[0].Prefix, where)},
		}
	}
	return []Error{
		{Ref: p.a.ref, Field: p.a.field, Message: fmt.Sprintf("%s is also claimed by %s %s", p.a.key, p.b.ref, where)},
		{Ref: p.b.ref, Field: p.b.field, Message: fmt.Sprintf("%s is also claimed by %s %s", p.b.key, p.a.ref, where)},
	}
}

// Conflicts applies the per-node rules to nodes: two objects clash only
// where a node selects both (as upstream judges them): the same VRF or
// VNI, overlapping localCIDRs, two Underlays or two L3Passthroughs. The
// per-rack pattern, one VRF name under disjoint selectors, is fine. Pairs
// with equal selectors are Set's. Each clash is reported on both objects,
// naming the first node (by name) that selects both. The webhook judges
// against the cluster's Nodes; the controller resolves the same clashes
// on each node (nodeconfig.Build: the older object wins).
func Conflicts(s objects.Set, nodes []Node) []Error {
	pairs := pairsAcrossSelectors(s)
	if len(pairs) == 0 {
		return nil
	}
	sorted := slices.SortedFunc(slices.Values(nodes), func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	var out []Error
	for _, p := range pairs {
		for _, n := range sorted {
			if selects(p.a.sel, n.Labels) && selects(p.b.sel, n.Labels) {
				out = append(out, p.errors("on node "+n.Name)...)
				break
			}
		}
	}
	return out
}

// PossibleConflicts is Conflicts without node facts: the clashing pairs
// whose selectors could select a common node. Selectors that require
// different values of one label (the per-rack pattern) never can, and are
// left out. perouterctl prints these as warnings when it is given no
// nodes.
func PossibleConflicts(s objects.Set) []Error {
	var out []Error
	for _, p := range pairsAcrossSelectors(s) {
		if !disjoint(p.a.sel, p.b.sel) {
			out = append(out, p.errors("on any node both select")...)
		}
	}
	return out
}

func selects(sel *metav1.LabelSelector, nodeLabels map[string]string) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(nodeLabels))
}

// disjoint reports whether no label set can match both selectors, as far
// as one label shows it: one requires a value the other excludes (In sets
// without common value, In or Exists against DoesNotExist). It may say
// false for selectors that are disjoint in a subtler way.
func disjoint(a, b *metav1.LabelSelector) bool {
	ra, ok := requirements(a)
	if !ok {
		return true
	}
	rb, ok := requirements(b)
	if !ok {
		return true
	}
	for _, x := range ra {
		for _, y := range rb {
			if x.Key() == y.Key() && excludes(x, y) {
				return true
			}
		}
	}
	return false
}

func requirements(sel *metav1.LabelSelector) (labels.Requirements, bool) {
	if sel == nil {
		return nil, true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, false // selects nothing
	}
	reqs, _ := s.Requirements()
	return reqs, true
}

// excludes reports whether requirements x and y on one key cannot both
// hold.
func excludes(x, y labels.Requirement) bool {
	in := func(r labels.Requirement) bool {
		return r.Operator() == selection.In || r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals
	}
	present := func(r labels.Requirement) bool { return in(r) || r.Operator() == selection.Exists }
	switch {
	case in(x) && in(y):
		return !x.Values().HasAny(y.Values().UnsortedList()...)
	case present(x) && y.Operator() == selection.DoesNotExist, present(y) && x.Operator() == selection.DoesNotExist:
		return true
	case in(x) && y.Operator() == selection.NotIn:
		return y.Values().IsSuperset(x.Values())
	case in(y) && x.Operator() == selection.NotIn:
		return x.Values().IsSuperset(y.Values())
	}
	return false
}

// Objects is Set without the clashes between objects that
// nodeconfig.Build resolves on each node by creation order (the same VRF
// or VNI, overlapping localCIDRs or gateway subnets, two L3Passthroughs;
// two Underlays make Build fail the node). Set refuses such a pair
// outright when the selectors are equal, as the webhook must; the
// controller instead keeps the older object running, so that a clash
// created behind the webhook's back cannot take down what runs.
func Objects(s objects.Set) []Error {
	all := Set(s)
	c := &checker{
		l3vniCIDRs:       make([][]CIDRUse, len(s.L3VNIs)),
		passthroughCIDRs: make([][]CIDRUse, len(s.L3Passthroughs)),
	}
	for i := range s.L3VNIs {
		l := &s.L3VNIs[i]
		c.l3vniCIDRs[i], _ = HostSessionCIDRs(objects.RefOf(objects.KindL3VNI, l.ObjectMeta), "spec.hostSession", l.Spec.HostSession)
	}
	for i := range s.L3Passthroughs {
		p := &s.L3Passthroughs[i]
		c.passthroughCIDRs[i], _ = HostSessionCIDRs(objects.RefOf(objects.KindL3Passthrough, p.ObjectMeta), "spec.hostSession", &p.Spec.HostSession)
	}
	c.uniqueVNIs(s)
	c.uniqueVRFs(s)
	c.localCIDROverlaps(s)
	c.gatewayOverlaps(s)
	c.onePerSelector(s)
	clashes := map[Error]int{}
	for _, e := range c.errs {
		clashes[e]++
	}
	out := all[:0:0]
	for _, e := range all {
		if clashes[e] > 0 {
			clashes[e]--
			continue
		}
		out = append(out, e)
	}
	return out
}
