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
