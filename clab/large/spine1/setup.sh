#!/bin/sh
# Kernel side of spine1: addresses and forwarding; FRR does the routing.
set -e
sysctl -qw net.ipv4.ip_forward=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<EOF
addr add 192.168.1.0/31 dev eth1
link set eth1 up
addr add 192.168.1.2/31 dev eth2
link set eth2 up
addr add 192.168.1.4/31 dev eth3
link set eth3 up
addr add 192.168.1.6/31 dev eth4
link set eth4 up
EOF
