package nodeconfig

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
)

// Report says what Build did with each object that selects the node.
type Report struct {
	// Selected lists the objects that made it into the Config: the
	// Underlay, then L3VNIs, L2VNIs, the L3Passthrough and the
	// RawFRRConfigs, in Config order.
	Selected []objects.Ref
	// Skipped lists why each object that selects the node was left out;
	// an object may appear several times, once per problem.
	Skipped []validate.Error
	// Missing lists the objects left out because something they refer to
	// does not exist yet (validate.Dependencies): not errors, they apply
	// once it does.
	Missing []validate.Error
	// Won lists, for selected objects, the clashes on this node they won
	// by being older (the other object is in Skipped), so both objects'
	// status tell of the clash.
	Won []validate.Error
}

// DependencyError is a Build error that concerns the node as a whole
// because its Underlay refers to something that does not exist yet (a
// passwordSecret): the node keeps its running configuration and applies
// the Underlay once the target exists.
type DependencyError struct {
	Missing validate.Error
}

func (e *DependencyError) Error() string { return e.Missing.Error() }

// Build computes node n's Config from s. Objects are checked with
// validate.Objects, and per node, where of two clashing objects the older
// wins: a broken L3VNI, L2VNI or L3Passthrough is left out and reported
// in Report.Skipped while the rest applies. A
// non-nil error concerns the node as a whole (more than one Underlay, an
// invalid Underlay, an exhausted VTEP or router-id pool, a bad index): the
// caller must keep the node's running configuration.
func Build(s objects.Set, n Node) (Config, Report, error) {
	var report Report
	if n.Index < 0 || n.Index > ipam.MaxNodeIndex {
		return Config{}, report, fmt.Errorf("node %s: index %d is out of range 0..%d", n.Name, n.Index, ipam.MaxNodeIndex)
	}
	b := builder{
		node:    n,
		labels:  labels.Set(n.Labels),
		invalid: map[objects.Ref][]validate.Error{},
		missing: map[objects.Ref][]validate.Error{},
		secrets: validate.SecretIndex(s.Secrets),
		report:  &report,
	}
	// Clashes between objects are judged below, on this node, where the
	// older object wins; validate.Objects leaves them out.
	for _, e := range validate.Objects(s) {
		b.invalid[e.Ref] = append(b.invalid[e.Ref], e)
	}
	for _, e := range validate.Dependencies(s) {
		b.missing[e.Ref] = append(b.missing[e.Ref], e)
	}
	cfg := Config{NodeName: n.Name, NodeIndex: n.Index}

	underlay, err := b.underlay(s.Underlays)
	if err != nil {
		return Config{}, report, err
	}
	cfg.Underlay = underlay
	b.vteps = underlay

	// Creation order decides which of two objects that collide on this node
	// stays, so a new object cannot displace one that already runs.
	l3vnis := selectedSorted(&b, s.L3VNIs, objects.KindNamed(objects.KindL3VNI))
	l2vnis := selectedSorted(&b, s.L2VNIs, objects.KindNamed(objects.KindL2VNI))
	passthroughs := selectedSorted(&b, s.L3Passthroughs, objects.KindNamed(objects.KindL3Passthrough))

	l3vnis, l2vnis = b.uniqueOnNode(l3vnis, l2vnis)

	if underlay == nil || len(underlay.VTEPs) == 0 {
		reason := fmt.Sprintf("no Underlay selects node %s", n.Name)
		if underlay != nil {
			reason = fmt.Sprintf("%s has no tunnelEndpoint, so node %s has no VTEP", underlay.Source, n.Name)
		}
		for _, o := range l3vnis {
			b.skip(objects.RefOf(objects.KindL3VNI, o.ObjectMeta), "spec.nodeSelector", reason)
		}
		for _, o := range l2vnis {
			b.skip(objects.RefOf(objects.KindL2VNI, o.ObjectMeta), "spec.nodeSelector", reason)
		}
		l3vnis, l2vnis = nil, nil
	}
	if underlay == nil {
		for _, o := range passthroughs {
			b.skip(objects.RefOf(objects.KindL3Passthrough, o.ObjectMeta), "spec.nodeSelector", fmt.Sprintf("no Underlay selects node %s", n.Name))
		}
		passthroughs = nil
	}

	// Host sessions that passed ipam, in precedence order: L3VNIs, then
	// passthroughs, each oldest first.
	var cands []candidate
	for _, o := range l3vnis {
		l, uses, errs := b.l3vni(o)
		if len(errs) > 0 {
			report.Skipped = append(report.Skipped, errs...)
			continue
		}
		cands = append(cands, candidate{l3vni: &l, uses: uses})
	}
	for _, o := range passthroughs {
		ref := objects.RefOf(objects.KindL3Passthrough, o.ObjectMeta)
		hs, uses, errs := b.hostSession(ref, &o.Spec.HostSession)
		if len(errs) > 0 {
			report.Skipped = append(report.Skipped, errs...)
			continue
		}
		cands = append(cands, candidate{passthrough: &Passthrough{Source: ref, HostSession: hs}, uses: uses})
	}
	applied := map[objects.Ref]string{}
	// The subnets routed in each VRF: its host session's pools, then the
	// gateway subnets of its L2VNIs as they are admitted.
	vrfSubnets := map[string][]validate.CIDRUse{}
	for _, c := range b.withoutOverlaps(cands) {
		switch {
		case c.l3vni != nil:
			cfg.L3VNIs = append(cfg.L3VNIs, *c.l3vni)
			applied[c.l3vni.Source] = c.l3vni.VRF
			vrfSubnets[c.l3vni.VRF] = c.uses
		case cfg.Passthrough != nil:
			b.skip(c.passthrough.Source, "spec.nodeSelector", fmt.Sprintf("%s, created earlier, already selects node %s: at most one L3Passthrough may select a node", cfg.Passthrough.Source, n.Name))
			b.won(cfg.Passthrough.Source, "spec.nodeSelector", fmt.Sprintf("%s, created later, also selects node %s and is skipped there: at most one L3Passthrough may select a node", c.passthrough.Source, n.Name))
		default:
			cfg.Passthrough = c.passthrough
		}
	}
	for _, o := range l2vnis {
		l, ok := b.l2vni(o, applied)
		if ok && l.VRF != "" {
			ok = b.distinctSubnets(o, l.VRF, vrfSubnets)
		}
		if ok {
			cfg.L2VNIs = append(cfg.L2VNIs, l)
		}
	}

	cfg.RawSnippets = rawSnippets(selectedSorted(&b, s.RawFRRConfigs, objects.KindNamed(objects.KindRawFRRConfig)))

	slices.SortFunc(cfg.L3VNIs, func(a, b L3VNI) int { return cmp.Compare(a.VNI, b.VNI) })
	slices.SortFunc(cfg.L2VNIs, func(a, b L2VNI) int { return cmp.Compare(a.VNI, b.VNI) })
	if cfg.Underlay != nil {
		report.Selected = append(report.Selected, cfg.Underlay.Source)
	}
	for _, l := range cfg.L3VNIs {
		report.Selected = append(report.Selected, l.Source)
	}
	for _, l := range cfg.L2VNIs {
		report.Selected = append(report.Selected, l.Source)
	}
	if cfg.Passthrough != nil {
		report.Selected = append(report.Selected, cfg.Passthrough.Source)
	}
	for _, r := range cfg.RawSnippets {
		report.Selected = append(report.Selected, r.Source)
	}
	return cfg, report, nil
}

