// Package chartinstall installs and upgrades the operator's Helm chart
// through Helm's Go library, as `helm install perouter charts/perouter` and
// `helm upgrade` do. It is the one way the simulator installs the chart:
// the pods mode (simulator/netns/pods) and the kind provider
// (simulator/kind) both call it, with the images of `make images` as the
// only values they override (ArchiveValues).
package chartinstall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/perouter/perouter/operator/images"
)

// The release: name and namespace as docs/install.md's `helm install
// perouter charts/perouter` gives them (the chart puts its objects into its
// own namespace, values.namespace).
const (
	ReleaseName      = "perouter"
	ReleaseNamespace = "default"
)

// Target is the cluster a Session installs into.
type Target struct {
	// Kubeconfig is the path of the cluster's admin kubeconfig.
	Kubeconfig string
	// CacheDir holds the discovery cache. It belongs to the lab, not to
	// ~/.kube/cache: a later lab's API server may answer on the same port
	// with other resources.
	CacheDir string
	// Log is the file Helm's own log is appended to.
	Log string
}

// Session is a loaded chart and Helm configured for one cluster; Close it
// when done.
type Session struct {
	cfg   *action.Configuration
	chart *chart.Chart
	dir   string
	log   *os.File
}

// Open loads the chart in dir and configures Helm for t.
func Open(dir string, t Target) (*Session, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	kubeconfig, namespace, cacheDir := t.Kubeconfig, ReleaseNamespace, t.CacheDir
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig, getter.Namespace, getter.CacheDir = &kubeconfig, &namespace, &cacheDir
	log, err := os.OpenFile(t.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", func(format string, v ...any) {
		fmt.Fprintf(log, format+"\n", v...)
	}); err != nil {
		log.Close()
		return nil, fmt.Errorf("helm: %w", err)
	}
	return &Session{cfg: cfg, chart: chrt, dir: dir, log: log}, nil
}

// Close closes the log; what Helm wrote is already in it.
func (s *Session) Close() { _ = s.log.Close() }

// Install runs `helm install perouter CHART` with values. With wait, it
// returns when every resource is ready, as `--wait` does, or after timeout.
func (s *Session) Install(ctx context.Context, values map[string]any, wait bool, timeout time.Duration) (*release.Release, error) {
	install := action.NewInstall(s.cfg)
	install.ReleaseName, install.Namespace = ReleaseName, ReleaseNamespace
	install.Wait, install.Timeout = wait, timeout
	rel, err := install.RunWithContext(ctx, s.chart, values)
	if err != nil {
		return nil, fmt.Errorf("helm install %s %s: %w (log: %s)", ReleaseName, s.dir, err, s.log.Name())
	}
	return rel, nil
}

// Upgrade runs `helm upgrade perouter CHART` with values. With wait, it
// returns when every resource is ready, or after timeout; without, the
// DaemonSets roll in their own time.
func (s *Session) Upgrade(ctx context.Context, values map[string]any, wait bool, timeout time.Duration) (*release.Release, error) {
	upgrade := action.NewUpgrade(s.cfg)
	upgrade.Namespace = ReleaseNamespace
	upgrade.Wait, upgrade.Timeout = wait, timeout
	rel, err := upgrade.RunWithContext(ctx, ReleaseName, s.chart, values)
	if err != nil {
		return nil, fmt.Errorf("helm upgrade %s %s: %w (log: %s)", ReleaseName, s.dir, err, s.log.Name())
	}
	return rel, nil
}

// InstallOrUpgrade is `helm upgrade --install --wait`: Install when the
// release does not exist yet, else Upgrade, so a bring-up can run again.
func (s *Session) InstallOrUpgrade(ctx context.Context, values map[string]any, timeout time.Duration) (*release.Release, error) {
	history := action.NewHistory(s.cfg)
	history.Max = 1
	switch _, err := history.Run(ReleaseName); {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return s.Install(ctx, values, true, timeout)
	case err != nil:
		return nil, fmt.Errorf("helm history %s: %w (log: %s)", ReleaseName, err, s.log.Name())
	}
	return s.Upgrade(ctx, values, true, timeout)
}

// ArchiveValues are the only Helm values the simulator overrides, and why:
// the images are the archives' (the chart's default references are the
// same when `make images` tagged them with the chart's appVersion), pulled
// Never: no registry is involved, the nodes' runtimes hold the imported
// archives, and a missing image must fail the pod at once
// (ErrImageNeverPull) rather than after pull retries. Everything else is
// the chart's default.
func ArchiveValues(archives []string) (map[string]any, error) {
	imageValues := map[string]any{}
	for _, r := range images.Recipes() {
		var ref string
		for _, a := range archives {
			got, err := images.ArchiveReference(a)
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(got, r.Repository+":") {
				ref = got
			}
		}
		if ref == "" {
			return nil, fmt.Errorf("no archive of image %s among %v: build them with `make images`", r.Repository, archives)
		}
		imageValues[r.Name] = map[string]any{
			"repository": r.Repository,
			"tag":        strings.TrimPrefix(ref, r.Repository+":"),
			"pullPolicy": string(corev1.PullNever),
		}
	}
	return map[string]any{"images": imageValues}, nil
}
