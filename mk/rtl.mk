# mk/rtl.mk - RTL lint, synthesis check and module tests (included by the top-level Makefile).
#
#   make lint-rtl   verilator --lint-only -Wall (0 warnings; waivers only in rtl/cbr.vlt) on every
#                   module, default and other parameter shapes; iverilog -g2005 elaboration of the
#                   same; yosys synth_xilinx of the default configuration of each synthesizable
#                   top with `check -assert` and a no-latch assertion; resource report in
#                   $(BUILD)/rtl/synth.log
#   make test-rtl   builds (Verilator, one model at a time) and runs the module test benches of
#                   tests/rtl/; CBR_SEED=N replays a seed
#
# Everything generated goes under $(BUILD)/rtl.

VERILATOR ?= verilator
IVERILOG ?= iverilog
YOSYS ?= yosys

RTL_BUILD := $(BUILD)/rtl
RTL_F := rtl/cbr.f
RTL_VLT := rtl/cbr.vlt
RTL_SRC := $(filter %.v,$(shell cat $(RTL_F)))

# Lint shapes: top[@PARAM=V,PARAM=V...]. The defaults are the 16x16 build.
RTL_LINT_CFGS := cbr_delay cbr_skid cbr_pe \
    cbr_array cbr_array@ROWS=4,COLS=4,DW_RB=2 cbr_array@ROWS=6,COLS=10,DW_RB=3 \
    cbr_array@ROWS=32,COLS=8,DW_RB=8 \
    cbr_requant cbr_requant@USER_W=20 \
    cbr_pool cbr_pool@LANES=4,KMAX=3,WMAX=32,DIM_W=8 cbr_pool@LANES=3,KMAX=5,WMAX=40,DIM_W=9 \
    cbr_pool@LANES=1,KMAX=2,WMAX=16,DIM_W=6 \
    cbr_rdiv cbr_rdiv@LANES=16,S_W=29,C_W=21,USER_W=4 \
    cbr_crc32 cbr_crc32@BYTES=4

# Synthesized in their default configuration (cbr_array 16x16, cbr_pool 16 lanes).
RTL_SYNTH_TOPS := cbr_array cbr_requant cbr_pool cbr_crc32

.PHONY: lint-rtl test-rtl rtl-tests

lint-rtl: ## RTL: verilator -Wall + iverilog lint, yosys synth (no latches), resource report
	@mkdir -p $(RTL_BUILD)
	@set -e; for c in $(RTL_LINT_CFGS); do \
	    top=$${c%%@*}; params=; \
	    case $$c in *@*) params=$$(echo "$${c#*@}" | tr ',' '\n' | sed 's/^/-G/' | tr '\n' ' ');; esac; \
	    echo "verilator --lint-only -Wall --top-module $$top $$params"; \
	    $(VERILATOR) --lint-only -Wall $(RTL_VLT) -f $(RTL_F) --top-module $$top $$params; \
	    iparams=$$(echo "$$params" | sed 's/-G\([A-Z_0-9]*\)=/-P'"$$top"'.\1=/g'); \
	    echo "iverilog -g2005 -Wall -s $$top $$iparams"; \
	    $(IVERILOG) -g2005 -Wall -o /dev/null -s $$top $$iparams -c $(RTL_F) 2>&1 | \
	        tee $(RTL_BUILD)/iverilog.out; \
	    if [ -s $(RTL_BUILD)/iverilog.out ]; then echo "iverilog printed warnings"; exit 1; fi; \
	done
	@echo "lint-rtl: verilator and iverilog clean on $(words $(RTL_LINT_CFGS)) shapes"
	@$(MAKE) --no-print-directory $(RTL_BUILD)/synth.log
	@echo "lint-rtl: yosys synth_xilinx of $(RTL_SYNTH_TOPS): check -assert passed, no latches;" \
	    "report in $(RTL_BUILD)/synth.log"
	@grep -E '^(=== |     (DSP48E1|FDRE|FDSE|LUT[1-6]|CARRY4|RAMB(18|36)E1|SRL16E|SRLC32E|RAM[0-9A-Z]*) )' \
	    $(RTL_BUILD)/synth.log

# One yosys run per top; the report is only replaced when every run passed.
$(RTL_BUILD)/synth.log: $(RTL_SRC) mk/rtl.mk
	@mkdir -p $(@D)
	@rm -f $@.tmp
	@set -e; for top in $(RTL_SYNTH_TOPS); do \
	    { echo "read_verilog -defer $(RTL_SRC)"; \
	      echo "hierarchy -check -top $$top"; \
	      echo "proc"; \
	      echo "select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr"; \
	      echo "check -assert"; \
	      echo "synth_xilinx -top $$top -flatten"; \
	      echo "select -assert-none t:LDCE t:LDPE t:\$$_DLATCH_*"; \
	      echo "check -assert"; \
	      echo "tee -a $@.tmp stat"; } > $(RTL_BUILD)/synth_$$top.ys; \
	    echo "yosys: synth_xilinx $$top (log: $(RTL_BUILD)/synth_$$top.log)"; \
	    start=$$(date +%s); \
	    $(YOSYS) -q -l $(RTL_BUILD)/synth_$$top.log $(RTL_BUILD)/synth_$$top.ys || \
	        { echo "yosys failed on $$top: see $(RTL_BUILD)/synth_$$top.log"; exit 1; }; \
	    echo "($$top: $$(( $$(date +%s) - start )) s)"; \
	done
	@mv $@.tmp $@

