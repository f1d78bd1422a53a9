package e2e

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/netns/cluster"
	"github.com/perouter/perouter/simulator/netns/pods"
	"github.com/perouter/perouter/simulator/topology"
	"github.com/perouter/perouter/simulator/vm"
)

// Environment variables steering the suites (docs/e2e.md).
const (
	envProvider = "PEROUTER_E2E_PROVIDER"    // netns (default) or kind
	envTopology = "PEROUTER_E2E_TOPOLOGY"    // topology file, default topologies/default.clab.yml
	envBinDir   = "PEROUTER_E2E_BIN_DIR"     // operator binaries; built when unset
	envFabric   = "PEROUTER_E2E_FABRIC_ONLY" // 1: no cluster; specs needing it skip, saying so
	envApply    = "PEROUTER_E2E_MANIFESTS"   // manifests to apply (comma-separated files or directories), default docs/examples/lab
	envPods     = "PEROUTER_E2E_PODS"        // 1: the operator runs as the chart's pods on real kubelets (simulator/netns/pods)
	envImages   = "PEROUTER_E2E_IMAGES"      // the pods mode's image archives, default bin/images
	envInstall  = "PEROUTER_E2E_INSTALL"     // the pods mode's install: helm (default, charts/perouter) or kustomize (operator/config/default)
	envKube     = "PEROUTER_E2E_KUBECONFIG"  // an API server to use instead of starting one (the VM lane's, on the host)
	envInVM     = "PESIM_IN_VM"
	// envFabricFRRRoot: an FRR root file system (hack/frr-rootfs.sh) the
	// fabric's routers run their FRR from instead of the host's, e.g. to
	// have graceful-restart helpers that keep EVPN routes (FRR >= 10.6).
	envFabricFRRRoot = "PEROUTER_E2E_FABRIC_FRR_ROOT"
	// envRecoveryRounds runs the recovery container this many times in
	// a row in one lab (default 1).
	envRecoveryRounds = "PEROUTER_E2E_RECOVERY_ROUNDS"
)

var (
	env      Env
	suiteCtx = context.Background()
	repoRoot = func() string { p, _ := filepath.Abs(".."); return p }()
)

func ginkgoWriter() io.Writer { return GinkgoWriter }

// TestMain moves the whole run into the VM lane when the netns provider's
// lab needs VRF devices and this kernel has none: the operator binaries
// are built here (fast), then this same test binary runs inside the VM. A
// lab that needs none (the L2 lab) runs natively.
func TestMain(m *testing.M) {
	vm.ServeRelayIfAsked()
	if os.Getenv(envProvider) != "kind" && os.Getenv(envInVM) == "" && os.Geteuid() == 0 && !vm.HasVRF() {
		needs, err := labVRFNeeds()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		if len(needs) > 0 {
			os.Exit(runInVM())
		}
		fmt.Println("e2e: this kernel has no VRF support, but nothing in the topology or the applied manifests needs a VRF device: running natively")
	}
	os.Exit(m.Run())
}

func topologyFile() string {
	return cmp.Or(os.Getenv(envTopology), filepath.Join(repoRoot, "topologies/default.clab.yml"))
}

