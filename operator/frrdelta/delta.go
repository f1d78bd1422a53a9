package frrdelta

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// RefusedError says the change needs a full reload: it touches something
// this package does not change incrementally, or it is too large for an
// incremental change to pay off.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "frrdelta: needs a full reload: " + e.Reason }

// IsRefused reports whether err asks for a full reload.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

const (
	// DefaultMaxChangedLines bounds an incremental change: beyond a few
	// thousand commands a full reload's diff is as cheap and better tested.
	DefaultMaxChangedLines = 2000
	// alwaysSmall changes are applied incrementally even in tiny configs,
	// where any change is a large fraction.
	alwaysSmall = 32
)

// Options tune Compute.
type Options struct {
	// MaxChangedLines: larger changes are refused. 0 means DefaultMaxChangedLines.
	MaxChangedLines int
	// MaxChangedFraction, when positive, refuses changes that remove or
	// replace lines and change more than this fraction of the new config's
	// lines (and more than a few lines). Zero sets no such limit: a large
	// delta costs less than a full reload, and a failed one falls back to
	// it anyway (operator/reloader). Changes that only add are never
	// refused by it: they are what FRR's own start-up load does.
	MaxChangedFraction float64
}

// Delta is the change from one config to another.
type Delta struct {
	// Commands are vtysh configuration-mode commands, indented by stanza
	// depth, that turn the old config into the new one: deletions first
	// (innermost and last stanzas first), then additions in the new
	// config's order.
	Commands []string
	// Changed counts the lines and stanza headers added or removed.
	Changed int
	// Created and Removed are the top-level stanza headers (e.g. "router
	// bgp 64514 vrf red") that the change creates or removes; a caller can
	// check them against FRR's running config.
	Created, Removed []string
	// Then are top-level removals that must wait until FRR has digested
	// Commands: the BGP instance of a VRF whose L3VNI goes away, and that
	// VRF. bgpd refuses "no router bgp ASN vrf X" with "Please unconfigure
	// l3vni N" until zebra has told it the VNI is gone, which happens
	// asynchronously after Commands' "no vni N"; in one session the two
	// race (seen in the VM lane, and the node then refused every config).
	// Each is one command, to be retried until bgpd accepts it.
	Then []string
}

// Empty reports that the configs are equivalent.
func (d *Delta) Empty() bool { return len(d.Commands) == 0 && len(d.Then) == 0 }

// Script is the command text of Commands for "vtysh -f".
func (d *Delta) Script() string {
	if len(d.Commands) == 0 {
		return ""
	}
	return strings.Join(d.Commands, "\n") + "\n"
}

