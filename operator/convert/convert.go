// Package convert rewrites OpenPERouter manifests — upstream main
// (network.openperouter.io/v1alpha1) and its last release v0.2.0
// (openpe.openperouter.github.io/v1alpha1, with v0.1.0's Underlay fields) —
// into perouter's (network.perouter.io/v1alpha1), and says what it
// changed. A field perouter has no counterpart for, or one the upstream
// version does not have, is an error naming the file, document, object and
// field: nothing is dropped silently. The output is re-serialised YAML:
// keys come out sorted and comments do not survive.
package convert

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// Input is one manifest file.
type Input struct {
	Name string // as errors and changes name it
	Data []byte
}

// Output is one input file, converted.
type Output struct {
	Name string
	Data []byte // multi-document YAML, one document per input document
}

// Where locates a document's object.
type Where struct {
	File   string
	Doc    int    // 1-based index of the document in its file
	Item   int    // 1-based index in the document's items, when it is a List
	Object string // "Kind namespace/name", when known
}

func (w Where) String() string {
	s := fmt.Sprintf("%s: document %d", w.File, w.Doc)
	if w.Item > 0 {
		s += fmt.Sprintf(" item %d", w.Item)
	}
	if w.Object != "" {
		s += " (" + w.Object + ")"
	}
	return s
}

// Change is one rewrite convert made.
type Change struct {
	Where
	Field   string // upstream's path, e.g. spec.hostsession.hostasn
	Message string
}

func (c Change) String() string { return c.Where.String() + ": " + c.Field + ": " + c.Message }

// Error is one thing convert could not rewrite.
type Error struct {
	Where
	Field   string // upstream's path; empty for the whole document
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.String() + ": " + e.Message
	}
	return e.String() + ": " + e.Field + ": " + e.Message
}

// document is one parsed input document.
type document struct {
	where   Where
	obj     map[string]any // nil for a document of only comments
	version *version
	kind    string
}

// Convert rewrites every document of every input; a List's items become
// documents of their own, without the metadata the API server set.
// Documents that are perouter's already, and v1 Secrets (passwordSecret),
// are kept as they are. On any error Convert returns no output, so that nothing half
// converted is applied; the error joins one *Error per problem.
func Convert(inputs []Input) ([]Output, []Change, error) {
	var docs [][]document
	var errs []error
	for _, in := range inputs {
		d, err := parse(in)
		errs = append(errs, err...)
		docs = append(docs, d)
	}
	idx := indexL3VNIs(docs)
	var outs []Output
	var changes []Change
	for i, in := range inputs {
		var parts [][]byte
		for _, d := range docs[i] {
			if d.obj == nil {
				continue
			}
			c := &docConverter{doc: d, l3vnis: idx}
			out, err := c.convert()
			changes = append(changes, c.changes...)
			if err != nil {
				errs = append(errs, err...)
				continue
			}
			data, merr := yaml.Marshal(out)
			if merr != nil {
				errs = append(errs, &Error{Where: d.where, Message: merr.Error()})
				continue
			}
			parts = append(parts, data)
		}
		outs = append(outs, Output{Name: in.Name, Data: bytes.Join(parts, []byte("---\n"))})
	}
	if len(errs) > 0 {
		return nil, changes, errors.Join(errs...)
	}
	return outs, changes, nil
}

func parse(in Input) ([]document, []error) {
	var docs []document
	var errs []error
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(in.Data)))
	for n := 1; ; n++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		where := Where{File: in.Name, Doc: n}
		if err != nil {
			errs = append(errs, &Error{Where: where, Message: err.Error()})
			break
		}
		// A lenient pass finds the kind and name, so that the strict one (a
		// key given twice is an error, as in the API server) can name them.
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			errs = append(errs, &Error{Where: where, Message: oneLine(err.Error())})
			continue
		}
		if v == nil {
			docs = append(docs, document{where: where}) // comments only
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, &Error{Where: where, Message: "is not an object"})
			continue
		}
		d := newDocument(where, obj)
		if _, err := yaml.YAMLToJSONStrict(raw); err != nil {
			errs = append(errs, &Error{Where: d.where, Message: oneLine(err.Error())})
			continue
		}
		if !isList(obj) {
			docs = append(docs, d)
			continue
		}
		// What "kubectl get -o yaml" prints: each item is a document of
		// its own in the output.
		items, ok := obj["items"].([]any)
		if !ok && obj["items"] != nil {
			errs = append(errs, &Error{Where: d.where, Field: "items", Message: "must be a list"})
			continue
		}
		for i, item := range items {
			itemWhere := where
			itemWhere.Item = i + 1
			m, ok := item.(map[string]any)
			if !ok {
				errs = append(errs, &Error{Where: itemWhere, Message: "is not an object"})
				continue
			}
			docs = append(docs, newDocument(itemWhere, m))
		}
	}
	return docs, errs
}

