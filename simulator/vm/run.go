package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultModules are loaded before the command runs: the datapath's
// devices. Module auto-loading works too, but loading them up front keeps
// the first netlink call of a test from paying for it.
var DefaultModules = []string{"vrf", "vxlan", "bridge", "veth"}

// DefaultTimeout bounds a whole run, boot included.
const DefaultTimeout = 20 * time.Minute

// LabCPUs is the vCPU count for a lab guest (pesim, the e2e suite, the
// latency run): a dozen FRR instances and the operator's processes run at
// once, and QEMU runs each vCPU on its own host thread (MTTCG). Measured
// on this project's 2-core machine: the default lab up in 55 s with two
// vCPUs against 2m23s–3m18s with one, the whole e2e suite ~15 min against
// ~50. A single-threaded guest command (the kernel lane) gains nothing.
const LabCPUs = 2

// GuestShare is where the writable share (the run's command and results)
// is mounted inside the guest.
const GuestShare = "/run/perouter-vm"

// defaultGuestEnv is the environment a command starts from; Options.Env
// adds to and overrides it.
var defaultGuestEnv = []string{
	"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=dumb",
}

// Options describe one run.
type Options struct {
	// Kernel defaults to DefaultKernel.
	Kernel Kernel
	// Command is run inside the guest, chrooted in the overlay of the host
	// root. Command[0] is looked up in PATH.
	Command []string
	// Env entries (KEY=VALUE) are added to a minimal default environment
	// (PATH, HOME, TERM); the host's environment is not passed on.
	Env []string
	// WorkDir is the command's working directory; default "/". Host paths
	// are valid guest paths (except under /run, a fresh tmpfs).
	WorkDir string
	// Timeout bounds the run including boot; default DefaultTimeout.
	Timeout time.Duration
	// Modules are loaded before the command; nil means DefaultModules,
	// an empty non-nil slice loads none.
	Modules []string
	// Stdout receives the command's combined stdout and stderr as it runs;
	// nil means os.Stdout.
	Stdout io.Writer
	// Console, when set, receives the guest's console log (kernel messages
	// and /init's timestamped progress) after the run, for diagnosis.
	Console io.Writer
	// MemoryMB is the guest's RAM; default 2048. Guest writes live in RAM.
	MemoryMB int
	// CPUs is the guest's vCPU count; default 1 under TCG (one vCPU ran
	// single-threaded work 1.5–2× faster than two on a 2-core host), up to
	// 2 with KVM; labs use LabCPUs. $PEROUTER_VM_CPUS overrides it.
	CPUs int
	// Forwards make host TCP services reachable from the guest's root
	// namespace at GuestForwardIP (see Forward). The calling binary must
	// call ServeRelayIfAsked first thing.
	Forwards []Forward
	// HostForwards make guest TCP services reachable from the host's
	// loopback (see HostForward).
	HostForwards []HostForward
}

// Run boots a VM with the requested kernel, runs the command in it and
// returns the command's exit code. err is non-nil only when the lane itself
// failed (could not prepare, boot, or learn the command's exit status);
// then exitCode is -1. A command that fails is not an error.
func Run(ctx context.Context, opts Options) (exitCode int, err error) {
	if len(opts.Command) == 0 {
		return -1, errors.New("vm: Options.Command is empty")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	assets, err := Prepare(ctx, opts.Kernel)
	if err != nil {
		return -1, err
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return -1, fmt.Errorf("vm: qemu-system-x86_64 not found (apt-get install qemu-system-x86): %w", err)
	}
	job, err := os.MkdirTemp("", "perouter-vm-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(job)
	if err := writeJob(job, assets, opts); err != nil {
		return -1, err
	}

	accel := chooseAccel()
	args := qemuArgs(assets, job, accel, opts.MemoryMB, opts.CPUs)
	netArgs, err := netdevArgs(opts.Forwards, opts.HostForwards)
	if err != nil {
		return -1, err
	}
	args = append(args, netArgs...)
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdin = nil // /dev/null: qemu must never read the caller's terminal
	out := opts.Stdout
	if out == nil {
		out = os.Stdout
	}
	cmd.Stdout = &crStripper{w: out}
	var qemuStderr bytes.Buffer
	cmd.Stderr = &qemuStderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if opts.Console != nil {
		if data, err := os.ReadFile(filepath.Join(job, "console.log")); err == nil {
			opts.Console.Write(bytes.ReplaceAll(data, []byte("\r"), nil))
		}
	}

	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return -1, fmt.Errorf("vm: run of %q on %s (%s) did not finish within %v\n%s",
			opts.Command, assets.Kernel, accel, timeout, consoleTail(job))
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("vm: run of %q on %s interrupted: %w", opts.Command, assets.Kernel, ctx.Err())
	}
	exitData, readErr := os.ReadFile(filepath.Join(job, "exit"))
	if readErr != nil {
		reason := "the guest reported no exit status"
		if msg, err := os.ReadFile(filepath.Join(job, "init-error")); err == nil {
			reason = "guest init failed: " + strings.TrimSpace(string(msg))
		}
		return -1, fmt.Errorf("vm: %s (kernel %s, %s, qemu: %v)\nqemu stderr:\n%s\nconsole:\n%s",
			reason, assets.Kernel, accel, runErr, tail(qemuStderr.String(), 2000), consoleTail(job))
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(exitData)))
	if err != nil {
		return -1, fmt.Errorf("vm: unreadable exit status %q from the guest", exitData)
	}
	return code, nil
}