// rawSnippets orders the RawFRRConfigs that select the node as FRR reads
// them: lower priority first (upstream's rule), then by namespace and
// name, so that equal priorities render the same on every node and in
// every pass (upstream leaves their order undefined). Snippets apply with
// or without an Underlay: they are the user's configuration, not ours.
func rawSnippets(selected []*v1alpha1.RawFRRConfig) []RawSnippet {
	out := make([]RawSnippet, 0, len(selected))
	for _, o := range selected {
		out = append(out, RawSnippet{
			Source:   objects.RefOf(objects.KindRawFRRConfig, o.ObjectMeta),
			Priority: ptr.Deref(o.Spec.Priority, 0),
			Text:     o.Spec.RawConfig,
		})
	}
	slices.SortFunc(out, func(a, b RawSnippet) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority),
			cmp.Compare(a.Source.Namespace, b.Source.Namespace), cmp.Compare(a.Source.Name, b.Source.Name))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

type builder struct {
	node    Node
	labels  labels.Set
	invalid map[objects.Ref][]validate.Error
	missing map[objects.Ref][]validate.Error
	secrets map[objects.Ref]*corev1.Secret
	report  *Report
	// vteps is the node's Underlay, whose VTEPs the VNIs choose from.
	vteps *Underlay
}

