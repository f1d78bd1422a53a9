package objects

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// DefaultNamespace is the namespace of objects that do not name one, as
// kubectl would with no namespace in its context.
const DefaultNamespace = "default"

// Decode reads a multi-document YAML (or JSON) stream of perouter objects
// and v1 Secrets. Decoding is strict, like the API server's: an unknown
// apiVersion/kind, an unknown or duplicate field, or the same object twice
// is an error naming the document (1-based), its kind and name. Every
// problem is reported (errors.Join), not only the first. CRD defaults are
// applied to what decodes.
func Decode(r io.Reader) (Set, error) {
	var s Set
	var errs []error
	seen := map[Ref]int{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", doc, err))
			break
		}
		if isEmptyDocument(raw) {
			continue
		}
		ref, k, obj, err := decodeDocument(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d%s: %w", doc, describe(ref), err))
			continue
		}
		if first, dup := seen[ref]; dup {
			errs = append(errs, fmt.Errorf("document %d (%s): duplicates document %d", doc, ref, first))
			continue
		}
		k.add(&s, obj)
		seen[ref] = doc
	}
	ApplyDefaults(&s)
	return s, errors.Join(errs...)
}

// Load decodes every file given, and every *.yaml, *.yml and *.json file
// under every folder given (recursively, in lexical order). Errors name the
// file.
func Load(paths ...string) (Set, error) {
	var all Set
	var errs []error
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s, err := Decode(bytes.NewReader(data))
			if err != nil {
				errs = append(errs, prefixErrors(f, err)...)
			}
			all.Append(s)
		}
	}
	if dup := duplicates(all); dup != nil {
		errs = append(errs, dup...)
	}
	return all, errors.Join(errs...)
}

// Append adds every object of o to s.
func (s *Set) Append(o Set) {
	for _, k := range decodable() {
		k.appendAll(s, &o)
	}
}

// decodeDocument decodes one document into a new object of its kind and
// returns it, not yet added to any Set.
func decodeDocument(raw []byte) (Ref, *Kind, Object, error) {
	var tm struct {
		metav1.TypeMeta
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	// A lenient first pass finds the kind and name, so that strict errors
	// (duplicate keys included) can name the object.
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return Ref{}, nil, nil, oneLine(err)
	}
	ns := tm.Metadata.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	ref := Ref{Kind: tm.Kind, Namespace: ns, Name: tm.Metadata.Name}
	data, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return ref, nil, nil, oneLine(err)
	}
	k := decodableKind(tm.APIVersion, tm.Kind)
	switch {
	case k != nil:
	case tm.APIVersion == "" || tm.Kind == "":
		return ref, nil, nil, errors.New("apiVersion and kind are required")
	case tm.APIVersion == v1alpha1.GroupVersion.String() && v1alpha1.NotYetSupportedKinds[tm.Kind] != "":
		return ref, nil, nil, fmt.Errorf("kind %s is OpenPERouter's and not supported yet: %s", tm.Kind, v1alpha1.NotYetSupportedKinds[tm.Kind])
	default:
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = k.Name
		}
		return ref, nil, nil, fmt.Errorf("unknown kind %q in apiVersion %q (want %s %s, or %s %s)", tm.Kind, tm.APIVersion,
			v1alpha1.GroupVersion, strings.Join(names, ", "), secretKind.apiVersion, secretKind.Name)
	}
	obj := k.New()
	strict, err := kjson.UnmarshalStrict(data, obj)
	if err == nil && len(strict) > 0 {
		err = errors.Join(strict...)
	}
	if err != nil {
		return ref, nil, nil, oneLine(err)
	}
	if tm.Metadata.Name == "" {
		return ref, nil, nil, errors.New("metadata.name is required")
	}
	obj.SetNamespace(ns)
	return ref, k, obj, nil
}

// decodableKind returns the kind a Set holds objects of apiVersion/kind
// in, or nil.
func decodableKind(apiVersion, kind string) *Kind {
	for _, k := range decodable() {
		if k.apiVersion == apiVersion && k.Name == kind {
			return k
		}
	}
	return nil
}

// oneLine keeps every problem on one line of perouterctl's output; YAML
// parse errors span several.
func oneLine(err error) error {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), ":\n", ":")), " ")
	return errors.New(msg)
}

func describe(ref Ref) string {
	if ref.Kind == "" {
		return ""
	}
	return " (" + ref.String() + ")"
}

func isEmptyDocument(raw []byte) bool {
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

// Files lists the files Load reads for path: path itself, or every
// *.yaml, *.yml and *.json file under a folder (recursively, in lexical
// order).
func Files(path string) ([]string, error) { return expand(path) }

func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	return files, err
}

func prefixErrors(prefix string, err error) []error {
	var out []error
	for _, e := range Errors(err) {
		out = append(out, fmt.Errorf("%s: %w", prefix, e))
	}
	return out
}

// Errors flattens an error built with errors.Join into its parts, so a
// caller can print one problem per line.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}

// duplicates reports objects defined in more than one file.
func duplicates(s Set) []error {
	var errs []error
	seen := map[Ref]bool{}
	check := func(ref Ref) {
		if seen[ref] {
			errs = append(errs, fmt.Errorf("%s is defined more than once", ref))
		}
		seen[ref] = true
	}
	for _, k := range decodable() {
		for _, o := range k.In(&s) {
			check(k.Ref(o))
		}
	}
	return errs
}
