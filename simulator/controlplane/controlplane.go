// Package controlplane runs a real etcd and kube-apiserver as local processes
// for tests and for the simulator.
//
// It is a thin layer over controller-runtime's envtest: envtest already knows
// the apiserver flags a bare control plane needs (service-account keys and
// issuer, RBAC authorization, serving certificates, an admin user in
// system:masters). This package adds what envtest leaves to the caller: the
// binaries built by hack/build-k8s-assets.sh (found by operator/k8sassets, which
// the operator's envtest suites share), keeping all state in one
// directory, writing the admin kubeconfig to a chosen path, and waiting for
// /readyz rather than only /healthz.
//
// Everything listens on 127.0.0.1 only. Processes inside other network
// namespaces cannot reach it; they need a bridge such as a unix-socket proxy.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/perouter/perouter/operator/k8sassets"
	"github.com/perouter/perouter/operator/retry"
)

// Options configure Start. The zero value is usable.
type Options struct {
	// AssetsDir holds the binaries; empty means k8sassets.Dir().
	AssetsDir string
	// KubeconfigPath is where the admin kubeconfig is written; empty means
	// inside the state directory (see ControlPlane.KubeconfigPath).
	KubeconfigPath string
	// Logs receives the stdout and stderr of etcd and kube-apiserver; nil
	// discards them. Prefer an *os.File: the processes then write to it
	// directly; any other writer must be safe for concurrent use.
	Logs io.Writer
	// StartTimeout bounds each process start and the wait for /readyz;
	// zero means 60s (generous: the CPU is often shared with compilers).
	StartTimeout time.Duration
	// StopTimeout is how long each process gets after SIGTERM before SIGKILL;
	// zero means 20s.
	StopTimeout time.Duration
	// APIServerFlags are extra kube-apiserver flags (name without "--" →
	// value), e.g. "egress-selector-config-file" for kubelets that live in
	// other network namespaces (simulator/kubenode).
	APIServerFlags map[string]string
	// ServingIPs are extra IP addresses the API server's serving
	// certificate names, beside 127.0.0.1 and localhost: the `kubernetes`
	// Service's ClusterIP, where in-cluster clients (pods) dial it. Empty
	// keeps envtest's own certificate.
	ServingIPs []net.IP
}

// ControlPlane is a running etcd + kube-apiserver pair.
type ControlPlane struct {
	env            *envtest.Environment
	stateDir       string
	kubeconfigPath string
	config         *rest.Config
}

// Start launches etcd and kube-apiserver on free loopback ports, with all
// state in a fresh temporary directory, writes an admin kubeconfig, and
// returns once /readyz answers ok and the `kubernetes` Service exists. On
// error nothing is left running.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	assets := opts.AssetsDir
	if assets == "" {
		var err error
		if assets, err = k8sassets.Dir(); err != nil {
			return nil, err
		}
	} else if err := k8sassets.Check(assets); err != nil {
		return nil, err
	}
	startTimeout := opts.StartTimeout
	if startTimeout == 0 {
		startTimeout = 60 * time.Second
	}
	stopTimeout := opts.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 20 * time.Second
	}

	stateDir, err := os.MkdirTemp("", "perouter-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("creating control plane state directory: %w", err)
	}
	cp := &ControlPlane{stateDir: stateDir, kubeconfigPath: opts.KubeconfigPath}
	if cp.kubeconfigPath == "" {
		cp.kubeconfigPath = filepath.Join(stateDir, "kubeconfig")
	}

	// Explicit directories (instead of envtest's own temp dirs) keep every
	// byte of state under stateDir, so one RemoveAll cleans up and a
	// long-running simulator has one place to look at.
	apiServer := &envtest.APIServer{
		Path:    filepath.Join(assets, k8sassets.KubeAPIServerBinary),
		CertDir: filepath.Join(stateDir, "apiserver"),
		Out:     opts.Logs,
		Err:     opts.Logs,
	}
	for flag, value := range opts.APIServerFlags {
		apiServer.Configure().Set(flag, value)
	}
	etcd := &envtest.Etcd{
		Path:    filepath.Join(assets, k8sassets.EtcdBinary),
		DataDir: filepath.Join(stateDir, "etcd"),
		Out:     opts.Logs,
		Err:     opts.Logs,
	}
	for _, dir := range []string{apiServer.CertDir, etcd.DataDir} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			_ = os.RemoveAll(stateDir)
			return nil, fmt.Errorf("creating control plane state directory: %w", err)
		}
	}
	if len(opts.ServingIPs) > 0 {
		ca, err := writeServingCerts(apiServer.CertDir, opts.ServingIPs)
		if err != nil {
			_ = os.RemoveAll(stateDir)
			return nil, err
		}
		// envtest leaves certificates it finds in CertDir alone; the
		// admin kubeconfig then needs to know their CA.
		apiServer.CA = ca
	}
	cp.env = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			APIServer:   apiServer,
			Etcd:        etcd,
			KubectlPath: filepath.Join(assets, k8sassets.KubectlBinary),
		},
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
	}

	if err := cp.start(ctx, startTimeout); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	return cp, nil
}

