# mk/fpga.mk - real parts: a second simulator (Icarus), the synthesized netlist against the
# golden model, and the board flows (included by the top-level Makefile). docs/boards.md.
#
#   make test-icarus        the RTL in Icarus Verilog (4-state): test_sim runs ICARUS_LAYERS
#                           random layers through libcbr on it against the golden model; any
#                           mismatch, or an X on a handshake or on tx_data after reset, fails
#   make test-icarus-tiny   the tiny core's RTL (cbr_top_tiny) in Icarus, the same X checks:
#                           test_small runs ICARUS_TINY_LAYERS layers on it
#   make test-netlist       yosys `synth -flatten` of the same small cbr_top -> gates ->
#                           write_verilog -> Icarus behind the same board library; test_small
#                           runs NET_LAYERS tiny layers on it against the golden model
#   make test-netlist-ice   yosys synth_ice40 -dsp of cbr_top_tiny (the bitstream's synthesis,
#                           iCE40 cells) -> write_verilog -> Icarus on yosys's cell models
#                           (power-up state: tests/rtl/icarus/ice40_cells.py) behind the
#                           same board library; test_small runs NETICE_LAYERS layers
#   make lint-rtl-boards    verilator -Wall and iverilog lint of the UART bridge and board tops
#   make bitstream BOARD=icebreaker   yosys synth_ice40 + nextpnr-ice40 + icepack: .bin,
#                           logs and report under $(BUILD)/fpga/icebreaker; fails when the
#                           design does not fit or misses the clock constraint
#   make synth BOARD=<board>          yosys synthesis of the board's configuration, report of
#                           the resources (constraints/<board>/board.mk says which)
#
# The simulators' boards implement sim/cbr_sim.h, so the same test_sim binary and the real
# host library drive them; test_sim and test_small print their seeds (--seed replays), the
# Icarus board its block RAM fill seed (CBR_IVL_SEED replays).

IVERILOG ?= iverilog
YOSYS ?= yosys
VERILATOR ?= verilator
NEXTPNR_ICE40 ?= nextpnr-ice40
ICEPACK ?= icepack

FPGA_BUILD := $(BUILD)/fpga
FPGA_RTL_SRC = $(filter %.v,$(shell grep -v '^//' rtl/cbr.f 2>/dev/null))
# The tiny core behind the iCEBreaker top's CORE=1 (rtl/tiny/tiny.f less the command block).
FPGA_TINY_SRC = $(filter rtl/tiny/%,$(shell grep -v '^//' rtl/tiny/tiny.f 2>/dev/null))
# All of the tiny core's cbr_top_tiny (rtl/tiny/tiny.f).
FPGA_TINY_ALL = $(filter %.v,$(shell grep -v '^//' rtl/tiny/tiny.f 2>/dev/null))

# A small board: the 4x4 array with buffers a small FPGA holds (cbr_top parameters). The
# host adapts to them through INFO, so test_sim's layers are tiled to fit.
SMALL_SHAPE := 4x4
SMALL_PARAMS := ACT_BYTES=16384 WGT_BYTES=4096 PARAM_ENTRIES=256 OUT_BYTES=4096 \
    ACC_PIXELS=256 MAX_PAYLOAD=1024

fpga_rows = $(word 1,$(subst x, ,$(1)))
fpga_cols = $(word 2,$(subst x, ,$(1)))

# ---- Icarus Verilog ---------------------------------------------------------------------
ICARUS_LAYERS ?= 4
ICARUS_DIR := $(FPGA_BUILD)/icarus

