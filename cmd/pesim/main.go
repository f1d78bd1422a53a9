// Command pesim brings a containerlab topology up as network namespaces
// with real FRR (the netns provider, see docs/simulator.md).
//
//	pesim [-t FILE] up | down | status | exec NODE -- CMD... | reboot NODE | logs [NODE]
//
// On a kernel without VRF support `pesim up` runs itself inside the QEMU
// lane (simulator/vm) when the lab needs VRF devices (cluster.VRFNeeds:
// the topology's files or the manifests it applies): the lab then lives
// only as long as that VM, so it shows the fabric's EVPN routes and a ping
// across it, then exits. A lab that needs none runs natively.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/simulator/kind"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/topology"
	"github.com/perouter/perouter/simulator/vm"
)

// inVMEnv marks the pesim running inside the VM lane; kubeconfigEnv
// names the API server the host runs for it.
const (
	inVMEnv       = "PESIM_IN_VM"
	kubeconfigEnv = "PESIM_KUBECONFIG"
)

func main() {
	// In the VM lane this binary also relays the guest's connections to the
	// API server on the host.
	vm.ServeRelayIfAsked()
	// controlplane uses envtest, which logs through controller-runtime;
	// pesim prints its own progress.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pesim:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var topoPath, stateRoot, binDir, crdDir string
	var manifests []string
	root := &cobra.Command{
		Use:           "pesim",
		Short:         "Run a containerlab topology as network namespaces with real FRR",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&topoPath, "topology", "t", "topologies/default.clab.yml", "containerlab topology file")
	root.PersistentFlags().StringVar(&stateRoot, "state-root", netns.DefaultStateRoot, "where labs keep sockets, logs and pids")
	root.PersistentFlags().StringVar(&binDir, "bin-dir", defaultBinDir(), "directory holding the operator binaries (controller, reloader, labeler)")
	root.PersistentFlags().StringVar(&crdDir, "crds", "operator/config/crd/bases", "CRD manifests installed in the simulated cluster")
	root.PersistentFlags().StringSliceVar(&manifests, "apply", []string{"docs/examples/lab"}, "manifests applied once the operator runs")
	agents := func() *cluster.Agents {
		return cluster.New(cluster.Options{BinDir: binDir, CRDDir: crdDir, Manifests: manifests, InVM: os.Getenv(inVMEnv) != "", Kubeconfig: os.Getenv(kubeconfigEnv)})
	}
	load := func(progress io.Writer) (*netns.Lab, error) {
		topo, err := topology.Load(topoPath)
		if err != nil {
			return nil, err
		}
		return netns.New(topo, netns.Options{StateRoot: stateRoot, Progress: progress, Agents: agents()}), nil
	}

	var lane string
	var fabricOnly bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Bring the lab up (cleaning an earlier run first), show EVPN routes and a ping across the fabric",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			start := time.Now()
			useVM, err := chooseLane(lane, topoPath, manifests, fabricOnly)
			if err != nil {
				return err
			}
			if useVM {
				return upInVM(ctx, cmd, topoPath)
			}
			topo, err := topology.Load(topoPath)
			if err != nil {
				return err
			}
			opts := netns.Options{StateRoot: stateRoot, Progress: os.Stdout}
			var ag *cluster.Agents
			if !fabricOnly && len(topo.NodesWithRole(topology.RoleClusterNode)) > 0 {
				ag = agents()
				opts.Agents = ag
			}
			lab, err := netns.Up(ctx, topo, opts)
			if err != nil {
				return err
			}
			if ag != nil {
				fmt.Printf("[cluster] KUBECONFIG=%s\n", cluster.Kubeconfig(lab))
			}
			if err := show(ctx, lab, ag != nil, os.Stdout); err != nil {
				return err
			}
			fmt.Printf("\nlab %s up in %v", topo.Name, time.Since(start).Round(100*time.Millisecond))
			if os.Getenv(inVMEnv) != "" {
				fmt.Println(" (inside the VM lane: it ends with the VM)")
				return lab.Down(ctx)
			}
			fmt.Printf("; `pesim -t %s down` removes it\n", topoPath)
			return nil
		},
	}
	up.Flags().StringVar(&lane, "lane", "auto", "auto: native when the kernel has VRF or the lab needs none, else the VM lane; native; vm")
	up.Flags().BoolVar(&fabricOnly, "fabric-only", false, "leave cluster nodes as plain namespaces (no operator)")

	down := &cobra.Command{
		Use:   "down",
		Short: "Remove every namespace, process and file of the lab (also after a crash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lab, err := load(os.Stdout)
			if err != nil {
				return err
			}
			return lab.Down(cmd.Context())
		},
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show each node's namespace and each router's BGP sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lab, err := load(io.Discard)
			if err != nil {
				return err
			}
			return printStatus(cmd.Context(), lab, os.Stdout)
		},
	}

	execCmd := &cobra.Command{
		Use:   "exec NODE -- CMD [ARGS...]",
		Short: "Run a command in a node's namespace",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := load(io.Discard)
			if err != nil {
				return err
			}
			if _, ok := lab.Topo.Node(args[0]); !ok {
				return fmt.Errorf("node %q is not in lab %s", args[0], lab.Topo.Name)
			}
			out, err := lab.Exec(cmd.Context(), args[0], args[1:]...)
			fmt.Print(out)
			return err
		},
	}

	reboot := &cobra.Command{
		Use:   "reboot NODE",
		Short: "Destroy a node's namespaces and processes and recreate it with the same name",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := load(os.Stdout)
			if err != nil {
				return err
			}
			return lab.Reboot(cmd.Context(), args[0])
		},
	}

	logs := &cobra.Command{
		Use:   "logs [NODE]",
		Short: "Print the logs of a node (FRR daemons, agents), or list the log files of all nodes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := load(io.Discard)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				files, _ := filepath.Glob(filepath.Join(lab.StateDir(), "*", "*", "*.log"))
				more, _ := filepath.Glob(filepath.Join(lab.StateDir(), "*", "*.log"))
				files = append(files, more...)
				sort.Strings(files)
				for _, f := range files {
					fmt.Println(f)
				}
				return nil
			}
			return printLogs(lab, args[0], os.Stdout)
		},
	}
	var imagesDir string
	kindCmd := &cobra.Command{
		Use:   "kind up|down|plan|kubeconfig",
		Short: "The Docker provider: kind + containerlab + the Helm chart (needs a Docker host)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topo, err := topology.Load(topoPath)
			if err != nil {
				return err
			}
			archives, err := filepath.Glob(filepath.Join(imagesDir, "*.tar"))
			if err != nil {
				return err
			}
			opts := kind.Options{Images: archives, Chart: "charts/perouter", Manifests: manifests, Out: os.Stdout}
			switch args[0] {
			case "up":
				return kind.Up(cmd.Context(), topo, opts)
			case "down":
				return kind.Down(cmd.Context(), topo, opts)
			case "kubeconfig":
				c := topo.NodesWithRole(topology.RoleCluster)
				if len(c) != 1 {
					return fmt.Errorf("topology %s has no single k8s-kind node", topo.Path)
				}
				fmt.Println(kind.Kubeconfig(opts, c[0].Name))
				return nil
			case "plan":
				steps, err := kind.Plan(topo, opts)
				for _, s := range steps {
					fmt.Printf("# %s\n%s\n", s.Why, s.Does)
				}
				return err
			}
			return fmt.Errorf("kind %q: want up, down, plan or kubeconfig", args[0])
		},
	}
	kindCmd.Flags().StringVar(&imagesDir, "images", "bin/images", "directory of the image archives that make images wrote: loaded into every kind node and installed")
	root.AddCommand(up, down, status, execCmd, reboot, logs, kindCmd)
	return root
}

