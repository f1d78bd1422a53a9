// Package frr turns one node's model (nodeconfig.Config) into the text of
// its FRR configuration. The text comes from small embedded templates that
// are parsed once; everything the templates print is computed here first,
// so the templates hold no logic beyond loops and presence checks and the
// output is a pure function of the model.
package frr

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// templates is parsed once: parsing costs far more than executing, and a
// broken template must fail every test, not the first render in production.
var templates = template.Must(template.New("").ParseFS(templateFiles, "templates/*.tmpl"))

// Names built in Go; the fixed policy names (PEROUTER-FABRIC-IN, ...) are
// written out in templates/policy.tmpl and docs/frr.md.
const (
	passthroughPolicy  = "PEROUTER-PASSTHROUGH-HOST"
	vrfPolicyPrefix    = "PEROUTER-VRF-"
	bfdProfilePrefix   = "PEROUTER-BFD"
	typeExternal       = "external"
	typeInternal       = "internal"
	largeCommunityData = "1:1"
	// passthroughConnectTime is the passthrough host neighbour's connect
	// retry, in seconds, as upstream sets it: the host's BGP speaker usually
	// starts after the router, and with FRR's default (120 s) the session
	// would wait up to two minutes for the next attempt.
	passthroughConnectTime = "5"
)

// Render returns the FRR configuration for c. The same model always gives
// the same text. It fails when the model is inconsistent or a value breaks
// one of validate's rules (validate.Set rejects such values earlier; this
// is the last line of defence, with the same checks, so no string field can
// change the structure of the config).
func Render(c nodeconfig.Config) (string, error) {
	v, err := buildView(c)
	if err != nil {
		return "", err
	}
	vrfs, err := vrfPatternsFor(v.VRFs)
	if err != nil {
		return "", fmt.Errorf("frr: node %s: %w", c.NodeName, err)
	}
	return renderView(v, vrfs)
}

func renderView(v *view, vrfs renderedVRFs) (string, error) {
	var err error
	var b bytes.Buffer
	b.Grow(1024 + 1024*len(v.VRFs))
	section := func(name string) {
		if err == nil {
			err = templates.ExecuteTemplate(&b, name, v)
		}
	}
	section("header")
	vrfs.write(&b, func(p *vrfPatterns) pattern { return p.stanza })
	section("l2vnis")
	section("bfd")
	if v.Underlay != nil {
		section("policylists")
		vrfs.write(&b, func(p *vrfPatterns) pattern { return p.prefixLists })
		section("policyroutemaps")
		section("underlay")
		vrfs.write(&b, func(p *vrfPatterns) pattern { return p.bgp })
	}
	section("raw")
	if err != nil {
		return "", fmt.Errorf("frr: node %s: %w", v.Hostname, err)
	}
	b.WriteByte('\n')
	return b.String(), nil
}

// renderedVRFs is every VRF's patterns and values, ready to print.
type renderedVRFs struct {
	patterns []*vrfPatterns
	values   [][]string
}

// vrfPatternsFor prepares the VRF parts of the config. The text of a VRF
// depends on that VRF alone, and VRFs of the same shape (which optional
// parts they have) differ only in the values printed, so the templates run
// once per shape (see shape.go) and each VRF costs a few string copies.
func vrfPatternsFor(vrfs []vrfView) (renderedVRFs, error) {
	r := renderedVRFs{patterns: make([]*vrfPatterns, len(vrfs)), values: make([][]string, len(vrfs))}
	for i := range vrfs {
		v := &vrfs[i]
		key := v.shape(&r.values[i])
		p, err := vrfShapes.get(key, v)
		if err != nil {
			return r, fmt.Errorf("vrf %s: %w", v.VRF, err)
		}
		r.patterns[i] = p
	}
	return r, nil
}

func (r renderedVRFs) write(b *bytes.Buffer, part func(*vrfPatterns) pattern) {
	for i, p := range r.patterns {
		part(p).writeTo(b, r.values[i])
	}
}

