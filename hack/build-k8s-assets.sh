#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy into a cache
# outside the repo, for envtest and the simulator's control plane.
#
# stdout: only the assets directory (use it as KUBEBUILDER_ASSETS);
# stderr: progress. Idempotent: binaries that exist and report the pinned
# version are not rebuilt.
#
#   KUBEBUILDER_ASSETS=$(hack/build-k8s-assets.sh) go test ./simulator/controlplane/
#
# Env: PEROUTER_CACHE (default ~/.cache/perouter).
# Cold (empty module and build caches) this takes ~7 minutes and ~2.4 GB RSS.
set -euo pipefail

readonly KUBERNETES_VERSION=v1.37.2
readonly ETCD_VERSION=v3.6.16 # must match hack/k8s-assets/etcd/go.mod

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wrappers="${repo_root}/hack/k8s-assets"
dest="${PEROUTER_CACHE:-${HOME}/.cache/perouter}/k8s/${KUBERNETES_VERSION}"

log() { echo "build-k8s-assets: $*" >&2; }

# The binaries print their version; checking it (not just existence) catches
# a cache filled by an older pin or a build without the version ldflags.
# Output is captured before matching: `cmd | grep -q` under pipefail fails
# when grep exits early and cmd dies of SIGPIPE.
kube_apiserver_ok() {
	[[ -x "${dest}/kube-apiserver" ]] &&
		[[ "$("${dest}/kube-apiserver" --version 2>/dev/null)" == "Kubernetes ${KUBERNETES_VERSION}" ]]
}
kubectl_ok() {
	local out
	[[ -x "${dest}/kubectl" ]] && out=$("${dest}/kubectl" version --client 2>/dev/null) &&
		grep -qx "Client Version: ${KUBERNETES_VERSION}" <<<"${out}"
}
etcd_ok() {
	local out
	[[ -x "${dest}/etcd" ]] && out=$("${dest}/etcd" --version 2>/dev/null) &&
		grep -qx "etcd Version: ${ETCD_VERSION#v}" <<<"${out}"
}

mkdir -p "${dest}"
# Serialise concurrent callers (parallel make, two test runs): the second one
# waits and then finds the binaries in place.
exec 9>"${dest}/.lock"
flock 9

export GOWORK=off CGO_ENABLED=0
# go.sum of each wrapper is committed: refuse to resolve anything new.
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"

staging=$(mktemp -d "${dest}/.build.XXXXXX")
trap 'rm -rf "${staging}"' EXIT

if kube_apiserver_ok && kubectl_ok; then
	log "kube-apiserver, kubectl ${KUBERNETES_VERSION}: cached"
else
	log "building kube-apiserver, kubectl ${KUBERNETES_VERSION} (cold caches: ~7 min on an idle 2-core host)"
	start=${SECONDS}
	minor=${KUBERNETES_VERSION#v*.}
	minor=${minor%%.*}
	major=${KUBERNETES_VERSION#v}
	major=${major%%.*}
	ldflags=""
	# client-go's copy feeds `kubectl version`; component-base's feeds the servers.
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
		ldflags+=" -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
		ldflags+=" -X ${pkg}.gitTreeState=clean"
	done
	(cd "${wrappers}/kubernetes" && go build -ldflags "-s -w${ldflags}" -o "${staging}/" tool) >&2
	mv -f "${staging}/kube-apiserver" "${staging}/kubectl" "${dest}/"
	log "kube-apiserver, kubectl built in $((SECONDS - start)) s"
fi

if etcd_ok; then
	log "etcd ${ETCD_VERSION}: cached"
else
	log "building etcd ${ETCD_VERSION}"
	start=${SECONDS}
	(cd "${wrappers}/etcd" && go build -ldflags "-s -w" -o "${staging}/etcd" .) >&2
	mv -f "${staging}/etcd" "${dest}/"
	log "etcd built in $((SECONDS - start)) s"
fi

kube_apiserver_ok || { log "kube-apiserver in ${dest} does not report ${KUBERNETES_VERSION}"; exit 1; }
kubectl_ok || { log "kubectl in ${dest} does not report ${KUBERNETES_VERSION}"; exit 1; }
etcd_ok || { log "etcd in ${dest} does not report ${ETCD_VERSION}"; exit 1; }

echo "${dest}"
