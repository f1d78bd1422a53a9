package vtysh_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// The webhook runs CheckConfig in the perouter image: FRR 10.3, as user
// 65532, on a read-only root. This runs the same vtysh the same way, from
// the FRR 10 root file system the golden tests use
// (PEROUTER_FRR10_ROOT), through a wrapper that gives the chroot a /proc.
func TestCheckConfigFRR10AsWebhookUser(t *testing.T) {
	root := os.Getenv("PEROUTER_FRR10_ROOT")
	if root == "" || testing.Short() {
		t.Skip("PEROUTER_FRR10_ROOT unset (or -short): no FRR 10 root file system to run vtysh from")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespace, chroot)")
	}
	// The standard input vtysh reopens through /proc/self/fd/0 must be a
	// pipe of user 65532's, as in the labeler (a pipe of root's is not
	// for it to reopen): cat, as that user, makes one.
	wrapper := filepath.Join(t.TempDir(), "vtysh")
	script := "#!/bin/sh\n" +
		"exec unshare -m sh -c 'mount -t proc proc \"$0\"/proc && exec chroot --userspec=65532:65532 \"$0\" sh -c \"cat | vtysh \\\"\\$@\\\"\" sh \"$@\"' " + root + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cli := vtysh.Cli{Binary: wrapper}
	if err := cli.CheckConfig(context.Background(), "ip prefix-list PL seq 5 permit 10.0.0.0/8\nroute-map RM permit 10\n match ip address prefix-list PL\nexit\n"); err != nil {
		t.Errorf("FRR 10 refuses a valid snippet: %v", err)
	}
	err := cli.CheckConfig(context.Background(), "route-map RM permit 10\n match ip address prefix-lst PL\nexit\n")
	var refused *vtysh.ConfigError
	if !errors.As(err, &refused) {
		t.Fatalf("CheckConfig = %v, want a *ConfigError", err)
	}
	// FRR 10 numbers the node in brackets differently from 8.4.
	if len(refused.Lines) != 1 || !strings.HasPrefix(refused.Lines[0], "line 2: % Unknown command") || !strings.HasSuffix(refused.Lines[0], "match ip address prefix-lst PL") {
		t.Errorf("refused lines %q, want FRR's line 2: %% Unknown command ... match ip address prefix-lst PL", refused.Lines)
	}
}
