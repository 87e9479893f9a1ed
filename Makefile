# libkalam build. `make` builds build/libkalam.so and build/kalam.pc.
# See README.md (and docs/REFERENCE.md for the format and the ABI).

# rustup installs cargo under ~/.cargo/bin, which a plain shell may not have
# on its PATH (bindings/datafusion is built with it).
export PATH := $(PATH):$(HOME)/.cargo/bin

GO      ?= go
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
VERSION := 0.1.0
SONAME  := libkalam.so.0

BUILD   := build
LIB     := $(BUILD)/libkalam.so
PC      := $(BUILD)/kalam.pc
PYPKG   := bindings/python/kalam
VENV_PY := .venv/bin/python

# The library depends on every Go, C and header file outside build outputs.
LIB_SRC := go.mod go.sum include/kalam.h \
	$(shell find . \( -path ./build -o -path ./.venv -o -path ./bindings -o -path ./tests \
	   -o -path ./examples -o -path ./.git \) -prune -o \
	   \( -name '*.go' -o -name '*.c' -o -name '*.h' \) -not -name '*_test.go' -print)
GOFLAGS_LIB := -buildmode=c-shared -trimpath
LDFLAGS_LIB := -s -w -extldflags -Wl,-soname,$(SONAME)

CTEST_SRC  := $(wildcard tests/c/test_*.c)
CTEST_BIN  := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(CTEST_SRC))
CTEST_CFLAGS := -std=c11 -D_GNU_SOURCE -g -gdwarf-4 -O1 -Wall -Wextra -Werror -Iinclude -pthread
# RUNPATH (not RPATH) so that LD_LIBRARY_PATH can swap in the cgocheck2 build.
CTEST_LDFLAGS := -L$(BUILD) -Wl,--enable-new-dtags,-rpath,$(abspath $(BUILD)) -lkalam -pthread
CHECK2_LIB := $(BUILD)/cgocheck2/libkalam.so
VALGRIND_LIB := $(BUILD)/valgrind/libkalam.so

EX_PREFIX := $(abspath $(BUILD)/examples/prefix)

.PHONY: all lib install test test-go test-c test-c-plain test-c-cgocheck2 test-c-valgrind \
	test-python bootstrap demo examples clean bench bench-smoke wheel test-wheel datafusion-wheel \
	test-datafusion-rust

all: lib

lib: $(LIB) $(PC)

$(LIB): $(LIB_SRC)
	@mkdir -p $(BUILD)
	$(GO) build $(GOFLAGS_LIB) -ldflags "$(LDFLAGS_LIB)" -o $@ ./capi
	@rm -f $(BUILD)/libkalam.h   # cgo's generated header is not the ABI: include/kalam.h is
	ln -sf libkalam.so $(BUILD)/$(SONAME)
	@# Copy then rename: overwriting a loaded .so in place crashes the processes using it.
	@if [ -d $(PYPKG) ]; then cp $@ $(PYPKG)/.libkalam.so.tmp && mv -f $(PYPKG)/.libkalam.so.tmp $(PYPKG)/libkalam.so \
		&& echo "copied $@ to $(PYPKG)/"; fi

$(PC): kalam.pc.in Makefile
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libkalam.so
	install -m 0644 include/kalam.h $(DESTDIR)$(PREFIX)/include/kalam.h
	install -m 0644 examples/cpp/kalam.hpp $(DESTDIR)$(PREFIX)/include/kalam.hpp
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' kalam.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/kalam.pc

bootstrap:
	bash scripts/bootstrap.sh

# dist/kalam-*.whl: the Python package with libkalam.so and the libraries it
# needs beyond the manylinux baseline (RocksDB, its compression libraries)
# grafted in by auditwheel (scripts/build-wheel.sh).
wheel: lib
	bash scripts/build-wheel.sh

# ---- tests -------------------------------------------------------------------

test: bootstrap
	$(MAKE) test-go
	$(MAKE) test-c
	$(MAKE) examples
	$(MAKE) datafusion-wheel
	$(MAKE) test-datafusion-rust
	$(MAKE) test-python
	$(MAKE) test-wheel
	$(MAKE) fuzz-smoke
	$(MAKE) bench-smoke