$(ICARUS_DIR)/tb_$(SMALL_SHAPE).vvp: $(FPGA_RTL_SRC) rtl/cbr.f tests/rtl/icarus/tb_top.v mk/fpga.mk
	@mkdir -p $(@D)
	$(IVERILOG) -g2012 -Wall -o $@ -s tb_top -Ptb_top.ROWS=$(call fpga_rows,$(SMALL_SHAPE)) \
	    -Ptb_top.COLS=$(call fpga_cols,$(SMALL_SHAPE)) $(SMALL_PARAMS:%=-Ptb_top.%) \
	    -c rtl/cbr.f tests/rtl/icarus/tb_top.v 2>&1 | tee $@.log
	@if [ -s $@.log ]; then echo "iverilog printed warnings"; rm -f $@; exit 1; fi

# The board library: named like a Verilator board, so libcbr's sim transport loads it.
$(ICARUS_DIR)/libcbrsim_$(SMALL_SHAPE).so: tests/rtl/icarus/cbr_sim_ivl.c sim/cbr_sim.h \
        sim/cbr_sim.map mk/fpga.mk
	@mkdir -p $(@D)
	$(CC) -Isim $(CFLAGS_ALL) -DCBR_SIM_ROWS=$(call fpga_rows,$(SMALL_SHAPE)) \
	    -DCBR_SIM_COLS=$(call fpga_cols,$(SMALL_SHAPE)) \
	    -DCBR_IVL_VVP='"$(abspath $(ICARUS_DIR)/tb_$(SMALL_SHAPE).vvp)"' -shared \
	    -Wl,--version-script=sim/cbr_sim.map $< -o $@ $(LDFLAGS_ALL)

# The iCEBreaker top (link image) behind its UART, with a second cbr_uart_bridge as the
# host's FT2232H: the protocol through both UARTs and the board's pins.
$(ICARUS_DIR)/tb_uart.vvp: $(FPGA_RTL_SRC) rtl/cbr.f $(FPGA_TINY_SRC) rtl/cbr_uart_bridge.v \
        rtl/boards/cbr_icebreaker_top.v tests/rtl/icarus/tb_top.v mk/fpga.mk
	@mkdir -p $(@D)
	$(IVERILOG) -g2012 -Wall -o $@ -s tb_top -Ptb_top.UART_BOARD=1 -c rtl/cbr.f \
	    $(FPGA_TINY_SRC) rtl/cbr_uart_bridge.v rtl/boards/cbr_icebreaker_top.v tests/rtl/icarus/tb_top.v 2>&1 | \
	    tee $@.log
	@if [ -s $@.log ]; then echo "iverilog printed warnings"; rm -f $@; exit 1; fi

.PHONY: test-icarus test-netlist bitstream synth
test-icarus: ## the RTL in Icarus (4-state, X-checked) vs the golden model; cbr info via the UART
test-netlist: ## the yosys netlist of cbr_top 4x4 in Icarus vs the golden model
test-icarus: $(ICARUS_DIR)/tb_$(SMALL_SHAPE).vvp $(ICARUS_DIR)/libcbrsim_$(SMALL_SHAPE).so \
        $(ICARUS_DIR)/tb_uart.vvp $(BUILD)/tests/test_sim $(CBR)
	@start=$$(date +%s); \
	CBR_SIM_PATH=$(abspath $(ICARUS_DIR)) CBR_TIMEOUT_MS=600000 \
	    $(BUILD)/tests/test_sim --layers $(ICARUS_LAYERS) $(SMALL_SHAPE) && \
	echo "test-icarus: $(ICARUS_LAYERS) layers in $$(( $$(date +%s) - start )) s"
	@echo "test-icarus: cbr info through the iCEBreaker top's UART (3 Mbaud at 12 MHz)"
	@CBR_IVL_VVP=$(abspath $(ICARUS_DIR)/tb_uart.vvp) CBR_SIM_PATH=$(abspath $(ICARUS_DIR)) \
	    CBR_TIMEOUT_MS=60000 $(CBR) info -d sim:$(SMALL_SHAPE) > $(ICARUS_DIR)/uart_info.txt 2>&1 || \
	    { cat $(ICARUS_DIR)/uart_info.txt; echo "FAILED: no INFO through the UART"; exit 1; }
	@grep -E '^(clock|activation buf)' $(ICARUS_DIR)/uart_info.txt
	@grep -qE '^clock: +12\.0 MHz' $(ICARUS_DIR)/uart_info.txt && \
	    grep -qE '^activation buf +1024 bytes' $(ICARUS_DIR)/uart_info.txt || \
	    { echo "FAILED: INFO through the UART is not the link image's (12 MHz, 1 KiB buffers)"; exit 1; }

