package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/devname"
	"github.com/perouter/perouter/operator/vtysh"
)

// The L2 side of a node's health, for labs that stretch an L2VNI to the
// nodes (topologies/l2.clab.yml with docs/examples/l2lab): the node's
// type-3 route on every EVPN leaf, and a workload on the node's host
// bridge reaching the hosts behind the leaves on the same subnet.

func l2vnis(ctx context.Context) []v1alpha1.L2VNI {
	var list v1alpha1.L2VNIList
	Expect(env.Kube().List(ctx, &list, client.InNamespace(operatorNamespace))).To(Succeed())
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.VNI < list.Items[j].Spec.VNI })
	return list.Items
}

// l2Workload is the device of a node's workload on an L2VNI's host bridge:
// one end of a veth pair in the node's host namespace whose other end is
// a port of the bridge, as a pod's interface would be.
const l2Workload = "l2w"

// l2WorkloadAddr is a node's workload address on a segment: in the
// subnet of the fabric's hosts on it (the L2VNI itself carries none
// without a routing domain), at .101 + the node's index, clear of the
// hosts' low addresses.
func l2WorkloadAddr(ctx context.Context, node string, host netip.Addr) netip.Prefix {
	a := host.As4()
	a[3] = byte(101 + eventuallyNodeIndex(ctx, node))
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

// ensureL2Workload attaches the node's workload to the segment's host
// bridge unless it is there. The bridge is the controller's (Managed
// lifecycle): after a reboot it comes back only once the controller has
// run, so a missing bridge is an error to retry, not a failure.
func ensureL2Workload(ctx context.Context, node string, vni v1alpha1.L2VNI, addr netip.Prefix) error {
	bridge := devname.HostBridge(vni.Spec.VNI)
	// Attached means the address on our end and the other end a port of
	// the bridge that exists now: a deleted and re-created L2VNI (or
	// Underlay) makes a new bridge, and the old port is left without one.
	addrOut, addrErr := env.Exec(ctx, node, "ip", "-o", "addr", "show", "dev", l2Workload)
	portOut, portErr := env.Exec(ctx, node, "ip", "-o", "link", "show", l2Workload+"-br")
	if addrErr == nil && portErr == nil && strings.Contains(addrOut, addr.String()) && strings.Contains(portOut, "master "+bridge+" ") {
		return nil
	}
	if _, err := env.Exec(ctx, node, "ip", "link", "show", bridge); err != nil {
		return fmt.Errorf("node %s: host bridge %s of L2VNI %s/%s not there yet", node, bridge, vni.Namespace, vni.Name)
	}
	for _, step := range [][]string{
		{"ip", "link", "del", l2Workload},
		{"ip", "link", "add", l2Workload, "type", "veth", "peer", "name", l2Workload + "-br"},
		{"ip", "link", "set", l2Workload + "-br", "master", bridge, "up"},
		{"ip", "addr", "add", addr.String(), "dev", l2Workload},
		{"ip", "link", "set", l2Workload, "up"},
	} {
		if out, err := env.Exec(ctx, node, step...); err != nil && step[2] != "del" {
			return fmt.Errorf("node %s: %s: %w: %s", node, strings.Join(step, " "), err, out)
		}
	}
	return nil
}

// type3VTEPs are the VTEPs a router has a type-3 (IMET) route from, for
// one VNI.
func type3VTEPs(ctx context.Context, router string, vni uint32) (map[string]bool, error) {
	routes, err := evpnRoutes(ctx, router, "multicast")
	if err != nil {
		return nil, err
	}
	return vtysh.Type3VTEPs(routes, vni), nil
}

// l2Healthy: for every L2VNI, the node's type-3 route is on every EVPN
// leaf, and the node's workload on the host bridge pings every fabric
// host on the segment, across VXLAN.
func l2Healthy(ctx context.Context, node string, vtep netip.Addr) error {
	vnis := l2vnis(ctx)
	if len(vnis) == 0 {
		return nil
	}
	hosts, err := env.L2Hosts(ctx)
	if err != nil {
		return err
	}
	for _, vni := range vnis {
		for _, leaf := range env.EVPNLeaves() {
			vteps, err := type3VTEPs(ctx, leaf, vni.Spec.VNI)
			if err != nil {
				return err
			}
			if !vteps[vtep.String()] {
				return fmt.Errorf("leaf %s: no type-3 route of VNI %d from node %s's VTEP %s (has %v)", leaf, vni.Spec.VNI, node, vtep, vteps)
			}
		}
		var onSegment []Host
		for _, h := range hosts {
			if h.L2VNI == fmt.Sprint(vni.Spec.VNI) {
				onSegment = append(onSegment, h)
			}
		}
		if len(onSegment) == 0 {
			continue
		}
		addr := l2WorkloadAddr(ctx, node, onSegment[0].Address)
		if err := ensureL2Workload(ctx, node, vni, addr); err != nil {
			return err
		}
		for _, h := range onSegment {
			if err := pingFrom(ctx, node, addr.Addr(), h.Address); err != nil {
				return err
			}
		}
	}
	return nil
}
