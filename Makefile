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
BIN := bin
BINARIES := $(BIN)/ingest $(BIN)/edge $(BIN)/tronsim $(BIN)/mongotron $(BIN)/devstack

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

.PHONY: help build test fmt-check vet lint bench fuzz run soak clean $(BINARIES)

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

test: lint ## gofmt check, go vet, then go test -race in every module
	@failed=""; \
	for m in $(MODULES); do \
		echo "== go test -race $$m"; \
		(cd "$$m" && go test -race -count=1 ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL: tests failed in:$$failed" >&2; exit 1; fi

lint: fmt-check vet ## gofmt check and go vet

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

clean: ## remove bin/
	rm -rf $(BIN)
