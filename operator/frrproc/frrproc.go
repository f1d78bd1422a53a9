// Package frrproc starts and stops real FRR daemons inside a named network
// namespace as bare processes: every instance keeps its vty sockets, zebra API
// socket, pid files, logs and per-daemon config files in its own directory, so
// several instances run side by side without /etc/frr or watchfrr.
//
// The operator's real-FRR tests (reloader, frrdelta, controller) and the
// simulator's fabric routers both use it; it lives under operator/ because
// operator/ must not import simulator/ (operator/layering_test.go).
// Test helpers are in frrproctest.
package frrproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/perouter/perouter/operator/nsexec"
	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/operator/vtysh"
)

// DefaultDaemons are the daemons an EVPN PE router needs: zebra
// (interfaces, VRFs, VNIs), bgpd, staticd and bfdd (the BFD profiles of the
// rendered config). FRR 8.4 has no mgmtd. The one list: the reloader's
// health check and the lab use it too.
var DefaultDaemons = []string{"zebra", "bgpd", "staticd", "bfdd"}

const (
	DefaultBinDir = "/usr/lib/frr"
	DefaultVtysh  = vtysh.DefaultBinary
	frrUser       = "frr"

	// Generous: a 2-core machine under parallel test load has taken seconds
	// to start a daemon.
	readyTimeout = 60 * time.Second
	stopTimeout  = 5 * time.Second
)

// Options describe one FRR instance.
type Options struct {
	// Netns is the name of an existing network namespace (ip netns list).
	Netns string
	// Dir holds the instance's sockets, pid files, logs and config files. It
	// must not exist or be empty: Stop removes it.
	Dir string
	// Daemons to start; zebra is always started first. Default DefaultDaemons.
	Daemons []string
	// InitialConfig is applied through vtysh once all daemons answer.
	InitialConfig string
	// BinDir holds the daemon binaries. Default DefaultBinDir.
	BinDir string
	// Vtysh is the vtysh binary. Default DefaultVtysh.
	Vtysh string
	// ExtraArgs are appended to a daemon's command line, e.g.
	// {"bgpd": {"-l", "10.0.0.1"}} or {"zebra": {"-M", "fpm"}}.
	ExtraArgs map[string][]string
	// Attempts is how often Start tries before it gives up; 0 means once.
	// The daemons get a fixed time to open their sockets, which in the VM
	// lane on a loaded host (TCG, one vCPU) is sometimes too short, and a
	// fresh start then succeeds: the lab's routers use StartAttempts.
	Attempts int
	// Logf, when set, is told about each failed attempt that is retried.
	Logf func(format string, args ...any)
	// Root, when set, is a root file system with FRR installed (as
	// hack/frr-rootfs.sh builds): the daemons run chrooted in it, each in
	// its own mount namespace where Dir is bind-mounted at the same path,
	// so the sockets have one path inside and out. BinDir is then a path
	// inside Root, and the daemons are the frr user of Root's /etc/passwd.
	// Unless Vtysh is set, the instance's vtysh (Cli, ApplyConfig) is
	// Root's, chrooted the same way (a wrapper script in Dir).
	Root string
}

// StartAttempts is what the lab's FRR instances use as Options.Attempts.
const StartAttempts = 4

// Start launches the daemons in opts.Netns and returns once every daemon
// accepts vty connections and the initial config is applied. A failed
// attempt stops what it started and removes opts.Dir; up to opts.Attempts
// attempts are made while ctx is live.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	for attempt := 1; ; attempt++ {
		inst, err := start(ctx, opts)
		if err == nil || attempt >= opts.Attempts || ctx.Err() != nil {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("attempt %d: %w", attempt, err)
			}
			return inst, err
		}
		if opts.Logf != nil {
			line, _, _ := strings.Cut(err.Error(), "\n")
			opts.Logf("FRR in netns %s: start attempt %d failed, retrying: %s", opts.Netns, attempt, line)
		}
	}
}

// chrootScript runs "$@" chrooted in root $0 in the mount namespace of
// "unshare -m", with the instance directory $1 bind-mounted at its own path
// inside and a /proc; it execs all the way down, so the PID stays the
// command's. No single quotes: it is quoted so in the vtysh wrapper.
const chrootScript = `r=$0 d=$1; shift; mount --make-rprivate / && mount --bind "$r" "$r" && mkdir -p "$r$d" && mount --bind "$d" "$r$d" && mount -t proc proc "$r/proc" && exec chroot "$r" "$@"`

