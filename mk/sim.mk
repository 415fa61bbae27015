# mk/sim.mk - the simulated boards: one Verilator build of rtl/cbr_top per array shape,
# build/sim/libcbrsim_RxC.so, loaded by libcbr's sim device ("sim:RxC").
#
#   make sim                      the shapes in SIM_SHAPES
#   make sim SIM_SHAPES=32x8      any other shape (ROWS x COLS)

VERILATOR ?= verilator
SIM_SHAPES ?= 16x16 4x4 8x8 4x8
SIM_DEFAULT := 16x16
SIM_LIBS := $(SIM_SHAPES:%=$(BUILD)/sim/libcbrsim_%.so)
RTL_FILES = $(filter %.v,$(shell cat rtl/cbr.f 2>/dev/null))

.PHONY: sim sim-default
sim: $(SIM_LIBS) ## build the simulated boards (SIM_SHAPES, default 16x16 4x4 8x8 4x8)
sim-default: $(BUILD)/sim/libcbrsim_$(SIM_DEFAULT).so

sim_rows = $(word 1,$(subst x, ,$(1)))
sim_cols = $(word 2,$(subst x, ,$(1)))

$(BUILD)/sim/libcbrsim_%.so: rtl/cbr.f $(RTL_FILES) sim/cbr_sim.cpp sim/cbr_sim.h sim/cbr_sim.map
	@rm -rf $(BUILD)/sim/$* && mkdir -p $(BUILD)/sim/$*
	$(VERILATOR) --cc --trace-fst -O3 --x-assign fast --x-initial fast \
	    --top-module cbr_top -f rtl/cbr.f rtl/cbr.vlt \
	    -GROWS=$(call sim_rows,$*) -GCOLS=$(call sim_cols,$*) --Mdir $(BUILD)/sim/$* \
	    -CFLAGS "-fPIC -DCBR_SIM_ROWS=$(call sim_rows,$*) -DCBR_SIM_COLS=$(call sim_cols,$*) -I$(abspath sim)" \
	    $(abspath sim/cbr_sim.cpp)
	$(MAKE) -s -C $(BUILD)/sim/$* -f Vcbr_top.mk OPT_FAST=-O2 OPT_SLOW=-O1 \
	    Vcbr_top__ALL.a cbr_sim.o verilated.o verilated_fst_c.o verilated_threads.o
	$(CXX) -shared -o $@ -Wl,--version-script=sim/cbr_sim.map \
	    $(BUILD)/sim/$*/cbr_sim.o $(BUILD)/sim/$*/Vcbr_top__ALL.a \
	    $(BUILD)/sim/$*/verilated.o $(BUILD)/sim/$*/verilated_fst_c.o \
	    $(BUILD)/sim/$*/verilated_threads.o -lz -lpthread

# ---- the RTL through the simulated board, against the golden model ----------------------
SIM_TEST_LAYERS ?= 150
# test_sim --limits: H and W of 1024, 2048 channels and the API's limits (docs/tiling.md,
# "Tests"); about 45 s on 4x8, most of it the two 1024 x 1024 layers
SIM_LIMITS_SHAPES ?= 4x8
# test_sim --stack: batches of small images, stacked (docs/tiling.md, "Image stacking"); ~15 s
SIM_STACK_LAYERS ?= 100
# test_sim behind a link latency (CBR_SIM_LATENCY cycles each way, docs/sim.md): every answer
# comes late, so the driver's waits and deadlines are checked with it; ~15 s
SIM_LATENCY_LAYERS ?= 20
# test_sim --chain: random chains of layers as networks, intermediates kept on the device
# where they fit, then on the host (docs/tiling.md, "Networks"); ~55 s
SIM_CHAIN_LAYERS ?= 30
SIM_LATENCY_CYCLES ?= 500
N ?= 10000

$(BUILD)/tests/test_sim: tests/sim/test_sim.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -MMD -MP $< -o $@ $(LDFLAGS_ALL) $(LIBA) $(LIBS)

.PHONY: test-sim soak
test-sim: sim $(BUILD)/tests/test_sim $(CBR) ## RTL on every sim shape vs the golden model; CLI sim == cpu
	$(BUILD)/tests/test_sim --layers $(SIM_TEST_LAYERS) $(SIM_SHAPES)
	$(BUILD)/tests/test_sim --limits $(SIM_LIMITS_SHAPES)
	$(BUILD)/tests/test_sim --stack --layers $(SIM_STACK_LAYERS) $(SIM_SHAPES)
	$(BUILD)/tests/test_sim --chain --layers $(SIM_CHAIN_LAYERS) $(SIM_SHAPES)
	CBR_SIM_LATENCY=$(SIM_LATENCY_CYCLES) $(BUILD)/tests/test_sim --layers $(SIM_LATENCY_LAYERS) 4x4 16x16
	CBR=$(CBR) $(PYTHON) tests/cli/test_cli.py --device sim:8x8 --compare-device cpu --layers 60

soak: sim $(BUILD)/tests/test_sim ## long run: N random layers (default 10000) over the sim shapes
	$(BUILD)/tests/test_sim --layers $$(( ($(N) + $(words $(SIM_SHAPES)) - 1) / $(words $(SIM_SHAPES)) )) $(SIM_SHAPES)