// defaultBinDir is where `make build` puts the operator: next to pesim.
func defaultBinDir() string {
	self, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(self)
}

// chooseLane says whether `up` runs in the VM lane. auto picks it only
// when this kernel lacks VRF and the lab needs VRF devices: its topology's
// files create or name one, or the manifests it applies make the
// controller plan one (cluster.VRFNeeds). The reasons are printed either
// way, so the choice can be checked.
func chooseLane(lane, topoPath string, manifests []string, fabricOnly bool) (useVM bool, err error) {
	switch lane {
	case "native":
		return false, nil
	case "vm":
		return true, nil
	case "auto":
		if os.Getenv(inVMEnv) != "" || vm.HasVRF() {
			return false, nil
		}
		topo, err := topology.Load(topoPath)
		if err != nil {
			return false, err
		}
		needs, err := cluster.VRFNeeds(topo, manifests, fabricOnly)
		if err != nil {
			return false, err
		}
		if len(needs) == 0 {
			fmt.Println("pesim: this kernel has no VRF support, but nothing in the topology or the applied manifests needs a VRF device: running natively")
			return false, nil
		}
		fmt.Printf("pesim: this kernel has no VRF support and the lab needs VRF devices:\n  %s\n", strings.Join(needs, "\n  "))
		return true, nil
	}
	return false, fmt.Errorf("--lane %q: want auto, native or vm", lane)
}