// Instance is a running set of FRR daemons.
type Instance struct {
	opts  Options
	procs map[string]*process

	stopOnce sync.Once
	stopErr  error
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func start(ctx context.Context, opts Options) (*Instance, error) {
	if opts.Netns == "" {
		return nil, errors.New("frrproc: Options.Netns is empty")
	}
	if opts.Dir == "" {
		return nil, errors.New("frrproc: Options.Dir is empty")
	}
	if len(opts.Daemons) == 0 {
		opts.Daemons = DefaultDaemons
	}
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir
	}
	rootVtysh := opts.Vtysh == "" && opts.Root != ""
	if opts.Vtysh == "" {
		opts.Vtysh = DefaultVtysh
	}
	if opts.Root != "" && !slices.Contains(opts.Daemons, "mgmtd") {
		// FRR 10 configures zebra and staticd through mgmtd.
		if _, err := os.Stat(filepath.Join(opts.Root, opts.BinDir, "mgmtd")); err == nil {
			opts.Daemons = append([]string{"mgmtd"}, opts.Daemons...)
		}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("frrproc: dir %q: %w", opts.Dir, err)
	}
	opts.Dir = dir
	if _, err := os.Stat(filepath.Join("/run/netns", opts.Netns)); err != nil {
		return nil, fmt.Errorf("frrproc: netns %q: %w", opts.Netns, err)
	}
	for _, d := range opts.Daemons {
		if _, err := os.Stat(filepath.Join(opts.Root, opts.BinDir, d)); err != nil {
			return nil, fmt.Errorf("frrproc: daemon %q: %w (is the frr package installed?)", d, err)
		}
	}
	if err := prepareDir(opts.Dir, opts.Root); err != nil {
		return nil, err
	}
	if rootVtysh {
		// The root's vtysh, chrooted like the daemons: the host's may not
		// know where the root's FRR takes a command (FRR 10's mgmtd).
		wrapper := filepath.Join(opts.Dir, "vtysh")
		text := "#!/bin/sh\nexec unshare -m sh -c '" + chrootScript + "' " + opts.Root + " " + opts.Dir + " " + DefaultVtysh + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(text), 0o755); err != nil {
			os.RemoveAll(opts.Dir)
			return nil, fmt.Errorf("frrproc: %w", err)
		}
		opts.Vtysh = wrapper
	}

	inst := &Instance{opts: opts, procs: map[string]*process{}}
	fail := func(err error) (*Instance, error) {
		_ = inst.Stop()
		return nil, err
	}

	// Clients retry a missing zebra socket only after 10 s, so zebra must be
	// listening before any other daemon starts.
	order := slices.Clone(opts.Daemons)
	slices.SortStableFunc(order, func(a, b string) int {
		switch {
		case a == "zebra" && b != "zebra":
			return -1
		case b == "zebra" && a != "zebra":
			return 1
		}
		return 0
	})
	if order[0] == "zebra" && slices.Contains(order, "mgmtd") {
		// mgmtd, then zebra: both before the rest.
		order = slices.DeleteFunc(order, func(d string) bool { return d == "mgmtd" })
		if err := inst.launch("mgmtd"); err != nil {
			return fail(err)
		}
		if err := inst.waitSockets(ctx, "mgmtd", inst.vtySocket("mgmtd")); err != nil {
			return fail(err)
		}
	}
	if order[0] == "zebra" {
		if err := inst.launch("zebra"); err != nil {
			return fail(err)
		}
		if err := inst.waitSockets(ctx, "zebra", inst.ZebraSocket(), inst.vtySocket("zebra")); err != nil {
			return fail(err)
		}
		order = order[1:]
	}
	for _, d := range order {
		if err := inst.launch(d); err != nil {
			return fail(err)
		}
	}
	for _, d := range order {
		if err := inst.waitSockets(ctx, d, inst.vtySocket(d)); err != nil {
			return fail(err)
		}
	}
	if strings.TrimSpace(opts.InitialConfig) != "" {
		if err := inst.ApplyConfig(ctx, opts.InitialConfig); err != nil {
			return fail(fmt.Errorf("frrproc: initial config: %w", err))
		}
	}
	return inst, nil
}

func prepareDir(dir, root string) (err error) {
	created := false
	defer func() {
		if err != nil && created {
			os.RemoveAll(dir)
		}
	}()
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("frrproc: dir %s: %w", dir, err)
		}
		created = true
	case err != nil:
		return fmt.Errorf("frrproc: dir %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("frrproc: dir %s is not empty (Stop removes it, so it must belong to this instance)", dir)
	}
	if err := checkTraversable(filepath.Dir(dir)); err != nil {
		return err
	}
	// The daemons drop privileges to frr before creating their sockets and
	// pid files; vtysh then writes the integrated frr.conf here.
	uid, gid, err := lookupFRR(root)
	if err != nil {
		return err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("frrproc: chown %s to %s: %w", dir, frrUser, err)
	}
	// vtysh reads vtysh.conf from --config_dir; integrated mode makes "write"
	// produce DIR/frr.conf instead of asking every daemon to write its own file.
	if err := os.WriteFile(filepath.Join(dir, "vtysh.conf"), []byte("service integrated-vtysh-config\n"), 0o644); err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	return nil
}

