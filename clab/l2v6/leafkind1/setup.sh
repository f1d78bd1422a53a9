#!/bin/sh
# Kernel side of leafkind1 in the IPv6 lab: the IPv4 link to the spine,
# and one IPv6 point-to-point link per cluster node, the leaf fd00:11::1
# on each (the address every node's Underlay names), the node's address
# as the peer. nodad: the sessions start at once.
set -e
sysctl -qw net.ipv4.ip_forward=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<BATCH
addr add 192.168.1.5/31 dev eth1
link set eth1 up
addr add fd00:11::1/128 peer fd00:11::3/128 dev lk1-cp nodad
addr add fd00:11::1/128 peer fd00:11::4/128 dev lk1-w1 nodad
addr add fd00:11::1/128 peer fd00:11::5/128 dev lk1-w2 nodad
BATCH
