// Package kubenode runs a real Kubernetes node inside one simulated node's
// host network namespace: a containerd (with runc) and a kubelet,
// both started in that namespace, so that hostNetwork pods land in it. The
// images come from OCI archives (bin/images/*.tar) imported into the node's
// containerd; there is no registry.
//
// One machine runs several such nodes side by side. What keeps them apart:
//   - the network namespace: each kubelet and containerd listens on the
//     default ports (10250, 10248, containerd's stream server) inside its own
//     namespace, so the ports never collide; the read-only port is off;
//   - a state directory per node (Options.Dir): containerd's root, state and
//     socket, the kubelet's root dir, pod logs, CNI config, logs;
//   - a mount namespace per node, where the kubelet's fixed directories
//     (KubeletFixedDirs) and Options.PrivateDirs are the node's own;
//   - a cgroup root per node (/perouter-kubenode-NAME in every cgroup v1
//     hierarchy, or the one cgroup2 tree): two kubelets under the same root
//     would each treat the other's pods as orphans and remove their cgroups.
//
// The kubelet reaches the API server through a forwarder that listens inside
// the node's namespace on the API server's own loopback address (see
// Options.APIServer), so the admin kubeconfig works unchanged. The API server
// reaches the kubelets (logs, exec, port-forward) through a KubeletProxy.
//
// Processes are entered into the namespace with nsenter --net, not
// "ip netns exec": the latter also makes a private mount namespace with a
// fresh /sys, which hides /sys/fs/cgroup from the kubelet and runc and hides
// the containers' mounts from everyone else.
package kubenode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/perouter/perouter/operator/retry"
)

