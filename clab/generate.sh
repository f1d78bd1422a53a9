#!/bin/bash
# Generates clab/{default,large}/*/frr.conf and setup.sh (the fabric of
# topologies/*.clab.yml). Edit here, run `clab/generate.sh`, commit the output.
set -e
root=$(cd "$(dirname "$0")" && pwd)
# hdr NAME [ipv6 forwarding|no ipv6 forwarding]
hdr() { printf 'frr version 8.4\nfrr defaults traditional\nhostname %s\n%s\nservice integrated-vtysh-config\n!\n' "$1" "${2:-no ipv6 forwarding}"; }

# spine NAME ASN ROUTERID "peerip:asn ..." DIR "iface:cidr ..."
spine() {
  local name=$1 asn=$2 rid=$3 peers=$4 dir=$5 ifaces=$6
  mkdir -p $dir
  { hdr $name
    echo "router bgp $asn"
    echo " bgp router-id $rid"
    echo " no bgp ebgp-requires-policy"
    echo " no bgp default ipv4-unicast"
    echo " bgp bestpath as-path multipath-relax"
    echo " neighbor fabric peer-group"
    echo " neighbor fabric timers 10 30"
    echo " neighbor fabric timers connect 2"
    for p in $peers; do echo " neighbor ${p%%:*} remote-as ${p##*:}"; echo " neighbor ${p%%:*} peer-group fabric"; done
    echo " !"
    echo " address-family ipv4 unicast"
    echo "  neighbor fabric activate"
    echo " exit-address-family"
    echo " !"
    echo " address-family l2vpn evpn"
    echo "  neighbor fabric activate"
    echo "  neighbor fabric attribute-unchanged next-hop"
    echo " exit-address-family"
    echo "exit"
    echo "!"
  } > $dir/frr.conf
  { echo "#!/bin/sh"
    echo "# Kernel side of $name: addresses and forwarding; FRR does the routing."
    echo "set -e"
    echo "sysctl -qw net.ipv4.ip_forward=1"
    echo "# One ip process for everything: each exec counts in the VM lane."
    echo "ip -batch - <<EOF"
    for i in $ifaces; do echo "addr add ${i##*:} dev ${i%%:*}"; echo "link set ${i%%:*} up"; done
    echo "EOF"
  } > $dir/setup.sh
}