// checkTraversable fails early with a clear message when the frr user could
// not reach the instance directory; the daemons would otherwise die with a
// bare "permission denied" in their log.
func checkTraversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("frrproc: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("frrproc: directory %s (mode %v) is not traversable by user %s; the daemons cannot reach their sockets below it", d, fi.Mode().Perm(), frrUser)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func lookupFRR(root string) (int, int, error) {
	if root != "" {
		return lookupPasswd(filepath.Join(root, "etc/passwd"))
	}
	u, err := user.Lookup(frrUser)
	if err != nil {
		return 0, 0, fmt.Errorf("frrproc: user %q: %w (is the frr package installed?)", frrUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// lookupPasswd finds the frr user in a root file system's passwd file.
func lookupPasswd(path string) (int, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("frrproc: Options.Root: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == frrUser {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				return uid, gid, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("frrproc: Options.Root: no user %q in %s (is the frr package installed in the root?)", frrUser, path)
}

func (i *Instance) launch(daemon string) error {
	dir := i.opts.Dir
	// An empty per-daemon config file inside DIR keeps the daemon from reading
	// /etc/frr/<daemon>.conf and gives any non-integrated "write" a harmless target.
	confFile := filepath.Join(dir, daemon+".conf")
	if err := os.WriteFile(confFile, nil, 0o640); err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	uid, gid, err := lookupFRR(i.opts.Root)
	if err != nil {
		return err
	}
	if err := os.Chown(confFile, uid, gid); err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	args := []string{filepath.Join(i.opts.BinDir, daemon),
		"--vty_socket", dir,
		"-i", filepath.Join(dir, daemon+".pid"),
		"-P", "0", // no TCP vty
		"--log", "file:" + filepath.Join(dir, daemon+".log"),
		"--limit-fds", "4096",
	}
	// FRR 10 dropped -f from the daemons mgmtd configures.
	if daemon != "mgmtd" && daemon != "staticd" || i.opts.Root == "" {
		args = append(args, "-f", confFile)
	}
	switch daemon {
	case "zebra", "bgpd", "staticd", "bfdd", "ospfd", "ospf6d", "isisd", "pimd", "ripd", "ripngd", "pbrd", "vrrpd", "eigrpd", "babeld", "fabricd", "ldpd", "nhrpd", "pathd":
		args = append(args, "-z", i.ZebraSocket())
	}
	if daemon == "bfdd" {
		args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
	}
	args = append(args, i.opts.ExtraArgs[daemon]...)
	if i.opts.Root != "" {
		// -N: the sockets FRR 10 does not let options move (mgmtd's)
		// go to Root's /var/run/frr/<name>, one per instance.
		name := filepath.Base(dir)
		if err := os.MkdirAll(filepath.Join(i.opts.Root, "var/run/frr", name), 0o755); err != nil {
			return fmt.Errorf("frrproc: %w", err)
		}
		if err := os.Chown(filepath.Join(i.opts.Root, "var/run/frr", name), uid, gid); err != nil {
			return fmt.Errorf("frrproc: %w", err)
		}
		args = append(args[:1], append([]string{"-N", name}, args[1:]...)...)
		// exec all the way down: cmd.Process stays the daemon.
		args = append([]string{"unshare", "-m", "sh", "-c", chrootScript, i.opts.Root, dir}, args...)
	}
	out, err := os.OpenFile(filepath.Join(dir, daemon+".out"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	defer out.Close()
	// nsexec runs the daemon in place, so cmd.Process is the daemon.
	cmd := nsexec.Command(context.Background(), i.opts.Netns, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("frrproc: start %s in netns %s: %w", daemon, i.opts.Netns, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	i.procs[daemon] = p
	return nil
}

// waitSockets waits until every socket accepts a connection, failing early
// when the daemon exits.
func (i *Instance) waitSockets(ctx context.Context, daemon string, sockets ...string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	p := i.procs[daemon]
	for _, s := range sockets {
		err := retry.Poll(ctx, 0, retry.Every(5*time.Millisecond), func() (bool, error) {
			if c, err := net.Dial("unix", s); err == nil {
				c.Close()
				return true, nil
			}
			select {
			case <-p.exited:
				return false, fmt.Errorf("frrproc: %s exited during startup: %s", daemon, i.daemonOutput(daemon))
			default:
				return false, nil
			}
		})
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("frrproc: %s did not open %s: %w; output: %s", daemon, s, ctx.Err(), i.daemonOutput(daemon))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (i *Instance) daemonOutput(daemon string) string {
	var b bytes.Buffer
	for _, f := range []string{daemon + ".out", daemon + ".log"} {
		data, _ := os.ReadFile(filepath.Join(i.opts.Dir, f))
		b.Write(bytes.TrimSpace(data))
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

func (i *Instance) vtySocket(daemon string) string {
	return filepath.Join(i.opts.Dir, daemon+".vty")
}

// Dir is the instance directory; it is also the --vty_socket directory.
func (i *Instance) Dir() string { return i.opts.Dir }

// VtySocketDir is what vtysh and frr-reload.py need as --vty_socket.
func (i *Instance) VtySocketDir() string { return i.opts.Dir }

// ZebraSocket is the zebra API socket (-z).
func (i *Instance) ZebraSocket() string { return filepath.Join(i.opts.Dir, "zserv.api") }

// Netns is the network namespace the daemons run in.
func (i *Instance) Netns() string { return i.opts.Netns }

// Daemons lists the daemons of this instance.
func (i *Instance) Daemons() []string { return slices.Clone(i.opts.Daemons) }

// VtyshPath is the vtysh binary this instance uses.
func (i *Instance) VtyshPath() string { return i.opts.Vtysh }

// Cli is vtysh for this instance: its sockets and its config directory.
func (i *Instance) Cli() vtysh.Cli {
	return vtysh.Cli{Binary: i.opts.Vtysh, SocketDir: i.opts.Dir, ConfigDir: i.opts.Dir}
}

// Vtysh runs vtysh against this instance, e.g. Vtysh(ctx, "-c", "show bgp summary").
// The error carries vtysh's output.
func (i *Instance) Vtysh(ctx context.Context, args ...string) (string, error) {
	out, err := i.Cli().Run(ctx, args...)
	if err != nil {
		return out, fmt.Errorf("frrproc: %w (netns %s): %s", err, i.opts.Netns, strings.TrimSpace(out))
	}
	return out, nil
}

// RunningConfig returns "show running-config" of all daemons.
func (i *Instance) RunningConfig() (string, error) {
	return i.Vtysh(context.Background(), "-c", "show running-config")
}

// ApplyConfig feeds config text to vtysh line by line (additive, like
// "vtysh -f"); it does not remove what the text leaves out.
func (i *Instance) ApplyConfig(ctx context.Context, config string) error {
	f, err := os.CreateTemp(i.opts.Dir, "apply-*.conf")
	if err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(config); err != nil {
		f.Close()
		return fmt.Errorf("frrproc: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("frrproc: %w", err)
	}
	_, err = i.Vtysh(ctx, "-f", f.Name())
	return err
}

// PID returns the process id of a daemon, or 0 when it is not part of the instance.
func (i *Instance) PID(daemon string) int {
	p, ok := i.procs[daemon]
	if !ok {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL to one daemon and waits for it to exit; tests use it to
// simulate a crash.
func (i *Instance) Kill(daemon string) error {
	p, ok := i.procs[daemon]
	if !ok {
		return fmt.Errorf("frrproc: daemon %q is not part of the instance in netns %s", daemon, i.opts.Netns)
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("frrproc: %s (pid %d) did not exit after SIGKILL", daemon, p.cmd.Process.Pid)
	}
}

// Alive reports whether every daemon process is still running.
func (i *Instance) Alive() bool {
	if len(i.procs) == 0 {
		return false
	}
	for _, p := range i.procs {
		select {
		case <-p.exited:
			return false
		default:
		}
	}
	return true
}

// Stop terminates all daemons (SIGTERM, then SIGKILL after a grace period)
// and removes the instance directory. It is safe to call more than once.
func (i *Instance) Stop() error {
	i.stopOnce.Do(func() {
		for _, p := range i.procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		deadline := time.Now().Add(stopTimeout)
		for name, p := range i.procs {
			select {
			case <-p.exited:
			case <-time.After(time.Until(deadline)):
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				select {
				case <-p.exited:
				case <-time.After(stopTimeout):
					i.stopErr = errors.Join(i.stopErr, fmt.Errorf("frrproc: %s (pid %d) did not exit", name, p.cmd.Process.Pid))
				}
			}
		}
		if err := os.RemoveAll(i.opts.Dir); err != nil {
			i.stopErr = errors.Join(i.stopErr, fmt.Errorf("frrproc: %w", err))
		}
	})
	return i.stopErr
}
