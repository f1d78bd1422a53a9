# perouter — build, generate, test, lab.
# `make lab` and `make test` are the README's two commands: each installs
# what it needs on a fresh Debian/Ubuntu machine (run as root).

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export PEROUTER_CACHE ?= $(HOME)/.cache/perouter
KERNEL ?= auto
KERNELS ?= bookworm trixie
# The FRR-10 root the real-FRR tests use (hack/frr-rootfs.sh): the FRR the
# router image ships (operator/images/recipe.go), pinned.
FRR10_SUITE ?= forky
FRR10_VERSION ?= 10.7.1-6
# Ginkgo label filter of `make e2e`/`make e2e-kind`; the latency
# measurement runs under `make perf` (PERF_E2E=1).
E2E_LABELS ?= !latency
# The e2e test binary's deadline; raise it for long runs such as
# PEROUTER_E2E_RECOVERY_ROUNDS=10 (~8 min a round in the VM lane).
E2E_TIMEOUT ?= 90m

CMDS := $(notdir $(wildcard cmd/*))

.PHONY: e2e-native-labs e2e-pods e2e-pods-built images test-images dockerfiles lab-down e2e-fabric rbac chart-crds goldens all build generate deps k8s-assets k8s-node-assets test test-unit test-envtest test-kernel lint fmt lab e2e e2e-kind perf clean help

all: build

help:
	@echo "make lab        bring up the default lab and show EVPN working"
	@echo "make test       every test: unit, real FRR, real API server, real kernel (VM lane when needed)"
	@echo "make test-unit  unit tests + real-FRR golden checks (no API server, no VM)"
	@echo "make test-kernel KERNEL=auto|native|bookworm|trixie  datapath tests on a real kernel"
	@echo "make e2e        end-to-end suites on the simulator"
	@echo "make e2e-native-labs  the L2, IPv6, route reflector and single-NIC labs natively (no VRF needed): L2 mobility, IPv6 underlay, route reflection, CNI underlay"
	@echo "make e2e-pods   the chart's pods on real kubelets in the L2 lab: pod, recovery, underlay, RawFRRConfig, L2 mobility suites"
	@echo "                E2E_PODS_LAB=default: the default lab (VRFs; VM lane without them): pod, EVPN, datapath suites"
	@echo "make perf       performance targets"
	@echo "make images     the operator and router images as OCI archives in bin/images (no container engine)"

deps:
	@hack/install-deps.sh

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

generate:
	$(GO) tool controller-gen object paths=./operator/api/...
	$(GO) tool controller-gen crd paths=./operator/api/... output:crd:artifacts:config=operator/config/crd/bases
	$(MAKE) --no-print-directory rbac chart-crds

rbac:
	$(GO) tool controller-gen rbac:roleName=perouter-controller paths=./cmd/controller output:rbac:artifacts:config=operator/config/rbac/controller
	$(GO) tool controller-gen rbac:roleName=perouter-labeler paths=./cmd/labeler output:rbac:artifacts:config=operator/config/rbac/labeler

chart-crds:
	cp operator/config/crd/bases/*.yaml charts/perouter/crds/

# Regenerate golden files after a template change; review the diff.
goldens:
	$(GO) test ./operator/frr -update
	$(GO) test ./cmd/perouterctl/app -update

# The images as OCI archives (bin/images/perouter.tar, router.tar), built
# without a container engine from images.Recipes(): the Debian base from
# debian:<suite>-slim where a registry answers, else debootstrap from the
# system's mirror (IMAGE_BASE=registry|debootstrap forces one). Tagged with
# the chart's appVersion. Needs root (apt-get in a chroot). docs/images.md.
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/perouter/Chart.yaml)
IMAGE_BASE ?= auto
images: deps
	$(GO) run ./cmd/imagebuild -out $(BIN)/images -tag $(IMAGE_TAG) -base $(IMAGE_BASE) -cache $(PEROUTER_CACHE)/images

# The built archives hold every program the chart and kustomize run.
test-images: images
	PEROUTER_IMAGES_DIR=$(BIN)/images $(GO) test -count=1 -run TestBuiltImagesRunTheManifests ./operator/images

# Render Dockerfile and Dockerfile.router from the same recipes.
dockerfiles:
	$(GO) run ./cmd/imagebuild -write-dockerfiles

k8s-assets:
	@hack/build-k8s-assets.sh >/dev/null

# kubelet, kube-scheduler, kube-controller-manager, containerd and runc for
# the simulator's kubelet nodes (simulator/kubenode).
k8s-node-assets:
	@hack/build-k8s-assets.sh --node >/dev/null

# Packages whose tests need the real API server (envtest) or the VM.
ENVTEST_PKGS = $(shell $(GO) list -f '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./operator/... ./simulator/... ./cmd/... 2>/dev/null | grep -E ' (sigs.k8s.io/controller-runtime/pkg/envtest|github.com/perouter/perouter/operator/internal/testenv)( |$$)' | cut -d' ' -f1) github.com/perouter/perouter/simulator/netns/cluster

# `make test` prints each step's wall time ("make test: STEP took N s"), the
# numbers docs/e2e.md's CI budget is kept with. The pods mode's binaries and
# images are built in the background at nice 19 from the start (after
# k8s-assets, whose compiled packages the kubelet's build reuses): they take
# the CPU the tests leave, the image's debootstrap is mostly downloads, and
# the VM lanes' TCG leaves the host partly idle, so on a fresh machine most
# of those builds cost no wall time. $(PODS_BUILD_LOCK) is held until they
# end; the pods mode waits for it, and fails with the builds' log if they
# failed. They run in their own process group (setsid), which a failing step
# kills: a red `make test` leaves no build behind.
PODS_BUILD_LOCK = $(BIN)/.pods-build.lock
timed = t=$$(date +%s); $(MAKE) --no-print-directory $(1); rc=$$?; echo "make test: $(1) took $$(( $$(date +%s) - t )) s (rc $$rc)"; \
	if [ $$rc != 0 ] && kill -- -$$(cat $(BIN)/pods-build.pid) 2>/dev/null; then echo "make test: stopped the pods-mode builds"; fi; exit $$rc
test: deps k8s-assets
	@mkdir -p $(BIN); rm -f $(BIN)/pods-build.rc; exec 9>$(PODS_BUILD_LOCK); flock 9; \
	setsid bash -c 't=$$(date +%s); nice -n 19 $(MAKE) --no-print-directory k8s-node-assets images >$(BIN)/pods-build.log 2>&1 9>&-; rc=$$?; echo $$rc >$(BIN)/pods-build.rc; \
	  echo "make test: pods-mode builds (background, log $(BIN)/pods-build.log) took $$(( $$(date +%s) - t )) s (rc $$rc)"; rm -f $(BIN)/pods-build.pid' & echo $$! >$(BIN)/pods-build.pid
	@$(call timed,test-unit)
	@$(call timed,test-envtest)
	@$(call timed,test-kernel)
	@$(call timed,e2e)
	@$(call timed,e2e-native-labs)
	@t=$$(date +%s); flock $(PODS_BUILD_LOCK) true; echo "make test: waited $$(( $$(date +%s) - t )) s for the pods-mode builds"; \
	if [ "$$(cat $(BIN)/pods-build.rc 2>/dev/null)" != 0 ]; then echo "make test: the pods-mode builds failed:"; tail -n 40 $(BIN)/pods-build.log; exit 1; fi
	@$(call timed,e2e-pods-built)

# -timeout 30m: simulator/netns/cluster brings real labs up one after the
# other (~5 min quiet); under load it passed go test's 10-min default.
test-unit: deps
	$(GO) vet ./operator/... ./simulator/... ./cmd/...
	PEROUTER_FRR10_ROOT=$$(hack/frr-rootfs.sh $(FRR10_SUITE) $(FRR10_VERSION)) $(GO) test -count=1 -timeout 30m $$($(GO) list ./operator/... ./simulator/... ./cmd/... | grep -v -x -F -f <(echo "$(ENVTEST_PKGS)" | tr ' ' '\n' | sed '/^$$/d'; echo /nonexistent))

test-envtest: deps k8s-assets
	@if [ -n "$(strip $(ENVTEST_PKGS))" ]; then \
		KUBEBUILDER_ASSETS=$$(hack/build-k8s-assets.sh) $(GO) test -count=1 -p 1 $(ENVTEST_PKGS); \
	else echo "test-envtest: no envtest packages yet"; fi

KERNEL_PKGS ?= ./operator/hostnet/...

# Datapath tests on a kernel with VRF: natively when the running kernel has
# it, else in a QEMU VM booting Debian's stock kernel. On a host without VRF,
# `make test` proves the datapath on both bookworm (6.1) and trixie (6.12).
test-kernel: deps
	@if [ "$(KERNEL)" = auto ] && ! $(GO) run ./cmd/vmrun --has-vrf >/dev/null 2>&1; then \
		for k in $(KERNELS); do echo "== test-kernel: $$k (VM lane)"; KERNEL=$$k hack/test-kernel.sh $(KERNEL_PKGS) || exit 1; done; \
	else KERNEL=$(KERNEL) hack/test-kernel.sh $(KERNEL_PKGS); fi

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(PEROUTER_CACHE)/bin/golangci-lint

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x $(GOLANGCI_LINT) ] && $(GOLANGCI_LINT) version 2>/dev/null | grep -q $(GOLANGCI_LINT_VERSION:v%=%) || \
		GOBIN=$(PEROUTER_CACHE)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GOLANGCI_LINT) run --timeout 10m ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The default lab: fabric of real FRR routers, three simulated nodes running
# the real operator against a real API server; prints type-5 routes and
# pings. Where the kernel lacks VRF it runs in the VM lane and ends with it.
lab: deps k8s-assets build
	$(BIN)/pesim up

lab-down:
	$(BIN)/pesim down

# The whole end-to-end suite on the netns provider (VM lane when needed:
# ~15 min there with two vCPUs, docs/e2e.md); part of `make test`.
e2e: deps k8s-assets build
	PEROUTER_E2E_BIN_DIR=$(BIN) $(GO) test -v -count=1 -timeout $(E2E_TIMEOUT) ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_LABELS)"

# The labs that need no VRF device, natively on any kernel (a few minutes):
# the L2 lab (workload mobility, silent workloads; docs/e2e.md suite 13)
# and the IPv6 lab, whose node-facing leaves speak IPv6, numbered and
# unnumbered, to the nodes (suite 11). The default lab's suites skip there,
# saying why; these suites skip in the default lab.
E2E_L2_LABELS ?= l2-mobility
E2E_V6_LABELS ?= ipv6-underlay || (underlay && !password)
# The route reflector lab: the L2 lab's topology with docs/examples/rrlab,
# one node reflecting the others' routes (suite 16, ~1 min).
E2E_RR_LABELS ?= route-reflector
# The single-NIC lab: the L2 lab with one node whose only NIC stays with the
# node and whose underlay is a macvlan a CNI plugin makes in the router
# namespace (suite 14, ~1 min). Its DHCP spec (label cni-dhcp) is left out
# until it has passed in the lab: E2E_CNI_LABELS=cni-underlay runs it
# (docs/e2e.md, suite 14).
E2E_CNI_LABELS ?= cni-underlay && !cni-dhcp
e2e-native-labs: deps k8s-assets build
	PEROUTER_E2E_BIN_DIR=$(BIN) PEROUTER_E2E_TOPOLOGY=$(CURDIR)/topologies/l2.clab.yml \
	PEROUTER_E2E_MANIFESTS=$(CURDIR)/docs/examples/lab/underlay.yaml,$(CURDIR)/docs/examples/l2lab \
	$(GO) test -v -count=1 -timeout 30m ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_L2_LABELS)"
	PEROUTER_E2E_BIN_DIR=$(BIN) PEROUTER_E2E_TOPOLOGY=$(CURDIR)/topologies/l2-v6.clab.yml \
	PEROUTER_E2E_MANIFESTS=$(CURDIR)/docs/examples/l2v6lab/underlay.yaml,$(CURDIR)/docs/examples/l2lab \
	$(GO) test -v -count=1 -timeout 30m ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_V6_LABELS)"
	PEROUTER_E2E_BIN_DIR=$(BIN) PEROUTER_E2E_TOPOLOGY=$(CURDIR)/topologies/l2.clab.yml \
	PEROUTER_E2E_MANIFESTS=$(CURDIR)/docs/examples/rrlab \
	$(GO) test -v -count=1 -timeout 30m ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_RR_LABELS)"
	PEROUTER_E2E_BIN_DIR=$(BIN) PEROUTER_E2E_TOPOLOGY=$(CURDIR)/topologies/l2-cni.clab.yml \
	PEROUTER_E2E_MANIFESTS=$(CURDIR)/docs/examples/cni-underlay,$(CURDIR)/docs/examples/l2lab \
	$(GO) test -v -count=1 -timeout 30m ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_CNI_LABELS)"

# The product as users install it: the chart's pods on real kubelets and
# containerd (simulator/netns/pods), from the images `make images` builds.
# E2E_PODS_LAB=l2 (default): the L2 lab, which needs no VRF and so runs
# natively on any kernel: the pod suite, recovery (faults done to pods),
# underlay, RawFRRConfig and L2 mobility; part of `make test`.
# E2E_PODS_LAB=default: the default lab (L3VNIs, VRFs), in the VM lane on a
# kernel without VRF: the pod suite, EVPN and datapath. docs/e2e.md.
E2E_PODS_LAB ?= l2
E2E_PODS_TOPOLOGY_l2 = $(CURDIR)/topologies/l2.clab.yml
E2E_PODS_MANIFESTS_l2 = $(CURDIR)/docs/examples/lab/underlay.yaml,$(CURDIR)/docs/examples/l2lab
E2E_PODS_LABELS_l2 = pods || recovery || underlay || raw-frr-config || l2-mobility || graceful-restart
E2E_PODS_TOPOLOGY_default = $(CURDIR)/topologies/default.clab.yml
E2E_PODS_MANIFESTS_default = $(CURDIR)/docs/examples/lab
E2E_PODS_LABELS_default = pods || evpn || datapath
E2E_PODS_LABELS ?= $(E2E_PODS_LABELS_$(E2E_PODS_LAB))
E2E_PODS_INSTALL ?= helm
# The pods mode's fabric routers run the images' FRR from the FRR-10 root
# (chrooted), so every FRR on the path keeps EVPN routes through a graceful
# restart (suite 10 asserts the loss then). Empty: the host's FRR.
E2E_PODS_FABRIC_FRR_ROOT ?= $$(hack/frr-rootfs.sh $(FRR10_SUITE) $(FRR10_VERSION))
e2e-pods: deps k8s-assets k8s-node-assets images e2e-pods-built

# e2e-pods without building: the images and node binaries must be in place
# (make test builds them in the background beforehand).
e2e-pods-built: deps k8s-assets
	@test -n "$(E2E_PODS_TOPOLOGY_$(E2E_PODS_LAB))" || { echo "E2E_PODS_LAB=$(E2E_PODS_LAB): want l2 or default"; exit 2; }
	PEROUTER_E2E_PODS=1 PEROUTER_E2E_IMAGES=$(BIN)/images PEROUTER_E2E_INSTALL=$(E2E_PODS_INSTALL) \
	PEROUTER_E2E_FABRIC_FRR_ROOT=$(E2E_PODS_FABRIC_FRR_ROOT) \
	PEROUTER_E2E_TOPOLOGY=$(E2E_PODS_TOPOLOGY_$(E2E_PODS_LAB)) \
	PEROUTER_E2E_MANIFESTS=$(E2E_PODS_MANIFESTS_$(E2E_PODS_LAB)) \
	$(GO) test -v -count=1 -timeout $(E2E_TIMEOUT) ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_PODS_LABELS)"

# The fabric-only part of the suite (leaves exchange type-5 routes, VXLAN
# datapath between fabric hosts), without the cluster: a quick check.
e2e-fabric: deps build
	PEROUTER_E2E_FABRIC_ONLY=1 PEROUTER_E2E_BIN_DIR=$(BIN) $(GO) test -v -count=1 -timeout 30m ./e2e -args -ginkgo.v

e2e-kind: build images
	$(BIN)/pesim kind up --images $(BIN)/images
	KUBECONFIG=$$($(BIN)/pesim kind kubeconfig) PEROUTER_E2E_PROVIDER=kind $(GO) test -v -count=1 -timeout $(E2E_TIMEOUT) ./e2e -args -ginkgo.v -ginkgo.label-filter="$(E2E_LABELS)"

# Performance targets (needs root and FRR): prints one table, exits non-zero
# when a target is missed beyond the noise margin. See docs/performance.md.
perf: deps
	hack/perf.sh $(PERF_FLAGS)

clean:
	rm -rf $(BIN)
