#!/bin/sh
# Kernel side of leafkind2 in the IPv6 lab: the IPv4 link to the spine;
# the links to the cluster nodes carry no address (unnumbered BGP over
# their IPv6 link-locals).
set -e
sysctl -qw net.ipv4.ip_forward=1
ip -batch - <<BATCH
addr add 192.168.1.7/31 dev eth1
link set eth1 up
BATCH
