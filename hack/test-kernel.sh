#!/usr/bin/env bash
# Runs kernel-level Go tests against a real kernel with VRF support.
#
#   hack/test-kernel.sh [PKG...]        (default: ./operator/hostnet/...)
#
# KERNEL selects where the tests run:
#   auto     (default) natively when the running kernel can create VRF
#            devices, else in a QEMU VM booting Debian bookworm's kernel
#   native   natively; fails when the running kernel lacks VRF
#   bookworm / trixie   in a VM booting that Debian release's stock kernel
# TESTFLAGS adds test binary flags, e.g. TESTFLAGS='-test.run=TestApply -test.count=1'.
# VM_TIMEOUT bounds the VM run (default 20m).
#
# Each package's test binary is compiled on the host (go test -c) and run in
# its package directory; in VM mode all binaries run in one boot. Packages
# that do not exist or have no tests are skipped with a message. The script
# exits non-zero when any test fails or the VM lane cannot start.
set -euo pipefail

cd "$(dirname "$0")/.."
KERNEL=${KERNEL:-auto}
TESTFLAGS=${TESTFLAGS:-}
VM_TIMEOUT=${VM_TIMEOUT:-20m}
if [ $# -eq 0 ]; then
	set -- ./operator/hostnet/...
fi

log() { echo "test-kernel: $*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

case "$KERNEL" in
auto | native | bookworm | trixie) ;;
*) die "KERNEL=$KERNEL: want auto, native, bookworm or trixie" ;;
esac

work=$(mktemp -d /tmp/perouter-test-kernel.XXXXXX)
trap 'rm -rf "$work"' EXIT

t0=$(date +%s)
go build -o "$work/vmrun" ./cmd/vmrun || die "building cmd/vmrun"

mode=vm
case "$KERNEL" in
auto)
	if "$work/vmrun" --has-vrf 2>/dev/null; then mode=native; KERNEL=native; else KERNEL=bookworm; fi
	;;
native)
	"$work/vmrun" --has-vrf || die "KERNEL=native but the running kernel cannot create VRF devices; use KERNEL=bookworm"
	mode=native
	;;
esac
log "running on: $KERNEL"

# One line per test binary: <binary> <package dir> <import path>.
: >"$work/tests"
for pattern in "$@"; do
	if ! listed=$(go list -f '{{.ImportPath}} {{.Dir}} {{if or .TestGoFiles .XTestGoFiles}}tests{{end}}' "$pattern" 2>"$work/list.err"); then
		log "skipping $pattern: no such package ($(head -n1 "$work/list.err"))"
		continue
	fi
	if [ -z "$listed" ]; then
		log "skipping $pattern: matched no packages"
		continue
	fi
	while read -r importpath dir hastests; do
		if [ "$hastests" != tests ]; then
			log "skipping $importpath: no test files"
			continue
		fi
		bin="$work/bin/$(echo "$importpath" | tr / _).test"
		go test -c -o "$bin" "$importpath" || die "compiling the tests of $importpath"
		echo "$bin $dir $importpath" >>"$work/tests"
	done <<<"$listed"
done
t1=$(date +%s)
log "compiled $(wc -l <"$work/tests") test binaries in $((t1 - t0))s"
if [ ! -s "$work/tests" ]; then
	log "no test packages to run"
	exit 0
fi

# The runner is plain sh so that it works unchanged on the host and in the
# guest (which sees the host's filesystem, /tmp included, read-only).
read -r -a flags <<<"$TESTFLAGS"
quoted_flags=""
for f in "${flags[@]}"; do
	quoted_flags+=" '${f//\'/\'\\\'\'}'"
done
{
	echo 'failed=""'
	while read -r bin dir importpath; do
		printf 'echo "=== package %s"\n' "$importpath"
		printf '(cd %s && %s -test.v%s) || failed="$failed %s"\n' "'$dir'" "'$bin'" "$quoted_flags" "$importpath"
	done <"$work/tests"
	echo 'if [ -n "$failed" ]; then echo "--- FAILED packages:$failed"; exit 1; fi'
	echo 'echo "--- all packages passed"'
} >"$work/run.sh"

if [ "$mode" = native ]; then
	sh "$work/run.sh" || die "tests failed (native kernel $(uname -r))"
	log "passed natively in $(($(date +%s) - t1))s"
	exit 0
fi

"$work/vmrun" --kernel "$KERNEL" --prepare || die "the VM lane cannot start: preparing kernel $KERNEL failed"
t2=$(date +%s)
status=0
"$work/vmrun" --kernel "$KERNEL" --timeout "$VM_TIMEOUT" --workdir / -- sh "$work/run.sh" || status=$?
t3=$(date +%s)
case $status in
0) log "passed in a $KERNEL VM (prepare $((t2 - t1))s, VM run $((t3 - t2))s)" ;;
125) die "the VM lane failed (kernel $KERNEL); see the vmrun error above" ;;
*) die "tests failed in a $KERNEL VM (exit $status)" ;;
esac
