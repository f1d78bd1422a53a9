package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
)

// restoreTimeout bounds rebuilding the lab after a failed spec and
// waiting for it to be healthy (lab up takes 1–3 min in the VM lane).
const restoreTimeout = 10 * time.Minute

// After a failed spec the lab may be broken (a node half rebooted, an
// agent stopped, a session down), and no later spec may inherit that: one
// failure is reported once. The evidence is collected first, then the lab
// is rebuilt as the suite started it and must be healthy again; if it
// cannot be, the suite stops here rather than failing every later spec
// for the same reason.
var _ = AfterEach(func() {
	report := CurrentSpecReport()
	if !report.Failed() || env == nil {
		return
	}
	// The failure first: if the restore below aborts the suite, Ginkgo
	// reports the abort and hides this one behind "additional failures".
	fmt.Fprintf(GinkgoWriter, "---- failure (at %s) ----\n%s\n", report.Failure.Location, report.Failure.Message)
	fmt.Fprintln(GinkgoWriter, "---- evidence ----")
	fmt.Fprintln(GinkgoWriter, evidence(context.Background()))
	if report.State.Is(types.SpecStateInterrupted | types.SpecStateAborted) {
		return
	}
	restoreLab(report.FullText(), gist(report.Failure.Message))
})

// restoreLab rebuilds the lab and waits until it is healthy, or aborts the
// suite naming the spec that broke it.
func restoreLab(failed, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	start := time.Now()
	fmt.Fprintf(GinkgoWriter, "---- restoring the lab after %q failed ----\n", failed)
	err := InterceptGomegaFailure(func() {
		Expect(env.Restore(ctx)).To(Succeed())
		if env.Kube() != nil {
			startWorkloads(ctx)
		}
		Eventually(labHealthy).WithContext(ctx).WithPolling(poll).Should(Succeed())
	})
	if err != nil {
		AbortSuite(fmt.Sprintf("the lab could not be restored after %q failed (%s), so no later spec could run on a healthy lab: %v", failed, why, err))
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	AddReportEntry("lab restored", took.String())
	fmt.Fprintf(GinkgoWriter, "lab restored and healthy in %v\n", took)
}

// labHealthy is what every spec may assume when it starts: every fabric
// session established and, with a cluster, every node healthy (sessions,
// its prefixes on the leaves, datapath both ways).
func labHealthy(ctx context.Context) error {
	var errs []error
	for _, r := range env.FabricRouters() {
		peers, err := bgpPeers(ctx, r, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for addr, state := range peers {
			if state != "Established" {
				errs = append(errs, fmt.Errorf("router %s: session with %s is %q", r, addr, state))
			}
		}
	}
	if env.Kube() == nil || len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, clients, ok := reflectorLab(ctx); ok {
		// The route reflector lab: the nodes peer with no leaf.
		return reflectionHealthy(ctx, clients)
	}
	for _, node := range env.ClusterNodes() {
		// nodeVTEP asserts (it reads the Underlay and the node's index).
		var unhealthy error
		failed := InterceptGomegaFailure(func() { unhealthy = nodeHealthy(ctx, node, nodeVTEP(ctx, node)) })
		errs = append(errs, failed, unhealthy)
	}
	return errors.Join(errs...)
}
