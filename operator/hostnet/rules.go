package hostnet

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// VRF isolation. The kernel looks a packet up rule by rule: local table
// (pref 0), the VRF's table (the l3mdev rule at 1000, which the kernel adds
// with the first VRF), main (32766). Two holes follow from that order:
//
//   - a lookup that misses in the VRF's table goes on to main, and main
//     is the underlay: a workload in VRF red reaches other nodes' VTEPs,
//     the fabric's loopbacks and the underlay's addresses;
//   - the local table comes first, so the router's own underlay and VTEP
//     addresses answer a workload of any VRF.
//
// The kernel's VRF documentation (Documentation/networking/vrf.rst) fixes
// the first hole with an "unreachable default" route in every VRF table.
// We use one rule per family instead, "l3mdev unreachable" right after the
// l3mdev lookup: it ends every lookup of every VRF that found nothing in
// its table, whatever the number of VRFs, never competes with the routes
// FRR installs in the VRF tables (a route would, and FRR would see it),
// and is read back with one small dump per family instead of a route dump
// of every VRF table. The second hole is closed as the same document
// says: the local table is consulted after the l3mdev rules (pref 32765)
// and no longer at 0. A VRF's own local addresses live in its own table,
// so they still answer within the VRF.

// Rule is one policy routing rule of the router netns.
type Rule struct {
	// Family is 4 or 6.
	Family int `json:"family"`
	// Priority is the rule's preference.
	Priority int `json:"priority"`
	// L3mdev selects the packets of a VRF (`ip rule … l3mdev`).
	L3mdev bool `json:"l3mdev,omitempty"`
	// Unreachable ends the lookup with "network unreachable"; otherwise the
	// rule looks up Table (or, with L3mdev, the VRF's table).
	Unreachable bool `json:"unreachable,omitempty"`
	// Table is the routing table looked up (255 local, 254 main).
	Table int `json:"table,omitempty"`
}

func (r Rule) String() string {
	s := fmt.Sprintf("ipv%d pref %d", r.Family, r.Priority)
	if r.L3mdev {
		s += " l3mdev"
	}
	switch {
	case r.Unreachable:
		s += " unreachable"
	case r.L3mdev:
		s += " lookup [l3mdev-table]"
	default:
		s += fmt.Sprintf(" lookup %d", r.Table)
	}
	return s
}

const (
	// l3mdevRulePriority is where the kernel puts its l3mdev rule.
	l3mdevRulePriority = 1000
	// localRulePriority moves the local table after the VRF rules, just
	// before main (32766), as vrf.rst recommends.
	localRulePriority = 32765
	tableLocal        = unix.RT_TABLE_LOCAL
)

// routerRules are the rules the router netns must have, in both families.
// The l3mdev lookup itself is the kernel's; it is listed so the plan reads
// as the lookup order it makes.
var routerRules = func() []Rule {
	var rs []Rule
	for _, f := range []int{4, 6} {
		rs = append(rs,
			Rule{Family: f, Priority: l3mdevRulePriority, L3mdev: true},
			Rule{Family: f, Priority: l3mdevRulePriority + 1, L3mdev: true, Unreachable: true},
			Rule{Family: f, Priority: localRulePriority, Table: tableLocal},
		)
	}
	return rs
}()

// Attribute and action numbers from linux/fib_rules.h; the netlink library
// neither names FRA_L3MDEV nor reports it in RuleList, and without it an
// l3mdev rule cannot be told from a plain one.
const (
	fraPriority      = 6  // FRA_PRIORITY
	fraTable         = 15 // FRA_TABLE
	fraL3mdev        = 19 // FRA_L3MDEV
	frActToTbl       = 1  // FR_ACT_TO_TBL
	frActUnreachable = 7  // FR_ACT_UNREACHABLE
	fibRuleHdrLen    = 12 // sizeof(struct fib_rule_hdr)
	fibRuleHdrTable  = 4  // offset of fib_rule_hdr.table
	fibRuleHdrAction = 7  // offset of fib_rule_hdr.action
)

