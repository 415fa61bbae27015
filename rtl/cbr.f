// cbr RTL file list, in dependency order, for Verilator (-f rtl/cbr.f), Icarus (-c) and the
// yosys script in mk/rtl.mk. Paths are relative to the repository root.
rtl/cbr_delay.v
rtl/cbr_skid.v
rtl/cbr_pe.v
rtl/cbr_array.v
rtl/cbr_requant.v
rtl/cbr_rdiv.v
rtl/cbr_pool.v
rtl/cbr_crc32.v
rtl/cbr_crc32_w32.v
rtl/cbr_cmd_ram.v
rtl/cbr_cmd_rx.v
rtl/cbr_cmd_exec.v
rtl/cbr_cmd_tx.v
rtl/cbr_cmd.v
rtl/cbr_ram.v
rtl/cbr_core_buf.v
rtl/cbr_core_regs.v
rtl/cbr_core_ctrl.v
rtl/cbr_core_param.v
rtl/cbr_core_wload.v
rtl/cbr_core_agen.v
rtl/cbr_core_acc.v
rtl/cbr_core_post.v
rtl/cbr_core.v
rtl/cbr_top.v
