# mk/tiny.mk - the tiny core for the iCE40UP5K (rtl/tiny, docs/tiny.md): its simulated board,
# its tests and its lint (included by the top-level Makefile).
#
#   make sim-ice          build/sim/libcbrsim_ice.so: Verilator model of rtl/tiny/cbr_top_tiny
#                         with its counters (COUNTERS=1: the cycle figures of --stats),
#                         loaded by libcbr as the device "sim:ice"
#   make test-rtl-tiny    test_sim's random layers (and --stack's batches) on sim:ice against
#                         the golden model, the CLI tests on sim:ice against the cpu device, test_tiny_cycles (the
#                         iCEBreaker image's COUNTERS=2, cycle counters only, built as a second
#                         sim:ice: the same cycle counts as sim:ice on the same layers, the
#                         other counters 0), and lint-rtl-tiny's lint and synthesis for
#                         COUNTERS=0 and 2
#   make lint-rtl-tiny    verilator -Wall of the tiny core and top; yosys synth_ice40 -dsp of
#                         cbr_tiny_core (SPRAM primitives) with no latches, and its resources
#                         (yosys cells, nextpnr-ice40 --pack-only logic cells) under
#                         $(BUILD)/rtl/tiny/cN/; with COUNTERS=1 (sim:ice), COUNTERS=2 (the
#                         iCEBreaker image, rtl/boards/cbr_icebreaker_top.v) and COUNTERS=0

YOSYS ?= yosys
NEXTPNR_ICE40 ?= nextpnr-ice40
TINY_F := rtl/tiny/tiny.f
TINY_SRC = $(filter %.v,$(shell grep -v '^//' $(TINY_F) 2>/dev/null))
TINY_LAYERS ?= 1500
TINY_CLI_LAYERS ?= 60
TINY_CYCLE_LAYERS ?= 60
TINY_DIR := $(BUILD)/rtl/tiny

.PHONY: sim-ice test-rtl-tiny lint-rtl-tiny
sim-ice: $(BUILD)/sim/libcbrsim_ice.so ## build the tiny core's simulated board (sim:ice)

# The same harness as the cbr_top boards: the model is renamed Vcbr_top (--prefix).
# $(call tiny_sim,COUNTERS,OBJDIR): cbr_top_tiny with these counters, linked into $@.
define tiny_sim
	@rm -rf $(2) && mkdir -p $(2)
	$(VERILATOR) --cc -O3 --x-assign fast --x-initial fast --trace-fst \
	    --top-module cbr_top_tiny -GCOUNTERS=$(1) --prefix Vcbr_top -f $(TINY_F) rtl/cbr.vlt \
	    --Mdir $(2) \
	    -CFLAGS "-fPIC -DCBR_SIM_ROWS=4 -DCBR_SIM_COLS=4 -I$(abspath sim)" \
	    $(abspath sim/cbr_sim.cpp)
	$(MAKE) -s -C $(2) -f Vcbr_top.mk OPT_FAST=-O2 OPT_SLOW=-O1 \
	    Vcbr_top__ALL.a cbr_sim.o verilated.o verilated_fst_c.o verilated_threads.o
	$(CXX) -shared -o $@ -Wl,--version-script=sim/cbr_sim.map \
	    $(2)/cbr_sim.o $(2)/Vcbr_top__ALL.a \
	    $(2)/verilated.o $(2)/verilated_fst_c.o \
	    $(2)/verilated_threads.o -lz -lpthread
endef

$(BUILD)/sim/libcbrsim_ice.so: $(TINY_F) $(TINY_SRC) sim/cbr_sim.cpp sim/cbr_sim.h sim/cbr_sim.map
	$(call tiny_sim,1,$(BUILD)/sim/ice)

# The iCEBreaker image's configuration (COUNTERS=2, cycle counters only) as a sim:ice of its
# own, in a directory of its own (CBR_SIM_PATH picks it): for test_tiny_cycles.
TINY_C2_SIM := $(TINY_DIR)/sim-c2/libcbrsim_ice.so
$(TINY_C2_SIM): $(TINY_F) $(TINY_SRC) sim/cbr_sim.cpp sim/cbr_sim.h sim/cbr_sim.map
	$(call tiny_sim,2,$(TINY_DIR)/sim-c2/obj)

$(BUILD)/tests/test_tiny_cycles: tests/sim/test_tiny_cycles.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -MMD -MP $< -o $@ $(LDFLAGS_ALL) $(LIBA) $(LIBS)

test-rtl-tiny: $(BUILD)/sim/libcbrsim_ice.so $(TINY_C2_SIM) $(BUILD)/tests/test_sim \
    $(BUILD)/tests/test_tiny_cycles $(CBR) lint-rtl-tiny-nocnt ## the tiny core (sim:ice) vs the golden model
	CBR_SIM_PATH=$(abspath $(BUILD)/sim) $(BUILD)/tests/test_sim --layers $(TINY_LAYERS) ice
	CBR_SIM_PATH=$(abspath $(BUILD)/sim) $(BUILD)/tests/test_sim --stack --layers 40 ice
	CBR_SIM_PATH=$(abspath $(BUILD)/sim) CBR=$(CBR) $(PYTHON) tests/cli/test_cli.py \
	    --device sim:ice --compare-device cpu --layers $(TINY_CLI_LAYERS)
	$(BUILD)/tests/test_tiny_cycles --layers $(TINY_CYCLE_LAYERS) $(abspath $(BUILD)/sim) \
	    $(abspath $(dir $(TINY_C2_SIM)))
	CBR=$(CBR) $(PYTHON) tests/cli/test_bench.py --cycles-only-sim $(abspath $(dir $(TINY_C2_SIM)))

# One configuration of the core: COUNTERS=1 (sim:ice), 2 (the iCEBreaker image,
# rtl/boards/cbr_icebreaker_top.v: cycle counters only) or 0 (none). Verilator -Wall of the top
# and the core, yosys with no latches, the resources into $(TINY_DIR)/c$(1)/.
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

# test-rtl-tiny's sim:ice has all the counters; the configurations with fewer (2, the
# iCEBreaker image's, and 0) are linted and synthesized here, for both targets (one run in one
# make).
.PHONY: lint-rtl-tiny-nocnt
lint-rtl-tiny-nocnt:
	$(call tiny_lint,0)
	$(call tiny_lint,2)

lint-rtl-tiny: lint-rtl-tiny-nocnt ## verilator -Wall and yosys synth_ice40 (no latches) of the tiny core, COUNTERS=0, 2 and 1
	$(call tiny_lint,1)
