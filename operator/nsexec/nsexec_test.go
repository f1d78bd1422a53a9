package nsexec_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/nsexec"
)

func TestAddRunDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	ns := "nsexec-test"
	_ = nsexec.Delete(ctx, ns)
	if err := nsexec.Add(ctx, ns); err != nil {
		t.Fatal(err)
	}
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
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	from, to := "nsexec-rename-a", "nsexec-rename-b"
	for _, ns := range []string{from, to} {
		_ = nsexec.Delete(ctx, ns)
	}
	if err := nsexec.Add(ctx, from); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, ns := range []string{from, to} {
			_ = nsexec.Delete(ctx, ns)
		}
	})
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
