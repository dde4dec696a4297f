# serin's build. `make help` lists the targets.

GO        ?= go
BIN       ?= bin
CACHE     ?= $(HOME)/.cache/serin-testenv
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/serinhq/serin/internal/version.Version=$(VERSION) \
             -X github.com/serinhq/serin/internal/version.Commit=$(COMMIT)

# The test cluster binaries, Prometheus and Chromium; hack/testenv prints
# their paths as KEY=VALUE lines that the tests read from the environment.
TESTENV_FILE := $(CACHE)/env

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/serin, bin/serin-proxy and bin/kubectl-serin (the kubectl plugin: a link to serin)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/serin ./cmd/serin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/serin-proxy ./cmd/serin-proxy
	ln -sf serin $(BIN)/kubectl-serin

.PHONY: install
install: ## install serin, serin-proxy and the kubectl plugin kubectl-serin (a link to serin) into $(GOBIN) or ~/go/bin
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/serin ./cmd/serin-proxy
	dir=$$($(GO) env GOBIN); dir=$${dir:-$$($(GO) env GOPATH)/bin}; ln -sf serin "$$dir/kubectl-serin"

.PHONY: generate
generate: ## regenerate deepcopy code and CRDs (serin.dev and flagger.app) from api/
	$(GO) tool controller-gen object paths=./api/...
	$(GO) tool controller-gen object paths=./internal/traffic/smi/...
	$(GO) tool controller-gen crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=deploy/crds
	cp deploy/crds/serin.dev_*.yaml deploy/chart/serin/files/crds/
	$(GO) run ./hack/flaggercrd deploy/crds deploy/crds/flagger

# What `make generate` writes; verify checks that it is up to date, also in a
# working tree with uncommitted changes.
GENERATED = api/v1beta1/zz_generated.deepcopy.go deploy/crds/serin.dev_*.yaml \
            deploy/chart/serin/files/crds/serin.dev_*.yaml \
            api/flagger/v1beta1/zz_generated.deepcopy.go deploy/crds/flagger/flagger.app_*.yaml \
            internal/traffic/smi/*/zz_generated.deepcopy.go

.PHONY: verify
verify: ## gofmt, go vet, go mod tidy and generated code up to date
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@before=$$(cat $(GENERATED) | cksum); $(MAKE) --no-print-directory generate && \
	  [ "$$before" = "$$(cat $(GENERATED) | cksum)" ] || { echo "generated code is out of date: run make generate"; exit 1; }

.PHONY: testenv
testenv: ## build or reuse the cached test cluster, Prometheus, Graphite, InfluxDB and Chromium
	bash hack/testenv/install.sh "$(CACHE)"

.PHONY: test-unit
test-unit: ## unit tests only (no external binaries)
	$(GO) test -count=1 -short ./...

.PHONY: test
test: testenv ## every test: unit, integration and end-to-end
	set -a && . "$(TESTENV_FILE)" && set +a && SERIN_REQUIRE_TESTENV=1 $(GO) test -count=1 -timeout 25m ./...

.PHONY: bench
bench: ## Go micro-benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: bench-proxy
bench-proxy: ## wrk: serin's proxy against nginx and HAProxy (docs/benchmarks.md)
	bash bench/proxy/run.sh

.PHONY: bench-scale
bench-scale: testenv ## the Kubernetes controller with SCALE canaries (default 1000; docs/benchmarks.md)
	set -a && . "$(TESTENV_FILE)" && set +a && $(GO) test -count=1 -timeout 60m -run TestScale -v ./test/e2e/kube/ -scale=$(or $(SCALE),1000) $(SCALE_FLAGS)

.PHONY: reliability
reliability: testenv ## the figures of docs/reliability.md (FIGURES="kills controller proxy outage fuzz"; about 2 h 15 min)
	bash hack/reliability.sh $(FIGURES)

.PHONY: fuzz
fuzz: ## every fuzz target one after another, FUZZTIME each (default 10m)
	FUZZTIME=$(or $(FUZZTIME),10m) bash hack/fuzz.sh $(TARGETS)

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
