// Package app is perouterctl: its commands load manifests with
// objects.Load and run them through validate, nodeconfig.Build, frr.Render
// and hostnet.PlanFor, the controller's own code path.
package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/convert"
	"github.com/perouter/perouter/operator/frr"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/operator/validate"
	"github.com/perouter/perouter/operator/vtysh"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitProblems = 1 // invalid manifests, or the node cannot be configured
	ExitUsage    = 2
)

// errProblems means the problems were already printed.
var errProblems = errors.New("problems found")

// Run executes perouterctl with args and returns its exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	cmd := newRoot(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errProblems):
		return ExitProblems
	default:
		// Problems with the manifests or the node were printed and came
		// back as errProblems; anything else is how perouterctl was called.
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "perouterctl",
		Short:         "Check perouter manifests and show what a node gets from them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidate(stdout), newRender(stdout, stderr), newConvert(stdout, stderr))
	return root
}

func newValidate(stdout io.Writer) *cobra.Command {
	var files, labelSets []string
	var nodesFile, vtyshBin string
	cmd := &cobra.Command{
		Use:   "validate -f PATH... [--nodes FILE | --labels k=v,... ...] [--vtysh PATH]",
		Short: "Check manifests against every rule the API server and the controller apply",
		Long: `Reads YAML files and folders (multi-document; folders recursively) and
prints one line per problem: "Kind namespace/name: field: message".
A reference to an object the files do not hold (an L2VNI's L3VNI, a
passwordSecret) is a warning, not a problem: the cluster admits it and
applies the object once the target exists, so apply order never matters.

Two objects with different node selectors clash (same VRF or VNI,
overlapping localCIDRs, two Underlays or L3Passthroughs) only on a node
both select. Given the nodes (--nodes, a file of Node objects such as
"kubectl get nodes -o yaml" prints, or --labels once per node), such
clashes are problems, as the webhook judges them; without, the pairs that
could meet are warnings.

A RawFRRConfig's snippet is parsed by FRR's vtysh (a dry run, vtysh -C:
no daemon needed), as the webhook does at admission. Without vtysh on this
machine the snippet is not parsed, which is a warning.
Exits 0 when everything is valid (warnings included), 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("validate needs at least one -f PATH")
			}
			nodes, err := validateNodes(nodesFile, labelSets)
			if err != nil {
				return err
			}
			set, problems := load(files)
			for _, e := range validate.Set(set) {
				problems = append(problems, e.Error())
			}
			var warnings []validate.Error
			parseErrs, unparsed := parseSnippets(cmd.Context(), set, vtyshBin)
			for _, e := range parseErrs {
				problems = append(problems, e.Error())
			}
			warnings = append(warnings, unparsed...)
			if nodes != nil {
				for _, e := range validate.Conflicts(set, nodes) {
					problems = append(problems, e.Error())
				}
			} else {
				warnings = append(warnings, validate.PossibleConflicts(set)...)
			}
			warnings = append(validate.Dependencies(set), warnings...)
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			for _, w := range warnings {
				fmt.Fprintln(stdout, "warning:", w.Error())
			}
			if len(problems) > 0 {
				return errProblems
			}
			var counts []string
			for _, k := range objects.Kinds() {
				counts = append(counts, fmt.Sprintf("%d %s", k.Len(&set), k.Name))
			}
			counts = append(counts, fmt.Sprintf("%d %s", len(set.Secrets), objects.KindSecret))
			fmt.Fprintf(stdout, "valid: %s\n", strings.Join(counts, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or folder (repeatable)")
	cmd.Flags().StringVar(&nodesFile, "nodes", "", `file of Node objects (or a List of them) whose labels the per-node rules are judged against`)
	cmd.Flags().StringArrayVar(&labelSets, "labels", nil, "one node's labels, k=v,k2=v2 (repeatable: one per node)")
	cmd.Flags().StringVar(&vtyshBin, "vtysh", "vtysh", "FRR's vtysh, which parses RawFRRConfig snippets (looked up in PATH)")
	return cmd
}

// parseSnippets runs the RawFRRConfig syntax rule with vtysh's dry run.
// Without vtysh, each snippet gets a warning that it was not parsed.
func parseSnippets(ctx context.Context, set objects.Set, vtyshBin string) (problems, unparsed []validate.Error) {
	if len(set.RawFRRConfigs) == 0 {
		return nil, nil
	}
	bin, err := exec.LookPath(vtyshBin)
	for i := range set.RawFRRConfigs {
		r := &set.RawFRRConfigs[i]
		if err != nil {
			unparsed = append(unparsed, validate.Error{Ref: objects.RefOf(objects.KindRawFRRConfig, r.ObjectMeta), Field: "spec.rawConfig",
				Message: fmt.Sprintf("not parsed by FRR: %v (install FRR, or point --vtysh at its vtysh); the webhook parses it at admission", err)})
			continue
		}
		problems = append(problems, validate.RawFRRConfigSyntax(ctx, r, vtysh.Cli{Binary: bin}.CheckConfig)...)
	}
	return problems, unparsed
}

// validateNodes returns the nodes the per-node rules are judged against:
// those of --nodes, or one per --labels, named by its labels; nil when
// neither is given.
func validateNodes(nodesFile string, labelSets []string) ([]validate.Node, error) {
	switch {
	case nodesFile != "" && len(labelSets) > 0:
		return nil, errors.New("--nodes and --labels are exclusive")
	case nodesFile != "":
		data, err := os.ReadFile(nodesFile)
		if err != nil {
			return nil, fmt.Errorf("--nodes: %w", err)
		}
		nodes, err := decodeNodes(data)
		if err != nil {
			return nil, fmt.Errorf("--nodes %s: %w", nodesFile, err)
		}
		return nodes, nil
	case len(labelSets) > 0:
		var nodes []validate.Node
		for _, l := range labelSets {
			labels, err := parseLabels(l)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, validate.Node{Name: "{" + l + "}", Labels: labels})
		}
		return nodes, nil
	}
	return nil, nil
}

// nodeDoc is the part of a Node, or of a List of Nodes, that the rules
// read.
type nodeDoc struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Items []nodeDoc `json:"items"`
}

// decodeNodes reads a YAML or JSON stream of Nodes, NodeLists and Lists.
func decodeNodes(data []byte) ([]validate.Node, error) {
	var out []validate.Node
	var add func(d nodeDoc, where string) error
	add = func(d nodeDoc, where string) error {
		switch d.Kind {
		case "Node":
			out = append(out, validate.Node{Name: d.Metadata.Name, Labels: d.Metadata.Labels})
		case "NodeList", "List":
			for i, item := range d.Items {
				if err := add(item, fmt.Sprintf("%s item %d", where, i)); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s: kind %q is not Node, NodeList or List", where, d.Kind)
		}
		return nil
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var d nodeDoc
		if err := yaml.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if d.Kind == "" && d.Metadata.Name == "" && len(d.Items) == 0 {
			continue // only comments
		}
		if err := add(d, fmt.Sprintf("document %d", doc)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// load reads the manifests and returns decode problems one per line.
func load(files []string) (objects.Set, []string) {
	set, err := objects.Load(files...)
	var problems []string
	for _, e := range objects.Errors(err) {
		problems = append(problems, e.Error())
	}
	return set, problems
}

type renderOptions struct {
	files       []string
	node        string
	index       int
	labels      string
	output      string
	underlayMTU int
	netns       string
}

func newRender(stdout, stderr io.Writer) *cobra.Command {
	o := renderOptions{}
	cmd := &cobra.Command{
		Use:   "render -f PATH... --node NAME --index N",
		Short: "Print the FRR configuration or the kernel plan one node gets",
		Long: `Builds the node's model from the manifests exactly as the controller does
and prints its FRR configuration (--output frr) or its kernel plan as YAML
(--output plan). Objects that select the node but cannot apply are listed
on stderr as "skipped: ..." (or "waiting: ..." when what they refer to does
not exist yet) and left out, as the controller would; problems that concern
the whole node exit 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return render(o, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file or folder (repeatable)")
	f.StringVar(&o.node, "node", "", "node name")
	f.IntVar(&o.index, "index", -1, "node index, as the labeler assigns it")
	f.StringVar(&o.labels, "labels", "", "node labels, k=v,k2=v2")
	f.StringVarP(&o.output, "output", "o", "frr", "frr or plan")
	f.IntVar(&o.underlayMTU, "underlay-mtu", hostnet.DefaultUnderlayMTU, "MTU of the underlay NIC (plan only)")
	f.StringVar(&o.netns, "netns", hostnet.DefaultNetns, "router network namespace (plan only)")
	return cmd
}

func render(o renderOptions, stdout, stderr io.Writer) error {
	switch {
	case len(o.files) == 0:
		return errors.New("render needs at least one -f PATH")
	case o.node == "":
		return errors.New("render needs --node")
	case o.index < 0:
		return errors.New("render needs --index N (N >= 0)")
	case o.output != "frr" && o.output != "plan":
		return fmt.Errorf("--output must be frr or plan, not %q", o.output)
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return err
	}
	// As the labeler would, so selectors on the index behave as in a cluster.
	labels[v1alpha1.NodeIndexLabel] = strconv.Itoa(o.index)

	set, problems := load(o.files)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return errProblems
	}
	cfg, report, err := nodeconfig.Build(set, nodeconfig.Node{Name: o.node, Index: o.index, Labels: labels})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errProblems
	}
	for _, s := range report.Skipped {
		fmt.Fprintln(stderr, "skipped:", s.Error())
	}
	for _, s := range report.Missing {
		fmt.Fprintln(stderr, "waiting:", s.Error())
	}
	switch o.output {
	case "plan":
		plan := hostnet.PlanFor(cfg, hostnet.PlanOptions{Netns: o.netns, UnderlayMTU: o.underlayMTU})
		out, err := yaml.Marshal(plan)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	default:
		text, err := frr.Render(cfg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return errProblems
		}
		_, err = io.WriteString(stdout, text)
		return err
	}
}