func familyAF(f int) int {
	if f == 6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// ruleHeader is a zeroed fib_rule_hdr, which has rtmsg's layout (table,
// res1, res2, action where rtmsg has table, protocol, scope, type);
// nl.NewRtMsg's defaults (table main, protocol boot) would contradict an
// l3mdev rule.
func ruleHeader(family int) *nl.RtMsg {
	return &nl.RtMsg{RtMsg: unix.RtMsg{Family: uint8(familyAF(family))}}
}

// dumpRules lists the rules of one family in the namespace sock lives in.
func dumpRules(sock *nl.NetlinkSocket, family int) ([]Rule, error) {
	msgs, err := dump(sock, unix.RTM_GETRULE, unix.RTM_NEWRULE, ruleHeader(family))
	if err != nil {
		return nil, err
	}
	rules := make([]Rule, 0, len(msgs))
	for _, m := range msgs {
		if len(m) < fibRuleHdrLen {
			return nil, fmt.Errorf("rule message of %d bytes", len(m))
		}
		r := Rule{Family: family, Table: int(m[fibRuleHdrTable])}
		action := m[fibRuleHdrAction]
		if action != frActToTbl && action != frActUnreachable {
			continue // goto, nop, blackhole, prohibit: never ours
		}
		r.Unreachable = action == frActUnreachable
		attrs, err := nl.ParseRouteAttr(m[fibRuleHdrLen:])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case fraPriority:
				r.Priority = int(binary.NativeEndian.Uint32(a.Value))
			case fraTable:
				r.Table = int(binary.NativeEndian.Uint32(a.Value))
			case fraL3mdev:
				r.L3mdev = len(a.Value) > 0 && a.Value[0] == 1
			}
		}
		if r.L3mdev || r.Unreachable {
			r.Table = 0
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// changeRule adds (RTM_NEWRULE) or deletes (RTM_DELRULE) r.
func changeRule(sock *nl.NetlinkSocket, op int, r Rule) error {
	flags := unix.NLM_F_ACK
	if op == unix.RTM_NEWRULE {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	}
	req := nl.NewNetlinkRequest(op, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	msg := ruleHeader(r.Family)
	msg.Type = frActToTbl
	if r.Unreachable {
		msg.Type = frActUnreachable
	}
	if !r.L3mdev && !r.Unreachable && r.Table < 256 {
		msg.Table = uint8(r.Table)
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(fraPriority, nl.Uint32Attr(uint32(r.Priority))))
	if r.L3mdev {
		req.AddData(nl.NewRtAttr(fraL3mdev, []byte{1}))
	} else if !r.Unreachable {
		req.AddData(nl.NewRtAttr(fraTable, nl.Uint32Attr(uint32(r.Table))))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// ensureRules gives the router netns the wanted rules and, where they
// place the local table, consults it nowhere else: any other "lookup
// local" rule goes (the kernel's at pref 0 above all), but only once the
// wanted one exists, so local delivery never stops. Rules a plan no longer
// wants are left: without VRFs they select nothing.
func (s *session) ensureRules(want []Rule) {
	for _, family := range []int{4, 6} {
		var have []Rule
		if err := s.read(fmt.Sprintf("list ipv%d rules in router netns", family), func() (err error) {
			have, err = dumpRules(s.router.sock, family)
			return err
		}); err != nil {
			s.fail(err)
			continue
		}
		for _, r := range want {
			if r.Family != family || slices.Contains(have, r) {
				continue
			}
			if r.L3mdev && !r.Unreachable {
				// The kernel's own, added with the first VRF; without a VRF
				// there is nothing for it to look up.
				continue
			}
			if err := s.write("add rule "+r.String()+" in router netns", func() error {
				return changeRule(s.router.sock, unix.RTM_NEWRULE, r)
			}); err != nil {
				s.fail(err)
				continue
			}
			have = append(have, r)
			s.record(Created, "router", "rule", r.String(), "")
		}
		wantLocal := slices.IndexFunc(want, func(r Rule) bool { return r.Family == family && r.Table == tableLocal })
		if wantLocal < 0 || !slices.Contains(have, want[wantLocal]) {
			continue // never leave the namespace without its local table
		}
		for _, r := range have {
			if r.Table != tableLocal || r.L3mdev || r.Unreachable || r == want[wantLocal] {
				continue
			}
			// The kernel matches a deletion by pref, table and action, and
			// takes pref 0 as "any": the first local rule in lookup order,
			// which is this one.
			if err := s.write("delete rule "+r.String()+" in router netns", func() error {
				return changeRule(s.router.sock, unix.RTM_DELRULE, r)
			}); err != nil {
				s.fail(err)
				continue
			}
			s.record(Deleted, "router", "rule", r.String(), "")
		}
	}
}
