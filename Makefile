# cbr - the one entry point. `make help` lists the targets.
#
# Everything generated goes under $(BUILD) (default build/). The sanitizer pass of the tests
# builds a second tree under build/san with AddressSanitizer and UndefinedBehaviorSanitizer.

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
PREFIX ?= /usr/local
UDEVDIR ?= /lib/udev/rules.d
DESTDIR ?=
SAN ?=

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
FUZZ_CC ?= clang
PYTHON ?= /usr/bin/python3

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS_ALL := -Ihost/include -Ihost/lib -Isim -D_GNU_SOURCE
CFLAGS_ALL := -std=c11 $(WARN) -O2 -g -fPIC -fvisibility=hidden $(CFLAGS)
LDFLAGS_ALL := $(LDFLAGS)
ifeq ($(SAN),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
LDFLAGS_ALL += -fsanitize=address,undefined
endif
USB_CFLAGS := $(shell pkg-config --cflags libusb-1.0 2>/dev/null || echo -I/usr/include/libusb-1.0)
USB_LIBS := $(shell pkg-config --libs libusb-1.0 2>/dev/null || echo -lusb-1.0)
CPPFLAGS_ALL += $(USB_CFLAGS)
LIBS := -lm -lpthread -ldl $(USB_LIBS)

CBR_MAJOR := $(shell sed -n 's/^\#define CBR_VERSION_MAJOR //p' host/include/cbr.h)
CBR_VERSION := $(shell sed -n 's/^\#define CBR_VERSION_STRING "\(.*\)"/\1/p' host/include/cbr.h)

# ---- sources -------------------------------------------------------------------------------
LIB_SRC := $(sort $(wildcard host/lib/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(sort $(wildcard host/cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBA := $(BUILD)/lib/libcbr.a
LIBSO := $(BUILD)/lib/libcbr.so
CBR := $(BUILD)/bin/cbr
DEMO := $(BUILD)/bin/cbr-demo
BENCH_HOST := $(BUILD)/tools/bench_host

DEPS_APT := gcc clang make pkg-config cppcheck python3 python3-numpy libcmocka-dev libusb-1.0-0-dev \
            umockdev libumockdev-dev \
            verilator iverilog yosys nextpnr-ice40 fpga-icestorm \
            libonnx-dev protobuf-c-compiler libprotobuf-c-dev \
            python3-onnx

.PHONY: all lib cli deps test unit-tests test-unit test-san test-cli test-example test-demo \
        test-install lint fuzz \
        demo install uninstall clean help

all: lib cli $(DEMO) sim-default emu ## build libcbr (.a, .so), the cbr CLI, the demo, the default sim board and cbr-emu

lib: $(LIBA) $(LIBSO)
cli: $(CBR)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# libcbr.so.X.Y.Z with the soname libcbr.so.X, and the two links, as installed.
$(LIBSO): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libcbr.so.$(CBR_MAJOR) $(LDFLAGS_ALL) \
	    -o $@.$(CBR_VERSION) $^ $(LIBS)
	ln -sf libcbr.so.$(CBR_VERSION) $@.$(CBR_MAJOR)
	ln -sf libcbr.so.$(CBR_MAJOR) $@

$(CBR): $(CLI_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIBA) $(LIBS)

$(DEMO): host/examples/demo_layer.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP $< -o $@ $(LDFLAGS_ALL) $(LIBA) $(LIBS)

# ---- tests ---------------------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -Wno-missing-prototypes -MMD -MP $< -o $@ \
	    $(LDFLAGS_ALL) $(LIBA) -lcmocka $(LIBS)

unit-tests: $(UNIT_BIN) $(CBR) $(BENCH_HOST)

# Runs every unit test binary; a failure in any fails the target after all have run.
test-unit: unit-tests ## build and run the cmocka unit tests
	@fail=0; for t in $(UNIT_BIN); do \
	    echo "== $$t"; $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; exit $$fail

# A sanitizer report aborts (SIGABRT), so the CLI tests see a crash, not an error exit.
test-san: ## unit and CLI tests under AddressSanitizer + UndefinedBehaviorSanitizer
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=abort_on_error=1:print_stacktrace=1 \
	    $(MAKE) BUILD=build/san SAN=1 test-unit test-cli

test-cli: $(CBR) ## end-to-end CLI tests against an independent Python model
	$(PYTHON) tests/cli/test_refmodel.py
	CBR=$(CBR) $(PYTHON) tests/cli/test_cli.py

test-example: $(LIBA) $(LIBSO) ## the README's C example, extracted, compiled and run
	BUILD=$(BUILD) CC=$(CC) bash tests/readme_example.sh

test-demo: $(DEMO) sim-default ## the demo (on the default device, sim) must stay within its error bound
	$(DEMO)

test: deps ## run the whole test suite (installs what it needs)
	$(MAKE) test-unit
	$(MAKE) test-cli
	$(MAKE) test-example
	$(MAKE) test-demo
	$(MAKE) test-install
	$(MAKE) test-san
	$(MAKE) test-rtl
	$(MAKE) test-rtl-cmd
	$(MAKE) test-rtl-core
	$(MAKE) test-rtl-tiny
	$(MAKE) test-rtl-shells
	$(MAKE) test-sim
	$(MAKE) test-emu
	$(MAKE) test-emu-usb
	$(MAKE) test-serial
	$(MAKE) test-serial-san
	$(MAKE) test-icarus
	$(MAKE) test-icarus-tiny
	$(MAKE) test-netlist-ice

# Installs into a scratch DESTDIR and builds a program against it with pkg-config.
test-install: all ## install into a scratch DESTDIR and link a program via pkg-config
	rm -rf $(BUILD)/stage
	$(MAKE) install DESTDIR=$(abspath $(BUILD)/stage) PREFIX=/usr
	test -x $(BUILD)/stage/usr/bin/cbr && test -f $(BUILD)/stage/usr/include/cbr.h
	test -f $(BUILD)/stage/usr/lib/libcbr.a && test -L $(BUILD)/stage/usr/lib/libcbr.so
	bash tests/udev_rule.sh $(BUILD)/stage$(UDEVDIR)/70-cbr.rules
	PKG_CONFIG_SYSROOT_DIR=$(abspath $(BUILD)/stage) \
	PKG_CONFIG_LIBDIR=$(abspath $(BUILD)/stage)/usr/lib/pkgconfig \
	    bash -c 'printf "#include <cbr.h>\n#include <stdio.h>\nint main(void){puts(cbr_strerror(CBR_EINVAL));return 0;}\n" \
	    | $(CC) -x c - -o $(BUILD)/stage/t $$(pkg-config --cflags --libs cbr) -Wl,-rpath,$(abspath $(BUILD)/stage)/usr/lib \
	    && $(BUILD)/stage/t | grep -q "invalid argument"'
	@echo "install: OK"

# ---- fuzzing -------------------------------------------------------------------------------
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS_ALL) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $< $(LIB_SRC) -o $@ $(LIBS)

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%) ## run each libFuzzer target FUZZ_SECONDS (600)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus/$$t $(BUILD)/fuzz/crashes/$$t; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
	    $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/crashes/$$t/ \
	        $(BUILD)/fuzz/corpus/$$t tests/fuzz/seeds/$$t || exit 1; \
	done

# ---- lint ----------------------------------------------------------------------------------
lint: deps ## static checks: cppcheck on the C code; Verilator, Icarus and yosys on the RTL
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	    --inline-suppr -Ihost/include -Ihost/lib -Isim host/lib host/cli emu tools
	$(MAKE) lint-rtl
	$(MAKE) lint-rtl-cmd
	$(MAKE) lint-rtl-core
	$(MAKE) lint-rtl-tiny
	$(MAKE) lint-rtl-boards
	$(MAKE) lint-rtl-shells

# ---- demo ----------------------------------------------------------------------------------
demo: deps ## the trained digits CNN (ONNX), int8 on the simulated board against the float model
	$(MAKE) all
	$(MAKE) demo-digits

# ---- install -------------------------------------------------------------------------------
install: all ## install libcbr, cbr.h, cbr.pc, cbr, and the udev rule for USB boards (UDEVDIR)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/libcbr.a
	install -m 755 $(LIBSO).$(CBR_VERSION) $(DESTDIR)$(PREFIX)/lib/libcbr.so.$(CBR_VERSION)
	ln -sf libcbr.so.$(CBR_VERSION) $(DESTDIR)$(PREFIX)/lib/libcbr.so.$(CBR_MAJOR)
	ln -sf libcbr.so.$(CBR_MAJOR) $(DESTDIR)$(PREFIX)/lib/libcbr.so
	install -m 644 host/include/cbr.h $(DESTDIR)$(PREFIX)/include/cbr.h
	install -m 755 $(CBR) $(DESTDIR)$(PREFIX)/bin/cbr
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(CBR_VERSION)|g' host/cbr.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cbr.pc
	install -d $(DESTDIR)$(UDEVDIR)
	install -m 644 host/udev/70-cbr.rules $(DESTDIR)$(UDEVDIR)/70-cbr.rules

uninstall: ## remove what install put under $(DESTDIR)$(PREFIX)
	rm -f $(DESTDIR)$(PREFIX)/lib/libcbr.a $(DESTDIR)$(PREFIX)/lib/libcbr.so* \
	    $(DESTDIR)$(PREFIX)/include/cbr.h $(DESTDIR)$(PREFIX)/bin/cbr \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/cbr.pc $(DESTDIR)$(UDEVDIR)/70-cbr.rules


# ---- deps ----------------------------------------------------------------------------------
deps: ## install the Debian packages the project needs (only the missing ones)
	@missing=$$(for p in $(DEPS_APT); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean: ## remove build/
	rm -rf $(BUILD) build

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 16

# mk/sim.mk first: others use SIM_DEFAULT in their prerequisites.
-include mk/sim.mk $(filter-out mk/sim.mk,$(wildcard mk/*.mk))
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
