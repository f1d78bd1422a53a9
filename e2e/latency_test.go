package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/simulator/perf"
)

// latencyChanges is docs/performance.md's sample size. A flag, not an environment
// variable, because the VM lane passes the test binary's arguments on; a
// smaller count suits the VM lane, where one change takes a minute or more
// under TCG.
var latencyChanges = flag.Int("perouter.latency-changes", 20, "changes the latency spec times")

// latencyLogs prints, after the latency spec, the logs of the first
// cluster node (controller, reloader, FRR) to stdout, so each stage of a
// change can be timed against the change's start time printed before it.
var latencyLogs = flag.Bool("perouter.latency-logs", false, "print the first node's logs after the latency spec")

const (
	// latencyPoll is fine enough for a 1 s target; each poll is one vtysh
	// run on the leaf, so the observed time also includes up to one poll's
	// cost.
	latencyPoll = 100 * time.Millisecond
)

// The end-to-end target of docs/performance.md: an applied object's type-5 route is on a
// fabric leaf within 1 s (p50 over 20 changes). Run with
// -ginkgo.label-filter=latency (hack/perf.sh with PERF_E2E=1); the default
// e2e run leaves it out. It prints perf.LatencyMarker for cmd/perfreport.
// -perouter.latency-changes=N sets another number of changes.
var _ = Describe("End-to-end latency", Ordered, Label("latency"), func() {
	BeforeAll(func() { requireCluster() })

	It(fmt.Sprintf("puts a new L3VNI's type-5 routes on a fabric leaf and withdraws them, %d times", *latencyChanges), func(ctx SpecContext) {
		leaf := env.EVPNLeaves()[0]
		var vteps []string
		for _, node := range env.ClusterNodes() {
			vteps = append(vteps, nodeVTEP(ctx, node).String())
		}
		result := perf.Latency{Lane: perf.LaneNative}
		timeout := convergeTimeout
		if os.Getenv(envInVM) != "" {
			result.Lane = "VM lane"
			// A single change took 2.5 minutes there on a loaded host; a
			// slow sample is still a sample.
			timeout = 3 * convergeTimeout
		}
		// The third octet of each change's localCIDR is its number.
		Expect(*latencyChanges).To(And(BeNumerically(">=", 1), BeNumerically("<=", 256)), "-perouter.latency-changes")
		hostASN := uint32(64515)
		for i := range *latencyChanges {
			cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 170, byte(i), 0}), 24)
			vni := &v1alpha1.L3VNI{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("latency-%d", i), Namespace: operatorNamespace},
				Spec: v1alpha1.L3VNISpec{VRF: fmt.Sprintf("lat%d", i), VNI: uint32(5000 + i), HostSession: &v1alpha1.HostSession{
					ASN: 64514, HostASN: &hostASN, LocalCIDR: v1alpha1.LocalCIDRConfig{IPv4: cidr.String()},
				}},
			}
			prefix := type5Prefix(cidr)
			allPresent := func() error {
				for _, vtep := range vteps {
					if err := hasType5(ctx, leaf, prefix, vtep, ""); err != nil {
						return err
					}
				}
				return nil
			}
			allGone := func() error {
				for _, vtep := range vteps {
					if err := lacksType5(ctx, leaf, prefix, vtep); err != nil {
						return err
					}
				}
				return nil
			}

			start := time.Now()
			if *latencyLogs {
				fmt.Fprintf(os.Stdout, "perf-latency: change %d (VNI %d) created at %s\n", i+1, vni.Spec.VNI, start.Format("15:04:05.000"))
			}
			Expect(env.Kube().Create(ctx, vni)).To(Succeed())
			DeferCleanup(func(ctx context.Context) { _ = env.Kube().Delete(ctx, vni) })
			Eventually(allPresent).WithTimeout(timeout).WithPolling(latencyPoll).Should(Succeed(), "L3VNI %s/%s created", vni.Namespace, vni.Name)
			added := time.Since(start)

			start = time.Now()
			if *latencyLogs {
				fmt.Fprintf(os.Stdout, "perf-latency: change %d: type-5 routes on %s; deleting at %s\n", i+1, leaf, start.Format("15:04:05.000"))
			}
			Expect(env.Kube().Delete(ctx, vni)).To(Succeed())
			Eventually(allGone).WithTimeout(timeout).WithPolling(latencyPoll).Should(Succeed(), "L3VNI %s/%s deleted", vni.Namespace, vni.Name)
			withdrawn := time.Since(start)

			result.AddMs = append(result.AddMs, float64(added.Milliseconds()))
			result.WithdrawMs = append(result.WithdrawMs, float64(withdrawn.Milliseconds()))
			fmt.Fprintf(GinkgoWriter, "change %d: VNI %d %s: type-5 on %s after %v, withdrawn after %v\n", i+1, vni.Spec.VNI, cidr, leaf, added, withdrawn)
			// GinkgoWriter does not reach the host from the VM lane;
			// stdout does. Every change reprints the samples so far, so a
			// run cut short still leaves them (perfreport reads the last).
			fmt.Fprintln(os.Stdout, result.Line())
		}
		if *latencyLogs {
			fmt.Fprintln(os.Stdout, env.Logs(env.ClusterNodes()[0]))
		}
		for _, row := range perf.LatencyRows(result, "") {
			AddReportEntry(row.Metric, fmt.Sprintf("p50 %.0f ms, p90 %.0f ms over %s", row.Median, row.P90, row.N))
		}
	})
})
