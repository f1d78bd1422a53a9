package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/simulator/controlplane"
	"github.com/perouter/perouter/simulator/kubenode"
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
	// EgressPort, with KubeletNodes, is where the guest serves the API
	// server's "cluster" egress (EgressPortEnv); EgressForward carries it.
	EgressPort    int
	EgressForward vm.HostForward

	controllers *kubenode.Controllers
	relay       *kubenode.EgressRelay
	relayDir    string
}

// KubeletNodes describe a guest lab whose cluster nodes run kubelets (the
// pods mode, simulator/netns/pods): the host's API server is started with
// these flags and serving addresses (pods.ControlPlaneOptions), with
// kube-scheduler and kube-controller-manager beside it, and its "cluster"
// egress (kubelets, webhooks at pod IPs) goes to a CONNECT proxy in the
// guest (kubenode.StartKubeletProxyTCP) through a host forward.
type KubeletNodes struct {
	APIServerFlags map[string]string
	ServingIPs     []net.IP
	// Images are the nodes' image archives: RunInVM imports them on the
	// host into one containerd store (kubenode.SeedImages) that every
	// guest node copies (ImageSeedEnv names it; kubenode.Options.ImageSeed).
	Images []string
}

// ImageSeedEnv names, in a guest lab with kubelet nodes, the image store
// the host prepared (KubeletNodes.Images).
const ImageSeedEnv = "PESIM_IMAGE_SEED"

// EgressPortEnv tells a guest lab with kubelet nodes the port its egress
// proxy serves (on all of the guest's addresses: QEMU's host forward
// reaches the guest's own address).
const EgressPortEnv = "PESIM_EGRESS_PORT"

// StartVMControlPlane starts the control plane on the host's loopback;
// nodes, when not nil, prepares it for kubelet nodes in the guest.
func StartVMControlPlane(ctx context.Context, logs io.Writer, nodes *KubeletNodes) (_ *VMControlPlane, err error) {
	opts := controlplane.Options{Logs: logs, StartTimeout: 2 * time.Minute}
	var (
		egressPort int
		relay      *kubenode.EgressRelay
		relayDir   string
	)
	if nodes != nil {
		// The API server's egress goes to a unix socket here, relayed to
		// the guest's proxy through a host forward: kube-apiserver has no
		// working plain-TCP egress (kubenode.EgressSelectorConfig).
		if egressPort, err = FreeLoopbackPort(); err != nil {
			return nil, fmt.Errorf("a port for the API server's egress: %w", err)
		}
		if relayDir, err = os.MkdirTemp("", "perouter-vm-egress-"); err != nil {
			return nil, err
		}
		socket := filepath.Join(relayDir, "egress.sock")
		if relay, err = kubenode.StartEgressRelay(socket, net.JoinHostPort("127.0.0.1", strconv.Itoa(egressPort))); err != nil {
			return nil, errors.Join(err, os.RemoveAll(relayDir))
		}
		config := filepath.Join(relayDir, "egress.yaml")
		if err := os.WriteFile(config, []byte(kubenode.EgressSelectorConfig(socket)), 0o644); err != nil {
			return nil, errors.Join(err, relay.Close(), os.RemoveAll(relayDir))
		}
		opts.APIServerFlags = maps.Clone(nodes.APIServerFlags)
		if opts.APIServerFlags == nil {
			opts.APIServerFlags = map[string]string{}
		}
		opts.APIServerFlags["egress-selector-config-file"] = config
		opts.ServingIPs = nodes.ServingIPs
	}
	cp, err := controlplane.Start(ctx, opts)
	if err != nil {
		if relay != nil {
			err = errors.Join(err, relay.Close(), os.RemoveAll(relayDir))
		}
		return nil, err
	}
	v := &VMControlPlane{
		cp:              cp,
		GuestKubeconfig: filepath.Join(cp.StateDir(), "guest-kubeconfig"),
		Forward:         vm.Forward{GuestPort: vmAPIServerPort, HostAddr: cp.APIServerURL().Host},
		relay:           relay,
		relayDir:        relayDir,
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, v.Stop())
		}
	}()
	if nodes != nil {
		// The chart's webhook is called at its pod IP through the egress:
		// no webhook port. kube-scheduler and kube-controller-manager run
		// here at native speed, like the API server.
		v.EgressPort = egressPort
		v.EgressForward = vm.HostForward{HostPort: egressPort, GuestPort: egressPort}
		assets, err := k8sassets.Dir()
		if err != nil {
			return nil, err
		}
		if v.controllers, err = kubenode.StartControllers(assets, cp.KubeconfigPath(), cp.StateDir()); err != nil {
			return nil, err
		}
	} else {
		if v.WebhookPort, err = FreeLoopbackPort(); err != nil {
			return nil, fmt.Errorf("a port for the webhook: %w", err)
		}
		v.HostForward = vm.HostForward{HostPort: v.WebhookPort, GuestPort: v.WebhookPort}
	}
	server := "https://" + net.JoinHostPort(vm.GuestForwardIP, strconv.Itoa(vmAPIServerPort))
	if err := cp.WriteKubeconfigVia(server, v.GuestKubeconfig); err != nil {
		return nil, err
	}
	return v, nil
}

