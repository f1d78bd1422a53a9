// Package testenv starts the real kube-apiserver and etcd that the operator's
// tests run against (envtest, with the binaries hack/build-k8s-assets.sh
// caches), with the generated perouter CRDs installed.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/k8sassets"
)

// Env is a running API server.
type Env struct {
	Env     *envtest.Environment
	Config  *rest.Config
	Scheme  *k8sruntime.Scheme
	Started time.Duration
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Scheme knows the built-in kinds and the perouter kinds.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Start starts the API server with the CRDs from operator/config/crd/bases
// and, when webhooks is not nil, the webhook configurations it names.
// It fails, with the command that fixes it, when the binaries are missing.
func Start(webhooks *envtest.WebhookInstallOptions) (*Env, error) {
	assets, err := k8sassets.Dir()
	if err != nil {
		return nil, err
	}
	scheme := Scheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(RepoRoot(), "operator", "config", "crd", "bases")},
			ErrorIfPathMissing: true,
			Scheme:             scheme,
		},
		ErrorIfCRDPathMissing: true,
	}
	if webhooks != nil {
		env.WebhookInstallOptions = *webhooks
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (kube-apiserver and etcd from %s): %w", assets, err)
	}
	return &Env{Env: env, Config: cfg, Scheme: scheme, Started: time.Since(start)}, nil
}

// Stop stops the API server and reports how long start and stop took,
// so every suite's log carries the numbers.
func (e *Env) Stop() error {
	start := time.Now()
	err := e.Env.Stop()
	fmt.Fprintf(os.Stderr, "envtest: start %v, stop %v\n", e.Started.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return err
}

// Lazy starts the API server when the first test asks for it, so that a
// package's pure tests run without the binaries (go test -run).
type Lazy struct {
	// Webhooks, if set, are installed at start.
	Webhooks *envtest.WebhookInstallOptions

	once sync.Once
	env  *Env
	err  error
}

// Get returns the running API server, starting it on first use.
func (l *Lazy) Get(t testing.TB) *Env {
	t.Helper()
	l.once.Do(func() { l.env, l.err = Start(l.Webhooks) })
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.env
}

// Stop stops the API server if it was started; call it after m.Run.
func (l *Lazy) Stop() {
	if l.env != nil {
		if err := l.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
}
