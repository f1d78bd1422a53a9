#!/usr/bin/env bash
# Measures issue 6's performance targets and prints one table
# (metric, N, median, p90, target, result); see docs/performance.md.
#
#   hack/perf.sh [perfreport flags...]      e.g. hack/perf.sh --vnis 100 --rounds 5
#
# Needs root and Debian's FRR (apt-get install -y frr frr-pythontools): the
# reload path starts real FRR daemons in a throwaway network namespace.
# PERF_HOSTNET=1 also runs operator/hostnet's datapath benchmarks in the
# kernel lane (hack/test-kernel.sh: natively with VRF, else in a QEMU VM)
# and adds their rows; PERF_HOSTNET_BENCH=FILE reuses an earlier output.
# The controller's RSS is measured (real kube-apiserver + etcd and the
# controller binary, all inside a throwaway network namespace) when the
# Kubernetes test binaries are cached (hack/build-k8s-assets.sh); PERF_RSS=0
# skips it.
# PERF_OUT (default _out/perf) keeps the table and the benchmark output.
# Exit status: 0 all targets met within the noise margin, 1 a target missed,
# 2 the measurement itself failed.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${PERF_OUT:-_out/perf}
mkdir -p "$OUT"
log() { echo "perf: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "needs root (network namespaces, FRR daemons); run: sudo $0 $*"
	exit 2
fi
for f in /usr/lib/frr/zebra /usr/bin/vtysh /usr/lib/frr/frr-reload.py; do
	if [ ! -e "$f" ]; then
		log "FRR is not installed ($f missing): apt-get install -y frr frr-pythontools"
		exit 2
	fi
done

go build -o "$OUT/perfreport" ./cmd/perfreport

hostnet_flags=()
if [ -n "${PERF_HOSTNET_BENCH:-}" ]; then
	hostnet_flags=(--hostnet-bench "$PERF_HOSTNET_BENCH")
elif [ "${PERF_HOSTNET:-0}" = 1 ]; then
	log "datapath benchmarks in the kernel lane (slow under TCG)"
	lane="VM lane, TCG"
	if ip link add perf-vrf-probe type vrf table 4242 2>/dev/null; then
		ip link del perf-vrf-probe
		lane=native
	fi
	if TESTFLAGS='-test.run=^$ -test.bench=. -test.benchtime=3x' hack/test-kernel.sh ./operator/hostnet >"$OUT/hostnet-bench.txt" 2>&1; then
		hostnet_flags=(--hostnet-bench "$OUT/hostnet-bench.txt" --hostnet-lane "$lane")
	else
		log "hostnet benchmarks failed, see $OUT/hostnet-bench.txt; their rows stay unmeasured"
	fi
fi

rss_flags=()
assets=${KUBEBUILDER_ASSETS:-${PEROUTER_CACHE:-$HOME/.cache/perouter}/k8s/v1.37.2}
if [ "${PERF_RSS:-1}" = 1 ]; then
	if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
		go build -o "$OUT/controller" ./cmd/controller
		rss_flags=(--controller "$OUT/controller")
	else
		log "no kube-apiserver/etcd in $assets (hack/build-k8s-assets.sh): controller RSS not measured"
	fi
fi

status=0
"$OUT/perfreport" "${hostnet_flags[@]}" "${rss_flags[@]}" "$@" | tee "$OUT/table.txt" || status=${PIPESTATUS[0]}
log "table saved in $OUT/table.txt"
exit "$status"
