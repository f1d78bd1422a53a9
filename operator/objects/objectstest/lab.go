// Package objectstest builds valid object sets for tests and benchmarks in
// any package.
package objectstest

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/objects"
)

// Namespace is the namespace of every object Lab builds.
const Namespace = "perouter-system"

// Lab returns the lab's Underlay (ASN 64514, leaves 192.168.11.1/AS 64512
// and 192.168.12.1/AS 64513, VTEPs from 100.65.0.0/24, NIC toswitch) and
// nVNIs L3VNIs selecting every node: VRF "vrf<i>", VNI 100+i, a host
// session from AS 64514 to 64515 over 10.<100+i/256>.<i%256>.0/24. The
// result passes validate.Set, with defaults applied.
func Lab(nVNIs int) objects.Set {
	leafA, leafB := uint32(64512), uint32(64513)
	s := objects.Set{
		Underlays: []v1alpha1.Underlay{{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: objects.KindUnderlay},
			ObjectMeta: metav1.ObjectMeta{Name: "underlay", Namespace: Namespace},
			Spec: v1alpha1.UnderlaySpec{
				ASN:          64514,
				RouterIDCIDR: objects.DefaultRouterIDCIDR,
				Neighbors: []v1alpha1.Neighbor{
					{ASN: &leafA, Address: "192.168.11.1"},
					{ASN: &leafB, Address: "192.168.12.1"},
				},
				Interfaces:     []v1alpha1.UnderlayInterface{{Type: v1alpha1.InterfaceTypeNetworkDevice, NetworkDevice: &v1alpha1.NetworkDevice{InterfaceName: "toswitch"}}},
				TunnelEndpoint: &v1alpha1.TunnelEndpoint{CIDRs: []string{"100.65.0.0/24"}},
			},
		}},
	}
	for i := 0; i < nVNIs; i++ {
		s.L3VNIs = append(s.L3VNIs, L3VNI(i))
	}
	return s
}

// L3VNI returns the i-th L3VNI of Lab.
func L3VNI(i int) v1alpha1.L3VNI {
	hostASN := uint32(64515)
	return v1alpha1.L3VNI{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: objects.KindL3VNI},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vni-%d", i), Namespace: Namespace},
		Spec: v1alpha1.L3VNISpec{
			VRF:       fmt.Sprintf("vrf%d", i),
			VNI:       uint32(100 + i),
			VXLANPort: objects.DefaultVXLANPort,
			HostSession: &v1alpha1.HostSession{
				ASN:     64514,
				HostASN: &hostASN,
				LocalCIDR: v1alpha1.LocalCIDRConfig{
					IPv4: fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256),
				},
			},
		},
	}
}
