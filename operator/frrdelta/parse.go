// Package frrdelta computes the vtysh commands that turn one FRR
// configuration into another, so that a small change to a large config costs
// a few commands instead of a full frr-reload.py run. It handles the
// stanzas operator/frr renders (vrf, router bgp with address families,
// route-map, bfd with profiles and peers, interface, top-level lines such as
// prefix and community lists) and refuses, with a reason, every change it
// cannot apply safely; the caller then does a full reload.
package frrdelta

import (
	"fmt"
	"slices"
	"strings"
)

// Context is one configuration stanza: Path holds its header lines from the
// outermost (e.g. ["router bgp 64514 vrf red", "address-family l2vpn evpn"]),
// Lines its body in text order, without nested stanzas. The top-level lines
// outside every stanza form the context with an empty Path.
type Context struct {
	Path  []string
	Lines []string

	lineSet map[string]bool
}

// Key identifies a context within a Config.
func (c *Context) Key() string { return strings.Join(c.Path, "\n") }

func (c *Context) has(line string) bool { return c.lineSet[line] }

func (c *Context) add(line string) {
	if c.lineSet[line] {
		return
	}
	c.lineSet[line] = true
	c.Lines = append(c.Lines, line)
}

// Config is a parsed FRR configuration.
type Config struct {
	// Contexts in text order; a nested context follows its parent. The
	// top-level context (empty Path) is always first.
	Contexts []*Context
	// Defaults is the "frr defaults" profile, which changes the meaning of
	// every other line.
	Defaults string

	byKey map[string]*Context
}

// Context returns the context with the given path, or nil.
func (c *Config) Context(path ...string) *Context { return c.byKey[strings.Join(path, "\n")] }

func (c *Config) context(path []string) *Context {
	key := strings.Join(path, "\n")
	if ctx, ok := c.byKey[key]; ok {
		return ctx
	}
	ctx := &Context{Path: slices.Clone(path), lineSet: map[string]bool{}}
	c.byKey[key] = ctx
	c.Contexts = append(c.Contexts, ctx)
	return ctx
}

// ParseError names the line FRR text could not be placed into a context.
type ParseError struct {
	Line int
	Text string
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("frrdelta: line %d %q: %s", e.Line, e.Text, e.Msg)
}

// kind describes a stanza type: how its header looks and how it is closed.
type kind struct {
	name string
	// exit is the command that leaves the stanza.
	exit string
	// ends are the lines that close the stanza in config text.
	ends []string
	// children are the kinds that may open inside this one.
	children []*kind
}

var (
	kindVNI = &kind{name: "vni", exit: "exit-vni", ends: []string{"exit-vni"}}
	kindAF  = &kind{name: "address-family", exit: "exit-address-family", ends: []string{"exit-address-family", "exit"}, children: []*kind{kindVNI}}
	kindBGP = &kind{name: "router bgp", exit: "exit", ends: []string{"exit"}, children: []*kind{kindAF}}
	kindVRF = &kind{name: "vrf", exit: "exit-vrf", ends: []string{"exit-vrf", "exit"}}
	// bfd's profiles and peers are closed by "exit" too; the parser pops
	// the innermost stanza on each "exit".
	kindBFDChild = &kind{name: "bfd child", exit: "exit", ends: []string{"exit"}}
	kindBFD      = &kind{name: "bfd", exit: "exit", ends: []string{"exit"}, children: []*kind{kindBFDChild}}
	kindRouteMap = &kind{name: "route-map", exit: "exit", ends: []string{"exit"}}
	kindIface    = &kind{name: "interface", exit: "exit", ends: []string{"exit"}}
)

// opens returns the kind of stanza a line opens inside parent (nil: top level),
// or nil when the line is a plain command.
func opens(parent *kind, line string) *kind {
	switch firstWord(line) {
	case "router", "vrf", "bfd", "route-map", "interface", "address-family", "vni", "profile", "peer":
	default:
		return nil
	}
	f := strings.Fields(line)
	if parent == nil {
		switch {
		case len(f) >= 3 && f[0] == "router" && f[1] == "bgp":
			return kindBGP
		case len(f) == 2 && f[0] == "vrf":
			return kindVRF
		case len(f) == 1 && f[0] == "bfd":
			return kindBFD
		case len(f) >= 3 && f[0] == "route-map":
			return kindRouteMap
		case len(f) >= 2 && f[0] == "interface":
			return kindIface
		}
		return nil
	}
	switch parent {
	case kindBGP:
		if f[0] == "address-family" {
			return kindAF
		}
	case kindAF:
		if len(f) == 2 && f[0] == "vni" {
			return kindVNI
		}
	case kindBFD:
		if len(f) >= 2 && (f[0] == "profile" || f[0] == "peer") {
			return kindBFDChild
		}
	}
	return nil
}