func manifests() []string {
	var out []string
	for _, m := range strings.Split(cmp.Or(os.Getenv(envApply), filepath.Join(repoRoot, "docs/examples/lab")), ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// labVRFNeeds is what in the suite's lab needs VRF devices
// (cluster.VRFNeeds over the topology and the manifests it applies).
func labVRFNeeds() ([]string, error) {
	topo, err := topology.Load(topologyFile())
	if err != nil {
		return nil, err
	}
	return cluster.VRFNeeds(topo, manifests(), os.Getenv(envFabric) != "")
}

func runInVM() int {
	// Ctrl-C or a SIGTERM stops the VM and then the control plane on this
	// host (deferred below); without this they would outlive the run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var binDir string
	if os.Getenv(envPods) == "" { // the pods mode runs the images' binaries
		var err error
		if binDir, err = operatorBinaries(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	wd, _ := os.Getwd()
	fmt.Println("e2e: this kernel has no VRF support; running the suites inside the VM lane")
	start := time.Now()
	guestEnv := []string{envInVM + "=1", envBinDir + "=" + binDir}
	for _, k := range []string{envTopology, envFabric, envApply, envRecoveryRounds, envPods, envImages, envInstall, envFabricFRRRoot} {
		if v := os.Getenv(k); v != "" {
			guestEnv = append(guestEnv, k+"="+v)
		}
	}
	run := cluster.LaneRun{
		Command: append([]string{self}, os.Args[1:]...),
		Env:     guestEnv,
		WorkDir: wd,
		// The whole suite takes ~15 min under TCG with two vCPUs (~50
		// with one); the latency run with 20 changes ~15 more; each extra
		// recovery round up to 8 (7 measured with another VM beside it).
		// `make e2e` gives the test binary E2E_TIMEOUT (90 min).
		Timeout:       60*time.Minute + time.Duration(recoveryRounds-1)*8*time.Minute,
		KubeconfigEnv: envKube,
		Progress: func(format string, a ...any) {
			fmt.Printf("e2e: "+format+"\n", a...)
		},
	}
	if os.Getenv(envFabric) == "" {
		// The API server runs here, at native speed; the guest reaches it
		// through a forward.
		logs, err := os.CreateTemp("", "perouter-e2e-controlplane-*.log")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.Remove(logs.Name())
		defer logs.Close()
		run.Cluster, run.ControlPlaneLogs = true, logs
		if os.Getenv(envPods) != "" {
			// The nodes' kubelets and containerds run in the guest, the
			// control plane with kube-scheduler and kube-controller-manager
			// here. Each node's containerd holds both images, unpacked, in
			// the guest's RAM (~0.6 GB a node).
			flags, ips := pods.ControlPlaneOptions()
			images, err := imageArchives()
			if err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
				return 1
			}
			run.KubeletNodes = &cluster.KubeletNodes{APIServerFlags: flags, ServingIPs: ips, Images: images}
			run.MemoryMB = 6144
		}
	}
	code, err := cluster.RunInVM(ctx, run)
	fmt.Printf("e2e: VM lane finished in %v\n", time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 125
	}
	return code
}

// imageArchives are the pods mode's image archives ($PEROUTER_E2E_IMAGES,
// default bin/images).
func imageArchives() ([]string, error) {
	dir := cmp.Or(os.Getenv(envImages), filepath.Join(repoRoot, "bin/images"))
	var out []string
	for _, name := range []string{"perouter.tar", "router.tar"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("the pods mode needs the image archives (make images): %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// operatorBinaries returns $PEROUTER_E2E_BIN_DIR, or builds controller,
// reloader and labeler into a directory the VM can read.
func operatorBinaries() (string, error) {
	if os.Getenv(envFabric) != "" {
		return "", nil
	}
	if dir := os.Getenv(envBinDir); dir != "" {
		return dir, nil
	}
	dir, err := os.MkdirTemp("", "perouter-e2e-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/controller", "./cmd/reloader", "./cmd/labeler")
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the operator: %w", err)
	}
	return dir, nil
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	ctrllog.SetLogger(GinkgoLogr)
	RunSpecs(t, "perouter e2e")
}

var _ = BeforeSuite(func() {
	start := time.Now()
	topo := topologyFile()
	switch p := os.Getenv(envProvider); p {
	case "", "netns":
		Expect(os.Geteuid()).To(Equal(0), "the netns provider needs root")
		if !vm.HasVRF() {
			needs, err := labVRFNeeds()
			Expect(err).NotTo(HaveOccurred())
			Expect(needs).To(BeEmpty(), "the lab needs VRF devices and this kernel has none; TestMain runs the suite in the VM lane then")
		}
		cfg := netnsConfig{
			FabricOnly:    os.Getenv(envFabric) != "",
			Topology:      topo,
			CRDDir:        filepath.Join(repoRoot, "operator/config/crd/bases"),
			Manifests:     manifests(),
			StateRoot:     netns.DefaultStateRoot,
			Pods:          os.Getenv(envPods) != "",
			FabricFRRRoot: os.Getenv(envFabricFRRRoot),
		}
		if cfg.Pods {
			cfg.Chart = filepath.Join(repoRoot, "charts/perouter")
			if os.Getenv(envInVM) != "" {
				// The VM lane's API server runs on the host (runInVM).
				cfg.Kubeconfig, cfg.EgressListen = os.Getenv(envKube), ":"+os.Getenv(cluster.EgressPortEnv)
				cfg.ImageSeed = os.Getenv(cluster.ImageSeedEnv)
			}
			switch install := os.Getenv(envInstall); install {
			case "", "helm":
			case "kustomize":
				cfg.Kustomize = filepath.Join(repoRoot, "operator/config/default")
			default:
				Fail(fmt.Sprintf("%s=%q: want helm or kustomize", envInstall, install))
			}
			var err error
			cfg.Images, err = imageArchives()
			Expect(err).NotTo(HaveOccurred())
		} else {
			var err error
			cfg.BinDir, err = operatorBinaries()
			Expect(err).NotTo(HaveOccurred())
		}
		e, err := newNetnsEnv(suiteCtx, cfg)
		if e != nil {
			env = e
			DeferCleanup(func() { Expect(env.Close(context.Background())).To(Succeed()) })
		}
		Expect(err).NotTo(HaveOccurred())
	case "kind":
		e, err := newKindEnv(suiteCtx, topo)
		Expect(err).NotTo(HaveOccurred())
		env = e
	default:
		Fail(fmt.Sprintf("%s=%q: want netns or kind", envProvider, p))
	}
	AddReportEntry("lab up", time.Since(start).Round(100*time.Millisecond).String())
	fmt.Fprintf(GinkgoWriter, "lab up in %v\n", time.Since(start).Round(100*time.Millisecond))
})

// requireCluster skips a spec that needs the cluster when the run was
// explicitly asked to bring up the fabric only.
func requireCluster() {
	if env.Kube() == nil {
		Skip(envFabric + " is set: the cluster is not running")
	}
}

// The run ends with one line per spec (and per suite-level setup), in the
// order they ran: state, time, name and, for a failure, where it failed.
// A reader sees at a glance what ran, what failed and where the time went.
var _ = ReportAfterSuite("summary", func(r Report) {
	fmt.Print(specSummary(r))
})

// firstLine is a failure message's first non-empty line, cut to a width
// a summary line can carry.
func gist(msg string) string {
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			return l
		}
	}
	return ""
}

func specSummary(r Report) string {
	var b strings.Builder
	counts := map[types.SpecState]int{}
	var lines []string
	for _, s := range r.SpecReports {
		switch s.LeafNodeType {
		case types.NodeTypeIt, types.NodeTypeBeforeSuite, types.NodeTypeAfterSuite,
			types.NodeTypeSynchronizedBeforeSuite, types.NodeTypeSynchronizedAfterSuite:
		default:
			continue
		}
		if s.LeafNodeType == types.NodeTypeIt {
			counts[s.State]++
		}
		name := s.FullText()
		if s.LeafNodeType != types.NodeTypeIt {
			name = "[" + s.LeafNodeType.String() + "]"
		}
		line := fmt.Sprintf("  %-8s %8s  %s", strings.ToUpper(s.State.String()), s.RunTime.Round(100*time.Millisecond), name)
		if s.State.Is(types.SpecStateFailureStates) {
			line += fmt.Sprintf("  (at %s: %s)", s.Failure.Location, gist(s.Failure.Message))
			// A failure that a later one (an abort, a cleanup) took the
			// place of is still the likely cause: name it too.
			for _, f := range s.AdditionalFailures {
				line += fmt.Sprintf("\n           after %s at %s: %s", f.State, f.Failure.Location, gist(f.Failure.Message))
			}
		}
		for _, e := range s.ReportEntries {
			if e.Name == "lab restored" {
				line += fmt.Sprintf("  [lab restored in %s]", e.StringRepresentation())
			}
		}
		lines = append(lines, line)
	}
	fmt.Fprintf(&b, "\ne2e summary (seed %d): %d passed, %d failed, %d skipped in %s\n", r.SuiteConfig.RandomSeed,
		counts[types.SpecStatePassed], counts[types.SpecStateFailed]+counts[types.SpecStatePanicked]+counts[types.SpecStateTimedout]+counts[types.SpecStateAborted]+counts[types.SpecStateInterrupted],
		counts[types.SpecStateSkipped]+counts[types.SpecStatePending], r.RunTime.Round(time.Second))
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}
