// Package kind is the Docker provider: a kind cluster for the topology's
// k8s-kind node, created through kind's Go API (no `kind` binary), the
// fabric deployed by `containerlab deploy`, which wires the kind nodes (the
// topology's ext-container nodes) to it, the images `make images` built
// loaded into every kind node from their archives, and the chart installed
// through Helm's Go library (simulator/chartinstall), as the pods mode
// installs it. It needs a Docker host with containerlab and kubectl; it
// cannot run on this project's CI machines (no Docker engine, and
// containerlab needs kernel modules), which run the netns provider instead.
package kind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/perouter/perouter/simulator/chartinstall"
	"github.com/perouter/perouter/simulator/topology"
)

// RouterNetns is the router namespace the operator creates on each node.
const RouterNetns = "perouter"

// RouterPodSelector selects the router pods (FRR + reloader + controller).
const RouterPodSelector = "app.kubernetes.io/name=perouter,app.kubernetes.io/component=router"

// ContainerName is containerlab's name for a node's container.
func ContainerName(lab, node string) string { return "clab-" + lab + "-" + node }

// readyTimeout bounds the kind cluster's nodes becoming Ready and the
// chart's pods becoming ready (Helm's --wait).
const readyTimeout = 5 * time.Minute

// Options for Up.
type Options struct {
	// Images are the image archives `make images` wrote (bin/images/*.tar):
	// loaded into every kind node and installed at their references.
	Images []string
	// Chart is the Helm chart directory (charts/perouter).
	Chart string
	// Manifests are applied after the chart (docs/examples/lab).
	Manifests []string
	// StateDir holds the cluster's kubeconfig, Helm's discovery cache and
	// its log (default ~/.cache/perouter/kind/<cluster>).
	StateDir string
	Out      io.Writer
}

// Step is one step of the bring-up. Does is what it runs, as a user would
// type it; `pesim kind plan` prints the steps, and the steps that kind's
// or Helm's Go API runs show their command-line equivalent.
type Step struct {
	Why  string
	Does string
	run  func(ctx context.Context) error
}

// Kubeconfig is where Up writes the cluster's admin kubeconfig.
func Kubeconfig(opts Options, cluster string) string {
	return filepath.Join(stateDir(opts, cluster), "kubeconfig")
}

func stateDir(opts Options, cluster string) string {
	if opts.StateDir != "" {
		return opts.StateDir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "perouter", "kind", cluster)
}

// clusterNode is the topology's k8s-kind node.
func clusterNode(topo *topology.Lab) (topology.Node, error) {
	clusters := topo.NodesWithRole(topology.RoleCluster)
	if len(clusters) != 1 {
		return topology.Node{}, fmt.Errorf("topology %s: want exactly one %s node, found %d", topo.Path, topology.KindK8sKind, len(clusters))
	}
	return clusters[0], nil
}

