package validate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/objects"
)

// SelectorKey is a canonical form of a node selector: two selectors with
// the same key select the same nodes. nil and {} both select every node and
// share the key "". ok is false for an invalid selector.
func SelectorKey(sel *metav1.LabelSelector) (key string, ok bool) {
	if sel == nil {
		return "", true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "", false
	}
	reqs, _ := s.Requirements()
	parts := make([]string, 0, len(reqs))
	for _, r := range reqs {
		// matchLabels {k: v} and matchExpressions "k In (v)" select alike.
		if r.Operator() == selection.In && r.Values().Len() == 1 {
			parts = append(parts, r.Key()+"="+r.Values().UnsortedList()[0])
			continue
		}
		parts = append(parts, r.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ","), true
}

// crossObject checks the rules that span objects. Every rule is a map
// lookup per object, so a Set of thousands of objects validates in
// milliseconds. Where a rule depends on which nodes two objects select,
// it fires when their selectors are equal (both nil included): those
// objects surely meet on a node. Conflicts judges the other pairs against
// given nodes; nodeconfig.Build checks the same rules exactly for each
// node.
func (v *checker) crossObject(s objects.Set) {
	v.uniqueVNIs(s)
	v.uniqueVRFs(s)
	v.vrfsNamedLikeNICs(s)
	v.vniFamilies(s)
	v.localCIDROverlaps(s)
	v.gatewayOverlaps(s)
	v.onePerSelector(s)
	v.passwordSecrets(s)
}

func joinRefs(refs []objects.Ref, skip objects.Ref) string {
	var out []string
	for _, r := range refs {
		if r != skip {
			out = append(out, r.String())
		}
	}
	return strings.Join(out, ", ")
}

// selKey is the SelectorKey of sel; an invalid selector gets a key of
// its own (it selects nothing, so it meets nothing).
func selKey(sel *metav1.LabelSelector, ref objects.Ref) string {
	if key, ok := SelectorKey(sel); ok {
		return key
	}
	return "\x00invalid " + ref.String()
}

// uniqueVNIs reports VNIs used twice by objects with equal selectors:
// they surely meet on a node. Under different selectors a VNI may be
// reused where no node selects both (Conflicts, nodeconfig.Build).
func (v *checker) uniqueVNIs(s objects.Set) {
	type key struct {
		vni uint32
		sel string
	}
	byVNI := make(map[key][]objects.Ref, len(s.L3VNIs)+len(s.L2VNIs))
	var refs []objects.Ref
	var keys []key
	add := func(ref objects.Ref, vni uint32, sel *metav1.LabelSelector) {
		k := key{vni, selKey(sel, ref)}
		byVNI[k] = append(byVNI[k], ref)
		refs, keys = append(refs, ref), append(keys, k)
	}
	for _, l := range s.L3VNIs {
		add(objects.RefOf(objects.KindL3VNI, l.ObjectMeta), l.Spec.VNI, l.Spec.NodeSelector)
	}
	for _, l := range s.L2VNIs {
		add(objects.RefOf(objects.KindL2VNI, l.ObjectMeta), l.Spec.VNI, l.Spec.NodeSelector)
	}
	for i, ref := range refs {
		if others := byVNI[keys[i]]; len(others) > 1 {
			v.add(ref, "spec.vni", "VNI %d is also used by %s", keys[i].vni, joinRefs(others, ref))
		}
	}
}

// uniqueVRFs reports VRF names used twice by L3VNIs with equal
// selectors; under different selectors a name may be reused where no node
// selects both: upstream's per-rack pattern.
func (v *checker) uniqueVRFs(s objects.Set) {
	type key struct{ vrf, sel string }
	byVRF := make(map[key][]objects.Ref, len(s.L3VNIs))
	for _, l := range s.L3VNIs {
		ref := objects.RefOf(objects.KindL3VNI, l.ObjectMeta)
		k := key{l.Spec.VRF, selKey(l.Spec.NodeSelector, ref)}
		byVRF[k] = append(byVRF[k], ref)
	}
	for _, l := range s.L3VNIs {
		ref := objects.RefOf(objects.KindL3VNI, l.ObjectMeta)
		if refs := byVRF[key{l.Spec.VRF, selKey(l.Spec.NodeSelector, ref)}]; len(refs) > 1 {
			v.add(ref, "spec.vrf", "VRF %q is also used by %s", l.Spec.VRF, joinRefs(refs, ref))
		}
	}
}

// vrfsNamedLikeNICs refuses an L3VNI whose VRF has the name of a NIC that
// an Underlay moves into the router namespace, when the two may select a
// common node: both would be devices of that namespace, so creating the
// VRF fails on every reconcile there. The error is the L3VNI's, so the
// controller leaves out the L3VNI and the Underlay (and with it the node)
// keeps working.
func (v *checker) vrfsNamedLikeNICs(s objects.Set) {
	type nic struct{ underlay, index int }
	byName := map[string][]nic{}
	for i, u := range s.Underlays {
		for j, n := range u.Spec.Interfaces {
			name := n.RouterLinkName()
			if name == "" {
				continue // neither member set, refused on its own
			}
			byName[name] = append(byName[name], nic{i, j})
		}
	}
	if len(byName) == 0 {
		return
	}
	for _, l := range s.L3VNIs {
		for _, n := range byName[l.Spec.VRF] {
			u := &s.Underlays[n.underlay]
			if mayOverlap(l.Spec.NodeSelector, u.Spec.NodeSelector) {
				v.add(objects.RefOf(objects.KindL3VNI, l.ObjectMeta), "spec.vrf",
					"%q is also the NIC spec.interfaces[%d] of %s, which may select the same nodes: both would be devices of the router namespace; choose another VRF name",
					l.Spec.VRF, n.index, objects.RefOf(objects.KindUnderlay, u.ObjectMeta))
			}
		}
	}
}

// vniFamilies refuses an L3VNI or L2VNI whose spec.underlayAddressFamily
// names a family that an Underlay which may select a common node has no
// tunnelEndpoint cidr of: on that node the VNI's VXLAN would have no local
// address. As with vrfsNamedLikeNICs the error is the VNI's, so the
// controller leaves out the VNI and the Underlay keeps working; and the
// webhook refuses an Underlay change that would strand a VNI (it
// introduces this error). Without the field the VNI takes whichever VTEP
// the node has (nodeconfig.Underlay.VTEPFor), so it needs no rule.
func (v *checker) vniFamilies(s objects.Set) {
	type vni struct {
		ref    objects.Ref
		sel    *metav1.LabelSelector
		family string
	}
	var vnis []vni
	for _, l := range s.L3VNIs {
		if l.Spec.UnderlayAddressFamily != "" {
			vnis = append(vnis, vni{objects.RefOf(objects.KindL3VNI, l.ObjectMeta), l.Spec.NodeSelector, l.Spec.UnderlayAddressFamily})
		}
	}
	for _, l := range s.L2VNIs {
		if l.Spec.UnderlayAddressFamily != "" {
			vnis = append(vnis, vni{objects.RefOf(objects.KindL2VNI, l.ObjectMeta), l.Spec.NodeSelector, l.Spec.UnderlayAddressFamily})
		}
	}
	if len(vnis) == 0 {
		return
	}
	// The families each Underlay's tunnelEndpoint holds; a cidr that does
	// not parse is the Underlay's own error.
	families := make([]map[string]bool, len(s.Underlays))
	for i, u := range s.Underlays {
		families[i] = map[string]bool{}
		if te := u.Spec.TunnelEndpoint; te != nil {
			for _, c := range te.CIDRs {
				if p, err := Prefix(c); err == nil {
					families[i][map[bool]string{true: v1alpha1.UnderlayAddressFamilyIPv4, false: v1alpha1.UnderlayAddressFamilyIPv6}[p.Addr().Is4()]] = true
				}
			}
		}
	}
	for _, n := range vnis {
		if n.family != v1alpha1.UnderlayAddressFamilyIPv4 && n.family != v1alpha1.UnderlayAddressFamilyIPv6 {
			continue // refused on its own
		}
		for i := range s.Underlays {
			u := &s.Underlays[i]
			if families[i][n.family] || !mayOverlap(n.sel, u.Spec.NodeSelector) {
				continue
			}
			v.add(n.ref, "spec.underlayAddressFamily",
				"%s needs an %s VTEP, but %s, which may select the same nodes, has no %s cidr in spec.tunnelEndpoint.cidrs; add one there, choose the other family (or leave the field out), or narrow spec.nodeSelector",
				n.family, n.family, objects.RefOf(objects.KindUnderlay, u.ObjectMeta), n.family)
		}
	}
}

// mayOverlap reports whether a node may exist that both selectors pick.
// It is false only when their requirements on some label key contradict
// each other: In sets without a common value, In or Exists against
// DoesNotExist, or every In value excluded by NotIn. So objects kept
// apart per rack (rack=a, rack=b) never conflict, and anything that can
// meet on a node does. An invalid selector selects nothing.
func mayOverlap(a, b *metav1.LabelSelector) bool {
	type constraint struct {
		in             map[string]bool // nil: any value
		notIn          map[string]bool
		exists, absent bool
	}
	keys := map[string]*constraint{}
	for _, sel := range []*metav1.LabelSelector{a, b} {
		if sel == nil {
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		reqs, _ := s.Requirements()
		for _, r := range reqs {
			c := keys[r.Key()]
			if c == nil {
				c = &constraint{notIn: map[string]bool{}}
				keys[r.Key()] = c
			}
			switch r.Operator() {
			case selection.In, selection.Equals, selection.DoubleEquals:
				c.exists = true
				vals := map[string]bool{}
				for val := range r.Values() {
					if c.in == nil || c.in[val] {
						vals[val] = true
					}
				}
				c.in = vals
			case selection.NotIn, selection.NotEquals:
				for val := range r.Values() {
					c.notIn[val] = true
				}
			case selection.Exists:
				c.exists = true
			case selection.DoesNotExist:
				c.absent = true
			}
		}
	}
	for _, c := range keys {
		if c.exists && c.absent {
			return false
		}
		if c.in != nil {
			left := 0
			for val := range c.in {
				if !c.notIn[val] {
					left++
				}
			}
			if left == 0 {
				return false
			}
		}
	}
	return true
}

// CIDRUse is one localCIDR pool of one object, for overlap checks.
type CIDRUse struct {
	Ref    objects.Ref
	Field  string
	Prefix netip.Prefix
}

// HostSessionCIDRs parses the localCIDR pools of a host session (field
// is the session's), IPv4 first; an unset family is left out. errs holds
// what is wrong with a pool: not a CIDR, the wrong family, or too small
// for the router and one host. A pool that parses is in uses even when
// it is wrong otherwise, so overlaps with it are reported too.
func HostSessionCIDRs(ref objects.Ref, field string, h *v1alpha1.HostSession) (uses []CIDRUse, errs []Error) {
	if h == nil {
		return nil, nil
	}
	for _, c := range []struct {
		field, cidr string
		want4       bool
	}{
		{field + ".localCIDR.ipv4", h.LocalCIDR.IPv4, true},
		{field + ".localCIDR.ipv6", h.LocalCIDR.IPv6, false},
	} {
		if c.cidr == "" {
			continue
		}
		p, err := Prefix(c.cidr)
		if err != nil {
			errs = append(errs, Error{Ref: ref, Field: c.field, Message: err.Error()})
			continue
		}
		uses = append(uses, CIDRUse{Ref: ref, Field: c.field, Prefix: p.Masked()})
		if p.Addr().Is4() != c.want4 {
			errs = append(errs, Error{Ref: ref, Field: c.field, Message: fmt.Sprintf("%q is not an %s CIDR", c.cidr, map[bool]string{true: "IPv4", false: "IPv6"}[c.want4])})
		} else if _, _, err := ipam.HostSession(p, 0); err != nil {
			errs = append(errs, Error{Ref: ref, Field: c.field, Message: err.Error()})
		}
	}
	return uses, errs
}

// Overlaps returns, for each use that overlaps another, the error to
// report on it; both sides of an overlap are reported.
func Overlaps(uses []CIDRUse) []Error {
	var errs []Error
	for _, p := range OverlapPairs(uses) {
		a, b := uses[p[0]], uses[p[1]]
		errs = append(errs,
			Error{Ref: a.Ref, Field: a.Field, Message: fmt.Sprintf("%s overlaps %s of %s (%s)", a.Prefix, b.Field, b.Ref, b.Prefix)},
			Error{Ref: b.Ref, Field: b.Field, Message: fmt.Sprintf("%s overlaps %s of %s (%s)", b.Prefix, a.Field, a.Ref, a.Prefix)})
	}
	return errs
}

// OverlapPairs returns each pair of overlapping uses once, as indexes
// into uses (a narrower pool before the pool holding it). Each pool's supernets are looked up in a map, at the
// few prefix lengths in use, so it costs O(n × distinct lengths) plus the
// pairs found, not O(n²).
func OverlapPairs(uses []CIDRUse) [][2]int {
	byPrefix := make(map[netip.Prefix][]int, len(uses))
	var lengths []int
	for i, u := range uses {
		byPrefix[u.Prefix] = append(byPrefix[u.Prefix], i)
		if !slices.Contains(lengths, u.Prefix.Bits()) {
			lengths = append(lengths, u.Prefix.Bits())
		}
	}
	var pairs [][2]int
	for i, u := range uses {
		for _, bits := range lengths {
			if bits > u.Prefix.Bits() {
				continue
			}
			super, _ := u.Prefix.Addr().Prefix(bits)
			for _, j := range byPrefix[super] {
				switch {
				case j == i:
				case bits == u.Prefix.Bits():
					// Equal pools: each finds the other; keep one pair.
					if i > j {
						pairs = append(pairs, [2]int{j, i})
					}
				default:
					pairs = append(pairs, [2]int{i, j})
				}
			}
		}
	}
	return pairs
}

func (v *checker) localCIDROverlaps(s objects.Set) {
	groups := map[string][]CIDRUse{}
	var order []string
	add := func(sel *metav1.LabelSelector, uses []CIDRUse) {
		key, ok := SelectorKey(sel)
		if !ok || len(uses) == 0 {
			return
		}
		if _, seen := groups[key]; !seen {
			order = append(order, key)
		}
		groups[key] = append(groups[key], uses...)
	}
	for i, l := range s.L3VNIs {
		add(l.Spec.NodeSelector, v.l3vniCIDRs[i])
	}
	for i, p := range s.L3Passthroughs {
		add(p.Spec.NodeSelector, v.passthroughCIDRs[i])
	}
	for _, key := range order {
		v.errs = append(v.errs, Overlaps(groups[key])...)
	}
}

func (v *checker) onePerSelector(s objects.Set) {
	var underlays, passthroughs []selected
	for _, u := range s.Underlays {
		underlays = append(underlays, selected{objects.RefOf(objects.KindUnderlay, u.ObjectMeta), u.Spec.NodeSelector})
	}
	for _, p := range s.L3Passthroughs {
		passthroughs = append(passthroughs, selected{objects.RefOf(objects.KindL3Passthrough, p.ObjectMeta), p.Spec.NodeSelector})
	}
	v.sameSelector(underlays, "Underlay")
	v.sameSelector(passthroughs, "L3Passthrough")
}

type selected struct {
	ref objects.Ref
	sel *metav1.LabelSelector
}

func (v *checker) sameSelector(objs []selected, kind string) {
	byKey := map[string][]objects.Ref{}
	keys := make([]string, len(objs))
	valid := make([]bool, len(objs))
	for i, o := range objs {
		keys[i], valid[i] = SelectorKey(o.sel)
		if valid[i] {
			byKey[keys[i]] = append(byKey[keys[i]], o.ref)
		}
	}
	for i, o := range objs {
		if refs := byKey[keys[i]]; valid[i] && len(refs) > 1 {
			v.add(o.ref, "spec.nodeSelector", "selects the same nodes as %s: at most one %s may select a node", joinRefs(refs, o.ref), kind)
		}
	}
}

func (v *checker) passwordSecrets(s objects.Set) {
	secrets := SecretIndex(s.Secrets)
	for _, u := range s.Underlays {
		for i, n := range u.Spec.Neighbors {
			if n.PasswordSecret == "" {
				continue
			}
			ref, field := objects.RefOf(objects.KindUnderlay, u.ObjectMeta), fmt.Sprintf("spec.neighbors[%d].passwordSecret", i)
			if s.SecretNamespace != "" && u.Namespace != s.SecretNamespace {
				v.add(ref, field, "perouter reads password Secrets only in namespace %s (least privilege: a Role there); create this Underlay and its Secret %q in %s, or use password", s.SecretNamespace, n.PasswordSecret, s.SecretNamespace)
				continue
			}
			if s.SecretsUnread || !secretExists(secrets, u.Namespace, n.PasswordSecret) {
				continue // unread, or missing: a dependency (Dependencies), not an error
			}
			if _, err := SecretPassword(secrets, u.Namespace, n.PasswordSecret); err != nil {
				v.add(ref, field, "%v", err)
			}
		}
	}
}

// Object is what the API server hands to a webhook (objects.Object).
type Object = objects.Object

// Update checks the rules that compare an object with its previous
// version: the fields the CRDs mark immutable. Like the CRDs' transition
// rules, a rule applies only when the field exists in both versions.
func Update(oldObj, newObj Object) []Error {
	var errs []Error
	immutable := func(ref objects.Ref, field string, changed bool) {
		if changed {
			errs = append(errs, Error{Ref: ref, Field: field, Message: "is immutable"})
		}
	}
	switch n := newObj.(type) {
	case *v1alpha1.L3VNI:
		o, ok := oldObj.(*v1alpha1.L3VNI)
		if !ok {
			return kindChanged(oldObj, newObj)
		}
		if o.Spec.HostSession != nil && n.Spec.HostSession != nil {
			immutable(objects.RefOf(objects.KindL3VNI, n.ObjectMeta), "spec.hostSession.localCIDR", o.Spec.HostSession.LocalCIDR != n.Spec.HostSession.LocalCIDR)
		}
	case *v1alpha1.L3Passthrough:
		o, ok := oldObj.(*v1alpha1.L3Passthrough)
		if !ok {
			return kindChanged(oldObj, newObj)
		}
		immutable(objects.RefOf(objects.KindL3Passthrough, n.ObjectMeta), "spec.hostSession.localCIDR", o.Spec.HostSession.LocalCIDR != n.Spec.HostSession.LocalCIDR)
	case *v1alpha1.L2VNI:
		o, ok := oldObj.(*v1alpha1.L2VNI)
		if !ok {
			return kindChanged(oldObj, newObj)
		}
		if o.Spec.GatewayIPs != nil && n.Spec.GatewayIPs != nil {
			immutable(objects.RefOf(objects.KindL2VNI, n.ObjectMeta), "spec.gatewayIPs", !slices.Equal(o.Spec.GatewayIPs, n.Spec.GatewayIPs))
		}
	}
	return errs
}

func kindChanged(oldObj, newObj Object) []Error {
	ref := objects.Ref{Kind: fmt.Sprintf("%T", newObj), Namespace: newObj.GetNamespace(), Name: newObj.GetName()}
	return []Error{{Ref: ref, Field: "kind", Message: fmt.Sprintf("cannot change from %T", oldObj)}}
}

// Deletion returns what deleting obj from s leaves waiting for it: the
// L2VNIs that route through an L3VNI, the neighbours that read their
// password from a Secret. Deleting is allowed all the same (the webhook
// returns these as warnings), so that a folder deletes in any order, as
// upstream allows; what is left waits, reported with reason
// DependencyMissing, until the target exists again.
func Deletion(s objects.Set, obj Object) []Error {
	var errs []Error
	switch o := obj.(type) {
	case *v1alpha1.L3VNI:
		ref := objects.RefOf(objects.KindL3VNI, o.ObjectMeta)
		for _, l := range s.L2VNIs {
			if rd := l.Spec.RoutingDomain; rd != nil && rd.L3VNI != nil && l.Namespace == o.Namespace && rd.L3VNI.Name == o.Name {
				errs = append(errs, Error{Ref: ref, Field: "metadata.name", Message: fmt.Sprintf("is the routing domain of %s (spec.routingDomain.l3vni.name): that L2VNI stops applying until an L3VNI %s/%s exists again", objects.RefOf(objects.KindL2VNI, l.ObjectMeta), o.Namespace, o.Name)})
			}
		}
	case *corev1.Secret:
		ref := objects.RefOf(objects.KindSecret, o.ObjectMeta)
		for _, u := range s.Underlays {
			for i, n := range u.Spec.Neighbors {
				if u.Namespace == o.Namespace && n.PasswordSecret == o.Name {
					errs = append(errs, Error{Ref: ref, Field: "metadata.name", Message: fmt.Sprintf("holds the password of %s spec.neighbors[%d]: the nodes of that Underlay keep their running configuration until the Secret exists again", objects.RefOf(objects.KindUnderlay, u.ObjectMeta), i)})
				}
			}
		}
	}
	return errs
}
