# mk/core.mk - the accelerator core (rtl/cbr_core*.v) and the top (rtl/cbr_top.v): bit-exact
# tests against the golden model, lint and synthesis (included by the top-level Makefile).
#
#   make test-rtl-core          builds tests/rtl/tb_core.cpp for each shape in CORE_SHAPES
#                               (one Verilator build at a time) and runs CORE_LAYERS random
#                               layers and CORE_JOBS planner jobs (resident regions,
#                               accumulation chains, row-subtiles, queued RUNs) on each;
#                               CBR_SEED=N replays a seed
#   make soak-rtl-core N=5000   the same with N random layers and N/4 jobs per shape
#   make lint-rtl-core          verilator --lint-only -Wall of cbr_top and of cbr_core in
#                               several shapes, iverilog -g2005 elaboration, and yosys
#                               synth_xilinx of cbr_top 16x16 that fails on any latch;
#                               resource report in $(BUILD)/rtl/core/synth.log
#
# Everything generated goes under $(BUILD)/rtl/core.

VERILATOR ?= verilator
IVERILOG ?= iverilog
YOSYS ?= yosys

CORE_BUILD := $(BUILD)/rtl/core
CORE_SHAPES ?= 4x4 16x16 4x8
CORE_LAYERS ?= 500
CORE_JOBS ?= 150
CORE_BUDGET ?= 30000

# The files of rtl/cbr.f plus those of the core and the command block it does not list yet
# (each file once, whichever way the list grows).
CORE_F_SRC = $(filter %.v,$(shell grep -v '^//' rtl/cbr.f 2>/dev/null))
CORE_OWN := rtl/cbr_delay.v rtl/cbr_skid.v rtl/cbr_pe.v rtl/cbr_array.v rtl/cbr_requant.v \
    rtl/cbr_rdiv.v rtl/cbr_crc32.v rtl/cbr_crc32_w32.v rtl/cbr_cmd_ram.v rtl/cbr_cmd_rx.v \
    rtl/cbr_cmd_exec.v rtl/cbr_cmd_tx.v rtl/cbr_cmd.v \
    rtl/cbr_ram.v rtl/cbr_core_buf.v rtl/cbr_core_regs.v rtl/cbr_core_ctrl.v \
    rtl/cbr_core_param.v rtl/cbr_core_wload.v rtl/cbr_core_agen.v rtl/cbr_core_acc.v \
    rtl/cbr_core_post.v rtl/cbr_core.v rtl/cbr_top.v
CORE_SRC = $(CORE_F_SRC) $(filter-out $(CORE_F_SRC),$(CORE_OWN))

CORE_GOLDEN_OBJ := $(CORE_BUILD)/obj/golden.o $(CORE_BUILD)/obj/errors.o

$(CORE_BUILD)/obj/%.o: host/lib/%.c host/lib/golden.h host/lib/errors.h host/include/cbr.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Ihost/include -Ihost/lib -c $< -o $@

core_rows = $(word 1,$(subst x, ,$(1)))
core_cols = $(word 2,$(subst x, ,$(1)))

# One bench per shape: $(CORE_BUILD)/tb_RxC/Vtb. Lean C++ flags: the machine is small.
$(CORE_BUILD)/tb_%/Vtb: $(CORE_SRC) rtl/cbr.vlt tests/rtl/tb_core.cpp tests/rtl/tb_common.h \
        $(CORE_GOLDEN_OBJ) mk/core.mk
	@mkdir -p $(@D)
	@echo "verilator: building tb_core $* (ROWS=$(call core_rows,$*) COLS=$(call core_cols,$*))"
	@start=$$(date +%s); \
	$(VERILATOR) --cc --exe --build -j 1 -Wall --x-assign unique --x-initial unique \
	    --top-module cbr_core -GROWS=$(call core_rows,$*) -GCOLS=$(call core_cols,$*) \
	    -CFLAGS "-DROWS=$(call core_rows,$*) -DCOLS=$(call core_cols,$*) -I$(CURDIR)/tests/rtl -I$(CURDIR)/host/include -I$(CURDIR)/host/lib" \
	    -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1" \
	    -LDFLAGS "-lm" --Mdir $(@D) -o Vtb \
	    rtl/cbr.vlt $(CORE_SRC) $(CURDIR)/tests/rtl/tb_core.cpp $(abspath $(CORE_GOLDEN_OBJ)) \
	    > $(@D)/build.log 2>&1 || { tail -30 $(@D)/build.log; exit 1; }; \
	echo "  tb_core $* built in $$(( $$(date +%s) - start )) s"

