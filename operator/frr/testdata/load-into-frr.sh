#!/bin/sh
# Loads FRR configs, each into its own freshly started zebra, bgpd, bfdd and
# staticd, six at a time, all inside one network namespace (creating and
# destroying a namespace per config costs ~1 s here). For config number N it
# writes ROOT/N/result: vtysh's complaints, a marker line, the running config.
# Run it as PID 1 of new network, PID and mount namespaces
# (unshare --net --pid --mount --fork --kill-child): no packet leaves the
# namespace (bgpd does not listen and its peers are unreachable), FRR's
# run and crash-log directories are private tmpfs, and when this script exits
# the kernel kills every daemon it started.
# Usage: load-into-frr.sh ROOT CONFIG...   (ROOT: an empty directory)
set -u
ROOT=$1
shift
ip link set lo up
# Inside a chroot (the FRR 10 lane) nothing is mounted yet.
[ -e /proc/self ] || mount -t proc proc /proc || exit 3
chown frr:frr "$ROOT" || exit 3
for d in /var/tmp/frr /var/run/frr; do
	mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d && chown frr:frr $d || exit 3
done

# FRR 10 dropped -f from the daemons that mgmtd configures, and bfdd's
# control socket; ask each daemon once which options it has.
supports() {
	/usr/lib/frr/$1 --help 2>&1 | grep -q -- "$2"
}
for d in mgmtd zebra bgpd bfdd staticd; do
	[ -x /usr/lib/frr/$d ] || continue
	opts=
	supports $d --config_file && opts="-f /dev/null"
	[ $d != mgmtd ] && opts="$opts -z @DIR@/zserv.api" # mgmtd does not talk to zebra
	supports $d --bfdctl && opts="$opts --bfdctl @DIR@/bfdd.sock"
	eval "opts_$d=\$opts"
done

start() {
	dir=$1
	d=$2
	shift 2
	eval "opts=\$opts_$d"
	opts=$(echo "$opts" | sed "s|@DIR@|$dir|g")
	# -N gives each instance its own /var/run/frr/NAME for the sockets not
	# moved by options (FRR 10's mgmtd backend socket).
	/usr/lib/frr/$d -N "${dir##*/}" --vty_socket "$dir" -i "$dir/$d.pid" -P 0 \
		--log "file:$dir/$d.log" $opts "$@" >"$dir/$d.out" 2>&1 &
}

# The vty socket appears once a daemon is ready; vtysh skips daemons
# without one, so wait for every socket before loading.
wait_ready() {
	dir=$1
	shift
	for d in "$@"; do
		i=0
		until [ -S "$dir/$d.vty" ]; do
			i=$((i + 1))
			if [ $i -gt 1000 ]; then
				echo "load-into-frr: $d did not start:"
				cat "$dir/$d.out" "$dir/$d.log" 2>/dev/null
				return 1
			fi
			sleep 0.01
		done
	done
}

load() {
	dir=$1
	config=$2
	mkdir -p "/var/run/frr/${dir##*/}" && chown frr:frr "/var/run/frr/${dir##*/}" || return
	# FRR 10 routes zebra's and staticd's configuration through mgmtd.
	if [ -x /usr/lib/frr/mgmtd ]; then
		start "$dir" mgmtd
		wait_ready "$dir" mgmtd || return
	fi
	start "$dir" zebra
	wait_ready "$dir" zebra || return
	start "$dir" bgpd -p 0
	start "$dir" bfdd
	start "$dir" staticd
	wait_ready "$dir" bgpd bfdd staticd || return
	vtysh --vty_socket "$dir" -f "$config" || echo "load-into-frr: vtysh exited with status $?"
	echo "=== running-config"
	vtysh --vty_socket "$dir" -c "show running-config"
	for d in staticd bfdd bgpd zebra mgmtd; do
		[ -f "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" 2>/dev/null
	done
}

n=0
for config in "$@"; do
	n=$((n + 1))
	mkdir "$ROOT/$n" && chown frr:frr "$ROOT/$n" || exit 3
	load "$ROOT/$n" "$config" >"$ROOT/$n/result" 2>&1 &
	if [ $((n % 6)) -eq 0 ]; then
		wait
	fi
done
wait