// executeVRF runs the per-VRF templates for one VRF.
func executeVRF(v *vrfView) (vrfText, error) {
	var b bytes.Buffer
	exec := func(name string, data any) (string, error) {
		b.Reset()
		err := templates.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	var t vrfText
	var err, e error
	t.Stanza, e = exec("vrf", v)
	err = errors.Join(err, e)
	t.BGP, e = exec("vrfbgp", v)
	err = errors.Join(err, e)
	if v.Session != nil {
		t.PrefixLists, e = exec("hostprefixlists", v.Session)
		err = errors.Join(err, e)
	}
	return t, err
}

// view is the model rewritten into exactly what the templates print.
type view struct {
	Hostname    string
	VRFs        []vrfView
	L2VNIs      []l2View
	BFDProfiles []bfdProfile
	Underlay    *underlayView
	Passthrough *sessionView
	// FromHost is the large community put on passthrough host routes so
	// that PEROUTER-FABRIC-OUT can pass exactly those to the fabric.
	FromHost string
	VTEP4    string
	VTEP6    string
	// HostSessions is set when any host session exists: they share the
	// outbound route-map PEROUTER-HOST-OUT.
	HostSessions bool
	// RawSnippets are the RawFRRConfigs' texts, printed last.
	RawSnippets []rawView
	// ReflectOut renders PEROUTER-FABRIC-REFLECT-OUT (see underlayView).
	ReflectOut bool
}

// rawView is one RawFRRConfig as printed: a comment naming it, then its
// text without trailing newlines (the template ends each line).
type rawView struct {
	Source   string
	Priority int32
	Text     string
}

// rawSnippets prints the snippets in the model's order. Their text is
// FRR configuration by design: the only checks are that it is text and
// that its object's name, printed in a comment, cannot end the comment.
func rawSnippets(c nodeconfig.Config) ([]rawView, error) {
	var out []rawView
	for _, r := range c.RawSnippets {
		if err := checkRef(r.Source); err != nil {
			return nil, err
		}
		text := strings.TrimRight(r.Text, "\n")
		if strings.TrimSpace(text) == "" {
			return nil, fieldError(r.Source, "spec.rawConfig", "is empty")
		}
		if strings.ContainsRune(text, 0) {
			return nil, fieldError(r.Source, "spec.rawConfig", "contains a NUL byte")
		}
		out = append(out, rawView{Source: r.Source.Namespace + "/" + r.Source.Name, Priority: r.Priority, Text: text})
	}
	return out, nil
}

type underlayView struct {
	ASN       uint32
	RouterID  string
	Neighbors []neighborView
	IPv4      bool
	IPv6      bool
	EVPN      bool
	// GracefulRestart turns it on; RestartTime and StalePathTime are ""
	// at FRR's defaults, which FRR's running config leaves out: a line
	// for them would differ from it on every reload.
	GracefulRestart bool
	RestartTime     string
	StalePathTime   string
	// ClusterID is the route reflector's cluster ID, "" when the router
	// reflects nothing.
	ClusterID string
	// ListenLimit raises FRR's cap on dynamic neighbours (100) when a
	// listen range exists: how many peers a range brings is not known.
	ListenLimit string
	// NoImportCheck announces network statements whose prefix is not in
	// the RIB as such: the passthrough host's /32 lies in the veth's
	// connected subnet (see the underlay template).
	NoImportCheck bool
	// AdvertiseVNIs announces the local VNIs (the node has a VTEP); an
	// EVPN section without it only carries routes, as on a route
	// reflector without a VTEP.
	AdvertiseVNIs bool
	// ReflectOut is set when a neighbour is a route reflector client in a
	// unicast family: PEROUTER-FABRIC-REFLECT-OUT is then rendered.
	ReflectOut bool
}

type neighborView struct {
	// ID is how FRR names the peer: its address or its interface, or for
	// a listen range the peer-group (named after the range, as upstream).
	ID        string
	Interface bool
	// ListenRange is the range of a dynamic neighbour's peer-group; FRR
	// only attaches listen ranges to peer-groups.
	ListenRange  string
	RemoteAS     string
	Internal     bool
	Port         uint16
	Password     string
	Timers       string
	ConnectTime  string
	EBGPMultiHop bool
	// EBGPMultiHopTTL is "" for FRR's default.
	EBGPMultiHopTTL string
	BFD             bool
	BFDProfile      string
	IPv4            bool
	IPv6            bool
	EVPN            bool
	// RRClient4/6/EVPN make the neighbour a route reflector client in
	// that family.
	RRClient4    bool
	RRClient6    bool
	RRClientEVPN bool
	// Family4 and Family6 are the neighbour in the unicast families, nil
	// where it is not activated.
	Family4, Family6 *fabricFamilyView
	// ExtendedNexthop: an IPv6 neighbour that carries ipv4 unicast, whose
	// routes then have IPv6 next hops (RFC 8950). FRR implies it for
	// interface neighbours and leaves it out of their running config.
	ExtendedNexthop bool
}

// fabricFamilyView is a fabric neighbour in one unicast family.
type fabricFamilyView struct {
	ID       string
	Internal bool
	RRClient bool
	// Out is the outbound route-map: PEROUTER-FABRIC-OUT, or for a route
	// reflector client PEROUTER-FABRIC-REFLECT-OUT, which reflects
	// everything.
	Out string
}

// Outbound route-maps of the fabric's unicast families.
const (
	fabricOut  = "PEROUTER-FABRIC-OUT"
	reflectOut = "PEROUTER-FABRIC-REFLECT-OUT"
	// listenLimit is FRR's largest dynamic-neighbour cap.
	listenLimit = "65535"
)

type bfdProfile struct {
	Name             string
	ReceiveInterval  string
	TransmitInterval string
	DetectMultiplier string
	Passive          bool
	MinimumTTL       string
}

type vrfView struct {
	Source    string
	VRF       string
	VNI       string
	ASN       string
	RouterID  string
	ImportRTs []string
	ExportRTs []string
	// Connected4/6 redistribute the VRF's connected subnets (host session
	// link, L2 gateways) so that other PEs learn them as type-5 routes.
	Connected4 bool
	Connected6 bool
	Session    *sessionView
}

type vrfText struct {
	Stanza, PrefixLists, BGP string
}

type l2View struct {
	Source string
	VNI    uint32
	VRF    string
	Bridge string
}

// sessionView is one BGP session with the host, in a VRF or (passthrough)
// in the default VRF.
type sessionView struct {
	Policy string
	// Tag is the large community put on accepted routes (passthrough only).
	Tag    string
	V4, V6 *familyView
}

// familyView is the host session's neighbour of one address family.
type familyView struct {
	ID       string
	RemoteAS string
	// ConnectTime is the neighbour's connect retry, "" for FRR's default.
	ConnectTime string
	// Network is the host-side address as a host route, which the router
	// originates to the fabric (passthrough only; "" otherwise).
	Network string
	Policy  string
	// In is the inbound filter: the session's prefix-list, or (passthrough)
	// the route-map that also tags the routes.
	In          string
	NextHopSelf bool
	// MaxPrefixes is FRR's maximum-prefix for the neighbour.
	MaxPrefixes string
	// Rules are prefix-list entries without the "ip prefix-list NAME"
	// head, e.g. "seq 10 permit 192.169.10.3/32".
	Rules []string
}

func buildView(c nodeconfig.Config) (*view, error) {
	if err := validate.DNSSubdomain(c.NodeName); err != nil {
		return nil, fmt.Errorf("frr: node %q: the node name is not a valid hostname: %v", c.NodeName, err)
	}
	v := &view{Hostname: c.NodeName}
	raw, err := rawSnippets(c)
	if err != nil {
		return nil, err
	}
	v.RawSnippets = raw
	u := c.Underlay
	if u == nil {
		if len(c.L3VNIs) > 0 || len(c.L2VNIs) > 0 || c.Passthrough != nil {
			return nil, fmt.Errorf("frr: node %s: L3VNIs, L2VNIs or an L3Passthrough without an Underlay", c.NodeName)
		}
		return v, nil
	}
	if err := validate.ASN(u.ASN); err != nil {
		return nil, fieldError(u.Source, "spec.asn", err.Error())
	}
	if !u.RouterID.Is4() {
		return nil, fieldError(u.Source, "spec.routerIDCIDR", "router ID "+u.RouterID.String()+" is not an IPv4 address")
	}
	vtep4, has4 := u.VTEP4()
	vtep6, has6 := u.VTEP6()
	if has4 {
		v.VTEP4 = vtep4.Masked().String()
	}
	if has6 {
		v.VTEP6 = vtep6.Masked().String()
	}
	uv := &underlayView{
		ASN:           u.ASN,
		RouterID:      u.RouterID.String(),
		EVPN:          has4 || has6,
		AdvertiseVNIs: has4 || has6,
	}
	if rr := u.RouteReflector; rr != nil {
		if !rr.ClusterID.Is4() {
			return nil, fieldError(u.Source, "spec.routeReflector.clusterID", rr.ClusterID.String()+" is not an IPv4 address")
		}
		uv.ClusterID = rr.ClusterID.String()
	}
	if gr := u.GracefulRestart; gr != nil {
		uv.GracefulRestart = true
		uv.RestartTime = unlessDefault(gr.RestartTime, nodeconfig.DefaultRestartTime)
		uv.StalePathTime = unlessDefault(gr.StalePathTime, nodeconfig.DefaultStalePathTime)
	}
	v.Underlay = uv

	if c.Passthrough != nil {
		v.FromHost = strconv.FormatUint(uint64(u.ASN), 10) + ":" + largeCommunityData
		s, err := hostSession(c.Passthrough.Source, c.Passthrough.HostSession, passthroughPolicy, v.FromHost, passthroughDenied(u))
		if err != nil {
			return nil, err
		}
		// The host's own address is denied on the session (it lies in
		// localCIDR, see hostRules) but reaches the fabric all the same:
		// the router originates it, as upstream does, so the fabric can
		// reach the host's end of the link.
		for _, f := range []*familyView{s.V4, s.V6} {
			if f != nil {
				f.ConnectTime = passthroughConnectTime
				addr := netip.MustParseAddr(f.ID)
				f.Network = netip.PrefixFrom(addr, addr.BitLen()).String()
			}
		}
		v.Passthrough = s
		v.HostSessions = true
		uv.NoImportCheck = true
	}

	neighbors := sortedBy(u.Neighbors, func(n nodeconfig.Neighbor) string { return neighborID(n) })
	profiles := map[string]bfdProfile{}
	anyV4, anyV6, anyIface, v4Neighbor := false, false, false, false
	for _, n := range neighbors {
		nv, err := neighbor(u, n, profiles)
		if err != nil {
			return nil, err
		}
		switch {
		case n.AddressFamilies != nil:
			// Explicit families open their sections below.
			v4Neighbor = v4Neighbor || n.Address.Is4() || n.ListenRange.Addr().Is4()
		case nv.Interface:
			anyIface = true
		case n.Address.Is4() || n.ListenRange.Addr().Is4():
			anyV4 = true
		default:
			anyV6 = true
		}
		if nv.ListenRange != "" {
			uv.ListenLimit = listenLimit
		}
		uv.Neighbors = append(uv.Neighbors, nv)
	}
	uv.IPv4 = has4 || anyV4 || anyIface || (v.Passthrough != nil && v.Passthrough.V4 != nil)
	uv.IPv6 = has6 || anyV6 || (v.Passthrough != nil && v.Passthrough.V6 != nil)
	// No neighbour with an IPv4 address: the fabric speaks IPv6 to this
	// node, so IPv4 (the VTEP, passthrough routes) can only cross the IPv6
	// sessions, with IPv6 next hops. Where an IPv4 neighbour exists, IPv4
	// stays on it and the IPv6 sessions stay IPv6-only.
	v4OverV6 := uv.IPv4 && !anyV4 && !v4Neighbor
	for i := range uv.Neighbors {
		n, m := &uv.Neighbors[i], neighbors[i]
		if m.AddressFamilies != nil {
			for _, f := range m.AddressFamilies {
				switch f.Type {
				case nodeconfig.FamilyIPv4Unicast:
					n.IPv4, n.RRClient4 = true, f.RouteReflectorClient
				case nodeconfig.FamilyIPv6Unicast:
					n.IPv6, n.RRClient6 = true, f.RouteReflectorClient
				case nodeconfig.FamilyEVPN:
					n.EVPN, n.RRClientEVPN = true, f.RouteReflectorClient
				default:
					return nil, fieldError(u.Source, "spec.neighbors["+n.ID+"].addressFamilies", "address family "+strconv.Quote(f.Type)+" is not one of ipv4unicast, ipv6unicast, evpn")
				}
			}
			if (n.RRClient4 || n.RRClient6 || n.RRClientEVPN) && !n.Internal {
				return nil, fieldError(u.Source, "spec.neighbors["+n.ID+"].addressFamilies", "routeReflectorClient needs an internal (iBGP) session")
			}
			uv.IPv4 = uv.IPv4 || n.IPv4
			uv.IPv6 = uv.IPv6 || n.IPv6
			uv.EVPN = uv.EVPN || n.EVPN
		} else {
			is4 := m.Address.Is4() || m.ListenRange.Addr().Is4()
			is6 := m.Address.Is6() || m.ListenRange.Addr().Is6()
			n.IPv4 = uv.IPv4 && (n.Interface || is4 || (v4OverV6 && m.Address.Is6()))
			n.IPv6 = uv.IPv6 && (n.Interface || is6)
			n.EVPN = uv.AdvertiseVNIs
		}
		// An IPv6 neighbour that carries ipv4 unicast (the fabric speaks
		// only IPv6 to this node, or its addressFamilies ask for it) has
		// IPv6 next hops on IPv4 routes (RFC 8950).
		n.ExtendedNexthop = n.IPv4 && !n.Interface && m.Address.Is6()
		family := func(rrClient bool) *fabricFamilyView {
			f := &fabricFamilyView{ID: n.ID, Internal: n.Internal, RRClient: rrClient, Out: fabricOut}
			if rrClient {
				f.Out, uv.ReflectOut = reflectOut, true
			}
			return f
		}
		if n.IPv4 {
			n.Family4 = family(n.RRClient4)
		}
		if n.IPv6 {
			n.Family6 = family(n.RRClient6)
		}
	}
	v.ReflectOut = uv.ReflectOut
	for _, name := range slicesSortedKeys(profiles) {
		v.BFDProfiles = append(v.BFDProfiles, profiles[name])
	}

	routedFamilies := map[string][2]bool{}
	for _, l2 := range sortedBy(c.L2VNIs, func(l nodeconfig.L2VNI) uint32 { return l.VNI }) {
		if l2.VRF != "" {
			if err := validate.VRFName(l2.VRF); err != nil {
				return nil, invalid(l2.Source, "spec.routingDomain.l3vni.name", "VRF name", l2.VRF, err)
			}
		}
		if l2.HostBridge.Name != "" {
			if err := validate.InterfaceName(l2.HostBridge.Name); err != nil {
				return nil, invalid(l2.Source, "spec.hostMaster.linuxBridge.name", "interface name", l2.HostBridge.Name, err)
			}
		}
		if err := checkRef(l2.Source); err != nil {
			return nil, err
		}
		v.L2VNIs = append(v.L2VNIs, l2View{Source: l2.Source.Namespace + "/" + l2.Source.Name, VNI: l2.VNI, VRF: l2.VRF, Bridge: l2.HostBridge.Name})
		if l2.VRF != "" {
			f := routedFamilies[l2.VRF]
			for _, gw := range l2.GatewayIPs {
				if gw.Addr().Is4() {
					f[0] = true
				} else {
					f[1] = true
				}
			}
			routedFamilies[l2.VRF] = f
		}
	}

	for _, l3 := range sortedBy(c.L3VNIs, func(l nodeconfig.L3VNI) uint32 { return l.VNI }) {
		if err := validate.VRFName(l3.VRF); err != nil {
			return nil, invalid(l3.Source, "spec.vrf", "VRF name", l3.VRF, err)
		}
		if err := checkRef(l3.Source); err != nil {
			return nil, err
		}
		if err := validate.VNI(l3.VNI); err != nil {
			return nil, fieldError(l3.Source, "spec.vni", err.Error())
		}
		for _, rt := range slices.Concat(l3.ImportRTs, l3.ExportRTs) {
			if err := validate.RouteTarget(rt); err != nil {
				return nil, invalid(l3.Source, "spec.importRTs/exportRTs", "route target", rt, err)
			}
		}
		f := routedFamilies[l3.VRF]
		vv := vrfView{
			Source:     l3.Source.Namespace + "/" + l3.Source.Name,
			VRF:        l3.VRF,
			VNI:        strconv.FormatUint(uint64(l3.VNI), 10),
			ASN:        strconv.FormatUint(uint64(u.ASN), 10),
			RouterID:   uv.RouterID,
			ImportRTs:  l3.ImportRTs,
			ExportRTs:  l3.ExportRTs,
			Connected4: f[0],
			Connected6: f[1],
		}
		if hs := l3.HostSession; hs != nil {
			if hs.ASN != 0 {
				vv.ASN = strconv.FormatUint(uint64(hs.ASN), 10)
			}
			s, err := hostSession(l3.Source, *hs, vrfPolicyPrefix+l3.VRF+"-HOST", "", nil)
			if err != nil {
				return nil, err
			}
			v.HostSessions = true
			vv.Session = s
			vv.Connected4 = vv.Connected4 || s.V4 != nil
			vv.Connected6 = vv.Connected6 || s.V6 != nil
		}
		v.VRFs = append(v.VRFs, vv)
	}
	return v, nil
}

func neighbor(u *nodeconfig.Underlay, n nodeconfig.Neighbor, profiles map[string]bfdProfile) (neighborView, error) {
	nv := neighborView{ID: neighborID(n), Port: n.Port, EBGPMultiHop: n.EBGPMultiHop}
	if n.EBGPMultiHop && n.EBGPMultiHopTTL != nil {
		nv.EBGPMultiHopTTL = strconv.FormatUint(uint64(*n.EBGPMultiHopTTL), 10)
	}
	named := 0
	for _, set := range []bool{n.Interface != "", n.Address.IsValid(), n.ListenRange.IsValid()} {
		if set {
			named++
		}
	}
	switch {
	case named > 1:
		return nv, fieldError(u.Source, "spec.neighbors", "neighbour "+nv.ID+" has more than one of an address, an interface and a listen range")
	case n.Interface != "":
		if err := validate.NeighborInterface(n.Interface); err != nil {
			return nv, invalid(u.Source, "spec.neighbors.interface", "interface name", n.Interface, err)
		}
		nv.Interface = true
	case n.ListenRange.IsValid():
		nv.ListenRange = n.ListenRange.Masked().String()
		nv.ID = nv.ListenRange
	case !n.Address.IsValid():
		return nv, fieldError(u.Source, "spec.neighbors", "a neighbour has neither an address, an interface nor a listen range")
	}
	remoteAS, internal, err := remoteAS(u.ASN, n.ASN, n.Type)
	if err != nil {
		return nv, fieldError(u.Source, "spec.neighbors["+nv.ID+"]", err.Error())
	}
	nv.RemoteAS, nv.Internal = remoteAS, internal
	if n.Password != "" {
		// validate's error names the position, never the secret.
		if err := validate.Password(n.Password); err != nil {
			return nv, fieldError(u.Source, "spec.neighbors["+nv.ID+"].password", err.Error())
		}
		nv.Password = n.Password
	}
	if (n.HoldTime == nil) != (n.Keepalive == nil) {
		return nv, fieldError(u.Source, "spec.neighbors["+nv.ID+"]", "holdTimeSeconds and keepaliveTimeSeconds must be set together")
	}
	if n.HoldTime != nil {
		nv.Timers = strconv.FormatUint(uint64(*n.Keepalive), 10) + " " + strconv.FormatUint(uint64(*n.HoldTime), 10)
	}
	if n.ConnectTime != nil {
		nv.ConnectTime = strconv.FormatUint(uint64(*n.ConnectTime), 10)
	}
	if n.BFD != nil {
		nv.BFD = true
		if p, ok := profileFor(*n.BFD); ok {
			profiles[p.Name] = p
			nv.BFDProfile = p.Name
		}
	}
	return nv, nil
}

// profileFor names a BFD profile after its values, so neighbours with the
// same settings share one profile and the name changes with the values.
func profileFor(b nodeconfig.BFD) (bfdProfile, bool) {
	p := bfdProfile{Name: bfdProfilePrefix}
	if b.ReceiveInterval != nil {
		p.ReceiveInterval = strconv.FormatUint(uint64(*b.ReceiveInterval), 10)
		p.Name += "-rx" + p.ReceiveInterval
	}
	if b.TransmitInterval != nil {
		p.TransmitInterval = strconv.FormatUint(uint64(*b.TransmitInterval), 10)
		p.Name += "-tx" + p.TransmitInterval
	}
	if b.DetectMultiplier != nil {
		p.DetectMultiplier = strconv.FormatUint(uint64(*b.DetectMultiplier), 10)
		p.Name += "-mult" + p.DetectMultiplier
	}
	if b.Passive {
		p.Passive = true
		p.Name += "-passive"
	}
	if b.MinimumTTL != nil {
		p.MinimumTTL = strconv.FormatUint(uint64(*b.MinimumTTL), 10)
		p.Name += "-minttl" + p.MinimumTTL
	}
	return p, p.Name != bfdProfilePrefix
}

func remoteAS(local, asn uint32, typ string) (string, bool, error) {
	switch {
	case asn != 0 && typ != "":
		return "", false, fmt.Errorf("both an ASN and type %q are set", typ)
	case asn != 0:
		return strconv.FormatUint(uint64(asn), 10), asn == local, nil
	case typ == typeExternal:
		return typ, false, nil
	case typ == typeInternal:
		return typ, true, nil
	default:
		return "", false, fmt.Errorf("type %q is neither %s nor %s and no ASN is set", typ, typeExternal, typeInternal)
	}
}

// hostSession builds the session with a host and the list of prefixes the
// host may announce: anything of the session's family except addresses of
// localCIDR other than the host's own (they belong to the router and to the
// other nodes' hosts) and except the extra denied prefixes.
func hostSession(src objects.Ref, hs nodeconfig.HostSession, policy, tag string, denied []netip.Prefix) (*sessionView, error) {
	remote, internal, err := remoteAS(hs.ASN, hs.HostASN, hs.HostType)
	if err != nil {
		return nil, fieldError(src, "spec.hostSession", err.Error())
	}
	s := &sessionView{Policy: policy, Tag: tag}
	maxPrefixes := hs.MaxPrefixes
	if maxPrefixes == 0 {
		maxPrefixes = objects.DefaultMaxPrefixes
	}
	family := func(host netip.Prefix, suffix string) *familyView {
		in := "prefix-list " + policy + "-IN" + suffix
		if tag != "" {
			in = "route-map " + policy + "-IN"
		}
		return &familyView{
			ID:          host.Addr().String(),
			RemoteAS:    remote,
			Policy:      policy,
			In:          in,
			NextHopSelf: internal,
			MaxPrefixes: strconv.FormatUint(uint64(maxPrefixes), 10),
			Rules:       hostRules(host, familyOf(denied, host.Addr().Is4())),
		}
	}
	if hs.HostIPv4.IsValid() {
		if !hs.HostIPv4.Addr().Is4() {
			return nil, fieldError(src, "spec.hostSession.localCIDR.ipv4", hs.HostIPv4.String()+" is not IPv4")
		}
		s.V4 = family(hs.HostIPv4, "4")
	}
	if hs.HostIPv6.IsValid() {
		if !hs.HostIPv6.Addr().Is6() || hs.HostIPv6.Addr().Is4In6() {
			return nil, fieldError(src, "spec.hostSession.localCIDR.ipv6", hs.HostIPv6.String()+" is not IPv6")
		}
		s.V6 = family(hs.HostIPv6, "6")
	}
	if s.V4 == nil && s.V6 == nil {
		return nil, fieldError(src, "spec.hostSession.localCIDR", "neither an IPv4 nor an IPv6 host address")
	}
	return s, nil
}

// hostRules: nothing of localCIDR (the router's side and the other nodes'
// hosts; the host's own address is not needed either: BGP cannot use a
// route to the address that is its own next hop), nothing of the denied
// prefixes, then anything of the family.
func hostRules(host netip.Prefix, denied []netip.Prefix) []string {
	bits := host.Addr().BitLen()
	any := "0.0.0.0/0"
	if bits == 128 {
		any = "::/0"
	}
	rules := make([]string, 0, 2+len(denied))
	add := func(action string, p netip.Prefix, le string) {
		r := "seq " + strconv.Itoa(10*(len(rules)+1)) + " " + action + " " + p.String()
		if le != "" {
			r += " le " + le
		}
		rules = append(rules, r)
	}
	for _, d := range append([]netip.Prefix{host}, denied...) {
		add("deny", d.Masked(), le(d))
	}
	add("permit", netip.MustParsePrefix(any), strconv.Itoa(bits))
	return rules
}

// le is the "le" bound that extends a prefix-list entry to every longer
// prefix; FRR rejects it on a host route, where exact match is the same.
func le(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return ""
	}
	return strconv.Itoa(p.Addr().BitLen())
}

