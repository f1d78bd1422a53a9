// Package nsexec is the harness's one way to make a named network namespace
// and to run a command in one: the simulator's nodes, frrproc's daemons and
// the real-FRR tests all go through it. It uses iproute2 ("ip netns add",
// "ip netns exec", "ip -n") so that every namespace is visible to ip(8),
// vtysh and a person debugging a lab. The operator itself reaches its
// namespaces with netlink handles in operator/hostnet.
package nsexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// namedDir is where ip(8) keeps the names of network namespaces.
const namedDir = "/run/netns"

// Command runs args in the named network namespace. "ip" itself runs as
// "ip -n NS ...", which saves an exec (it counts in the VM lane); anything
// else as "ip netns exec NS ...", which execs the command in place, so
// cmd.Process is the command itself.
func Command(ctx context.Context, ns string, args ...string) *exec.Cmd {
	if len(args) > 0 && args[0] == "ip" {
		return exec.CommandContext(ctx, "ip", append([]string{"-n", ns}, args[1:]...)...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// Run runs args in ns and returns the combined output; the error names the
// namespace and the command and carries the output.
func Run(ctx context.Context, ns string, args ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("netns %s: empty command", ns)
	}
	out, err := Command(ctx, ns, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s: %w: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Add creates the named network namespace and sets its loopback up.
func Add(ctx context.Context, ns string) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	_, err := Run(ctx, ns, "ip", "link", "set", "lo", "up")
	return err
}

// Delete removes the named network namespace.
func Delete(ctx context.Context, ns string) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Rename gives the named namespace another name: the namespace, its links
// and its processes stay as they are; the old name is gone afterwards, so
// whoever opens the namespace by its old name no longer finds it. ip(8) has
// no rename; this is its own bind mount under another name, then the old
// name deleted.
func Rename(ctx context.Context, from, to string) error {
	src, dst := filepath.Join(namedDir, from), filepath.Join(namedDir, to)
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("rename netns %s to %s: %w", from, to, err)
	}
	f.Close()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return errors.Join(fmt.Errorf("rename netns %s to %s: bind mount: %w", from, to, err), os.Remove(dst))
	}
	return Delete(ctx, from)
}
