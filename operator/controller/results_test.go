package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
)

// failingNode is a node config with n L3VNIs and a datapath error of
// three long lines per VNI, each naming one of its devices (and marked
// with its VNI, as hostnet does), plus lines repeated for every VNI.
func failingNode(n int) ([]objects.Ref, nodeconfig.Config, error) {
	var (
		refs []objects.Ref
		cfg  nodeconfig.Config
		errs []error
	)
	padding := strings.Repeat("x", 200)
	for i := range n {
		ref := objects.Ref{Kind: objects.KindL3VNI, Namespace: "default", Name: fmt.Sprintf("vni-%d", i)}
		vni := uint32(100 + i)
		refs = append(refs, ref)
		cfg.L3VNIs = append(cfg.L3VNIs, nodeconfig.L3VNI{Source: ref, VRF: fmt.Sprintf("vrf%d", i), VNI: vni})
		errs = append(errs,
			&hostnet.VNIError{VNI: vni, Err: fmt.Errorf("creating %s: file exists %s", devname.Bridge(vni), padding)},
			&hostnet.VNIError{VNI: vni, Err: fmt.Errorf("setting %s up: no such device %s", devname.VXLAN(vni), padding)},
			&hostnet.VNIError{VNI: vni, Err: fmt.Errorf("moving %s into netns: permission denied %s", devname.RouterVeth(vni), padding)},
			errors.New("netlink: request entity too large"))
	}
	return refs, cfg, errors.Join(errs...)
}

func TestFailedStatusIsBounded(t *testing.T) {
	refs, cfg, detail := failingNode(1000)
	gens := map[objects.Ref]int64{}
	st := v1alpha1.RouterNodeStatusStatus{
		Errors:  nodeErrors("datapath prepare failed", detail),
		Objects: failedResults(nodeconfig.Report{Selected: refs}, gens, cfg, "node-0", "datapath prepare", detail),
	}
	setCondition(&st, ConditionApplied, metav1.ConditionFalse, ReasonDatapathFailed, strings.Join(st.Errors, "; "))
	rns := v1alpha1.RouterNodeStatus{ObjectMeta: metav1.ObjectMeta{Namespace: DefaultNamespace, Name: "node-0"}, Status: st}
	data, err := json.Marshal(rns)
	if err != nil {
		t.Fatal(err)
	}
	// etcd refuses objects over 1.5 MiB; the API server's request limit
	// is higher. Leave room for BGP sessions and metadata.
	const limit = 1 << 20
	if len(data) > limit {
		t.Errorf("RouterNodeStatus with 1000 failing objects is %d bytes, want <= %d", len(data), limit)
	}
	if len(st.Objects) != 1000 {
		t.Errorf("%d object results, want 1000", len(st.Objects))
	}
	for _, o := range st.Objects {
		if len(o.Message) > maxObjectMessage {
			t.Fatalf("%s message is %d bytes, want <= %d", o.Name, len(o.Message), maxObjectMessage)
		}
	}
	if len(st.Errors) > maxNodeErrors+1 {
		t.Errorf("%d node errors, want <= %d", len(st.Errors), maxNodeErrors+1)
	}
	if last := st.Errors[len(st.Errors)-1]; !strings.HasPrefix(last, "... and ") {
		t.Errorf("last node error = %q, want the count of the ones left out", last)
	}
	if n := strings.Count(strings.Join(st.Errors, "\n"), "request entity too large"); n != 1 {
		t.Errorf("the line repeated for every VNI appears %d times in the node errors, want 1", n)
	}
}

