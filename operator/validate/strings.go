package validate

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/perouter/perouter/operator/devname"
)

// The checks below guard every value that reaches the FRR configuration
// or a kernel device name. Each string check accepts only characters that
// cannot end a line, start a comment ('!' or '#'), or split a token
// (whitespace), so no user value can inject an FRR command. They are the
// one implementation of each rule: the checker below and the renderer's
// own defensive checks (operator/frr) both call them.

// The patterns are the CRDs'; matching is hand-written because it runs for
// every object on every validation.
const (
	vrfPattern       = `^[a-zA-Z][a-zA-Z0-9_-]*$`
	interfacePattern = `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
)

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// matchName reports whether s is a first character accepted by first
// followed by letters, digits and the bytes of rest.
func matchName(s string, first func(byte) bool, rest string) bool {
	if s == "" || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && strings.IndexByte(rest, c) < 0 {
			return false
		}
	}
	return true
}

// dnsSubdomain lists what is wrong with a Kubernetes object or node name
// (an RFC 1123 subdomain). The fast check passes every name of lower-case
// alphanumerics and inner '-'; the Kubernetes validators (regexp based)
// run for the rest, and to word the errors.
func dnsSubdomain(s string) []string {
	if simpleDNSName(s, validation.DNS1123SubdomainMaxLength) {
		return nil
	}
	return validation.IsDNS1123Subdomain(s)
}

// dnsLabel is dnsSubdomain for a namespace (an RFC 1123 label).
func dnsLabel(s string) []string {
	if simpleDNSName(s, validation.DNS1123LabelMaxLength) {
		return nil
	}
	return validation.IsDNS1123Label(s)
}

// simpleDNSName accepts lower-case alphanumerics and inner '-': a subset of
// both RFC 1123 labels and subdomains.
func simpleDNSName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || isDigit(c) || c == '-') {
			return false
		}
	}
	return true
}

func joinProblems(msgs []string) error {
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// DNSSubdomain checks a Kubernetes object or node name: an RFC 1123
// subdomain of at most 253 characters.
func DNSSubdomain(s string) error { return joinProblems(dnsSubdomain(s)) }

// DNSLabel checks a Kubernetes namespace: an RFC 1123 label of at most 63
// characters.
func DNSLabel(s string) error { return joinProblems(dnsLabel(s)) }

// ASN checks a BGP AS number: 0 is reserved.
func ASN(asn uint32) error {
	if asn == 0 {
		return fmt.Errorf("must be between 1 and 4294967295")
	}
	return nil
}

// VNI checks a VXLAN network identifier: 24 bits, 0 excluded.
func VNI(vni uint32) error {
	if vni < 1 || vni > 16777215 {
		return fmt.Errorf("%d is out of range 1..16777215", vni)
	}
	return nil
}

// MaxNameLen is the Linux interface name limit (IFNAMSIZ - 1).
const MaxNameLen = 15

// VRFName checks an L3VNI's VRF name: a Linux device name that FRR also
// uses as its VRF name.
func VRFName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("%q is longer than %d characters", s, MaxNameLen)
	case !matchName(s, isLetter, "_-"):
		return fmt.Errorf("%q must match %s", s, vrfPattern)
	case s == "default":
		return fmt.Errorf(`"default" is FRR's default VRF`)
	}
	if why := devname.Reserved(s); why != "" {
		return fmt.Errorf("%q %s: choose another VRF name", s, why)
	}
	return nil
}

// NICName checks the name of an Underlay NIC, which perouter moves into
// the router namespace: a Linux device name that is not one perouter
// gives its own devices (devname.Reserved).
func NICName(s string) error {
	if s == devname.Loopback {
		return userDevice(s, "it cannot move to the router namespace; remove it from spec.interfaces")
	}
	return userDevice(s, "rename the NIC on the nodes and list its new name")
}

// userDevice checks the name of a device the user names and perouter uses
// but does not name itself: a Linux device name, not one perouter gives
// its own devices (devname.Reserved), which would be taken for perouter's.
// fix tells the user what to do about a reserved name.
func userDevice(s, fix string) error {
	if err := InterfaceName(s); err != nil {
		return err
	}
	if why := devname.Reserved(s); why != "" {
		return fmt.Errorf("%q %s: %s", s, why, fix)
	}
	return nil
}

// ExternalBridgeName checks the name of a host bridge an L2VNI attaches
// to but does not manage: a bridge named like one of perouter's devices
// would be taken for perouter's own.
func ExternalBridgeName(s string) error {
	return userDevice(s, "rename the bridge on the nodes or use lifecycle: Managed")
}

// NeighborInterface checks the interface of an unnumbered BGP neighbour.
// FRR takes the peer of "neighbor X interface" for an address when X
// parses as one (its str2sockunion uses inet_pton), so a device named
// like an IPv4 address would silently become a numbered peer. The device
// pattern has no ':', so only IPv4 forms can match.
func NeighborInterface(s string) error {
	if err := InterfaceName(s); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return fmt.Errorf("%q is an IP address, which FRR reads as a numbered peer: set address instead, or name the interface", s)
	}
	return nil
}