// Plan lists the steps that bring the lab up, in order.
func Plan(topo *topology.Lab, opts Options) ([]Step, error) {
	c, err := clusterNode(topo)
	if err != nil {
		return nil, err
	}
	if len(opts.Images) == 0 {
		return nil, errors.New("no image archives: build them with `make images` (bin/images)")
	}
	values, err := chartinstall.ArchiveValues(opts.Images)
	if err != nil {
		return nil, err
	}
	kubeconfig := Kubeconfig(opts, c.Name)
	provider := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	steps := []Step{{
		Why:  "create the kind cluster (its nodes are the topology's ext-container nodes)",
		Does: fmt.Sprintf("kind create cluster --name %s --config %s --kubeconfig %s --wait %s", c.Name, c.StartupConfig, kubeconfig, readyTimeout),
		run: func(context.Context) error {
			existing, err := provider.List()
			if err != nil {
				return err
			}
			if !slices.Contains(existing, c.Name) {
				if err := provider.Create(c.Name, kindcluster.CreateWithConfigFile(c.StartupConfig),
					kindcluster.CreateWithKubeconfigPath(kubeconfig), kindcluster.CreateWithWaitForReady(readyTimeout),
					kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false)); err != nil {
					return err
				}
			}
			// A cluster that existed keeps its kubeconfig current too.
			return provider.ExportKubeConfig(c.Name, kubeconfig, false)
		},
	}}
	// containerlab's bridge nodes are host bridges that must exist first.
	for _, b := range topo.NodesWithRole(topology.RoleBridge) {
		steps = append(steps, Step{
			Why:  "create switch " + b.Name,
			Does: fmt.Sprintf("ip link add %s type bridge && ip link set %[1]s up", b.Name),
			run:  func(context.Context) error { return ensureBridge(b.Name) },
		})
	}
	steps = append(steps, Step{
		Why:  "deploy the fabric and wire the kind nodes",
		Does: "containerlab deploy --reconfigure -t " + topo.Path,
		run: func(ctx context.Context) error {
			return command(ctx, opts.Out, "containerlab", "deploy", "--reconfigure", "-t", topo.Path)
		},
	})
	for _, archive := range opts.Images {
		steps = append(steps, Step{
			Why:  "load " + filepath.Base(archive) + " into every kind node",
			Does: fmt.Sprintf("kind load image-archive %s --name %s", archive, c.Name),
			run:  func(context.Context) error { return loadArchive(provider, c.Name, archive) },
		})
	}
	var sets []string
	for _, name := range slices.Sorted(maps.Keys(values["images"].(map[string]any))) {
		img := values["images"].(map[string]any)[name].(map[string]any)
		for _, k := range []string{"repository", "tag", "pullPolicy"} {
			sets = append(sets, fmt.Sprintf("--set images.%s.%s=%s", name, k, img[k]))
		}
	}
	steps = append(steps, Step{
		Why:  "install the operator",
		Does: fmt.Sprintf("helm upgrade --install %s %s %s --wait --kubeconfig %s", chartinstall.ReleaseName, opts.Chart, strings.Join(sets, " "), kubeconfig),
		run: func(ctx context.Context) error {
			dir := stateDir(opts, c.Name)
			h, err := chartinstall.Open(opts.Chart, chartinstall.Target{Kubeconfig: kubeconfig, CacheDir: filepath.Join(dir, "kube-cache"), Log: filepath.Join(dir, "helm.log")})
			if err != nil {
				return err
			}
			defer h.Close()
			_, err = h.InstallOrUpgrade(ctx, values, readyTimeout)
			return err
		},
	})
	for _, m := range opts.Manifests {
		steps = append(steps, Step{
			Why:  "apply " + m,
			Does: fmt.Sprintf("kubectl --kubeconfig %s apply -f %s", kubeconfig, m),
			run: func(ctx context.Context) error {
				return command(ctx, opts.Out, "kubectl", "--kubeconfig", kubeconfig, "apply", "-f", m)
			},
		})
	}
	return steps, nil
}

// Up runs the plan, stopping at the first failing step.
func Up(ctx context.Context, topo *topology.Lab, opts Options) error {
	steps, err := Plan(topo, opts)
	if err != nil {
		return err
	}
	c, err := clusterNode(topo)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir(opts, c.Name), 0o755); err != nil {
		return err
	}
	for _, s := range steps {
		fmt.Fprintf(opts.Out, "==> %s: %s\n", s.Why, s.Does)
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.Why, err)
		}
	}
	return nil
}

// Down destroys the fabric and the kind cluster.
func Down(ctx context.Context, topo *topology.Lab, opts Options) error {
	c, err := clusterNode(topo)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "==> containerlab destroy --cleanup -t %s\n", topo.Path)
	first := command(ctx, opts.Out, "containerlab", "destroy", "--cleanup", "-t", topo.Path)
	fmt.Fprintf(opts.Out, "==> kind delete cluster --name %s\n", c.Name)
	if err := kindcluster.NewProvider(kindcluster.ProviderWithDocker()).Delete(c.Name, Kubeconfig(opts, c.Name)); err != nil {
		first = errors.Join(first, fmt.Errorf("kind delete cluster %s: %w", c.Name, err))
	}
	return first
}

// loadArchive imports an image archive into the containerd of every node
// of the cluster, as `kind load image-archive` does.
func loadArchive(provider *kindcluster.Provider, cluster, archive string) error {
	nodes, err := provider.ListInternalNodes(cluster)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return fmt.Errorf("kind cluster %s has no nodes", cluster)
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("loading %s into %s: %w", archive, n.String(), err)
		}
	}
	return nil
}

// ensureBridge creates an up Linux bridge unless one of that name exists.
func ensureBridge(name string) error {
	if _, err := netlink.LinkByName(name); err == nil {
		return nil
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s: %w", name, err)
	}
	return netlink.LinkSetUp(br)
}

func command(ctx context.Context, out io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
