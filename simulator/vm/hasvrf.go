package vm

import (
	"os/exec"
)

// HasVRF reports whether the running kernel can create VRF devices, i.e.
// whether kernel-level tests can run natively instead of in a VM. It
// creates (and deletes) a VRF inside a network namespace that exists only
// for the probe, so the host's namespaces are never touched. It needs root
// and unshare(1) from util-linux; without them it reports false.
func HasVRF() bool {
	probe := exec.Command("unshare", "--net", "--", "sh", "-c",
		"ip link add perouter-probe type vrf table 10 && ip link del perouter-probe")
	return probe.Run() == nil
}
