package hostnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces are bind-mounted, as
// `ip netns add` does, so that `ip netns exec` and FRR's `-N` find them.
const netnsDir = "/run/netns"

// netnsPath resolves a namespace given by name (under /run/netns) or by
// absolute path.
func netnsPath(nameOrPath string) string {
	if strings.HasPrefix(nameOrPath, "/") {
		return nameOrPath
	}
	return filepath.Join(netnsDir, nameOrPath)
}

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

	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer origin.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("unshare: %w", err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	mountErr := unix.Mount(self, path, "none", unix.MS_BIND, "")
	if err := netns.Set(origin); err != nil {
		// The thread is stuck in the new namespace: leave it locked so
		// the runtime discards it instead of reusing it.
		return fmt.Errorf("return to the original netns: %w", err)
	}
	runtime.UnlockOSThread()
	if mountErr != nil {
		return fmt.Errorf("bind mount %s: %w", path, mountErr)
	}
	return nil
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

// inNetns runs fn with the calling goroutine's thread inside ns. /proc/sys/net
// shows the namespace of the thread that opens it, so sysctls are read and
// written this way.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer origin.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	fnErr := fn()
	if err := netns.Set(origin); err != nil {
		// Leave the thread locked: the runtime then kills it rather than
		// running other goroutines in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("return to the original netns: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
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
	err = inNetns(ns, func() error {
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
