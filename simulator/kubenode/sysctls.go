package kubenode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// HostSysctls are the host-wide settings every kubelet writes at start
// (pkg/kubelet/cm setupKernelTunables), with no option to leave them be:
// they are not per network namespace, so a kubelet node changes them for
// the whole machine.
var HostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// ReadHostSysctls reads HostSysctls' current values.
func ReadHostSysctls() (map[string]string, error) {
	values := map[string]string{}
	for _, s := range HostSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err != nil {
			return nil, err
		}
		values[s] = string(v)
	}
	return values, nil
}

// SaveHostSysctls reads HostSysctls and returns a function that writes
// them back, for callers that run kubelets on a shared host.
func SaveHostSysctls() (restore func() error, err error) {
	saved, err := ReadHostSysctls()
	if err != nil {
		return nil, err
	}
	return func() error {
		var errs []error
		for s, v := range saved {
			if err := os.WriteFile(filepath.Join("/proc/sys", s), []byte(v), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring sysctl %s: %w", s, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}
