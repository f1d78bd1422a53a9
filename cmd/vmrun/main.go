// Command vmrun runs one command inside a QEMU VM booting a stock Debian
// kernel (see simulator/vm) and exits with the command's exit code.
//
//	vmrun [--kernel bookworm|trixie] [--timeout 20m] [--workdir DIR] [--env K=V]... -- CMD ARGS...
//	vmrun --kernel trixie --prepare   # download and prepare only
//	vmrun --has-vrf                   # exit 0 when the host kernel has VRF
//
// It exits 125 when the VM lane itself fails (cannot prepare or boot, or
// the guest reported no exit status), so a broken lane never looks like a pass.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/perouter/perouter/simulator/vm"
)

const laneFailed = 125

type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }
func (e *envFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	kernel := flag.String("kernel", string(vm.DefaultKernel), "kernel to boot: bookworm (6.1) or trixie (6.12)")
	timeout := flag.Duration("timeout", vm.DefaultTimeout, "bound on the whole run, boot included")
	workdir := flag.String("workdir", "", "working directory in the guest (default: the current directory)")
	modules := flag.String("modules", strings.Join(vm.DefaultModules, ","), "comma-separated modules to load before the command")
	console := flag.Bool("console", false, "print the guest console log (kernel messages, /init timings) to stderr after the run")
	probeVRF := flag.Bool("has-vrf", false, "exit 0 when the running kernel can create VRF devices (tests can run natively), 1 when not")
	prepareOnly := flag.Bool("prepare", false, "only download and prepare the kernel, then exit")
	var env envFlag
	flag.Var(&env, "env", "KEY=VALUE added to the guest command's environment (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmrun [flags] -- CMD ARGS...\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *probeVRF {
		if vm.HasVRF() {
			fmt.Fprintln(os.Stderr, "vmrun: the running kernel has VRF")
			return
		}
		fmt.Fprintln(os.Stderr, "vmrun: the running kernel cannot create VRF devices")
		os.Exit(1)
	}
	if *prepareOnly {
		start := time.Now()
		a, err := vm.Prepare(ctx, vm.Kernel(*kernel))
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmrun:", err)
			os.Exit(laneFailed)
		}
		fmt.Fprintf(os.Stderr, "vmrun: kernel %s (%s) ready in %v\n", a.Kernel, a.Release, time.Since(start).Round(time.Millisecond))
		return
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	dir := *workdir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmrun:", err)
			os.Exit(laneFailed)
		}
		dir = wd
	}
	var mods []string
	if *modules != "" {
		mods = strings.Split(*modules, ",")
	} else {
		mods = []string{}
	}
	var consoleLog io.Writer
	if *console {
		consoleLog = os.Stderr
	}
	code, err := vm.Run(ctx, vm.Options{
		Console: consoleLog,
		Kernel:  vm.Kernel(*kernel),
		Command: flag.Args(),
		Env:     env,
		WorkDir: dir,
		Timeout: *timeout,
		Modules: mods,
		Stdout:  os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		os.Exit(laneFailed)
	}
	os.Exit(code)
}