// GuestEnv is the environment the guest's lab needs (vm.Options.Env): the
// webhook port (WebhookPortEnv), or with kubelet nodes the egress port
// (EgressPortEnv).
func (v *VMControlPlane) GuestEnv() []string {
	if v.EgressPort != 0 {
		return []string{EgressPortEnv + "=" + strconv.Itoa(v.EgressPort)}
	}
	return []string{WebhookPortEnv + "=" + strconv.Itoa(v.WebhookPort)}
}

// HostForwards go into vm.Options.HostForwards.
func (v *VMControlPlane) HostForwards() []vm.HostForward {
	if v.EgressPort != 0 {
		return []vm.HostForward{v.EgressForward}
	}
	return []vm.HostForward{v.HostForward}
}

// Kubeconfig is the admin kubeconfig for clients on the host.
func (v *VMControlPlane) Kubeconfig() string { return v.cp.KubeconfigPath() }

// Stop stops the controllers and the control plane and removes its state.
func (v *VMControlPlane) Stop() error {
	var errs []error
	if v.controllers != nil {
		errs = append(errs, v.controllers.Stop())
	}
	errs = append(errs, v.cp.Stop())
	if v.relay != nil {
		errs = append(errs, v.relay.Close(), os.RemoveAll(v.relayDir))
	}
	return errors.Join(errs...)
}

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
	// KubeletNodes, with Cluster, prepares the control plane for a guest
	// whose cluster nodes run kubelets (the pods mode).
	KubeletNodes *KubeletNodes
	// MemoryMB is the guest's RAM; zero means 3072.
	MemoryMB int
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
		vcp, err := StartVMControlPlane(ctx, r.ControlPlaneLogs, r.KubeletNodes)
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
		// The API server calls the labeler's webhook inside the guest, or
		// with kubelet nodes everything of its "cluster" egress.
		hostForwards = append(hostForwards, vcp.HostForwards()...)
	}
	if r.Cluster && r.KubeletNodes != nil && len(r.KubeletNodes.Images) > 0 {
		seed, err := os.MkdirTemp("", "perouter-vm-image-seed-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(seed)
		start := time.Now()
		assets, err := k8sassets.Dir()
		if err != nil {
			return 0, err
		}
		if err := kubenode.SeedImages(ctx, assets, seed, r.KubeletNodes.Images); err != nil {
			return 0, fmt.Errorf("importing the images for the VM's nodes: %w", err)
		}
		progress("images imported on this host for the VM's nodes in %v (%s)", time.Since(start).Round(100*time.Millisecond), seed)
		env = append(env, ImageSeedEnv+"="+seed)
	}
	memory := r.MemoryMB
	if memory == 0 {
		memory = 3072 // ~10 FRR instances and the operator's processes
	}
	return vm.Run(ctx, vm.Options{
		Command:      r.Command,
		Env:          env,
		WorkDir:      r.WorkDir,
		Timeout:      r.Timeout,
		MemoryMB:     memory,
		CPUs:         vm.LabCPUs,
		Stdout:       r.Stdout,
		Forwards:     forwards,
		HostForwards: hostForwards,
	})
}
