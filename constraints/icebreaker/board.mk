# constraints/icebreaker/board.mk - the iCEBreaker build (included by mk/fpga.mk).
# iCE40UP5K-SG48, 12 MHz, FT2232H channel B as a 3 Mbaud UART. docs/boards.md.
BOARD_FLOW := ice40
BOARD_TOP := cbr_icebreaker_top
BOARD_SRC := rtl/cbr_uart_bridge.v rtl/boards/cbr_icebreaker_top.v
BOARD_PCF := constraints/icebreaker/icebreaker.pcf
BOARD_DEVICE := --up5k --package sg48
BOARD_FREQ_MHZ := 12
# CORE=1 is the accelerator (does not fit the UP5K: nextpnr stops with the count of cells
# it lacks); CORE=0 is the link bring-up image built in CI.
ICE_CORE ?= 0
BOARD_PARAMS := CORE=$(ICE_CORE)
BOARD_VARIANT := $(if $(filter 0,$(ICE_CORE)),,-core)