# The same bench with waveforms: make build/rtl/core/trace_4x4/Vtb, then
# CBR_TRACE=out.vcd build/rtl/core/trace_4x4/Vtb --seed S --only K
$(CORE_BUILD)/trace_%/Vtb: $(CORE_SRC) rtl/cbr.vlt tests/rtl/tb_core.cpp tests/rtl/tb_common.h \
        $(CORE_GOLDEN_OBJ) mk/core.mk
	@mkdir -p $(@D)
	$(VERILATOR) --cc --exe --build -j 1 --trace -Wall --x-assign unique --x-initial unique \
	    --top-module cbr_core -GROWS=$(call core_rows,$*) -GCOLS=$(call core_cols,$*) \
	    -CFLAGS "-DROWS=$(call core_rows,$*) -DCOLS=$(call core_cols,$*) -I$(CURDIR)/tests/rtl -I$(CURDIR)/host/include -I$(CURDIR)/host/lib" \
	    -MAKEFLAGS "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0" \
	    -LDFLAGS "-lm" --Mdir $(@D) -o Vtb \
	    rtl/cbr.vlt $(CORE_SRC) $(CURDIR)/tests/rtl/tb_core.cpp $(abspath $(CORE_GOLDEN_OBJ)) \
	    > $(@D)/build.log 2>&1 || { tail -30 $(@D)/build.log; exit 1; }

CORE_TB_BINS = $(CORE_SHAPES:%=$(CORE_BUILD)/tb_%/Vtb)

.PHONY: rtl-core-tests test-rtl-core soak-rtl-core lint-rtl-core

# Built one at a time on purpose (-j 1 inside Verilator too).
rtl-core-tests:
	@for b in $(CORE_TB_BINS); do $(MAKE) --no-print-directory -j1 $$b || exit 1; done

# $(1): random layers per shape, $(2): planner jobs per shape. Runs every shape (a failure fails the target after all
# have run) and sums their result lines.
define CORE_RUN
	@pass=0; fail=0; bad=0; for b in $(CORE_TB_BINS); do \
	    echo "== $$b --layers $(1) --jobs $(2)"; start=$$(date +%s); \
	    $$b --layers $(1) --jobs $(2) --budget $(CORE_BUDGET) > $$(dirname $$b)/run.log 2>&1; rc=$$?; \
	    head -1 $$(dirname $$b)/run.log; \
	    grep -E '^(utilization|coverage|back to back|depthwise|copy port)|random layers|random depthwise|planner jobs' $$(dirname $$b)/run.log; \
	    grep -E 'MISMATCH|FAILED' $$(dirname $$b)/run.log | head -20; \
	    line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed$$' $$(dirname $$b)/run.log | tail -1); \
	    echo "$${line:-no result line} ($$(( $$(date +%s) - start )) s)"; \
	    if [ -n "$$line" ]; then \
	        pass=$$((pass + $$(echo "$$line" | cut -d' ' -f1))); \
	        fail=$$((fail + $$(echo "$$line" | cut -d' ' -f3))); \
	    fi; \
	    if [ $$rc -ne 0 ] || [ -z "$$line" ]; then bad=$$((bad + 1)); echo "FAILED: $$b (exit $$rc)"; fi; \
	done; \
	echo "rtl-core: $$bad of $(words $(CORE_TB_BINS)) shapes failed"; \
	if [ $$bad -ne 0 ] && [ $$fail -eq 0 ]; then fail=$$bad; fi; \
	echo "$$pass passed, $$fail failed"; \
	[ $$bad -eq 0 ]
endef

