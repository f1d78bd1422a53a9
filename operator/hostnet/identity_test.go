package hostnet

import (
	"errors"
	"io/fs"
	"testing"
)

func TestIdentityOfTellsRecreatedNamespaceApart(t *testing.T) {
	name, path, first := namedNetns(t, "ident")
	again, err := IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Fatalf("same namespace by name and by path: %v != %v", first, again)
	}
	self, err := IdentityOf("")
	if err != nil {
		t.Fatal(err)
	}
	if self == first {
		t.Fatalf("a fresh namespace has the caller's identity %v", self)
	}

	// Deleted and created again at once, as `ip netns del; ip netns add`
	// does: the kernel often reuses the nsfs inode number, never the
	// identity.
	seen := map[NetnsIdentity]bool{first: true}
	for range 5 {
		if err := deleteNamedNetns(path); err != nil {
			t.Fatal(err)
		}
		if _, err := IdentityOf(name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("deleted namespace: got %v, want not-exist", err)
		}
		if err := createNamedNetns(path); err != nil {
			t.Fatal(err)
		}
		id, err := IdentityOf(name)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("recreated namespace has an identity seen before: %v", id)
		}
		seen[id] = true
	}
}

// namedNetns creates a namespace under /run/netns for the test, deleted
// at its end, and returns its name, path and identity.
func namedNetns(t *testing.T, role string) (string, string, NetnsIdentity) {
	t.Helper()
	requireRoot(t)
	name := uniqueNetnsName(role)
	path := netnsPath(name)
	if err := createNamedNetns(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamedNetns(path) })
	id, err := IdentityOf(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, path, id
}