// parseLabels reads k=v,k2=v2.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func newConvert(stdout, stderr io.Writer) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "convert -f PATH...",
		Short: "Rewrite OpenPERouter manifests into perouter's",
		Long: `Reads OpenPERouter manifests (files and folders, multi-document YAML) of
upstream main (` + convert.Versions()[0] + `) or of its release v0.2.0
(` + convert.Versions()[1] + `), prints them as perouter's
(` + v1alpha1.GroupVersion.String() + `) on stdout, and one line per change on
stderr: "file: document N (Kind namespace/name): field: what changed".
perouter objects and v1 Secrets pass unchanged. A List (as "kubectl get
-o yaml" prints) becomes one document per item, without the metadata the
API server set (uid, resourceVersion, managedFields, ...) nor kubectl's
last-applied annotation. A field or kind perouter
does not implement, or one the upstream version does not have, is a
problem naming its file, document, object and field; then nothing is
printed on stdout and convert exits 1. The output is re-serialised: keys
come out sorted and comments are not kept. Check the result with
"perouterctl validate".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("convert needs at least one -f PATH")
			}
			var inputs []convert.Input
			for _, f := range files {
				paths, err := objects.Files(f)
				if err != nil {
					return err
				}
				for _, p := range paths {
					data, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					inputs = append(inputs, convert.Input{Name: p, Data: data})
				}
			}
			outs, changes, err := convert.Convert(inputs)
			if err != nil {
				for _, e := range objects.Errors(err) {
					fmt.Fprintln(stderr, e.Error())
				}
				return errProblems
			}
			for i, o := range outs {
				if i > 0 {
					fmt.Fprintln(stdout, "---")
				}
				fmt.Fprintf(stdout, "# converted by perouterctl convert from %s\n", o.Name)
				if _, err := stdout.Write(o.Data); err != nil {
					return err
				}
			}
			for _, c := range changes {
				fmt.Fprintln(stderr, "changed:", c.String())
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or folder (repeatable)")
	return cmd
}
