// Package topology reads containerlab topology files (*.clab.yml), the
// contract between the simulator's providers and `containerlab deploy`. It
// understands the subset the perouter labs use and rejects everything else,
// so a file that pesim accepts means the same thing to containerlab.
package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Node kinds the simulator knows.
const (
	KindLinux        = "linux"         // a container: an FRR router or a plain host
	KindBridge       = "bridge"        // a Linux bridge joining its endpoints
	KindK8sKind      = "k8s-kind"      // a kind cluster; its members are ext-container nodes
	KindExtContainer = "ext-container" // a container created elsewhere (a kind cluster member)
)

// Role is what a node is for the simulator; it follows from the kind and binds.
type Role string

const (
	// RoleRouter is a linux node with an FRR config bound to /etc/frr/frr.conf.
	RoleRouter Role = "router"
	// RoleHost is a linux node without FRR.
	RoleHost Role = "host"
	// RoleBridge is a bridge node.
	RoleBridge Role = "bridge"
	// RoleCluster is the k8s-kind node describing the cluster itself.
	RoleCluster Role = "cluster"
	// RoleClusterNode is a cluster member (ext-container).
	RoleClusterNode Role = "cluster-node"
)

// FRRConfigPath is where containerlab nodes expect their FRR config.
const FRRConfigPath = "/etc/frr/frr.conf"

// file mirrors the containerlab schema subset; unknown fields are errors.
type file struct {
	Name     string   `json:"name"`
	Prefix   *string  `json:"prefix,omitempty"`
	Topology topology `json:"topology"`
}

type topology struct {
	Defaults *nodeSpec           `json:"defaults,omitempty"`
	Kinds    map[string]nodeSpec `json:"kinds,omitempty"`
	Groups   map[string]nodeSpec `json:"groups,omitempty"`
	Nodes    map[string]nodeSpec `json:"nodes"`
	Links    []linkSpec          `json:"links"`
}

