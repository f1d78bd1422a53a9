package controller

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

func TestAggregate(t *testing.T) {
	ref := objects.Ref{Kind: "L3VNI", Namespace: "ns", Name: "red"}
	node := func(name string, labels map[string]string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	report := func(node string, results ...v1alpha1.ObjectResult) v1alpha1.RouterNodeStatus {
		return v1alpha1.RouterNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: node}, Status: v1alpha1.RouterNodeStatusStatus{Objects: results}}
	}
	result := func(gen int64, res, msg string) v1alpha1.ObjectResult {
		return v1alpha1.ObjectResult{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: gen, Result: res, Message: msg}
	}
	waitingFor := func(r v1alpha1.ObjectResult) v1alpha1.ObjectResult {
		r.Reason = v1alpha1.ReasonDependencyMissing
		return r
	}
	pe := map[string]string{"pe": "yes"}
	type want struct {
		selected, applied, failed int32
		failedNames               []string
		appliedReason             string
		valid                     metav1.ConditionStatus
		// validReason is checked when set.
		validReason string
	}
	many := func(n int) ([]corev1.Node, []v1alpha1.RouterNodeStatus) {
		var nodes []corev1.Node
		var reports []v1alpha1.RouterNodeStatus
		for i := range n {
			name := fmt.Sprintf("n%02d", i)
			nodes = append(nodes, node(name, nil))
			reports = append(reports, report(name, result(3, v1alpha1.ResultFailed, "reload refused")))
		}
		return nodes, reports
	}
	manyNodes, manyReports := many(12)
	tests := map[string]struct {
		selector *metav1.LabelSelector
		nodes    []corev1.Node
		reports  []v1alpha1.RouterNodeStatus
		want     want
	}{
		"no node selected": {
			selector: &metav1.LabelSelector{MatchLabels: pe},
			nodes:    []corev1.Node{node("a", nil)},
			want:     want{appliedReason: ReasonNoNodesSelected, valid: metav1.ConditionTrue},
		},
		"all selected nodes run this generation": {
			selector: &metav1.LabelSelector{MatchLabels: pe},
			nodes:    []corev1.Node{node("a", pe), node("b", pe), node("c", nil)},
			reports:  []v1alpha1.RouterNodeStatus{report("a", result(3, v1alpha1.ResultApplied, "")), report("b", result(3, v1alpha1.ResultApplied, ""))},
			want:     want{selected: 2, applied: 2, appliedReason: ReasonAllApplied, valid: metav1.ConditionTrue},
		},
		"a node still on the previous generation, one without report": {
			nodes:   []corev1.Node{node("a", nil), node("b", nil), node("c", nil)},
			reports: []v1alpha1.RouterNodeStatus{report("a", result(3, v1alpha1.ResultApplied, "")), report("b", result(2, v1alpha1.ResultApplied, ""))},
			want:    want{selected: 3, applied: 1, appliedReason: ReasonProgressing, valid: metav1.ConditionTrue},
		},
		"skipped as invalid on one node": {
			nodes: []corev1.Node{node("a", nil), node("b", nil)},
			reports: []v1alpha1.RouterNodeStatus{report("a", result(3, v1alpha1.ResultApplied, "")),
				report("b", result(3, v1alpha1.ResultSkipped, "spec.vni: VNI 100 is also used by L2VNI ns/x"))},
			want: want{selected: 2, applied: 1, failed: 1, failedNames: []string{"b"}, appliedReason: ReasonFailed, valid: metav1.ConditionFalse},
		},
		// Waiting for an L3VNI that does not exist yet is not invalid.
		"waiting for a missing dependency": {
			nodes: []corev1.Node{node("a", nil), node("b", nil)},
			reports: []v1alpha1.RouterNodeStatus{
				report("a", waitingFor(result(3, v1alpha1.ResultSkipped, "spec.routingDomain.l3vni.name: L3VNI ns/red does not exist yet"))),
				report("b", waitingFor(result(3, v1alpha1.ResultSkipped, "spec.routingDomain.l3vni.name: L3VNI ns/red does not exist yet")))},
			want: want{selected: 2, failed: 2, failedNames: []string{"a", "b"}, appliedReason: v1alpha1.ReasonDependencyMissing, valid: metav1.ConditionTrue},
		},
		"waiting on one node, invalid on another": {
			nodes: []corev1.Node{node("a", nil), node("b", nil)},
			reports: []v1alpha1.RouterNodeStatus{
				report("a", waitingFor(result(3, v1alpha1.ResultSkipped, "waits"))),
				report("b", result(3, v1alpha1.ResultSkipped, "spec.vni: VNI 100 is also used by L2VNI ns/x"))},
			want: want{selected: 2, failed: 2, failedNames: []string{"a", "b"}, appliedReason: ReasonFailed, valid: metav1.ConditionFalse},
		},
		// The younger object it clashed with on b is skipped there.
		"applied, winning a clash on a node": {
			nodes:   []corev1.Node{node("a", nil), node("b", nil)},
			reports: []v1alpha1.RouterNodeStatus{report("a", result(3, v1alpha1.ResultApplied, "")), report("b", result(3, v1alpha1.ResultApplied, `spec.vrf: VRF "red" is also used by L3VNI ns/blue, created later, which is skipped on node b`))},
			want:    want{selected: 2, applied: 2, appliedReason: ReasonAllApplied, valid: metav1.ConditionTrue, validReason: ReasonWinsConflict},
		},
		"a failure of the previous generation does not count": {
			nodes:   []corev1.Node{node("a", nil)},
			reports: []v1alpha1.RouterNodeStatus{report("a", result(2, v1alpha1.ResultFailed, "old"))},
			want:    want{selected: 1, appliedReason: ReasonProgressing, valid: metav1.ConditionTrue},
		},
		"failed node names capped at 10": {
			nodes:   manyNodes,
			reports: manyReports,
			want: want{selected: 12, failed: 12, failedNames: []string{"n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09"},
				appliedReason: ReasonFailed, valid: metav1.ConditionTrue},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := Aggregate(ref, 3, tc.selector, tc.nodes, tc.reports, nil)
			applied, valid := st.Conditions[0], st.Conditions[1]
			got := want{st.SelectedNodes, st.AppliedNodes, st.FailedNodes, st.FailedNodeNames, applied.Reason, valid.Status, ""}
			if tc.want.validReason != "" {
				got.validReason = valid.Reason
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("Aggregate mismatch (-want +got):\n%s", diff)
			}
			if st.ObservedGeneration != 3 || applied.ObservedGeneration != 3 || valid.ObservedGeneration != 3 {
				t.Errorf("observedGeneration not 3 everywhere: %+v", st)
			}
			if (applied.Status == metav1.ConditionTrue) != (tc.want.appliedReason == ReasonAllApplied) {
				t.Errorf("Applied condition %s with reason %s", applied.Status, applied.Reason)
			}
		})
	}
}
