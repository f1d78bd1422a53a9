package netns

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"

	"github.com/perouter/perouter/simulator/topology"
)

// The two ways a lab's files ask for a kernel VRF device:
//
//   - a shell line or script creating one: iproute2 is how every setup
//     script and exec line of a topology makes devices, and a VRF device
//     is made with `ip link add NAME type vrf table N` (`link add … type
//     vrf …` inside `ip -batch`);
//   - an FRR config naming a VRF other than the default one (`vrf NAME`,
//     `router bgp ASN vrf NAME`): FRR's default VRF backend is the kernel
//     VRF device of that name, and without one FRR keeps the VRF inactive,
//     so the lab would come up with routes missing instead of failing.
var (
	shellVRFDevice = regexp.MustCompile(`\btype\s+vrf\b`)
	frrVRF         = regexp.MustCompile(`(?m)^\s*(?:vrf|router\s+bgp\s+\d+\s+vrf)\s+(\S+)`)
)

// VRFNeeds lists, one line each, what in the topology needs the kernel's
// VRF support: an exec line of a node, or a script it runs from a file
// bound into the node, that creates a VRF device; a router's FRR config
// naming a VRF. An empty list means the lab's fabric and hosts run on a
// kernel without VRF (what runs on the cluster nodes depends on the
// applied objects: cluster.VRFNeeds adds those).
func VRFNeeds(topo *topology.Lab) ([]string, error) {
	var needs []string
	for _, n := range topo.Nodes {
		for _, line := range n.Exec {
			if shellVRFDevice.MatchString(line) {
				needs = append(needs, fmt.Sprintf("node %s: exec %q creates a VRF device", n.Name, line))
				continue
			}
			args, err := topology.SplitCommand(line)
			if err != nil {
				return nil, fmt.Errorf("node %s: exec %q: %w", n.Name, line, err)
			}
			// A script the line runs is a file bound from the host
			// (e.g. "sh /setup.sh"); its lines count like exec lines.
			for _, a := range args {
				b, ok := n.Bind(a)
				if !ok {
					continue
				}
				data, err := os.ReadFile(b.Host)
				if err != nil {
					return nil, fmt.Errorf("node %s: exec %q: %w", n.Name, line, err)
				}
				if l, ok := firstMatchingLine(data, shellVRFDevice); ok {
					needs = append(needs, fmt.Sprintf("node %s: %s creates a VRF device (%q)", n.Name, b.Host, l))
				}
			}
		}
		if n.Role != topology.RoleRouter {
			continue
		}
		b, _ := n.Bind(topology.FRRConfigPath)
		data, err := os.ReadFile(b.Host)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		var vrfs []string
		for _, m := range frrVRF.FindAllSubmatch(data, -1) {
			if name := string(m[1]); name != "default" && !slices.Contains(vrfs, name) {
				vrfs = append(vrfs, name)
			}
		}
		if len(vrfs) > 0 {
			needs = append(needs, fmt.Sprintf("node %s: %s names VRF %v (FRR uses a kernel VRF device per VRF)", n.Name, b.Host, vrfs))
		}
	}
	return needs, nil
}

func firstMatchingLine(data []byte, re *regexp.Regexp) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if re.Match(sc.Bytes()) {
			return string(bytes.TrimSpace(sc.Bytes())), true
		}
	}
	return "", false
}