// Compute returns the commands that turn oldText into newText, or a
// *RefusedError when the change must be applied by a full reload.
func Compute(oldText, newText string, o Options) (*Delta, error) {
	if o.MaxChangedLines == 0 {
		o.MaxChangedLines = DefaultMaxChangedLines
	}
	oldCfg, err := Parse(oldText)
	if err != nil {
		return nil, refuse("old config: %v", err)
	}
	newCfg, err := Parse(newText)
	if err != nil {
		return nil, refuse("new config: %v", err)
	}
	if oldCfg.Defaults != newCfg.Defaults {
		return nil, refuse("frr defaults changed from %q to %q", oldCfg.Defaults, newCfg.Defaults)
	}
	if err := checkDefaultBGP(oldCfg, newCfg); err != nil {
		return nil, err
	}

	d := &Delta{}
	e := &emitter{}
	// removes counts old lines and stanzas the change drops or replaces.
	removes := 0

	// An L3VNI torn down: its VNI is unconfigured first, its BGP instance
	// and VRF later (see Delta.Then).
	later := l3vniTeardowns(oldCfg, newCfg)
	for _, t := range later {
		e.at([]string{t.vrf}, "no "+t.vni)
	}

	// Deletions, last stanza first: a VRF's BGP instance goes before the
	// VRF, an address family's lines before the neighbor they name.
	for i := len(oldCfg.Contexts) - 1; i >= 0; i-- {
		oc := oldCfg.Contexts[i]
		nc := newCfg.byKey[oc.Key()]
		if nc == nil {
			removes++
			if removedWithAncestor(oc.Path, newCfg) {
				d.Changed += 1 + len(oc.Lines)
				continue
			}
			d.Changed += 1 + len(oc.Lines)
			parent, k := oc.Path[:len(oc.Path)-1], kindOf(oc.Path)
			if k == kindAF {
				// No "no address-family": removing its lines empties it,
				// and FRR does not print an empty family.
				for j := len(oc.Lines) - 1; j >= 0; j-- {
					e.at(oc.Path, negate(oc.Lines[j]))
				}
				continue
			}
			if len(parent) == 0 && slices.ContainsFunc(later, func(t teardown) bool { return t.deferred(oc.Path[0]) }) {
				d.Then = append(d.Then, negate(oc.Path[0]))
				d.Removed = append(d.Removed, oc.Path[0])
				continue
			}
			e.at(parent, negate(oc.Path[len(oc.Path)-1]))
			if len(parent) == 0 {
				d.Removed = append(d.Removed, oc.Path[0])
			}
			continue
		}
		overridden := map[string]bool{}
		for _, l := range nc.Lines {
			if !oc.has(l) {
				if k := overrideKey(l); k != "" {
					overridden[k] = true
				}
			}
		}
		for j := len(oc.Lines) - 1; j >= 0; j-- {
			l := oc.Lines[j]
			if nc.has(l) {
				continue
			}
			d.Changed++
			removes++
			if k := overrideKey(l); k != "" && overridden[k] {
				// The new value replaces the old one in place; removing it
				// first would briefly drop the setting (e.g. a policy).
				continue
			}
			e.at(oc.Path, negate(l))
		}
	}
	// Additions in the new config's order, which is an order a full load
	// accepts (a VRF before its BGP instance, a neighbor before its
	// address-family lines).
	for _, nc := range newCfg.Contexts {
		oc := oldCfg.byKey[nc.Key()]
		if oc == nil {
			d.Changed += 1 + len(nc.Lines)
			// Entering a stanza creates it, even when it stays empty
			// (an empty route-map entry still permits).
			e.at(nc.Path, "")
			for _, l := range nc.Lines {
				e.at(nc.Path, l)
			}
			if len(nc.Path) == 1 {
				d.Created = append(d.Created, nc.Path[0])
			}
			continue
		}
		for _, l := range nc.Lines {
			if !oc.has(l) {
				d.Changed++
				e.at(nc.Path, l)
			}
		}
	}
	e.at(nil, "")
	d.Commands = e.out

	if d.Changed > o.MaxChangedLines {
		return nil, refuse("%d changed lines exceed the incremental limit (%d)", d.Changed, o.MaxChangedLines)
	}
	if limit := max(alwaysSmall, int(o.MaxChangedFraction*float64(lineCount(newCfg)))); o.MaxChangedFraction > 0 && removes > 0 && d.Changed > limit {
		return nil, refuse("%d changed lines exceed the incremental limit (%.0f%% of the new config)", d.Changed, 100*o.MaxChangedFraction)
	}
	return d, nil
}

// teardown is an L3VNI whose VRF loses its VNI along with its BGP instance.
type teardown struct {
	vrf, vni, bgp string // "vrf red", "vni 100", "router bgp 64514 vrf red"
}

// deferred reports whether removing the top-level stanza header waits for
// the VNI to be gone: the VRF's BGP instance, and the VRF itself (after
// the instance, as in any removal).
func (t teardown) deferred(header string) bool { return header == t.bgp || header == t.vrf }

// l3vniTeardowns finds the VRFs that had a VNI and a BGP instance and lose
// both, in the old config's order: the old config's L3VNIs (l3vnis, the
// one reader of them) whose VNI line and BGP instance the new one lacks.
func l3vniTeardowns(oldCfg, newCfg *Config) []teardown {
	var out []teardown
	for _, l := range l3vnis(oldCfg) {
		vrf := "vrf " + l.VRF
		if nc := newCfg.Context(vrf); nc != nil && nc.has(l.VNILine) {
			continue
		}
		if newCfg.Context(l.BGP) == nil {
			out = append(out, teardown{vrf: vrf, vni: l.VNILine, bgp: l.BGP})
		}
	}
	return out
}

func lineCount(c *Config) int {
	n := 0
	for _, ctx := range c.Contexts {
		n += 1 + len(ctx.Lines)
	}
	return n
}

// checkDefaultBGP refuses changes to the default BGP instance's identity:
// every VRF instance hangs off it, so FRR can only change them with a
// restart of the whole BGP configuration, which frr-reload.py orchestrates.
// Creating BGP where there was none at all is plain addition (the new
// config creates the default instance before the VRF ones).
func checkDefaultBGP(oldCfg, newCfg *Config) error {
	oldHdr, newHdr := defaultBGP(oldCfg), defaultBGP(newCfg)
	if oldHdr == "" && !hasBGP(oldCfg) {
		return nil
	}
	if oldHdr != newHdr {
		return refuse("default BGP instance changes from %q to %q", oldHdr, newHdr)
	}
	if oldHdr == "" {
		return nil
	}
	oldID := routerID(oldCfg.Context(oldHdr))
	newID := routerID(newCfg.Context(newHdr))
	if oldID != newID {
		return refuse("router-id of %q changes from %q to %q", oldHdr, oldID, newID)
	}
	return nil
}

