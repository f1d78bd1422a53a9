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

# fabric_daemons: the daemons an instance runs (FRR 10 routes zebra's and
# staticd's configuration through mgmtd, which must start first), and each
# one's options (FRR 10 dropped -f from the daemons mgmtd configures).
fabric_daemons() {
	[ -x /usr/lib/frr/mgmtd ] && echo mgmtd
	echo zebra bgpd staticd
}

# fabric_start_daemons WORK NS: starts NS's daemons (state in WORK/NS) and
# waits for their vty sockets (10 s each). $zebra_opts_NS, when set, goes
# on zebra's command line.
fabric_start_daemons() {
	dir=$1/$2
	mkdir -p $dir /var/run/frr/$2 && chown frr:frr $dir /var/run/frr/$2 || exit 3
	for d in $(fabric_daemons); do
		opts=
		/usr/lib/frr/$d --help 2>&1 | grep -q -- --config_file && opts="-f /dev/null"
		[ $d != mgmtd ] && opts="$opts -z $dir/zserv.api"
		# zebra_opts_NS: more options for NS's zebra (set by the caller).
		[ $d = zebra ] && eval "opts=\"\$opts \${zebra_opts_$2:-}\""
		rm -f $dir/$d.vty
		ip netns exec $2 /usr/lib/frr/$d -N $2 --vty_socket $dir -i $dir/$d.pid -P 0 \
			--log file:$dir/$d.log $opts -d >/dev/null 2>&1 || exit 3
		i=0
		until [ -S $dir/$d.vty ]; do
			i=$((i + 1))
			[ $i -gt 500 ] && echo "fabric: $2 $d did not start" && exit 3
			sleep 0.02
		done
	done
}

# fabric_start_frr WORK SCRIPTNAME NS...: starts the daemons of every
# namespace NS, then loads WORK/NS.conf through vtysh and prints the lines
# it refused, prefixed with NS.
fabric_start_frr() {
	w=$1
	shift 2
	for n in "$@"; do
		fabric_start_daemons $w $n
	done
	for n in "$@"; do
		vtysh --vty_socket $w/$n -f $w/$n.conf 2>&1 | grep '%' | sed "s/^/$n: /"
	done
}

# fabric_learnt WORK NS PREFIX: NS's zebra has PREFIX from BGP.
fabric_learnt() {
	vtysh --vty_socket $1/$2 -c "show ip route $3" | grep -q 'Known via "bgp"'
}
