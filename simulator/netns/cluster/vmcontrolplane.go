package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/vm"
)

// vmAPIServerPort is where guests reach the host's API server.
const vmAPIServerPort = 6443

// VMControlPlane is etcd and kube-apiserver running on the host for a lab
// inside the VM lane. Emulated they took minutes to start and a large
// share of the guest's one vCPU; on the host they start in seconds. The
// guest reaches them through a forward of QEMU's user network.
type VMControlPlane struct {
	cp *controlplane.ControlPlane
	// GuestKubeconfig is the admin kubeconfig for the guest's processes
	// (Options.Kubeconfig of the agents inside the VM).
	GuestKubeconfig string
	// Forward goes into vm.Options.Forwards.
	Forward vm.Forward
	// WebhookPort is where the API server calls the guest's webhook
	// (https://127.0.0.1:WebhookPort on the host); the guest's labeler
	// serves the same port. HostForward (into vm.Options.HostForwards)
	// carries it into the guest and GuestEnv tells the guest's lab.
	WebhookPort int
	HostForward vm.HostForward
}

// StartVMControlPlane starts the control plane on the host's loopback.
func StartVMControlPlane(ctx context.Context, logs io.Writer) (*VMControlPlane, error) {
	cp, err := controlplane.Start(ctx, controlplane.Options{Logs: logs, StartTimeout: 2 * time.Minute})
	if err != nil {
		return nil, err
	}
	webhookPort, err := FreeLoopbackPort()
	if err != nil {
		return nil, fmt.Errorf("a port for the webhook: %w (stopping the control plane: %v)", err, cp.Stop())
	}
	v := &VMControlPlane{
		cp:              cp,
		GuestKubeconfig: filepath.Join(cp.StateDir(), "guest-kubeconfig"),
		Forward:         vm.Forward{GuestPort: vmAPIServerPort, HostAddr: cp.APIServerURL().Host},
		WebhookPort:     webhookPort,
		HostForward:     vm.HostForward{HostPort: webhookPort, GuestPort: webhookPort},
	}
	server := "https://" + net.JoinHostPort(vm.GuestForwardIP, strconv.Itoa(vmAPIServerPort))
	if err := cp.WriteKubeconfigVia(server, v.GuestKubeconfig); err != nil {
		return nil, fmt.Errorf("%w (stopping the control plane: %v)", err, cp.Stop())
	}
	return v, nil
}

// GuestEnv is the environment the guest's lab needs (vm.Options.Env): the
// webhook port (WebhookPortEnv).
func (v *VMControlPlane) GuestEnv() []string {
	return []string{WebhookPortEnv + "=" + strconv.Itoa(v.WebhookPort)}
}

// Kubeconfig is the admin kubeconfig for clients on the host.
func (v *VMControlPlane) Kubeconfig() string { return v.cp.KubeconfigPath() }

// Stop stops the control plane and removes its state.
func (v *VMControlPlane) Stop() error { return v.cp.Stop() }

// LaneRun is one run of a lab program (pesim, the e2e test binary) inside
// the VM lane: the same binary re-executed in the guest, with, for a lab
// with a cluster, etcd and kube-apiserver on the host (StartVMControlPlane)
// and the forwards between them.
type LaneRun struct {
	// Command, Env, WorkDir, Timeout and Stdout are vm.Options'.
	Command []string
	Env     []string
	WorkDir string
	Timeout time.Duration
	Stdout  io.Writer
	// Cluster starts the control plane on the host; the guest finds its
	// kubeconfig in the variable KubeconfigEnv.
	Cluster       bool
	KubeconfigEnv string
	// ControlPlaneLogs receives etcd's and kube-apiserver's output.
	ControlPlaneLogs *os.File
	// Progress, when set, hears what happens on the host.
	Progress func(format string, args ...any)
}

// RunInVM runs r in the VM lane and returns the guest command's exit code;
// the control plane stops when the VM has.
func RunInVM(ctx context.Context, r LaneRun) (int, error) {
	progress := r.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	env := slices.Clone(r.Env)
	var (
		forwards     []vm.Forward
		hostForwards []vm.HostForward
	)
	if r.Cluster {
		// etcd and kube-apiserver run here at native speed; emulated they
		// took minutes and much of the guest's CPU.
		progress("starting etcd and kube-apiserver on this host for the VM")
		vcp, err := StartVMControlPlane(ctx, r.ControlPlaneLogs)
		if err != nil {
			return 0, fmt.Errorf("control plane for the VM (logs in %s): %w", r.ControlPlaneLogs.Name(), err)
		}
		defer func() {
			if err := vcp.Stop(); err != nil {
				progress("stopping the control plane: %v", err)
			}
		}()
		progress("kube-apiserver runs on this host (%s), reached from the VM through a forward", vcp.Forward.HostAddr)
		env = append(append(env, r.KubeconfigEnv+"="+vcp.GuestKubeconfig), vcp.GuestEnv()...)
		forwards = append(forwards, vcp.Forward)
		// The API server calls the labeler's webhook inside the guest.
		hostForwards = append(hostForwards, vcp.HostForward)
	}
	return vm.Run(ctx, vm.Options{
		Command:      r.Command,
		Env:          env,
		WorkDir:      r.WorkDir,
		Timeout:      r.Timeout,
		MemoryMB:     3072, // ~10 FRR instances and the operator's processes
		CPUs:         vm.LabCPUs,
		Stdout:       r.Stdout,
		Forwards:     forwards,
		HostForwards: hostForwards,
	})
}