# Go tests, then the race detector over the packages with concurrency of
# their own. Stores go to a tmpfs when there is one (scripts/test-tmpdir.sh).
TEST_TMP = $(shell bash scripts/test-tmpdir.sh)

test-go:
	TMPDIR=$(TEST_TMP) $(GO) test ./...
	TMPDIR=$(TEST_TMP) $(GO) test -race ./engine ./arrowexport ./capi

# Builds the wheel, installs it in a fresh venv and uses it with the system
# RocksDB hidden (tests/wheel/test_wheel.sh).
test-wheel:
	bash tests/wheel/test_wheel.sh

$(BUILD)/tests/%: tests/c/%.c tests/c/harness.h include/kalam.h $(LIB)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CTEST_CFLAGS) -o $@ $< $(CTEST_LDFLAGS)

$(CHECK2_LIB): $(LIB_SRC)
	@mkdir -p $(dir $@)
	GOEXPERIMENT=cgocheck2 $(GO) build -buildmode=c-shared -o $@ ./capi
	@rm -f $(dir $@)libkalam.h
	ln -sf libkalam.so $(dir $@)$(SONAME)

# -tags valgrind: the Go runtime describes its heap and stacks to valgrind.
# DWARF 4 (Go and C parts): Debian's valgrind 3.19 cannot read DWARF 5.
$(VALGRIND_LIB): $(LIB_SRC)
	@mkdir -p $(dir $@)
	GOEXPERIMENT=nodwarf5 CGO_CFLAGS="-O2 -g -gdwarf-4" $(GO) build -tags valgrind -buildmode=c-shared -o $@ ./capi
	@rm -f $(dir $@)libkalam.h
	ln -sf libkalam.so $(dir $@)$(SONAME)

# Every C test program three times: plainly (with GOGC=1 so that the
# collector runs constantly), against a GOEXPERIMENT=cgocheck2 build (checks
# every cgo pointer rule), and under valgrind.
test-c: test-c-plain test-c-cgocheck2 test-c-valgrind

test-c-plain: $(CTEST_BIN)
	@bash tests/c/run.sh plain $(CTEST_BIN)

test-c-cgocheck2: $(CTEST_BIN) $(CHECK2_LIB)
	@bash tests/c/run.sh cgocheck2 $(CTEST_BIN)

test-c-valgrind: $(CTEST_BIN) $(VALGRIND_LIB)
	@bash tests/c/run.sh valgrind $(CTEST_BIN)

test-python: lib
	@if ls tests/python/test_*.py >/dev/null 2>&1; then \
		$(VENV_PY) -m pytest -q tests/python; \
	else \
		echo "test-python: no tests in tests/python"; \
	fi

# ---- fuzzing (tests/FUZZING.md) -----------------------------------------------

# `make fuzz` runs every Go fuzz target for FUZZTIME (go test fuzzes one target
# per run); `make fuzz-smoke` runs each for FUZZ_SMOKE_TIME. A failing input is
# written to the package's testdata/fuzz/FuzzXxx/, where `go test` replays it
# from then on: commit it with the fix. FUZZFLAGS passes more flags (e.g.
# -parallel 2 on a shared machine).
# The smoke run counts executions instead of seconds: go1.26's fuzzer can
# end a duration-bounded run with a spurious "context deadline exceeded"
# failure and no failing input (golang/go#75804, fixed in go1.27); a count
# has no deadline to race. 30000 inputs take 1-13 s per target here.
FUZZTIME ?= 60s
FUZZ_SMOKE_TIME ?= 30000x
FUZZFLAGS ?=
FUZZ_TARGETS := ./engine/filter:FuzzParse ./manifest:FuzzDecode ./engine/keyenc:FuzzKeyOrder \
	./engine/rowcodec:FuzzRowRoundTrip ./engine/rowcodec:FuzzDecodeRow ./arrowexport:FuzzImport

.PHONY: fuzz fuzz-smoke

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg), $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; \
	done

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE_TIME)

# ---- DataFusion provider (bindings/datafusion) --------------------------------