# The tiny core's RTL (cbr_top_tiny, the iCEBreaker accelerator) in Icarus, with the same X
# checks: the device reports itself as a 4x4 board at 12 MHz, so sim:4x4 with CBR_IVL_VVP
# runs it; test_small's layers (the tiny core does 4 MACs a cycle: test_sim's are too long).
ICARUS_TINY_LAYERS ?= 6

$(ICARUS_DIR)/tb_tiny.vvp: $(FPGA_TINY_ALL) rtl/tiny/tiny.f tests/rtl/icarus/tb_top.v mk/fpga.mk
	@mkdir -p $(@D)
	$(IVERILOG) -g2012 -Wall -o $@ -s tb_top -Ptb_top.TINY=1 -c rtl/tiny/tiny.f \
	    tests/rtl/icarus/tb_top.v 2>&1 | tee $@.log
	@if [ -s $@.log ]; then echo "iverilog printed warnings"; rm -f $@; exit 1; fi

.PHONY: test-icarus-tiny
test-icarus-tiny: ## the tiny core's RTL in Icarus (4-state, X-checked) vs the golden model
test-icarus-tiny: $(ICARUS_DIR)/tb_tiny.vvp $(ICARUS_DIR)/libcbrsim_$(SMALL_SHAPE).so \
        $(BUILD)/tests/test_small
	@start=$$(date +%s); \
	CBR_IVL_VVP=$(abspath $(ICARUS_DIR)/tb_tiny.vvp) CBR_SIM_PATH=$(abspath $(ICARUS_DIR)) \
	CBR_TIMEOUT_MS=600000 $(BUILD)/tests/test_small --layers $(ICARUS_TINY_LAYERS) sim:4x4 && \
	echo "test-icarus-tiny: $(ICARUS_TINY_LAYERS) layers in $$(( $$(date +%s) - start )) s"

# ---- the yosys netlist ------------------------------------------------------------------
# Generic gates (synth -flatten to the fine stage, techmap, abc), the memories kept as arrays
# (what a block RAM is to the netlist), written out and run in Icarus behind the same board
# library as the RTL, with the same X checks. Event-driven gates are slow, so the layers are
# test_small's tiny ones.
NET_LAYERS ?= 3
NET_DIR := $(FPGA_BUILD)/netlist

$(NET_DIR)/cbr_top_net.v: $(FPGA_RTL_SRC) rtl/cbr.f mk/fpga.mk
	@mkdir -p $(@D)
	@{ echo "read_verilog -defer $(FPGA_RTL_SRC)"; \
	   echo "chparam -set ROWS $(call fpga_rows,$(SMALL_SHAPE)) -set COLS $(call fpga_cols,$(SMALL_SHAPE)) $(foreach p,$(SMALL_PARAMS),-set $(subst =, ,$(p))) cbr_top"; \
	   echo "hierarchy -check -top cbr_top"; \
	   echo "synth -flatten -top cbr_top -run begin:fine"; \
	   echo "opt -fast -full"; echo "techmap"; echo "opt -fast"; echo "abc -fast"; \
	   echo "opt_clean -purge"; \
	   echo "tee -o $(NET_DIR)/stat.txt stat"; \
	   echo "write_verilog -noattr $@.tmp"; } > $(NET_DIR)/netlist.ys
	@echo "yosys: netlist of cbr_top $(SMALL_SHAPE) (log: $(NET_DIR)/yosys.log)"
	@start=$$(date +%s); \
	$(YOSYS) -q -l $(NET_DIR)/yosys.log $(NET_DIR)/netlist.ys || \
	    { echo "yosys failed: see $(NET_DIR)/yosys.log"; exit 1; }; \
	echo "  yosys: $$(( $$(date +%s) - start )) s, $$(grep -m1 'Number of cells' $(NET_DIR)/stat.txt)"
	@mv $@.tmp $@

