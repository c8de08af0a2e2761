# regvault - build, test, demo, packages.
#   make            build/regvault
#   make deps       install the Debian packages the build, demo and tests need
#   make deps-demo  only those the build and demo need
#   make check      deps + build (normal and ASan/UBSan) + every test
#   make demo       deps + build + a local three-member cluster, a snapshot, status
#   make SAN=1      sanitizer build in build/asan
#   make TSAN=1     ThreadSanitizer build in build/tsan (for the threaded S3 store)
#   make HOOKS=1    the normal flags with the test hooks, in build/hooks (for valgrind)
# The test hooks (-DRV_TEST_HOOKS: RV_TEST_CRASH_AT, REGVAULT_S3_MAX_ATTEMPTS...) are
# in the SAN, TSAN and HOOKS builds only, never in build/regvault, the one packaged.
#   make fuzz       libFuzzer targets (tests/fuzz) built in build/fuzz, each run
#                   FUZZ_SECONDS (60) on a copy of its corpus; make fuzz-build only builds

BUILD   ?= build
ifeq ($(SAN),1)
BUILD   := build/asan
endif
ifeq ($(TSAN),1)
BUILD   := build/tsan
endif
ifeq ($(HOOKS),1)
BUILD   := build/hooks
endif
ifeq ($(FUZZ),1)
BUILD   := build/fuzz
endif

CC      ?= cc
# The fuzz build needs clang's libFuzzer (Debian: clang-14, libclang-rt-14-dev).
FUZZ_CC ?= clang-14
ifeq ($(FUZZ),1)
CC      := $(FUZZ_CC)
OPT     := -O1
endif
PKGS    := libprotobuf-c libzstd libarchive libcurl yaml-0.1 libcrypto jansson libsystemd
OPT     ?= -O2
# CPPFLAGS, CFLAGS and LDFLAGS from the environment are kept (packagers pass
# dpkg-buildflags or %optflags there); the project's own flags, -Werror included, are added.
CFLAGS  ?= $(OPT) -g
# Asked once per make (:=): CFLAGS is a recursive variable, expanded at every compile,
# and pkg-config takes about a second to walk grpc's dependencies.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) grpc 2>/dev/null)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation \
           -I. -I$(BUILD)/gen $(PKG_CFLAGS)
LDLIBS  := -lgrpc -lgpr $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
# clang knows neither gcc's -Wformat-truncation nor, then, its -Wno- form.
CFLAGS  += -Wno-unknown-warning-option
# Library objects get coverage (fuzzer-no-link); only the targets link libFuzzer's main.
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
           -gline-tables-only
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif
ifeq ($(TSAN),1)
CFLAGS  += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif
ifneq ($(filter 1,$(SAN) $(TSAN) $(HOOKS)),)
CFLAGS  += -DRV_TEST_HOOKS
endif

