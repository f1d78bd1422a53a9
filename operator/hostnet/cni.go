package hostnet

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/go-logr/logr"

	"github.com/perouter/perouter/operator/nsexec"
	pollretry "github.com/perouter/perouter/operator/retry"
)

// CNI-provisioned underlay links (Underlay interfaces of type CNIDevice).
//
// The link is made by CNI plugins (Debian's containernetworking-plugins:
// macvlan, ipvlan, with static, host-local or dhcp IPAM) run through
// libcni, with the router netns as the "container" netns: ADD creates the
// link inside it, DEL removes it and releases its address. The plugins run
// in the host netns (Options.HostNetns), where a macvlan's master is.
//
// libcni's result cache (CNIOptions.CacheDir) is what the Manager knows of
// the links it made: one entry per link, with the config and runtime
// config of its ADD. It must live on the node (the chart mounts a
// hostPath) so that a restarted controller still knows them: it deletes
// with the recorded config even after the Underlay is gone, and compares
// a wanted link with what was added. Each pass:
//   - a cached link that is no longer wanted, or whose config or runtime
//     config changed, is deleted (DEL with the recorded config);
//   - a wanted link without a cache entry is added (ADD; on failure DEL,
//     as the CNI spec asks, so nothing half-made stays);
//   - a cached link missing from the router netns (the router pod's netns
//     was deleted and created again) is deleted and added again;
//   - a cached link present in the router netns is CHECKed once per
//     Manager (and once per dhcp daemon, see below); a failed CHECK
//     deletes and adds it again. Later passes run no plugin at all, so a
//     pass with nothing to change costs a directory read.
//
// DHCP: the dhcp IPAM plugin asks a daemon (`dhcp daemon`, from the same
// plugin directory) for a lease, and the daemon renews it for as long as
// it runs. The Manager starts the daemon when a wanted or cached config
// uses dhcp IPAM, and starts it again if it exits. The daemon keeps its
// leases in memory only, so after it (or the controller) started again
// each dhcp link is CHECKed once more: the dhcp plugin's CHECK asks the
// new daemon for the lease, which it then renews.

// CNIOptions configure how a Manager runs CNI plugins; a zero CacheDir
// turns CNI off (a plan with CNI links then fails, naming the option).
type CNIOptions struct {
	// PluginDirs are searched for the plugins; default DefaultCNIPluginDirs.
	PluginDirs []string
	// CacheDir is libcni's cache directory (results/ holds one file per
	// link). It must outlive the controller: a hostPath on a node.
	CacheDir string
	// ContainerID names the router netns in CNI calls; the dhcp plugin's
	// client ID and host-local's reservations carry it. Default
	// DefaultCNIContainerID.
	ContainerID string
	// DHCPSocket is where the dhcp daemon the Manager starts listens;
	// default DefaultDHCPSocket, where the dhcp plugin looks unless the
	// config's ipam.daemonSocketPath says otherwise.
	DHCPSocket string
}

// Defaults of CNIOptions.
const (
	DefaultCNIContainerID = "perouter-underlay"
	DefaultDHCPSocket     = "/run/cni/dhcp.sock"
)

// DefaultCNIPluginDirs are where Debian's containernetworking-plugins and
// the CNI convention put the plugins.
var DefaultCNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// CNIInterface is one link CNI plugins make in the router netns.
type CNIInterface struct {
	Name string `json:"name"`
	// Config is the CNI network configuration list.
	Config json.RawMessage `json:"config"`
	// RuntimeConfig holds the capability arguments, or is empty.
	RuntimeConfig json.RawMessage `json:"runtimeConfig,omitempty"`
}

// cniState is what a Manager keeps between passes about its CNI links.
type cniState struct {
	mu     sync.Mutex
	config *libcni.CNIConfig
	// checked holds, by link name, the dhcp daemon generation the link
	// was last checked (or added) under: 0 for a link without dhcp.
	checked map[string]uint64
	dhcp    *dhcpDaemon
	// execs counts plugin runs (tests: a pass with nothing to do runs none).
	execs atomic.Uint64
}

