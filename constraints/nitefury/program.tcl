# constraints/nitefury/program.tcl - load the NiteFury II over JTAG (Vivado hardware manager;
# a JTAG cable on the board's JTAG header), and optionally write the SPI flash so the board
# comes up configured before the host enumerates PCIe. Not run in CI.
#
#   vivado -mode batch -source constraints/nitefury/program.tcl            (SRAM, volatile)
#   vivado -mode batch -source constraints/nitefury/program.tcl -tclargs flash
#
# After loading over JTAG the host must rescan the bus (docs/boards.md); after flashing, a
# power cycle.

set out build/fpga/nitefury/vivado
open_hw_manager
connect_hw_server
open_hw_target
set dev [lindex [get_hw_devices xc7a200t*] 0]
current_hw_device $dev
if {[llength $argv] > 0 && [lindex $argv 0] eq "flash"} {
    create_hw_cfgmem -hw_device $dev [lindex [get_cfgmem_parts {s25fl256sxxxxxx0-spi-x1_x2_x4}] 0]
    set mem [get_property PROGRAM.HW_CFGMEM $dev]
    set_property PROGRAM.FILES [list $out/cbr_nitefury.bin] $mem
    set_property PROGRAM.ADDRESS_RANGE {use_file} $mem
    set_property PROGRAM.ERASE 1 $mem
    set_property PROGRAM.CFG_PROGRAM 1 $mem
    set_property PROGRAM.VERIFY 1 $mem
    create_hw_bitstream -hw_device $dev [get_property PROGRAM.HW_CFGMEM_BITFILE $dev]
    program_hw_devices $dev
    program_hw_cfgmem -hw_cfgmem $mem
} else {
    set_property PROGRAM.FILE $out/cbr_nitefury.bit $dev
    program_hw_devices $dev
}
close_hw_manager
