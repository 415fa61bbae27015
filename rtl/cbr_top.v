`resetall
`default_nettype none
// cbr_top - the board-independent top: the packet command block (cbr_cmd) in front of the
// accelerator core (cbr_core), joined by the register port, the buffer port and the
// start/reset pulses. A board shell (USB FIFO bridge, XDMA stream, the Verilator harness in
// sim/) connects the two 32-bit word streams.
//
// The build's parameters reach the host through INFO (docs/protocol.md): the array shape,
// the buffer sizes and limits passed here to cbr_cmd are the core's own.
module cbr_top #(
    parameter ROWS = 16,  // array rows (input channels per pass): power of 2, >= 4
    parameter COLS = 16,  // array columns (output channels per pass): power of 2, >= 4
    // Buffer sizes (INFO reports them, so the host adapts): small boards pass small ones.
    parameter ACT_BYTES = 524288,     // buffer 0, activations (512 KiB): power of 2
    parameter WGT_BYTES = 524288,     // buffer 1, weights (512 KiB): power of 2
    parameter PARAM_ENTRIES = 2048,   // buffer 2: 32 bytes per channel (64 KiB): power of 2
    parameter OUT_BYTES = 131072,     // buffer 3, outputs (128 KiB): power of 2
    parameter ACC_PIXELS = 1024,      // accumulator bank, output pixels (INFO word 13)
    parameter MAX_PAYLOAD = 16384,    // longest packet payload, bytes (INFO word 7)
    // Response words the command block queues (block RAM): a BUF_READ of max_payload drains
    // to the link while the writes behind it run, as a board's USB or PCIe bridge would
    // let it. 4: the small register queue, one command at a time.
    parameter TX_DEPTH = 1 << $clog2(MAX_PAYLOAD / 4),
    parameter CLOCK_KHZ = 200000      // the core clock the board runs it at (INFO word 12)
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
    // by the host one group at a time) | DILATION | COUNTERS
    // bit 6: scatter BUF_WRITE (docs/protocol.md); bit 7: the core's depthwise mode, square
    // arrays; bit 9: DONES, tiles overlapped; bit 10: a start queue of two, STARTS; bit 11:
    // BUF_COPY, square arrays
    localparam FEATURES = 32'h67F | (ROWS == COLS ? 32'h880 : 32'h0);
    // BUF_COPY (docs/protocol.md): a word of ROWS = COLS bytes a cycle between buffers 0, 1
    // and 3, whose RAM words are that wide; not buffer 2 (4-byte words). INFO word 15.
    localparam COPY_BYTES = ROWS == COLS ? ROWS : 0;
    localparam [3:0] COPY_BUFS = ROWS == COLS ? 4'b1011 : 4'b0000;

    wire        reg_we, reg_re, buf_we, buf_re, core_start, core_reset;
    wire [11:0] reg_addr;
    wire [31:0] reg_wdata, reg_rdata, buf_waddr, buf_raddr, buf_wdata, buf_rdata;
    wire [1:0]  buf_wid, buf_rid;
    wire [3:0]  buf_wstrb;
    wire        cp_re, cp_we;
    wire [1:0]  cp_rid, cp_wid;
    wire [31:0] cp_raddr, cp_waddr;

    // REG_BYTES: cbr_cmd's default 256 covers the core's registers (the last is 0xE4).
    cbr_cmd #(
        .MAX_PAYLOAD(MAX_PAYLOAD),
        .TX_DEPTH(TX_DEPTH),
        .BUF0_BYTES(ACT_BYTES),
        .BUF1_BYTES(WGT_BYTES),
        .BUF2_BYTES(32 * PARAM_ENTRIES),
        .BUF3_BYTES(OUT_BYTES),
        .INFO_ROWS(ROWS),
        .INFO_COLS(COLS),
        .INFO_PARAM_ENTRIES(PARAM_ENTRIES),
        .INFO_MAX_KERNEL(11),
        .INFO_MAX_STRIDE(4),
        .INFO_MAX_DILATION(255),
        .INFO_FEATURES(FEATURES),
        .INFO_CLOCK_KHZ(CLOCK_KHZ),
        .INFO_ACC_PIXELS(ACC_PIXELS),
        .COPY_BYTES(COPY_BYTES),
        .COPY_BUFS({28'd0, COPY_BUFS})
    ) u_cmd (
        .clk(clk),
        .rst(rst),
        .rx_data(rx_data),
        .rx_valid(rx_valid),
        .rx_ready(rx_ready),
        .tx_data(tx_data),
        .tx_valid(tx_valid),
        .tx_ready(tx_ready),
        .reg_we(reg_we),
        .reg_re(reg_re),
        .reg_addr(reg_addr),
        .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata),
        .buf_we(buf_we),
        .buf_wid(buf_wid),
        .buf_waddr(buf_waddr),
        .buf_wdata(buf_wdata),
        .buf_wstrb(buf_wstrb),
        .buf_re(buf_re),
        .buf_rid(buf_rid),
        .buf_raddr(buf_raddr),
        .buf_rdata(buf_rdata),
        .core_start(core_start),
        .core_reset(core_reset),
        .cp_re(cp_re),
        .cp_rid(cp_rid),
        .cp_raddr(cp_raddr),
        .cp_we(cp_we),
        .cp_wid(cp_wid),
        .cp_waddr(cp_waddr)
    );

    cbr_core #(
        .ROWS(ROWS),
        .COLS(COLS),
        .ACT_BYTES(ACT_BYTES),
        .WGT_BYTES(WGT_BYTES),
        .PARAM_ENTRIES(PARAM_ENTRIES),
        .OUT_BYTES(OUT_BYTES),
        .ACC_PIXELS(ACC_PIXELS)
    ) u_core (
        .clk(clk),
        .rst(rst),
        .reg_we(reg_we),
        .reg_re(reg_re),
        .reg_addr(reg_addr),
        .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata),
        .buf_we(buf_we),
        .buf_wid(buf_wid),
        .buf_waddr(buf_waddr),
        .buf_wdata(buf_wdata),
        .buf_wstrb(buf_wstrb),
        .buf_re(buf_re),
        .buf_rid(buf_rid),
        .buf_raddr(buf_raddr),
        .buf_rdata(buf_rdata),
        .core_start(core_start),
        .core_reset(core_reset),
        .cp_re(cp_re),
        .cp_rid(cp_rid),
        .cp_raddr(cp_raddr),
        .cp_we(cp_we),
        .cp_wid(cp_wid),
        .cp_waddr(cp_waddr)
    );

endmodule
`resetall