// Binaries needed in Options.AssetsDir (hack/build-k8s-assets.sh --node).
// runc is built too, at the version containerd 2.4 is released with.
var Binaries = []string{"kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "runc"}

// CNIBinDir holds Debian's containernetworking-plugins; the node's CNI
// config uses only its loopback plugin (see writeCNIConfig).
const CNIBinDir = "/usr/lib/cni"

// PauseImage is the sandbox image every pod's sandbox runs (see pause.go).
const PauseImage = "perouter.local/pause:busybox"

// KubeletFixedDirs are the kubelet's directories that --root-dir does not
// move (k8s.io/kubelet's deviceplugin/v1beta1.DevicePluginPath): the device
// plugin registry's socket and checkpoint. Every node keeps its own, like
// Options.PrivateDirs. At start a kubelet deletes every socket there and
// then listens on kubelet.sock: kubelets sharing the directory take each
// other's socket, and two that start together fail ("bind: address already
// in use", "Failed to start ContainerManager") and never register their
// Node, as two of three did in the VM lane, where the nodes unpack the same
// image seed and so start their kubelets within milliseconds.
var KubeletFixedDirs = []string{"/var/lib/kubelet/device-plugins"}

// Options describe one node.
type Options struct {
	// Name is the Node's name (--hostname-override).
	Name string
	// Netns is the node's host network namespace (a name under /run/netns).
	Netns string
	// NodeIP is an address of the node inside Netns (--node-ip); the API
	// server reaches the kubelet on it through the KubeletProxy.
	NodeIP string
	// Dir holds all of the node's state; it is created if missing and
	// removed by Stop.
	Dir string
	// AssetsDir holds Binaries.
	AssetsDir string
	// Kubeconfig is the kubelet's credential. Its server must be
	// APIServer's address (the forwarder serves that address inside Netns).
	Kubeconfig string
	// APIServer is the host:port of the API server in the root namespace;
	// a forwarder listens on the same host:port inside Netns.
	APIServer string
	// Images are OCI archives imported into the node's containerd before
	// the kubelet starts.
	Images []string
	// Tags are further references of imported images (new reference →
	// existing one), given before the kubelet starts: what a registry
	// would still serve after a node restart (see TagImage).
	Tags map[string]string
	// CgroupV2 tells the kubelet the host uses the unified hierarchy (the VM
	// lane); false means cgroup v1 (this project's hosts), which recent
	// kubelets refuse unless failCgroupV1 is false.
	CgroupV2 bool
	// StartTimeout bounds containerd's start and the image import; zero
	// means 2 minutes.
	StartTimeout time.Duration
	// PodCIDR is the node's pod network (e.g. 10.244.1.0/24): pods without
	// hostNetwork get an address from it on a bridge in Netns (Debian's
	// bridge and host-local CNI plugins), so that the kubelet probes them
	// and the API server reaches them (webhooks) through the KubeletProxy
	// (RegisterPodNetwork). Empty gives such pods only lo.
	PodCIDR string
	// KubernetesService is the `kubernetes` Service's ClusterIP:port
	// (e.g. 10.96.0.1:443), where in-cluster clients dial the API server.
	// There is no kube-proxy: the address goes on Netns's lo and a second
	// forwarder listens there. The API server's certificate must name the
	// IP (controlplane.Options.ServingIPs). Empty: no such forwarder.
	KubernetesService string
	// ImageSeed, when set, is a directory SeedImages filled: the node's
	// containerd starts from a copy of that store, with every image of it
	// already imported and unpacked, instead of importing Images and the
	// pause image itself. Under emulation (the VM lane) the import of the
	// archives, decompression and hashing, took over 10 minutes a node;
	// the copy is a file copy.
	ImageSeed string
	// PrivateDirs are host directories that this node sees as its own: the
	// node's containerd and kubelet (and so every pod's hostPath volume)
	// run in a mount namespace of their own where each of these paths is
	// a shared bind mount of a directory under Dir. Nodes of one machine
	// share a file system; a real node has its own /run/netns and its own
	// state directories. Each must be an absolute path without symlinks.
	// KubeletFixedDirs are private to the node whatever this holds.
	PrivateDirs []string
}

// Node is a running containerd + kubelet pair.
type Node struct {
	opts       Options
	containerd *process
	kubelet    *process
	forwarders []*forwarder
	cgroups    []string
}

// ContainerdSocket is the node's containerd (CRI) socket.
func (n *Node) ContainerdSocket() string {
	return filepath.Join(n.opts.Dir, "containerd", "containerd.sock")
}

// KubeletLog and ContainerdLog are the processes' log files.
func (n *Node) KubeletLog() string    { return filepath.Join(n.opts.Dir, "kubelet.log") }
func (n *Node) ContainerdLog() string { return filepath.Join(n.opts.Dir, "containerd.log") }

// Pids are the process ids of containerd and the kubelet (for measuring).
func (n *Node) Pids() []int {
	var pids []int
	for _, c := range []*process{n.containerd, n.kubelet} {
		if c != nil && c.Process != nil {
			pids = append(pids, c.Process.Pid)
		}
	}
	return pids
}

// Check reports the first missing prerequisite, with how to get it.
func Check(assetsDir string) error {
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(assetsDir, b)); err != nil {
			return fmt.Errorf("kubenode: %s missing in %s: build it with `hack/build-k8s-assets.sh --node`", b, assetsDir)
		}
	}
	if _, err := os.Stat(filepath.Join(CNIBinDir, "loopback")); err != nil {
		return fmt.Errorf("kubenode: %w: install Debian's containernetworking-plugins (hack/install-deps.sh)", err)
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		return fmt.Errorf("kubenode: %w: install Debian's busybox-static (hack/install-deps.sh)", err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return fmt.Errorf("kubenode: nsenter (util-linux) not found: %w", err)
	}
	return nil
}

