# mk/tiny.mk - the tiny core for the iCE40UP5K (rtl/tiny, docs/tiny.md): its simulated board,
# its tests and its lint (included by the top-level Makefile).
#
#   make sim-ice          build/sim/libcbrsim_ice.so: Verilator model of rtl/tiny/cbr_top_tiny
#                         with its counters (COUNTERS=1: the cycle figures of --stats),
#                         loaded by libcbr as the device "sim:ice"
#   make test-rtl-tiny    test_sim's random layers on sim:ice against the golden model, the
#                         CLI tests on sim:ice against the cpu device, and lint-rtl-tiny's lint
#                         and synthesis for COUNTERS=0 (the iCEBreaker image's configuration,
#                         which sim:ice, built with the counters, does not run)
#   make lint-rtl-tiny    verilator -Wall of the tiny core and top; yosys synth_ice40 -dsp of
#                         cbr_tiny_core (SPRAM primitives) with no latches, and its resources
#                         (yosys cells, nextpnr-ice40 --pack-only logic cells) under
#                         $(BUILD)/rtl/tiny/c1/; both with COUNTERS=1 (sim:ice) and with
#                         COUNTERS=0 (the iCEBreaker image, rtl/boards/cbr_icebreaker_top.v)
#                         under $(BUILD)/rtl/tiny/c0/

YOSYS ?= yosys
NEXTPNR_ICE40 ?= nextpnr-ice40
TINY_F := rtl/tiny/tiny.f
TINY_SRC = $(filter %.v,$(shell grep -v '^//' $(TINY_F) 2>/dev/null))
TINY_LAYERS ?= 1500
TINY_CLI_LAYERS ?= 60
TINY_DIR := $(BUILD)/rtl/tiny

.PHONY: sim-ice test-rtl-tiny lint-rtl-tiny
sim-ice: $(BUILD)/sim/libcbrsim_ice.so ## build the tiny core's simulated board (sim:ice)

# The same harness as the cbr_top boards: the model is renamed Vcbr_top (--prefix).
$(BUILD)/sim/libcbrsim_ice.so: $(TINY_F) $(TINY_SRC) sim/cbr_sim.cpp sim/cbr_sim.h sim/cbr_sim.map
	@rm -rf $(BUILD)/sim/ice && mkdir -p $(BUILD)/sim/ice
	$(VERILATOR) --cc -O3 --x-assign fast --x-initial fast --trace-fst \
	    --top-module cbr_top_tiny -GCOUNTERS=1 --prefix Vcbr_top -f $(TINY_F) rtl/cbr.vlt \
	    --Mdir $(BUILD)/sim/ice \
	    -CFLAGS "-fPIC -DCBR_SIM_ROWS=4 -DCBR_SIM_COLS=4 -I$(abspath sim)" \
	    $(abspath sim/cbr_sim.cpp)
	$(MAKE) -s -C $(BUILD)/sim/ice -f Vcbr_top.mk OPT_FAST=-O2 OPT_SLOW=-O1 \
	    Vcbr_top__ALL.a cbr_sim.o verilated.o verilated_fst_c.o verilated_threads.o
	$(CXX) -shared -o $@ -Wl,--version-script=sim/cbr_sim.map \
	    $(BUILD)/sim/ice/cbr_sim.o $(BUILD)/sim/ice/Vcbr_top__ALL.a \
	    $(BUILD)/sim/ice/verilated.o $(BUILD)/sim/ice/verilated_fst_c.o \
	    $(BUILD)/sim/ice/verilated_threads.o -lz -lpthread

test-rtl-tiny: $(BUILD)/sim/libcbrsim_ice.so $(BUILD)/tests/test_sim $(CBR) lint-rtl-tiny-nocnt ## the tiny core (sim:ice) vs the golden model
	CBR_SIM_PATH=$(abspath $(BUILD)/sim) $(BUILD)/tests/test_sim --layers $(TINY_LAYERS) ice
	CBR_SIM_PATH=$(abspath $(BUILD)/sim) CBR=$(CBR) $(PYTHON) tests/cli/test_cli.py \
	    --device sim:ice --compare-device cpu --layers $(TINY_CLI_LAYERS)

# One configuration of the core: COUNTERS=1 (sim:ice) or COUNTERS=0 (the iCEBreaker image,
# rtl/boards/cbr_icebreaker_top.v: no counters). Verilator -Wall of the top and the core, yosys
# with no latches, the resources into $(TINY_DIR)/c$(1)/.
define tiny_lint
	@mkdir -p $(TINY_DIR)/c$(1)
	$(VERILATOR) --lint-only -Wall -f $(TINY_F) rtl/cbr.vlt --top-module cbr_top_tiny -GCOUNTERS=$(1)
	$(VERILATOR) --lint-only -Wall -f $(TINY_F) rtl/cbr.vlt --top-module cbr_tiny_core -GCOUNTERS=$(1)
	@{ echo "read_verilog -lib +/ice40/cells_sim.v"; \
	   echo "read_verilog $(filter rtl/tiny/%,$(TINY_SRC))"; \
	   echo "hierarchy -check -top cbr_tiny_core -chparam COUNTERS $(1)"; \
	   echo "proc"; \
	   echo "select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr"; \
	   echo "synth_ice40 -dsp -top cbr_tiny_core"; \
	   echo "tee -o $(TINY_DIR)/c$(1)/stat_core.txt stat"; \
	   echo "write_json $(TINY_DIR)/c$(1)/core.json"; } > $(TINY_DIR)/c$(1)/synth_core.ys
	$(YOSYS) -q -l $(TINY_DIR)/c$(1)/synth_core.log $(TINY_DIR)/c$(1)/synth_core.ys
	@echo "cbr_tiny_core COUNTERS=$(1), yosys synth_ice40 -dsp (no latches):"
	@sed -n '/design hierarchy/,$$p' $(TINY_DIR)/c$(1)/stat_core.txt | \
	    grep -E 'SB_(LUT4|DFF|CARRY|MAC16|SPRAM|RAM40)|Number of cells'
	@# packed into logic cells as on the UP5K (the core's ports are not pins: no placement)
	@$(NEXTPNR_ICE40) --up5k --package sg48 --json $(TINY_DIR)/c$(1)/core.json --pack-only \
	    -q -l $(TINY_DIR)/c$(1)/pack.log >/dev/null 2>&1 || true
	@echo "nextpnr-ice40 --pack-only, COUNTERS=$(1):"; \
	grep -E 'ICESTORM_(LC|RAM|DSP|SPRAM):' $(TINY_DIR)/c$(1)/pack.log || \
	    { echo "nextpnr-ice40 did not pack the core: see $(TINY_DIR)/c$(1)/pack.log"; exit 1; }
endef

# test-rtl-tiny's sim:ice has the counters; the configuration without them (the iCEBreaker
# image's) is linted and synthesized here, for both targets (one run in one make).
.PHONY: lint-rtl-tiny-nocnt
lint-rtl-tiny-nocnt:
	$(call tiny_lint,0)

lint-rtl-tiny: lint-rtl-tiny-nocnt ## verilator -Wall and yosys synth_ice40 (no latches) of the tiny core, without and with counters
	$(call tiny_lint,1)