func TestFailedResultsScopedToObject(t *testing.T) {
	refs, cfg, detail := failingNode(12)
	results := failedResults(nodeconfig.Report{Selected: refs}, map[objects.Ref]int64{}, cfg, "node-0", "datapath prepare", detail)
	byName := map[string]string{}
	for _, r := range results {
		byName[r.Name] = r.Message
	}
	tests := map[string]struct {
		object      string
		mentions    []string
		notMentions []string
	}{
		// vni-0 is VNI 100: its lines name br-pe-100 and friends, never
		// VNI 1000-range devices or VNI 110's.
		"own devices only": {object: "vni-0", mentions: []string{devname.Bridge(100), devname.VXLAN(100)},
			notMentions: []string{devname.Bridge(101), devname.Bridge(110), "request entity too large"}},
		"prefix of another VNI does not match": {object: "vni-10", mentions: []string{devname.Bridge(110)},
			notMentions: []string{devname.Bridge(100) + ":", devname.Bridge(111)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			msg := byName[tc.object]
			for _, want := range tc.mentions {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			for _, unwanted := range tc.notMentions {
				if strings.Contains(msg, unwanted) {
					t.Errorf("message %q names %q, which is about another object", msg, unwanted)
				}
			}
			if len(msg) > maxObjectMessage {
				t.Errorf("message is %d bytes, want <= %d", len(msg), maxObjectMessage)
			}
		})
	}
}

// TestFailedResultsByStructureNotWords: the error lines an object gets
// are the ones about its VNI, whatever words they share with its names.
// Matching names in the text gave the L3VNI whose VRF is "router" every
// line "... in router netns", about any VNI.
func TestFailedResultsByStructureNotWords(t *testing.T) {
	router := objects.Ref{Kind: objects.KindL3VNI, Namespace: "default", Name: "a"}
	blue := objects.Ref{Kind: objects.KindL3VNI, Namespace: "default", Name: "b"}
	underlay := objects.Ref{Kind: objects.KindUnderlay, Namespace: "default", Name: "u"}
	cfg := nodeconfig.Config{
		Underlay: &nodeconfig.Underlay{Source: underlay, Interfaces: []string{"eth0"}},
		L3VNIs:   []nodeconfig.L3VNI{{Source: router, VRF: "router", VNI: 100}, {Source: blue, VRF: "blue", VNI: 200}},
	}
	tests := map[string]struct {
		stage  string
		detail error
		want   map[string]string
	}{
		"datapath": {
			stage:  "datapath activate",
			detail: errors.Join(&hostnet.VNIError{VNI: 200, Err: errors.New("set bridge br-pe-200 up in router netns: no such device")}),
			want: map[string]string{
				"a": "datapath activate failed on node node-0; see the RouterNodeStatus errors",
				"b": "datapath activate failed on node node-0: set bridge br-pe-200 up in router netns: no such device",
				"u": "datapath activate failed on node node-0; see the RouterNodeStatus errors",
			},
		},
		// A refused NIC is the Underlay's, whose spec.interfaces named it.
		"underlay NIC": {
			stage:  "datapath prepare",
			detail: errors.Join(&hostnet.UnderlayError{Interface: "eth0", Err: errors.New("underlay interface eth0 (Underlay spec.interfaces): not moved into the router netns: it carries the host's IPv4 default route")}),
			want: map[string]string{
				"a": "datapath prepare failed on node node-0; see the RouterNodeStatus errors",
				"b": "datapath prepare failed on node node-0; see the RouterNodeStatus errors",
				"u": "datapath prepare failed on node node-0: underlay interface eth0 (Underlay spec.interfaces): not moved into the router netns: it carries the host's IPv4 default route",
			},
		},
		"FRR names the objects as its config does": {
			stage:  "FRR reload",
			detail: &frrRefusal{errors.New("line 4: vrf router\nline 5: % Unknown command: router-mac x\nline 9: vni 200: % VNI exists")},
			want: map[string]string{
				"a": "FRR reload failed on node node-0: line 4: vrf router",
				"b": "FRR reload failed on node node-0: line 9: vni 200: % VNI exists",
				"u": "FRR reload failed on node node-0; see the RouterNodeStatus errors",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for _, r := range failedResults(nodeconfig.Report{Selected: []objects.Ref{router, blue, underlay}}, map[objects.Ref]int64{}, cfg, "node-0", tc.stage, tc.detail) {
				got[r.Name] = r.Message
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// A RawFRRConfig gets the lines of FRR's refusal that echo one of its
// commands. The refusals are FRR 8.4's, taken from
// operator/reloader's TestRawFRRConfigReachesFRRAndRefusalsKeepTheRunningConfig.
func TestFailedResultsNameRawFRRConfigs(t *testing.T) {
	typo := objects.Ref{Kind: objects.KindRawFRRConfig, Namespace: "perouter-system", Name: "typo"}
	second := objects.Ref{Kind: objects.KindRawFRRConfig, Namespace: "perouter-system", Name: "second-as"}
	fine := objects.Ref{Kind: objects.KindRawFRRConfig, Namespace: "perouter-system", Name: "fine"}
	cfg := nodeconfig.Config{RawSnippets: []nodeconfig.RawSnippet{
		{Source: fine, Text: "ip prefix-list SITE-PREFIXES seq 10 permit 10.0.0.0/8 le 24\nexit\n"},
		{Source: typo, Text: "route-map SITE-ONLY permit 10\n match ip address prefix-lst SITE-PREFIXES\nexit\n"},
		{Source: second, Text: "router bgp 64999\n neighbor 192.0.2.9 remote-as 64998\nexit\n"},
	}}
	refs := []objects.Ref{fine, typo, second}
	tests := map[string]struct {
		detail error
		want   map[string]string
	}{
		"parser": {
			detail: &frrRefusal{errors.New("line 39: % Unknown command:  match ip address prefix-lst SITE-PREFIXES")},
			want: map[string]string{
				"fine":      "FRR reload failed on node node-0; see the RouterNodeStatus errors",
				"typo":      "FRR reload failed on node node-0: line 39: % Unknown command:  match ip address prefix-lst SITE-PREFIXES",
				"second-as": "FRR reload failed on node node-0; see the RouterNodeStatus errors",
			},
		},
		"bgpd": {
			detail: &frrRefusal{errors.New("line 3: Failure to communicate[13] to bgpd, line: router bgp 64999\nline 6: % Unknown command[4]:  neighbor 192.0.2.9 remote-as 64998")},
			want: map[string]string{
				"fine":      "FRR reload failed on node node-0; see the RouterNodeStatus errors",
				"typo":      "FRR reload failed on node node-0; see the RouterNodeStatus errors",
				"second-as": "FRR reload failed on node node-0: line 3: Failure to communicate[13] to bgpd, line: router bgp 64999; line 6: % Unknown command[4]:  neighbor 192.0.2.9 remote-as 64998",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for _, r := range failedResults(nodeconfig.Report{Selected: refs}, map[objects.Ref]int64{}, cfg, "node-0", "FRR reload", tc.detail) {
				got[r.Name] = r.Message
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailedResultsWithoutOwnLines(t *testing.T) {
	ref := objects.Ref{Kind: objects.KindUnderlay, Namespace: "default", Name: "underlay"}
	got := failedResults(nodeconfig.Report{Selected: []objects.Ref{ref}}, map[objects.Ref]int64{ref: 3}, nodeconfig.Config{}, "node-0", "FRR reload",
		errors.New("line 12: % Unknown command"))
	want := []v1alpha1.ObjectResult{{Kind: objects.KindUnderlay, Namespace: "default", Name: "underlay", Generation: 3,
		Result: v1alpha1.ResultFailed, Message: "FRR reload failed on node node-0; see the RouterNodeStatus errors"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		in   string
		n    int
		want string
	}{
		"short stays":          {in: "abc", n: 5, want: "abc"},
		"cut with mark":        {in: "abcdefghij", n: 7, want: "abcd…"},
		"cut at rune boundary": {in: "aééééé", n: 7, want: "aé…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("truncate(%q, %d) = %q, want %q (valid UTF-8, <= %d bytes)", tc.in, tc.n, got, tc.want, tc.n)
			}
		})
	}
}

// TestFRRRefusalIsRedacted: whatever FRRPusher returns (a reloader of
// another version need not redact), FRR's echo of a neighbour password
// reaches neither the RouterNodeStatus errors (and the event, which is
// their summary), nor the object messages, nor the error the reconcile
// returns (controller-runtime logs it). The first lines are FRR 8.4's
// (operator/reloader's TestRefusalsDoNotLeakPasswords); the last names a
// VRF so that it reaches the L3VNI's own message too.
func TestFRRRefusalIsRedacted(t *testing.T) {
	const secret = "s3cr3tPW"
	red := objects.Ref{Kind: objects.KindL3VNI, Namespace: "default", Name: "red"}
	cfg := nodeconfig.Config{L3VNIs: []nodeconfig.L3VNI{{Source: red, VRF: "red", VNI: 100}}}
	frrText := "FRR failed to apply the config (exit status 1): % Specify remote-as or peer-group commands first\n" +
		"line 4: Failure to communicate[13] to bgpd, line:  neighbor 10.9.9.9 password " + secret + "\n" +
		"line 2: % Unknown command:  vrf red neighbor 192.0.2.2 password " + secret + " extra"
	detail := &frrRefusal{errors.New(frrText)}
	statusErrors := nodeErrors("FRR reload refused config abc (the previous config keeps running)", detail)
	results := failedResults(nodeconfig.Report{Selected: []objects.Ref{red}}, map[objects.Ref]int64{}, cfg, "node-0", "FRR reload", detail)
	returned := fmt.Errorf("%s: %w", "FRR reload refused config abc", detail)
	texts := map[string]string{
		"status errors":  strings.Join(statusErrors, "\n"),
		"object message": results[0].Message,
		"returned error": returned.Error(),
	}
	for what, text := range texts {
		if strings.Contains(text, secret) {
			t.Errorf("%s hold the password:\n%s", what, text)
		}
		if !strings.Contains(text, "password <redacted>") {
			t.Errorf("%s lost FRR's line:\n%s", what, text)
		}
	}
}
