// Package nsexec is the one way into a network namespace. A command runs
// in one through iproute2 ("ip netns add", "ip netns exec", "ip -n"), so
// that every namespace the harness makes is visible to ip(8), vtysh and a
// person debugging a lab: the simulator's nodes, frrproc's daemons and the
// real-FRR tests all go through Add, Run and Command. Go code that must
// run on a thread inside a namespace (open a socket there, read its
// /proc/sys/net) goes through Do, DoNamed and DoNew: operator/hostnet for
// sysctls and namespace identities, the simulator's API forwarder. The
// operator's netlink work uses handles in operator/hostnet instead.
package nsexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
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
// name unmounted and removed. It applies whole or not at all: when a step
// fails, the steps before it are undone, so the namespace keeps its old
// name and only that one.
func Rename(_ context.Context, from, to string) error {
	src, dst := Path(from), Path(to)
	fail := func(step string, err error, undo ...func() error) error {
		errs := []error{fmt.Errorf("rename netns %s to %s: %s: %w", from, to, step, err)}
		for _, u := range undo {
			if err := u(); err != nil {
				errs = append(errs, fmt.Errorf("undoing the rename: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	// Both names are bound from the namespace itself, as ip netns add
	// binds a new one, not one from the other's mount: a bind of a mount
	// under the shared /run/netns joins its peer group, and a later mount
	// on one name would propagate onto the other.
	ns, err := netns.GetFromPath(src)
	if err != nil {
		return fail("opening the namespace", err)
	}
	defer ns.Close()
	bind := func(target string) error {
		return Do(ns, func() error { return unix.Mount("/proc/thread-self/ns/net", target, "", unix.MS_BIND, "") })
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fail("creating the new name", err)
	}
	f.Close()
	removeDst := func() error { return os.Remove(dst) }
	if err := bind(dst); err != nil {
		return fail("bind mount", err, removeDst)
	}
	unmountDst := func() error { return unix.Unmount(dst, unix.MNT_DETACH) }
	if err := unix.Unmount(src, unix.MNT_DETACH); err != nil {
		return fail("unmounting the old name", err, unmountDst, removeDst)
	}
	if err := os.Remove(src); err != nil {
		remountSrc := func() error { return bind(src) }
		return fail("removing the old name", err, remountSrc, unmountDst, removeDst)
	}
	return nil
}

// Path is the file of a namespace given by name (under /run/netns, where
// ip(8) keeps them) or by absolute path.
func Path(nameOrPath string) string {
	if strings.HasPrefix(nameOrPath, "/") {
		return nameOrPath
	}
	return filepath.Join(namedDir, nameOrPath)
}

// Do runs fn with the calling goroutine locked to its thread and that
// thread inside ns, then returns the thread to its own namespace. What fn
// opens there stays there: a socket belongs to the namespace it was made
// in, and /proc/sys/net shows the namespace of the thread that opens it.
func Do(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("entering netns: %w", err)
		}
		return nil
	}, fn)
}

// DoNamed is Do for the namespace given by name (under /run/netns) or path.
func DoNamed(nameOrPath string, fn func() error) error {
	ns, err := netns.GetFromPath(Path(nameOrPath))
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", nameOrPath, err)
	}
	defer ns.Close()
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("entering netns %s: %w", nameOrPath, err)
		}
		return nil
	}, fn)
}

// DoNew is Do in a new, empty network namespace, which lives on after fn
// only if fn keeps it (a bind mount of /proc/thread-self/ns/net, as
// ip netns add makes).
func DoNew(fn func() error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, fn)
}

// onThread locks the goroutine to its thread, moves the thread with enter,
// runs fn and moves the thread back.
func onThread(enter, fn func() error) error {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening the thread's own netns: %w", err)
	}
	defer origin.Close()
	if err := enter(); err != nil {
		// enter failed whole (setns and unshare do): the thread is
		// where it was.
		runtime.UnlockOSThread()
		return err
	}
	fnErr := fn()
	if err := netns.Set(origin); err != nil {
		// Leave the thread locked: the runtime then discards it rather
		// than running other goroutines in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("return to the original netns: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}