// Start starts the node's containerd, imports the images, starts the API
// server forwarder and the kubelet. It returns once the kubelet runs; the
// Node object registers shortly after (wait for it with the API). On error
// nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.Name == "" || opts.Netns == "" || opts.Dir == "" || opts.APIServer == "" || opts.Kubeconfig == "" {
		return nil, fmt.Errorf("kubenode: Name, Netns, Dir, APIServer and Kubeconfig are required (got %+v)", opts)
	}
	if err := Check(opts.AssetsDir); err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	n := &Node{opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Stop())
		}
	}()
	for _, d := range []string{"containerd", "kubelet", "pod-logs", "cni", "opt"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if n.cgroups, err = makeCgroupRoot(cgroupRoot(opts.Name), opts.CgroupV2); err != nil {
		return nil, err
	}
	if err := writeCNIConfig(filepath.Join(opts.Dir, "cni"), opts.PodCIDR, filepath.Join(opts.Dir, "cni-ipam")); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if opts.ImageSeed != "" {
		// One archive, read in one stream: under emulation a file-by-file
		// copy over the VM's 9p share pays round trips per file. -p,
		// --xattrs and root keep what the snapshots hold (device nodes of
		// whiteouts, xattrs of opaque directories, owners and modes).
		if err := os.MkdirAll(n.containerdRoot(), 0o700); err != nil {
			return nil, err
		}
		if out, err := exec.CommandContext(startCtx, "tar", "--xattrs", "--xattrs-include=*", "-xpf", seedArchive(opts.ImageSeed), "-C", n.containerdRoot()).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("node %s: unpacking the image store %s: %w: %s", opts.Name, seedArchive(opts.ImageSeed), err, out)
		}
	}
	containerdConfig := filepath.Join(opts.Dir, "containerd.toml")
	if err := os.WriteFile(containerdConfig, []byte(n.containerdConfig()), 0o644); err != nil {
		return nil, err
	}
	if n.containerd, err = n.spawnContainerd(containerdConfig); err != nil {
		return nil, err
	}
	if err := n.waitContainerd(startCtx); err != nil {
		return nil, err
	}
	if opts.ImageSeed == "" {
		if err := n.importImages(startCtx); err != nil {
			return nil, err
		}
	}
	for to, from := range opts.Tags {
		if err := n.TagImage(startCtx, from, to); err != nil {
			return nil, err
		}
	}
	start := startForwarder
	if !isLoopback(opts.APIServer) {
		// An API server outside this machine's loopback (the VM lane's, on
		// the host, at QEMU's forward address): the address goes on the
		// namespace's lo like the Service IP, so the forwarder can listen
		// on it; the forwarder's own dials leave from the root namespace.
		start = startServiceForwarder
	}
	fwd, err := start(opts.Netns, opts.APIServer, opts.APIServer)
	if err != nil {
		return nil, err
	}
	n.forwarders = append(n.forwarders, fwd)
	if opts.KubernetesService != "" {
		if fwd, err = startServiceForwarder(opts.Netns, opts.KubernetesService, opts.APIServer); err != nil {
			return nil, err
		}
		n.forwarders = append(n.forwarders, fwd)
	}
	kubeletConfig := filepath.Join(opts.Dir, "kubelet.yaml")
	if err := os.WriteFile(kubeletConfig, []byte(n.kubeletConfig()), 0o644); err != nil {
		return nil, err
	}
	args := []string{
		"--config", kubeletConfig,
		"--kubeconfig", opts.Kubeconfig,
		"--hostname-override", opts.Name,
		"--root-dir", filepath.Join(opts.Dir, "kubelet"),
		"--cert-dir", filepath.Join(opts.Dir, "kubelet", "pki"),
	}
	if opts.NodeIP != "" {
		args = append(args, "--node-ip", opts.NodeIP)
	}
	if n.kubelet, err = n.spawn(n.KubeletLog(), n.mountNamespace(), filepath.Join(opts.AssetsDir, "kubelet"), args...); err != nil {
		return nil, err
	}
	return n, nil
}

// cgroupRoot is the node's own cgroup root (see the package comment).
func cgroupRoot(node string) string { return "/perouter-kubenode-" + node }

// spawnContainerd starts containerd in the node's network namespace and,
// with PrivateDirs, in a new mount namespace where each of them is a
// shared bind mount of a directory under Dir (shared: pods' Bidirectional
// mounts, such as a network namespace made in a pod, reach the node and
// its other pods). The kubelet joins that mount namespace (mountNamespace).
func (n *Node) spawnContainerd(config string) (*process, error) {
	binary := filepath.Join(n.opts.AssetsDir, "containerd")
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, d := range n.privateDirs() {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("node %s: private directory %q is not absolute", n.opts.Name, d)
		}
		own := n.privateDir(d)
		if err := os.MkdirAll(own, 0o755); err != nil {
			return nil, err
		}
		// The mount point must exist on the shared file system.
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		// A mount already there (the machine's /run/netns is one) is
		// dropped first, in this namespace only: containerd judges the
		// propagation of a path by the first mount on it, and Bidirectional
		// volumes need it shared.
		fmt.Fprintf(&script, "while mountpoint -q %[2]q; do umount --lazy %[2]q; done\nmount --bind %[1]q %[2]q\nmount --make-shared %[2]q\n", own, d)
	}
	fmt.Fprintf(&script, "exec %q --config %q\n", binary, config)
	// --propagation private: nothing the node mounts leaks into the
	// machine's namespace (and so into the other nodes).
	return n.spawn(n.ContainerdLog(), "", "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script.String())
}

