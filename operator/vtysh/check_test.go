package vtysh_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perouter/perouter/operator/vtysh"
)

// CheckConfig runs the real vtysh (FRR 8.4 on the host; the perouter
// image, which serves the webhook, ships FRR 10.3: operator/frr's golden
// tests check both parse the same snippets).
func TestCheckConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real-FRR check")
	}
	bin, err := exec.LookPath("vtysh")
	if err != nil {
		t.Fatalf("vtysh not found (%v): install FRR, e.g. apt-get install -y frr", err)
	}
	cli := vtysh.Cli{Binary: bin}
	for name, tc := range map[string]struct {
		config    string
		wantLines []string // nil: accepted
	}{
		"prefix list and route map": {
			config: "ip prefix-list PL seq 5 permit 10.0.0.0/8\nroute-map RM permit 10\n match ip address prefix-list PL\nexit\n",
		},
		"a router bgp another AS parses (only applying it fails)": {
			config: "router bgp 64999\n neighbor 192.0.2.1 remote-as 64998\nexit\n",
		},
		"unknown commands, each named with its line": {
			config:    "ip prefix-list PL seq 5 permit 10.0.0.0/8\nbogus command\nrouter bgp 64514\n bgp no-such-knob\nexit\n",
			wantLines: []string{"line 2: % Unknown command[4]: bogus command", "line 4: % Unknown command[25]:  bgp no-such-knob"},
		},
		"incomplete command": {
			config:    "ip prefix-list\n",
			wantLines: []string{"line 1: % Command incomplete[4]: ip prefix-list"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := cli.CheckConfig(context.Background(), tc.config)
			var refused *vtysh.ConfigError
			switch {
			case tc.wantLines == nil && err != nil:
				t.Fatalf("CheckConfig = %v, want accepted", err)
			case tc.wantLines != nil && !errors.As(err, &refused):
				t.Fatalf("CheckConfig = %v, want a *ConfigError", err)
			case tc.wantLines != nil:
				if diff := cmp.Diff(tc.wantLines, refused.Lines); diff != "" {
					t.Errorf("refused lines (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCheckConfigWithoutVtysh(t *testing.T) {
	err := vtysh.Cli{Binary: "/nonexistent/vtysh"}.CheckConfig(context.Background(), "ip prefix-list\n")
	var refused *vtysh.ConfigError
	if err == nil || errors.As(err, &refused) {
		t.Fatalf("CheckConfig with no vtysh = %v, want an error that is not FRR refusing the text", err)
	}
}
