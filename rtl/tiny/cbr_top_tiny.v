`resetall
`default_nettype none
// cbr_top_tiny - cbr_top's ports with the tiny core (docs/tiny.md): the packet command block
// (cbr_cmd) in front of cbr_tiny_core, for the iCE40UP5K (rtl/boards/cbr_icebreaker_top.v,
// CORE = 1) and for its simulated board, sim:ice (mk/tiny.mk).
//
// INFO tells the host what it is: a 4 x 4 array (so the host lays the buffers out as for
// sim:4x4), the SPRAM buffer sizes of cbr_tiny_core, a 12 MHz clock, and FEATURES without
// bit 7 (no depthwise mode: the host runs depthwise layers as dense tiles per group), and
// without bit 5 when it is built without all the counters: with bit 8 instead ("cycles only")
// for COUNTERS = 2 (the iCEBreaker image), with neither for COUNTERS = 0.
module cbr_top_tiny #(
    parameter COUNTERS = 1,         // 1: the cycle and MAC counters; 2: the cycle counters only;
                                    // 0: none (they read 0)
    parameter MAX_PAYLOAD = 1024,   // longest packet payload, bytes (INFO word 7)
    parameter CLOCK_KHZ = 12000     // the clock the board runs it at (INFO word 12)
) (
    input  wire        clk,
    input  wire        rst,
    // host -> device words
    input  wire [31:0] rx_data,
    input  wire        rx_valid,
    output wire        rx_ready,
    // device -> host words
    output wire [31:0] tx_data,
    output wire        tx_valid,
    input  wire        tx_ready
);

    // CBR_FEAT_* of host/include/cbr.h: LEAKY | MAXPOOL | AVGPOOL | DEPTHWISE (groups, run
    // by the host one group at a time) | DILATION | COUNTERS (bit 5, only with COUNTERS = 1)
    // | SCATTER | CYCLES (bit 8, only with COUNTERS = 2); not DWMODE (bit 7)
    localparam [31:0] FEATURES = COUNTERS == 1 ? 32'h7F : COUNTERS == 2 ? 32'h15F : 32'h5F;

    wire        reg_we, reg_re, buf_we, buf_re, core_start, core_reset;
    wire [11:0] reg_addr;
    wire [31:0] reg_wdata, reg_rdata, buf_waddr, buf_raddr, buf_wdata, buf_rdata;
    wire [1:0]  buf_wid, buf_rid;
    wire [3:0]  buf_wstrb;
    wire [69:0] unused_cp;   // no BUF_COPY (COPY_BYTES 0): the copy port stays idle

    cbr_cmd #(
        .COMPACT(1),  // area-optimised command block (docs/cmd.md): a UART feeds it
        .MAX_PAYLOAD(MAX_PAYLOAD),
        .BUF0_BYTES(65536),
        .BUF1_BYTES(32768),
        .BUF2_BYTES(8192),
        .BUF3_BYTES(16384),
        .INFO_ROWS(4),
        .INFO_COLS(4),
        .INFO_PARAM_ENTRIES(256),
        .INFO_MAX_KERNEL(11),
        .INFO_MAX_STRIDE(4),
        .INFO_MAX_DILATION(255),
        .INFO_FEATURES(FEATURES),
        .INFO_CLOCK_KHZ(CLOCK_KHZ),
        .INFO_ACC_PIXELS(256)
    ) u_cmd (
        .clk(clk), .rst(rst),
        .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
        .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready),
        .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata),
        .buf_we(buf_we), .buf_wid(buf_wid), .buf_waddr(buf_waddr), .buf_wdata(buf_wdata),
        .buf_wstrb(buf_wstrb), .buf_re(buf_re), .buf_rid(buf_rid), .buf_raddr(buf_raddr),
        .buf_rdata(buf_rdata),
        .core_start(core_start), .core_reset(core_reset),
        .cp_re(unused_cp[0]), .cp_rid(unused_cp[2:1]), .cp_raddr(unused_cp[34:3]),
        .cp_we(unused_cp[35]), .cp_wid(unused_cp[37:36]), .cp_waddr(unused_cp[69:38]));

    cbr_tiny_core #(.COUNTERS(COUNTERS)) u_core (
        .clk(clk), .rst(rst),
        .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata),
        // COMPACT: a read and a write never come in one cycle, so one address serves both
        .buf_we(buf_we), .buf_re(buf_re), .buf_id(buf_re ? buf_rid : buf_wid),
        .buf_addr(buf_re ? buf_raddr : buf_waddr),
        .buf_wdata(buf_wdata), .buf_wstrb(buf_wstrb), .buf_rdata(buf_rdata),
        .core_start(core_start), .core_reset(core_reset));

endmodule
`resetall
