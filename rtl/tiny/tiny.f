// The tiny core's file list (Verilator -f, Icarus -c, yosys): the command block, then
// rtl/tiny/. Paths from the repository root.
rtl/cbr_crc32.v
rtl/cbr_crc32_w32.v
rtl/cbr_cmd_ram.v
rtl/cbr_cmd_rx.v
rtl/cbr_cmd_exec.v
rtl/cbr_cmd_tx.v
rtl/cbr_cmd.v
rtl/tiny/cbr_tiny_breg.v
rtl/tiny/cbr_tiny_regs.v
rtl/tiny/cbr_tiny_ram.v
rtl/tiny/cbr_tiny_rq.v
rtl/tiny/cbr_tiny_eng.v
rtl/tiny/cbr_tiny_core.v
rtl/tiny/cbr_top_tiny.v
