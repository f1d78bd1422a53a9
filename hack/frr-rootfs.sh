#!/usr/bin/env bash
# hack/frr-rootfs.sh SUITE [FRR_VERSION]
# Builds (once) a Debian root file system of SUITE with FRR into the cache, so
# the FRR renderer's goldens and the real-FRR tests run on the FRR that router
# images ship as well as on the host's. Prints the root's path on stdout;
# progress on stderr. Uses the Debian mirror the system's apt sources use.
#
# The one FRR-10 root the project uses is `forky` with FRR 10.7.1-6 (the
# version the router image installs, operator/images/recipe.go): FRR >= 10.6
# keeps a restarting peer's EVPN type-2/3 routes stale during graceful restart
# (8.4 and 10.3 withdraw them). FRR_VERSION pins the package; a mirror that no
# longer carries it fails the build by name instead of changing the FRR under
# test. testing's Release file carries a Valid-Until that a frozen mirror lets
# expire; the check is switched off for this build's apt calls only.
set -euo pipefail
suite=${1:?usage: hack/frr-rootfs.sh SUITE [FRR_VERSION], e.g. forky 10.7.1-6}
version=${2:-}
cache=${PEROUTER_CACHE:-$HOME/.cache/perouter}
root=$cache/frr-rootfs-$suite${version:+-$version}
if [ -x "$root/usr/bin/vtysh" ] && [ -f "$root/.perouter-ready" ]; then
	echo "$root"; exit 0
fi
command -v debootstrap >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	grep -v security | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//' | awk '{print $1}' | grep -m1 /debian || true)
[ -n "$mirror" ] || { echo "frr-rootfs: no Debian mirror in the system's apt sources" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.frr-rootfs-$suite.lock"; flock 9
[ -f "$root/.perouter-ready" ] && { echo "$root"; exit 0; }
rm -rf "$root.tmp"
echo "frr-rootfs: debootstrap $suite from $mirror (a few minutes, once)" >&2
# Debian's debootstrap knows a suite only from its next release on; a newer
# one (forky on bookworm) bootstraps like sid.
script=/usr/share/debootstrap/scripts/$suite
[ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
debootstrap --variant=minbase "$suite" "$root.tmp" "$mirror" "$script" >&2
# Nothing may start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"; chmod +x "$root.tmp/usr/sbin/policy-rc.d"
apt=(chroot "$root.tmp" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false)
"${apt[@]}" update -qq >&2
# iputils-ping: the graceful-restart test pings between workloads in it.
if ! "${apt[@]}" install -y -qq --no-install-recommends "frr${version:+=$version}" iputils-ping >&2; then
	echo "frr-rootfs: $suite on $mirror has no frr${version:+ $version} (apt-cache policy frr in $root.tmp shows what it has)" >&2
	exit 1
fi
"${apt[@]}" clean
touch "$root.tmp/.perouter-ready"
rm -rf "$root"; mv "$root.tmp" "$root"
echo "$root"
