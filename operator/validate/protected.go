package validate

import (
	"fmt"
	"strings"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// ReportedNode is a node as its controller reported it: its labels (for
// the nodeSelectors) and the NICs that carry its own connectivity
// (RouterNodeStatus status.protectedInterfaces).
type ReportedNode struct {
	Name      string
	Labels    map[string]string
	Protected []v1alpha1.ProtectedInterface
}

// maxNodesNamed bounds how many nodes one error names.
const maxNodesNamed = 3

// ProtectedInterfaces refuses an Underlay that names, in spec.interfaces,
// a NIC that a node it selects reported as carrying the node's own
// connectivity (its default route, or one of the Node's addresses):
// moving it into the router namespace would cut the node off from the
// API server. The controller refuses the move too, and is what protects
// the nodes that have not reported yet; nodes are judged in the order
// given. One error per interface, naming at most a few nodes.
func ProtectedInterfaces(underlays []v1alpha1.Underlay, nodes []ReportedNode) []Error {
	var errs []Error
	for i := range underlays {
		u := &underlays[i]
		ref := objects.RefOf(objects.KindUnderlay, u.ObjectMeta)
		for j, nic := range u.Spec.Interfaces {
			name := nic.HostNIC()
			if name == "" {
				continue // a CNIDevice moves no host NIC
			}
			var hits []string
			for _, n := range nodes {
				if !objects.Selects(u.Spec.NodeSelector, n.Labels) {
					continue
				}
				for _, p := range n.Protected {
					if p.Name == name {
						hits = append(hits, fmt.Sprintf("node %s (%s)", n.Name, p.Reason))
						break
					}
				}
			}
			if len(hits) == 0 {
				continue
			}
			named := strings.Join(hits[:min(len(hits), maxNodesNamed)], ", ")
			if more := len(hits) - maxNodesNamed; more > 0 {
				named += fmt.Sprintf(" and %d more node(s)", more)
			}
			errs = append(errs, Error{
				Ref:   ref,
				Field: fmt.Sprintf("spec.interfaces[%d].networkDevice.interfaceName", j),
				Message: fmt.Sprintf("%q carries the node's own connectivity on %s: moving it into the router namespace would cut the node off from the API server; name a NIC dedicated to the fabric, or narrow spec.nodeSelector",
					name, named),
			})
		}
	}
	return errs
}
