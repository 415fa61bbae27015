# mk/serial.mk - the serial (UART) transport's tests: the host stack over `-d serial:PATH`
# through cbr-emu's pseudo-terminal behind a model of the iCEBreaker's UART bridge
# (docs/links.md). The transport's own unit test (tests/unit/test_tr_serial.c) runs with
# test-unit, and so under test-san.
#
#   make test-serial          cbr info, layers vs cpu, bad URIs, unplug, fault runs; and the
#                             real UART bridge: cbr info and packet round trips through
#                             cbr-uart-rtl (the iCEBreaker top, CORE=0, in Verilator); and
#                             conv layers vs cpu through cbr-uart-rtl-core (CORE=1: the
#                             bridge, the compact command block and the tiny core)
#   make test-serial-san      the same, fewer runs, cbr and cbr-emu under ASan + UBSan
#   make soak-serial          many more fault runs (SERIAL_SOAK_RUNS=1000)
#   make bench-serial         bytes/s and host CPU per MB over the emulated UART
#   make $(BUILD)/bin/cbr-uart-rtl        the bring-up image's RTL behind a pty (docs/links.md)
#   make $(BUILD)/bin/cbr-uart-rtl-core   the accelerator image's RTL behind a pty

SERIAL_SHAPE ?= 4x4
SERIAL_E2E_LAYERS ?= 8
SERIAL_FAULT_RUNS ?= 60
# faults the 60 runs must inject at least, to show the injector works: the count depends on
# the seed (146 to 310 seen), so the bar is well under the fewest seen
SERIAL_MIN_FAULTS ?= 100
SERIAL_SOAK_RUNS ?= 1000
SERIAL_EMU := $(BUILD)/bin/cbr-emu
SERIAL_SIM_DEP := $(BUILD)/sim/libcbrsim_$(SERIAL_SHAPE).so
SERIAL_RTL := $(BUILD)/bin/cbr-uart-rtl
SERIAL_RTL_CORE := $(BUILD)/bin/cbr-uart-rtl-core
SERIAL_RTL_SRC := rtl/boards/cbr_icebreaker_top.v rtl/cbr_uart_bridge.v $(CMD_RTL)
SERIAL_TEST_ENV = CBR=$(CBR) CBR_EMU=$(SERIAL_EMU) CBR_SIM_PATH=$${CBR_SIM_PATH:-$(abspath $(BUILD)/sim)} \
    CBR_UART_RTL=$(SERIAL_RTL) CBR_UART_RTL_CORE=$(SERIAL_RTL_CORE) \
    SERIAL_RTL_CHECK=$(BUILD)/tests/serial_rtl_check

.PHONY: test-serial test-serial-san soak-serial bench-serial
SERIAL_DEPS = $(SERIAL_EMU) $(CBR) $(SERIAL_RTL) $(SERIAL_RTL_CORE) $(BUILD)/tests/serial_rtl_check \
    $(if $(CBR_SIM_PATH),,$(SERIAL_SIM_DEP))
test-serial: $(SERIAL_DEPS) ## serial (UART): cbr-emu (info, layers vs cpu, bad URIs, unplug, faults), the bridge RTL, layers through the CORE=1 board RTL
	$(SERIAL_TEST_ENV) $(PYTHON) tests/emu/test_serial.py --shape $(SERIAL_SHAPE) \
	    --layers $(SERIAL_E2E_LAYERS) --fault-runs $(SERIAL_FAULT_RUNS) \
	    --min-faults $(SERIAL_MIN_FAULTS)

test-serial-san: $(if $(CBR_SIM_PATH),,$(SERIAL_SIM_DEP)) ## test-serial under ASan + UBSan (20 fault runs)
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=abort_on_error=1:print_stacktrace=1 \
	    $(MAKE) BUILD=$(BUILD)/san SAN=1 CBR_SIM_PATH=$${CBR_SIM_PATH:-$(abspath $(BUILD)/sim)} \
	    SERIAL_E2E_LAYERS=3 SERIAL_FAULT_RUNS=20 SERIAL_MIN_FAULTS=0 test-serial