# ---- module test benches -------------------------------------------------------------------
RTL_GOLDEN_OBJ := $(RTL_BUILD)/obj/golden.o $(RTL_BUILD)/obj/errors.o

$(RTL_BUILD)/obj/%.o: host/lib/%.c host/lib/golden.h host/lib/errors.h host/include/cbr.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Ihost/include -Ihost/lib -c $< -o $@

# $(1) name, $(2) top module, $(3) parameters (also passed to C++ as -D), $(4) bench source,
# $(5) extra objects, $(6) extra libraries
define RTL_TB_template
$(RTL_BUILD)/tb_$(1)/Vtb: $(RTL_SRC) $(RTL_VLT) tests/rtl/$(4) tests/rtl/tb_common.h $(5) mk/rtl.mk
	@mkdir -p $$(@D)
	@echo "verilator: building tb_$(1) ($(2) $(3))"
	@start=$$$$(date +%s); \
	$(VERILATOR) --cc --exe --build -j 1 -Wall --x-assign unique --x-initial unique \
	    --top-module $(2) $(foreach p,$(3),-G$(p)) \
	    -CFLAGS "$(foreach p,$(3),-D$(p)) -I$(CURDIR)/tests/rtl -I$(CURDIR)/host/include -I$(CURDIR)/host/lib" \
	    $(if $(6),-LDFLAGS "$(6)") --Mdir $$(@D) -o Vtb \
	    $(RTL_VLT) -f $(RTL_F) $(CURDIR)/tests/rtl/$(4) $(foreach o,$(5),$(abspath $(o))) \
	    > $$(@D)/build.log 2>&1 || { tail -30 $$(@D)/build.log; exit 1; }; \
	echo "  tb_$(1) built in $$$$(( $$$$(date +%s) - start )) s"
RTL_TB_BINS += $(RTL_BUILD)/tb_$(1)/Vtb
endef

RTL_TB_BINS :=
$(eval $(call RTL_TB_template,pe,cbr_pe,P_W=21,tb_pe.cpp,,))
$(eval $(call RTL_TB_template,array_16x16,cbr_array,ROWS=16 COLS=16 DW_RB=4 USER_W=16,tb_array.cpp,,))
$(eval $(call RTL_TB_template,array_4x4,cbr_array,ROWS=4 COLS=4 DW_RB=2 USER_W=16,tb_array.cpp,,))
$(eval $(call RTL_TB_template,array_6x10,cbr_array,ROWS=6 COLS=10 DW_RB=3 USER_W=16,tb_array.cpp,,))
$(eval $(call RTL_TB_template,requant,cbr_requant,USER_W=20,tb_requant.cpp,$(RTL_GOLDEN_OBJ),-lm))
$(eval $(call RTL_TB_template,crc32_1,cbr_crc32,BYTES=1,tb_crc32.cpp,,-lz))
$(eval $(call RTL_TB_template,crc32_4,cbr_crc32,BYTES=4,tb_crc32.cpp,,-lz))
$(eval $(call RTL_TB_template,pool_k3,cbr_pool,LANES=4 KMAX=3 WMAX=32 DIM_W=8,tb_pool.cpp,$(RTL_GOLDEN_OBJ),-lm))
$(eval $(call RTL_TB_template,pool_k5,cbr_pool,LANES=3 KMAX=5 WMAX=40 DIM_W=9,tb_pool.cpp,$(RTL_GOLDEN_OBJ),-lm))

# Built one at a time on purpose: the machine is small and shared (-j 1 inside Verilator too).
rtl-tests:
	@for b in $(RTL_TB_BINS); do $(MAKE) --no-print-directory -j1 $$b || exit 1; done

# Runs every bench (a failure fails the target after all have run) and sums their counts.
test-rtl: rtl-tests ## RTL: build and run the module test benches (CBR_SEED=N to replay)
	@pass=0; fail=0; bad=0; for b in $(RTL_TB_BINS); do \
	    echo "== $$b"; \
	    $$b > $$(dirname $$b)/run.log 2>&1; rc=$$?; \
	    head -1 $$(dirname $$b)/run.log; grep -E 'MISMATCH' $$(dirname $$b)/run.log | head -20; \
	    line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed$$' $$(dirname $$b)/run.log | tail -1); \
	    echo "$${line:-no result line}"; \
	    if [ -n "$$line" ]; then \
	        pass=$$((pass + $$(echo "$$line" | cut -d' ' -f1))); \
	        fail=$$((fail + $$(echo "$$line" | cut -d' ' -f3))); \
	    fi; \
	    if [ $$rc -ne 0 ] || [ -z "$$line" ]; then bad=$$((bad + 1)); echo "FAILED: $$b (exit $$rc)"; fi; \
	done; \
	echo "test-rtl: $$bad of $(words $(RTL_TB_BINS)) benches failed"; \
	if [ $$bad -ne 0 ] && [ $$fail -eq 0 ]; then fail=$$bad; fi; \
	echo "$$pass passed, $$fail failed"; \
	[ $$bad -eq 0 ]
