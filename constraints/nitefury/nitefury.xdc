# RHS Research NiteFury II (XC7A200T-2FBG484E, M.2 2280 M-key, PCIe Gen2 x4): pins and clocks
# of rtl/boards/cbr_nitefury_top.v, the 16x16 accelerator behind the Xilinx XDMA shell.
# Pin numbers from the board vendor's own project files (RHSResearchLLC/NiteFury-and-LiteFury,
# Sample-Projects/Project-0: FPGA-A200T-3/src/constraints/uEVB-early.xdc for PCIe,
# FPGA/common/Constraints/normal.xdc for the LEDs and the configuration settings).
# Used by constraints/nitefury/vivado.tcl (vendor flow, not run in CI).

# ---- PCIe x4 (GTP quad 216) ------------------------------------------------------------
# The board's lane order does not match the XDMA IP's default placement: each lane's
# GTPE2_CHANNEL is placed explicitly (the IP's own XDC is overridden, this file is "late").
set_property LOC GTPE2_CHANNEL_X0Y7 [get_cells -hierarchical -filter {NAME =~ *pipe_lane[0].gt_wrapper_i/gtp_channel.gtpe2_channel_i}]
set_property LOC GTPE2_CHANNEL_X0Y6 [get_cells -hierarchical -filter {NAME =~ *pipe_lane[1].gt_wrapper_i/gtp_channel.gtpe2_channel_i}]
set_property LOC GTPE2_CHANNEL_X0Y5 [get_cells -hierarchical -filter {NAME =~ *pipe_lane[2].gt_wrapper_i/gtp_channel.gtpe2_channel_i}]
set_property LOC GTPE2_CHANNEL_X0Y4 [get_cells -hierarchical -filter {NAME =~ *pipe_lane[3].gt_wrapper_i/gtp_channel.gtpe2_channel_i}]
set_property PACKAGE_PIN B10 [get_ports {pcie_rxp[0]}]
set_property PACKAGE_PIN A10 [get_ports {pcie_rxn[0]}]
set_property PACKAGE_PIN B6  [get_ports {pcie_txp[0]}]
set_property PACKAGE_PIN A6  [get_ports {pcie_txn[0]}]
set_property PACKAGE_PIN B8  [get_ports {pcie_rxp[1]}]
set_property PACKAGE_PIN A8  [get_ports {pcie_rxn[1]}]
set_property PACKAGE_PIN B4  [get_ports {pcie_txp[1]}]
set_property PACKAGE_PIN A4  [get_ports {pcie_txn[1]}]
set_property PACKAGE_PIN D11 [get_ports {pcie_rxp[2]}]
set_property PACKAGE_PIN C11 [get_ports {pcie_rxn[2]}]
set_property PACKAGE_PIN D5  [get_ports {pcie_txp[2]}]
set_property PACKAGE_PIN C5  [get_ports {pcie_txn[2]}]
set_property PACKAGE_PIN D9  [get_ports {pcie_rxp[3]}]
set_property PACKAGE_PIN C9  [get_ports {pcie_rxn[3]}]
set_property PACKAGE_PIN D7  [get_ports {pcie_txp[3]}]
set_property PACKAGE_PIN C7  [get_ports {pcie_txn[3]}]

# 100 MHz PCIe reference clock from the M.2 connector (MGTREFCLK, IBUFDS_GTE2 in the top)
set_property PACKAGE_PIN F6 [get_ports pcie_refclk_p]
set_property PACKAGE_PIN E6 [get_ports pcie_refclk_n]
create_clock -name pcie_refclk -period 10.000 [get_ports pcie_refclk_p]

# PERST# (active low) and CLKREQ# (driven low: the reference clock is always wanted)
set_property -dict {PACKAGE_PIN J1 IOSTANDARD LVCMOS33 PULLUP true} [get_ports pcie_perst_n]
set_property -dict {PACKAGE_PIN G1 IOSTANDARD LVCMOS33} [get_ports pcie_clkreq_n]
set_false_path -from [get_ports pcie_perst_n]

# ---- the core clock ----------------------------------------------------------------------
# The XDMA IP's axi_aclk (125 MHz for Gen2 x4 with a 64-bit AXI interface) clocks cbr_xdma_top;
# the IP constrains it itself (a generated clock of the GTP's TXOUTCLK).

# ---- LEDs (active low, pulled up) --------------------------------------------------------
set_property -dict {PACKAGE_PIN G3 IOSTANDARD LVCMOS33 DRIVE 8 PULLUP true} [get_ports {led_n[0]}]
set_property -dict {PACKAGE_PIN H3 IOSTANDARD LVCMOS33 DRIVE 8 PULLUP true} [get_ports {led_n[1]}]
set_property -dict {PACKAGE_PIN G4 IOSTANDARD LVCMOS33 DRIVE 8 PULLUP true} [get_ports {led_n[2]}]
set_property -dict {PACKAGE_PIN H4 IOSTANDARD LVCMOS33 DRIVE 8 PULLUP true} [get_ports {led_n[3]}]
set_false_path -to [get_ports {led_n[*]}]

# ---- configuration: quad SPI at full speed, so the FPGA is up before PCIe enumeration -----
set_property CONFIG_VOLTAGE 3.3 [current_design]
set_property CFGBVS VCCO [current_design]
set_property CONFIG_MODE SPIx4 [current_design]
set_property BITSTREAM.CONFIG.SPI_BUSWIDTH 4 [current_design]
set_property BITSTREAM.CONFIG.EXTMASTERCCLK_EN Div-1 [current_design]
set_property BITSTREAM.CONFIG.SPI_FALL_EDGE YES [current_design]
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
set_property BITSTREAM.CONFIG.OVERTEMPPOWERDOWN ENABLE [current_design]
