// Package logging builds the structured (JSON, logr) logger the operator's
// binaries share.
package logging

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// New returns a JSON logger on stderr; level is "info" or "debug" (debug
// enables V(1) messages, e.g. every reconcile).
func New(level string) (logr.Logger, error) {
	verbosity := 0
	switch level {
	case "info", "":
	case "debug":
		verbosity = 1
	default:
		return logr.Logger{}, fmt.Errorf("--log-level %q: want info or debug", level)
	}
	return funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) },
		funcr.Options{LogTimestamp: true, Verbosity: verbosity}), nil
}
