# The README's test command is `make test`: format, vet, staticcheck,
# workflowcheck, then every test. Tools are pinned and installed on demand.
GO            ?= go
GOBIN         := $(shell $(GO) env GOPATH)/bin
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
export GOTOOLCHAIN := local
# The real Temporal cluster's binaries and stripe-mock (make cluster-tools).
TOOLS_DIR     := $(CURDIR)/.bin
STRIPE_MOCK   := github.com/stripe/stripe-mock@v0.203.0
export RMA_TOOLS_DIR := $(TOOLS_DIR)

.PHONY: test lint tools cluster-tools topology fmt bench chaos record-histories

# Build first: on a cold cache the embedded Temporal server takes minutes to
# compile, and the e2e/deploy tests build the rma binary in TestMain, which
# counts against the test timeout.
test: lint cluster-tools
	$(GO) build ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) chaos CHAOS_RETURNS=100

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/workflowcheck ./...

tools:
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)
	@test -x $(GOBIN)/workflowcheck || $(GO) install $(WORKFLOWCHECK)

# The production topology's own binaries, each with go install: the
# Temporal server and its SQL schema tool (go.temporal.io/server) and the
# Temporal UI server (github.com/temporalio/ui-server/v2), at the versions
# go.mod pins with its tool directives (v1.32.1, v2.54.1), so they share
# the build cache with rma dev's embedded server; and stripe-mock v0.203.0
# for the Stripe adapter's test. Two servers are both named "server", hence
# a directory each.
cluster-tools:
	GOBIN=$(TOOLS_DIR)/temporal $(GO) install go.temporal.io/server/cmd/server go.temporal.io/server/cmd/tools/sql
	GOBIN=$(TOOLS_DIR)/ui $(GO) install github.com/temporalio/ui-server/v2/cmd/server
	@test -x $(TOOLS_DIR)/stripe/stripe-mock || GOBIN=$(TOOLS_DIR)/stripe $(GO) install $(STRIPE_MOCK)

# The production topology on this machine for a person (README, "Running
# in production"): PostgreSQL, a Temporal cluster on it with its UI, rma
# setup, the simulators, rma api and two rma workers. Ctrl-C stops it.
topology: cluster-tools
	$(GO) build -o $(TOOLS_DIR)/rma ./cmd/rma
	$(GO) build -o $(TOOLS_DIR)/rmatopology ./cmd/rmatopology
	$(TOOLS_DIR)/rmatopology -rma $(TOOLS_DIR)/rma -tools $(TOOLS_DIR) -dir $(CURDIR)/.topology

fmt:
	gofmt -w $$(git ls-files '*.go')

# The benchmark (docs/benchmarks.md): the micro-benchmarks of the pure hot
# paths, then the system run against the engine floor. It ends with the
# summary line. BENCH_QUICK=1 shrinks every count (under two minutes).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./domain/ ./api/
	$(GO) build -o $(CURDIR)/.bench/rmabench ./cmd/rmabench
	$(CURDIR)/.bench/rmabench -json $(CURDIR)/.bench/report.json

# The chaos run (docs/reliability.md): the system as separate processes,
# partner faults at 20 %, a worker SIGKILLed every 10 s, the Temporal server
# killed once midway, CHAOS_RETURNS returns down every path; then the audit.
# Its last line is the summary; it fails when any promise was broken.
CHAOS_RETURNS ?= 1000
chaos:
	$(GO) build -o $(CURDIR)/.chaos/rma ./cmd/rma
	$(GO) build -o $(CURDIR)/.chaos/rmachaos ./cmd/rmachaos
	CHAOS_RETURNS=$(CHAOS_RETURNS) $(CURDIR)/.chaos/rmachaos -rma $(CURDIR)/.chaos/rma

# Record the histories the replay test replays, from real server runs of
# every path (e2e/paths_test.go), into workflows/testdata/histories/$(CUT).
# Old cuts stay: every change to the workflow must keep replaying them (see
# README, "Versioning"). CUT names the workflow version being recorded.
CUT ?= $(shell date +%Y-%m-%d)
record-histories:
	mkdir -p workflows/testdata/histories/$(CUT)
	RMA_RECORD_HISTORY=$(CURDIR)/workflows/testdata/histories/$(CUT) $(GO) test -count=1 -run 'TestEveryPathOnARealServer|TestDev/(standard|exchange)' ./e2e/
