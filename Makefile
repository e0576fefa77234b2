# Mongotron developer commands. `make help` lists them.
#
# The repository is a Go workspace (go.work) of several modules, and
# `go test ./...` at the root covers none of them, so every target that
# vets, tests or benchmarks loops over the modules.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# A checkout without VCS metadata (or one owned by another user) must still
# build.
ifeq ($(filter -buildvcs=%,$(GOFLAGS)),)
export GOFLAGS := $(strip $(GOFLAGS) -buildvcs=false)
endif

MODULES := $(patsubst $(CURDIR)/%,%,$(shell go list -m -f '{{.Dir}}'))
# The import path patterns of every module of the workspace.
MODULE_PATTERNS := $(addsuffix /...,$(shell go list -m -f '{{.Path}}'))
BIN := bin
BINARIES := $(BIN)/ingest $(BIN)/edge $(BIN)/tronsim $(BIN)/mongotron $(BIN)/devstack

# The linters' versions are pinned in tools/go.mod, a module of its own
# that is deliberately not in go.work (its dependencies must not mix with
# ours). `make lint` builds them into $(TOOLS) the first time (a few
# minutes) and again whenever tools/go.mod or tools/go.sum changes. To
# move to newer versions: cd tools && GOWORK=off go get -tool
# github.com/golangci/golangci-lint/v2/cmd/golangci-lint@vX.Y.Z (or
# golang.org/x/vuln/cmd/govulncheck@vX.Y.Z) && GOWORK=off go mod tidy.
TOOLS := $(BIN)/tools
GOLANGCI_LINT := $(TOOLS)/golangci-lint
GOVULNCHECK := $(TOOLS)/govulncheck
PROTOC_GEN_GO := $(TOOLS)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS)/protoc-gen-go-grpc
# The protocol definitions `make generate` compiles (protoc comes from
# Debian's protobuf-compiler; the Go plugins from tools/go.mod).
PROTO_DIR := pkg/tron/tronpb
# govulncheck reads the Go vulnerability database from this version of
# the golang.org/x/vulndb module, fetched through the module proxy like
# any dependency: no access to vuln.go.dev is needed, and the answer only
# changes when this pin moves. Refresh it about once a month, and when a
# vulnerability is in the news:
#   make lint-vuln VULNDB=$(go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)
# then write that version here.
VULNDB ?= v0.0.0-20261105234957-e22db6528018
# Vulnerabilities that do not fail `make lint-vuln` (it still prints
# them), comma-separated, each with the reason it does not apply:
# - GO-2026-6872 (echo's RealIP trusts X-Forwarded-For, so its rate
#   limiter can be bypassed) and GO-2026-6875 (echo's Proxy middleware
#   forwards X-Real-IP): no echo v4 release fixes them, and the edge uses
#   neither RealIP, the rate limiter nor the proxy middleware.
VULN_IGNORE := GO-2026-6872,GO-2026-6875

# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 20s
# Which benchmarks `make bench` runs (a -bench regexp) and for how long.
BENCH ?= .
BENCHTIME ?= 1s
# `make run`: extra flags for bin/devstack (see bin/devstack --help), such
# as RUN_FLAGS='--edges 3 --block-interval 1s'.
RUN_FLAGS ?=
# `make soak`: flags for the soak (go run ./services/devstack/cmd/soak
# --help), such as SOAK_FLAGS='--duration 2m --seed 42'.
SOAK_FLAGS ?=
# `make bench-scale`: flags for go run ./services/devstack/cmd/benchscale
# (see its --help), such as BENCH_SCALE_FLAGS='--events 100000 --subs 100
# --heavy-events 20000 --scenarios ""'.
BENCH_SCALE_FLAGS ?=

.PHONY: help build test fmt-check vet lint lint-go lint-vuln lint-tidy lint-generate generate bench bench-scale fuzz run soak docs clean $(BINARIES)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: $(BINARIES) ## build bin/ingest, bin/edge, bin/tronsim, bin/mongotron and bin/devstack

