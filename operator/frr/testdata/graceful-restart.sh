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
# Addresses: leaf 192.168.11.2, node 192.168.11.3, pe 192.168.11.4 on
# "toswitch"; VTEPs 100.65.0.1 (node, node.conf) and 100.65.0.2 (pe,
# pe.conf) on lo; VXLAN 110 on both, each with a workload (10.110.0.3 on
# the node, 10.110.0.4 on pe) whose MAC is static on the bridge, so each
# originates an EVPN type-3 and a type-2 route. pe's workload pings the
# node's at 20/s from before the kill until 3 s after the session is back.
set -u
W=$1
. "$(dirname "$0")/fabric-lib.sh"
fabric_init
echo "=== version"
/usr/lib/frr/bgpd --version 2>&1 | head -1
echo "=== setup"
ip link add sw type bridge && ip link set sw up || exit 3
i=2
for n in leaf node pe; do
	ip netns add $n
	ip link add $n-sw type veth peer name toswitch netns $n
	ip link set $n-sw master sw up
	ip -n $n link set lo up
	ip -n $n link set toswitch up
	ip -n $n addr add 192.168.11.$i/24 dev toswitch
	i=$((i + 1))
done
ip netns exec leaf sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
# node (VTEP 100.65.0.1) and pe (100.65.0.2, a second PE of the fabric)
# each bridge VXLAN 110 to a workload in its own namespace (wln, wlp).
vtep=1
for n in node pe; do
	ip -n $n addr add 100.65.0.$vtep/32 dev lo
	ip -n $n link add br110 type bridge
	ip -n $n link set br110 up
	ip -n $n link add vni110 type vxlan id 110 local 100.65.0.$vtep dstport 4789 nolearning
	ip -n $n link set vni110 master br110 up
	ip netns add wl$n
	ip -n $n link add host110 type veth peer name eth0 netns wl$n
	ip -n $n link set host110 master br110 up
	ip -n wl$n link set lo up
	ip -n wl$n link set eth0 address 02:00:00:00:0$vtep:10
	ip -n wl$n addr add 10.110.0.$((vtep + 2))/24 dev eth0
	ip -n wl$n link set eth0 up
	bridge -n $n fdb add 02:00:00:00:0$vtep:10 dev host110 master static
	vtep=$((vtep + 1))
done
# The node's zebra keeps its routes over a restart, as in the router pod
# (operator/config/router/daemonset.yaml).
zebra_opts_node=--graceful_restart=120

leaf_sees() { # leaf has the node's type-2 and type-3 routes
	out=$(vtysh --vty_socket $W/leaf -c 'show bgp l2vpn evpn route' 2>/dev/null)
	echo "$out" | grep -q '\[2\]:\[0\]:\[48\]:\[02:00:00:00:01:10\]' && echo "$out" | grep -q '\[3\]:\[0\]:\[32\]:\[100.65.0.1\]'
}
node_state() { # the leaf's view of the node's session
	vtysh --vty_socket $W/leaf -c 'show bgp neighbors 192.168.11.3 json' 2>/dev/null | tr -d ' \n' | sed -n 's/.*"bgpState":"\([A-Za-z]*\)".*/\1/p'
}

fabric_start_frr $W graceful-restart leaf node pe
# Bounded waits (the test judges the printed state, not these loops).
end=$(($(date +%s) + 60))
until leaf_sees; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.2
done
end=$(($(date +%s) + 60))
until ip netns exec wlpe ping -c 1 -W 1 10.110.0.3 >/dev/null 2>&1; do
	[ $(date +%s) -gt $end ] && break
done
echo "=== before"
vtysh --vty_socket $W/leaf -c 'show bgp l2vpn evpn route' -c 'show bgp ipv4 unicast 100.65.0.1/32'
# pe's workload pings the node's, 20/s, through the kill and the restart.
ip netns exec wlpe ping -i 0.05 -W 1 10.110.0.3 >$W/ping.out 2>&1 &
ping=$!
sleep 1
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
# Pings go on a while after the session is back (the routes are refreshed
# then: a gap would show here).
sleep 3
kill -INT $ping
wait $ping
echo "=== ping"
# Lost: the sequence numbers without a reply up to the last answered one
# (the request in flight when ping is stopped is no loss).
awk -F 'icmp_seq=' '/bytes from/ { split($2, a, " "); seen[a[1]] = 1; if (a[1] + 0 > max) max = a[1] + 0 }
	END { n = 0; l = ""; for (i = 1; i <= max; i++) if (!(i in seen)) { n++; l = l " " i }; print "answered up to " max ", missing " n ":" l }' $W/ping.out
tail -2 $W/ping.out
echo "=== leaf log"
cat $W/leaf/bgpd.log
echo "=== node log"
cat $W/node/bgpd.log
echo "=== end"
