package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perouter/perouter/operator/frrdelta"
	"github.com/perouter/perouter/operator/reloader"
	"github.com/perouter/perouter/operator/vtysh"
)

// Suite: the FRR defect behind the route-target suite's datapath failure,
// shown on a fabric leaf (no cluster needed), and the reloader's repair
// for it. When a VRF's import route targets change, bgpd re-imports all of
// its routes and sends zebra a withdraw and an add for each route that
// stays; FRR 8.4's zebra handles them as add, then delete, and drops the
// remote VTEP's neighbour and router MAC while it keeps the routes (fixed
// in FRR 9.1). reloader.EVPNNexthops must find that and bring both back.
var _ = Describe("EVPN re-import on a fabric leaf", Ordered, Label("route-targets"), func() {
	It("keeps the remote VTEP's neighbour and RMAC after an import RT round trip, with the reloader's repair", func(ctx SpecContext) {
		e, ok := env.(*netnsEnv)
		if !ok {
			Skip("needs the netns provider: the repair runs vtysh against a fabric leaf's FRR")
		}
		leaf := env.EVPNLeaves()[0]
		running, err := env.Vtysh(ctx, leaf, "show running-config")
		Expect(err).NotTo(HaveOccurred())
		l3vnis, err := frrdelta.L3VNIs(running)
		Expect(err).NotTo(HaveOccurred())
		Expect(l3vnis).NotTo(BeEmpty(), "leaf %s has no L3VNI", leaf)
		l3 := l3vnis[0]
		repair := &reloader.EVPNNexthops{
			Paths:   reloader.FRRPaths{VtySocketDir: e.lab.FRRDir(leaf)},
			WorkDir: GinkgoT().TempDir(),
			Logger:  GinkgoLogr,
		}
		vteps := func() ([]netip.Addr, error) {
			out, err := env.Vtysh(ctx, leaf, "show ip route vrf "+l3.VRF+" json")
			if err != nil {
				return nil, err
			}
			return vtysh.ParseEVPNRouteNexthops([]byte(out))
		}
		// Before: the other leaf's routes are imported and zebra has its VTEP.
		var remote []netip.Addr
		Eventually(func() error {
			if remote, err = vteps(); err != nil || len(remote) == 0 {
				return fmt.Errorf("leaf %s imports no EVPN route into %s (%v)", leaf, l3.VRF, err)
			}
			gaps, err := repair.Gaps(ctx, []frrdelta.L3VNI{l3})
			if err == nil && len(gaps) > 0 {
				err = fmt.Errorf("zebra lacks %v before any change", gaps)
			}
			return err
		}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		svi := l3vniBridge(ctx, leaf, l3.VRF)

		// The route-target suite's round trip, on the leaf: an RT nothing
		// carries (the VRF imports nothing), the leaves' own automatic RT
		// added explicitly (adds only), the first RT removed (a re-import:
		// the other leaf's routes stay), automatic RTs again (another).
		// The automatic RT alone would change nothing: bgpd ignores an
		// explicit RT equal to one it already imports.
		asn := strings.Fields(l3.BGP)[2]
		auto := fmt.Sprintf("%s:%d", asn, l3.VNI)
		none := fmt.Sprintf("%s:%d", asn, l3.VNI+1000)
		setImport := func(line string) {
			GinkgoHelper()
			_, err := env.Vtysh(ctx, leaf, "configure terminal", l3.BGP, "address-family l2vpn evpn", line)
			Expect(err).NotTo(HaveOccurred())
		}
		DeferCleanup(func(ctx SpecContext) {
			for _, rt := range []string{none, auto} {
				_, _ = env.Vtysh(ctx, leaf, "configure terminal", l3.BGP, "address-family l2vpn evpn", "no route-target import "+rt)
			}
		})
		setImport("route-target import " + none)
		Eventually(func() ([]netip.Addr, error) { return vteps() }).WithTimeout(convergeTimeout).WithPolling(poll).Should(BeEmpty())
		setImport("route-target import " + auto)
		Eventually(func() ([]netip.Addr, error) { return vteps() }).WithTimeout(convergeTimeout).WithPolling(poll).ShouldNot(BeEmpty())
		setImport("no route-target import " + none)
		setImport("no route-target import " + auto)

		// FRR 8.4 loses the VTEP within moments; a fixed FRR loses nothing.
		lost := false
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && !lost {
			gaps, err := repair.Gaps(ctx, []frrdelta.L3VNI{l3})
			Expect(err).NotTo(HaveOccurred())
			lost = len(gaps) > 0
			time.Sleep(poll)
		}
		AddReportEntry("zebra lost the remote VTEP after the re-import", lost)
		if lost {
			GinkgoWriter.Printf("zebra on %s lost %v after the import RT round trip: %s\n", leaf, remote, neighbours(ctx, leaf, svi))
		}

		repairs, err := repair.Settle(ctx, []frrdelta.L3VNI{l3})
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("repairs", repairs)
		Expect(repairs > 0).To(Equal(lost), "a repair exactly when zebra had lost the VTEP")
		// The kernel has zebra's entries back: the neighbour on the
		// L3VNI's bridge and the RMAC on its VXLAN device.
		for _, v := range remote {
			Eventually(func() error {
				out := neighbours(ctx, leaf, svi)
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, v.String()+" ") && strings.Contains(l, "extern_learn") && strings.Contains(l, "NOARP") {
						return nil
					}
				}
				return fmt.Errorf("leaf %s: no zebra neighbour for VTEP %s on %s:\n%s", leaf, v, svi, out)
			}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
		}
	})
})

// l3vniBridge is the device an L3VNI VRF's type-5 routes leave by on a
// router (its bridge): the on-link nexthops' interface in zebra's table.
func l3vniBridge(ctx SpecContext, router, vrf string) string {
	GinkgoHelper()
	var bridge string
	Eventually(func() error {
		out, err := env.Vtysh(ctx, router, "show ip route vrf "+vrf+" json")
		if err != nil {
			return err
		}
		var table map[string][]struct {
			Nexthops []struct {
				Interface string `json:"interfaceName"`
				OnLink    bool   `json:"onLink"`
			} `json:"nexthops"`
		}
		if err := json.Unmarshal([]byte(out), &table); err != nil {
			return err
		}
		for _, entries := range table {
			for _, e := range entries {
				for _, nh := range e.Nexthops {
					if nh.OnLink && nh.Interface != "" {
						bridge = nh.Interface
						return nil
					}
				}
			}
		}
		return fmt.Errorf("%s: no on-link route in VRF %s", router, vrf)
	}).WithTimeout(convergeTimeout).WithPolling(poll).Should(Succeed())
	return bridge
}

func neighbours(ctx SpecContext, router, dev string) string {
	out, err := env.Exec(ctx, router, "ip", "neigh", "show", "dev", dev)
	if err != nil {
		return fmt.Sprintf("ip neigh: %v: %s", err, out)
	}
	return out
}
