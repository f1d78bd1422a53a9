// Package ipam derives a node's addresses from its index and the pools in
// the API objects. The formulas are the reference system's (OpenPERouter),
// so a cluster migrated from it keeps every address.
package ipam

import (
	"fmt"
	"net"
	"net/netip"
)

// Host returns the k-th address of pool's masked network (k = 0 is the
// network address). It refuses, rather than wraps, any k outside the pool,
// and refuses the IPv4 broadcast address of pools of /30 or larger, so a
// pool that is too small is an error naming the pool and k.
func Host(pool netip.Prefix, k int) (netip.Addr, error) {
	if !pool.IsValid() {
		return netip.Addr{}, fmt.Errorf("invalid pool %q", pool)
	}
	pool = pool.Masked()
	if k < 0 {
		return netip.Addr{}, fmt.Errorf("pool %s: negative offset %d", pool, k)
	}
	hostBits := pool.Addr().BitLen() - pool.Bits()
	if hostBits < 63 {
		usable := uint64(1) << hostBits
		if pool.Addr().Is4() && hostBits >= 2 {
			usable-- // the broadcast address
		}
		if uint64(k) >= usable {
			return netip.Addr{}, fmt.Errorf("pool %s is too small: no usable address at offset %d (usable: 0..%d)", pool, k, usable-1)
		}
	}
	// k < 2^63 fits in the host bits here, so adding with carry cannot
	// leave the pool.
	b := pool.Addr().AsSlice()
	carry := uint64(k)
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, nil
}

// VTEP is node index's tunnel endpoint: Host(pool, index) as a /32 or
// /128, so index 0 gets the network address, as in the reference.
func VTEP(pool netip.Prefix, index int) (netip.Prefix, error) {
	addr, err := Host(pool, index)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("VTEP pool %s, node index %d: %w", pool, index, err)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// RouterID is node index's BGP router-id: Host(pool, index+1). BGP
// router-ids are 32-bit, so the pool must be IPv4.
func RouterID(pool netip.Prefix, index int) (netip.Addr, error) {
	if !pool.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("router-id pool %s, node index %d: must be IPv4", pool, index)
	}
	addr, err := Host(pool, index+1)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("router-id pool %s, node index %d: %w", pool, index, err)
	}
	return addr, nil
}

// HostSession returns the two ends of the veth pair that carries a host
// session. The router side is the same on every node: Host(localCIDR, 1)
// when the network address ends in a zero byte (e.g. 192.169.10.0/24 →
// .1), else Host(localCIDR, 0) — the reference's rule. The host side takes
// the following addresses, one per node index. Both keep the localCIDR's
// prefix length.
func HostSession(localCIDR netip.Prefix, index int) (router, host netip.Prefix, err error) {
	if index < 0 {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("localCIDR %s: negative node index %d", localCIDR, index)
	}
	first := routerOffset(localCIDR)
	r, err := Host(localCIDR, first)
	if err != nil {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("localCIDR %s, router side: %w", localCIDR, err)
	}
	h, err := Host(localCIDR, first+1+index)
	if err != nil {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("localCIDR %s, node index %d: %w", localCIDR, index, err)
	}
	return netip.PrefixFrom(r, localCIDR.Bits()), netip.PrefixFrom(h, localCIDR.Bits()), nil
}

func routerOffset(localCIDR netip.Prefix) int {
	b := localCIDR.Masked().Addr().AsSlice()
	if len(b) > 0 && b[len(b)-1] == 0 {
		return 1
	}
	return 0
}

// MaxNodeIndex is the largest node index RouterMAC can tell apart.
const MaxNodeIndex = 1<<16 - 1

// RouterMAC is the MAC of an L3VNI's bridge (br-pe-<VNI>) on one node.
// FRR advertises it as the router MAC of EVPN type-5 routes, and remote
// VTEPs install it as an FDB entry pointing at this node, so it must
// differ between nodes: it carries the node index (modulo 2^16, see
// MaxNodeIndex) and the VNI, under a locally administered unicast prefix.
func RouterMAC(vni uint32, nodeIndex int) net.HardwareAddr {
	return net.HardwareAddr{0x02, byte(nodeIndex >> 8), byte(nodeIndex), byte(vni >> 16), byte(vni >> 8), byte(vni)}
}

// GatewayMAC is the distributed gateway MAC of an L2VNI: the same on every
// node, so hosts keep their ARP entry when they move. Its first byte (0x06)
// differs from RouterMAC's, so the two never collide.
func GatewayMAC(vni uint32) net.HardwareAddr {
	return net.HardwareAddr{0x06, 0x00, 0x00, byte(vni >> 16), byte(vni >> 8), byte(vni)}
}
