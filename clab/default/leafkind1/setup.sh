#!/bin/sh
# Kernel side of leafkind1: underlay addresses and forwarding.
set -e
sysctl -qw net.ipv4.ip_forward=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<EOF
addr add 192.168.1.5/31 dev eth1
link set eth1 up
addr add 192.168.11.1/24 dev toswitch
link set toswitch up
EOF
