#!/bin/sh
# Kernel side of leafB: underlay addresses, the VTEP on lo, and per VRF
# a VRF device, the host-facing port (dual-stack), and an L3VNI bridge + VXLAN.
set -e
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1
sysctl -qw net.ipv6.conf.all.forwarding=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<EOF
addr add 100.64.0.2/32 dev lo
addr add 192.168.1.3/31 dev eth1
link set eth1 up
# VRF red, L3VNI 100
link add red type vrf table 1100
link set red up
link set ethred master red
addr add 192.168.22.1/24 dev ethred
addr add 2001:db8:22::1/64 dev ethred nodad
link set ethred up
link add br100 address 02:00:64:00:02:64 type bridge
link set br100 master red addrgenmode none
link add vni100 type vxlan local 100.64.0.2 dstport 4789 id 100 nolearning
link set vni100 master br100 addrgenmode none
link set vni100 type bridge_slave neigh_suppress on learning off
link set vni100 up
link set br100 up
# VRF blue, L3VNI 200
link add blue type vrf table 1200
link set blue up
link set ethblue master blue
addr add 192.168.23.1/24 dev ethblue
addr add 2001:db8:23::1/64 dev ethblue nodad
link set ethblue up
link add br200 address 02:00:64:00:02:c8 type bridge
link set br200 master blue addrgenmode none
link add vni200 type vxlan local 100.64.0.2 dstport 4789 id 200 nolearning
link set vni200 master br200 addrgenmode none
link set vni200 type bridge_slave neigh_suppress on learning off
link set vni200 up
link set br200 up
EOF