type nodeSpec struct {
	Kind          string            `json:"kind,omitempty"`
	Group         string            `json:"group,omitempty"`
	Image         string            `json:"image,omitempty"`
	Cmd           string            `json:"cmd,omitempty"`
	StartupConfig string            `json:"startup-config,omitempty"`
	Binds         []string          `json:"binds,omitempty"`
	Exec          []string          `json:"exec,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

type linkSpec struct {
	Endpoints []string `json:"endpoints"`
}

// Lab is a parsed, validated topology.
type Lab struct {
	Name string
	// Path is the absolute path of the topology file.
	Path string
	// Nodes are sorted by name.
	Nodes []Node
	Links []Link
}

// Node is one node with its group, kind and defaults already merged in, the
// way containerlab resolves them (node, then group, then kind, then defaults).
type Node struct {
	Name  string
	Kind  string
	Role  Role
	Image string
	Cmd   string
	// StartupConfig is an absolute host path (k8s-kind: the kind config).
	StartupConfig string
	Binds         []Bind
	// Exec are commands containerlab runs in the node after it started.
	Exec   []string
	Env    map[string]string
	Labels map[string]string
}

// Bind maps a host file into the node.
type Bind struct {
	// Host is absolute, resolved against the topology file's directory.
	Host      string
	Container string
	Options   string
}

// Endpoint is one end of a link.
type Endpoint struct {
	Node      string
	Interface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Interface }

// Link is a point-to-point link (a veth pair).
type Link struct {
	A, B Endpoint
}

// Load reads and validates a topology file.
func Load(path string) (*Lab, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	lab, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	lab.Path = abs
	return lab, nil
}

var (
	// Lab and node names end up in namespace and directory names.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
	ifaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)
)

// Parse validates topology data; relative bind and startup-config paths are
// resolved against dir and must exist.
func Parse(data []byte, dir string) (*Lab, error) {
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(f.Name) {
		return nil, fmt.Errorf("name: %q is not a valid lab name (letters, digits, '_', '.', '-')", f.Name)
	}
	if len(f.Topology.Nodes) == 0 {
		return nil, errors.New("topology.nodes: no nodes")
	}
	lab := &Lab{Name: f.Name}
	var errs []error
	names := make([]string, 0, len(f.Topology.Nodes))
	for name := range f.Topology.Nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	nodes := map[string]*Node{}
	for _, name := range names {
		n, err := resolveNode(name, f.Topology, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lab.Nodes = append(lab.Nodes, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range lab.Nodes {
		nodes[lab.Nodes[i].Name] = &lab.Nodes[i]
	}
	used := map[Endpoint]int{}
	for i, l := range f.Topology.Links {
		field := fmt.Sprintf("topology.links[%d].endpoints", i)
		if len(l.Endpoints) != 2 {
			errs = append(errs, fmt.Errorf("%s: want 2 endpoints, got %d", field, len(l.Endpoints)))
			continue
		}
		var ends [2]Endpoint
		ok := true
		for j, s := range l.Endpoints {
			ep, err := parseEndpoint(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", field, j, err))
				ok = false
				continue
			}
			n, found := nodes[ep.Node]
			switch {
			case !found:
				errs = append(errs, fmt.Errorf("%s[%d]: node %q is not in topology.nodes", field, j, ep.Node))
				ok = false
			case n.Role == RoleCluster:
				errs = append(errs, fmt.Errorf("%s[%d]: node %q is a %s cluster; link its members (ext-container nodes) instead", field, j, ep.Node, KindK8sKind))
				ok = false
			}
			if prev, dup := used[ep]; dup {
				errs = append(errs, fmt.Errorf("%s[%d]: %s is already used by topology.links[%d]", field, j, ep, prev))
				ok = false
			}
			used[ep] = i
			ends[j] = ep
		}
		if ok && ends[0].Node == ends[1].Node {
			errs = append(errs, fmt.Errorf("%s: both ends are on node %q", field, ends[0].Node))
			continue
		}
		if ok {
			lab.Links = append(lab.Links, Link{A: ends[0], B: ends[1]})
		}
	}
	// containerlab creates a bridge node's ports in the host namespace, so
	// their names must be unique across all bridges.
	bridgePorts := map[string]string{}
	for _, l := range lab.Links {
		for _, ep := range []Endpoint{l.A, l.B} {
			if nodes[ep.Node].Role != RoleBridge {
				continue
			}
			if other, dup := bridgePorts[ep.Interface]; dup {
				errs = append(errs, fmt.Errorf("link %s: bridge port name %q is also used on bridge %q; bridge ports live in one namespace and must be unique", ep, ep.Interface, other))
			}
			bridgePorts[ep.Interface] = ep.Node
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return lab, nil
}

func parseEndpoint(s string) (Endpoint, error) {
	node, iface, ok := strings.Cut(s, ":")
	if !ok || node == "" || iface == "" {
		return Endpoint{}, fmt.Errorf("%q is not NODE:INTERFACE", s)
	}
	if !ifaceRE.MatchString(iface) {
		return Endpoint{}, fmt.Errorf("%q: interface name %q is not a valid Linux name of at most 15 characters", s, iface)
	}
	return Endpoint{Node: node, Interface: iface}, nil
}

func resolveNode(name string, t topology, dir string) (Node, error) {
	field := "topology.nodes." + name
	if !nameRE.MatchString(name) {
		return Node{}, fmt.Errorf("%s: %q is not a valid node name", field, name)
	}
	spec := t.Nodes[name]
	layers := []nodeSpec{spec}
	if spec.Group != "" {
		g, ok := t.Groups[spec.Group]
		if !ok {
			return Node{}, fmt.Errorf("%s.group: group %q is not in topology.groups", field, spec.Group)
		}
		layers = append(layers, g)
	}
	kind := firstNonEmpty(layers, func(s nodeSpec) string { return s.Kind })
	if kind == "" && t.Defaults != nil {
		kind = t.Defaults.Kind
	}
	if k, ok := t.Kinds[kind]; ok {
		layers = append(layers, k)
	}
	if t.Defaults != nil {
		layers = append(layers, *t.Defaults)
	}
	n := Node{
		Name:          name,
		Kind:          kind,
		Image:         firstNonEmpty(layers, func(s nodeSpec) string { return s.Image }),
		Cmd:           firstNonEmpty(layers, func(s nodeSpec) string { return s.Cmd }),
		StartupConfig: firstNonEmpty(layers, func(s nodeSpec) string { return s.StartupConfig }),
		Env:           mergeMaps(layers, func(s nodeSpec) map[string]string { return s.Env }),
		Labels:        mergeMaps(layers, func(s nodeSpec) map[string]string { return s.Labels }),
	}
	// containerlab takes exec from the most specific layer that sets it.
	for _, l := range layers {
		if l.Exec != nil {
			n.Exec = slices.Clone(l.Exec)
			break
		}
	}
	// Binds accumulate across layers; a more specific layer wins for the
	// same container path.
	seen := map[string]bool{}
	for _, l := range layers {
		for i, b := range l.Binds {
			bind, err := parseBind(b, dir)
			if err != nil {
				return Node{}, fmt.Errorf("%s.binds[%d]: %w", field, i, err)
			}
			if seen[bind.Container] {
				continue
			}
			seen[bind.Container] = true
			n.Binds = append(n.Binds, bind)
		}
	}
	if n.StartupConfig != "" {
		p := absUnder(dir, n.StartupConfig)
		if _, err := os.Stat(p); err != nil {
			return Node{}, fmt.Errorf("%s.startup-config: %w", field, err)
		}
		n.StartupConfig = p
	}
	switch kind {
	case KindLinux:
		n.Role = RoleHost
		if _, ok := n.Bind(FRRConfigPath); ok {
			n.Role = RoleRouter
		}
		if n.Image == "" {
			return Node{}, fmt.Errorf("%s.image: a %s node needs an image", field, kind)
		}
	case KindBridge:
		n.Role = RoleBridge
		if len(n.Binds) > 0 || len(n.Exec) > 0 {
			return Node{}, fmt.Errorf("%s: a %s node takes no binds or exec", field, kind)
		}
		if !ifaceRE.MatchString(name) {
			return Node{}, fmt.Errorf("%s: a %s node's name is its device name and must be a valid Linux interface name of at most 15 characters", field, kind)
		}
	case KindK8sKind:
		n.Role = RoleCluster
	case KindExtContainer:
		n.Role = RoleClusterNode
	case "":
		return Node{}, fmt.Errorf("%s.kind: missing (want one of %s, %s, %s, %s)", field, KindLinux, KindBridge, KindK8sKind, KindExtContainer)
	default:
		return Node{}, fmt.Errorf("%s.kind: %q is not supported by the simulator (want one of %s, %s, %s, %s)", field, kind, KindLinux, KindBridge, KindK8sKind, KindExtContainer)
	}
	return n, nil
}

func parseBind(s, dir string) (Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Bind{}, fmt.Errorf("%q is not HOST:CONTAINER[:OPTIONS]", s)
	}
	b := Bind{Host: absUnder(dir, parts[0]), Container: parts[1]}
	if len(parts) == 3 {
		b.Options = parts[2]
	}
	if !filepath.IsAbs(b.Container) {
		return Bind{}, fmt.Errorf("%q: container path %q is not absolute", s, b.Container)
	}
	if _, err := os.Stat(b.Host); err != nil {
		return Bind{}, fmt.Errorf("%q: %w", s, err)
	}
	return b, nil
}

func absUnder(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func firstNonEmpty(layers []nodeSpec, get func(nodeSpec) string) string {
	for _, l := range layers {
		if v := get(l); v != "" {
			return v
		}
	}
	return ""
}

func mergeMaps(layers []nodeSpec, get func(nodeSpec) map[string]string) map[string]string {
	var out map[string]string
	for i := len(layers) - 1; i >= 0; i-- {
		for k, v := range get(layers[i]) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Bind returns the bind whose container path is containerPath.
func (n Node) Bind(containerPath string) (Bind, bool) {
	for _, b := range n.Binds {
		if b.Container == containerPath {
			return b, true
		}
	}
	return Bind{}, false
}

// HostPath rewrites a container path that is bound from the host to the
// host path, so a provider without containers can run the node's exec
// commands (e.g. "sh /setup.sh"); other paths are returned unchanged.
func (n Node) HostPath(containerPath string) string {
	if b, ok := n.Bind(containerPath); ok {
		return b.Host
	}
	return containerPath
}

// Node returns the node called name.
func (l *Lab) Node(name string) (Node, bool) {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// NodesWithRole lists the nodes of one role, sorted by name.
func (l *Lab) NodesWithRole(r Role) []Node {
	var out []Node
	for _, n := range l.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Across returns the endpoint at the other end of the link that ends at
// e, if a link does.
func (l *Lab) Across(e Endpoint) (Endpoint, bool) {
	for _, link := range l.Links {
		switch e {
		case link.A:
			return link.B, true
		case link.B:
			return link.A, true
		}
	}
	return Endpoint{}, false
}

// LinksOf lists the links with an end on node.
func (l *Lab) LinksOf(node string) []Link {
	var out []Link
	for _, link := range l.Links {
		if link.A.Node == node || link.B.Node == node {
			out = append(out, link)
		}
	}
	return out
}

// SplitCommand splits an exec line into arguments the way a shell would
// for the simple quoting containerlab users write: whitespace separates,
// single and double quotes group.
func SplitCommand(s string) ([]string, error) {
	var args []string
	var cur bytes.Buffer
	inArg := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inArg = true
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: unterminated %c quote", s, quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