$(NET_DIR)/tb_net.vvp: $(NET_DIR)/cbr_top_net.v tests/rtl/icarus/tb_top.v
	@echo "iverilog: the netlist"
	@start=$$(date +%s); \
	$(IVERILOG) -g2012 -o $@ -s tb_top -Ptb_top.NETLIST=1 $^ && \
	echo "  iverilog: $$(( $$(date +%s) - start )) s"

$(BUILD)/tests/test_small: tests/rtl/icarus/test_small.c $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -MMD -MP $< -o $@ $(LDFLAGS_ALL) $(LIBA) $(LIBS)

test-netlist: $(NET_DIR)/tb_net.vvp $(ICARUS_DIR)/libcbrsim_$(SMALL_SHAPE).so \
        $(BUILD)/tests/test_small
	@start=$$(date +%s); \
	CBR_IVL_VVP=$(abspath $(NET_DIR)/tb_net.vvp) CBR_SIM_PATH=$(abspath $(ICARUS_DIR)) \
	CBR_TIMEOUT_MS=600000 $(BUILD)/tests/test_small --layers $(NET_LAYERS) sim:$(SMALL_SHAPE) && \
	echo "test-netlist: $(NET_LAYERS) layers in $$(( $$(date +%s) - start )) s"

# ---- the iCE40 netlist of the tiny core --------------------------------------------------
# The bitstream's synthesis (constraints/icebreaker/board.mk, the rule above: proc, no latch,
# synth_ice40 -dsp) of cbr_top_tiny, the accelerator behind the iCEBreaker top's UART: the
# netlist of the real image in SB_LUT4 / SB_CARRY / SB_DFF* / SB_MAC16 / SB_RAM40_4K /
# SB_SPRAM256KA cells, written out and run in Icarus on yosys's own models of those cells
# (ice40/cells_sim.v) behind the same board library, with the same X checks; the device
# reports itself as a 4x4 board at 12 MHz, so sim:4x4 with CBR_IVL_VVP runs it. tb_top.v
# fills the four SPRAMs with random bytes by their instance names, checked here. Undefined
# constants (x) in the netlist become 0 (setundef), as they do in the bitstream. COUNTERS is
# the board top's (rtl/boards/cbr_icebreaker_top.v: 2, the cycle counters only), so the
# netlist is the image's; test-icarus-tiny runs the RTL with all the counters (1).
NETICE_LAYERS ?= 3
NETICE_COUNTERS ?= 2
NETICE_DIR := $(FPGA_BUILD)/netlist-ice
ICE40_CELLS_SIM ?= $(firstword $(wildcard $(shell yosys-config --datdir 2>/dev/null)/ice40/cells_sim.v \
    $(dir $(shell command -v $(YOSYS) 2>/dev/null))../share/yosys/ice40/cells_sim.v \
    /usr/share/yosys/ice40/cells_sim.v /usr/local/share/yosys/ice40/cells_sim.v))
NETICE_SPRAMS := u_pair_a.u_lo u_pair_a.u_hi u_pair_b.u_lo u_pair_b.u_hi

