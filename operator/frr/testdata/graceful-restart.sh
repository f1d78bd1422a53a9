#!/bin/sh
# Runs a node's rendered config (node.conf) and a lab leaf's (leaf.conf,
# the node-facing leaf of clab/default: a listen range for the nodes) in
# two FRR instances on one bridge, then SIGKILLs every daemon of the node
# (a crash or a router pod restart), prints what the leaf keeps of the
# node's routes, starts the node's daemons again and prints how long the
# session took to come back. Run it as PID 1 of new network, PID and mount
# namespaces (unshare --net --pid --mount --fork --kill-child), on the host
# or inside an FRR root file system (chroot).
# Usage: graceful-restart.sh WORK
# Addresses: leaf 192.168.11.2, node 192.168.11.3 on "toswitch"; node VTEP
# 100.65.0.1 on lo; VXLAN 110 on the node with a static MAC on its bridge,
# so that it originates an EVPN type-3 and a type-2 route.
set -u
W=$1
. "$(dirname "$0")/fabric-lib.sh"
fabric_init
echo "=== version"
/usr/lib/frr/bgpd --version 2>&1 | head -1
echo "=== setup"
ip link add sw type bridge && ip link set sw up || exit 3
i=2
for n in leaf node; do
	ip netns add $n
	ip link add $n-sw type veth peer name toswitch netns $n
	ip link set $n-sw master sw up
	ip -n $n link set lo up
	ip -n $n link set toswitch up
	ip -n $n addr add 192.168.11.$i/24 dev toswitch
	i=$((i + 1))
done
ip -n node addr add 100.65.0.1/32 dev lo
ip -n node link add br110 type bridge
ip -n node link set br110 up
ip -n node link add vni110 type vxlan id 110 local 100.65.0.1 dstport 4789 nolearning
ip -n node link set vni110 master br110 up
ip -n node link add host110 type veth peer name host110p
ip -n node link set host110 master br110 up
ip -n node link set host110p up
bridge -n node fdb add 02:00:00:00:01:10 dev host110 master static

leaf_sees() { # leaf has the node's type-2 and type-3 routes
	out=$(vtysh --vty_socket $W/leaf -c 'show bgp l2vpn evpn route' 2>/dev/null)
	echo "$out" | grep -q '\[2\]:\[0\]:\[48\]:\[02:00:00:00:01:10\]' && echo "$out" | grep -q '\[3\]:\[0\]:\[32\]:\[100.65.0.1\]'
}
node_state() { # the leaf's view of the node's session
	vtysh --vty_socket $W/leaf -c 'show bgp neighbors 192.168.11.3 json' 2>/dev/null | tr -d ' \n' | sed -n 's/.*"bgpState":"\([A-Za-z]*\)".*/\1/p'
}

fabric_start_frr $W graceful-restart leaf node
# Bounded waits (the test judges the printed state, not these loops).
end=$(($(date +%s) + 60))
until leaf_sees; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.2
done
echo "=== before"
vtysh --vty_socket $W/leaf -c 'show bgp l2vpn evpn route' -c 'show bgp ipv4 unicast 100.65.0.1/32'
for d in $(fabric_daemons); do
	kill -9 $(cat $W/node/$d.pid)
done
end=$(($(date +%s) + 30))
while [ "$(node_state)" = Established ]; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.1
done
# Without graceful restart the leaf withdraws at once; give it the time
# it took to do so in the runs without (well under a second).
sleep 3
echo "=== after kill"
vtysh --vty_socket $W/leaf -c 'show bgp l2vpn evpn route' -c 'show bgp ipv4 unicast 100.65.0.1/32'
echo "=== leaf's view"
vtysh --vty_socket $W/leaf -c 'show bgp neighbors 192.168.11.3'
start=$(date +%s)
fabric_start_frr $W graceful-restart node
end=$((start + 150))
until [ "$(node_state)" = Established ] && leaf_sees; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.2
done
echo "=== reconnect"
[ "$(node_state)" = Established ] && echo "established after $(($(date +%s) - start)) s"
echo "=== leaf log"
cat $W/leaf/bgpd.log
echo "=== node log"
cat $W/node/bgpd.log
echo "=== end"
