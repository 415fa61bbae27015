# mk/cmd.mk - the packet command block rtl/cbr_cmd.v (docs/cmd.md): its Verilator bench and
# its lint/synthesis check. Everything generated goes under $(BUILD)/rtl/cmd/.
#
#   make test-rtl-cmd                 build and run tests/rtl/tb_cmd.cpp (CBR_SEED=N to replay)
#   make lint-rtl-cmd                 verilator -Wall (several parameter sets) + yosys synth

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
CMD_CFGS := main odd
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
CMD_BINS := $(CMD_CFGS:%=$(CMD_DIR)/%/Vcbr_cmd)

# Parameter sets the lint runs over besides the defaults.
CMD_LINT_SETS := "-GMAX_PAYLOAD=64 -GREG_BYTES=4 -GRX_TIMEOUT=1" \
                 "-GMAX_PAYLOAD=1000 -GREG_BYTES=4096 -GBUF0_BYTES=4 -GRX_TIMEOUT=1000" \
                 "-GMAX_PAYLOAD=65536 -GBUF1_BYTES=268435456 -GRX_TIMEOUT=16777216"

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
	$(YOSYS) -q -l $(CMD_DIR)/yosys.log -p "read_verilog $(CMD_RTL); synth -top cbr_cmd; \
	    select -assert-none t:\$$dlatch* t:\$$adlatch* t:\$$_DLATCH* t:\$$_SR_*; \
	    tee -q -o $(CMD_DIR)/synth.log stat"
	@! grep "^Latch inferred" $(CMD_DIR)/yosys.log
	@grep -E "Number of cells|DFF|MUX_ " $(CMD_DIR)/synth.log | head -20
	@echo "lint-rtl-cmd: OK ($(CMD_DIR)/synth.log)"
