package cluster

import (
	"fmt"
	"strconv"

	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/perouter/perouter/operator/objects"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// VRFNeeds lists, one line each, what in a lab needs the kernel's VRF
// support: the topology's files (netns.VRFNeeds) and, for the cluster
// nodes, the manifests applied at start (ManifestVRFNeeds). With
// fabricOnly nothing runs on the cluster nodes and the manifests do not
// count. An empty list means the whole lab runs on a kernel without VRF;
// objects applied later (a test's, a user's) are theirs to judge.
func VRFNeeds(topo *topology.Lab, manifests []string, fabricOnly bool) ([]string, error) {
	needs, err := netns.VRFNeeds(topo)
	if err != nil || fabricOnly || len(topo.NodesWithRole(topology.RoleClusterNode)) == 0 {
		return needs, err
	}
	more, err := ManifestVRFNeeds(topo, manifests...)
	return append(needs, more...), err
}

// ManifestVRFNeeds lists the VRF devices the operator would create on the
// lab's cluster nodes for the objects in manifests (files or folders). It
// asks the operator's own model rather than guessing from kinds: each node
// (as the lab registers it: its name, the hostname label, the index the
// labeler gives in topology order) gets nodeconfig.Build and
// hostnet.PlanFor, exactly as the controller computes them, and every VRF
// in the plan is listed with the L3VNI it comes from. Node indexes change
// addresses, never which devices exist.
func ManifestVRFNeeds(topo *topology.Lab, manifests ...string) ([]string, error) {
	if len(manifests) == 0 {
		return nil, nil
	}
	set, err := objects.Load(manifests...)
	if err != nil {
		return nil, fmt.Errorf("reading the lab's manifests: %w", err)
	}
	var needs []string
	for i, n := range topo.NodesWithRole(topology.RoleClusterNode) {
		cfg, _, err := nodeconfig.Build(set, nodeconfig.Node{Name: n.Name, Index: i, Labels: map[string]string{"kubernetes.io/hostname": n.Name}})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		plan := hostnet.PlanFor(cfg, hostnet.PlanOptions{})
		for _, vrf := range plan.VRFs {
			source := "VNI " + strconv.FormatUint(uint64(vrf.VNI), 10)
			for _, l3 := range cfg.L3VNIs {
				if l3.VRF == vrf.Name {
					source = "L3VNI " + l3.Source.Namespace + "/" + l3.Source.Name
				}
			}
			needs = append(needs, fmt.Sprintf("node %s: %s needs VRF device %s", n.Name, source, vrf.Name))
		}
	}
	return needs, nil
}
