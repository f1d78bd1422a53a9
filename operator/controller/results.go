package controller

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/redact"
	"github.com/perouter/perouter/operator/validate"
)

// Bounds on what one RouterNodeStatus carries. A datapath or reload error
// at 500 VNIs runs to hundreds of KB, and copying it into every object's
// result made the status exceed the API server's request limit ("request
// entity too large"), retried forever. With these bounds, even 1,000
// failing objects stay far below etcd's 1.5 MiB object limit.
const (
	maxObjectMessage  = 512
	maxNodeErrors     = 16
	maxNodeErrorBytes = 1024
	maxConditionBytes = 2048
)

// nodeErrors turns an error's text (errors.Join puts one error a line)
// into the node's .status.errors: duplicates dropped, each line and the
// count bounded, with a last line saying how many were left out.
func nodeErrors(headline string, detail error) []string {
	out := []string{truncate(headline, maxNodeErrorBytes)}
	if detail == nil {
		return out
	}
	seen := map[string]bool{}
	dropped := 0
	for _, line := range strings.Split(detail.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		if len(out) >= maxNodeErrors {
			dropped++
			continue
		}
		out = append(out, truncate(line, maxNodeErrorBytes))
	}
	if dropped > 0 {
		out = append(out, fmt.Sprintf("... and %d more distinct error(s)", dropped))
	}
	return out
}

// frrRefusal is FRR's answer to a reload it refused: text from another
// process, whose lines name objects only as FRR's config does. FRR echoes
// the lines it refuses, passwords included, and every copy of this text
// (status, events, logs) goes through Error, so it redacts them.
type frrRefusal struct{ err error }

func (e *frrRefusal) Error() string { return redact.Secrets(e.err.Error()) }

func (e *frrRefusal) Unwrap() error { return e.err }

// objectLines gives, for each object of cfg, the lines of detail about
// it. The datapath says which VNI an error is about (hostnet.VNIError),
// or that it is about an underlay NIC (hostnet.UnderlayError: the
// Underlay's);
// FRR's refusal is text, in which a line is an object's when it names
// the object's "vni N" or "vrf NAME" as FRR's config does, or one of a
// RawFRRConfig's commands.
func objectLines(cfg nodeconfig.Config, detail error) map[objects.Ref][]string {
	byVNI := map[uint32]objects.Ref{}
	frrNames := map[objects.Ref][]string{}
	for _, l3 := range cfg.L3VNIs {
		byVNI[l3.VNI] = l3.Source
		frrNames[l3.Source] = append(frrNames[l3.Source], fmt.Sprintf("vni %d", l3.VNI), "vrf "+l3.VRF)
	}
	for _, l2 := range cfg.L2VNIs {
		byVNI[l2.VNI] = l2.Source
		frrNames[l2.Source] = append(frrNames[l2.Source], fmt.Sprintf("vni %d", l2.VNI))
	}
	for _, raw := range cfg.RawSnippets {
		frrNames[raw.Source] = append(frrNames[raw.Source], rawCommands(raw.Text)...)
	}
	out := map[objects.Ref][]string{}
	eachError(detail, func(err error) {
		var (
			vniErr   *hostnet.VNIError
			underErr *hostnet.UnderlayError
			refusal  *frrRefusal
		)
		switch {
		case errors.As(err, &underErr):
			if cfg.Underlay != nil {
				out[cfg.Underlay.Source] = append(out[cfg.Underlay.Source], errorLines(underErr)...)
			}
		case errors.As(err, &vniErr):
			if ref, ok := byVNI[vniErr.VNI]; ok {
				out[ref] = append(out[ref], errorLines(vniErr)...)
			}
		case errors.As(err, &refusal):
			for _, line := range errorLines(refusal) {
				for ref, names := range frrNames {
					if slices.ContainsFunc(names, func(name string) bool { return mentions(line, name) }) {
						out[ref] = append(out[ref], line)
					}
				}
			}
		}
	})
	return out
}

// rawCommands are the commands of a RawFRRConfig's text by which FRR's
// refusal names it (FRR echoes the command it refuses): each line,
// trimmed, but for comments and the bare commands every stanza has
// (exit, exit-address-family, end), which would name every snippet.
func rawCommands(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", strings.HasPrefix(line, "!"), strings.HasPrefix(line, "#"),
			line == "exit", line == "exit-address-family", line == "exit-vrf", line == "exit-vni", line == "end", line == "quit":
			continue
		}
		out = append(out, line)
	}
	return out
}

// eachError calls fn with each error errors.Join put in err (and in
// those), or with err itself.
func eachError(err error, fn func(error)) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			eachError(e, fn)
		}
		return
	}
	fn(err)
}