func (b *builder) skip(ref objects.Ref, field, msg string) {
	b.report.Skipped = append(b.report.Skipped, validate.Error{Ref: ref, Field: field, Message: msg})
}

func (b *builder) won(ref objects.Ref, field, msg string) {
	b.report.Won = append(b.report.Won, validate.Error{Ref: ref, Field: field, Message: msg})
}

// Selects reports whether sel picks a node with these labels; nil selects
// every node. An invalid selector selects nothing.
func Selects(sel *metav1.LabelSelector, nodeLabels map[string]string) bool {
	return objects.Selects(sel, nodeLabels)
}

// selectedSorted returns the objects that select the node, oldest first
// (then by namespace/name), and reports the invalid ones as skipped.
func selectedSorted[T any, PT interface {
	*T
	objects.Object
}](b *builder, all []T, kind *objects.Kind) []*T {
	var out []*T
	for i := range all {
		o := PT(&all[i])
		if !Selects(kind.NodeSelector(o), b.labels) {
			continue
		}
		if errs := b.invalid[kind.Ref(o)]; len(errs) > 0 {
			b.report.Skipped = append(b.report.Skipped, errs...)
			continue
		}
		out = append(out, &all[i])
	}
	slices.SortStableFunc(out, func(x, y *T) int {
		mx, my := PT(x), PT(y)
		if c := mx.GetCreationTimestamp().Compare(my.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(mx.GetNamespace(), my.GetNamespace()), cmp.Compare(mx.GetName(), my.GetName()))
	})
	return out
}

// uniqueOnNode keeps, of the L3VNIs and L2VNIs that select the node, the
// oldest holder of each VNI and of each VRF name, and skips the others
// here, naming the holder. Objects whose selectors differ may share a VRF
// name or a VNI (upstream's per-rack pattern) as long as no node selects
// both; where one does, creation order decides, so a new object cannot
// displace one that runs.
func (b *builder) uniqueOnNode(l3vnis []*v1alpha1.L3VNI, l2vnis []*v1alpha1.L2VNI) ([]*v1alpha1.L3VNI, []*v1alpha1.L2VNI) {
	type entry struct {
		meta *metav1.ObjectMeta
		ref  objects.Ref
		vni  uint32
		vrf  string // L3VNIs only
	}
	var all []entry
	for _, o := range l3vnis {
		all = append(all, entry{&o.ObjectMeta, objects.RefOf(objects.KindL3VNI, o.ObjectMeta), o.Spec.VNI, o.Spec.VRF})
	}
	for _, o := range l2vnis {
		all = append(all, entry{&o.ObjectMeta, objects.RefOf(objects.KindL2VNI, o.ObjectMeta), o.Spec.VNI, ""})
	}
	slices.SortStableFunc(all, func(x, y entry) int {
		return cmp.Or(x.meta.CreationTimestamp.Compare(y.meta.CreationTimestamp.Time),
			cmp.Compare(x.ref.Namespace, y.ref.Namespace), cmp.Compare(x.ref.Name, y.ref.Name), cmp.Compare(x.ref.Kind, y.ref.Kind))
	})
	vniHolder := map[uint32]objects.Ref{}
	vrfHolder := map[string]objects.Ref{}
	lost := map[objects.Ref]bool{}
	for _, e := range all {
		if h, taken := vniHolder[e.vni]; taken {
			b.skip(e.ref, "spec.vni", fmt.Sprintf("VNI %d is also used by %s, created earlier, on node %s", e.vni, h, b.node.Name))
			b.won(h, "spec.vni", fmt.Sprintf("VNI %d is also used by %s, created later, which is skipped on node %s", e.vni, e.ref, b.node.Name))
			lost[e.ref] = true
		}
		if h, taken := vrfHolder[e.vrf]; e.vrf != "" && taken {
			b.skip(e.ref, "spec.vrf", fmt.Sprintf("VRF %q is also used by %s, created earlier, on node %s", e.vrf, h, b.node.Name))
			b.won(h, "spec.vrf", fmt.Sprintf("VRF %q is also used by %s, created later, which is skipped on node %s", e.vrf, e.ref, b.node.Name))
			lost[e.ref] = true
		}
		if lost[e.ref] {
			continue
		}
		vniHolder[e.vni] = e.ref
		if e.vrf != "" {
			vrfHolder[e.vrf] = e.ref
		}
	}
	if len(lost) == 0 {
		return l3vnis, l2vnis
	}
	keep3 := slices.DeleteFunc(slices.Clone(l3vnis), func(o *v1alpha1.L3VNI) bool { return lost[objects.RefOf(objects.KindL3VNI, o.ObjectMeta)] })
	keep2 := slices.DeleteFunc(slices.Clone(l2vnis), func(o *v1alpha1.L2VNI) bool { return lost[objects.RefOf(objects.KindL2VNI, o.ObjectMeta)] })
	return keep3, keep2
}

