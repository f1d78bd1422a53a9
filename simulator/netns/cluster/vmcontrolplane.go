package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
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