func errorLines(err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// mentions reports whether line names token as a whole word: "vni 10"
// must not match a line about "vni 100".
func mentions(line, token string) bool {
	for from := 0; ; {
		i := strings.Index(line[from:], token)
		if i < 0 {
			return false
		}
		end := from + i + len(token)
		start := from + i
		if (end == len(line) || !isNameByte(line[end])) && (start == 0 || !isNameByte(line[start-1])) {
			return true
		}
		from = start + 1
	}
}

func isNameByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
}

// failedResults reports a failed stage on every selected object, each
// with only the error lines about it (objectLines), or a pointer to the
// node's errors when none is, bounded; skipped objects keep their
// reasons.
func failedResults(report nodeconfig.Report, gens map[objects.Ref]int64, cfg nodeconfig.Config,
	nodeName, stage string, detail error) []v1alpha1.ObjectResult {
	lines := objectLines(cfg, detail)
	out := objectResults(report, gens, v1alpha1.ResultFailed, "")
	for i := range out {
		if out[i].Result != v1alpha1.ResultFailed {
			continue
		}
		own := lines[objects.Ref{Kind: out[i].Kind, Namespace: out[i].Namespace, Name: out[i].Name}]
		msg := fmt.Sprintf("%s failed on node %s; see the RouterNodeStatus errors", stage, nodeName)
		if len(own) > 0 {
			msg = fmt.Sprintf("%s failed on node %s: %s", stage, nodeName, strings.Join(own, "; "))
		}
		out[i].Message = truncate(msg, maxObjectMessage)
	}
	return out
}

// objectResults lists each object's result on this node: the selected
// ones with the reconcile's outcome, the skipped ones with their reasons,
// the ones waiting for a missing dependency as skipped with reason
// DependencyMissing.
func objectResults(report nodeconfig.Report, gens map[objects.Ref]int64, result, msg string) []v1alpha1.ObjectResult {
	byRef := map[objects.Ref]*v1alpha1.ObjectResult{}
	var out []v1alpha1.ObjectResult
	won := map[objects.Ref][]string{}
	for _, e := range report.Won {
		won[e.Ref] = append(won[e.Ref], e.Field+": "+e.Message)
	}
	for _, ref := range report.Selected {
		if _, dup := byRef[ref]; dup {
			continue
		}
		m := msg
		if notes := won[ref]; m == "" && len(notes) > 0 {
			// It applies; the clash it won is told on both objects.
			m = truncate(strings.Join(notes, "; "), maxObjectMessage)
		}
		out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref], Result: result, Message: m})
		byRef[ref] = &out[len(out)-1]
	}
	for _, group := range []struct {
		errs   []validate.Error
		reason string
	}{{report.Skipped, ""}, {report.Missing, v1alpha1.ReasonDependencyMissing}} {
		msgs := map[objects.Ref][]string{}
		var order []objects.Ref
		for _, e := range group.errs {
			if _, ok := msgs[e.Ref]; !ok {
				order = append(order, e.Ref)
			}
			msgs[e.Ref] = append(msgs[e.Ref], e.Field+": "+e.Message)
		}
		for _, ref := range order {
			if _, listed := byRef[ref]; listed {
				continue
			}
			out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref],
				Result: v1alpha1.ResultSkipped, Reason: group.reason, Message: truncate(strings.Join(msgs[ref], "; "), maxObjectMessage)})
			byRef[ref] = &out[len(out)-1]
		}
	}
	sortResults(out)
	return out
}

// underlayResults marks every Underlay selecting the node when the node's
// config as a whole failed: those are the objects the failure is about.
func underlayResults(s objects.Set, gens map[objects.Ref]int64, nodeLabels map[string]string, result, msg string) []v1alpha1.ObjectResult {
	var out []v1alpha1.ObjectResult
	for _, u := range s.Underlays {
		if !nodeconfig.Selects(u.Spec.NodeSelector, nodeLabels) {
			continue
		}
		ref := objects.RefOf(objects.KindUnderlay, u.ObjectMeta)
		out = append(out, v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gens[ref], Result: result, Message: msg})
	}
	sortResults(out)
	return out
}

func sortResults(rs []v1alpha1.ObjectResult) {
	slices.SortFunc(rs, func(a, b v1alpha1.ObjectResult) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func countSkipped(rs []v1alpha1.ObjectResult) int {
	n := 0
	for _, r := range rs {
		if r.Result == v1alpha1.ResultSkipped {
			n++
		}
	}
	return n
}

func configHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// truncate shortens s to at most n bytes, cutting at a rune boundary and
// marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
