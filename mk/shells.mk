# mk/shells.mk - the board shells (docs/shells.md): the FX3 slave-FIFO bridge and the XDMA
# AXI4-Stream bridge with their top-levels, and the fuzz bench of the command block
# (included by the top-level Makefile). Everything generated goes under $(BUILD)/rtl/shells.
#
#   make test-rtl-shells     build and run tests/rtl/tb_fx3.cpp and tb_xdma.cpp (each a shell
#                            top around a 4x4 cbr_top, its far end modelled in C++, libcbr's
#                            client running layers through it) and tests/rtl/tb_cmd_fuzz.cpp
#                            (random and corrupted packets into cbr_cmd for CMD_FUZZ_SECONDS,
#                            default 40); CBR_SEED=N replays a seed
#   make lint-rtl-shells     verilator --lint-only -Wall and iverilog of the bridges and the
#                            tops (several parameter sets), yosys synth of each bridge with a
#                            no-latch assertion; report in $(BUILD)/rtl/shells/synth.log

VERILATOR ?= verilator
IVERILOG ?= iverilog
YOSYS ?= yosys

SHELLS_BUILD := $(BUILD)/rtl/shells
SHELLS_RTL := rtl/cbr_fx3_bridge.v rtl/cbr_fx3_top.v rtl/cbr_xdma_bridge.v rtl/cbr_xdma_top.v
SHELLS_F_SRC = $(filter %.v,$(shell grep -v '^//' rtl/cbr.f 2>/dev/null))
SHELLS_SRC = $(SHELLS_F_SRC) $(filter-out $(SHELLS_F_SRC),$(SHELLS_RTL))
CMD_FUZZ_SECONDS ?= 40

.PHONY: test-rtl-shells lint-rtl-shells

# $(1) name, $(2) top, $(3) parameters (-G and -D), $(4) bench source
define SHELL_TB_template
$(SHELLS_BUILD)/$(1)/Vtb: $(SHELLS_SRC) rtl/cbr.vlt tests/rtl/$(4) tests/rtl/tb_link.h \
        tests/rtl/tb_common.h $(LIBA) mk/shells.mk
	@mkdir -p $$(@D)
	@echo "verilator: building $(1) ($(2) $(3))"
	@start=$$$$(date +%s); \
	$(VERILATOR) --cc --exe --build -j 1 -Wall --x-assign unique --x-initial unique \
	    --top-module $(2) --prefix Vtb $(foreach p,$(3),-G$(p)) \
	    -CFLAGS "$(foreach p,$(3),-D$(p)) -I$(CURDIR)/tests/rtl -I$(CURDIR)/host/include -I$(CURDIR)/host/lib" \
	    -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1" \
	    -LDFLAGS "$(abspath $(LIBA)) $(LIBS) -lpthread" --Mdir $$(@D) -o Vtb \
	    rtl/cbr.vlt $(SHELLS_SRC) $(CURDIR)/tests/rtl/$(4) \
	    > $$(@D)/build.log 2>&1 || { tail -30 $$(@D)/build.log; exit 1; }; \
	echo "  $(1) built in $$$$(( $$$$(date +%s) - start )) s"
SHELL_TB_BINS += $(SHELLS_BUILD)/$(1)/Vtb
endef

SHELL_TB_BINS :=
$(eval $(call SHELL_TB_template,fx3,cbr_fx3_top,ROWS=4 COLS=4 IN_BUF_WORDS=64 PKTEND_IDLE=8,tb_fx3.cpp))
$(eval $(call SHELL_TB_template,xdma,cbr_xdma_top,ROWS=4 COLS=4 C2H_IDLE=16,tb_xdma.cpp))

test-rtl-shells: ## RTL shells: FX3 and XDMA bridges around cbr_top, command-block fuzz (CBR_SEED=N)
	@for b in $(SHELL_TB_BINS); do $(MAKE) --no-print-directory -j1 $$b || exit 1; done
	@fail=0; for b in $(SHELL_TB_BINS); do \
	    echo "== $$b"; start=$$(date +%s); \
	    $$b > $$(dirname $$b)/run.log 2>&1; rc=$$?; \
	    head -1 $$(dirname $$b)/run.log; grep -E 'MISMATCH|FAILED' $$(dirname $$b)/run.log | head -20; \
	    tail -3 $$(dirname $$b)/run.log; echo "($$(( $$(date +%s) - start )) s)"; \
	    [ $$rc -eq 0 ] || { echo "FAILED: $$b (exit $$rc)"; fail=1; }; \
	done; exit $$fail

# The command-block fuzz bench: small buffers and payloads so rounds are short.
CMD_FUZZ_CFG := MAX_PAYLOAD=256 REG_BYTES=64 BUF0_BYTES=1024 BUF1_BYTES=512 BUF2_BYTES=256 \
                BUF3_BYTES=2048 RX_TIMEOUT=300 COPY_BYTES=16 COPY_BUFS=11
CMD_FUZZ_RTL := rtl/cbr_cmd.v rtl/cbr_cmd_rx.v rtl/cbr_cmd_exec.v rtl/cbr_cmd_tx.v \
                rtl/cbr_cmd_ram.v rtl/cbr_crc32_w32.v

