# twostep: `make help` lists the targets.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BINARIES := twostepd twostepctl twostep-bench
FUZZTIME ?= 60s
GO       ?= go

.PHONY: help build run test fuzz bench microbench lint peers screenshots clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/twostepd, bin/twostepctl, bin/twostep-bench
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ $(addprefix ./cmd/,$(BINARIES))

run: build ## start twostepd on the demo config (127.0.0.1:1812, secret testing123, embedded etcd in var/demo)
	@mkdir -p var/demo
	@test -f var/demo/seed.key || bin/twostepctl keygen -out var/demo/seed.key
	bin/twostepd -config configs/demo.yaml

peers: ## install the test peers (radclient, ...) when missing
	@scripts/test-peers.sh

test: peers lint ## run every test (installs missing test peers as root), the linters, and a short fuzz pass
	$(GO) test -race -count=1 -timeout 10m ./...
	FUZZTIME=5s scripts/fuzz.sh

fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench: build ## benchmark twostepd beside FreeRADIUS (scripts/bench.sh installs, twostep-bench run does the rest); writes docs/BENCHMARKS.md
	scripts/bench.sh

microbench: ## testing.B micro-benchmarks of the per-request hot path (no peers needed)
	$(GO) test -run XXX -bench . -benchmem ./radiusd/ ./directory/ldapclient/ ./challenge/otp/

screenshots: peers ## run the portal's browser test and keep its pages in docs/screenshots/
	@mkdir -p docs/screenshots
	TWOSTEP_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestPortalInBrowser ./cmd/twostepd

lint: ## gofmt, go vet and staticcheck (a Go tool dependency: go.mod pins its version)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean: ## remove build output
	rm -rf bin