# fabricleaf NAME VTEP "spinepeer ..." DIR "iface:cidr ..." "vrf:vni:table:iface:cidr:mac[:cidr6] ..." ["vni:iface ..."]
# cidr6, with '-' for ':' as in the MAC, makes the VRF dual-stack: the
# host-facing port gets that IPv6 address too, and the VRF's IPv6 subnets
# become type-5 routes (the default lab's red and blue).
# The last list is L2VNIs in the default VRF (no VRF device): a bridge
# joining the host-facing port and the VXLAN; advertise-all-vni picks the
# VNI up from the kernel, so FRR's config names none.
fabricleaf() {
  local name=$1 vtep=$2 peers=$3 dir=$4 ifaces=$5 vrfs=$6 l2s=${7:-}
  local v6=""
  for v in $vrfs; do IFS=: read vrf vni table ifc cidr mac cidr6 <<<"$v"; [ -n "$cidr6" ] && v6=1; done
  mkdir -p $dir
  { hdr $name "${v6:+ipv6 forwarding}"
    for v in $vrfs; do IFS=: read vrf vni table ifc cidr mac cidr6 <<<"$v"; echo "vrf $vrf"; echo " vni $vni"; echo "exit-vrf"; echo "!"; done
    echo "router bgp 64520"
    echo " bgp router-id $vtep"
    echo " no bgp ebgp-requires-policy"
    echo " no bgp default ipv4-unicast"
    echo " bgp bestpath as-path multipath-relax"
    echo " neighbor spines peer-group"
    echo " neighbor spines remote-as 64612"
    echo " neighbor spines timers 10 30"
    echo " neighbor spines timers connect 2"
    for p in $peers; do echo " neighbor $p peer-group spines"; done
    echo " !"
    echo " address-family ipv4 unicast"
    echo "  network $vtep/32"
    echo "  neighbor spines activate"
    echo "  ! Both fabric leaves share AS 64520: accept each other's routes."
    echo "  neighbor spines allowas-in"
    echo " exit-address-family"
    echo " !"
    echo " address-family l2vpn evpn"
    echo "  neighbor spines activate"
    echo "  neighbor spines allowas-in"
    echo "  advertise-all-vni"
    echo " exit-address-family"
    echo "exit"
    echo "!"
    for v in $vrfs; do IFS=: read vrf vni table ifc cidr mac cidr6 <<<"$v"
      echo "router bgp 64520 vrf $vrf"
      echo " bgp router-id $vtep"
      echo " no bgp ebgp-requires-policy"
      echo " !"
      echo " address-family ipv4 unicast"
      echo "  redistribute connected"
      echo " exit-address-family"
      echo " !"
      if [ -n "$cidr6" ]; then
        echo " ! Dual-stack: the hosts' IPv6 subnets become type-5 routes too."
        echo " address-family ipv6 unicast"
        echo "  redistribute connected"
        echo " exit-address-family"
        echo " !"
      fi
      echo " address-family l2vpn evpn"
      echo "  advertise ipv4 unicast"
      [ -n "$cidr6" ] && echo "  advertise ipv6 unicast"
      echo " exit-address-family"
      echo "exit"
      echo "!"
    done
  } > $dir/frr.conf
  { echo "#!/bin/sh"
    if [ -n "$vrfs" ]; then
      echo "# Kernel side of $name: underlay addresses, the VTEP on lo, and per VRF"
      echo "# a VRF device, the host-facing port${v6:+ (dual-stack)}, and an L3VNI bridge + VXLAN."
    else
      echo "# Kernel side of $name: underlay addresses, the VTEP on lo, and per L2VNI"
      echo "# a bridge in the default VRF joining the host-facing port and the VXLAN."
      echo "# No VRF device: this leaf runs on kernels without VRF support."
    fi
    echo "set -e"
    echo "sysctl -qw net.ipv4.ip_forward=1"
    echo "sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1"
    [ -n "$v6" ] && echo "sysctl -qw net.ipv6.conf.all.forwarding=1"
    echo "# One ip process for everything: each exec counts in the VM lane."
    echo "ip -batch - <<EOF"
    echo "addr add $vtep/32 dev lo"
    for i in $ifaces; do echo "addr add ${i##*:} dev ${i%%:*}"; echo "link set ${i%%:*} up"; done
    for v in $vrfs; do IFS=: read vrf vni table ifc cidr mac cidr6 <<<"$v"
      echo "# VRF $vrf, L3VNI $vni"
      echo "link add $vrf type vrf table $table"
      echo "link set $vrf up"
      echo "link set $ifc master $vrf"
      echo "addr add $cidr dev $ifc"
      [ -n "$cidr6" ] && echo "addr add ${cidr6//-/:} dev $ifc nodad"
      echo "link set $ifc up"
      echo "link add br$vni address ${mac//-/:} type bridge"
      echo "link set br$vni master $vrf addrgenmode none"
      echo "link add vni$vni type vxlan local $vtep dstport 4789 id $vni nolearning"
      echo "link set vni$vni master br$vni addrgenmode none"
      echo "link set vni$vni type bridge_slave neigh_suppress on learning off"
      echo "link set vni$vni up"
      echo "link set br$vni up"
    done
    for v in $l2s; do IFS=: read vni ifc <<<"$v"
      echo "# L2VNI $vni, bridged only"
      echo "link add br$vni type bridge"
      echo "link set br$vni addrgenmode none"
      echo "link add vni$vni type vxlan local $vtep dstport 4789 id $vni nolearning"
      echo "link set vni$vni master br$vni addrgenmode none"
      echo "link set vni$vni type bridge_slave neigh_suppress on learning off"
      echo "link set $ifc master br$vni"
      echo "link set $ifc up"
      echo "link set vni$vni up"
      echo "link set br$vni up"
    done
    echo "EOF"
  } > $dir/setup.sh
}

# nodeleaf NAME ASN RID "spinepeer ..." DIR "iface:cidr ..." LISTENRANGE "node host numbers"
nodeleaf() {
  local name=$1 asn=$2 rid=$3 peers=$4 dir=$5 ifaces=$6 range=$7 nodes=$8
  mkdir -p $dir
  { hdr $name
    echo "router bgp $asn"
    echo " bgp router-id $rid"
    echo " no bgp ebgp-requires-policy"
    echo " no bgp default ipv4-unicast"
    echo " bgp bestpath as-path multipath-relax"
    echo " neighbor spines peer-group"
    echo " neighbor spines remote-as 64612"
    echo " neighbor spines timers 10 30"
    echo " neighbor spines timers connect 2"
    for p in $peers; do echo " neighbor $p peer-group spines"; done
    echo " ! The cluster nodes' routers (AS 64514) connect from the switch segment."
    echo " neighbor nodes peer-group"
    echo " neighbor nodes remote-as 64514"
    echo " neighbor nodes timers 10 30"
    echo " neighbor nodes timers connect 2"
    echo " ! The lab's nodes by address, the listen range for any other: while a"
    echo " ! node restarts with graceful restart, FRR 10.7 keeps a dynamic peer"
    echo " ! and refuses the node's new connection (\"not fully closed down yet\")"
    echo " ! until its restart timer (120 s) ends, and never connects out to it."
    echo " ! A configured peer reconnects in seconds (TestGracefulRestartKeeps-"
    echo " ! EVPNRoutesInRealFRR in operator/frr)."
    for n in $nodes; do echo " neighbor ${range%.0/24}.$n peer-group nodes"; done
    echo " bgp listen range $range peer-group nodes"
    echo " !"
    echo " address-family ipv4 unicast"
    echo "  neighbor spines activate"
    echo "  neighbor nodes activate"
    echo " exit-address-family"
    echo " !"
    echo " address-family l2vpn evpn"
    echo "  neighbor spines activate"
    echo "  neighbor spines attribute-unchanged next-hop"
    echo "  neighbor nodes activate"
    echo "  neighbor nodes attribute-unchanged next-hop"
    echo " exit-address-family"
    echo "exit"
    echo "!"
  } > $dir/frr.conf
  { echo "#!/bin/sh"
    echo "# Kernel side of $name: underlay addresses and forwarding."
    echo "set -e"
    echo "sysctl -qw net.ipv4.ip_forward=1"
    echo "# One ip process for everything: each exec counts in the VM lane."
    echo "ip -batch - <<EOF"
    for i in $ifaces; do echo "addr add ${i##*:} dev ${i%%:*}"; echo "link set ${i%%:*} up"; done
    echo "EOF"
  } > $dir/setup.sh
}

