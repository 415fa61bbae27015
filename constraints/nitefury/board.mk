# constraints/nitefury/board.mk - the NiteFury II build (included by mk/fpga.mk).
# XC7A200T-2FBG484E, PCIe Gen2 x4 through the Xilinx XDMA IP. The open part is the yosys
# synthesis of cbr_xdma_top (make synth BOARD=nitefury, about 7 minutes and 1.3 GB; not in
# make test); the XDMA IP, place and route and programming are Vivado steps scripted in
# vivado.tcl and program.tcl (docs/boards.md).
BOARD_FLOW := xilinx
BOARD_TOP := cbr_xdma_top
BOARD_SRC :=
BOARD_PARAMS := ROWS=16 COLS=16
BOARD_MACS := 256