// writeServingCerts writes what envtest would generate into certDir (the
// serving certificate and key, the service-account signing key under
// envtest's file names), with a serving certificate that also names ips,
// and returns the CA certificate in PEM.
func writeServingCerts(certDir string, ips []net.IP) ([]byte, error) {
	chain, key, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", ips, []string{"localhost"})
	if err != nil {
		return nil, fmt.Errorf("API server serving certificate: %w", err)
	}
	certs, err := certutil.ParseCertsPEM(chain)
	if err != nil || len(certs) != 2 {
		return nil, fmt.Errorf("API server serving certificate: want the certificate and its CA, got %d certificates (%v)", len(certs), err)
	}
	ca, err := certutil.EncodeCertificates(certs[1])
	if err != nil {
		return nil, err
	}
	// kube-apiserver reads the public key out of the private key file for
	// --service-account-key-file, so one file serves both flags.
	saKey, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		"apiserver.crt": chain, "apiserver.key": key,
		"sa-signer.crt": saKey, "sa-signer.key": saKey,
	} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return ca, nil
}

func (c *ControlPlane) start(ctx context.Context, timeout time.Duration) error {
	config, err := c.env.Start()
	if err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver from %s: %w", filepath.Dir(c.env.ControlPlane.APIServer.Path), err)
	}
	c.config = config
	if err := os.WriteFile(c.kubeconfigPath, c.env.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return waitReady(ctx, config)
}

// waitReady polls /readyz: envtest only waits for /healthz and the default
// namespace, while /readyz also covers post-start hooks such as RBAC
// bootstrap policy, which the operator's service accounts depend on.
func waitReady(ctx context.Context, config *rest.Config) error {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("building client for %s: %w", config.Host, err)
	}
	var lastErr error
	err = retry.Poll(ctx, 0, retry.Every(100*time.Millisecond), func() (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return true, nil
		}
		lastErr = err
		if lastErr == nil {
			lastErr = fmt.Errorf("answered %q", body)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver %s/readyz not ok: %w (last: %w)", config.Host, err, lastErr)
	}
	// /readyz does not cover the `kubernetes` Service: the API server's
	// bootstrap controller creates it a moment later, on its own loop. A
	// kubelet that starts a pod before it exists gives the pod no
	// KUBERNETES_SERVICE_HOST, and in-cluster clients then cannot start; a
	// CI run once read the Service too early (services "kubernetes" not
	// found).
	err = retry.Poll(ctx, 0, retry.Every(100*time.Millisecond), func() (bool, error) {
		_, lastErr = client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver %s: the default/kubernetes Service never appeared: %w (last: %w)", config.Host, err, lastErr)
	}
	return nil
}

// RESTConfig returns a fresh copy of the admin (system:masters) client config.
func (c *ControlPlane) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.config)
}

// KubeconfigPath is the admin kubeconfig file (context "envtest").
func (c *ControlPlane) KubeconfigPath() string { return c.kubeconfigPath }

// KubectlPath is the kubectl built alongside the server.
func (c *ControlPlane) KubectlPath() string { return c.env.ControlPlane.KubectlPath }

// StateDir holds certificates and etcd data; Stop removes it.
func (c *ControlPlane) StateDir() string { return c.stateDir }

// APIServerURL is the https URL of kube-apiserver on loopback.
func (c *ControlPlane) APIServerURL() *url.URL {
	u, err := url.Parse(c.config.Host)
	if err != nil {
		// Host came from envtest, which formats it from a host:port.
		panic(fmt.Sprintf("envtest produced an unparsable host %q: %v", c.config.Host, err))
	}
	return u
}

// Addresses are the host:port pairs the control plane listens on (kube-apiserver,
// etcd clients, etcd peers) — what must be closed after Stop.
func (c *ControlPlane) Addresses() []string {
	var addrs []string
	if c.config != nil {
		addrs = append(addrs, c.APIServerURL().Host)
	}
	if etcd := c.env.ControlPlane.Etcd; etcd != nil && etcd.URL != nil {
		addrs = append(addrs, etcd.URL.Host)
	}
	return addrs
}

// Stop terminates kube-apiserver and etcd (SIGTERM, then SIGKILL after
// StopTimeout) and removes the state directory. A kubeconfig written outside
// it (Options.KubeconfigPath) is removed too, as its credentials die with the
// server. Safe to call more than once.
func (c *ControlPlane) Stop() error {
	var errs []error
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
		}
	}
	if err := os.Remove(c.kubeconfigPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing kubeconfig: %w", err))
	}
	if err := os.RemoveAll(c.stateDir); err != nil {
		errs = append(errs, fmt.Errorf("removing state directory: %w", err))
	}
	return errors.Join(errs...)
}

// WriteKubeconfigVia writes a copy of the admin kubeconfig whose clients
// reach the API server at server (e.g. "https://10.0.2.100:6443", a
// forward of the loopback port into a VM) while still verifying its
// certificate, which names the loopback address. The file is removed by
// Stop when it lies in the state directory.
func (c *ControlPlane) WriteKubeconfigVia(server, path string) error {
	cfg, err := clientcmd.Load(c.env.KubeConfig)
	if err != nil {
		return fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	loopback := c.APIServerURL().Hostname()
	for _, cluster := range cfg.Clusters {
		cluster.Server = server
		cluster.TLSServerName = loopback
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
