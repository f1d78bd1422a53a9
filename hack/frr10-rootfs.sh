#!/usr/bin/env bash
# Builds (once) a Debian trixie root file system with FRR 10 into the cache,
# so the FRR renderer's goldens are proven on the FRR that router images ship
# as well as on bookworm's 8.4. Prints the root's path on stdout; progress on
# stderr. Uses the Debian mirror the system's apt sources already use.
set -euo pipefail
cache=${PEROUTER_CACHE:-$HOME/.cache/perouter}
root=$cache/frr10-rootfs
if [ -x "$root/usr/bin/vtysh" ] && [ -f "$root/.perouter-ready" ]; then
	echo "$root"; exit 0
fi
command -v debootstrap >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	grep -v security | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//' | awk '{print $1}' | grep -m1 /debian || true)
[ -n "$mirror" ] || { echo "frr10-rootfs: no Debian mirror in the system's apt sources" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.frr10-rootfs.lock"; flock 9
[ -f "$root/.perouter-ready" ] && { echo "$root"; exit 0; }
rm -rf "$root.tmp"
echo "frr10-rootfs: debootstrap trixie from $mirror (a few minutes, once)" >&2
debootstrap --variant=minbase trixie "$root.tmp" "$mirror" >&2
# Nothing may start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"; chmod +x "$root.tmp/usr/sbin/policy-rc.d"
chroot "$root.tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends frr >&2
chroot "$root.tmp" apt-get clean
touch "$root.tmp/.perouter-ready"
rm -rf "$root"; mv "$root.tmp" "$root"
echo "$root"