$(SHELLS_BUILD)/cmd_fuzz.proto.o: host/lib/proto.c host/lib/proto.h host/include/cbr.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Ihost/include -Ihost/lib -O1 -c $< -o $@

$(SHELLS_BUILD)/cmd_fuzz/Vtb: $(CMD_FUZZ_RTL) tests/rtl/tb_cmd_fuzz.cpp tests/rtl/tb_common.h \
        $(SHELLS_BUILD)/cmd_fuzz.proto.o mk/shells.mk
	@rm -rf $(@D) && mkdir -p $(@D)/obj
	@echo "verilator: building tb_cmd_fuzz ($(CMD_FUZZ_CFG))"
	@$(VERILATOR) --cc --exe --build -j 1 -Wall --top-module cbr_cmd --Mdir $(@D)/obj \
	    -o $(abspath $@) $(addprefix -G,$(CMD_FUZZ_CFG)) \
	    -CFLAGS "-O1 -I$(abspath tests/rtl) -I$(abspath host/lib) -I$(abspath host/include) \
	        $(addprefix -DTB_,$(CMD_FUZZ_CFG))" \
	    -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O1 OPT_GLOBAL=-O1" \
	    $(CMD_FUZZ_RTL) $(abspath tests/rtl/tb_cmd_fuzz.cpp) $(abspath $(SHELLS_BUILD)/cmd_fuzz.proto.o) \
	    > $(@D)/build.log 2>&1 || { tail -30 $(@D)/build.log; exit 1; }

test-rtl-shells: test-rtl-cmd-fuzz
.PHONY: test-rtl-cmd-fuzz
test-rtl-cmd-fuzz: $(SHELLS_BUILD)/cmd_fuzz/Vtb ## RTL command block: random and corrupted packets for CMD_FUZZ_SECONDS (40)
	$(SHELLS_BUILD)/cmd_fuzz/Vtb --seconds $(CMD_FUZZ_SECONDS)

# ---- lint and synthesis ------------------------------------------------------------------------
SHELLS_LINT_CFGS := cbr_fx3_bridge cbr_fx3_bridge@IN_BUF_WORDS=2,PKTEND_IDLE=1,RX_DEPTH=8 \
    cbr_fx3_bridge@IN_BUF_WORDS=4096,PKTEND_IDLE=1000,RX_DEPTH=64 \
    cbr_xdma_bridge cbr_xdma_bridge@C2H_IDLE=1 cbr_xdma_bridge@C2H_IDLE=1000 \
    cbr_fx3_top@ROWS=4,COLS=4 cbr_xdma_top@ROWS=4,COLS=8

lint-rtl-shells: ## RTL shells: verilator -Wall + iverilog lint, yosys synth of the bridges (no latches)
	@mkdir -p $(SHELLS_BUILD)
	@set -e; for c in $(SHELLS_LINT_CFGS); do \
	    top=$${c%%@*}; params=; \
	    case $$c in *@*) params=$$(echo "$${c#*@}" | tr ',' '\n' | sed 's/^/-G/' | tr '\n' ' ');; esac; \
	    echo "verilator --lint-only -Wall --top-module $$top $$params"; \
	    $(VERILATOR) --lint-only -Wall rtl/cbr.vlt $(SHELLS_SRC) --top-module $$top $$params; \
	    iparams=$$(echo "$$params" | sed 's/-G\([A-Z_0-9]*\)=/-P'"$$top"'.\1=/g'); \
	    echo "iverilog -g2005 -Wall -s $$top $$iparams"; \
	    $(IVERILOG) -g2005 -Wall -o /dev/null -s $$top $$iparams $(SHELLS_SRC) 2>&1 | \
	        tee $(SHELLS_BUILD)/iverilog.out; \
	    if [ -s $(SHELLS_BUILD)/iverilog.out ]; then echo "iverilog printed warnings"; exit 1; fi; \
	done
	@rm -f $(SHELLS_BUILD)/synth.log
	@set -e; for top in cbr_fx3_bridge cbr_xdma_bridge; do \
	    echo "yosys: synth_xilinx $$top"; \
	    $(YOSYS) -q -l $(SHELLS_BUILD)/synth_$$top.log -p "read_verilog -defer $(SHELLS_RTL); \
	        hierarchy -check -top $$top; proc; \
	        select -assert-none t:\$$dlatch t:\$$adlatch t:\$$dlatchsr; check -assert; \
	        synth_xilinx -top $$top -flatten; \
	        select -assert-none t:LDCE t:LDPE t:\$$_DLATCH_*; check -assert; \
	        tee -a $(SHELLS_BUILD)/synth.log stat"; \
	done
	@grep -E '^(=== |     (FDRE|FDSE|LUT[1-6]|CARRY4|RAM[0-9A-Z]*|SRL[0-9A-Z]*) )' $(SHELLS_BUILD)/synth.log
	@echo "lint-rtl-shells: OK (report in $(SHELLS_BUILD)/synth.log)"
