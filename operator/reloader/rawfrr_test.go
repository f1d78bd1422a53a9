package reloader

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/vtysh"
)

// rawNode is a node's model with an underlay (router bgp 64514) and the
// given RawFRRConfig snippets, as nodeconfig builds it.
func rawNode(snippets ...nodeconfig.RawSnippet) nodeconfig.Config {
	return nodeconfig.Config{
		NodeName: "worker-1", NodeIndex: 1,
		Underlay: &nodeconfig.Underlay{
			Source:    objects.Ref{Kind: objects.KindUnderlay, Namespace: "perouter-system", Name: "underlay"},
			ASN:       64514,
			RouterID:  netip.MustParseAddr("10.0.0.2"),
			Neighbors: []nodeconfig.Neighbor{{Address: netip.MustParseAddr("192.168.11.2"), ASN: 64512}},
		},
		RawSnippets: snippets,
	}
}

func snippet(name, text string) nodeconfig.RawSnippet {
	return nodeconfig.RawSnippet{Source: objects.Ref{Kind: objects.KindRawFRRConfig, Namespace: "perouter-system", Name: name}, Text: text}
}

func render(t *testing.T, c nodeconfig.Config) string {
	t.Helper()
	text, err := frr.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// A RawFRRConfig reaches the running FRR through the reloader like the
// rest of the config, and one FRR refuses leaves the running config as it
// was, whether FRR's parser refuses it (the webhook's dry run would have,
// had it been asked: an object admitted while the webhook was down, or
// checked by another FRR version) or bgpd refuses it while applying (a
// dry run cannot know: a second router bgp with another AS). Removing the
// snippet removes its lines. Real FRR, the production applier
// (Incremental, falling back to frr-reload.py).
func TestRawFRRConfigReachesFRRAndRefusalsKeepTheRunningConfig(t *testing.T) {
	f := newIncrementalFixture(t)
	ctx := context.Background()
	prefixList := snippet("site-prefixes", "ip prefix-list SITE-PREFIXES seq 10 permit 10.0.0.0/8 le 24\n")

	f.reload(t, render(t, rawNode(prefixList)))
	good := f.running(t)
	if !strings.Contains(good, "ip prefix-list SITE-PREFIXES seq 10 permit 10.0.0.0/8 le 24") {
		t.Fatalf("running config lacks the snippet:\n%s", good)
	}

	for name, tc := range map[string]struct {
		bad        nodeconfig.RawSnippet
		parses     bool // whether vtysh -C accepts the snippet on its own
		wantStage  Stage
		wantInText string
	}{
		"FRR's parser refuses it": {
			bad:        snippet("typo", "route-map SITE-ONLY permit 10\n match ip address prefix-lst SITE-PREFIXES\nexit\n"),
			wantStage:  StageValidate,
			wantInText: "match ip address prefix-lst SITE-PREFIXES",
		},
		"bgpd refuses it while applying": {
			bad:        snippet("second-as", "router bgp 64999\n neighbor 192.0.2.9 remote-as 64998\nexit\n"),
			parses:     true,
			wantStage:  StageApply,
			wantInText: "router bgp 64999",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := vtysh.Cli{}.CheckConfig(ctx, tc.bad.Text)
			if parsed := err == nil; parsed != tc.parses {
				t.Fatalf("vtysh -C on the snippet alone: %v, want parsed=%v", err, tc.parses)
			}
			res, err := f.client.Reload(ctx, render(t, rawNode(prefixList, tc.bad)))
			var re *ReloadError
			if !errors.As(err, &re) {
				t.Fatalf("Reload = %v (result %+v), want a *ReloadError", err, res)
			}
			t.Logf("FRR's refusal: %v", err)
			if res.Stage != tc.wantStage || res.Applied {
				t.Errorf("stage %q applied %v, want %q and not applied", res.Stage, res.Applied, tc.wantStage)
			}
			if !strings.Contains(err.Error(), tc.wantInText) {
				t.Errorf("the refusal does not name the snippet's command %q: %v", tc.wantInText, err)
			}
			if diff := cmp.Diff(good, f.running(t)); diff != "" {
				t.Errorf("running config changed by a refused snippet (-before +after):\n%s", diff)
			}
		})
	}

	f.reload(t, render(t, rawNode()))
	if running := f.running(t); strings.Contains(running, "SITE-PREFIXES") {
		t.Errorf("the snippet's prefix list outlived its RawFRRConfig:\n%s", running)
	}
}
