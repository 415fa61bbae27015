# mk/cmd.mk - the packet command block rtl/cbr_cmd.v (docs/cmd.md): its Verilator bench and
# its lint/synthesis check. Everything generated goes under $(BUILD)/rtl/cmd/.
#
#   make test-rtl-cmd                 build and run tests/rtl/tb_cmd.cpp (CBR_SEED=N to replay)
#   make lint-rtl-cmd                 verilator -Wall (several parameter sets, COMPACT 0 and 1)
#                                     + yosys synth of both variants and of COPY_BYTES=16
#                                     (no latches)
#   make test-rtl-cmd-fuzz-compact    tests/rtl/tb_cmd_fuzz.cpp against COMPACT=1
#   make area-cmd-ice40               UART bridge + cbr_cmd on the iCE40UP5K: LCs and EBR

VERILATOR ?= verilator
YOSYS ?= yosys

CMD_DIR := $(BUILD)/rtl/cmd
CMD_RTL := rtl/cbr_cmd.v rtl/cbr_cmd_rx.v rtl/cbr_cmd_exec.v rtl/cbr_cmd_tx.v \
           rtl/cbr_cmd_ram.v rtl/cbr_crc32_w32.v
CMD_TB := tests/rtl/tb_cmd.cpp tests/rtl/tb_cmd_model.h tests/rtl/tb_common.h

# The bench is built twice (Verilator fixes parameters at build time), the same values going
# to the RTL (-G) and to the bench (-DTB_*):
#   main  sizes all different, so a swapped INFO word or buffer size shows; RX_TIMEOUT short so
#         the timeout tests and the long random gaps stay cheap
#   odd   a payload limit that is not a power of two and equals buffer 0, the largest register
#         space (all 12 reg_addr bits), a very short RX_TIMEOUT
#   main-compact, odd-compact   the same with COMPACT=1 (the area-optimised variant)
#   main-deep  main with a 64-word block-RAM response queue (TX_DEPTH, as the large builds
#         have one of max_payload): answers longer than it, and back-pressure with it full
CMD_CFGS := main odd main-compact odd-compact main-deep
CMD_CFG_main := MAX_PAYLOAD=1024 REG_BYTES=256 BUF0_BYTES=65536 BUF1_BYTES=32768 \
                BUF2_BYTES=8192 BUF3_BYTES=16384 RX_TIMEOUT=1000 INFO_ROWS=16 INFO_COLS=8 \
                INFO_PARAM_ENTRIES=512 INFO_MAX_KERNEL=11 INFO_MAX_STRIDE=4 \
                INFO_MAX_DILATION=8 INFO_FEATURES=5 INFO_CLOCK_KHZ=200000 \
                INFO_ACC_PIXELS=4096
CMD_CFG_odd := MAX_PAYLOAD=1000 REG_BYTES=4096 BUF0_BYTES=1000 BUF1_BYTES=4096 \
               BUF2_BYTES=2000 BUF3_BYTES=262144 RX_TIMEOUT=37 INFO_ROWS=4 INFO_COLS=32 \
               INFO_PARAM_ENTRIES=64 INFO_MAX_KERNEL=7 INFO_MAX_STRIDE=2 \
               INFO_MAX_DILATION=3 INFO_FEATURES=0xFFFFFFFF INFO_CLOCK_KHZ=100000 \
               INFO_ACC_PIXELS=77
# BUF_COPY: main and main-deep as cbr_top 16x16 has it (16-byte words, buffers 0, 1, 3),
# odd and odd-compact with other words and buffers; main-compact without it (COPY_BYTES=0:
# 0x22 is an unknown opcode, as in the COMPACT builds on the boards)
CMD_CFG_main-compact := $(CMD_CFG_main) COMPACT=1
CMD_CFG_main += COPY_BYTES=16 COPY_BUFS=11
CMD_CFG_odd += COPY_BYTES=8 COPY_BUFS=14
CMD_CFG_odd-compact := $(CMD_CFG_odd) COMPACT=1
CMD_CFG_main-deep := $(CMD_CFG_main) TX_DEPTH=64
CMD_BINS := $(CMD_CFGS:%=$(CMD_DIR)/%/Vcbr_cmd)

# Parameter sets the lint runs over besides the defaults.
CMD_LINT_SETS := "-GMAX_PAYLOAD=64 -GREG_BYTES=4 -GRX_TIMEOUT=1" \
                 "-GMAX_PAYLOAD=1000 -GREG_BYTES=4096 -GBUF0_BYTES=4 -GRX_TIMEOUT=1000" \
                 "-GMAX_PAYLOAD=65536 -GBUF1_BYTES=268435456 -GRX_TIMEOUT=16777216" \
                 "-GCOMPACT=1" "-GTX_DEPTH=8" "-GMAX_PAYLOAD=65536 -GTX_DEPTH=16384" \
                 "-GCOMPACT=1 -GMAX_PAYLOAD=64 -GREG_BYTES=4 -GRX_TIMEOUT=1" \
                 "-GCOMPACT=1 -GMAX_PAYLOAD=1000 -GREG_BYTES=4096 -GBUF0_BYTES=4 -GRX_TIMEOUT=1000" \
                 "-GCOMPACT=1 -GMAX_PAYLOAD=65536 -GBUF1_BYTES=268435456 -GRX_TIMEOUT=16777216" \
                 "-GCOPY_BYTES=16 -GCOPY_BUFS=11" "-GCOPY_BYTES=4 -GCOPY_BUFS=15 -GBUF0_BYTES=4" \
                 "-GCOPY_BYTES=1024 -GCOPY_BUFS=3 -GBUF1_BYTES=268435456" \
                 "-GCOMPACT=1 -GCOPY_BYTES=16 -GCOPY_BUFS=11"