func defaultBGP(c *Config) string {
	for _, ctx := range c.Contexts {
		if len(ctx.Path) == 1 && kindOf(ctx.Path) == kindBGP && !strings.Contains(ctx.Path[0], " vrf ") {
			return ctx.Path[0]
		}
	}
	return ""
}

func hasBGP(c *Config) bool {
	for _, ctx := range c.Contexts {
		if len(ctx.Path) == 1 && kindOf(ctx.Path) == kindBGP {
			return true
		}
	}
	return false
}

func routerID(c *Context) string {
	for _, l := range c.Lines {
		if strings.HasPrefix(l, "bgp router-id ") {
			return l
		}
	}
	return ""
}

// removedWithAncestor reports whether a stanza disappears with an ancestor
// that is removed by a single "no" command.
func removedWithAncestor(path []string, newCfg *Config) bool {
	for n := len(path) - 1; n >= 1; n-- {
		anc := path[:n]
		if newCfg.byKey[strings.Join(anc, "\n")] == nil && kindOf(anc) != kindAF {
			return true
		}
	}
	return false
}

func kindOf(path []string) *kind {
	var k *kind
	for _, h := range path {
		k = opens(k, h)
	}
	return k
}

func negate(line string) string {
	if rest, ok := strings.CutPrefix(line, "no "); ok {
		return rest
	}
	return "no " + line
}

// overrideKey names the setting a single-valued line sets: a new line with
// the same key replaces the old one, so the old needs no "no". Lines that
// may occur several times (route targets, prefix-list entries) have none.
func overrideKey(line string) string {
	f := strings.Fields(line)
	switch {
	case len(f) >= 4 && f[0] == "neighbor":
		peer, rest := f[1], f[2:]
		switch rest[0] {
		case "remote-as":
			return "neighbor " + peer + " remote-as"
		case "interface":
			if rest[1] == "remote-as" {
				return "neighbor " + peer + " remote-as"
			}
		case "password", "port", "ebgp-multihop", "description", "update-source", "ttl-security", "local-as", "advertisement-interval", "weight", "maximum-prefix", "allowas-in":
			return "neighbor " + peer + " " + rest[0]
		case "timers":
			if rest[1] == "connect" {
				return "neighbor " + peer + " timers connect"
			}
			return "neighbor " + peer + " timers"
		case "bfd":
			if rest[1] == "profile" {
				return "neighbor " + peer + " bfd profile"
			}
		case "route-map", "prefix-list", "filter-list", "distribute-list":
			if dir := rest[len(rest)-1]; dir == "in" || dir == "out" {
				return "neighbor " + peer + " " + rest[0] + " " + dir
			}
		}
	case len(f) == 3 && f[0] == "bgp" && f[1] == "router-id":
		return "bgp router-id"
	case len(f) == 2 && slices.Contains([]string{"receive-interval", "transmit-interval", "detect-multiplier", "echo-interval", "echo-receive-interval", "minimum-ttl", "hostname"}, f[0]):
		return f[0]
	case len(f) >= 3 && f[0] == "set":
		if f[1] == "ip" || f[1] == "ipv6" {
			return strings.Join(f[:3], " ")
		}
		return "set " + f[1]
	case len(f) >= 3 && f[0] == "match":
		return strings.Join(f[:len(f)-1], " ")
	}
	return ""
}

// emitter writes commands, entering and leaving stanzas only when the next
// command needs another one.
type emitter struct {
	cur []string
	out []string
}

func (e *emitter) at(path []string, line string) {
	n := 0
	for n < len(e.cur) && n < len(path) && e.cur[n] == path[n] {
		n++
	}
	for len(e.cur) > n {
		e.out = append(e.out, indent(len(e.cur)-1)+kindOf(e.cur).exit)
		e.cur = e.cur[:len(e.cur)-1]
	}
	for i := n; i < len(path); i++ {
		e.out = append(e.out, indent(i)+path[i])
		e.cur = append(e.cur, path[i])
	}
	if line != "" {
		e.out = append(e.out, indent(len(path))+line)
	}
}

func indent(depth int) string { return strings.Repeat(" ", depth) }
