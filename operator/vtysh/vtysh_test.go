package vtysh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/vtysh"
)

func TestCliPassesSocketsThenCommands(t *testing.T) {
	cli := vtysh.Cli{Binary: "/bin/echo", SocketDir: "/s", ConfigDir: "/c", Pathspace: "p"}
	out, err := cli.Commands(context.Background(), "show a", "show b")
	if err != nil {
		t.Fatal(err)
	}
	if want := "--vty_socket /s --config_dir /c -N p -c show a -c show b"; strings.TrimSpace(out) != want {
		t.Errorf("args = %q, want %q", strings.TrimSpace(out), want)
	}
}

func TestCliTimesOut(t *testing.T) {
	start := time.Now()
	_, err := vtysh.Cli{Binary: "/bin/sleep", Timeout: 50 * time.Millisecond}.Run(context.Background(), "10")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Run = %v after %v, want a timeout", err, time.Since(start))
	}
}
