#!/bin/sh
# Runs three FRR instances (zebra, bgpd, staticd), each in its own network
# namespace: the router (WORK/router.conf, the passthrough golden), a
# passthrough host behind its veth pe-pt (AS 64515, announcing
# 10.50.0.0/24) and a fabric leaf on "toswitch" (AS 64512, announcing
# 10.99.0.1/32), then prints what the leaf and the router learnt and pings
# the host's veth address from the leaf. Run it as PID 1 of new network,
# PID and mount namespaces (unshare --net --pid --mount --fork
# --kill-child). Usage: passthrough-fabric.sh WORK
set -u
W=$1
ip link set lo up
for d in /var/tmp/frr /var/run/frr /run/netns; do
	mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d || exit 3
done
chown frr:frr /var/tmp/frr /var/run/frr
for n in router host leaf; do
	ip netns add $n && ip -n $n link set lo up && ip netns exec $n sysctl -qw net.ipv4.ip_forward=1 || exit 3
done
ip -n router link add pe-pt type veth peer name host-pt netns host
ip -n router link add toswitch type veth peer name toswitch netns leaf
ip -n router addr add 192.169.20.1/24 dev pe-pt
ip -n host addr add 192.169.20.3/24 dev host-pt
ip -n router addr add 192.168.11.3/24 dev toswitch
ip -n leaf addr add 192.168.11.2/24 dev toswitch
ip -n router addr add 100.65.0.1/32 dev lo
ip -n host addr add 10.50.0.1/24 dev lo
ip -n leaf addr add 10.99.0.1/32 dev lo
for n in router host leaf; do
	for l in $(ip -n $n -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do ip -n $n link set $l up; done
done
cat >$W/host.conf <<'CONF'
router bgp 64515
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.169.20.1 remote-as 64514
 neighbor 192.169.20.1 timers connect 1
 address-family ipv4 unicast
  network 10.50.0.0/24
  neighbor 192.169.20.1 activate
 exit-address-family
exit
CONF
cat >$W/leaf.conf <<'CONF'
router bgp 64512
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.168.11.3 remote-as 64514
 neighbor 192.168.11.3 timers connect 1
 address-family ipv4 unicast
  network 10.99.0.1/32
  neighbor 192.168.11.3 activate
 exit-address-family
exit
CONF
for n in router host leaf; do
	dir=$W/$n
	mkdir -p $dir && chown frr:frr $dir || exit 3
	for d in zebra bgpd staticd; do
		ip netns exec $n /usr/lib/frr/$d -N $n --vty_socket $dir -i $dir/$d.pid -P 0 \
			--log file:$dir/$d.log -z $dir/zserv.api -f /dev/null -d >/dev/null 2>&1 || exit 3
	done
done
for n in router host leaf; do
	for d in zebra bgpd staticd; do
		i=0
		until [ -S $W/$n/$d.vty ]; do
			i=$((i + 1))
			[ $i -gt 500 ] && echo "passthrough-fabric: $n $d did not start" && exit 3
			sleep 0.02
		done
	done
	vtysh --vty_socket $W/$n -f $W/$n.conf 2>&1 | grep '%' | sed "s/^/$n: /"
done
# Bounded wait for convergence (the test judges the result, not this
# loop): the leaf has the host's prefix and the host has the leaf's, or
# 60 s passed.
end=$(($(date +%s) + 60))
until vtysh --vty_socket $W/leaf -c 'show ip route 10.50.0.0/24' | grep -q 'Known via "bgp"' &&
	vtysh --vty_socket $W/host -c 'show ip route 10.99.0.1/32' | grep -q 'Known via "bgp"'; do
	[ $(date +%s) -gt $end ] && break
	sleep 0.2
done
echo "=== leaf routes"
vtysh --vty_socket $W/leaf -c 'show ip route json'
echo "=== router host route"
vtysh --vty_socket $W/router -c 'show ip route 10.50.0.0/24 json'
echo "=== ping"
ip netns exec leaf ping -c 1 -W 2 -I 10.99.0.1 192.169.20.3 >/dev/null && echo "ping ok"
echo "=== end"
