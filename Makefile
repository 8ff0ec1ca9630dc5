# edgecache — build, test and measure. `make test` is the one test command
# (the README's and CI's); it installs what it needs.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
FUZZTIME    ?= 10s
IMAGE       ?= edgecache:dev

.PHONY: build test tools check unit fuzz bench image clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o edgecache .

# Everything CI checks: formatting, vet, staticcheck, the race-enabled
# suite, and a short run of every fuzz target.
test: tools check unit fuzz

# What `make test` needs beyond Go, from Debian's packages where missing
# (apt, as root): a C compiler and the C library's headers, without which
# `go test -race` cannot build (the race detector needs cgo), and the real
# clients some tests drive (ffmpeg, ffprobe, headless Chromium). `go test
# ./...` skips the tool tests when a tool is absent; under `make test`
# (EDGECACHE_REQUIRE_TOOLS=1) a missing tool fails them instead.
TOOLS_PKGS := gcc libc6-dev ffmpeg chromium
tools:
	@missing=""; for t in gcc ffmpeg ffprobe chromium; do command -v $$t >/dev/null || missing=1; done; \
	  [ -e /usr/include/stdlib.h ] || missing=1; \
	  if [ -n "$$missing" ]; then \
	    echo "installing $(TOOLS_PKGS)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(TOOLS_PKGS); \
	  fi

# The complexity gate: no non-test function in GATED over 80 lines or a
# cognitive complexity of 30 (gocognit, pinned; scripts/funclen).
GATED    := edge chunk ring origin bench internal media main.go
GOCOGNIT := github.com/uudashr/gocognit/cmd/gocognit@v1.3.0

check: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) run $(GOCOGNIT) -test=false -over 30 $(GATED)
	$(GO) run ./scripts/funclen -max 80 $(GATED)

unit:
	CGO_ENABLED=1 EDGECACHE_REQUIRE_TOOLS=1 $(GO) test -race -count=1 ./...

# Each fuzz target briefly (FUZZTIME each); run longer by hand, e.g.
# `make fuzz FUZZTIME=5m`. Crashers land in <pkg>/testdata/fuzz and are
# then replayed by every `go test`.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz-short.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1s ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

clean:
	rm -f edgecache

# --- container image and the container cluster suite ------------------------
# The image is FROM scratch around a binary built here, because no base
# image can be pulled on our machines: see Dockerfile. The CA bundle comes
# from Debian's ca-certificates, installed if this machine lacks it.
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
E2E_TIMEOUT ?= 12m

.PHONY: image e2e

image:
	mkdir -p dist
	CGO_ENABLED=0 $(GO) build -trimpath -o dist/edgecache .
	@if [ ! -s $(CA_BUNDLE) ]; then \
	  echo "installing ca-certificates for $(CA_BUNDLE)"; \
	  apt-get update -q && apt-get install -y -q ca-certificates; \
	fi
	cp $(CA_BUNDLE) dist/ca-certificates.crt
	docker build -t $(IMAGE) .

# Six edges and an origin in containers on a private Docker network, with
# the bench driving load from this host while edges are killed, cut off and
# restarted (e2e/, build tag e2e). Needs Docker; takes a few minutes.
e2e: image
	EDGECACHE_E2E_IMAGE=$(IMAGE) $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/

# --- the Kubernetes suite -----------------------------------------------------
# k8s/ applied to a real API server and run by real kubelets on three nodes of
# this machine (k8s/e2e, build tag k8se2e; k8s/README.md, "The test cluster").
# Needs root and Docker. The Kubernetes components are built from the module
# pinned in k8s/e2e/tools (its own go.mod: the project's module never
# compiles Kubernetes), cached by the Go build cache: ~15 min cold on 2 cores,
# under a minute warm. The runtime pieces are Debian's, installed if missing.
K8S_E2E_DIR     ?= $(CURDIR)/dist/k8s-e2e
K8S_E2E_TIMEOUT ?= 30m
K8S_E2E_DEBS    := etcd-server containerd runc containernetworking-plugins dnsmasq-base nftables iproute2 util-linux
K8S_TOOLS_IMAGE := edgecache-e2e/tools:1

.PHONY: k8s-e2e k8s-e2e-build

k8s-e2e-build: image
	@missing=""; for f in /usr/bin/etcd /usr/bin/containerd /usr/sbin/runc /usr/lib/cni/bridge /usr/sbin/dnsmasq /usr/sbin/nft /usr/bin/nsenter /usr/bin/ctr; do \
	  [ -x $$f ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(K8S_E2E_DEBS)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(K8S_E2E_DEBS); \
	fi
	cd k8s/e2e/tools && CGO_ENABLED=0 $(GO) build -trimpath -o $(K8S_E2E_DIR)/bin/ tool
	CGO_ENABLED=0 $(GO) build -trimpath -o $(K8S_E2E_DIR)/image/ ./k8s/e2e/pause ./k8s/e2e/player
	printf 'FROM scratch\nCOPY pause player /\nENTRYPOINT ["/pause"]\n' | docker build -q -t $(K8S_TOOLS_IMAGE) -f - $(K8S_E2E_DIR)/image
	docker tag $(IMAGE) edgecache:dev
	docker tag $(IMAGE) edgecache:e2e-rollout
	docker save -o $(K8S_E2E_DIR)/images.tar edgecache:dev edgecache:e2e-rollout $(K8S_TOOLS_IMAGE)

k8s-e2e: k8s-e2e-build
	EDGECACHE_K8S_BIN=$(K8S_E2E_DIR)/bin EDGECACHE_K8S_EDGECACHE=$(CURDIR)/dist/edgecache \
	EDGECACHE_K8S_IMAGES=$(K8S_E2E_DIR)/images.tar EDGECACHE_K8S_LOGS=$(K8S_E2E_DIR)/logs \
	  $(GO) test -tags k8se2e -count=1 -v -timeout $(K8S_E2E_TIMEOUT) ./k8s/e2e/