// candidate is an L3VNI or an L3Passthrough with its localCIDR pools.
type candidate struct {
	l3vni       *L3VNI
	passthrough *Passthrough
	uses        []validate.CIDRUse
}

// withoutOverlaps keeps each candidate whose pools overlap no pool of a
// candidate kept before it, and reports the others as skipped.
func (b *builder) withoutOverlaps(cands []candidate) []candidate {
	var uses []validate.CIDRUse
	var owner []int // candidate index of each use
	for i, c := range cands {
		uses = append(uses, c.uses...)
		for range c.uses {
			owner = append(owner, i)
		}
	}
	conflicts := map[int][]int{} // use index → overlapping use indexes
	for _, p := range validate.OverlapPairs(uses) {
		conflicts[p[0]] = append(conflicts[p[0]], p[1])
		conflicts[p[1]] = append(conflicts[p[1]], p[0])
	}
	kept := make([]bool, len(cands))
	var out []candidate
	u := 0
	for i, c := range cands {
		ok := true
		for k := u; k < u+len(c.uses); k++ {
			for _, other := range conflicts[k] {
				if o := owner[other]; o < i && kept[o] {
					p := uses[other]
					b.skip(uses[k].Ref, uses[k].Field, fmt.Sprintf("%s overlaps %s of %s (%s) on node %s", uses[k].Prefix, p.Field, p.Ref, p.Prefix, b.node.Name))
					b.won(p.Ref, p.Field, fmt.Sprintf("%s overlaps %s of %s (%s), created later, which is skipped on node %s", p.Prefix, uses[k].Field, uses[k].Ref, uses[k].Prefix, b.node.Name))
					ok = false
				}
			}
		}
		u += len(c.uses)
		if ok {
			kept[i] = true
			out = append(out, c)
		}
	}
	return out
}

// distinctSubnets reports whether the gateway subnets of o overlap none
// of the subnets already routed in vrf on this node (the L3VNI's
// localCIDR, the gateways of older L2VNIs), and if so adds them; else it
// skips o, naming what it overlaps.
func (b *builder) distinctSubnets(o *v1alpha1.L2VNI, vrf string, vrfSubnets map[string][]validate.CIDRUse) bool {
	mine := validate.GatewayCIDRs(o)
	ok := true
	for _, m := range mine {
		for _, other := range vrfSubnets[vrf] {
			if m.Prefix.Overlaps(other.Prefix) {
				b.skip(m.Ref, m.Field, fmt.Sprintf("%s overlaps %s of %s (%s) in VRF %q on node %s", m.Prefix, other.Field, other.Ref, other.Prefix, vrf, b.node.Name))
				ok = false
			}
		}
	}
	if ok {
		vrfSubnets[vrf] = append(vrfSubnets[vrf], mine...)
	}
	return ok
}

