# carevisit: `make run` starts a working demo, `make test` runs the whole suite.
SHELL := /bin/bash
GO ?= go
BIN := bin
VAR := $(CURDIR)/var
PG := scripts/pgctl.sh

.PHONY: all build run stop test test-race vet fuzz bench bench-ingest deps-pg deps-browser clean

all: build

build:
	$(GO) build -o $(BIN)/carevisit ./cmd/carevisit
	$(GO) build -o $(BIN)/firmware-sim ./firmware-sim

# PostgreSQL server binaries: install Debian's package when missing (root),
# or say exactly what to install.
deps-pg:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing PostgreSQL (apt-get install postgresql)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "PostgreSQL server binaries missing: run 'sudo apt-get install postgresql'" >&2; exit 1; \
		fi; \
	fi

# Chromium for the browser tests (Debian's package; tests fail without it).
deps-browser:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && [ -z "$$CAREVISIT_CHROMIUM" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Chromium for the browser tests (apt-get install chromium)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium missing for the browser tests: run 'sudo apt-get install chromium'" >&2; exit 1; \
		fi; \
	fi

# The demo: a local durable cluster under ./var (reused next time), the
# server, and simulated trackers moving around the demo clients.
run: deps-pg build
	@DSN="$$($(PG) start $(VAR)/pg durable)" && export DATABASE_URL="$$DSN" && \
	{ [ -s $(VAR)/data.key ] || { umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >$(VAR)/data.key; }; } && \
	export CAREVISIT_DATA_KEY="$${CAREVISIT_DATA_KEY:-$$(cat $(VAR)/data.key)}" && \
	$(BIN)/carevisit migrate && $(BIN)/carevisit demo seed && \
	( $(BIN)/firmware-sim demo >$(VAR)/firmware-sim.log 2>&1 & echo $$! >$(VAR)/firmware-sim.pid ) && \
	trap 'kill $$(cat $(VAR)/firmware-sim.pid) 2>/dev/null' EXIT && \
	$(BIN)/carevisit serve

stop:
	-@kill $$(cat $(VAR)/firmware-sim.pid 2>/dev/null) 2>/dev/null; true
	$(PG) stop $(VAR)/pg

# One throwaway cluster for the whole run; every test package gets fresh
# databases on it.
test: deps-pg deps-browser
	bash scripts/test.sh

# The suite under the race detector (about 3 times slower; not part of make test).
test-race: deps-pg deps-browser
	bash scripts/test.sh -race

vet:
	$(GO) vet ./...

fuzz:
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 30s ./protocol/gt06
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 30s ./protocol/h02
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 30s ./protocol/watch
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 30s ./protocol/osmand

bench:
	$(GO) test -run XXX -bench . -benchmem ./protocol/... ./geofence/...

# End-to-end ingest benchmark: server + throwaway PostgreSQL + firmware-sim
# load on this machine. See docs/benchmarks-ingest.md.
bench-ingest: deps-pg build
	bash scripts/bench-ingest.sh

clean:
	rm -rf $(BIN)
