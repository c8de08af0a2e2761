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

CC      ?= cc
PKGS    := libprotobuf-c libzstd libarchive libcurl yaml-0.1 libcrypto jansson
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation \
           -I. -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS) grpc 2>/dev/null)
LDLIBS  := -lgrpc -lgpr $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
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
GEN_SRCS := $(BUILD)/gen/etcd.pb-c.c

LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/gen/etcd.pb-c.o
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
UNIT_OBJS:= $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRCS))

.PHONY: all deps deps-demo check demo unit clean install deb rpm asan
all: $(BUILD)/regvault

$(BUILD)/gen/etcd.pb-c.c $(BUILD)/gen/etcd.pb-c.h: proto/etcd.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/etcd.proto

$(BUILD)/obj/gen/etcd.pb-c.o: $(BUILD)/gen/etcd.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Every object may include the generated header: make it exist first.
$(BUILD)/obj/%.o: %.c $(BUILD)/gen/etcd.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libregvault.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/regvault: $(CLI_OBJS) $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libregvault.a $(LDLIBS)

$(BUILD)/test-unit: $(UNIT_OBJS) $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(BUILD)/libregvault.a $(LDLIBS)

unit: $(BUILD)/test-unit
	$(BUILD)/test-unit

asan:
	$(MAKE) SAN=1 all build/asan/test-unit

deps:
	@bash packaging/deps.sh all

deps-demo:
	@bash packaging/deps.sh demo

check: deps
	$(MAKE) all $(BUILD)/test-unit
	$(MAKE) asan
	bash tests/run

demo: deps-demo all
	bash tests/demo.sh

PREFIX ?= /usr
RV_PKG_VERSION := $(shell sed -n 's/^#define RV_VERSION "\(.*\)"/\1/p' common/common.h)
DESTDIR ?=
install: all
	install -D -m 0755 $(BUILD)/regvault $(DESTDIR)$(PREFIX)/bin/regvault

deb: all
	bash packaging/deb/build.sh $(BUILD) $(BUILD)/pkg $(RV_PKG_VERSION)

rpm: all
	bash packaging/rpm/build.sh $(BUILD) $(BUILD)/pkg $(RV_PKG_VERSION)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# Test driver for the store API (tests/it/30-s3-store.sh); not installed.
$(BUILD)/store-tool: $(BUILD)/obj/tests/tools/store_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)

# The bare Snapshot stream, discarded: the floor the benchmarks compare against.
$(BUILD)/stream-tool: $(BUILD)/obj/bench/stream_tool.o $(BUILD)/libregvault.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libregvault.a $(LDLIBS)
