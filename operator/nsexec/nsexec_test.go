package nsexec_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/nsexec"
)

// addNetns makes the namespace ns for a test that runs as root (others
// skip), deleted when the test ends; a stale one of that name goes first.
func addNetns(t *testing.T, ns string) context.Context {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	_ = nsexec.Delete(ctx, ns)
	if err := nsexec.Add(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nsexec.Delete(ctx, ns) })
	return ctx
}

func TestAddRunDelete(t *testing.T) {
	ns := "nsexec-test"
	ctx := addNetns(t, ns)
	defer func() {
		if err := nsexec.Delete(ctx, ns); err != nil {
			t.Error(err)
		}
	}()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	inside, err := nsexec.Run(ctx, ns, "readlink", "/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(inside) == self {
		t.Errorf("command ran in the caller's namespace %s", self)
	}
	// ip runs as "ip -n": it sees the namespace's links, lo up.
	out, err := nsexec.Run(ctx, ns, "ip", "-o", "link", "show", "lo")
	if err != nil || !strings.Contains(out, "UP") {
		t.Errorf("lo in %s: %q (%v), want up", ns, out, err)
	}
	if _, err := nsexec.Run(ctx, ns, "false"); err == nil || !strings.Contains(err.Error(), "netns "+ns) {
		t.Errorf("a failing command: %v, want an error naming the namespace", err)
	}
}

// TestRename: the renamed namespace is the same one (its link is there),
// and the old name no longer reaches anything.
func TestRename(t *testing.T) {
	from, to := "nsexec-rename-a", "nsexec-rename-b"
	_ = nsexec.Delete(context.Background(), to)
	ctx := addNetns(t, from)
	t.Cleanup(func() { _ = nsexec.Delete(ctx, to) })
	if _, err := nsexec.Run(ctx, from, "ip", "link", "add", "marker0", "type", "veth", "peer", "name", "marker1"); err != nil {
		t.Fatal(err)
	}
	if err := nsexec.Rename(ctx, from, to); err != nil {
		t.Fatal(err)
	}
	if out, err := nsexec.Run(ctx, to, "ip", "-o", "link", "show", "marker0"); err != nil {
		t.Errorf("the link is not in the renamed namespace %s: %v %s", to, err, out)
	}
	if _, err := os.Stat("/run/netns/" + from); !os.IsNotExist(err) {
		t.Errorf("old name %s: stat error %v, want it gone", from, err)
	}
	if err := nsexec.Rename(ctx, to, to); err == nil {
		t.Errorf("renaming %s onto an existing name succeeded, want an error", to)
	}
}

// TestRenameFailureLeavesOldName: when the old name cannot be removed (here
// a second mount stacked on it keeps it busy), Rename undoes itself: the
// new name is gone and the old one still reaches the namespace.
func TestRenameFailureLeavesOldName(t *testing.T) {
	from, to := "nsexec-rename-busy-a", "nsexec-rename-busy-b"
	_ = nsexec.Delete(context.Background(), to)
	ctx := addNetns(t, from)
	t.Cleanup(func() {
		// The mount the test stacks on from; addNetns deletes the other.
		_ = unix.Unmount(nsexec.Path(from), unix.MNT_DETACH)
		_ = nsexec.Delete(ctx, to)
	})
	if _, err := nsexec.Run(ctx, from, "ip", "link", "add", "marker0", "type", "veth", "peer", "name", "marker1"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(nsexec.Path(from), nsexec.Path(from), "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("stacking a second mount on %s: %v", from, err)
	}
	renameErr := nsexec.Rename(ctx, from, to)
	if renameErr == nil || !strings.Contains(renameErr.Error(), "removing the old name") {
		t.Fatalf("Rename of a busy name: %v, want an error removing the old name", renameErr)
	}
	if _, err := os.Stat(nsexec.Path(to)); !os.IsNotExist(err) {
		t.Errorf("new name %s after a failed rename (%v): stat error %v, want it gone", to, renameErr, err)
	}
	if out, err := nsexec.Run(ctx, from, "ip", "-o", "link", "show", "marker0"); err != nil {
		t.Errorf("the old name %s no longer reaches the namespace: %v %s", from, err, out)
	}
}

// TestDoNamed: fn runs on a thread inside the namespace, the thread comes
// back to the caller's afterwards, and a missing namespace is an error
// naming it.
func TestDoNamed(t *testing.T) {
	ns := "nsexec-do-test"
	ctx := addNetns(t, ns)
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := nsexec.DoNamed(ns, func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want, err := nsexec.Run(ctx, ns, "readlink", "/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if inside != strings.TrimSpace(want) || inside == self {
		t.Errorf("DoNamed ran in %s, want %s (the caller is in %s)", inside, strings.TrimSpace(want), self)
	}
	if after, _ := os.Readlink("/proc/thread-self/ns/net"); after != self {
		t.Errorf("after DoNamed the thread is in %s, want back in %s", after, self)
	}
	if err := nsexec.DoNamed("nsexec-no-such-ns", func() error { return nil }); err == nil || !strings.Contains(err.Error(), "nsexec-no-such-ns") {
		t.Errorf("DoNamed of a missing namespace: %v, want an error naming it", err)
	}
}
