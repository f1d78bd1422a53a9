#!/bin/sh
# Kernel side of leafkind1 in the IPv6 lab: the IPv4 link to the spine,
# and the nodes' links bridged with port isolation (a private VLAN), the
# leaf fd00:11::1/64 on the bridge (the address every node's Underlay
# names). Why a bridge: FRR derives the interface of a peer's link-local
# next hop from the session's local address, so that address must sit on
# one interface (on three point-to-point links every node's VTEP was
# routed out of the first). Why isolated ports: a node's router installs
# IPv4 routes via 169.254.0.1 and takes the MAC behind it from the last
# router advertisement heard on the link, and the nodes send some too;
# they must hear only the leaf's. nodad: the sessions start at once.
set -e
sysctl -qw net.ipv4.ip_forward=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<BATCH
addr add 192.168.1.5/31 dev eth1
link set eth1 up
link add tonodes type bridge
link set lk1-cp master tonodes
link set lk1-w1 master tonodes
link set lk1-w2 master tonodes
link set lk1-cp type bridge_slave isolated on
link set lk1-w1 type bridge_slave isolated on
link set lk1-w2 type bridge_slave isolated on
addr add fd00:11::1/64 dev tonodes nodad
link set tonodes up
BATCH
