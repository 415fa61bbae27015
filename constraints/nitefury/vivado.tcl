# constraints/nitefury/vivado.tcl - the vendor part of the NiteFury II build (Vivado 2020.2 or
# later; not run in CI). From the repository root:
#
#   vivado -mode batch -source constraints/nitefury/vivado.tcl
#
# creates the XDMA IP (PG195: PCIe Gen2 x4, AXI4-Stream, one H2C and one C2H channel, 64-bit
# AXI at 125 MHz, AXI4-Lite master on BAR0, 1 MiB), reads rtl/ (rtl/cbr.f), the board top and
# the XDC, synthesizes, places and routes, checks timing and writes
# build/fpga/nitefury/vivado/cbr_nitefury.bit and .bin (SPI x4 flash image). docs/boards.md.

set part xc7a200tfbg484-2
set out build/fpga/nitefury/vivado
file mkdir $out
create_project -in_memory -part $part

# ---- the XDMA IP -------------------------------------------------------------------------
create_ip -name xdma -vendor xilinx.com -library ip -module_name xdma_0 -dir $out/ip
set_property -dict [list \
    CONFIG.mode_selection {Advanced} \
    CONFIG.pl_link_cap_max_link_width {X4} \
    CONFIG.pl_link_cap_max_link_speed {5.0_GT/s} \
    CONFIG.axi_data_width {64_bit} \
    CONFIG.axisten_freq {125} \
    CONFIG.xdma_axi_intf_mm {AXI_Stream} \
    CONFIG.xdma_rnum_chnl {1} \
    CONFIG.xdma_wnum_chnl {1} \
    CONFIG.axilite_master_en {true} \
    CONFIG.axilite_master_size {1} \
    CONFIG.axilite_master_scale {Megabytes} \
    CONFIG.pf0_device_id {7024} \
    CONFIG.ref_clk_freq {100_MHz} \
    CONFIG.pcie_blk_locn {X0Y0} \
] [get_ips xdma_0]
generate_target all [get_ips xdma_0]
synth_ip [get_ips xdma_0]

# ---- our sources -------------------------------------------------------------------------
set fp [open rtl/cbr.f r]
foreach line [split [read $fp] "\n"] {
    set f [string trim $line]
    if {$f ne "" && ![string match "//*" $f] && [string match "*.v" $f]} {
        read_verilog $f
    }
}
close $fp
read_verilog rtl/boards/cbr_nitefury_top.v
read_xdc constraints/nitefury/nitefury.xdc
set_property PROCESSING_ORDER LATE [get_files constraints/nitefury/nitefury.xdc]

# ---- implementation ----------------------------------------------------------------------
synth_design -top cbr_nitefury_top -part $part
report_utilization -file $out/utilization_synth.txt
opt_design
place_design
phys_opt_design
route_design
report_utilization -file $out/utilization.txt
report_timing_summary -file $out/timing.txt
if {[get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]] < 0} {
    puts "ERROR: timing not met, see $out/timing.txt"
    exit 1
}
write_bitstream -force $out/cbr_nitefury.bit
write_cfgmem -force -format bin -interface SPIx4 -size 32 \
    -loadbit "up 0x0 $out/cbr_nitefury.bit" $out/cbr_nitefury.bin
puts "bitstream: $out/cbr_nitefury.bit, flash image: $out/cbr_nitefury.bin"
