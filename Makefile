# modelpack-snapshotter build.  `make` builds build/bin/*, `make test` runs
# everything CI runs (installing what it needs), `make demo` shows the main
# job end to end.  See README.md.

PREFIX ?= /usr/local
BUILD ?= build
GEN := $(BUILD)/gen
CACHE ?= .cache
UNSTABLE := $(CACHE)/unstable
# The TOML conformance corpus (toml-test) tests/test_toml.c runs: Debian
# ships it in golang-github-burntsushi-toml-dev, which `make unstable`
# fetches.  Set it to use another toml-test checkout.
MP_TOML_TEST_DIR ?= $(UNSTABLE)/root/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test

CC ?= cc
CLANG ?= clang
OPT ?= -O2
PKGS := grpc libprotobuf-c lmdb jansson libarchive libcrypto libzstd zlib libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
# -Ulinux: GNU C predefines "linux", a field name in the CRI protocol.
CFLAGS_COMMON = -std=gnu11 -g $(WARN) -D_GNU_SOURCE -Ulinux -I. -I$(GEN) $(PKG_CFLAGS)
LDLIBS_COMMON = $(PKG_LIBS) -lpthread
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PROTOS := proto/google/protobuf/empty.proto proto/google/protobuf/timestamp.proto \
	proto/google/protobuf/field_mask.proto proto/types/mount.proto \
	proto/snapshots/snapshots.proto proto/cri/api.proto \
	proto/content/content.proto proto/types/descriptor.proto \
	proto/images/images.proto proto/leases/leases.proto
PB_C := $(PROTOS:proto/%.proto=$(GEN)/%.pb-c.c)
PB_H := $(PB_C:.c=.h)

