#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy into a cache
# outside the repo, for envtest and the simulator's control plane.
# With --node it also builds kubelet, kube-scheduler, kube-controller-manager,
# containerd, containerd-shim-runc-v2, ctr and runc (the simulator's kubelet
# node mode, simulator/kubenode; runc needs cgo: gcc and libseccomp-dev);
# without it they are not built, so envtest callers pay nothing for them.
#
# stdout: only the assets directory (use it as KUBEBUILDER_ASSETS);
# stderr: progress. Idempotent: binaries that exist and report the pinned
# version are not rebuilt.
#
#   KUBEBUILDER_ASSETS=$(hack/build-k8s-assets.sh) go test ./simulator/controlplane/
#   hack/build-k8s-assets.sh --node   # + kubelet, kube-scheduler, kube-controller-manager
#
# Env: PEROUTER_CACHE (default ~/.cache/perouter).
# Cold (empty module and build caches) this takes ~7 minutes and ~2.4 GB RSS.
set -euo pipefail

readonly KUBERNETES_VERSION=v1.37.2
readonly ETCD_VERSION=v3.6.16 # must match hack/k8s-assets/etcd/go.mod
readonly CONTAINERD_VERSION=v2.4.2 # must match hack/k8s-assets/containerd/go.mod
readonly RUNC_VERSION=v1.5.3 # must match hack/k8s-assets/runc/go.mod

node=false
case "${1:-}" in
--node) node=true ;;
"") ;;
*)
	echo "usage: $0 [--node]" >&2
	exit 2
	;;
esac

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
# kubelet, kube-scheduler and kube-controller-manager print
# "Kubernetes vX.Y.Z" for --version, like kube-apiserver.
server_ok() {
	[[ -x "${dest}/$1" ]] &&
		[[ "$("${dest}/$1" --version 2>/dev/null)" == "Kubernetes ${KUBERNETES_VERSION}" ]]
}
containerd_ok() {
	local out
	[[ -x "${dest}/containerd" && -x "${dest}/containerd-shim-runc-v2" && -x "${dest}/ctr" ]] &&
		out=$("${dest}/containerd" --version 2>/dev/null) &&
		[[ "${out}" == "containerd github.com/containerd/containerd/v2 ${CONTAINERD_VERSION} "* ]]
}
runc_ok() {
	local out
	[[ -x "${dest}/runc" ]] && out=$("${dest}/runc" --version 2>/dev/null) &&
		grep -qx "runc version ${RUNC_VERSION#v}" <<<"${out}"
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
# The caller's GOFLAGS (e.g. -p=1 on a shared machine) are kept.
export GOFLAGS="${GOFLAGS:+${GOFLAGS} }-mod=readonly -buildvcs=false -trimpath"

staging=$(mktemp -d "${dest}/.build.XXXXXX")
trap 'rm -rf "${staging}"' EXIT

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

# build_kube NAME... builds k8s.io/kubernetes/cmd/NAME for each NAME in one
# `go build` (shared packages compile once) and moves them into ${dest}.
build_kube() {
	local pkgs=() name
	for name in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/${name}"); done
	(cd "${wrappers}/kubernetes" && go build -ldflags "-s -w${ldflags}" -o "${staging}/" "${pkgs[@]}") >&2
	for name in "$@"; do mv -f "${staging}/${name}" "${dest}/"; done
}

if kube_apiserver_ok && kubectl_ok; then
	log "kube-apiserver, kubectl ${KUBERNETES_VERSION}: cached"
else
	log "building kube-apiserver, kubectl ${KUBERNETES_VERSION} (cold caches: ~7 min on an idle 2-core host)"
	start=${SECONDS}
	build_kube kube-apiserver kubectl
	log "kube-apiserver, kubectl built in $((SECONDS - start)) s"
fi

node_binaries=(kubelet kube-scheduler kube-controller-manager)
if ${node}; then
	missing=()
	for name in "${node_binaries[@]}"; do server_ok "${name}" || missing+=("${name}"); done
	if ((${#missing[@]} == 0)); then
		log "${node_binaries[*]} ${KUBERNETES_VERSION}: cached"
	else
		log "building ${missing[*]} ${KUBERNETES_VERSION}"
		start=${SECONDS}
		build_kube "${missing[@]}"
		log "${missing[*]} built in $((SECONDS - start)) s"
	fi
	if containerd_ok; then
		log "containerd ${CONTAINERD_VERSION}: cached"
	else
		log "building containerd, containerd-shim-runc-v2, ctr ${CONTAINERD_VERSION}"
		start=${SECONDS}
		(cd "${wrappers}/containerd" && go build -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}" -o "${staging}/" tool) >&2
		mv -f "${staging}/containerd" "${staging}/containerd-shim-runc-v2" "${staging}/ctr" "${dest}/"
		log "containerd built in $((SECONDS - start)) s"
	fi
	if runc_ok; then
		log "runc ${RUNC_VERSION}: cached"
	else
		log "building runc ${RUNC_VERSION}"
		start=${SECONDS}
		# runc's nsenter is C, and seccomp profiles need libseccomp.
		(cd "${wrappers}/runc" && CGO_ENABLED=1 go build -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" -o "${staging}/runc" github.com/opencontainers/runc) >&2
		mv -f "${staging}/runc" "${dest}/"
		log "runc built in $((SECONDS - start)) s"
	fi
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
if ${node}; then
	for name in "${node_binaries[@]}"; do
		server_ok "${name}" || { log "${name} in ${dest} does not report ${KUBERNETES_VERSION}"; exit 1; }
	done
	containerd_ok || { log "containerd in ${dest} does not report ${CONTAINERD_VERSION}"; exit 1; }
	runc_ok || { log "runc in ${dest} does not report ${RUNC_VERSION}"; exit 1; }
fi

echo "${dest}"
