// Package perf measures the costs docs/performance.md sets targets for: rendering,
// delta computation, the reload path through the reloader with real FRR,
// and the controller's no-op path; cmd/perfreport prints them as one table.
package perf

import (
	"fmt"

	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

// LabNode is the node every measurement renders for.
var LabNode = nodeconfig.Node{Name: "worker-1", Index: 1}

// Render builds and renders s for LabNode.
func Render(s objects.Set) (string, error) {
	c, report, err := nodeconfig.Build(s, LabNode)
	if err != nil {
		return "", err
	}
	if len(report.Skipped) > 0 {
		return "", fmt.Errorf("perf: objects skipped: %v", report.Skipped)
	}
	return frr.Render(c)
}

// LabConfig renders the lab with n L3VNIs.
func LabConfig(n int) (string, error) { return Render(objectstest.Lab(n)) }
