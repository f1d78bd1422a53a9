// The import rules of operator/, checked against the module's real import
// graph so that nobody has to remember them. It sits at the root of operator/ because every rule is
// about operator/; `make test-unit` runs it with the other operator tests.
// .golangci.yml's depguard mirrors the rules for the imports a file makes
// itself, so editors flag them early; this test is the source of truth.
package operator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/perouter/perouter"

// A layeringRule forbids packages (from) to import some others (forbidden).
type layeringRule struct {
	from      func(importPath string) bool
	forbidden func(importPath string) bool
	// withTests counts the imports of from's tests too.
	withTests bool
	// transitive counts indirect imports (reported as the whole chain);
	// otherwise only from's own import lines count.
	transitive bool
}

// layeringRules are keyed by the rule's name, which every failure repeats.
var layeringRules = map[string]layeringRule{
	// The core is pure and fast: no I/O, no clocks, no Kubernetes client
	// (docs/architecture.md), so everything above it tests with plain inputs.
	"pure core imports no Kubernetes client, netlink or exec": {
		from:       under(module+"/operator/validate", module+"/operator/ipam", module+"/operator/nodeconfig", module+"/operator/frr", module+"/operator/devname", module+"/operator/convert"),
		forbidden:  under("k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/vishvananda/netlink", "github.com/vishvananda/netns", "os/exec"),
		transitive: true,
	},
	// The simulator is built on the operator; the reverse would make the
	// operator's tests depend on the lab.
	"operator does not import simulator": {
		from:       under(module + "/operator"),
		forbidden:  under(module + "/simulator"),
		withTests:  true,
		transitive: true,
	},
	// The kernel is reached through one package. Others reach it through
	// operator/hostnet, so only direct imports count.
	"only operator/hostnet imports netlink": {
		from: func(p string) bool {
			return under(module+"/operator")(p) && !under(module+"/operator/hostnet")(p)
		},
		forbidden: under("github.com/vishvananda/netlink"),
		withTests: true,
	},
}

// under matches each of the paths and the packages below them.
func under(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, path := range paths {
			if p == path || strings.HasPrefix(p, path+"/") {
				return true
			}
		}
		return false
	}
}

