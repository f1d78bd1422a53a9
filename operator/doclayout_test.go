// The layout the README and docs/architecture.md describe is checked
// against the module's real packages, so a package added or moved without
// its line in both fails here. It sits beside layering_test.go, the other
// test of the module's shape.
package operator_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsNameEveryPackage: the README's layout table and the code layout
// of docs/architecture.md name every package of the module (each with its
// job beside it), and every path they name exists.
func TestDocsNameEveryPackage(t *testing.T) {
	root := ".."
	packages := modulePackages(t)
	docs := map[string][]string{
		"README.md layout table":           readmeLayoutPaths(t, filepath.Join(root, "README.md")),
		"docs/architecture.md code layout": architectureLayoutPaths(t, filepath.Join(root, "docs/architecture.md")),
	}
	for doc, named := range docs {
		t.Run(doc, func(t *testing.T) {
			if len(named) == 0 {
				t.Fatal("names no path: was its heading renamed?")
			}
			for _, p := range packages {
				if !slices.Contains(named, p) {
					t.Errorf("package %s is not named; add it with its one job", p)
				}
			}
			for _, p := range named {
				if _, err := os.Stat(filepath.Join(root, p)); err != nil {
					t.Errorf("names %s, which does not exist: %v", p, err)
				}
			}
		})
	}
}

// modulePackages lists the module's packages that have non-test Go
// files, as paths from the repository's root.
func modulePackages(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{if .GoFiles}}{{.ImportPath}}{{end}}", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []string
	for _, line := range strings.Fields(string(out)) {
		pkgs = append(pkgs, strings.TrimPrefix(line, module+"/"))
	}
	return pkgs
}

// section returns the text of a markdown file from the heading to the next
// heading of the same level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	rest := text[start+len(heading)+2:]
	level := heading[:strings.Index(heading, " ")+1]
	if end := strings.Index(rest, "\n"+level); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

var backticked = regexp.MustCompile("`([^`]+)`")

// readmeLayoutPaths returns the paths in the first column of the README's
// layout table ("x/" names folder x).
func readmeLayoutPaths(t *testing.T, file string) []string {
	var paths []string
	for _, line := range strings.Split(section(t, file, "## Layout"), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			paths = append(paths, strings.TrimSuffix(m[1], "/"))
		}
	}
	return paths
}

// architectureLayoutPaths returns the paths in the left column of the
// code layout block of docs/architecture.md: before the first run of two
// spaces, separated by ", ".
func architectureLayoutPaths(t *testing.T, file string) []string {
	sec := section(t, file, "## Code layout")
	start := strings.Index(sec, "```\n")
	end := strings.LastIndex(sec, "```")
	if start < 0 || end <= start {
		t.Fatalf("%s: the code layout has no code block", file)
	}
	var paths []string
	for _, line := range strings.Split(sec[start+4:end], "\n") {
		left, _, _ := strings.Cut(line, "  ")
		for _, p := range strings.Split(left, ", ") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
	}
	return paths
}