.PHONY: test-rtl-cmd lint-rtl-cmd

$(CMD_DIR)/proto.o: host/lib/proto.c host/lib/proto.h host/include/cbr.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Ihost/include -Ihost/lib -O1 -c $< -o $@

$(CMD_DIR)/%/Vcbr_cmd: $(CMD_RTL) $(CMD_TB) $(CMD_DIR)/proto.o mk/cmd.mk
	@rm -rf $(CMD_DIR)/$*/obj && mkdir -p $(CMD_DIR)/$*/obj
	$(VERILATOR) --cc --exe --build -j 1 --top-module cbr_cmd --Mdir $(CMD_DIR)/$*/obj \
	    -o $(abspath $@) $(addprefix -G,$(CMD_CFG_$*)) \
	    -CFLAGS "-O1 -I$(abspath tests/rtl) -I$(abspath host/lib) -I$(abspath host/include) \
	        $(addprefix -DTB_,$(CMD_CFG_$*))" \
	    -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1" \
	    $(CMD_RTL) $(abspath tests/rtl/tb_cmd.cpp) $(abspath $(CMD_DIR)/proto.o) \
	    > $(CMD_DIR)/$*/build.log 2>&1 || { cat $(CMD_DIR)/$*/build.log; exit 1; }

# Runs every configuration; fails after all have run if any failed.
test-rtl-cmd: $(CMD_BINS) ## build and run the command block's Verilator bench (CBR_SEED=N replays)
	@fail=0; for t in $(CMD_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

lint-rtl-cmd: ## verilator -Wall and yosys synth (no latches) of the command block
	@mkdir -p $(CMD_DIR)
	$(VERILATOR) --lint-only -Wall --top-module cbr_cmd $(CMD_RTL)
	@for g in $(CMD_LINT_SETS); do \
	    echo "$(VERILATOR) --lint-only -Wall --top-module cbr_cmd $$g ..."; \
	    $(VERILATOR) --lint-only -Wall --top-module cbr_cmd $$g $(CMD_RTL) || exit 1; \
	done
	@for v in 0:0 1:0 0:16; do \
	    c=$${v%%:*}; cp=$${v##*:}; n=c$$c$$( [ $$cp = 0 ] || echo -copy$$cp ); \
	    echo "$(YOSYS) synth -top cbr_cmd (COMPACT=$$c COPY_BYTES=$$cp)"; \
	    $(YOSYS) -q -l $(CMD_DIR)/yosys-$$n.log -p "read_verilog $(CMD_RTL); \
	        chparam -set COMPACT $$c -set COPY_BYTES $$cp -set COPY_BUFS 11 cbr_cmd; \
	        synth -top cbr_cmd; \
	        select -assert-none t:\$$dlatch* t:\$$adlatch* t:\$$_DLATCH* t:\$$_SR_*; \
	        tee -q -o $(CMD_DIR)/synth-$$n.log stat" || exit 1; \
	    ! grep "^Latch inferred" $(CMD_DIR)/yosys-$$n.log || exit 1; \
	    grep -E "Number of cells|DFF|MUX_ " $(CMD_DIR)/synth-$$n.log | head -20; \
	done
	@echo "lint-rtl-cmd: OK ($(CMD_DIR)/synth-c0.log, $(CMD_DIR)/synth-c1.log," \
	    "$(CMD_DIR)/synth-c0-copy16.log)"

# ---- the fuzz bench (tests/rtl/tb_cmd_fuzz.cpp) against COMPACT=1 --------------------------
# mk/shells.mk builds it for the default variant (test-rtl-cmd-fuzz); this is the same bench and
# configuration with COMPACT=1, run by test-rtl-shells too.
CMD_FUZZC_CFG := MAX_PAYLOAD=256 REG_BYTES=64 BUF0_BYTES=1024 BUF1_BYTES=512 BUF2_BYTES=256 \
                 BUF3_BYTES=2048 RX_TIMEOUT=300 COMPACT=1
CMD_FUZZC_BIN := $(CMD_DIR)/fuzz-compact/Vtb

$(CMD_FUZZC_BIN): $(CMD_RTL) tests/rtl/tb_cmd_fuzz.cpp tests/rtl/tb_common.h $(CMD_DIR)/proto.o \
        mk/cmd.mk
	@rm -rf $(@D) && mkdir -p $(@D)/obj
	@echo "verilator: building tb_cmd_fuzz ($(CMD_FUZZC_CFG))"
	@$(VERILATOR) --cc --exe --build -j 1 -Wall --top-module cbr_cmd --Mdir $(@D)/obj \
	    -o $(abspath $@) $(addprefix -G,$(CMD_FUZZC_CFG)) \
	    -CFLAGS "-O1 -I$(abspath tests/rtl) -I$(abspath host/lib) -I$(abspath host/include) \
	        $(addprefix -DTB_,$(CMD_FUZZC_CFG))" \
	    -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1" \
	    $(CMD_RTL) $(abspath tests/rtl/tb_cmd_fuzz.cpp) $(abspath $(CMD_DIR)/proto.o) \
	    > $(@D)/build.log 2>&1 || { tail -30 $(@D)/build.log; exit 1; }

.PHONY: test-rtl-cmd-fuzz-compact
test-rtl-shells: test-rtl-cmd-fuzz-compact
test-rtl-cmd-fuzz-compact: $(CMD_FUZZC_BIN) ## the command-block fuzz against COMPACT=1 for CMD_FUZZ_SECONDS
	$(CMD_FUZZC_BIN) --seconds $(CMD_FUZZ_SECONDS)

# ---- the iCEBreaker's link: area of UART bridge + command block ---------------------------
# The bring-up image (rtl/boards/cbr_icebreaker_top.v, CORE=0) with its command block's
# COMPACT and MAX_PAYLOAD set through LINK_COMPACT and LINK_PAYLOAD. Per configuration: yosys synth_ice40 -dsp
# (flattened, for nextpnr; and -noflatten, for the LUT/FF/EBR of each module) and
# nextpnr-ice40 --up5k --package sg48 for the packed logic cells and block RAMs.
#   make area-cmd-ice40               all of CMD_AREA_CFGS; report in $(CMD_DIR)/area/report.txt
CMD_AREA_CFGS ?= 0:256 1:256 0:1024 1:1024
CMD_AREA_DIR := $(CMD_DIR)/area
CMD_AREA_SRC := $(CMD_RTL) rtl/cbr_uart_bridge.v rtl/boards/cbr_icebreaker_top.v

.PHONY: area-cmd-ice40
area-cmd-ice40: ## UART bridge + cbr_cmd on the iCE40UP5K (COMPACT 0/1, MAX_PAYLOAD 256/1024): LCs, EBR
	@mkdir -p $(CMD_AREA_DIR); rm -f $(CMD_AREA_DIR)/report.txt
	@set -e; for c in $(CMD_AREA_CFGS); do \
	    cp=$${c%%:*}; mp=$${c##*:}; d=$(CMD_AREA_DIR)/c$$cp-p$$mp; mkdir -p $$d; \
	    rd="read_verilog -defer $(CMD_AREA_SRC); chparam -set CORE 0 -set LINK_COMPACT $$cp -set LINK_PAYLOAD $$mp cbr_icebreaker_top"; \
	    $(YOSYS) -q -l $$d/yosys-hier.log -p "$$rd; synth_ice40 -dsp -noflatten -top cbr_icebreaker_top; \
	        tee -q -o $$d/hier.txt stat" >/dev/null; \
	    $(YOSYS) -q -l $$d/yosys.log -p "$$rd; synth_ice40 -dsp -top cbr_icebreaker_top -json $$d/top.json" \
	        >/dev/null; \
	    $(NEXTPNR_ICE40) --up5k --package sg48 --json $$d/top.json \
	        --pcf constraints/icebreaker/icebreaker.pcf --freq 12 --seed 1 -q -l $$d/nextpnr.log; \
	    lc=$$(sed -nE 's/.*ICESTORM_LC: +([0-9]+)\/.*/\1/p' $$d/nextpnr.log | tail -1); \
	    ram=$$(sed -nE 's/.*ICESTORM_RAM: +([0-9]+)\/.*/\1/p' $$d/nextpnr.log | tail -1); \
	    fmax=$$(sed -nE "s/.*Max frequency for clock .*: ([0-9.]+) MHz.*/\1/p" $$d/nextpnr.log | tail -1); \
	    { echo "COMPACT=$$cp MAX_PAYLOAD=$$mp: image $$lc LCs, $$ram EBR (of 5280 / 30), Fmax $$fmax MHz"; \
	      awk '/^=== / { m = $$2; sub(/^\$$paramod(\$$[0-9a-f]+)?\\/, "", m); sub(/\\.*/, "", m) } \
	           /SB_LUT4/ { l[m] += $$2 } /SB_CARRY/ { c[m] += $$2 } /SB_DFF/ { f[m] += $$2 } \
	           /SB_RAM40_4K/ { r[m] += $$2 } \
	           END { for (k in l) if (k != "hierarchy") \
	               printf "    %-18s LUT4 %5d  CARRY %4d  DFF %5d  EBR %2d\n", k, l[k], c[k], f[k], r[k] }' \
	           $$d/hier.txt | sort; } | tee -a $(CMD_AREA_DIR)/report.txt; \
	done
	@echo "area-cmd-ice40: $(CMD_AREA_DIR)/report.txt (the image also holds its 4 KiB buffer RAM, register file and LED blinker)"