test-rtl-core: rtl-core-tests ## RTL core: bit-exact against the golden model, 3 shapes (CBR_SEED=N)
	$(call CORE_RUN,$(CORE_LAYERS),$(CORE_JOBS))

N ?= 5000
soak-rtl-core: rtl-core-tests ## RTL core: N random layers per shape (make soak-rtl-core N=20000)
	$(call CORE_RUN,$(N),$$(( $(N) / 4 )))

# ---- lint and synthesis ----------------------------------------------------------------------
# Shapes: top[@PARAM=V,...]
CORE_LINT_CFGS := cbr_top cbr_top@ROWS=4,COLS=8 cbr_core cbr_core@ROWS=4,COLS=4 \
    cbr_core@ROWS=4,COLS=8 cbr_core@ROWS=8,COLS=8 cbr_core@ROWS=32,COLS=8 \
    cbr_core@ROWS=8,COLS=32,ACT_BYTES=16384,WGT_BYTES=32768,OUT_BYTES=8192,PARAM_ENTRIES=64,ACC_PIXELS=256

lint-rtl-core: $(CORE_BUILD)/synth.log ## RTL core: verilator -Wall + iverilog lint, yosys synth of cbr_top (no latches)
	@mkdir -p $(CORE_BUILD)
	@set -e; for c in $(CORE_LINT_CFGS); do \
	    top=$${c%%@*}; params=; \
	    case $$c in *@*) params=$$(echo "$${c#*@}" | tr ',' '\n' | sed 's/^/-G/' | tr '\n' ' ');; esac; \
	    echo "verilator --lint-only -Wall --top-module $$top $$params"; \
	    $(VERILATOR) --lint-only -Wall rtl/cbr.vlt $(CORE_SRC) --top-module $$top $$params; \
	    iparams=$$(echo "$$params" | sed 's/-G\([A-Z_0-9]*\)=/-P'"$$top"'.\1=/g'); \
	    echo "iverilog -g2005 -Wall -s $$top $$iparams"; \
	    $(IVERILOG) -g2005 -Wall -o /dev/null -s $$top $$iparams $(CORE_SRC) 2>&1 | \
	        tee $(CORE_BUILD)/iverilog.out; \
	    if [ -s $(CORE_BUILD)/iverilog.out ]; then echo "iverilog printed warnings"; exit 1; fi; \
	done
	@echo "lint-rtl-core: verilator and iverilog clean on $(words $(CORE_LINT_CFGS)) shapes;" \
	    "synthesis report in $(CORE_BUILD)/synth.log"
	@grep -E '^(=== |     (DSP48E1|FDRE|FDSE|LUT[1-6]|CARRY4|RAMB(18|36)E1|SRL16E|SRLC32E|RAM[0-9A-Z]*) )' \
	    $(CORE_BUILD)/synth.log

# yosys synth_xilinx of cbr_top 16x16: latches fail the run (before and after mapping).
$(CORE_BUILD)/synth.log: $(CORE_SRC) mk/core.mk
	@mkdir -p $(@D)
	@{ echo "read_verilog -defer $(CORE_SRC)"; \
	   echo "hierarchy -check -top cbr_top"; \
	   echo "proc"; \
	   echo "select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr"; \
	   echo "check -assert"; \
	   echo "synth_xilinx -top cbr_top -flatten"; \
	   echo "select -assert-none t:LDCE t:LDPE t:\$$_DLATCH_*"; \
	   echo "check -assert"; \
	   echo "tee -o $@.tmp stat"; } > $(CORE_BUILD)/synth_top.ys
	@echo "yosys: synth_xilinx cbr_top 16x16 (log: $(CORE_BUILD)/synth_top.log)"
	@start=$$(date +%s); \
	$(YOSYS) -q -l $(CORE_BUILD)/synth_top.log $(CORE_BUILD)/synth_top.ys || \
	    { echo "yosys failed: see $(CORE_BUILD)/synth_top.log"; exit 1; }; \
	echo "(cbr_top: $$(( $$(date +%s) - start )) s)"
	@mv $@.tmp $@