MODULES  := common etcd registry snapshot maint restore scheduler
LIB_SRCS := $(sort $(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
CLI_SRCS := $(sort $(wildcard cli/*.c))
UNIT_SRCS:= $(sort $(wildcard tests/unit/*.c))
GEN_SRCS := $(BUILD)/gen/etcd.pb-c.c $(BUILD)/gen/agent.pb-c.c

ifeq ($(FUZZ),1)
# Only the modules the fuzz targets link (the build is part of make check): a
# target that needs more fails to link, naming the symbol.
LIB_SRCS := $(filter common/% etcd/% snapshot/% maint/rule.c scheduler/% registry/capability_manifest.c registry/manifest_dir.c registry/semver.c,$(LIB_SRCS))
endif
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/gen/etcd.pb-c.o $(BUILD)/obj/gen/agent.pb-c.o
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
UNIT_OBJS:= $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRCS))

.PHONY: all deps deps-demo check demo unit clean install man deb rpm asan fuzz fuzz-build fuzz-targets
all: $(BUILD)/regvault

$(BUILD)/gen/etcd.pb-c.c $(BUILD)/gen/etcd.pb-c.h: proto/etcd.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/etcd.proto

$(BUILD)/obj/gen/etcd.pb-c.o: $(BUILD)/gen/etcd.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The agent's own service (docs/reference/agent.md).
$(BUILD)/gen/agent.pb-c.c $(BUILD)/gen/agent.pb-c.h: proto/agent.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/agent.proto

$(BUILD)/obj/gen/agent.pb-c.o: $(BUILD)/gen/agent.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Every object may include the generated header: make it exist first.
$(BUILD)/obj/%.o: %.c $(BUILD)/gen/etcd.pb-c.h $(BUILD)/gen/agent.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libregvault.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/regvault: $(CLI_OBJS) $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libregvault.a $(LDLIBS)

# The unit tests speak with the CLI's wording of advice (cli/advice.c), as the
# messages they check were written for it.
$(BUILD)/test-unit: $(UNIT_OBJS) $(BUILD)/obj/cli/advice.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(BUILD)/obj/cli/advice.o $(BUILD)/libregvault.a $(LDLIBS)

unit: $(BUILD)/test-unit
	$(BUILD)/test-unit

asan:
	$(MAKE) SAN=1 all build/asan/test-unit

deps:
	@bash packaging/deps.sh all

deps-demo:
	@bash packaging/deps.sh demo

# The builds the tests use, side by side on every core (one after the other they left a
# core idle for minutes), then the tests. The tools and the HOOKS and TSAN builds are
# made here rather than by the first test that needs them, in the middle of the runs.
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
check: deps
	@start=$$(date +%s); $(MAKE) -j$(CHECK_JOBS) check-builds && echo "check: builds took $$(($$(date +%s) - start)) s"
	bash tests/run

.PHONY: check-builds check-build-plain check-build-asan check-build-fuzz check-build-hooks check-build-tsan
check-builds: check-build-plain check-build-asan check-build-fuzz check-build-hooks check-build-tsan
check-build-plain:
	$(MAKE) all man build/test-unit build/etcd-tool build/put-tool
check-build-asan:
	$(MAKE) SAN=1 all build/asan/test-unit build/asan/etcd-tool build/asan/store-tool build/asan/metrics-tool
check-build-fuzz:
	$(MAKE) FUZZ=1 fuzz-targets
check-build-hooks:
	$(MAKE) HOOKS=1 all build/hooks/store-tool
# Where ThreadSanitizer cannot build, its tests skip (they say so): not a failure here.
check-build-tsan:
	@$(MAKE) TSAN=1 build/tsan/regvault build/tsan/store-tool build/tsan/etcd-tool || \
	  echo "check: no ThreadSanitizer build here; the tests that need it will skip"

demo: deps-demo all
	bash tests/demo.sh

# Man pages from docs/man/*.md, which include the reference pages the README is made of.
MAN_PAGES := build/man/man1/regvault.1 build/man/man5/regvault.yaml.5
MAN_DEPS  := docs/make-man.py $(wildcard docs/reference/*.md) common/common.h
build/man/man1/%.1: docs/man/%.1.md $(MAN_DEPS)
	@mkdir -p $(dir $@)
	python3 docs/make-man.py $< $@
build/man/man5/%.5: docs/man/%.5.md $(MAN_DEPS)
	@mkdir -p $(dir $@)
	python3 docs/make-man.py $< $@
man: $(MAN_PAGES)

PREFIX ?= /usr
MANDIR ?= $(PREFIX)/share/man
RV_PKG_VERSION := $(shell sed -n 's/^#define RV_VERSION "\(.*\)"/\1/p' common/common.h)
DESTDIR ?=
install: all man
	install -D -m 0755 $(BUILD)/regvault $(DESTDIR)$(PREFIX)/bin/regvault
	install -D -m 0644 build/man/man1/regvault.1 $(DESTDIR)$(MANDIR)/man1/regvault.1
	install -D -m 0644 build/man/man5/regvault.yaml.5 $(DESTDIR)$(MANDIR)/man5/regvault.yaml.5

# Packages are built from the source tree (a copy under build/pkg), as a distribution
# would: dpkg-buildpackage with debian/, rpmbuild with packaging/rpm/regvault.spec.
deb:
	bash packaging/deb/build.sh build/pkg

rpm:
	bash packaging/rpm/build.sh build/pkg $(RV_PKG_VERSION)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' -type f 2>/dev/null)

# Test driver for the store API (tests/it/30-s3-store.sh); not installed.
$(BUILD)/store-tool: $(BUILD)/obj/tests/tools/store_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# The metrics endpoint in a poll() loop (tests/it/56-metrics.sh); not installed.
$(BUILD)/metrics-tool: $(BUILD)/obj/tests/tools/metrics_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# A steady writer at a given rate (bench/continuous.sh); not installed.
$(BUILD)/put-tool: $(BUILD)/obj/bench/put_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# The bare Snapshot stream, discarded: the floor the benchmarks compare against.
$(BUILD)/stream-tool: $(BUILD)/obj/bench/stream_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# Test driver for the etcd client's streams, Txn and memory (tests/it/14-etcd-streams.sh).
$(BUILD)/etcd-tool: $(BUILD)/obj/tests/tools/etcd_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# ---- fuzzing (tests/fuzz): libFuzzer targets for the parsers of outside input ----
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60
# The etcd answers target stands in for the one RPC function, so that the client's
# own code reads the fuzzed messages (tests/fuzz/fuzz_etcd_pb.c).
$(BUILD)/fuzz_etcd_pb: LDFLAGS += -Wl,--wrap=etcd_unary
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

fuzz-targets: $(addprefix $(BUILD)/,$(FUZZ_TARGETS))

fuzz-build:
	$(MAKE) FUZZ=1 fuzz-targets

# Every target FUZZ_SECONDS on a copy of its corpus, after its saved crashes; a
# crash does not stop the others, and fails the whole at the end.
fuzz: fuzz-build
	@failed=; for t in $(FUZZ_TARGETS); do \
	  bash tests/fuzz/run-one.sh build/fuzz $${t#fuzz_} $(FUZZ_SECONDS) || failed="$$failed $${t#fuzz_}"; done; \
	[ -z "$$failed" ] || { echo "fuzz: crashed:$$failed"; exit 1; }
