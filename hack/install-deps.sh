#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need. Idempotent: does
# nothing when everything is present. Run as root on Debian/Ubuntu.
set -euo pipefail

pkgs=(frr frr-pythontools qemu-system-x86 busybox-static iproute2 kmod cpio zstd xz-utils
      iputils-ping netcat-openbsd curl ca-certificates debootstrap util-linux
      gcc libseccomp-dev containernetworking-plugins)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package enables FRR's own service; the lab and tests start
# their own daemons, so keep the system one out of the way.
if command -v systemctl >/dev/null && systemctl is-active --quiet frr 2>/dev/null; then
	systemctl stop frr || true
fi
command -v go >/dev/null || { echo "install-deps: Go toolchain not found (need go >= 1.26 on PATH)" >&2; exit 1; }
