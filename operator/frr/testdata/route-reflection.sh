#!/bin/sh
# Runs three FRR instances (zebra, bgpd, staticd) with the configs rendered
# for a route reflector (rr) and two of its clients (c1, c2), each in its
# own network namespace on one bridge, and prints what c2 learnt through
# rr. Run it as PID 1 of new network, PID and mount namespaces (unshare
# --net --pid --mount --fork --kill-child): nothing leaves them, and the
# kernel kills every daemon when the script exits.
# Usage: route-reflection.sh WORK   (WORK holds rr.conf, c1.conf, c2.conf)
# Addresses: rr 192.168.11.10, c1 .11, c2 .12 on "toswitch"; VTEPs
# 100.65.0.0/.1/.2 on lo (node indices 0, 1, 2); VXLAN 110 on c1 and c2 so
# that they originate EVPN type-3 routes.
set -u
W=$1
ip link set lo up
for d in /var/tmp/frr /var/run/frr /run/netns; do
	mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d || exit 3
done
chown frr:frr /var/tmp/frr /var/run/frr
ip link add sw type bridge && ip link set sw up || exit 3
i=0
for n in rr c1 c2; do
	ip netns add $n
	ip link add $n-sw type veth peer name toswitch netns $n
	ip link set $n-sw master sw up
	ip -n $n link set lo up
	ip -n $n link set toswitch up
	ip -n $n addr add 192.168.11.$((10 + i))/24 dev toswitch
	ip -n $n addr add 100.65.0.$i/32 dev lo
	ip netns exec $n sysctl -qw net.ipv4.ip_forward=1
	if [ $n != rr ]; then
		ip -n $n link add br110 type bridge
		ip -n $n link set br110 up
		ip -n $n link add vni110 type vxlan id 110 local 100.65.0.$i dstport 4789 nolearning
		ip -n $n link set vni110 master br110 up
	fi
	i=$((i + 1))
done
for n in rr c1 c2; do
	dir=$W/$n
	mkdir -p $dir && chown frr:frr $dir || exit 3
	for d in zebra bgpd staticd; do
		ip netns exec $n /usr/lib/frr/$d -N $n --vty_socket $dir -i $dir/$d.pid -P 0 \
			--log file:$dir/$d.log -z $dir/zserv.api -f /dev/null -d >/dev/null 2>&1 || exit 3
	done
done
for n in rr c1 c2; do
	for d in zebra bgpd staticd; do
		i=0
		until [ -S $W/$n/$d.vty ]; do
			i=$((i + 1))
			[ $i -gt 500 ] && echo "route-reflection: $n $d did not start" && exit 3
			sleep 0.02
		done
	done
	vtysh --vty_socket $W/$n -f $W/$n.conf 2>&1 | grep '%' | sed "s/^/$n: /"
done
# Bounded wait for convergence (the test judges the result, not this loop):
# c2 has c1's VTEP and c1 has c2's, or 60 s passed.
end=$(($(date +%s) + 60))
until vtysh --vty_socket $W/c2 -c 'show ip route 100.65.0.1/32' | grep -q 'Known via "bgp"' &&
	vtysh --vty_socket $W/c1 -c 'show ip route 100.65.0.2/32' | grep -q 'Known via "bgp"'; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.2
done
echo "=== c2 ipv4"
vtysh --vty_socket $W/c2 -c 'show bgp ipv4 unicast 100.65.0.1/32 json'
echo "=== c2 evpn"
vtysh --vty_socket $W/c2 -c 'show bgp l2vpn evpn route type multicast json'
echo "=== ping"
ip netns exec c2 ping -c 1 -W 2 -I 100.65.0.2 100.65.0.1 >/dev/null && echo "ping ok"
echo "=== end"
