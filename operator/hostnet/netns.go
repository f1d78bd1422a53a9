package hostnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/nsexec"
)

// netnsPath resolves a namespace given by name (under /run/netns) or by
// absolute path.
func netnsPath(nameOrPath string) string { return nsexec.Path(nameOrPath) }

// openNetns opens a namespace; "" means the calling thread's current one.
func openNetns(nameOrPath string) (netns.NsHandle, error) {
	if nameOrPath == "" {
		return netns.Get()
	}
	return netns.GetFromPath(netnsPath(nameOrPath))
}

// createNamedNetns creates a persistent network namespace at path the way
// `ip netns add` does: the mount point directory is made a shared mount
// (so the bind mount propagates to other mount namespaces, e.g. FRR's),
// then a fresh namespace is bind-mounted onto an empty file. The calling
// goroutine's thread is returned to its original namespace.
func createNamedNetns(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := makeSharedMount(dir); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()

	return nsexec.DoNew(func() error {
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", path, err)
		}
		return nil
	})
}

func makeSharedMount(dir string) error {
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	// Not a mount point yet: make it one, then shared.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
}

// deleteNamedNetns undoes createNamedNetns (used by tests and tools).
func deleteNamedNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// NetnsIdentity tells namespaces apart: the kernel's network namespace
// cookie, which is never reused while the machine runs. (The nsfs inode
// is not enough: the kernel hands a freed inode number to the next
// namespace, and `ip netns del X; ip netns add X` often gets the same
// one.) A router namespace deleted and created again under the same name
// (a router pod restarted) has a new identity, and everything the
// controller built in the old one is gone with it.
type NetnsIdentity uint64

// IdentityOf returns the identity of the namespace given by name (under
// /run/netns) or path; "" is the caller's own namespace.
func IdentityOf(nameOrPath string) (NetnsIdentity, error) {
	ns, err := openNetns(nameOrPath)
	if err != nil {
		return 0, fmt.Errorf("open netns %q: %w", nameOrPath, err)
	}
	defer ns.Close()
	var cookie uint64
	err = nsexec.Do(ns, func() error {
		// Any socket reports the cookie of the namespace it was made in.
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		// A probe socket that carries no data: its close cannot fail in a
		// way that matters.
		defer func() { _ = unix.Close(fd) }()
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns %q cookie: %w", nameOrPath, err)
	}
	return NetnsIdentity(cookie), nil
}