// passthroughDenied is what a passthrough host may never announce into the
// default VRF: the VTEP pools (or at least this node's VTEPs), which would
// hijack the overlay's tunnels.
func passthroughDenied(u *nodeconfig.Underlay) []netip.Prefix {
	out := slices.Clone(u.VTEPPools)
	for _, vtep := range u.VTEPs {
		covered := false
		for _, pool := range u.VTEPPools {
			covered = covered || pool.Contains(vtep.Addr())
		}
		if !covered {
			out = append(out, vtep)
		}
	}
	return out
}

func familyOf(ps []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

func neighborID(n nodeconfig.Neighbor) string {
	switch {
	case n.Interface != "":
		return n.Interface
	case n.ListenRange.IsValid():
		return n.ListenRange.Masked().String()
	}
	return n.Address.String()
}

// sortedBy returns s sorted by key without touching the caller's slice; the
// model is documented as sorted, so the common case costs no allocation.
func sortedBy[T any, K cmp.Ordered](s []T, key func(T) K) []T {
	less := func(a, b T) int { return cmp.Compare(key(a), key(b)) }
	if slices.IsSortedFunc(s, less) {
		return s
	}
	out := slices.Clone(s)
	slices.SortStableFunc(out, less)
	return out
}

func slicesSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func fieldError(ref objects.Ref, field, msg string) error {
	return fmt.Errorf("frr: %s: %s: %s", ref, field, msg)
}

// invalid is the error for a value one of validate's checks refused.
func invalid(ref objects.Ref, field, what, value string, err error) error {
	return fieldError(ref, field, strconv.Quote(value)+" is not a valid "+what+": "+err.Error())
}

// checkRef checks what the comments print of an object: its namespace and
// name.
func checkRef(r objects.Ref) error {
	if r.Namespace != "" {
		if err := validate.DNSLabel(r.Namespace); err != nil {
			return fieldError(r, "metadata.namespace", err.Error())
		}
	}
	if err := validate.DNSSubdomain(r.Name); err != nil {
		return fieldError(r, "metadata.name", err.Error())
	}
	return nil
}

// unlessDefault is v in decimal, or "" when it is FRR's default.
func unlessDefault(v, def uint32) string {
	if v == def {
		return ""
	}
	return strconv.FormatUint(uint64(v), 10)
}