// goPackage holds the fields of `go list -json` the rules need.
type goPackage struct {
	ImportPath   string
	ForTest      string // set on a package recompiled for another's test
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestLayering(t *testing.T) {
	graph := moduleImportGraph(t)
	for name, rule := range layeringRules {
		t.Run(name, func(t *testing.T) {
			var constrained int
			for _, p := range slices.Sorted(maps.Keys(graph)) {
				if !rule.from(p) {
					continue
				}
				constrained++
				for _, chain := range rule.violations(graph, p) {
					t.Errorf("%s imports %s", trim(p), chain)
				}
			}
			if constrained == 0 {
				t.Errorf("the rule constrains no package of the module; was a package renamed?")
			}
		})
	}
}

// The rules run on small made-up graphs too, so that a rule that could no
// longer fail (a typo in a path, a lost test import) fails here.
func TestLayeringRulesCatchViolations(t *testing.T) {
	op, sim := module+"/operator", module+"/simulator"
	tests := map[string]struct {
		graph map[string]goPackage
		want  []string // "package: chain" for every violation
	}{
		"pure core imports no Kubernetes client, netlink or exec": {
			graph: graphOf(
				goPackage{ImportPath: op + "/validate", Imports: []string{op + "/api/v1alpha1"}},
				goPackage{ImportPath: op + "/api/v1alpha1", Imports: []string{"sigs.k8s.io/controller-runtime/pkg/scheme"}},
				goPackage{ImportPath: "sigs.k8s.io/controller-runtime/pkg/scheme"},
				// Tests of the core may exec real FRR.
				goPackage{ImportPath: op + "/frr", TestImports: []string{"os/exec"}},
				goPackage{ImportPath: op + "/frrdelta", Imports: []string{"os/exec"}},
				goPackage{ImportPath: "os/exec"},
			),
			want: []string{"operator/validate: operator/api/v1alpha1 → sigs.k8s.io/controller-runtime/pkg/scheme"},
		},
		"operator does not import simulator": {
			graph: graphOf(
				goPackage{ImportPath: op + "/reloader", XTestImports: []string{op + "/frrproc"}},
				goPackage{ImportPath: op + "/frrproc", Imports: []string{sim + "/frrd"}},
				goPackage{ImportPath: sim + "/frrd"},
				goPackage{ImportPath: sim + "/netns", Imports: []string{op + "/frrproc"}},
			),
			want: []string{
				"operator/frrproc: simulator/frrd",
				"operator/reloader: (test) operator/frrproc → simulator/frrd",
			},
		},
		"only operator/hostnet imports netlink": {
			graph: graphOf(
				goPackage{ImportPath: op + "/hostnet", Imports: []string{"github.com/vishvananda/netlink"}},
				goPackage{ImportPath: op + "/controller", Imports: []string{op + "/hostnet"}, TestImports: []string{"github.com/vishvananda/netlink/nl"}},
				goPackage{ImportPath: "github.com/vishvananda/netlink"},
				goPackage{ImportPath: "github.com/vishvananda/netlink/nl"},
			),
			want: []string{"operator/controller: (test) github.com/vishvananda/netlink/nl"},
		},
	}
	for name := range layeringRules {
		if _, ok := tests[name]; !ok {
			t.Errorf("rule %q has no case here", name)
		}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rule, ok := layeringRules[name]
			if !ok {
				t.Fatalf("no rule %q", name)
			}
			var got []string
			for _, p := range slices.Sorted(maps.Keys(tc.graph)) {
				if !rule.from(p) {
					continue
				}
				for _, chain := range rule.violations(tc.graph, p) {
					got = append(got, trim(p)+": "+chain)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// violations returns, for each forbidden package that from reaches, the
// shortest import chain to it ("a → b → forbidden"; "(test)" when the first
// step is an import of from's tests). The search does not go past a
// forbidden package, so one bad import is reported once, not with its deps.
func (r layeringRule) violations(graph map[string]goPackage, from string) []string {
	type step struct {
		path string
		prev *step
		test bool
	}
	start := graph[from]
	var queue []*step
	seen := map[string]bool{from: true}
	enqueue := func(prev *step, paths []string, test bool) {
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, &step{path: p, prev: prev, test: test})
			}
		}
	}
	enqueue(nil, start.Imports, false)
	if r.withTests {
		enqueue(nil, start.TestImports, true)
		enqueue(nil, start.XTestImports, true)
	}
	var chains []string
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if r.forbidden(s.path) {
			var names []string
			first := s
			for x := s; x != nil; x = x.prev {
				names = append(names, trim(x.path))
				first = x
			}
			slices.Reverse(names)
			chain := strings.Join(names, " → ")
			if first.test {
				chain = "(test) " + chain
			}
			chains = append(chains, chain)
			continue
		}
		if r.transitive {
			enqueue(s, graph[s.path].Imports, false)
		}
	}
	slices.Sort(chains)
	return chains
}

// moduleImportGraph lists every package of the module and everything its
// code and tests import, from `go list` (the same resolution as the build).
func moduleImportGraph(t *testing.T) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,ForTest,Imports,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		// With -test, go list adds test variants ("p [q.test]") and test
		// mains ("p.test"); the plain packages carry every edge the rules need.
		if p.ForTest != "" || strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		graph[p.ImportPath] = p
	}
	return graph
}

func graphOf(pkgs ...goPackage) map[string]goPackage {
	g := map[string]goPackage{}
	for _, p := range pkgs {
		g[p.ImportPath] = p
	}
	return g
}

// trim shortens the module's own paths in messages.
func trim(p string) string { return strings.TrimPrefix(p, module+"/") }
