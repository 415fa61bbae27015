# constraints/icebreaker/board.mk - the iCEBreaker build (included by mk/fpga.mk).
# iCE40UP5K-SG48, 12 MHz, FT2232H channel B as a 3 Mbaud UART. docs/boards.md.
BOARD_FLOW := ice40
BOARD_TOP := cbr_icebreaker_top
# The tiny core (rtl/tiny: CORE=1) is read in both images; unused modules cost nothing.
BOARD_SRC := $(filter rtl/tiny/%,$(shell grep -v '^//' rtl/tiny/tiny.f)) rtl/cbr_uart_bridge.v \
    rtl/boards/cbr_icebreaker_top.v
BOARD_PCF := constraints/icebreaker/icebreaker.pcf
# the tiny core instantiates SB_SPRAM256KA: known to `hierarchy -check` before synth_ice40
BOARD_YS_LIB := read_verilog -lib +/ice40/cells_sim.v
BOARD_DEVICE := --up5k --package sg48
BOARD_FREQ_MHZ := 12
# CORE=1 (the default, built in CI) is the accelerator: the tiny core (docs/tiny.md) behind the
# compact command block, without the performance counters; CORE=0 is the link bring-up image
# (the command block with plain RAM behind it, no core). docs/boards.md.
ICE_CORE ?= 1
BOARD_PARAMS := CORE=$(ICE_CORE)
BOARD_VARIANT := $(if $(filter 0,$(ICE_CORE)),-bringup,)
