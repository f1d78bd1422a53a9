// Package kind is the Docker provider: a kind cluster for the topology's
// k8s-kind node, `containerlab deploy` for the fabric, the operator image
// built and loaded into kind, and the Helm chart installed. It needs a
// Docker host with kind, containerlab, helm and kubectl in PATH; it cannot
// run on this project's CI machines (no Docker engine, no kernel modules
// for containerlab), which run the netns provider instead.
package kind

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/perouter/perouter/operator/images"
	"github.com/perouter/perouter/simulator/topology"
)

// RouterNetns is the router namespace the operator creates on each node.
const RouterNetns = "perouter"

// RouterPodSelector selects the router pods (FRR + reloader + controller).
const RouterPodSelector = "app.kubernetes.io/name=perouter,app.kubernetes.io/component=router"

// ContainerName is containerlab's name for a node's container.
func ContainerName(lab, node string) string { return "clab-" + lab + "-" + node }

// Options for Up.
type Options struct {
	// Tag is the tag both images (images.Recipes: the operator's and the
	// router's) are built with, loaded into kind and installed at.
	Tag string
	// Chart is the Helm chart directory (charts/perouter).
	Chart string
	// Manifests are applied after the chart (docs/examples/lab).
	Manifests []string
	Out       io.Writer
}

// Step is one command of the bring-up, exposed so `pesim up --provider
// kind --dry-run` and the docs show exactly what runs.
type Step struct {
	Why  string
	Args []string
}

// Plan lists the commands that bring the lab up, in order.
func Plan(topo *topology.Lab, opts Options) ([]Step, error) {
	clusters := topo.NodesWithRole(topology.RoleCluster)
	if len(clusters) != 1 {
		return nil, fmt.Errorf("topology %s: want exactly one %s node, found %d", topo.Path, topology.KindK8sKind, len(clusters))
	}
	c := clusters[0]
	steps := []Step{
		{"create the kind cluster (its nodes are the topology's ext-container nodes)",
			[]string{"kind", "create", "cluster", "--name", c.Name, "--config", c.StartupConfig}},
	}
	// containerlab's bridge nodes are host bridges that must exist first.
	for _, b := range topo.NodesWithRole(topology.RoleBridge) {
		steps = append(steps, Step{"create switch " + b.Name,
			[]string{"sh", "-c", fmt.Sprintf("ip link show %[1]s >/dev/null 2>&1 || (ip link add %[1]s type bridge && ip link set %[1]s up)", b.Name)}})
	}
	steps = append(steps,
		Step{"deploy the fabric and wire the kind nodes", []string{"containerlab", "deploy", "--reconfigure", "-t", topo.Path}})
	// The chart's release lives in the default namespace and the chart
	// creates its own (values.namespace, labelled for privileged pods):
	// --create-namespace would make that namespace first, outside the
	// release, and the install would fail on Helm's ownership check.
	install := []string{"helm", "upgrade", "--install", "perouter", opts.Chart}
	for _, r := range images.Recipes() {
		ref := r.Repository + ":" + opts.Tag
		steps = append(steps,
			Step{"build the " + r.Name + " image", []string{"docker", "build", "-t", ref, "-f", r.Dockerfile, "."}},
			Step{"load it into kind", []string{"kind", "load", "docker-image", ref, "--name", c.Name}})
		install = append(install, "--set", "images."+r.Name+".repository="+r.Repository, "--set", "images."+r.Name+".tag="+opts.Tag)
	}
	steps = append(steps, Step{"install the operator", append(install, "--wait")})
	for _, m := range opts.Manifests {
		steps = append(steps, Step{"apply " + m, []string{"kubectl", "apply", "-f", m}})
	}
	return steps, nil
}

// Up runs the plan, stopping at the first failing command.
func Up(ctx context.Context, topo *topology.Lab, opts Options) error {
	steps, err := Plan(topo, opts)
	if err != nil {
		return err
	}
	for _, s := range steps {
		fmt.Fprintf(opts.Out, "==> %s: %s\n", s.Why, strings.Join(s.Args, " "))
		cmd := exec.CommandContext(ctx, s.Args[0], s.Args[1:]...)
		cmd.Stdout, cmd.Stderr = opts.Out, opts.Out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", s.Why, err)
		}
	}
	return nil
}

// Down destroys the fabric and the kind cluster.
func Down(ctx context.Context, topo *topology.Lab, out io.Writer) error {
	var first error
	for _, args := range [][]string{
		{"containerlab", "destroy", "--cleanup", "-t", topo.Path},
		{"kind", "delete", "cluster", "--name", topo.NodesWithRole(topology.RoleCluster)[0].Name},
	} {
		fmt.Fprintf(out, "==> %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil && first == nil {
			first = fmt.Errorf("%s: %w", strings.Join(args, " "), err)
		}
	}
	return first
}