# ---- default: 1 spine ----
d=$root/default
spine spine 64612 10.255.0.1 "192.168.1.1:64520 192.168.1.3:64520 192.168.1.5:64512 192.168.1.7:64513" $d/spine \
  "eth1:192.168.1.0/31 eth2:192.168.1.2/31 eth3:192.168.1.4/31 eth4:192.168.1.6/31"
fabricleaf leafA 100.64.0.1 "192.168.1.0" $d/leafA "eth1:192.168.1.1/31" \
  "red:100:1100:ethred:192.168.20.1/24:02-00-64-00-01-64:2001-db8-20--1/64 blue:200:1200:ethblue:192.168.21.1/24:02-00-64-00-01-c8:2001-db8-21--1/64"
fabricleaf leafB 100.64.0.2 "192.168.1.2" $d/leafB "eth1:192.168.1.3/31" \
  "red:100:1100:ethred:192.168.22.1/24:02-00-64-00-02-64:2001-db8-22--1/64 blue:200:1200:ethblue:192.168.23.1/24:02-00-64-00-02-c8:2001-db8-23--1/64"
nodeleaf leafkind1 64512 192.168.1.5 "192.168.1.4" $d/leafkind1 "eth1:192.168.1.5/31 toswitch:192.168.11.1/24" 192.168.11.0/24 "3 4 5"
nodeleaf leafkind2 64513 192.168.1.7 "192.168.1.6" $d/leafkind2 "eth1:192.168.1.7/31 toswitch:192.168.12.1/24" 192.168.12.0/24 "3 4 5"

# ---- large: 2 spines ----
l=$root/large
spine spine1 64612 10.255.0.1 "192.168.1.1:64520 192.168.1.3:64520 192.168.1.5:64512 192.168.1.7:64513" $l/spine1 \
  "eth1:192.168.1.0/31 eth2:192.168.1.2/31 eth3:192.168.1.4/31 eth4:192.168.1.6/31"
spine spine2 64612 10.255.0.2 "192.168.2.1:64520 192.168.2.3:64520 192.168.2.5:64512 192.168.2.7:64513" $l/spine2 \
  "eth1:192.168.2.0/31 eth2:192.168.2.2/31 eth3:192.168.2.4/31 eth4:192.168.2.6/31"
fabricleaf leafA 100.64.0.1 "192.168.1.0 192.168.2.0" $l/leafA "eth1:192.168.1.1/31 eth2:192.168.2.1/31" \
  "red:100:1100:ethred:192.168.20.1/24:02-00-64-00-01-64 blue:200:1200:ethblue:192.168.21.1/24:02-00-64-00-01-c8"
fabricleaf leafB 100.64.0.2 "192.168.1.2 192.168.2.2" $l/leafB "eth1:192.168.1.3/31 eth2:192.168.2.3/31" \
  "red:100:1100:ethred:192.168.22.1/24:02-00-64-00-02-64 blue:200:1200:ethblue:192.168.23.1/24:02-00-64-00-02-c8"
nodeleaf leafkind1 64512 192.168.1.5 "192.168.1.4 192.168.2.4" $l/leafkind1 "eth1:192.168.1.5/31 eth2:192.168.2.5/31 toswitch:192.168.11.1/24" 192.168.11.0/24 "3 4 5 6 7"
nodeleaf leafkind2 64513 192.168.1.7 "192.168.1.6 192.168.2.6" $l/leafkind2 "eth1:192.168.1.7/31 eth2:192.168.2.7/31 toswitch:192.168.12.1/24" 192.168.12.0/24 "3 4 5 6 7"
# ---- l2: the default fabric with one L2VNI (110) on the fabric leaves
# instead of VRFs; spine and node-facing leaves are default's ----
fabricleaf leafA 100.64.0.1 "192.168.1.0" $root/l2/leafA "eth1:192.168.1.1/31" "" "110:ethl2"
fabricleaf leafB 100.64.0.2 "192.168.1.2" $root/l2/leafB "eth1:192.168.1.3/31" "" "110:ethl2"
chmod +x $root/*/*/setup.sh
