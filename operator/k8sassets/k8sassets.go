// Package k8sassets finds the kube-apiserver, etcd and kubectl binaries that
// hack/build-k8s-assets.sh builds and caches. The operator's envtest suites
// (operator/internal/testenv) and the simulator's control plane
// (simulator/controlplane) both start them; the lookup lives under operator/
// because operator/ must not import simulator/ (operator/layering_test.go).
package k8sassets

import (
	"fmt"
	"os"
	"path/filepath"
)

// KubernetesVersion is the version hack/build-k8s-assets.sh builds and caches.
const KubernetesVersion = "v1.37.2"

// The binaries' file names inside the assets directory.
const (
	KubeAPIServerBinary = "kube-apiserver"
	EtcdBinary          = "etcd"
	KubectlBinary       = "kubectl"
)

// buildHint ends every "assets missing" error: it is the one fix.
const buildHint = "run hack/build-k8s-assets.sh (or `make k8s-assets`) and export KUBEBUILDER_ASSETS=$(hack/build-k8s-assets.sh)"

// Dir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, else the cache hack/build-k8s-assets.sh fills
// (${PEROUTER_CACHE:-$HOME/.cache/perouter}/k8s/<version>). It fails, naming
// the missing binary and how to build it, when a binary is absent.
func Dir() (string, error) {
	dir, err := dirFromEnv(os.Getenv)
	if err != nil {
		return "", err
	}
	return dir, Check(dir)
}

// Check fails, naming the binary and how to build it, when dir lacks one of
// the three binaries or holds one that is not executable.
func Check(dir string) error {
	for _, name := range []string{KubeAPIServerBinary, EtcdBinary, KubectlBinary} {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("control plane binary %s: %w; %s", name, err, buildHint)
		}
		if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("control plane binary %s is not an executable file; %s", path, buildHint)
		}
	}
	return nil
}

// dirFromEnv mirrors the cache path computed by hack/build-k8s-assets.sh.
func dirFromEnv(getenv func(string) string) (string, error) {
	if dir := getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache := getenv("PEROUTER_CACHE")
	if cache == "" {
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("neither KUBEBUILDER_ASSETS, PEROUTER_CACHE nor HOME is set; %s", buildHint)
		}
		cache = filepath.Join(home, ".cache", "perouter")
	}
	return filepath.Join(cache, "k8s", KubernetesVersion), nil
}
