package validate

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/objects/objectstest"
)

func TestProtectedInterfaces(t *testing.T) {
	defaultRoute := v1alpha1.ProtectedInterface{Name: "eth0", Reason: "it carries the host's IPv4 default route (via 10.0.0.1, metric 100)"}
	underlay := func(sel map[string]string, nics ...string) v1alpha1.Underlay {
		u := objectstest.Lab(1).Underlays[0]
		u.Spec.Interfaces = nil
		for _, n := range nics {
			u.Spec.Interfaces = append(u.Spec.Interfaces, v1alpha1.UnderlayInterface{NetworkDevice: &v1alpha1.NetworkDevice{InterfaceName: n}})
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

// FuzzProtectedInterfaces: for any decoded objects and any node report,
// the rule refuses exactly the Underlay interfaces that a selected node
// reports, each once, and names that field.
func FuzzProtectedInterfaces(f *testing.F) {
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u, namespace: perouter-system}\nspec: {asn: 1, neighbors: [{asn: 2, address: 10.0.0.1}], interfaces: [{networkDevice: {interfaceName: eth0}}, {networkDevice: {interfaceName: eth1}}]}\n"), "eth0", "rack", "a")
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, nodeSelector: {matchLabels: {rack: b}}, interfaces: [{networkDevice: {interfaceName: eth0}}, {networkDevice: {interfaceName: eth0}}]}\n"), "eth0", "rack", "b")
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, nodeSelector: {matchExpressions: [{key: rack, operator: Bogus}]}, interfaces: [{networkDevice: {interfaceName: eth0}}]}\n"), "eth0", "rack", "a")
	f.Fuzz(func(t *testing.T, data []byte, nic, key, value string) {
		s, err := objects.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		nodes := []ReportedNode{
			{Name: "n0", Labels: map[string]string{key: value}, Protected: []v1alpha1.ProtectedInterface{{Name: nic, Reason: "r"}}},
			{Name: "n1", Protected: []v1alpha1.ProtectedInterface{{Name: nic, Reason: "r"}}},
			{Name: "n2", Labels: map[string]string{key: value}},
		}
		want := 0
		for _, u := range s.Underlays {
			selected := objects.Selects(u.Spec.NodeSelector, nodes[0].Labels) || objects.Selects(u.Spec.NodeSelector, nodes[1].Labels)
			for _, i := range u.Spec.Interfaces {
				// An interface naming no host NIC (a CNIDevice, or neither
				// member set) protects nothing.
				if name := i.HostNIC(); selected && name != "" && name == nic {
					want++
				}
			}
		}
		errs := ProtectedInterfaces(s.Underlays, nodes)
		if len(errs) != want {
			t.Fatalf("%d errors, want %d: %q", len(errs), want, strs(errs))
		}
		for _, e := range errs {
			if e.Ref.Kind != objects.KindUnderlay || !strings.HasPrefix(e.Field, "spec.interfaces[") || !strings.Contains(e.Message, fmt.Sprintf("%q", nic)) {
				t.Fatalf("error does not name the Underlay's interface field and %q: %v", nic, e)
			}
		}
	})
}
