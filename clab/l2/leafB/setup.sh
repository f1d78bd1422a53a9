#!/bin/sh
# Kernel side of leafB: underlay addresses, the VTEP on lo, and per L2VNI
# a bridge in the default VRF joining the host-facing port and the VXLAN.
# No VRF device: this leaf runs on kernels without VRF support.
set -e
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1
# One ip process for everything: each exec counts in the VM lane.
ip -batch - <<EOF
addr add 100.64.0.2/32 dev lo
addr add 192.168.1.3/31 dev eth1
link set eth1 up
# L2VNI 110, bridged only
link add br110 type bridge
link set br110 addrgenmode none
link add vni110 type vxlan local 100.64.0.2 dstport 4789 id 110 nolearning
link set vni110 master br110 addrgenmode none
link set vni110 type bridge_slave neigh_suppress on learning off
link set ethl2 master br110
link set ethl2 up
link set vni110 up
link set br110 up
EOF