# The Rust crate kalam-datafusion and its wheel (Python module kalam_datafusion).
CARGO          ?= cargo
MATURIN_VERSION := 1.16.0
DF_CRATE       := bindings/datafusion
WHEELS         := $(BUILD)/wheels
# Outside the clone, so that CI's fresh clones reuse what cargo built before
# (a cold build of the crate and its DataFusion dependencies takes 8-10
# minutes on 2 cores; a warm one seconds). Override to keep it in the tree.
export CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kalam/cargo-target

# Builds the wheel into build/wheels/ and installs it into .venv.
datafusion-wheel:
	@test -x $(VENV_PY) || { echo "datafusion-wheel: $(VENV_PY) is missing (make bootstrap)"; exit 1; }
	@$(VENV_PY) -m maturin --version 2>/dev/null | grep -qx "maturin $(MATURIN_VERSION)" \
		|| $(VENV_PY) -m pip install -q "maturin==$(MATURIN_VERSION)"
	@mkdir -p $(WHEELS)
	rm -f $(WHEELS)/kalam_datafusion-*.whl
	$(VENV_PY) -m maturin build --release --locked --manifest-path $(DF_CRATE)/Cargo.toml \
		--interpreter $(VENV_PY) --compatibility linux --strip --out $(WHEELS)
	$(VENV_PY) -m pip install -q --force-reinstall --no-deps $(WHEELS)/kalam_datafusion-*.whl

# The crate's own tests: filter translator unit tests and SQL end to end
# against build/libkalam.so.
# --release: it shares most of what the wheel's build compiled (a debug
# build would compile DataFusion a second time).
test-datafusion-rust: lib
	KALAM_LIBRARY=$(abspath $(LIB)) $(CARGO) test --release --locked --manifest-path $(DF_CRATE)/Cargo.toml

# ---- benchmarks (bench/bench.py; not part of `make test`) ---------------------

# Writes bench/RESULTS.md and bench/results.json (5-8 minutes on 2 cores,
# on a quiet machine: the figures are only as good as the quiet). The
# kalam-datafusion wheel is built first so that the DataFusion comparison
# measures the pushdown provider, not the fallback. BENCH_FLAGS passes more
# flags (e.g. --threads 2, --scale 0.2 for a quick check without verdicts).
BENCH_FLAGS ?=
bench: bootstrap lib datafusion-wheel
	$(VENV_PY) bench/bench.py $(BENCH_FLAGS)

# The same script at tiny sizes, one run, into a temporary directory: checks
# that every section still produces numbers and prints no verdict (seconds;
# run by `make test`).
bench-smoke: lib
	$(VENV_PY) bench/bench.py --smoke

demo: bootstrap lib datafusion-wheel
	$(VENV_PY) examples/python/demo.py ./demo-data

# ---- examples: built against an installed copy, through pkg-config ---------

examples: $(LIB)
	$(MAKE) install PREFIX=$(EX_PREFIX)
	@mkdir -p $(BUILD)/examples
	PKG_CONFIG_PATH=$(EX_PREFIX)/lib/pkgconfig; export PKG_CONFIG_PATH; \
	for ex in scan_table system_tables; do \
		$(CC) -std=c11 -Wall -Wextra -Werror -o $(BUILD)/examples/$$ex examples/c/$$ex.c \
			$$(pkg-config --cflags --libs kalam) -Wl,-rpath,$(EX_PREFIX)/lib || exit 1; \
	done; \
	$(CXX) -std=c++17 -Wall -Wextra -Werror -o $(BUILD)/examples/scan_cpp examples/cpp/scan.cpp \
		$$(pkg-config --cflags --libs kalam) -Wl,-rpath,$(EX_PREFIX)/lib
	rm -rf $(BUILD)/examples/store
	$(BUILD)/examples/scan_cpp $(BUILD)/examples/store
	$(BUILD)/examples/scan_table $(BUILD)/examples/store demo.readings "value > 20"
	$(BUILD)/examples/system_tables $(BUILD)/examples/store

clean:
	@# S3 test servers (scripts/s3-server.sh) whose state is about to go.
	@for d in $(BUILD)/s3-server $(BUILD)/s3-server/*; do \
		if [ -f $$d/pid ]; then KALAM_S3_STATE=$$d bash scripts/s3-server.sh stop; fi; done
	rm -rf $(BUILD) dist
	rm -f $(PYPKG)/libkalam.so