func (m *Manager) cniConfig() *libcni.CNIConfig {
	m.cni.mu.Lock()
	defer m.cni.mu.Unlock()
	if m.cni.config == nil {
		dirs := m.opts.CNI.PluginDirs
		if len(dirs) == 0 {
			dirs = DefaultCNIPluginDirs
		}
		m.cni.config = libcni.NewCNIConfigWithCacheDir(dirs, m.opts.CNI.CacheDir, &pluginExec{netns: m.opts.HostNetns, execs: &m.cni.execs})
	}
	return m.cni.config
}

func (m *Manager) cniContainerID() string {
	return cmp.Or(m.opts.CNI.ContainerID, DefaultCNIContainerID)
}

// pluginExec runs plugins in the host netns: a macvlan's or ipvlan's
// master is a host device. The child process is forked from a thread
// inside that netns, so it starts there.
type pluginExec struct {
	invoke.RawExec
	version.PluginDecoder
	netns string
	execs *atomic.Uint64
}

func (e *pluginExec) ExecPlugin(ctx context.Context, path string, stdin []byte, env []string) ([]byte, error) {
	e.execs.Add(1)
	if e.netns == "" {
		return e.RawExec.ExecPlugin(ctx, path, stdin, env)
	}
	var out []byte
	err := nsexec.DoNamed(e.netns, func() (err error) {
		out, err = e.RawExec.ExecPlugin(ctx, path, stdin, env)
		return err
	})
	return out, err
}

// ensureCNILinks makes the router netns's CNI links match want (see the
// comment at the top of this file). del runs before the NIC moves, add
// after them, so that a name going from one kind to the other is free
// when it is needed.
func (s *session) ensureCNILinks(want []CNIInterface, del bool) {
	if s.m.opts.CNI.CacheDir == "" {
		if len(want) > 0 && !del {
			s.fail(fmt.Errorf("underlay CNI interface %s: the controller runs without a CNI cache directory (--cni-cache-dir), so it cannot create CNI links", want[0].Name))
		}
		return
	}
	want = s.m.withDHCPSocket(want)
	c := s.m.cniConfig()
	cached, err := c.GetCachedAttachments(s.m.cniContainerID())
	if err != nil {
		s.fail(fmt.Errorf("read the CNI cache %s: %w", s.m.opts.CNI.CacheDir, err))
		return
	}
	byName := map[string]*libcni.NetworkAttachment{}
	for _, a := range cached {
		byName[a.IfName] = a
	}
	if del {
		for _, a := range cached {
			i := slices.IndexFunc(want, func(w CNIInterface) bool { return w.Name == a.IfName })
			switch {
			case i < 0:
				s.cniDel(a, "no longer wanted")
			case !sameAttachment(a, want[i], netnsPath(s.m.opts.RouterNetns)):
				s.cniDel(a, "its config, runtime config or netns changed")
			}
		}
		return
	}
	for _, w := range want {
		s.forUnderlay(w.Name, func() { s.ensureCNILink(w, byName[w.Name]) })
	}
}

// sameAttachment tells whether the cached attachment a was made for w in
// the router netns at path.
func sameAttachment(a *libcni.NetworkAttachment, w CNIInterface, path string) bool {
	return a.NetNS == path && jsonEqual(a.Config, w.Config) && capabilityArgsEqual(a.CapabilityArgs, w.RuntimeConfig)
}

