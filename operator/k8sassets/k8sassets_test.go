package k8sassets

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDirFromEnv(t *testing.T) {
	tests := map[string]struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		"KUBEBUILDER_ASSETS wins over the cache": {
			env:  map[string]string{"KUBEBUILDER_ASSETS": "/opt/assets", "PEROUTER_CACHE": "/c", "HOME": "/h"},
			want: "/opt/assets",
		},
		"PEROUTER_CACHE wins over HOME": {
			env:  map[string]string{"PEROUTER_CACHE": "/c", "HOME": "/h"},
			want: "/c/k8s/" + KubernetesVersion,
		},
		"HOME cache by default": {
			env:  map[string]string{"HOME": "/h"},
			want: "/h/.cache/perouter/k8s/" + KubernetesVersion,
		},
		"nothing set": {
			env:     map[string]string{},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := dirFromEnv(func(key string) string { return tc.env[key] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error: %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("dirFromEnv() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDirMissingBinariesTellsHowToBuild(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", empty)

	_, err := Dir()
	if err == nil {
		t.Fatalf("Dir() with empty %s: no error", empty)
	}
	for _, want := range []string{"kube-apiserver", "hack/build-k8s-assets.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Dir() error %q does not mention %q", err, want)
		}
	}
}

// Versions are pinned in several files; a bump that misses one would build (or
// look for) the wrong binaries.
func TestVersionPinsAgree(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	script := read("hack/build-k8s-assets.sh")
	find := func(file, text, pattern string) string {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s: no match for %s", file, pattern)
		}
		return m[1]
	}
	scriptEtcd := find("hack/build-k8s-assets.sh", script, `(?m)^readonly ETCD_VERSION=(\S+)`)

	tests := map[string]struct {
		got, want string
	}{
		"build script Kubernetes version": {
			got:  find("hack/build-k8s-assets.sh", script, `(?m)^readonly KUBERNETES_VERSION=(\S+)$`),
			want: KubernetesVersion,
		},
		"kubernetes wrapper module": {
			got:  find("hack/k8s-assets/kubernetes/go.mod", read("hack/k8s-assets/kubernetes/go.mod"), `(?m)^(?:require)?\s+k8s\.io/kubernetes (v\S+)`),
			want: KubernetesVersion,
		},
		"etcd wrapper module": {
			got:  find("hack/k8s-assets/etcd/go.mod", read("hack/k8s-assets/etcd/go.mod"), `(?m)^(?:require)?\s+go\.etcd\.io/etcd/server/v3 (v\S+)`),
			want: scriptEtcd,
		},
		"containerd wrapper module": {
			got:  find("hack/k8s-assets/containerd/go.mod", read("hack/k8s-assets/containerd/go.mod"), `(?m)^(?:require)?\s+github\.com/containerd/containerd/v2 (v\S+)`),
			want: find("hack/build-k8s-assets.sh", script, `(?m)^readonly CONTAINERD_VERSION=(\S+)`),
		},
		"runc wrapper module": {
			got:  find("hack/k8s-assets/runc/go.mod", read("hack/k8s-assets/runc/go.mod"), `(?m)^(?:require)?\s+github\.com/opencontainers/runc (v\S+)`),
			want: find("hack/build-k8s-assets.sh", script, `(?m)^readonly RUNC_VERSION=(\S+)`),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("pinned %s, want %s", tc.got, tc.want)
			}
		})
	}
}
