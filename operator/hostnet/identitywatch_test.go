package hostnet

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// overlayNetns hides the namespace mounted at path under a bind mount of
// a regular file, so that reading its identity fails (setns refuses a
// file that is no namespace) while the namespace itself stays. The
// returned func lifts the overlay.
func overlayNetns(t *testing.T, path string) func() {
	t.Helper()
	file := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(file, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(file, path, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount over %s: %v", path, err)
	}
	lifted := false
	lift := func() {
		t.Helper()
		if lifted {
			return
		}
		lifted = true
		// MNT_DETACH: the watcher may hold the overlay open for a read at
		// this very moment, and a plain unmount then fails with EBUSY.
		// Detached, the path shows the namespace again at once.
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Fatalf("unmount the overlay of %s: %v", path, err)
		}
	}
	t.Cleanup(lift)
	return lift
}

func TestIdentityWatch(t *testing.T) {
	name, path, first := namedNetns(t, "watch")

	events := make(chan IdentityEvent, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		IdentityWatch{Netns: name, Poll: 10 * time.Millisecond}.Run(ctx, func(e IdentityEvent) { events <- e })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	const quiet = 300 * time.Millisecond // 30 polls
	expectNone := func(while string) {
		t.Helper()
		select {
		case e := <-events:
			t.Fatalf("%s: event %+v, want none", while, e)
		case <-time.After(quiet):
		}
	}
	next := func(while string) IdentityEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no event", while)
			return IdentityEvent{}
		}
	}

	// nextChange skips errors: `ip netns del` unmounts, then removes the
	// file, and `ip netns add` creates the file, then mounts; a read
	// between the two sees a plain file.
	nextChange := func(while string) IdentityEvent {
		t.Helper()
		for {
			if e := next(while); e.Err == nil {
				return e
			}
		}
	}

	expectNone("namespace unchanged")

	// A failed read is an error, reported once, and no change.
	lift := overlayNetns(t, path)
	if e := next("identity unreadable"); e.Err == nil || e.Identity != first {
		t.Fatalf("identity unreadable: event %+v, want an error and the identity read before (%v)", e, first)
	}
	expectNone("identity still unreadable")
	lift()
	expectNone("the same namespace readable again")

	// Deleted: identity zero, which is no error.
	if err := deleteNamedNetns(path); err != nil {
		t.Fatal(err)
	}
	if e := nextChange("namespace deleted"); e.Identity != 0 {
		t.Fatalf("namespace deleted: event %+v, want identity 0", e)
	}
	if err := createNamedNetns(path); err != nil {
		t.Fatal(err)
	}
	e := nextChange("namespace created again")
	if e.Identity == 0 || e.Identity == first {
		t.Fatalf("namespace created again: event %+v, want a new identity (old %v)", e, first)
	}
	if now, err := IdentityOf(name); err != nil || now != e.Identity {
		t.Fatalf("event identity %v, IdentityOf says %v, %v", e.Identity, now, err)
	}
	expectNone("new namespace unchanged")
}

func TestReadIdentityOfMissingNamespace(t *testing.T) {
	requireRoot(t)
	id, err := ReadIdentity(uniqueNetnsName("missing"))
	if err != nil || id != 0 {
		t.Fatalf("ReadIdentity of a missing namespace = %v, %v; want 0, nil", id, err)
	}
	if _, err := ReadIdentity("/proc/self/status"); err == nil {
		t.Fatal("ReadIdentity of a file that is no namespace: no error")
	}
}
