package convert

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
)

// The upstream corpus is upstream OpenPERouter's own manifests
// (config/samples, examples, and each YAML block of the website's pages as
// PAGE.md/block-N.yaml) of main and of v0.2.0, each file under its
// upstream path, with a header naming the upstream path and commit. It is
// upstream's data, so it is not committed here: the workplace keeps data
// taken from other repositories in the shared directory beside the
// checkout (../shared/upstream-corpus), or wherever
// PEROUTER_UPSTREAM_CORPUS points. What perouter makes of each file is
// ours and is committed: testdata/upstream-expectations.yaml.
const expectationsFile = "testdata/upstream-expectations.yaml"

// corpusDir finds the upstream corpus, or skips the test saying where it
// looked (docs/migrating.md, "How this was measured").
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("PEROUTER_UPSTREAM_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "upstream-corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "main")); err != nil {
		tb.Skipf("upstream corpus not found (%v): it is upstream's data and lives outside the repository; set PEROUTER_UPSTREAM_CORPUS to a directory with main/ and v0.2.0/", err)
	}
	return dir
}

// expectation is what perouter makes of one corpus file; see
// testdata/upstream-expectations.yaml. Outcomes are "accepted" or
// "refused: SUBSTRING" (of the problems printed).
type expectation struct {
	// APIVersionOnly is the outcome of perouterctl validate after only the
	// apiVersion is changed (main's files only: v0.2.0's names differ).
	APIVersionOnly string `json:"apiVersionOnly,omitempty"`
	// Convert is the outcome of perouterctl convert of the file alone,
	// then perouterctl validate of what it printed.
	Convert string `json:"convert"`
	// Why explains a refusal, or an acceptance that upstream would refuse.
	Why string `json:"why,omitempty"`
}

func loadExpectations(t *testing.T) map[string]expectation {
	t.Helper()
	data, err := os.ReadFile(expectationsFile)
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]expectation
	if err := yaml.UnmarshalStrict(data, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func corpusFiles(t *testing.T, corpus string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.ToSlash(strings.TrimPrefix(p, corpus+"/")))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// validateManifests runs data through perouterctl validate's path without
// nodes: the strict decoder, then every rule of validate.Set. Warnings
// (references to absent objects, selectors that may meet) are not
// problems, as for perouterctl.
func validateManifests(data []byte) []string {
	set, err := objects.Decode(bytes.NewReader(data))
	var problems []string
	for _, e := range objects.Errors(err) {
		problems = append(problems, e.Error())
	}
	for _, e := range validate.Set(set) {
		problems = append(problems, e.Error())
	}
	return problems
}

// checkOutcome compares problems with an expected outcome.
func checkOutcome(t *testing.T, what, want string, problems []string) {
	t.Helper()
	got := strings.Join(problems, "\n")
	switch {
	case want == "accepted":
		if len(problems) > 0 {
			t.Errorf("%s: expected accepted, refused with:\n%s", what, got)
		}
	case strings.HasPrefix(want, "refused: "):
		sub := strings.TrimPrefix(want, "refused: ")
		if len(problems) == 0 {
			t.Errorf("%s: expected refused with %q, accepted", what, sub)
		} else if !strings.Contains(got, sub) {
			t.Errorf("%s: expected refused with %q, refused with:\n%s", what, sub, got)
		}
	default:
		t.Errorf("%s: outcome %q is neither accepted nor refused: ...", what, want)
	}
}

func TestCorpusHasExpectations(t *testing.T) {
	exp := loadExpectations(t)
	corpus := corpusDir(t)
	files := corpusFiles(t, corpus)
	for _, f := range files {
		e, ok := exp[f]
		switch {
		case !ok:
			t.Errorf("%s has no entry in %s", f, expectationsFile)
		case strings.HasPrefix(f, "main/") && e.APIVersionOnly == "":
			t.Errorf("%s: main's files need apiVersionOnly", f)
		}
		data, err := os.ReadFile(filepath.Join(corpus, f))
		if err != nil {
			t.Fatal(err)
		}
		// A website page's YAML blocks are files named PAGE.md/block-N.yaml.
		upstreamPath := strings.SplitN(f, "/", 2)[1]
		if page, _, isBlock := strings.Cut(upstreamPath, ".md/"); isBlock {
			upstreamPath = page + ".md"
		}
		if !bytes.Contains(data, []byte("# github.com/openperouter/openperouter "+upstreamPath+" at ")) {
			t.Errorf("%s: header does not name its upstream path", f)
		}
	}
	for f := range exp {
		if !slices.Contains(files, f) {
			t.Errorf("%s names %s, which is not in the corpus", expectationsFile, f)
		}
	}
}

// TestUpstreamMainAPIVersionOnly is the promise measured: each of
// upstream main's manifests, with only its apiVersion changed, goes
// through perouterctl validate's path.
func TestUpstreamMainAPIVersionOnly(t *testing.T) {
	exp := loadExpectations(t)
	corpus := corpusDir(t)
	for _, f := range corpusFiles(t, corpus) {
		if !strings.HasPrefix(f, "main/") {
			continue
		}
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpus, f))
			if err != nil {
				t.Fatal(err)
			}
			swapped := bytes.ReplaceAll(data, []byte("apiVersion: "+mainVersion.apiVersion), []byte("apiVersion: "+v1alpha1.GroupVersion.String()))
			checkOutcome(t, "apiVersion only", exp[f].APIVersionOnly, validateManifests(swapped))
		})
	}
}

// TestConvertUpstreamCorpus converts each file of both versions alone and
// validates what convert printed; a refusal by convert itself counts as
// refused. Where main's file is accepted both ways, convert must change
// nothing but the apiVersion: the decoded objects are equal.
func TestConvertUpstreamCorpus(t *testing.T) {
	exp := loadExpectations(t)
	corpus := corpusDir(t)
	for _, f := range corpusFiles(t, corpus) {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpus, f))
			if err != nil {
				t.Fatal(err)
			}
			outs, _, err := Convert([]Input{{Name: f, Data: data}})
			if err != nil {
				var problems []string
				for _, e := range objects.Errors(err) {
					problems = append(problems, e.Error())
				}
				checkOutcome(t, "convert", exp[f].Convert, problems)
				return
			}
			problems := validateManifests(outs[0].Data)
			checkOutcome(t, "convert then validate", exp[f].Convert, problems)
			if strings.HasPrefix(f, "main/") && exp[f].APIVersionOnly == "accepted" && len(problems) == 0 {
				swapped := bytes.ReplaceAll(data, []byte("apiVersion: "+mainVersion.apiVersion), []byte("apiVersion: "+v1alpha1.GroupVersion.String()))
				want, err1 := objects.Decode(bytes.NewReader(swapped))
				got, err2 := objects.Decode(bytes.NewReader(outs[0].Data))
				if err := errors.Join(err1, err2); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("convert changed more than the apiVersion of main's manifest (-apiVersion only +convert):\n%s", diff)
				}
			}
		})
	}
}