func writeJob(job string, a Assets, opts Options) error {
	modules := opts.Modules
	if modules == nil {
		modules = DefaultModules
	}
	if opts.hasNetwork() {
		modules = append(slices.Clone(modules), "virtio_net")
	}
	config := fmt.Sprintf("RELEASE=%s\nMODULES_DIR=%s\nLOAD_MODULES=%s\n",
		shellQuote(a.Release), shellQuote(a.ModulesDir), shellQuote(strings.Join(modules, " ")))
	if err := os.WriteFile(filepath.Join(job, "config"), []byte(config), 0o644); err != nil {
		return err
	}
	workDir := opts.WorkDir
	if workDir == "" {
		workDir = "/"
	}
	var script strings.Builder
	// The guest boots with no hostname ("(none)", which FRR copies into a
	// config line vtysh then refuses) and with lo down.
	script.WriteString("read h </proc/sys/kernel/hostname; [ \"$h\" != \"(none)\" ] || echo perouter-vm >/proc/sys/kernel/hostname\n")
	script.WriteString("ip link set lo up || exit 125\n")
	if opts.hasNetwork() {
		fmt.Fprintf(&script, "ip addr add %s dev eth0 && ip link set eth0 up || exit 125\n", guestAddress)
	}
	fmt.Fprintf(&script, "cd %s || exit 125\n", shellQuote(workDir))
	for _, kv := range append(append([]string{}, defaultGuestEnv...), opts.Env...) {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("vm: Options.Env entry %q is not KEY=VALUE", kv)
		}
		fmt.Fprintf(&script, "export %s\n", shellQuote(kv))
	}
	script.WriteString("exec")
	for _, arg := range opts.Command {
		script.WriteString(" " + shellQuote(arg))
	}
	script.WriteString("\n")
	return os.WriteFile(filepath.Join(job, "run.sh"), []byte(script.String()), 0o644)
}

// hasNetwork says whether the guest gets QEMU's user network (eth0).
func (o Options) hasNetwork() bool { return len(o.Forwards) > 0 || len(o.HostForwards) > 0 }

// kernelCommandLine skips boot work a throwaway test VM does not need
// (crypto self-tests, AppArmor, audit, PS/2 probing, TSC checks): together
// 25–30% off the boot under TCG.
const kernelCommandLine = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init " +
	"cryptomgr.notests apparmor=0 audit=0 i8042.noprobe tsc=reliable no_timer_check"

func qemuArgs(a Assets, job string, accel string, memoryMB, cpus int) []string {
	if memoryMB <= 0 {
		memoryMB = 2048
	}
	cpu, smp := "max", "1" // one vCPU ran 1.5–2× faster than two under TCG here
	if accel == "kvm" {
		cpu, smp = "host", strconv.Itoa(min(runtime.NumCPU(), 2))
	}
	if cpus > 0 {
		smp = strconv.Itoa(cpus)
	}
	// The environment has the last word, to measure another count.
	if n, err := strconv.Atoi(os.Getenv("PEROUTER_VM_CPUS")); err == nil && n > 0 {
		smp = strconv.Itoa(n)
	}
	return []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", accel, "-M", "pc", "-cpu", cpu, "-smp", smp, "-m", strconv.Itoa(memoryMB),
		"-kernel", a.Vmlinux,
		"-initrd", a.Initramfs,
		"-append", kernelCommandLine,
		// ttyS0: kernel and init messages, kept for diagnosing failures.
		"-serial", "file:" + filepath.Join(job, "console.log"),
		// ttyS1: the command's output, streamed to the caller.
		"-serial", "stdio",
		"-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
		"-fsdev", "local,id=job,path=" + job + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=job,mount_tag=job",
	}
}

// chooseAccel picks KVM only when /dev/kvm can run stock kernels. A PVM
// host (kvm_pvm loaded, as on this project's machines) exposes /dev/kvm but
// only runs PVM-built guests, so it falls back to TCG. PEROUTER_VM_ACCEL
// (kvm or tcg) overrides the probe.
func chooseAccel() string {
	switch v := os.Getenv("PEROUTER_VM_ACCEL"); v {
	case "kvm", "tcg":
		return v
	}
	if kvmUsable() {
		return "kvm"
	}
	return "tcg"
}

func kvmUsable() bool {
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00
	version, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 || version != 12 {
		return false
	}
	// Stock kernels need hardware virtualisation behind /dev/kvm.
	for _, m := range []string{"/sys/module/kvm_intel", "/sys/module/kvm_amd"} {
		if _, err := os.Stat(m); err == nil {
			return true
		}
	}
	return false
}

func consoleTail(job string) string {
	data, err := os.ReadFile(filepath.Join(job, "console.log"))
	if err != nil {
		return "(no console log)"
	}
	return tail(strings.ReplaceAll(string(data), "\r", ""), 3000)
}

// crStripper drops the carriage returns a serial line adds.
type crStripper struct{ w io.Writer }

func (c *crStripper) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\r') < 0 {
		return c.w.Write(p)
	}
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\r"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