$(NETICE_DIR)/cbr_top_tiny_net.v: $(FPGA_TINY_ALL) rtl/tiny/tiny.f mk/fpga.mk
	@mkdir -p $(@D)
	@{ echo "read_verilog -lib +/ice40/cells_sim.v"; \
	   echo "read_verilog -defer $(FPGA_TINY_ALL)"; \
	   echo "chparam -set COUNTERS $(NETICE_COUNTERS) cbr_top_tiny"; \
	   echo "hierarchy -check -top cbr_top_tiny"; \
	   echo "proc"; \
	   echo "select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr"; \
	   echo "check -assert"; \
	   echo "synth_ice40 -top cbr_top_tiny -dsp"; \
	   echo "check -assert"; \
	   echo "tee -o $(NETICE_DIR)/stat.txt stat"; \
	   echo "setundef -zero -params"; \
	   echo "write_verilog -noattr $@.tmp"; } > $(NETICE_DIR)/netlist.ys
	@echo "yosys: synth_ice40 -dsp netlist of cbr_top_tiny (log: $(NETICE_DIR)/yosys.log)"
	@start=$$(date +%s); \
	$(YOSYS) -q -l $(NETICE_DIR)/yosys.log $(NETICE_DIR)/netlist.ys || \
	    { echo "yosys failed: see $(NETICE_DIR)/yosys.log"; exit 1; }; \
	echo "  yosys: $$(( $$(date +%s) - start )) s"
	@sed -n '/design hierarchy/,$$p' $(NETICE_DIR)/stat.txt | \
	    grep -E '^ +(SB_[A-Z0-9_]+ +[0-9]+|Number of cells)' | tr -s ' ' | paste -sd, | \
	    sed 's/^ */  /'
	@for i in $(NETICE_SPRAMS); do \
	    grep -qF "SB_SPRAM256KA \\u_core.$$i " $@.tmp || \
	    { echo "the netlist has no SB_SPRAM256KA u_core.$$i: tb_top.v (g_fill_tiny_net) fills the SPRAMs by name"; \
	      exit 1; }; done
	@mv $@.tmp $@

# yosys's cell models with the hardware's power-up state (tests/rtl/icarus/ice40_cells.py).
$(NETICE_DIR)/cells_sim.v: tests/rtl/icarus/ice40_cells.py mk/fpga.mk
	@test -f "$(ICE40_CELLS_SIM)" || \
	    { echo "yosys's ice40/cells_sim.v not found: set ICE40_CELLS_SIM=path"; exit 1; }
	@mkdir -p $(@D)
	$(PYTHON) tests/rtl/icarus/ice40_cells.py $(ICE40_CELLS_SIM) $@

$(NETICE_DIR)/tb_net_ice.vvp: $(NETICE_DIR)/cbr_top_tiny_net.v $(NETICE_DIR)/cells_sim.v \
        tests/rtl/icarus/tb_top.v mk/fpga.mk
	@echo "iverilog: the iCE40 netlist on yosys's cell models ($(ICE40_CELLS_SIM))"
	@# the cell models' own defaults on unconnected ports are SystemVerilog Icarus 11 lacks;
	@# write_verilog connects every port. cells_sim.v sets a timescale the others inherit.
	@start=$$(date +%s); \
	$(IVERILOG) -g2012 -Wall -Wno-timescale -DNO_ICE40_DEFAULT_ASSIGNMENTS -o $@ -s tb_top \
	    -Ptb_top.TINY=1 -Ptb_top.NETLIST=1 tests/rtl/icarus/tb_top.v $< $(NETICE_DIR)/cells_sim.v \
	    > $@.log 2>&1 || { cat $@.log; rm -f $@; exit 1; }; \
	if [ -s $@.log ]; then cat $@.log; echo "iverilog printed warnings"; rm -f $@; exit 1; fi; \
	echo "  iverilog: $$(( $$(date +%s) - start )) s"