func (s *session) ensureCNILink(w CNIInterface, a *libcni.NetworkAttachment) {
	path := netnsPath(s.m.opts.RouterNetns)
	if a != nil && !sameAttachment(a, w, path) {
		a = nil // deleted before the NIC moves (ensureCNILinks with del)
	}
	list, err := libcni.NetworkConfFromBytes(w.Config)
	if err != nil {
		s.fail(fmt.Errorf("underlay CNI interface %s: rawConfig: %w", w.Name, err))
		return
	}
	gen, err := s.m.dhcpFor(s.ctx, list)
	if err != nil {
		s.fail(fmt.Errorf("underlay CNI interface %s: %w", w.Name, err))
		return
	}
	if a != nil {
		if _, ok := s.router.links[w.Name]; !ok {
			s.cniDel(a, "its link is missing from the router netns")
		} else if s.m.cniChecked(w.Name, gen) {
			return
		} else if err := s.m.cniConfig().CheckNetworkList(s.ctx, list, s.runtimeConf(w)); err != nil {
			s.m.log.Info("CNI CHECK failed; deleting and adding the link again", "interface", w.Name, "error", err.Error())
			s.cniDel(a, "CHECK failed: "+err.Error())
		} else {
			s.m.setCNIChecked(w.Name, gen)
			return
		}
	}
	if l, ok := s.router.links[w.Name]; ok {
		s.fail(fmt.Errorf("underlay CNI interface %s: a %s link of that name already exists in the router netns and was not made by CNI for perouter; rename it or choose another interfaceName", w.Name, l.Type()))
		return
	}
	rt := s.runtimeConf(w)
	err = s.write(fmt.Sprintf("CNI ADD of underlay interface %s (network %s) in router netns", w.Name, list.Name), func() error {
		_, err := s.m.cniConfig().AddNetworkList(s.ctx, list, rt)
		return err
	})
	if err != nil {
		// The CNI spec: a failed ADD is followed by a DEL, so that
		// nothing half-made (a link without address) stays.
		if delErr := s.m.cniConfig().DelNetworkList(s.ctx, list, rt); delErr != nil {
			err = errors.Join(err, fmt.Errorf("CNI DEL after the failed ADD: %w", delErr))
		}
		s.fail(err)
		return
	}
	s.m.setCNIChecked(w.Name, gen)
	l, err := s.router.refresh(w.Name)
	if err != nil {
		s.fail(fmt.Errorf("underlay CNI interface %s: read it back in router netns: %w", w.Name, err))
		return
	}
	if err := s.refreshAddrs(s.router, w.Name); err != nil {
		s.fail(err)
	}
	s.record(Created, "router", l.Type(), w.Name, "by CNI network "+list.Name)
}

func (s *session) runtimeConf(w CNIInterface) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: s.m.cniContainerID(), NetNS: netnsPath(s.m.opts.RouterNetns), IfName: w.Name}
	if len(w.RuntimeConfig) > 0 {
		// Checked to be an object by validation; a decode error leaves
		// no capability arguments, which the comparison then reports
		// as a change.
		_ = json.Unmarshal(w.RuntimeConfig, &rt.CapabilityArgs)
	}
	return rt
}

// cniDel runs CNI DEL for a cached attachment with the config, netns and
// capability arguments recorded at its ADD; libcni drops the cache entry.
func (s *session) cniDel(a *libcni.NetworkAttachment, why string) {
	list, err := libcni.NetworkConfFromBytes(a.Config)
	if err != nil {
		s.fail(fmt.Errorf("underlay CNI interface %s: the cached config does not parse: %w", a.IfName, err))
		return
	}
	if _, err := s.m.dhcpFor(s.ctx, list); err != nil {
		s.fail(fmt.Errorf("underlay CNI interface %s: %w", a.IfName, err))
		return
	}
	rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: a.NetNS, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
	if err := s.write(fmt.Sprintf("CNI DEL of underlay interface %s (network %s) in router netns", a.IfName, a.Network), func() error {
		return s.m.cniConfig().DelNetworkList(s.ctx, list, rt)
	}); err != nil {
		s.fail(err)
		return
	}
	s.m.forgetCNIChecked(a.IfName)
	kind := "cni link"
	if l, ok := s.router.links[a.IfName]; ok {
		kind = l.Type()
	}
	s.router.forget(a.IfName)
	s.record(Deleted, "router", kind, a.IfName, "by CNI network "+a.Network+": "+why)
}

