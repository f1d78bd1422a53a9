package kubenode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Controllers are kube-scheduler and kube-controller-manager, run in the
// root namespace next to the API server, so that pods are scheduled and
// DaemonSets, Deployments and ServiceAccounts are reconciled as on a real
// cluster.
type Controllers struct {
	cmds []*exec.Cmd
}

// ControllerBinaries are needed in the assets directory.
var ControllerBinaries = []string{"kube-scheduler", "kube-controller-manager"}

// StartControllers starts both with the admin kubeconfig, logging to
// logDir/{kube-scheduler,kube-controller-manager}.log. They serve no port
// (--secure-port 0): several labs may run on one machine.
func StartControllers(assetsDir, kubeconfig, logDir string) (*Controllers, error) {
	c := &Controllers{}
	for _, b := range ControllerBinaries {
		if _, err := os.Stat(filepath.Join(assetsDir, b)); err != nil {
			return nil, fmt.Errorf("kubenode: %s missing in %s: build it with `hack/build-k8s-assets.sh --node`", b, assetsDir)
		}
	}
	args := map[string][]string{
		"kube-scheduler": {"--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0"},
		"kube-controller-manager": {"--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0",
			// The API server's admin credential serves every controller;
			// per-controller service accounts would need the token
			// controller's signing key.
			"--use-service-account-credentials=false"},
	}
	for _, b := range ControllerBinaries {
		logFile, err := os.Create(filepath.Join(logDir, b+".log"))
		if err != nil {
			return nil, errors.Join(err, c.Stop())
		}
		cmd := exec.Command(filepath.Join(assetsDir, b), args[b]...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		logFile.Close()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("starting %s: %w", b, err), c.Stop())
		}
		c.cmds = append(c.cmds, cmd)
	}
	return c, nil
}

// Stop terminates both (SIGTERM, SIGKILL after 10s).
func (c *Controllers) Stop() error {
	for _, cmd := range c.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	c.cmds = nil
	return nil
}