.PHONY: test-netlist-ice
test-netlist-ice: ## the synth_ice40 netlist of the tiny core in Icarus vs the golden model
test-netlist-ice: $(NETICE_DIR)/tb_net_ice.vvp $(ICARUS_DIR)/libcbrsim_$(SMALL_SHAPE).so \
        $(BUILD)/tests/test_small
	@start=$$(date +%s); \
	CBR_IVL_VVP=$(abspath $(NETICE_DIR)/tb_net_ice.vvp) CBR_SIM_PATH=$(abspath $(ICARUS_DIR)) \
	CBR_TIMEOUT_MS=600000 $(BUILD)/tests/test_small --layers $(NETICE_LAYERS) sim:4x4 && \
	echo "test-netlist-ice: $(NETICE_LAYERS) layers in $$(( $$(date +%s) - start )) s"

# ---- boards -----------------------------------------------------------------------------
# constraints/<board>/board.mk says how: BOARD_FLOW (ice40: a bitstream; xilinx: synthesis
# only, the vendor steps are Tcl in constraints/<board>/), BOARD_TOP, BOARD_SRC (beside
# rtl/cbr.f), BOARD_PARAMS (NAME=VALUE of the top), BOARD_VARIANT (a suffix of the build
# directory, one per image), and the flow's own settings.
BOARD ?=
ifneq ($(BOARD),)
ifeq ($(wildcard constraints/$(BOARD)/board.mk),)
$(error BOARD=$(BOARD): no constraints/$(BOARD)/board.mk (boards: $(notdir $(wildcard constraints/*))))
endif
include constraints/$(BOARD)/board.mk
endif
BOARD_DIR := $(FPGA_BUILD)/$(BOARD)$(BOARD_VARIANT)
BOARD_DEPS = $(FPGA_RTL_SRC) $(BOARD_SRC) rtl/cbr.f constraints/$(BOARD)/board.mk mk/fpga.mk

# The yosys script: RTL, the top's parameters, hierarchy check, no latch before mapping.
# BOARD_YS_LIB (board.mk): a first command, e.g. the primitives' library the RTL instantiates.
define board_ys
	{ echo "$(BOARD_YS_LIB)"; \
	  echo "read_verilog -defer $(FPGA_RTL_SRC) $(BOARD_SRC)"; \
	  echo "chparam $(foreach p,$(BOARD_PARAMS),-set $(subst =, ,$(p))) $(BOARD_TOP)"; \
	  echo "hierarchy -check -top $(BOARD_TOP)"; \
	  echo "proc"; \
	  echo "select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr"; \
	  echo "check -assert"; \
	  echo "$(1)"; \
	  echo "check -assert"; \
	  echo "tee -o $(BOARD_DIR)/utilisation.txt stat"; } > $(BOARD_DIR)/synth.ys
endef

ifeq ($(BOARD_FLOW),ice40)
$(BOARD_DIR)/$(BOARD_TOP).json: $(BOARD_DEPS)
	@mkdir -p $(@D)
	$(call board_ys,synth_ice40 -top $(BOARD_TOP) -dsp -json $@.tmp)
	@echo "yosys: synth_ice40 $(BOARD_TOP) $(BOARD_PARAMS) (log: $(BOARD_DIR)/yosys.log)"
	@start=$$(date +%s); \
	$(YOSYS) -q -l $(BOARD_DIR)/yosys.log $(BOARD_DIR)/synth.ys || \
	    { echo "yosys failed: see $(BOARD_DIR)/yosys.log"; exit 1; }; \
	echo "  yosys: $$(( $$(date +%s) - start )) s"
	@mv $@.tmp $@

# nextpnr fails on its own when the design does not fit or misses --freq (no
# --timing-allow-fail); the report step checks the achieved Fmax again from the log.
$(BOARD_DIR)/$(BOARD_TOP).asc: $(BOARD_DIR)/$(BOARD_TOP).json $(BOARD_PCF)
	@echo "nextpnr-ice40: place and route at $(BOARD_FREQ_MHZ) MHz (log: $(BOARD_DIR)/nextpnr.log)"
	@start=$$(date +%s); \
	$(NEXTPNR_ICE40) $(BOARD_DEVICE) --json $< --pcf $(BOARD_PCF) --asc $@.tmp \
	    --freq $(BOARD_FREQ_MHZ) --seed 1 --report $(BOARD_DIR)/nextpnr-report.json \
	    -q -l $(BOARD_DIR)/nextpnr.log || \
	    { grep -E 'ERROR|Info: *(ICESTORM_LC|ICESTORM_RAM|ICESTORM_DSP|ICESTORM_SPRAM):|Max frequency' \
	        $(BOARD_DIR)/nextpnr.log | tail -8; \
	      echo "nextpnr-ice40 failed (does not fit, or timing): see $(BOARD_DIR)/nextpnr.log"; exit 1; }; \
	echo "  nextpnr: $$(( $$(date +%s) - start )) s"
	@mv $@.tmp $@

$(BOARD_DIR)/$(BOARD_TOP).bin: $(BOARD_DIR)/$(BOARD_TOP).asc
	$(ICEPACK) $< $@

# The report: utilisation (nextpnr's), achieved Fmax against the constraint; fails below it.
$(BOARD_DIR)/report.txt: $(BOARD_DIR)/$(BOARD_TOP).bin
	@{ echo "board $(BOARD): $(BOARD_TOP) $(BOARD_PARAMS), $(notdir $<) $$(stat -c %s $<) bytes"; \
	   echo "utilisation (nextpnr):"; \
	   grep -A24 'Device utilisation' $(BOARD_DIR)/nextpnr.log | \
	       grep -E '^Info:[[:space:]]+[A-Z_0-9]+:[[:space:]]+[0-9]+/' | \
	       grep -vE ':[[:space:]]+0/' | sed -E 's/^Info:[[:space:]]+/    /'; \
	   fmax=$$(grep -E "Max frequency for clock" $(BOARD_DIR)/nextpnr.log | tail -1 | \
	       sed -E 's/.*: ([0-9.]+) MHz.*/\1/'); \
	   echo "clock: constraint $(BOARD_FREQ_MHZ) MHz, achieved Fmax $$fmax MHz"; \
	   awk -v f="$$fmax" -v c=$(BOARD_FREQ_MHZ) 'BEGIN { exit !(f != "" && f + 0 >= c + 0) }' || \
	       { echo "TIMING NOT MET"; exit 1; }; } > $@.tmp || { cat $@.tmp; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

bitstream-$(BOARD): $(BOARD_DIR)/report.txt
	@cat $(BOARD_DIR)/report.txt
	@echo "bitstream: $(BOARD_DIR)/$(BOARD_TOP).bin"
endif

ifeq ($(BOARD_FLOW),xilinx)
# Open synthesis of our part of the board (the vendor IP is not ours): LUT, FF, DSP48, BRAM
# and the array's MACs per DSP48, in $(BOARD_DIR)/report.txt.
$(BOARD_DIR)/report.txt: $(BOARD_DEPS)
	@mkdir -p $(@D)
	$(call board_ys,synth_xilinx -top $(BOARD_TOP) -flatten)
	@echo "yosys: synth_xilinx $(BOARD_TOP) $(BOARD_PARAMS) (log: $(BOARD_DIR)/yosys.log; minutes)"
	@start=$$(date +%s); \
	$(YOSYS) -q -l $(BOARD_DIR)/yosys.log $(BOARD_DIR)/synth.ys || \
	    { echo "yosys failed: see $(BOARD_DIR)/yosys.log"; exit 1; }; \
	echo "  yosys: $$(( $$(date +%s) - start )) s"
	@u=$(BOARD_DIR)/utilisation.txt; \
	n() { awk -v p="$$1" '$$1 ~ p { s += $$2 } END { print s + 0 }' $$u; }; \
	lut=$$(n '^LUT[1-6]$$'); ff=$$(n '^FD[RSCP]E$$'); dsp=$$(n '^DSP48E1$$'); \
	b36=$$(n '^RAMB36E1$$'); b18=$$(n '^RAMB18E1$$'); lutram=$$(n '^RAM(32|64|128|256)'); \
	srl=$$(n '^SRL'); carry=$$(n '^CARRY4$$'); \
	{ echo "board $(BOARD): yosys synth_xilinx of $(BOARD_TOP) $(BOARD_PARAMS)"; \
	  echo "    LUT $$lut, FF $$ff, CARRY4 $$carry, LUTRAM $$lutram, SRL $$srl"; \
	  echo "    DSP48E1 $$dsp, BRAM $$b36 RAMB36 + $$b18 RAMB18 ($$(( b36 * 36 + b18 * 18 )) Kbit)"; \
	  echo "    MACs per DSP48: $(BOARD_MACS) MACs / $$dsp = $$(awk -v m=$(BOARD_MACS) -v d=$$dsp 'BEGIN { printf "%.2f", d ? m / d : 0 }')"; \
	} > $@
	@cat $@

synth-$(BOARD): $(BOARD_DIR)/report.txt

bitstream-$(BOARD):
	@echo "make bitstream BOARD=$(BOARD): place and route is a vendor step:" \
	    "vivado -mode batch -source constraints/$(BOARD)/vivado.tcl (docs/boards.md)"; exit 2
endif

ifeq ($(BOARD_FLOW),ice40)
synth-$(BOARD): $(BOARD_DIR)/$(BOARD_TOP).json
	@cat $(BOARD_DIR)/utilisation.txt
endif

bitstream: bitstream-$(or $(BOARD),noboard) ## BOARD=icebreaker: yosys + nextpnr-ice40 + icepack, Fmax checked
synth: synth-$(or $(BOARD),noboard) ## BOARD=<board>: yosys synthesis of the board's configuration, resources

.PHONY: bitstream-noboard synth-noboard
bitstream-noboard synth-noboard:
	@echo "make $(subst -noboard,,$@): say which board, BOARD=<one of: $(notdir $(wildcard constraints/*))>"; exit 2

# ---- lint of the board RTL (rtl/cbr.f is linted by mk/rtl.mk) --------------------------
FPGA_LINT_CFGS := cbr_uart_bridge cbr_uart_bridge@CLK_HZ=48000000,BAUD=3000000,RX_DEPTH=64 \
    cbr_icebreaker_top@CORE=0 cbr_icebreaker_top@CORE=1

.PHONY: lint-rtl-boards
lint-rtl-boards: ## RTL: verilator -Wall and iverilog lint of the UART bridge and board tops
	@set -e; for c in $(FPGA_LINT_CFGS); do \
	    top=$${c%%@*}; params=; \
	    case $$c in *@*) params=$$(echo "$${c#*@}" | tr ',' '\n' | sed 's/^/-G/' | tr '\n' ' ');; esac; \
	    echo "verilator --lint-only -Wall --top-module $$top $$params"; \
	    $(VERILATOR) --lint-only -Wall rtl/cbr.vlt -f rtl/cbr.f $(FPGA_TINY_SRC) rtl/cbr_uart_bridge.v \
	        rtl/boards/cbr_icebreaker_top.v --top-module $$top $$params; \
	    iparams=$$(echo "$$params" | sed 's/-G\([A-Z_0-9]*\)=/-P'"$$top"'.\1=/g'); \
	    out=$$($(IVERILOG) -g2005 -Wall -o /dev/null -s $$top $$iparams -c rtl/cbr.f \
	        $(FPGA_TINY_SRC) rtl/cbr_uart_bridge.v rtl/boards/cbr_icebreaker_top.v 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; echo "iverilog printed warnings"; exit 1; fi; \
	done
	@echo "lint-rtl-boards: verilator and iverilog clean on $(words $(FPGA_LINT_CFGS)) shapes"