soak-serial: $(SERIAL_EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(SERIAL_SIM_DEP)) ## many more serial fault runs (SERIAL_SOAK_RUNS, 1000)
	$(SERIAL_TEST_ENV) $(PYTHON) tests/emu/test_serial.py --shape $(SERIAL_SHAPE) \
	    --layers 0 --fault-runs $(SERIAL_SOAK_RUNS) --min-faults 0

bench-serial: $(SERIAL_EMU) $(CBR) $(if $(CBR_SIM_PATH),,$(SERIAL_SIM_DEP)) ## bytes/s and host CPU per MB over the emulated UART, paced and unpaced
	$(SERIAL_TEST_ENV) $(PYTHON) tests/emu/test_serial.py --shape $(SERIAL_SHAPE) --bench

# ---- the real UART bridge: the iCEBreaker top in Verilator behind a pty, bit level ----------
# cbr-uart-rtl is the link bring-up image (CORE=0), cbr-uart-rtl-core the accelerator image
# (CORE=1: the compact command block and the tiny core of rtl/tiny): one per bitstream, from the
# same source; both write an FST waveform with --trace FILE.fst.

SERIAL_RTL_CORE_SRC := rtl/boards/cbr_icebreaker_top.v rtl/cbr_uart_bridge.v \
    $(filter %.v,$(shell grep -v '^//' rtl/tiny/tiny.f))
SERIAL_RTL_VFLAGS := --cc --exe --build -O3 --x-assign fast --x-initial fast -Wno-fatal \
    --trace-fst --top-module cbr_icebreaker_top -MAKEFLAGS "OPT_FAST=-O2 OPT_SLOW=-O1"

$(SERIAL_RTL): $(SERIAL_RTL_SRC) emu/cbr_uart_rtl.cpp mk/serial.mk
	@rm -rf $(BUILD)/uart-rtl && mkdir -p $(BUILD)/uart-rtl $(@D)
	$(VERILATOR) $(SERIAL_RTL_VFLAGS) -GCORE=0 --Mdir $(BUILD)/uart-rtl -o cbr-uart-rtl \
	    -CFLAGS -DCBR_UART_CORE=0 $(SERIAL_RTL_SRC) $(abspath emu/cbr_uart_rtl.cpp) \
	    > $(BUILD)/uart-rtl/build.log 2>&1 || { tail -30 $(BUILD)/uart-rtl/build.log; exit 1; }
	cp $(BUILD)/uart-rtl/cbr-uart-rtl $@

$(SERIAL_RTL_CORE): $(SERIAL_RTL_CORE_SRC) rtl/tiny/tiny.f emu/cbr_uart_rtl.cpp mk/serial.mk
	@rm -rf $(BUILD)/uart-rtl-core && mkdir -p $(BUILD)/uart-rtl-core $(@D)
	$(VERILATOR) $(SERIAL_RTL_VFLAGS) -GCORE=1 --Mdir $(BUILD)/uart-rtl-core \
	    -o cbr-uart-rtl-core -CFLAGS -DCBR_UART_CORE=1 $(SERIAL_RTL_CORE_SRC) \
	    $(abspath emu/cbr_uart_rtl.cpp) > $(BUILD)/uart-rtl-core/build.log 2>&1 || \
	    { tail -30 $(BUILD)/uart-rtl-core/build.log; exit 1; }
	cp $(BUILD)/uart-rtl-core/cbr-uart-rtl-core $@

$(BUILD)/tests/serial_rtl_check: tests/emu/serial_rtl_check.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -Wno-missing-prototypes -MMD -MP $< -o $@ \
	    $(LDFLAGS_ALL) $(LIBA) $(LIBS)