// privateDirs are the paths the node sees as its own: KubeletFixedDirs,
// then Options.PrivateDirs.
func (n *Node) privateDirs() []string {
	out := slices.Clone(KubeletFixedDirs)
	for _, d := range n.opts.PrivateDirs {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// privateDir is the directory under Dir that the node sees at path d.
func (n *Node) privateDir(d string) string {
	return filepath.Join(n.opts.Dir, "private", strings.ReplaceAll(strings.Trim(d, "/"), "/", "_"))
}

// PrivateDir is where the machine sees the node's own copy of a
// PrivateDirs entry (its contents; mounts made inside, such as a
// network namespace, only show in the node's mount namespace, see
// MountNamespace).
func (n *Node) PrivateDir(d string) string { return n.privateDir(d) }

// mountNamespace is the mount namespace file of the node's containerd, or
// "" before containerd runs.
func (n *Node) mountNamespace() string {
	if n.containerd == nil || n.containerd.Process == nil {
		return ""
	}
	return fmt.Sprintf("/proc/%d/ns/mnt", n.containerd.Process.Pid)
}

// MountRoot is the root directory of the node's containerd, for
// `nsenter --root`: entering a mount namespace moves a process to that
// namespace's root, which in the VM lane's guest is the initramfs, not the
// chroot every process of the guest runs in (natively it is /).
func (n *Node) MountRoot() string {
	if n.containerd == nil || n.containerd.Process == nil {
		return "/"
	}
	return fmt.Sprintf("/proc/%d/root", n.containerd.Process.Pid)
}

// MountNamespace is the node's mount namespace file ("" before its
// containerd runs): `nsenter --mount=FILE --root=MountRoot() --net=/run/netns/NS` enters the node as
// its pods' hostPath volumes see it.
func (n *Node) MountNamespace() string { return n.mountNamespace() }

// spawn starts a binary inside the node's network namespace (and mount
// namespace mnt, unless empty), logging to a file. The assets directory
// comes first in PATH so that containerd finds its own shim, not Debian's.
func (n *Node) spawn(logPath, mnt, binary string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var enter []string
	if n.opts.Netns != "" { // "": SeedImages, in the caller's namespace
		enter = append(enter, "--net="+filepath.Join("/run/netns", n.opts.Netns))
	}
	if mnt != "" {
		enter = append(enter, "--mount="+mnt, "--root="+n.MountRoot(), "--wd="+n.MountRoot())
	}
	cmd := exec.Command("nsenter", append(append(enter, "--", binary), args...)...)
	cmd.Env = append(os.Environ(), "PATH="+n.opts.AssetsDir+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: start %s: %w", n.opts.Name, binary, err)
	}
	p := &process{Cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// process is a spawned binary; exited is closed once it has exited (and
// been reaped): a wait for it to answer stops at once when it died.
type process struct {
	*exec.Cmd
	exited chan struct{}
}

func (n *Node) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(n.opts.AssetsDir, "ctr"),
		append([]string{"--address", n.ContainerdSocket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node %s: ctr %s: %w: %s", n.opts.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (n *Node) waitContainerd(ctx context.Context) error {
	var lastErr error
	err := retry.Poll(ctx, 0, retry.Every(100*time.Millisecond), func() (bool, error) {
		select {
		case <-n.containerd.exited:
			return false, fmt.Errorf("containerd exited (%v)", n.containerd.ProcessState)
		default:
		}
		_, lastErr = n.ctr(ctx, "version")
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("node %s: containerd not answering on %s (log: %s): %w (last: %w)", n.opts.Name, n.ContainerdSocket(), n.ContainerdLog(), err, lastErr)
	}
	return nil
}

// importImages loads the archives and the pause image into containerd's
// k8s.io namespace, where the CRI looks for images.
func (n *Node) importImages(ctx context.Context) error {
	pause := filepath.Join(n.opts.Dir, "pause.tar")
	if err := WritePauseArchive(pause); err != nil {
		return err
	}
	for _, archive := range append([]string{pause}, n.opts.Images...) {
		if _, err := n.ctr(ctx, "images", "import", "--no-unpack=false", archive); err != nil {
			return err
		}
	}
	return nil
}

// containerdRoot is the node's containerd root directory (its image
// store and snapshots).
func (n *Node) containerdRoot() string { return filepath.Join(n.opts.Dir, "containerd", "root") }

// seedArchive is the tar of the store SeedImages leaves in seed.
func seedArchive(seed string) string { return filepath.Join(seed, "store.tar") }

// SeedImages imports the pause image and archives into a fresh containerd
// store under seed (a new directory), as a node's containerd would, with
// the same configuration, then stops that containerd: nodes started with
// Options.ImageSeed copy the store instead of importing. It runs the
// containerd of assetsDir in the caller's namespaces; the VM lane calls it
// on the host, where the import runs at native speed, and its guest
// reads seed through the host's root file system.
func SeedImages(ctx context.Context, assetsDir, seed string, archives []string) (err error) {
	if err := Check(assetsDir); err != nil {
		return err
	}
	n := &Node{opts: Options{Name: "image-seed", Dir: seed, AssetsDir: assetsDir, Images: archives}}
	for _, d := range []string{"containerd", "cni", "opt"} {
		if err := os.MkdirAll(filepath.Join(seed, d), 0o755); err != nil {
			return err
		}
	}
	config := filepath.Join(seed, "containerd.toml")
	if err := os.WriteFile(config, []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	if n.containerd, err = n.spawn(n.ContainerdLog(), "", filepath.Join(assetsDir, "containerd"), "--config", config); err != nil {
		return err
	}
	defer func() {
		_ = n.containerd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.containerd.exited:
		case <-time.After(20 * time.Second):
			_ = n.containerd.Process.Kill()
			<-n.containerd.exited
		}
		if err == nil {
			out, tarErr := exec.CommandContext(ctx, "tar", "--xattrs", "--xattrs-include=*", "-cf", seedArchive(seed), "-C", n.containerdRoot(), ".").CombinedOutput()
			if tarErr != nil {
				err = fmt.Errorf("archiving the image store: %w: %s", tarErr, out)
			}
		}
		// The archive alone is the seed.
		err = errors.Join(err, os.RemoveAll(filepath.Join(seed, "containerd")))
	}()
	if err := n.waitContainerd(ctx); err != nil {
		return err
	}
	return n.importImages(ctx)
}

// Stop stops the kubelet, the pods' containers (through containerd's
// shims), containerd and the forwarder, and removes the node's cgroups and
// state directory. Safe to call more than once.
func (n *Node) Stop() error {
	var errs []error
	stop := func(c *process) {
		if c == nil {
			return
		}
		select {
		case <-c.exited:
			return
		default:
		}
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = c.Process.Kill()
			<-c.exited
		}
	}
	stop(n.kubelet)
	// Containers outlive containerd (their shims are reparented); kill
	// them first, by the pids in their cgroups, so nothing keeps mounts
	// under Dir busy.
	if err := killCgroup(n.cgroups); err != nil {
		errs = append(errs, err)
	}
	killShims(n.opts.Dir)
	stop(n.containerd)
	for _, f := range n.forwarders {
		f.Close()
	}
	if err := unmountUnder(n.opts.Dir); err != nil {
		errs = append(errs, err)
	}
	// On hybrid hosts runc also makes the pods' cgroups in the (otherwise
	// unused) cgroup2 mount "unified"; they would outlive the node.
	leftovers := n.cgroups
	if !n.opts.CgroupV2 {
		leftovers = append(leftovers, filepath.Join(cgroupV1Root, "unified", cgroupRoot(n.opts.Name)))
	}
	if err := removeCgroupRoot(leftovers); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(n.opts.Dir); err != nil {
		errs = append(errs, fmt.Errorf("node %s: removing %s: %w", n.opts.Name, n.opts.Dir, err))
	}
	n.kubelet, n.containerd, n.forwarders = nil, nil, nil
	return errors.Join(errs...)
}

// isLoopback tells whether hostPort's host is a loopback address.
func isLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// APIServerHostPort is the host:port of a kubeconfig's server URL.
func APIServerHostPort(server string) (string, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("API server URL %q: %w", server, err)
	}
	return s, nil
}

// KillContainer SIGKILLs every process of a container (by its containerd
// ID) through the node's containerd, as a crash or the OOM killer would:
// the kubelet then restarts it as its pod's restartPolicy says.
func (n *Node) KillContainer(ctx context.Context, id string) error {
	_, err := n.ctr(ctx, "tasks", "kill", "--all", "--signal", "SIGKILL", id)
	return err
}

// ContainerPID is the host process id of a running container's init
// process (by its containerd ID), to read what the kernel gave it.
func (n *Node) ContainerPID(ctx context.Context, id string) (int, error) {
	out, err := n.ctr(ctx, "tasks", "ls")
	if err != nil {
		return 0, err
	}
	// TASK  PID  STATUS
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			if f[2] != "RUNNING" {
				return 0, fmt.Errorf("node %s: container %s is %s", n.opts.Name, id, f[2])
			}
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("node %s: containerd runs no task %s", n.opts.Name, id)
}

// TagImage adds reference to to the image from in the node's runtime.
func (n *Node) TagImage(ctx context.Context, from, to string) error {
	_, err := n.ctr(ctx, "images", "tag", "--force", from, to)
	return err
}