LIB_SRCS := $(sort $(wildcard util/*.c snapshotter/*.c model/*.c registry/*.c \
	store/*.c plugin/*.c)) $(PB_C)
# cli/*.c: the modelpack CLI's subcommands (cmd/modelpack.c dispatches).
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard cli/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)

UNIT_SRCS := $(sort $(wildcard tests/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/%.c=$(BUILD)/test/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/%.c=$(BUILD)/fuzz/%)
# integration/*.c are test programs; integration/lib/*.c is code they share.
INTEG_SRCS := $(sort $(wildcard integration/*.c))
INTEG_BINS := $(INTEG_SRCS:integration/%.c=$(BUILD)/bin/%)
INTEG_LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard integration/lib/*.c)))

# modelpack-image-verifier: containerd's image verifier (bindir plugin)
# applying the daemon's [signatures] policy before a pull.
BINS := $(BUILD)/bin/modelpack-snapshotter $(BUILD)/bin/modelpack \
	$(BUILD)/bin/modelpack-image-verifier
# bench/snapbench: Snapshots API latency driver (bench/run.sh, make bench);
# bench/metrics_record: the cost of recording a call (bench/metrics_bench.sh).
BENCH_BINS := $(BUILD)/bin/snapbench $(BUILD)/bin/nullsnap $(BUILD)/bin/metrics_record
# Test tools: programs the integration tests drive, never installed
# (tests/erofs_tool.c: the EROFS index writer for test_erofs_ref.sh).
TOOL_BINS := $(BUILD)/tools/erofs_tool

.PHONY: all deps unstable test unit fuzz fuzz-long integration bench bench-index bench-pull bench-sig demo install clean format format-check layers-check
.DEFAULT_GOAL := all

all: $(BINS) $(INTEG_BINS) $(BENCH_BINS) $(TOOL_BINS)

deps:
	@sh scripts/deps.sh

unstable:
	@sh scripts/fetch-unstable.sh $(UNSTABLE)

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	@echo "  PROTO   $<"
	@protoc-c --c_out=$(GEN) -Iproto $<

$(BUILD)/obj/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(OPT) $(CFLAGS_COMMON) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	@$(CC) -O1 $(SAN) $(CFLAGS_COMMON) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bin/modelpack-snapshotter: $(BUILD)/obj/cmd/modelpack-snapshotter.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(BUILD)/bin/modelpack-image-verifier: $(BUILD)/obj/cmd/modelpack-image-verifier.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(BUILD)/bin/modelpack: $(BUILD)/obj/cmd/modelpack.o $(CLI_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(BUILD)/bin/%: $(BUILD)/obj/integration/%.o $(INTEG_LIB_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(BENCH_BINS): $(BUILD)/bin/%: $(BUILD)/obj/bench/%.o $(INTEG_LIB_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(TOOL_BINS): $(BUILD)/tools/%: $(BUILD)/obj/tests/%.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

$(BUILD)/test/%: $(BUILD)/asan/tests/%.o $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(SAN) $^ -o $@ $(LDLIBS_COMMON) $(LDFLAGS)

# Fuzz targets build the library sources straight into the fuzzer binary with
# clang's libFuzzer and the sanitizers.
$(BUILD)/fuzz/%: tests/%.c $(LIB_SRCS) | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CLANG) -O1 -g -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Ulinux \
	  -Wall -Wextra -Wno-unused-parameter -I. -I$(GEN) $(PKG_CFLAGS) \
	  $< $(LIB_SRCS) -o $@ $(LDLIBS_COMMON)

# Unit tests read the toml-test corpus that `unstable` fetches; in-tree data
# (tests/data/) needs nothing.  The fetch is a no-op once done.
# Keep the sanitizer objects between runs (make would delete them as
# intermediates and rebuild the whole library each time).
.SECONDARY: $(ASAN_OBJS)

unit: unstable $(UNIT_BINS)
	@MP_TOML_TEST_DIR='$(MP_TOML_TEST_DIR)' sh scripts/run-unit.sh $(UNIT_BINS)

fuzz: $(FUZZ_BINS)
	@sh scripts/run-fuzz.sh $(BUILD)/fuzz $(FUZZ_BINS)

# Long fuzzing, not part of `make test`: each target of FUZZ_LONG_TARGETS
# (default all) for FUZZ_LONG_SECONDS, FUZZ_JOBS at a time, on a corpus kept
# in FUZZ_CORPUS.  docs/fuzzing.md has the figures of past runs.
FUZZ_LONG_SECONDS ?= 600
FUZZ_JOBS ?= 1
FUZZ_CORPUS ?= $(CACHE)/fuzz-corpus
FUZZ_LONG_TARGETS ?= $(FUZZ_SRCS:tests/%.c=%)
fuzz-long: $(FUZZ_LONG_TARGETS:%=$(BUILD)/fuzz/%)
	@FUZZ_LONG_SECONDS=$(FUZZ_LONG_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	  FUZZ_CORPUS=$(FUZZ_CORPUS) bash scripts/fuzz-long.sh $^

integration: all unstable
	@sh integration/run.sh

# The README's test command: installs what it needs, then unit tests under
# ASan/UBSan, a short fuzz run, format check, integration against real
# containerd 1.6 and 2.x.
test: deps
	@$(MAKE) --no-print-directory unstable
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory layers-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory integration

bench: deps
	@$(MAKE) --no-print-directory unstable all
	@sh bench/run.sh
	@bash bench/sig_bench.sh
	@bash bench/index_bench.sh

# bench/index_bench.sh: zero-copy model mounts (2 GiB and 16 GiB models; about
# 25 minutes, 40 GiB of disk), also the last part of `make bench`.
bench-index: all unstable
	@bash bench/index_bench.sh

# bench/sig_bench.sh: signature verification cost (first verification per
# format against cosign and notation, through a 25 ms-per-request proxy; the
# daemon's check at Prepare in CRI pods); about 3 minutes, part of `make bench`.
bench-sig: all unstable
	@bash bench/sig_bench.sh

# bench/pull_bench.sh: modelpack pull of a 2 GiB model against oras and skopeo.
bench-pull: all unstable
	@bash bench/pull_bench.sh

demo: deps
	@$(MAKE) --no-print-directory unstable all
	@bash scripts/demo.sh

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/modelpack-snapshotter
	cp -r config $(DESTDIR)$(PREFIX)/share/modelpack-snapshotter/

# Includes follow the folders' dependency order (scripts/check-layers.sh).
layers-check:
	@sh scripts/check-layers.sh

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && echo "format: ok"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
