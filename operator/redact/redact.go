// Package redact keeps secrets out of text that perouter copies out of
// FRR: status, events and logs. FRR echoes the lines it refuses, and
// frr-reload.py prints the lines it adds and removes, so a reload that
// fails on a neighbour with a TCP MD5 password carries "neighbor X
// password P" in its error text. Secrets is the one rule; Error and
// Logger apply it to errors and to every log line.
package redact

import (
	"errors"
	"regexp"

	"github.com/go-logr/logr"
)

// Placeholder replaces a secret.
const Placeholder = "<redacted>"

// secretClause matches an FRR keyword that takes a secret and the secret
// after it. perouter renders only "neighbor X password P"; the other
// keywords carry secrets in FRR's config language too (key chains, OSPF),
// so text from FRR cannot leak them either. The secret ends at whitespace
// or at a quote or backslash: Python's reprs in frr-reload.py's output
// wrap lines in quotes and write newlines as \n, and validate.Password
// allows none of those characters in a password.
var secretClause = regexp.MustCompile(`(?i)\b(password|key-string|authentication-key)([ \t]+)([^\s'"\\` + "`" + `]+)`)

// Secrets returns s with the secret of every such clause replaced by
// Placeholder. It is idempotent, so text may pass it more than once on
// its way out.
func Secrets(s string) string {
	return secretClause.ReplaceAllString(s, "${1}${2}"+Placeholder)
}

// Error returns an error whose text is err's, redacted; errors.Is and
// errors.As still reach err. It returns nil for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	var r *redacted
	if errors.As(err, &r) && r == err {
		return err
	}
	return &redacted{err}
}

type redacted struct{ err error }

func (r *redacted) Error() string { return Secrets(r.err.Error()) }
func (r *redacted) Unwrap() error { return r.err }

// Logger returns a logger that redacts every message, every string or
// []string value, and every error it is given, before l's sink sees
// them: one wrapper at the root covers every log line below it.
func Logger(l logr.Logger) logr.Logger {
	sink := l.GetSink()
	if sink == nil {
		return l
	}
	if _, ok := sink.(*sinkWrapper); ok {
		return l
	}
	return l.WithSink(&sinkWrapper{sink: sink})
}

type sinkWrapper struct{ sink logr.LogSink }

var _ logr.CallDepthLogSink = (*sinkWrapper)(nil)

func (w *sinkWrapper) Init(info logr.RuntimeInfo) {
	// One more frame: this wrapper's own method.
	info.CallDepth++
	w.sink.Init(info)
}

func (w *sinkWrapper) Enabled(level int) bool { return w.sink.Enabled(level) }

func (w *sinkWrapper) Info(level int, msg string, kv ...any) {
	w.sink.Info(level, Secrets(msg), values(kv)...)
}

func (w *sinkWrapper) Error(err error, msg string, kv ...any) {
	w.sink.Error(Error(err), Secrets(msg), values(kv)...)
}

func (w *sinkWrapper) WithValues(kv ...any) logr.LogSink {
	return &sinkWrapper{sink: w.sink.WithValues(values(kv)...)}
}

func (w *sinkWrapper) WithName(name string) logr.LogSink {
	return &sinkWrapper{sink: w.sink.WithName(name)}
}

func (w *sinkWrapper) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := w.sink.(logr.CallDepthLogSink); ok {
		return &sinkWrapper{sink: cd.WithCallDepth(depth)}
	}
	return w
}

// values redacts the values (not the keys) of a key/value list.
func values(kv []any) []any {
	out := make([]any, len(kv))
	copy(out, kv)
	for i := 1; i < len(out); i += 2 {
		switch v := out[i].(type) {
		case string:
			out[i] = Secrets(v)
		case []string:
			r := make([]string, len(v))
			for j := range v {
				r[j] = Secrets(v[j])
			}
			out[i] = r
		case error:
			out[i] = Error(v)
		}
	}
	return out
}