func (b *builder) underlay(all []v1alpha1.Underlay) (*Underlay, error) {
	var chosen []*v1alpha1.Underlay
	for i := range all {
		if Selects(all[i].Spec.NodeSelector, b.labels) {
			chosen = append(chosen, &all[i])
		}
	}
	switch len(chosen) {
	case 0:
		return nil, nil
	case 1:
	default:
		var names []string
		for _, u := range chosen {
			names = append(names, objects.RefOf(objects.KindUnderlay, u.ObjectMeta).String())
		}
		return nil, fmt.Errorf("node %s: selected by %d Underlays (%s): at most one Underlay may select a node", b.node.Name, len(chosen), strings.Join(names, ", "))
	}
	u := chosen[0]
	ref := objects.RefOf(objects.KindUnderlay, u.ObjectMeta)
	if errs := b.invalid[ref]; len(errs) > 0 {
		var all []error
		for _, e := range errs {
			all = append(all, e)
		}
		return nil, fmt.Errorf("node %s: invalid Underlay: %w", b.node.Name, errors.Join(all...))
	}
	if missing := b.missing[ref]; len(missing) > 0 {
		return nil, fmt.Errorf("node %s: %w", b.node.Name, &DependencyError{Missing: missing[0]})
	}
	// validate.Set accepted the Underlay, so its fields parse; a parse
	// error here would mean validate and this code disagree, and is
	// reported like any other.
	out := &Underlay{Source: ref, ASN: u.Spec.ASN}
	if gr := u.Spec.GracefulRestart; gr != nil {
		out.GracefulRestart = &GracefulRestart{
			RestartTime:   ptr.Deref(gr.RestartTimeSeconds, DefaultRestartTime),
			StalePathTime: ptr.Deref(gr.StalePathTimeSeconds, DefaultStalePathTime),
		}
	}
	if rr := u.Spec.RouteReflector; rr != nil {
		id, err := validate.Addr(rr.ClusterID) // defaulted by objects.ApplyDefaults
		if err != nil {
			return nil, fmt.Errorf("node %s: %s spec.routeReflector.clusterID: %w", b.node.Name, ref, err)
		}
		out.RouteReflector = &RouteReflector{ClusterID: id}
	}
	pool, err := validate.RouterIDPool(u.Spec.RouterIDCIDR)
	if err == nil {
		out.RouterID, err = ipam.RouterID(pool, b.node.Index)
	}
	if err != nil {
		return nil, fmt.Errorf("node %s: %s spec.routerIDCIDR: %w", b.node.Name, ref, err)
	}
	if te := u.Spec.TunnelEndpoint; te != nil {
		for i, c := range te.CIDRs {
			pool, err := validate.Prefix(c)
			var vtep netip.Prefix
			if err == nil {
				vtep, err = ipam.VTEP(pool, b.node.Index)
			}
			if err != nil {
				return nil, fmt.Errorf("node %s: %s spec.tunnelEndpoint.cidrs[%d]: %w", b.node.Name, ref, i, err)
			}
			out.VTEPs = append(out.VTEPs, vtep)
			out.VTEPPools = append(out.VTEPPools, pool.Masked())
		}
		// IPv4 first, so VTEP order does not depend on the manifest.
		slices.SortFunc(out.VTEPs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		slices.SortFunc(out.VTEPPools, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	}
	for i := range u.Spec.Neighbors {
		n, err := b.neighbor(u, &u.Spec.Neighbors[i], fmt.Sprintf("%s spec.neighbors[%d]", ref, i))
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", b.node.Name, err)
		}
		out.Neighbors = append(out.Neighbors, n)
	}
	slices.SortFunc(out.Neighbors, func(a, b Neighbor) int {
		// Numbered peers first, by address; then unnumbered, by interface;
		// then listen ranges.
		if c := cmp.Compare(neighborRank(a), neighborRank(b)); c != 0 {
			return c
		}
		return cmp.Or(a.Address.Compare(b.Address), cmp.Compare(a.Interface, b.Interface),
			a.ListenRange.Addr().Compare(b.ListenRange.Addr()), cmp.Compare(a.ListenRange.Bits(), b.ListenRange.Bits()))
	})
	for _, nic := range u.Spec.Interfaces {
		// validate.Set refuses an item with neither member.
		if name := nic.HostNIC(); name != "" {
			out.Interfaces = append(out.Interfaces, name)
		}
		if d := nic.CNIDevice; d != nil && d.RawConfig != nil {
			c := CNIInterface{Name: d.LinkName(), Config: slices.Clone(d.RawConfig.Raw)}
			if d.RuntimeConfig != nil {
				c.RuntimeConfig = slices.Clone(d.RuntimeConfig.Raw)
			}
			out.CNIInterfaces = append(out.CNIInterfaces, c)
		}
	}
	slices.Sort(out.Interfaces)
	slices.SortFunc(out.CNIInterfaces, func(a, b CNIInterface) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// neighbor converts one neighbour; field ("Underlay ns/name
// spec.neighbors[i]") starts its errors.
func (b *builder) neighbor(u *v1alpha1.Underlay, n *v1alpha1.Neighbor, field string) (Neighbor, error) {
	out := Neighbor{
		Interface:   n.Interface,
		Type:        strings.ToLower(n.Type),
		Password:    n.Password,
		HoldTime:    n.HoldTimeSeconds,
		Keepalive:   n.KeepaliveTimeSeconds,
		ConnectTime: n.ConnectTimeSeconds,
	}
	out.EBGPMultiHop, out.EBGPMultiHopTTL = n.MultiHop()
	if n.ASN != nil {
		out.ASN = *n.ASN
	}
	if n.Address != "" {
		var err error
		if out.Address, err = validate.Addr(n.Address); err != nil {
			return Neighbor{}, fmt.Errorf("%s.address: %w", field, err)
		}
	}
	if n.ListenRange != "" {
		r, err := validate.ListenRange(n.ListenRange)
		if err != nil {
			return Neighbor{}, fmt.Errorf("%s.listenRange: %w", field, err)
		}
		out.ListenRange = r
	}
	if len(n.AddressFamilies) > 0 { // empty means the defaults, as upstream
		// The order is fixed (ipv4unicast, ipv6unicast, evpn) so that the
		// model does not depend on the manifest's order.
		for _, typ := range []string{FamilyIPv4Unicast, FamilyIPv6Unicast, FamilyEVPN} {
			for _, af := range n.AddressFamilies {
				if af.Type != typ {
					continue
				}
				f := AddressFamily{Type: typ}
				for _, p := range af.Properties {
					f.RouteReflectorClient = f.RouteReflectorClient || p.Type == v1alpha1.AddressFamilyPropertyRouteReflectorClient
				}
				out.AddressFamilies = append(out.AddressFamilies, f)
			}
		}
	}
	if n.Port != nil {
		out.Port = *n.Port
	}
	if n.PasswordSecret != "" {
		pw, err := validate.SecretPassword(b.secrets, u.Namespace, n.PasswordSecret)
		if err != nil {
			return Neighbor{}, fmt.Errorf("%s: %w", field, err)
		}
		out.Password = pw
	}
	if n.BFD != nil {
		out.BFD = &BFD{
			ReceiveInterval:  n.BFD.ReceiveInterval,
			TransmitInterval: n.BFD.TransmitInterval,
			DetectMultiplier: n.BFD.DetectMultiplier,
			Passive:          n.BFD.SessionMode == v1alpha1.BFDSessionModePassive,
			MinimumTTL:       n.BFD.MinimumTTL,
		}
	}
	return out, nil
}

// neighborRank orders the kinds of neighbours: by address, by interface,
// by listen range.
func neighborRank(n Neighbor) int {
	switch {
	case n.Address.IsValid():
		return 0
	case n.Interface != "":
		return 1
	default:
		return 2
	}
}

// hostSession gives a host session's addresses on this node and the
// localCIDR pools they come from; errs says why the object that holds it
// must be left out.
func (b *builder) hostSession(ref objects.Ref, h *v1alpha1.HostSession) (out HostSession, uses []validate.CIDRUse, errs []validate.Error) {
	const field = "spec.hostSession"
	uses, errs = validate.HostSessionCIDRs(ref, field, h)
	if len(errs) > 0 {
		return HostSession{}, nil, errs
	}
	out = HostSession{ASN: h.ASN, HostType: strings.ToLower(h.HostType), MaxPrefixes: h.MaxPrefixes}
	if h.HostASN != nil {
		out.HostASN = *h.HostASN
	}
	for _, u := range uses {
		router, host, err := ipam.HostSession(u.Prefix, b.node.Index)
		if err != nil {
			return HostSession{}, nil, []validate.Error{{Ref: ref, Field: field + ".localCIDR", Message: err.Error()}}
		}
		if u.Prefix.Addr().Is4() {
			out.RouterIPv4, out.HostIPv4 = router, host
		} else {
			out.RouterIPv6, out.HostIPv6 = router, host
		}
	}
	return out, uses, nil
}

// vtep is the local VTEP address of a VNI whose
// spec.underlayAddressFamily is family (Underlay.VTEPFor). validate.Set
// refuses a family the Underlay has no tunnelEndpoint cidr of wherever the
// two may meet, so the error is reached only if the two disagree.
func (b *builder) vtep(family string) (netip.Addr, error) {
	v, ok := b.vteps.VTEPFor(family)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%s has no %s cidr in spec.tunnelEndpoint.cidrs, so node %s has no %s VTEP; add one there or choose the other family", b.vteps.Source, family, b.node.Name, family)
	}
	return v.Addr(), nil
}

// l3vni converts an L3VNI and returns the localCIDR pools it uses; errs
// says why it must be left out.
func (b *builder) l3vni(o *v1alpha1.L3VNI) (L3VNI, []validate.CIDRUse, []validate.Error) {
	out := L3VNI{
		Source:    objects.RefOf(objects.KindL3VNI, o.ObjectMeta),
		VRF:       o.Spec.VRF,
		VNI:       o.Spec.VNI,
		VXLANPort: o.Spec.VXLANPort,
		ImportRTs: slices.Clone(o.Spec.ImportRTs),
		ExportRTs: slices.Clone(o.Spec.ExportRTs),
		RouterMAC: ipam.RouterMAC(o.Spec.VNI, b.node.Index),
	}
	vtep, err := b.vtep(o.Spec.UnderlayAddressFamily)
	if err != nil {
		return L3VNI{}, nil, []validate.Error{{Ref: out.Source, Field: "spec.underlayAddressFamily", Message: err.Error()}}
	}
	out.VTEP = vtep
	if o.Spec.HostSession == nil {
		return out, nil, nil
	}
	hs, uses, errs := b.hostSession(out.Source, o.Spec.HostSession)
	if len(errs) > 0 {
		return L3VNI{}, nil, errs
	}
	out.HostSession = &hs
	return out, uses, nil
}

func (b *builder) l2vni(o *v1alpha1.L2VNI, appliedL3 map[objects.Ref]string) (L2VNI, bool) {
	ref := objects.RefOf(objects.KindL2VNI, o.ObjectMeta)
	out := L2VNI{
		Source:     ref,
		VNI:        o.Spec.VNI,
		VXLANPort:  o.Spec.VXLANPort,
		GatewayMAC: ipam.GatewayMAC(o.Spec.VNI),
	}
	if missing := b.missing[ref]; len(missing) > 0 {
		b.report.Missing = append(b.report.Missing, missing...)
		return L2VNI{}, false
	}
	vtep, err := b.vtep(o.Spec.UnderlayAddressFamily)
	if err != nil {
		b.skip(ref, "spec.underlayAddressFamily", err.Error())
		return L2VNI{}, false
	}
	out.VTEP = vtep
	if rd := o.Spec.RoutingDomain; rd != nil {
		target := objects.Ref{Kind: objects.KindL3VNI, Namespace: o.Namespace, Name: rd.L3VNI.Name}
		vrf, ok := appliedL3[target]
		if !ok {
			b.skip(ref, "spec.routingDomain.l3vni.name", fmt.Sprintf("%s is not applied on node %s", target, b.node.Name))
			return L2VNI{}, false
		}
		out.VRF = vrf
	}
	for i, g := range o.Spec.GatewayIPs {
		p, err := validate.Prefix(g)
		if err != nil {
			b.skip(ref, fmt.Sprintf("spec.gatewayIPs[%d]", i), err.Error())
			return L2VNI{}, false
		}
		out.GatewayIPs = append(out.GatewayIPs, p)
	}
	slices.SortFunc(out.GatewayIPs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if hm := o.Spec.HostMaster; hm != nil {
		if lb := hm.LinuxBridge; lb != nil && lb.Lifecycle == v1alpha1.LifecycleExternal {
			out.HostBridge = HostBridge{Name: lb.Name}
		} else {
			out.HostBridge = HostBridge{Name: devname.HostBridge(o.Spec.VNI), Managed: true}
		}
	}
	return out, true
}
