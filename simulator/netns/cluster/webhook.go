package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/netns"
)

// WebhookPortEnv passes Options.WebhookPort to a lab built inside the VM
// lane: the host picks the port (StartVMControlPlane) and forwards it into
// the guest, where pesim or the e2e binary builds its Options.
const WebhookPortEnv = "PESIM_WEBHOOK_PORT"

// WebhookProbe is an L2VNI that only the webhook refuses (its gateway is
// its subnet's IPv4 broadcast address; the schema only sees a CIDR); a
// dry-run create of it tells whether the API server reaches the webhook.
// A missing routing domain would not do: the webhook admits it with a
// warning, so that apply order never matters.
const WebhookProbe = `apiVersion: network.perouter.io/v1alpha1
kind: L2VNI
metadata:
  name: pesim-webhook-probe
  namespace: ` + Namespace + `
spec:
  vni: 16777000
  routingDomain:
    l3vni:
      name: pesim-webhook-probe-missing
  gatewayIPs:
  - 192.0.2.255/24
`

// WebhookProbeDenial is what the webhook's refusal of WebhookProbe says.
const WebhookProbeDenial = "is the broadcast address of its subnet"

// webhookPort decides where the labeler serves the webhook; 0 means it
// serves none. In the VM lane the API server runs on the host and reaches
// the guest only through a forward the host set up for a known port, so
// without one there is no webhook.
func (a *Agents) webhookPort() (int, error) {
	if a.opts.WebhookPort != 0 {
		return a.opts.WebhookPort, nil
	}
	if v := os.Getenv(WebhookPortEnv); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return 0, fmt.Errorf("%s=%q: want a TCP port", WebhookPortEnv, v)
		}
		return p, nil
	}
	if a.opts.InVM && a.opts.Kubeconfig != "" {
		return 0, nil
	}
	return FreeLoopbackPort()
}

// FreeLoopbackPort returns a TCP port nothing listens on at the moment.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// webhookManifest is the ValidatingWebhookConfiguration the lab installs.
func (a *Agents) webhookManifest() string {
	if a.opts.WebhookManifest != "" {
		return a.opts.WebhookManifest
	}
	return filepath.Join(a.opts.CRDDir, "..", "..", "webhook", "manifests.yaml")
}

// labelerWebhookArgs writes a throwaway CA and serving certificate for
// 127.0.0.1 into the lab's state and returns the labeler's flags to serve
// them on port, without cert-controller (it would make a certificate for a
// Service name the API server cannot resolve here), and the CA.
func labelerWebhookArgs(l *netns.Lab, port int) (args []string, caPEM []byte, err error) {
	dir := filepath.Join(l.StateDir(), "webhook-certs")
	caPEM, err = writeServingCert(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook certificate in %s: %w", dir, err)
	}
	return []string{"--webhook-port", strconv.Itoa(port), "--cert-dir", dir, "--cert-rotation=false"}, caPEM, nil
}

// writeServingCert writes ca.crt, tls.crt and tls.key (the names the
// webhook server reads) into dir and returns the CA certificate in PEM.
func writeServingCert(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pesim webhook CA"},
		NotBefore:             now.Add(-time.Hour), // tolerate a guest clock slightly behind the host's
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serving := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, serving, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, data := range map[string][]byte{
		"ca.crt":  caPEM,
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

// removeStaleWebhook deletes the project's ValidatingWebhookConfiguration
// from an API server that outlived an earlier lab (the suite's restore in
// the VM lane: the lab goes down and up again against the same API
// server). Left there, it points at the old labeler's port, and with
// failurePolicy Fail it would refuse the lab's own manifests.
func (a *Agents) removeStaleWebhook(ctx context.Context, l *netns.Lab) error {
	data, err := os.ReadFile(a.webhookManifest())
	if err != nil {
		return fmt.Errorf("webhook configuration (Options.WebhookManifest): %w", err)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", a.webhookManifest(), err)
	}
	if out, err := a.kubectl(ctx, l, "delete", "validatingwebhookconfiguration", cfg.Name, "--ignore-not-found"); err != nil {
		return fmt.Errorf("deleting a stale ValidatingWebhookConfiguration %s: %w: %s", cfg.Name, err, strings.TrimSpace(out))
	}
	return nil
}

// installWebhook creates the project's ValidatingWebhookConfiguration
// (same rules, paths and policy) pointed at https://127.0.0.1:port, then
// waits until the API server gets the webhook's verdicts.
func (a *Agents) installWebhook(ctx context.Context, l *netns.Lab, port int, caPEM []byte) error {
	manifest := a.webhookManifest()
	data, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("webhook configuration (Options.WebhookManifest): %w", err)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", manifest, err)
	}
	for i := range cfg.Webhooks {
		cc := &cfg.Webhooks[i].ClientConfig
		path := ""
		if cc.Service != nil && cc.Service.Path != nil {
			path = *cc.Service.Path
		}
		url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + path
		cc.Service, cc.URL, cc.CABundle = nil, &url, caPEM
	}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		return err
	}
	if out, err := a.kubectlStdin(ctx, l, string(out), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("creating ValidatingWebhookConfiguration %s: %w: %s", cfg.Name, err, strings.TrimSpace(out))
	}
	a.mu.Lock()
	a.webhookConfig = cfg.Name
	a.mu.Unlock()
	return a.waitWebhook(ctx, l)
}

// waitWebhook dry-runs an object only the webhook refuses until the API
// server reports the webhook's denial: until the labeler serves, the call
// fails differently (connection refused).
func (a *Agents) waitWebhook(ctx context.Context, l *netns.Lab) error {
	timeout := time.Minute
	if a.opts.InVM {
		timeout = 5 * time.Minute // the labeler's start alone takes tens of seconds under TCG
	}
	start := time.Now()
	var out string
	err := retry.Poll(ctx, timeout, retry.Every(500*time.Millisecond), func() (bool, error) {
		var err error
		out, err = a.kubectlStdin(ctx, l, WebhookProbe, "create", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(out, "denied the request") && strings.Contains(out, WebhookProbeDenial) {
			logf(l, "webhook answering after %v", time.Since(start).Round(100*time.Millisecond))
			return true, nil
		}
		if err == nil {
			return false, fmt.Errorf("the API server admitted L2VNI %s/pesim-webhook-probe, whose gateway is a broadcast address: the webhook is not consulted", Namespace)
		}
		return false, nil
	})
	if errors.Is(err, retry.ErrTimeout) || err != nil && ctx.Err() != nil {
		return fmt.Errorf("webhook not answering within %v (labeler log: %s): last answer: %s",
			timeout, filepath.Join(l.StateDir(), "labeler.log"), strings.TrimSpace(out))
	}
	return err
}

// removeWebhook deletes the lab's webhook configuration from an API server
// that outlives the lab (Options.Kubeconfig): left behind, it would refuse
// every later change of a perouter object (failurePolicy Fail). The VM
// lane's API server stops with the VM run, and one kubectl in the
// emulated guest can take longer than the whole delete is worth.
func (a *Agents) removeWebhook(ctx context.Context, l *netns.Lab) error {
	a.mu.Lock()
	name := a.webhookConfig
	a.webhookConfig = ""
	a.mu.Unlock()
	if name == "" || a.opts.Kubeconfig == "" || a.opts.InVM {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := a.kubectl(ctx, l, "delete", "validatingwebhookconfiguration", name, "--ignore-not-found"); err != nil {
		return fmt.Errorf("deleting ValidatingWebhookConfiguration %s: %w: %s", name, err, strings.TrimSpace(out))
	}
	return nil
}