// frrUDPPorts are the UDP ports FRR's daemons bind in the router
// namespace (frrproc.DefaultDaemons: zebra, bgpd, staticd, bfdd). A VXLAN
// device binds its port on every address of that namespace, so on one of
// these ports either the VXLAN device or bfdd cannot bind, and BFD or the
// overlay breaks. Only bfdd uses UDP: bgpd's 179 and the daemons' vty
// ports are TCP (and frrproc starts the daemons with -P 0: no TCP vty), so
// they cannot collide with a VXLAN socket and stay allowed.
var frrUDPPorts = map[uint16]string{
	3784: "FRR's BFD (single-hop control)", // RFC 5881
	3785: "FRR's BFD (echo)",               // RFC 5881
	4784: "FRR's BFD (multi-hop control)",  // RFC 5883
}

// VXLANPort checks a VXLAN device's UDP port: 1..65535 and not a port
// FRR's daemons use in the router namespace.
func VXLANPort(port uint16) error {
	if port == 0 {
		return fmt.Errorf("must be between 1 and 65535")
	}
	if user, ok := frrUDPPorts[port]; ok {
		return fmt.Errorf("%d is the UDP port of %s in the router namespace: use another port (the default is 4789)", port, user)
	}
	return nil
}

// InterfaceName checks a Linux network device name.
func InterfaceName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("%q is longer than %d characters", s, MaxNameLen)
	case !matchName(s, func(c byte) bool { return isLetter(c) || isDigit(c) }, "_.-"):
		return fmt.Errorf("%q must match %s", s, interfacePattern)
	}
	return nil
}

// MaxPasswordLen is the TCP MD5 key limit.
const MaxPasswordLen = 80

// Password checks a BGP TCP MD5 password: 1 to 80 printable ASCII
// characters, none of them whitespace, '!', '#', quotes, backslash or
// backtick (FRR takes the password as one token; '!' and '#' start
// comments and quotes are mangled by frr-reload.py).
func Password(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > MaxPasswordLen {
		return fmt.Errorf("is longer than %d characters", MaxPasswordLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || strings.IndexByte("!#\"'\\`", c) >= 0 {
			// The value is secret: name the position, not the value.
			return fmt.Errorf("character %d is not allowed: use printable ASCII without whitespace, ! # \" ' \\ or `", i+1)
		}
	}
	return nil
}

// RouteTarget checks an EVPN route target: ASN:NN with a 2-byte ASN and a
// 4-byte NN, a 4-byte ASN and a 2-byte NN, or A.B.C.D:NN with a 2-byte NN
// (RFC 4360 types 0, 2 and 1). Numbers are plain decimal.
func RouteTarget(s string) error {
	admin, local, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("%q must be ASN:NN or A.B.C.D:NN", s)
	}
	if strings.Contains(admin, ".") {
		a, err := netip.ParseAddr(admin)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%q: %q is not an IPv4 address", s, admin)
		}
		if _, err := decimal(local, 65535); err != nil {
			return fmt.Errorf("%q: local part %w", s, err)
		}
		return nil
	}
	asn, err := decimal(admin, 4294967295)
	if err != nil {
		return fmt.Errorf("%q: ASN %w", s, err)
	}
	if asn == 0 {
		return fmt.Errorf("%q: ASN must be at least 1", s)
	}
	max := uint64(4294967295)
	if asn > 65535 {
		max = 65535
	}
	if _, err := decimal(local, max); err != nil {
		return fmt.Errorf("%q: local part %w", s, err)
	}
	return nil
}

// decimal parses a canonical unsigned decimal (no sign, no leading zeros).
func decimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a plain decimal number", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a plain decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("%q is out of range 0..%d", s, max)
	}
	return n, nil
}

// Prefix parses a CIDR strictly: netip's parser rejects zones, spaces and
// other text, so the rendered form is canonical.
func Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: IPv4-mapped IPv6 is not supported", s)
	}
	return p, nil
}

// ListenRange parses a neighbour's listenRange. Host bits are allowed
// (upstream masks them); an IPv6 link-local range is refused, as upstream
// does: link-local peers are reached through an interface.
func ListenRange(s string) (netip.Prefix, error) {
	p, err := Prefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	p = p.Masked()
	if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
		return netip.Prefix{}, fmt.Errorf("%q is an IPv6 link-local range: peer over the interface instead (interface)", s)
	}
	return p, nil
}

// RouterIDPool parses an Underlay's routerIDCIDR: BGP router-ids are
// 32-bit, so the pool must be IPv4.
func RouterIDPool(s string) (netip.Prefix, error) {
	p, err := Prefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q must be IPv4: BGP router-ids are 32-bit", s)
	}
	return p, nil
}

// Addr parses an IP address strictly (no zone).
func Addr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q: IPv4-mapped IPv6 is not supported", s)
	}
	return a, nil
}
