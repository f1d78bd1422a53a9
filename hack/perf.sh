#!/usr/bin/env bash
# Measures the performance targets of docs/performance.md and prints one table
# (metric, N, median, p90, target, result); see docs/performance.md.
#
#   hack/perf.sh [perfreport flags...]      e.g. hack/perf.sh --vnis 100 --rounds 5
#
# Needs root and Debian's FRR (apt-get install -y frr frr-pythontools): the
# reload path starts real FRR daemons in a throwaway network namespace.
# PERF_HOSTNET=1 also runs operator/hostnet's datapath benchmarks in the
# kernel lane (hack/test-kernel.sh: natively with VRF, else in a QEMU VM)
# and adds their rows; PERF_HOSTNET_BENCH=FILE reuses an earlier output.
# The controller's RSS is measured with 500 L3VNIs applied when the
# Kubernetes test binaries are cached (hack/build-k8s-assets.sh): with VRF
# in this kernel, kube-apiserver + etcd and the controller run in a
# throwaway network namespace; without it, the API server runs here and the
# controller, its reloader and FRR run in the VM lane against it (minutes
# under TCG). PERF_RSS=0 skips it.
# PERF_E2E=1 also runs the end-to-end latency spec (e2e/latency_test.go:
# a whole simulator lab, in the VM lane when this kernel lacks VRF) and
# adds its rows (PERF_E2E_CHANGES=N times N changes instead of 20: under
# TCG one change takes one to three minutes and the VM lane's run is capped
# at 85 minutes, so use about 20 there); PERF_E2E_OUTPUT=FILE reuses an
# earlier go test output.
# The native L2VNI latency (issue 16: an L2VNI without routing domain
# applied -> its node's type-3 route on a fabric leaf, and deleted ->
# withdrawn, 20 changes, PERF_L2_CHANGES=N otherwise) runs on
# topologies/l2.clab.yml, a lab that needs no VRF device, so it runs
# natively here too; it needs the Kubernetes test binaries like the RSS
# run. PERF_L2=0 skips it.
# PERF_OUT (default _out/perf) keeps the table and the benchmark output.
# Exit status: 0 all targets met within the noise margin, 1 a target missed,
# 2 the measurement itself failed.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${PERF_OUT:-_out/perf}
mkdir -p "$OUT"
# Absolute: the e2e suite and the VM lane run binaries from here.
OUT=$(cd "$OUT" && pwd)
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
	if TESTFLAGS='-test.run=^$ -test.bench=^Benchmark(Apply500FromEmpty|NoopReapply500|AddOneVNIAt500)$ -test.benchtime=1x -test.count=3' hack/test-kernel.sh ./operator/hostnet >"$OUT/hostnet-bench.txt" 2>&1; then
		hostnet_flags=(--hostnet-bench "$OUT/hostnet-bench.txt" --hostnet-lane "$lane")
	else
		log "hostnet benchmarks failed, see $OUT/hostnet-bench.txt; their rows stay unmeasured"
	fi
fi

e2e_flags=()
if [ -n "${PERF_E2E_OUTPUT:-}" ]; then
	e2e_flags=(--e2e-output "$PERF_E2E_OUTPUT")
elif [ "${PERF_E2E:-0}" = 1 ]; then
	log "end-to-end latency spec on the simulator (a whole lab: minutes)"
	mkdir -p "$OUT/bin"
	go build -o "$OUT/bin/" ./cmd/controller ./cmd/reloader ./cmd/labeler
	# The spec prints its marker line after every change, so a run cut
	# short still leaves the samples so far; one that timed nothing leaves
	# none and perfreport says so.
	PEROUTER_E2E_BIN_DIR="$OUT/bin" go test -v -count=1 -timeout 90m ./e2e -args -ginkgo.v -ginkgo.label-filter=latency \
		-perouter.latency-changes="${PERF_E2E_CHANGES:-20}" \
		>"$OUT/e2e-latency.txt" 2>&1 || log "latency spec failed, see $OUT/e2e-latency.txt"
	e2e_flags=(--e2e-output "$OUT/e2e-latency.txt")
fi

rss_flags=()
assets=${KUBEBUILDER_ASSETS:-${PEROUTER_CACHE:-$HOME/.cache/perouter}/k8s/v1.37.2}
if [ "${PERF_RSS:-1}" = 1 ]; then
	if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
		go build -o "$OUT/controller" ./cmd/controller
		go build -o "$OUT/reloader" ./cmd/reloader
		rss_flags=(--controller "$OUT/controller" --reloader "$OUT/reloader")
	else
		log "no kube-apiserver/etcd in $assets (hack/build-k8s-assets.sh): controller RSS not measured"
	fi
fi

l2_flags=()
if [ "${PERF_L2:-1}" = 1 ]; then
	if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
		mkdir -p "$OUT/l2bin"
		go build -o "$OUT/l2bin/" ./cmd/controller ./cmd/reloader ./cmd/labeler
		l2_flags=(--l2-latency-bin "$OUT/l2bin" --l2-changes "${PERF_L2_CHANGES:-20}")
	else
		log "no kube-apiserver/etcd in $assets (hack/build-k8s-assets.sh): L2VNI latency not measured"
	fi
fi

status=0
"$OUT/perfreport" "${hostnet_flags[@]}" "${rss_flags[@]}" "${e2e_flags[@]}" "${l2_flags[@]}" "$@" | tee "$OUT/table.txt" || status=${PIPESTATUS[0]}
log "table saved in $OUT/table.txt"
exit "$status"