func (m *Manager) cniChecked(name string, gen uint64) bool {
	m.cni.mu.Lock()
	defer m.cni.mu.Unlock()
	g, ok := m.cni.checked[name]
	return ok && g == gen
}

func (m *Manager) setCNIChecked(name string, gen uint64) {
	m.cni.mu.Lock()
	defer m.cni.mu.Unlock()
	if m.cni.checked == nil {
		m.cni.checked = map[string]uint64{}
	}
	m.cni.checked[name] = gen
}

func (m *Manager) forgetCNIChecked(name string) {
	m.cni.mu.Lock()
	defer m.cni.mu.Unlock()
	delete(m.cni.checked, name)
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// capabilityArgsEqual compares the recorded capability arguments with a
// wanted runtime config; none and {} are equal.
func capabilityArgsEqual(have map[string]any, want json.RawMessage) bool {
	var w map[string]any
	if len(want) > 0 {
		if err := json.Unmarshal(want, &w); err != nil {
			return false
		}
	}
	if len(have) == 0 && len(w) == 0 {
		return true
	}
	return reflect.DeepEqual(have, w)
}

// ipamTypeDHCP is the IPAM type served by the dhcp daemon.
const ipamTypeDHCP = "dhcp"

// usesDHCP returns the daemon socket the plugins of list dial when one of
// them uses dhcp IPAM.
func usesDHCP(list *libcni.NetworkConfigList) (socket string, ok bool) {
	for _, p := range list.Plugins {
		if p.Network == nil || p.Network.IPAM.Type != ipamTypeDHCP {
			continue
		}
		var conf struct {
			IPAM struct {
				DaemonSocketPath string `json:"daemonSocketPath"`
			} `json:"ipam"`
		}
		_ = json.Unmarshal(p.Bytes, &conf) // parsed by libcni already
		return cmp.Or(conf.IPAM.DaemonSocketPath, DefaultDHCPSocket), true
	}
	return "", false
}

// withDHCPSocket points the dhcp IPAM of want's configs that name no
// daemon socket at the controller's daemon, when it does not listen on
// the plugin's default (--cni-dhcp-socket): the controller runs that
// daemon, so a config that names none means it. Nodes that share /run
// (the simulator's nodes, a controller run outside its pod) then each
// reach their own daemon. Configs that do not decode are left for the
// CNI calls to report. want is not modified.
func (m *Manager) withDHCPSocket(want []CNIInterface) []CNIInterface {
	ours := cmp.Or(m.opts.CNI.DHCPSocket, DefaultDHCPSocket)
	if ours == DefaultDHCPSocket {
		return want // what the plugin dials anyway: configs stay as written
	}
	out := slices.Clone(want)
	for i, w := range out {
		var conf map[string]any
		if json.Unmarshal(w.Config, &conf) != nil {
			continue
		}
		plugins, _ := conf["plugins"].([]any)
		changed := false
		for _, p := range plugins {
			plugin, _ := p.(map[string]any)
			ipam, _ := plugin["ipam"].(map[string]any)
			if ipam["type"] == ipamTypeDHCP && ipam["daemonSocketPath"] == nil {
				ipam["daemonSocketPath"] = ours
				changed = true
			}
		}
		if !changed {
			continue
		}
		if b, err := json.Marshal(conf); err == nil {
			out[i].Config = b
		}
	}
	return out
}

// dhcpFor makes sure the dhcp daemon runs when list uses dhcp IPAM, and
// returns its generation (0 when list does not use dhcp).
func (m *Manager) dhcpFor(ctx context.Context, list *libcni.NetworkConfigList) (uint64, error) {
	socket, ok := usesDHCP(list)
	if !ok {
		return 0, nil
	}
	ours := cmp.Or(m.opts.CNI.DHCPSocket, DefaultDHCPSocket)
	if socket != ours {
		return 0, fmt.Errorf("ipam.daemonSocketPath %s is not where the controller's dhcp daemon listens (%s, --cni-dhcp-socket): remove daemonSocketPath or set it to %s", socket, ours, ours)
	}
	m.cni.mu.Lock()
	if m.cni.dhcp == nil {
		dirs := m.opts.CNI.PluginDirs
		if len(dirs) == 0 {
			dirs = DefaultCNIPluginDirs
		}
		m.cni.dhcp = &dhcpDaemon{dirs: dirs, socket: ours, log: m.log.WithName("dhcp-daemon")}
	}
	d := m.cni.dhcp
	m.cni.mu.Unlock()
	return d.ensure(ctx)
}

// StopDHCPDaemon stops the dhcp daemon the Manager started, if any (for
// tests and a clean shutdown; the leases stay with the server until they
// expire).
func (m *Manager) StopDHCPDaemon() {
	m.cni.mu.Lock()
	d := m.cni.dhcp
	m.cni.mu.Unlock()
	if d != nil {
		d.stop()
	}
}

// daemonAttrs makes the kernel kill the daemon when the controller dies,
// so that a controller started again starts a daemon of its own.
func daemonAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// dhcpDaemon is the CNI dhcp daemon, a child of the controller: it holds
// the leases of dhcp IPAM and renews them.
type dhcpDaemon struct {
	dirs   []string
	socket string
	log    logr.Logger

	mu  sync.Mutex
	cmd *exec.Cmd
	// gen counts the daemon's starts: a link checked under an older
	// generation has no lease in the running daemon.
	gen  uint64
	done chan struct{}
}

// dhcpDaemonStart bounds how long a started daemon may take to listen.
const dhcpDaemonStart = 10 * time.Second

// ensure starts the daemon unless it runs, waits until it answers on its
// socket, and returns its generation.
func (d *dhcpDaemon) ensure(ctx context.Context) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		bin, err := invoke.FindInPath(ipamTypeDHCP, d.dirs)
		if err != nil {
			return 0, fmt.Errorf("dhcp IPAM needs the dhcp daemon: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(d.socket), 0o755); err != nil {
			return 0, fmt.Errorf("dhcp daemon socket directory: %w", err)
		}
		// A socket left by a daemon that died is in the way.
		if err := os.Remove(d.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("remove the stale dhcp daemon socket: %w", err)
		}
		cmd := exec.Command(bin, "daemon", "-socketpath", d.socket)
		cmd.Stdout = logWriter{d.log}
		cmd.Stderr = logWriter{d.log}
		cmd.SysProcAttr = daemonAttrs()
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("start the dhcp daemon %s: %w", bin, err)
		}
		d.cmd, d.done = cmd, make(chan struct{})
		d.gen++
		d.log.Info("started the CNI dhcp daemon", "pid", cmd.Process.Pid, "socket", d.socket, "generation", d.gen)
		go func(cmd *exec.Cmd, done chan struct{}) {
			err := cmd.Wait()
			d.mu.Lock()
			if d.cmd == cmd {
				d.cmd = nil // the next pass starts it again
			}
			d.mu.Unlock()
			close(done)
			d.log.Info("the CNI dhcp daemon exited", "error", fmt.Sprint(err))
		}(cmd, d.done)
	}
	gen, done := d.gen, d.done
	var dialErr error
	err := pollretry.Poll(ctx, dhcpDaemonStart, pollretry.Every(50*time.Millisecond), func() (bool, error) {
		select {
		case <-done:
			return false, errors.New("the dhcp daemon exited")
		default:
		}
		c, err := net.Dial("unix", d.socket)
		if dialErr = err; err != nil {
			return false, nil
		}
		return true, c.Close()
	})
	if errors.Is(err, pollretry.ErrTimeout) {
		err = fmt.Errorf("%w after %s: %w", err, dhcpDaemonStart, dialErr)
	}
	if err != nil {
		return 0, fmt.Errorf("the dhcp daemon does not answer on %s: %w", d.socket, err)
	}
	return gen, nil
}

func (d *dhcpDaemon) stop() {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// logWriter logs each write of a child process's output as a line.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.log.Info(string(line))
	}
	return len(p), nil
}