func newDocument(where Where, obj map[string]any) document {
	d := document{where: where, obj: obj}
	d.kind, _ = obj["kind"].(string)
	if d.kind != "" {
		d.where.Object = d.kind + " " + namespaceOf(obj) + "/" + metaString(obj, "name")
	}
	switch obj["apiVersion"] {
	case mainVersion.apiVersion:
		d.version = mainVersion
	case releaseVersion.apiVersion:
		d.version = releaseVersion
	}
	return d
}

// isList reports a v1 List, or a typed list of upstream's (L3VNIList).
func isList(obj map[string]any) bool {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	switch {
	case apiVersion == "v1" && kind == "List":
		return true
	case apiVersion == mainVersion.apiVersion || apiVersion == releaseVersion.apiVersion:
		return strings.HasSuffix(kind, "List")
	}
	return false
}

func metaString(obj map[string]any, key string) string {
	m, _ := obj["metadata"].(map[string]any)
	s, _ := m[key].(string)
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// l3vniIndex finds, for a v0.2.0 L2VNI's vrf, the L3VNIs of the inputs
// that own that VRF, by namespace.
type l3vniIndex map[string]map[string][]string // namespace → vrf → L3VNI names

func indexL3VNIs(docs [][]document) l3vniIndex {
	idx := l3vniIndex{}
	for _, file := range docs {
		for _, d := range file {
			if d.obj == nil || d.kind != "L3VNI" {
				continue
			}
			spec, _ := d.obj["spec"].(map[string]any)
			vrf, _ := spec["vrf"].(string)
			if vrf == "" {
				continue
			}
			ns := namespaceOf(d.obj)
			if idx[ns] == nil {
				idx[ns] = map[string][]string{}
			}
			idx[ns][vrf] = append(idx[ns][vrf], metaString(d.obj, "name"))
		}
	}
	return idx
}

func namespaceOf(obj map[string]any) string {
	if ns := metaString(obj, "namespace"); ns != "" {
		return ns
	}
	return "default"
}

// path is a field path in upstream's names (for messages) and in
// perouter's.
type path struct{ from, to string }

func (p path) child(from, to string) path {
	if to == "" {
		to = from
	}
	return path{from: join(p.from, from), to: join(p.to, to)}
}

func (p path) index(i int) path {
	s := "[" + strconv.Itoa(i) + "]"
	return path{from: p.from + s, to: p.to + s}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

type docConverter struct {
	doc     document
	l3vnis  l3vniIndex
	changes []Change
	errs    []error
}

func (c *docConverter) change(field, format string, args ...any) {
	c.changes = append(c.changes, Change{Where: c.doc.where, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *docConverter) fail(field, format string, args ...any) {
	c.errs = append(c.errs, &Error{Where: c.doc.where, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *docConverter) convert() (map[string]any, []error) {
	obj := c.doc.obj
	apiVersion, _ := obj["apiVersion"].(string)
	switch {
	case apiVersion == v1alpha1.GroupVersion.String() || apiVersion == "v1" && c.doc.kind == "Secret":
		return obj, nil // perouter's already, or a Secret a passwordSecret names
	case c.doc.version == nil:
		c.fail("apiVersion", "%q kind %q is not an OpenPERouter object: convert reads %s and %s objects (and v1 Secrets)",
			apiVersion, c.doc.kind, mainVersion.apiVersion, releaseVersion.apiVersion)
		return nil, c.errs
	}
	v := c.doc.version
	spec, ok := v.kinds[c.doc.kind]
	if !ok {
		if why, known := v.unsupportedKinds[c.doc.kind]; known {
			c.fail("kind", "%s is not supported by perouter: %s", c.doc.kind, why)
		} else {
			c.fail("kind", "%q is not a kind of %s (%s)", c.doc.kind, v.name, v.apiVersion)
		}
		return nil, c.errs
	}
	out := map[string]any{}
	var converted any // the spec, as far as it converted
	for _, key := range sortedKeys(obj) {
		val := obj[key]
		switch key {
		case "apiVersion":
			out[key] = v1alpha1.GroupVersion.String()
			c.change("apiVersion", "%s → %s", apiVersion, v1alpha1.GroupVersion.String())
		case "kind":
			out[key] = val
		case "metadata":
			out[key] = c.metadata(val)
		case "status":
			// Written by the controller; upstream's and perouter's differ.
			if val != nil {
				c.change("status", "dropped: status is written by the controller, not by manifests")
			}
		case "spec":
			if val == nil {
				continue
			}
			conv, ok := c.walk(spec, path{from: "spec", to: "spec"}, val)
			if ok {
				c.checkGateways(conv)
				out[key] = conv
			}
			converted = conv
		default:
			c.fail(key, "unknown field of %s %s", v.name, c.doc.kind)
		}
	}
	// Fields perouter's schema accepts but does not implement yet are
	// passed through above and refused here, with the reasons validation
	// gives, in perouter's names; also when other fields failed, so that
	// every problem is reported at once.
	for _, p := range v1alpha1.FindNotYetSupported(c.doc.kind, map[string]any{"spec": converted}) {
		c.fail(p.Field, "%s", p.Message)
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return out, nil
}

// serverFields are the metadata the API server sets, which "kubectl get
// -o yaml" prints and a create refuses (resourceVersion) or ignores.
var serverFields = []string{"creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp", "generation", "managedFields", "resourceVersion", "selfLink", "uid"}

// lastApplied is kubectl's record of the last applied manifest: it holds
// the upstream object, apiVersion included, and would make the next
// "kubectl apply" compute its patch against upstream's object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// metadata drops what the API server set on an exported object, so that
// the converted manifest can be created.
func (c *docConverter) metadata(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v // the strict decoder names it
	}
	out := map[string]any{}
	for k, val := range m {
		out[k] = val
	}
	for _, k := range serverFields {
		if _, set := out[k]; set {
			delete(out, k)
			c.change("metadata."+k, "dropped: set by the API server")
		}
	}
	if ann, ok := out["annotations"].(map[string]any); ok {
		if _, set := ann[lastApplied]; set {
			kept := map[string]any{}
			for k, val := range ann {
				if k != lastApplied {
					kept[k] = val
				}
			}
			c.change("metadata.annotations."+lastApplied, "dropped: it records the upstream object")
			if len(kept) == 0 {
				delete(out, "annotations")
			} else {
				out["annotations"] = kept
			}
		}
	}
	return out
}

// checkGateways refuses v0.2.0's gateway addresses on an L2VNI that
// routes nowhere: v0.2.0 put them on the bridge of a segment without a
// VRF, perouter (like upstream main) puts them in the routing domain's VRF
// and so needs one.
func (c *docConverter) checkGateways(spec any) {
	m, _ := spec.(map[string]any)
	if c.doc.kind != "L2VNI" || c.doc.version != releaseVersion || m["gatewayIPs"] == nil || m["routingDomain"] != nil {
		return
	}
	c.fail("spec.l2gatewayips", "needs spec.vrf: perouter (like upstream main) serves gateway addresses in the VRF of the L3VNI the segment routes through; set vrf to that L3VNI's VRF, or remove l2gatewayips for a segment without routing")
}

// walk converts v as f describes; ok is false when it recorded an error.
func (c *docConverter) walk(f *field, p path, v any) (any, bool) {
	switch {
	case f.unsupported != "":
		c.fail(p.from, "not supported: %s", f.unsupported)
		return nil, false
	case f.opaque:
		return v, true
	case f.object != nil:
		m, isMap := v.(map[string]any)
		if !isMap {
			c.fail(p.from, "must be an object")
			return nil, false
		}
		out := map[string]any{}
		ok := true
		for _, key := range sortedKeys(m) {
			child, known := f.object[key]
			if !known {
				c.fail(join(p.from, key), "unknown field (%s has no such field)", c.doc.version.name)
				ok = false
				continue
			}
			cp := p.child(key, child.to)
			var kvs []keyValue
			if child.convert != nil {
				var err error
				kvs, err = child.convert(c, cp, m[key])
				if err != nil {
					c.fail(cp.from, "%s", err.Error())
					ok = false
					continue
				}
			} else {
				outKey := key
				if child.to != "" && child.unsupported == "" {
					outKey = child.to
					c.change(cp.from, "renamed %s", cp.to)
				}
				conv, childOK := c.walk(child, cp, m[key])
				if !childOK {
					ok = false
					continue
				}
				kvs = []keyValue{{outKey, conv}}
			}
			for _, kv := range kvs {
				if _, dup := out[kv.key]; dup {
					c.fail(cp.from, "sets %s, which another field sets too", join(p.to, kv.key))
					ok = false
					continue
				}
				out[kv.key] = kv.value
			}
		}
		return out, ok
	case f.items != nil:
		list, isList := v.([]any)
		if !isList {
			c.fail(p.from, "must be a list")
			return nil, false
		}
		out := make([]any, 0, len(list))
		ok := true
		for i, item := range list {
			conv, itemOK := c.walk(f.items, p.index(i), item)
			ok = ok && itemOK
			out = append(out, conv)
		}
		return out, ok
	default:
		s, isString := v.(string)
		if !isString {
			return v, true
		}
		if to, renamed := f.values[s]; renamed {
			c.change(p.from, "%s → %s", s, to)
			return to, true
		}
		return v, true
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
