package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// The objects the webhook judges changes against. Their node selector
// matches no node, so no controller tries to build their VRFs (this kernel
// may have none): admission alone is under test.
const webhookBaseline = `apiVersion: network.perouter.io/v1alpha1
kind: L3VNI
metadata:
  name: red
  namespace: perouter-system
spec:
  vrf: red
  vni: 100
  nodeSelector:
    matchLabels:
      pesim-test: no-node
  hostSession:
    asn: 64514
    hostASN: 64515
    localCIDR:
      ipv4: 192.169.10.0/24
---
apiVersion: network.perouter.io/v1alpha1
kind: L2VNI
metadata:
  name: green
  namespace: perouter-system
spec:
  vni: 110
  nodeSelector:
    matchLabels:
      pesim-test: no-node
  routingDomain:
    l3vni:
      name: red
`

// TestLabRunsTheValidatingWebhook brings up a cluster lab and shows that
// the API server consults the real webhook served by the lab's labeler:
// changes that break cross-object rules, which neither the CRD schema nor
// CEL can see, are refused with the webhook's message naming the object
// and the field, and a valid change passes.
func TestLabRunsTheValidatingWebhook(t *testing.T) {
	frrproctest.RequireFRR(t)
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Fatal(err)
	}
	kubectlPath := filepath.Join(assets, "kubectl")
	repo, _ := filepath.Abs("../../..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/controller", "./cmd/reloader", "./cmd/labeler")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	topo, err := topology.Load("testdata/mini-cluster.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Own namespaces: TestClusterAgents may run the same file elsewhere.
	topo.Name = "pesimwh"
	root, err := os.MkdirTemp("", "pesim-webhook-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	var progress strings.Builder
	opts := netns.Options{StateRoot: root, Progress: &progress,
		Agents: New(Options{BinDir: bin, CRDDir: filepath.Join(repo, "operator/config/crd/bases")})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	lab, err := netns.Up(ctx, topo, opts)
	if err != nil {
		_ = netns.New(topo, opts).Down(context.Background())
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	t.Logf("lab up with the webhook answering in %v", time.Since(start).Round(100*time.Millisecond))
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(kubectlPath, append([]string{"--kubeconfig", Kubeconfig(lab)}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	certPEM, err := os.ReadFile(filepath.Join(lab.StateDir(), "webhook-certs", "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("webhook-certs/tls.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("serving certificate's IP SANs %v, want [127.0.0.1]", cert.IPAddresses)
	}
	// Two webhooks, one path: creates and updates fail closed, deletes
	// fail open (docs/security.md).
	out, err := kubectl("", "get", "validatingwebhookconfiguration", "perouter-validating-webhook-configuration",
		"-o", `jsonpath={range .webhooks[*]}{.clientConfig.url} {.rules[0].operations} {.failurePolicy}{"\n"}{end}`)
	hooks := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(hooks) != 2 {
		t.Fatalf("webhook configuration: %q (%v), want two webhooks", out, err)
	}
	for _, h := range hooks {
		if !strings.HasPrefix(h, "https://127.0.0.1:") || !strings.Contains(h, "/validate-perouter ") {
			t.Errorf("webhook %q, want the project's rules at https://127.0.0.1:<port>/validate-perouter", h)
		}
	}
	if !strings.Contains(out, `["CREATE","UPDATE"] Fail`) || !strings.Contains(out, `["DELETE"] Ignore`) {
		t.Errorf("webhook configuration:\n%s\nwant creates and updates failing closed, deletes failing open", out)
	}

	if out, err := kubectl(webhookBaseline, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the baseline: %v\n%s", err, out)
	}
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"L3VNI reusing red's VNI": {
			stdin: l3vniYAML("also-100", "other", "100"), args: []string{"create", "--dry-run=server", "-f", "-"},
			want: "L3VNI perouter-system/also-100: spec.vni: VNI 100 is also used by L3VNI perouter-system/red",
		},
		"L3VNI reusing red's VRF": {
			stdin: l3vniYAML("also-red", "red", "300"), args: []string{"create", "--dry-run=server", "-f", "-"},
			want: `L3VNI perouter-system/also-red: spec.vrf: VRF "red" is also used by L3VNI perouter-system/red`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := kubectl(tc.stdin, tc.args...)
			if err == nil {
				t.Fatalf("kubectl %s was admitted:\n%s", strings.Join(tc.args, " "), out)
			}
			if !strings.Contains(out, `admission webhook "validate.network.perouter.io" denied the request`) || !strings.Contains(out, tc.want) {
				t.Errorf("kubectl %s: got\n%s\nwant the webhook's denial %q", strings.Join(tc.args, " "), out, tc.want)
			}
		})
	}
	// A reference to what does not exist yet, and deleting what others
	// refer to, are admitted with a warning: apply order never matters.
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"L2VNI routed through a missing L3VNI": {
			stdin: "apiVersion: network.perouter.io/v1alpha1\nkind: L2VNI\nmetadata:\n  name: orphan\n  namespace: perouter-system\nspec:\n  vni: 120\n  routingDomain:\n    l3vni:\n      name: missing\n",
			args:  []string{"create", "--dry-run=server", "-f", "-"},
			want:  "Warning: L2VNI perouter-system/orphan: spec.routingDomain.l3vni.name: L3VNI perouter-system/missing does not exist yet",
		},
		"deleting the L3VNI an L2VNI routes through": {
			args: []string{"delete", "--dry-run=server", "-n", Namespace, "l3vni", "red"},
			want: "Warning: L3VNI perouter-system/red: metadata.name: is the routing domain of L2VNI perouter-system/green",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := kubectl(tc.stdin, tc.args...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Errorf("kubectl %s: got %v\n%s\nwant it admitted with the warning %q", strings.Join(tc.args, " "), err, out, tc.want)
			}
		})
	}
	t.Run("a valid L3VNI passes", func(t *testing.T) {
		if out, err := kubectl(l3vniYAML("blue", "blue", "200"), "create", "--dry-run=server", "-f", "-"); err != nil {
			t.Errorf("valid L3VNI blue refused: %v\n%s", err, out)
		}
	})
}

func l3vniYAML(name, vrf, vni string) string {
	return "apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata:\n  name: " + name +
		"\n  namespace: perouter-system\nspec:\n  vrf: " + vrf + "\n  vni: " + vni +
		"\n  nodeSelector:\n    matchLabels:\n      pesim-test: no-node\n"
}