// unsupportedTop are top-level words that open stanzas this package does
// not model; a config using them is refused rather than misread.
var unsupportedTop = []string{"router", "line", "key", "segment-routing", "mpls", "pseudowire", "nexthop-group", "rpki", "evpn", "pbr-map", "srv6", "affinity-map"}

// Parse reads FRR configuration text, as rendered or as printed by "show
// running-config". Comments, "!" separators, "end" and the "frr version"
// banner are dropped; whitespace inside a line is collapsed.
func Parse(text string) (*Config, error) {
	cfg := &Config{byKey: map[string]*Context{}}
	root := cfg.context(nil)
	type frame struct {
		kind *kind
		ctx  *Context
	}
	var stack []frame
	for i, raw := range strings.Split(text, "\n") {
		indented := raw != "" && (raw[0] == ' ' || raw[0] == '\t')
		line := normalize(raw)
		switch {
		case line == "" || line == "!" || strings.HasPrefix(line, "! ") || strings.HasPrefix(line, "#"):
			continue
		case i < 4 && (line == "Building configuration..." || line == "Current configuration:"):
			continue
		case line == "end":
			stack = stack[:0]
			continue
		case strings.HasPrefix(line, "frr version "):
			continue
		case strings.HasPrefix(line, "frr defaults "):
			cfg.Defaults = strings.TrimPrefix(line, "frr defaults ")
			continue
		}
		// An unindented line that is not a stanza end closes every open
		// stanza: configs written without "exit" rely on that.
		if !indented && len(stack) > 0 && !slices.Contains(stack[len(stack)-1].kind.ends, line) {
			stack = stack[:0]
		}
		if len(stack) > 0 && slices.Contains(stack[len(stack)-1].kind.ends, line) {
			stack = stack[:len(stack)-1]
			continue
		}
		var parent *kind
		cur := root
		if len(stack) > 0 {
			parent, cur = stack[len(stack)-1].kind, stack[len(stack)-1].ctx
		}
		if k := opens(parent, line); k != nil {
			path := append(slices.Clip(cur.Path), line)
			stack = append(stack, frame{kind: k, ctx: cfg.context(path)})
			continue
		}
		if parent == nil {
			if indented {
				return nil, &ParseError{Line: i + 1, Text: raw, Msg: "indented line outside any known stanza"}
			}
			if slices.Contains(unsupportedTop, firstWord(line)) && isStanzaOpener(line) {
				return nil, &ParseError{Line: i + 1, Text: raw, Msg: "stanza type not handled incrementally"}
			}
		}
		cur.add(line)
	}
	return cfg, nil
}

// normalize trims a line and collapses runs of blanks, allocating only
// when the line needs it.
func normalize(raw string) string {
	line := strings.TrimSpace(raw)
	if !strings.Contains(line, "  ") && !strings.ContainsRune(line, '\t') {
		return line
	}
	return strings.Join(strings.Fields(line), " ")
}

func firstWord(line string) string {
	if i := strings.IndexByte(line, ' '); i >= 0 {
		return line[:i]
	}
	return line
}

// isStanzaOpener tells top-level lines that open a stanza this package does
// not model from one-line commands sharing their first word ("debug bgp
// updates" is a line; "router ospf" opens a stanza).
func isStanzaOpener(line string) bool {
	f := strings.Fields(line)
	switch f[0] {
	case "router", "segment-routing", "pseudowire", "nexthop-group", "rpki", "pbr-map", "srv6", "affinity-map":
		return true
	case "line":
		return len(f) > 1 && f[1] == "vty"
	case "key":
		return len(f) > 1 && f[1] == "chain"
	case "mpls":
		return len(f) > 1 && f[1] == "ldp"
	case "evpn":
		return len(f) > 1 && f[1] == "mh"
	}
	return false
}

// Canonical prints a config with contexts and their lines sorted, so that
// two configs FRR considers equal print equal regardless of the order in
// which their stanzas were created.
func Canonical(text string) (string, error) {
	cfg, err := Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if cfg.Defaults != "" {
		fmt.Fprintf(&b, "frr defaults %s\n", cfg.Defaults)
	}
	ctxs := slices.Clone(cfg.Contexts)
	slices.SortFunc(ctxs, func(a, b *Context) int { return slices.Compare(a.Path, b.Path) })
	for _, c := range ctxs {
		if len(c.Lines) == 0 && kindOf(c.Path) == kindAF {
			// FRR prints no empty address family.
			continue
		}
		if len(c.Path) > 0 {
			fmt.Fprintf(&b, "[%s]\n", strings.Join(c.Path, " / "))
		}
		lines := slices.Clone(c.Lines)
		slices.Sort(lines)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String(), nil
}
