package validate

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

func TestProtectedInterfaces(t *testing.T) {
	defaultRoute := v1alpha1.ProtectedInterface{Name: "eth0", Reason: "it carries the host's IPv4 default route (via 10.0.0.1, metric 100)"}
	underlay := func(sel map[string]string, nics ...string) v1alpha1.Underlay {
		u := objectstest.Lab(1).Underlays[0]
		u.Spec.Interfaces = nil
		for _, n := range nics {
			u.Spec.Interfaces = append(u.Spec.Interfaces, v1alpha1.UnderlayInterface{NetworkDevice: v1alpha1.NetworkDevice{InterfaceName: n}})
		}
		if sel != nil {
			u.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: sel}
		}
		return u
	}
	rackA := ReportedNode{Name: "a-0", Labels: map[string]string{"rack": "a"}, Protected: []v1alpha1.ProtectedInterface{defaultRoute}}
	rackB := ReportedNode{Name: "b-0", Labels: map[string]string{"rack": "b"}}
	field := "Underlay " + objectstest.Namespace + "/underlay: spec.interfaces[%d].networkDevice.interfaceName: "
	cases := map[string]struct {
		underlay v1alpha1.Underlay
		nodes    []ReportedNode
		want     []string
	}{
		"every node, one of which carries eth0": {
			underlay: underlay(nil, "toswitch1", "eth0"),
			nodes:    []ReportedNode{rackA, rackB},
			want: []string{fmt.Sprintf(field, 1) + `"eth0" carries the node's own connectivity on node a-0 (it carries the host's IPv4 default route (via 10.0.0.1, metric 100)): ` +
				"moving it into the router namespace would cut the node off from the API server; name a NIC dedicated to the fabric, or narrow spec.nodeSelector"},
		},
		"a selector that leaves that node out": {
			underlay: underlay(map[string]string{"rack": "b"}, "eth0"),
			nodes:    []ReportedNode{rackA, rackB},
		},
		"another NIC": {
			underlay: underlay(nil, "toswitch1"),
			nodes:    []ReportedNode{rackA, rackB},
		},
		"no node reported yet: the controller's check is the safety net": {
			underlay: underlay(nil, "eth0"),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, strs(ProtectedInterfaces([]v1alpha1.Underlay{c.underlay}, c.nodes))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	// Many nodes: the error names a few and counts the rest.
	var many []ReportedNode
	for i := range 10 {
		many = append(many, ReportedNode{Name: fmt.Sprintf("n-%d", i), Protected: []v1alpha1.ProtectedInterface{{Name: "eth0", Reason: "r"}}})
	}
	errs := ProtectedInterfaces([]v1alpha1.Underlay{underlay(nil, "eth0")}, many)
	want := `"eth0" carries the node's own connectivity on node n-0 (r), node n-1 (r), node n-2 (r) and 7 more node(s): ` +
		"moving it into the router namespace would cut the node off from the API server; name a NIC dedicated to the fabric, or narrow spec.nodeSelector"
	if len(errs) != 1 || errs[0].Message != want {
		t.Errorf("errors for 10 nodes = %q, want one: %q", strs(errs), want)
	}
}
