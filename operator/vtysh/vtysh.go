// Package vtysh is the one way this repository talks to FRR through vtysh:
// the reloader in production, the simulator's routers and the tests all run
// it through Cli, and read "show bgp ... summary json" with ParseBGPSummary.
package vtysh

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

const (
	// DefaultBinary is FRR's vtysh as the Debian package installs it.
	DefaultBinary = "/usr/bin/vtysh"
	// DefaultTimeout bounds one vtysh run when Cli.Timeout is zero.
	DefaultTimeout = 30 * time.Second
)

// Cli runs vtysh against one FRR instance. The zero value runs
// /usr/bin/vtysh against FRR's default sockets.
type Cli struct {
	// Binary is the vtysh binary. Default DefaultBinary.
	Binary string
	// SocketDir is the daemons' --vty_socket directory; empty means FRR's
	// default (/var/run/frr, or /var/run/frr/<Pathspace>).
	SocketDir string
	// ConfigDir is vtysh's --config_dir (where it reads vtysh.conf and
	// writes the integrated frr.conf); empty means FRR's default.
	ConfigDir string
	// Pathspace is FRR's -N name, for instances started by frrinit.sh.
	Pathspace string
	// Timeout bounds each run. Zero means DefaultTimeout; negative, only ctx.
	Timeout time.Duration
}

// Run runs vtysh with args, e.g. Run(ctx, "-c", "show bgp summary") or
// Run(ctx, "-f", file), and returns its combined output. The error names
// the arguments; the output is returned with it, not repeated in it.
func (c Cli) Run(ctx context.Context, args ...string) (string, error) {
	cmd, cancel := c.command(ctx, args)
	defer cancel()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Output runs vtysh with args and returns its standard output alone, for
// JSON that a warning on stderr must not corrupt; stderr goes into the
// error.
func (c Cli) Output(ctx context.Context, args ...string) ([]byte, error) {
	cmd, cancel := c.command(ctx, args)
	defer cancel()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("vtysh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// command is one vtysh run with args against c's instance, bounded by
// Timeout; cancel releases the bound once the run is over.
func (c Cli) command(ctx context.Context, args []string) (cmd *exec.Cmd, cancel context.CancelFunc) {
	ctx, cancel = c.bound(ctx)
	return exec.CommandContext(ctx, c.binary(), append(c.baseArgs(), args...)...), cancel
}

// bound applies Timeout: a daemon that stopped answering (SIGSTOP, a
// wedged bgpd) must not hold the caller.
func (c Cli) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	switch {
	case c.Timeout == 0:
		return context.WithTimeout(ctx, DefaultTimeout)
	case c.Timeout > 0:
		return context.WithTimeout(ctx, c.Timeout)
	}
	return ctx, func() {}
}

// Commands runs each command as one -c argument of a single vtysh run.
func (c Cli) Commands(ctx context.Context, commands ...string) (string, error) {
	args := make([]string, 0, 2*len(commands))
	for _, cmd := range commands {
		args = append(args, "-c", cmd)
	}
	return c.Run(ctx, args...)
}

// Where says which sockets the Cli reaches, for error messages.
func (c Cli) Where() string {
	switch {
	case c.SocketDir != "":
		return c.SocketDir
	case c.Pathspace != "":
		return "/var/run/frr/" + c.Pathspace
	default:
		return "/var/run/frr"
	}
}

func (c Cli) binary() string {
	if c.Binary == "" {
		return DefaultBinary
	}
	return c.Binary
}

func (c Cli) baseArgs() []string {
	var args []string
	if c.SocketDir != "" {
		args = append(args, "--vty_socket", c.SocketDir)
	}
	if c.ConfigDir != "" {
		args = append(args, "--config_dir", c.ConfigDir)
	}
	if c.Pathspace != "" {
		args = append(args, "-N", c.Pathspace)
	}
	return args
}

// CheckConfig parses config as FRR reads frr.conf, with vtysh's dry run
// (-C): no daemon is contacted and nothing is applied. The text goes
// through standard input (/proc/self/fd/0, which needs only /proc), so it
// works on a read-only root filesystem; vtysh reopens that pipe, which it
// may because it runs as the caller's user, who made it. A config FRR refuses gives a
// *ConfigError with FRR's own lines ("line 2: % Unknown command: ...").
// vtysh -C knows FRR's command grammar only: it does not see what the
// daemons run, so a command that parses may still be refused when applied
// (a second "router bgp" with another AS).
func (c Cli) CheckConfig(ctx context.Context, config string) error {
	cmd, cancel := c.command(ctx, []string{"-C", "-f", "/proc/self/fd/0"})
	defer cancel()
	cmd.Stdin = strings.NewReader(config)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var refused []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "line ") && strings.Contains(line, ": %") {
			refused = append(refused, strings.TrimSpace(line))
		}
	}
	if len(refused) == 0 {
		// vtysh itself failed (missing, killed, timed out): say so, the
		// config was not judged.
		return fmt.Errorf("vtysh -C: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return &ConfigError{Lines: refused}
}

// ConfigError is FRR refusing a config in a dry run: the lines in which it
// names what it refuses, with their line numbers in the checked text.
type ConfigError struct {
	Lines []string
}

func (e *ConfigError) Error() string {
	return "FRR refuses it: " + strings.Join(e.Lines, "; ")
}
