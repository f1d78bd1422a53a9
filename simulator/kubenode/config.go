package kubenode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perouter/perouter/operator/retry"
)

// containerdConfig is containerd 2.x's config (version 3) for one node: every
// path under Dir, CRI over the node's own socket, cgroupfs (the kubelet's
// driver here), the runc built next to it, our pause image, and NRI off (its socket,
// /var/run/nri/nri.sock, would be shared by all nodes). Without
// CAP_SYS_RESOURCE (this project's VMs lack it) no process may lower an
// oom_score_adj, and runc then fails every sandbox, to which the kubelet
// gives -998: restrict_oom_score_adj clamps the scores to containerd's own.
func (n *Node) containerdConfig() string {
	d := filepath.Join(n.opts.Dir, "containerd")
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.cri.v1.images"]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[5]q

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = %[9]t
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %[6]q
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[7]q]
    conf_dir = %[8]q

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(d, "root"), filepath.Join(d, "state"), n.ContainerdSocket(),
		filepath.Join(n.opts.Dir, "opt"), PauseImage, filepath.Join(n.opts.AssetsDir, "runc"), CNIBinDir, filepath.Join(n.opts.Dir, "cni"),
		!hasCapSysResource())
}

// hasCapSysResource tells whether this process may lower oom_score_adj.
func hasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if hex, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// kubeletConfig is the KubeletConfiguration for one node. Lab-only choices:
// anonymous access with AlwaysAllow on the kubelet API (the API server has no
// kubelet client certificate), no eviction on disk or memory pressure (a
// shared build machine is often nearly full), no swap check.
func (n *Node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%[1]s
cgroupDriver: cgroupfs
cgroupRoot: %[2]s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
readOnlyPort: 0
podLogsDir: %[3]s
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1Mi"
  imagefs.available: "1Mi"
  nodefs.inodesFree: "1"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
`, n.ContainerdSocket(), cgroupRoot(n.opts.Name), filepath.Join(n.opts.Dir, "pod-logs"))
}

// writeCNIConfig writes the node's CNI network. containerd reports the
// runtime's network NotReady (and the kubelet the Node NotReady) until it
// loads a CNI config; hostNetwork pods need none. Without a pod CIDR pods
// that are not hostNetwork get a namespace with only lo. With one, they get
// a veth on the bridge cni0 of the node's namespace and an address of the
// CIDR (host-local IPAM, state in ipamDir: nodes on one machine must not
// share host-local's default /var/lib/cni/networks); the bridge holds the
// CIDR's first address and is the pods' default gateway, so a pod reaches
// whatever the node's namespace serves (the API server forwarder on the
// `kubernetes` Service IP). No masquerading: nothing leaves the node.
func writeCNIConfig(dir, podCIDR, ipamDir string) error {
	if podCIDR == "" {
		return os.WriteFile(filepath.Join(dir, "10-loopback.conflist"), []byte(`{
  "cniVersion": "1.0.0",
  "name": "loopback-only",
  "plugins": [{"type": "loopback"}]
}
`), 0o644)
	}
	return os.WriteFile(filepath.Join(dir, "10-pods.conflist"), []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
`, ipamDir, podCIDR)), 0o644)
}

// cgroupV1Root is where cgroup v1 hierarchies (or the cgroup2 tree) live.
const cgroupV1Root = "/sys/fs/cgroup"

// makeCgroupRoot creates root in every cgroup v1 hierarchy (the kubelet
// refuses a cgroupRoot that does not exist) or in the cgroup2 tree, and
// returns the directories made.
func makeCgroupRoot(root string, v2 bool) ([]string, error) {
	var dirs []string
	if v2 {
		// The kubelet checks that its cgroupRoot offers the controllers it
		// needs (cpu, memory, pids…), and a cgroup2 child offers only what
		// its parent enabled in cgroup.subtree_control. A guest's fresh
		// cgroup2 mount enables none; a systemd host has already.
		if err := enableControllers(cgroupV1Root); err != nil {
			return nil, err
		}
		dirs = []string{filepath.Join(cgroupV1Root, root)}
	} else {
		entries, err := os.ReadDir(cgroupV1Root)
		if err != nil {
			return nil, fmt.Errorf("listing cgroup hierarchies: %w", err)
		}
		for _, e := range entries {
			// "unified" is an (empty) cgroup2 mount on hybrid hosts; the
			// kubelet uses only the v1 controllers there.
			if !e.IsDir() || e.Name() == "unified" {
				continue
			}
			dirs = append(dirs, filepath.Join(cgroupV1Root, e.Name(), root))
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return dirs, fmt.Errorf("creating cgroup %s: %w", d, err)
		}
	}
	return dirs, nil
}

// enableControllers enables every controller of the cgroup2 directory
// dir for its children (cgroup.subtree_control), one at a time: one the
// kernel refuses (e.g. a threaded-only controller) must not keep the
// others off. Only the ones the kubelet needs must succeed.
func enableControllers(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading the cgroup2 controllers: %w", err)
	}
	have := strings.Fields(string(data))
	failed := map[string]error{}
	for _, c := range have {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0o644); err != nil {
			failed[c] = err
		}
	}
	for _, need := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(have, need) {
			return fmt.Errorf("cgroup2 at %s has no %s controller (it has %q), which the kubelet needs", dir, need, have)
		}
		if err := failed[need]; err != nil {
			return fmt.Errorf("enabling the cgroup2 %s controller in %s: %w", need, dir, err)
		}
	}
	return nil
}

// UnifiedCgroups tells whether /sys/fs/cgroup is the cgroup2 tree (the
// VM lane's guest mounts it) rather than cgroup v1 hierarchies (this
// project's hosts): Options.CgroupV2.
func UnifiedCgroups() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupV1Root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// killCgroup SIGKILLs every process below the node's cgroup root, and
// again, until none is left or killTimeout passes: a SIGKILLed process
// leaves its cgroup only once the kernel has torn it down, and one forked
// between reading cgroup.procs and the kill would escape a single pass.
// The cgroups cannot be removed while any process is in them.
func killCgroup(dirs []string) error {
	var last []string
	err := retry.Poll(context.Background(), killTimeout, retry.Every(50*time.Millisecond), func() (bool, error) {
		last = nil
		for _, d := range dirs {
			_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
				if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
					return nil
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return nil
				}
				for _, f := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil {
						if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
							last = append(last, fmt.Sprintf("%d (%s)", pid, filepath.Dir(path)))
						}
					}
				}
				return nil
			})
		}
		return len(last) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("processes still in the node's cgroups after %v: %s: %w", killTimeout, strings.Join(last, ", "), err)
	}
	return nil
}

// killTimeout bounds killCgroup.
const killTimeout = 20 * time.Second

// removeCgroupRoot removes the node's cgroup trees, deepest first (a
// cgroup directory is removed with rmdir once its processes are gone).
func removeCgroupRoot(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		var all []string
		_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
		for _, p := range all {
			if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// killShims SIGKILLs the containerd shims serving this node's containerd
// (their command line names its socket); they outlive containerd.
func killShims(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), "containerd-shim") || !strings.Contains(string(data), dir) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount below dir (container root filesystems,
// sandbox shm, the kubelet's volume tmpfs), deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}
