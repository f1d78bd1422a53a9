# Shared by the fabric scripts that runFabricScript runs (sourced, not run):
# bare FRR instances (zebra, bgpd, staticd), one per network namespace, each
# with its own vty socket directory under WORK, so no /etc/frr is needed.
# The caller runs as PID 1 of new network, PID and mount namespaces, so the
# tmpfs mounts, the namespaces and every daemon go away when it exits.

# fabric_init: loopback up, private tmpfs for FRR's run directories and
# for /run/netns, so `ip netns add` names stay inside this mount namespace.
fabric_init() {
	ip link set lo up
	for d in /var/tmp/frr /var/run/frr /run/netns; do
		mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d || exit 3
	done
	chown frr:frr /var/tmp/frr /var/run/frr
}

# fabric_start_frr WORK SCRIPTNAME NS...: starts the daemons of every
# namespace NS (state in WORK/NS), waits for their vty sockets (10 s each),
# then loads WORK/NS.conf through vtysh and prints the lines it refused,
# prefixed with NS.
fabric_start_frr() {
	w=$1 who=$2
	shift 2
	for n in "$@"; do
		dir=$w/$n
		mkdir -p $dir && chown frr:frr $dir || exit 3
		for d in zebra bgpd staticd; do
			ip netns exec $n /usr/lib/frr/$d -N $n --vty_socket $dir -i $dir/$d.pid -P 0 \
				--log file:$dir/$d.log -z $dir/zserv.api -f /dev/null -d >/dev/null 2>&1 || exit 3
		done
	done
	for n in "$@"; do
		for d in zebra bgpd staticd; do
			i=0
			until [ -S $w/$n/$d.vty ]; do
				i=$((i + 1))
				[ $i -gt 500 ] && echo "$who: $n $d did not start" && exit 3
				sleep 0.02
			done
		done
		vtysh --vty_socket $w/$n -f $w/$n.conf 2>&1 | grep '%' | sed "s/^/$n: /"
	done
}

# fabric_learnt WORK NS PREFIX: NS's zebra has PREFIX from BGP.
fabric_learnt() {
	vtysh --vty_socket $1/$2 -c "show ip route $3" | grep -q 'Known via "bgp"'
}