// upInVM runs this very binary inside the VM lane: the host root is the
// guest's root, so the binary, the topology and FRR are all there.
func upInVM(ctx context.Context, cmd *cobra.Command, topoPath string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(topoPath)
	if err != nil {
		return err
	}
	fmt.Println("pesim: running the lab inside the VM lane (it lives as long as the VM)")
	wd, _ := os.Getwd()
	args := []string{self, "-t", abs, "up", "--lane", "native"}
	for _, name := range []string{"bin-dir", "crds", "state-root"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			args = append(args, "--"+name+"="+f.Value.String())
		}
	}
	if f := cmd.Flags().Lookup("apply"); f != nil && f.Changed {
		paths, _ := cmd.Flags().GetStringSlice("apply")
		for _, p := range paths {
			args = append(args, "--apply="+p)
		}
	}
	run := cluster.LaneRun{
		Command:       args,
		Env:           []string{inVMEnv + "=1"},
		WorkDir:       wd,
		Timeout:       20 * time.Minute,
		Stdout:        os.Stdout,
		KubeconfigEnv: kubeconfigEnv,
		Progress: func(format string, a ...any) {
			fmt.Printf("pesim: "+format+"\n", a...)
		},
	}
	if fabricOnly, _ := cmd.Flags().GetBool("fabric-only"); fabricOnly {
		run.Command = append(run.Command, "--fabric-only")
	} else {
		stateDir := filepath.Join(os.TempDir(), "pesim-vm-controlplane")
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return err
		}
		logs, err := os.Create(filepath.Join(stateDir, "controlplane.log"))
		if err != nil {
			return err
		}
		defer logs.Close()
		run.Cluster, run.ControlPlaneLogs = true, logs
	}
	code, err := cluster.RunInVM(ctx, run)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("lab in the VM exited with status %d", code)
	}
	return nil
}

// show prints what `make lab` promises (netns.Lab.Accept).
func show(ctx context.Context, lab *netns.Lab, withCluster bool, w io.Writer) error {
	return lab.Accept(ctx, withCluster, func() { clusterEvidence(ctx, lab, w) }, w)
}

// clusterEvidence prints what explains a node that did not join: the
// operator's logs and the node router's state.
func clusterEvidence(ctx context.Context, lab *netns.Lab, w io.Writer) {
	for _, n := range lab.Topo.NodesWithRole(topology.RoleClusterNode) {
		fmt.Fprintf(w, "\n===== evidence: %s\n", n.Name)
		for _, f := range []string{"controller.log", "reloader.log"} {
			data, _ := os.ReadFile(filepath.Join(lab.NodeDir(n.Name), f))
			s := string(data)
			if len(s) > 3000 {
				s = "…" + s[len(s)-3000:]
			}
			fmt.Fprintf(w, "--- %s\n%s\n", f, s)
		}
		out, err := lab.VtyshDir(ctx, cluster.RouterFRRDir(lab, n.Name), "show running-config", "show bgp vrf all summary")
		fmt.Fprintf(w, "--- router vtysh (%v)\n%s\n", err, out)
		out, err = lab.ExecIn(ctx, lab.RouterNamespace(n.Name), "ip", "-br", "addr")
		fmt.Fprintf(w, "--- router ip -br addr (%v)\n%s\n", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(lab.StateDir(), "labeler.log"))
	fmt.Fprintf(w, "--- labeler.log\n%s\n", data)
}

func printStatus(ctx context.Context, lab *netns.Lab, w io.Writer) error {
	fmt.Fprintf(w, "lab %s (%s), state in %s\n", lab.Topo.Name, lab.Topo.Path, lab.StateDir())
	if _, err := os.Stat(lab.StateDir()); err != nil {
		fmt.Fprintln(w, "not up")
		return nil
	}
	var errs []error
	for _, n := range lab.Topo.Nodes {
		if n.Role == topology.RoleCluster {
			continue
		}
		state := "up"
		if _, err := os.Stat(filepath.Join("/run/netns", lab.Namespace(n.Name))); err != nil {
			state = "MISSING"
			errs = append(errs, fmt.Errorf("node %s: namespace %s missing", n.Name, lab.Namespace(n.Name)))
		}
		fmt.Fprintf(w, "%-24s %-13s %-8s %s\n", n.Name, n.Role, state, lab.Namespace(n.Name))
		if n.Role != topology.RoleRouter || state != "up" {
			continue
		}
		peers, err := lab.BGPPeers(ctx, n.Name)
		if err != nil {
			fmt.Fprintf(w, "    FRR: %v\n", err)
			errs = append(errs, err)
			continue
		}
		for _, p := range peers {
			fmt.Fprintf(w, "    bgp %-12s %-16s %s\n", p.Family, p.Address, p.State)
		}
	}
	return errors.Join(errs...)
}

func printLogs(lab *netns.Lab, node string, w io.Writer) error {
	if _, ok := lab.Topo.Node(node); !ok {
		return fmt.Errorf("node %q is not in lab %s", node, lab.Topo.Name)
	}
	var files []string
	_ = filepath.WalkDir(lab.NodeDir(node), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".log") || strings.HasSuffix(p, ".out")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		return fmt.Errorf("no logs for node %s under %s (is the lab up here? inside the VM lane it ends with the VM)", node, lab.NodeDir(node))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "==> %s <==\n%s\n", f, data)
	}
	return nil
}