# Always rebuilt: the go command knows better than make what is stale.
$(BIN)/ingest:
	go build -o $@ ./services/ingest
$(BIN)/edge:
	go build -o $@ ./services/edge
$(BIN)/tronsim:
	go build -o $@ ./services/tronsim
$(BIN)/mongotron:
	go build -o $@ ./services/cli
$(BIN)/devstack:
	go build -o $@ ./services/devstack

# `make test` stays within its time budget by leaving the slower linters
# to `make lint`; CI (.ci/run) runs both.
test: fmt-check vet ## gofmt check, go vet, then go test -race in every module
	@failed=""; \
	for m in $(MODULES); do \
		echo "== go test -race $$m"; \
		(cd "$$m" && go test -race -count=1 ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL: tests failed in:$$failed" >&2; exit 1; fi

# The policy behind each check, and how to deal with a finding, is in
# CONTRIBUTING.md ("Lint").
lint: fmt-check vet lint-go lint-vuln lint-tidy lint-generate ## gofmt check, go vet, golangci-lint, govulncheck, go mod tidy and generated-code checks

# --allow-serial-runners: a second golangci-lint on the machine (another
# checkout, an editor) waits for the first instead of failing.
lint-go: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yml) in every module
	@failed=""; \
	for m in $(MODULES); do \
		echo "== golangci-lint $$m"; \
		(cd "$$m" && $(CURDIR)/$(GOLANGCI_LINT) run --allow-serial-runners --config $(CURDIR)/.golangci.yml ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL: golangci-lint found problems in:$$failed" >&2; exit 1; fi

# One govulncheck run over every module's packages: the shipped binaries
# are built in the workspace (deploy/Dockerfile), so that build list is the
# one to check. govulncheck starts from a module directory, hence -C.
# Findings in our dependencies fail; findings in the standard library,
# which only a newer Go fixes, are printed as a warning that names the Go
# release to move to (see services/devstack/cmd/vulncheck).
lint-vuln: $(GOVULNCHECK) ## govulncheck over every module (VULNDB=version of golang.org/x/vulndb)
	@echo "== govulncheck (golang.org/x/vulndb@$(VULNDB))"
	@go run ./services/devstack/cmd/vulncheck --govulncheck $(CURDIR)/$(GOVULNCHECK) --vulndb '$(VULNDB)' \
		--ignore '$(VULN_IGNORE)' -C $(firstword $(MODULES)) $(MODULE_PATTERNS)

# go mod tidy ignores go.work and reads each go.mod with its replace
# directives, which is what a module's own build and `go mod tidy` in it
# see; -diff prints what it would change and exits 1 without writing.
lint-tidy: ## fail if go mod tidy would change a go.mod or go.sum
	@failed=""; \
	for m in $(MODULES) tools; do \
		echo "== go mod tidy -diff $$m"; \
		(cd "$$m" && GOWORK=off go mod tidy -diff) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL: go.mod or go.sum not tidy in:$$failed (run go mod tidy there)" >&2; exit 1; fi

$(GOLANGCI_LINT): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(CURDIR)/$@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint
$(GOVULNCHECK): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(CURDIR)/$@ golang.org/x/vuln/cmd/govulncheck
$(PROTOC_GEN_GO): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(CURDIR)/$@ google.golang.org/protobuf/cmd/protoc-gen-go
$(PROTOC_GEN_GO_GRPC): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $(CURDIR)/$@ google.golang.org/grpc/cmd/protoc-gen-go-grpc

# protoc_gen OUT: compiles $(PROTO_DIR)/*.proto into OUT, the Go message
# types beside the gRPC client and server code.
define protoc_gen
	protoc -I $(PROTO_DIR) \
		--plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=$(1) --go_opt=paths=source_relative \
		--plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) --go-grpc_out=$(1) --go-grpc_opt=paths=source_relative \
		$(PROTO_DIR)/*.proto
endef

generate: $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## regenerate the Go code of pkg/tron/tronpb/*.proto (needs protoc)
	$(call protoc_gen,$(PROTO_DIR))

lint-generate: $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## fail if `make generate` would change a generated file
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/new" "$$tmp/old"; cp $(PROTO_DIR)/*.pb.go "$$tmp/old/"; \
	$(call protoc_gen,$$tmp/new); \
	if ! diff -r "$$tmp/old" "$$tmp/new" >/dev/null; then \
		echo "lint-generate: the generated code in $(PROTO_DIR) is stale or edited by hand; run make generate"; exit 1; fi

fmt-check: ## fail listing the Go files gofmt would change
	@out=$$(gofmt -l $(MODULES)); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi

vet: ## go vet every module
	@for m in $(MODULES); do echo "== go vet $$m"; (cd "$$m" && go vet ./...); done

bench: ## run the benchmarks of every module (BENCH=regexp BENCHTIME=1s)
	@for m in $(MODULES); do \
		echo "== go test -bench $$m"; \
		(cd "$$m" && go test -run '^$$' -bench '$(BENCH)' -benchtime '$(BENCHTIME)' -benchmem ./... | { grep -v -e '^?' -e '^PASS$$' -e '^ok ' || [ $$? -eq 1 ]; }); \
	done

# The edge under load, each party in its own process (NATS and FerretDB
# embedded in edgebench, bin/edge and loadgen as children): 10,000 streams
# at 50,000 msgs/s, 20,000 idle streams, a 100,000-event replay. Takes a
# few minutes; not part of `make bench`. Smaller: EDGEBENCH_FLAGS='--streams
# 2000 --idle-streams 2000 --replay-events 20000'.
bench-edge: $(BIN)/edge ## measure the edge with the loadgen processes (EDGEBENCH_FLAGS=…)
	go run ./services/loadgen/cmd/edgebench --edge $(BIN)/edge $(EDGEBENCH_FLAGS)

# History at scale: bin/devstack (one edge, a block an hour) on a fresh
# data directory, seeded with 1,000,000 events over 1,000 subscriptions
# (services/devstack/cmd/seed), then REST history p50/p99, `mongotron
# history` of 10,000 events, a WebSocket replay from MongoDB, the stack's
# RSS, then the edgebench fanout, idle and storm scenarios; a summary block
# at the end. Up to an hour on the development VM, most of it seeding; not
# part of `make test`.
bench-scale: build ## seed 1M events into the dev stack and measure history reads (BENCH_SCALE_FLAGS=…)
	go build -o $(BIN)/loadgen ./services/loadgen
	go run ./services/devstack/cmd/benchscale --bin $(BIN) $(BENCH_SCALE_FLAGS)

fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	@FUZZTIME='$(FUZZTIME)' scripts/fuzz.sh $(MODULES)

# The whole system on this machine: NATS and FerretDB embedded in
# bin/devstack, the simulator, one ingest and two edges as child processes;
# data in ./.data/. Ctrl-C stops everything.
run: build ## build everything and start the dev stack (bin/devstack $(RUN_FLAGS))
	$(BIN)/devstack $(RUN_FLAGS)

# The whole system (3-node NATS cluster, restartable FerretDB, simulator,
# ingest, two edges) under streaming and webhook load with random faults
# for 10 minutes, then a check of every event each client received; exits
# non-zero if one was lost or a stream got one twice. Not part of `make
# test`.
soak: ## run the system under random faults, then check nothing was lost (SOAK_FLAGS=…)
	go run ./services/devstack/cmd/soak $(SOAK_FLAGS)

# docs/configuration.md is generated from the binaries' --help; a test in
# services/devstack/internal/gendocs fails when it is out of date.
docs: ## regenerate docs/configuration.md from the binaries' --help
	go run ./services/devstack/cmd/gendocs

clean: ## remove bin/
	rm -rf $(BIN)
