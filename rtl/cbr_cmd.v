`resetall
`default_nettype none
// cbr_cmd - the command block: speaks the packet protocol (docs/protocol.md, version 1) over
// a 32-bit word stream and turns each good request into register, buffer and core-control
// operations, and a response.
//
// Why: every transport (USB bridge, XDMA stream, the simulated board) carries the same
// packets, so the device parses them in one place. Port timing, throughput and the exact
// behaviour on every kind of bad input are in docs/cmd.md.
//
// Structure: cbr_cmd_rx (resynchronise, check header, stage payload, check CRC and pad) ->
// a job -> cbr_cmd_exec (check opcode/length/range, commit, issue the response) ->
// cbr_cmd_tx (response CRCs, a 4-word queue, or TX_DEPTH words of block RAM). The staging RAM (cbr_cmd_ram) has two banks of
// MAX_PAYLOAD bytes: the next request streams in while the previous one is committed and
// answered; a BUF_READ's payload is read out while the BUF_WRITE behind it is committed. A request is executed only after its last word passed every check, so a bad
// packet changes nothing; nothing is written outside REG_BYTES or a buffer.
//
// COMPACT = 1 selects the area-optimised variant for slow links (a UART delivers a word
// every ~160 clocks): the same packets, checks, responses and writes, but several cycles a
// word. One packet at a time (receive, then execute and answer) in one staging bank, which
// also holds the header window; one CRC step, a byte a cycle, in cbr_cmd_rx, which also
// takes cbr_cmd_tx's words while a job is out; bit-serial range checks; a byte-serial commit;
// one response word in flight. docs/cmd.md has its cycles per word and its size.
module cbr_cmd #(
    parameter COMPACT     = 0,          // 1: area-optimised, several cycles a word (above)
    parameter MAX_PAYLOAD = 1024,       // bytes; a multiple of 4, >= 64; staging buffer size
    parameter TX_DEPTH    = 4,          // response words queued: 4, or a power of 2 (block
                                        // RAM) so that reads drain while writes run
    parameter REG_BYTES   = 256,        // register space: byte addresses 0..REG_BYTES-1 (<= 4096)
    parameter BUF0_BYTES  = 65536,      // buffer 0 (activations) size in bytes
    parameter BUF1_BYTES  = 65536,      // buffer 1 (weights)
    parameter BUF2_BYTES  = 8192,       // buffer 2 (per-channel params)
    parameter BUF3_BYTES  = 65536,      // buffer 3 (outputs)
    parameter RX_TIMEOUT  = 65536,      // cycles without a word before a partial packet is dropped
    parameter INFO_ROWS          = 16,      // INFO word 1: array rows
    parameter INFO_COLS          = 16,      // INFO word 2: array cols
    parameter INFO_PARAM_ENTRIES = 512,     // INFO word 6: parameter entries (channels)
    parameter INFO_MAX_KERNEL    = 11,      // INFO word 8
    parameter INFO_MAX_STRIDE    = 4,       // INFO word 9
    parameter INFO_MAX_DILATION  = 8,       // INFO word 10
    parameter INFO_FEATURES      = 0,       // INFO word 11: CBR_FEAT_* bits
    parameter INFO_CLOCK_KHZ     = 200000,  // INFO word 12
    parameter INFO_ACC_PIXELS    = 1024,    // INFO word 13: accumulator pixels per bank
    // BUF_COPY (docs/protocol.md): bytes of a copy word (INFO word 15; 0: no BUF_COPY, the
    // opcode is unknown), a power of 2 from 4 to 1024; bit i of COPY_BUFS: it may read and
    // write buffer i
    parameter COPY_BYTES         = 0,
    parameter COPY_BUFS          = 0
    // INFO words 3,4,5 are BUF0/1/3_BYTES, word 7 is MAX_PAYLOAD, word 0 is the version 1
) (
    input  wire        clk,
    input  wire        rst,
    // host -> device words (byte 0 of the stream in bits [7:0])
    input  wire [31:0] rx_data,
    input  wire        rx_valid,
    output wire        rx_ready,
    // device -> host words
    output wire [31:0] tx_data,
    output wire        tx_valid,
    input  wire        tx_ready,
    // register port: a write happens in the cycle reg_we is high; a read's data is on
    // reg_rdata in the cycle after reg_re is high. Byte addresses, word-aligned.
    output wire        reg_we,
    output wire        reg_re,
    output wire [11:0] reg_addr,
    output wire [31:0] reg_wdata,
    input  wire [31:0] reg_rdata,
    // buffer port: same timing, a write side and a read side; *_wid / *_rid select the
    // buffer; byte addresses, word-aligned; buf_wstrb: the bytes of the word a write changes.
    // COMPACT = 0: a BUF_READ's payload is read while the next BUF_WRITE, to another buffer,
    // is committed, so buf_we and buf_re can be high in one cycle, never for one buffer.
    // COMPACT = 1: never both; buf_rid/buf_raddr then equal buf_wid/buf_waddr.
    output wire        buf_we,
    output wire [1:0]  buf_wid,
    output wire [31:0] buf_waddr,
    output wire [31:0] buf_wdata,
    output wire [3:0]  buf_wstrb,
    output wire        buf_re,
    output wire [1:0]  buf_rid,
    output wire [31:0] buf_raddr,
    input  wire [31:0] buf_rdata,
    // control of the core
    output wire        core_start,   // one-cycle pulse: RUN
    output wire        core_reset,   // one-cycle pulse: RESET
    // copy port (BUF_COPY): in the cycle cp_re is high, read the word of COPY_BYTES at byte
    // address cp_raddr of buffer cp_rid; in the next cycle (cp_we) write that word at cp_waddr
    // of buffer cp_wid. Pipelined: one word a cycle. The buffer port is idle meanwhile.
    output wire        cp_re,
    output wire [1:0]  cp_rid,
    output wire [31:0] cp_raddr,
    output wire        cp_we,
    output wire [1:0]  cp_wid,
    output wire [31:0] cp_waddr
);

    // Staging word-index bits per bank.
    localparam IW = (MAX_PAYLOAD / 4 > 1) ? $clog2(MAX_PAYLOAD / 4) : 1;
    // staging RAM address bits: two banks, or (COMPACT) one
    localparam SW = (COMPACT != 0) ? IW : IW + 1;

    wire        stg_we, stg_re, rx_stg_re, ex_stg_re;
    wire [IW:0] stg_waddr, stg_raddr, rx_stg_raddr, ex_stg_raddr;
    wire [31:0] stg_wdata, stg_rdata;

    wire        job_valid, job_ready, job_bank;
    wire [2:0]  job_status;
    wire [7:0]  job_opcode;
    wire [31:0] job_seq, job_arg0, job_arg1, job_arg2, job_len;
    wire [IW+17:0] job_span;

    wire        out_valid, out_first, out_crc;
    wire        tx_crc_go, tx_crc_first;     // COMPACT: cbr_cmd_tx's CRC runs in cbr_cmd_rx
    wire [7:0]  tx_crc_byte;
    wire [31:0] tx_crc;
    wire [31:0] out_data;
    wire [2:0]  out_level;

    cbr_cmd_rx #(
        .MAX_PAYLOAD(MAX_PAYLOAD),
        .RX_TIMEOUT(RX_TIMEOUT),
        .IW(IW),
        .COMPACT(COMPACT)
    ) u_rx (
        .clk(clk),
        .rst(rst),
        .rx_data(rx_data),
        .rx_valid(rx_valid),
        .rx_ready(rx_ready),
        .stg_we(stg_we),
        .stg_waddr(stg_waddr),
        .stg_wdata(stg_wdata),
        .stg_re(rx_stg_re),
        .stg_raddr(rx_stg_raddr),
        .stg_rdata(stg_rdata),
        .job_valid(job_valid),
        .job_ready(job_ready),
        .job_status(job_status),
        .job_opcode(job_opcode),
        .job_seq(job_seq),
        .job_arg0(job_arg0),
        .job_arg1(job_arg1),
        .job_arg2(job_arg2),
        .job_len(job_len),
        .job_bank(job_bank),
        .job_span(job_span),
        .tx_crc_go(tx_crc_go),
        .tx_crc_first(tx_crc_first),
        .tx_crc_byte(tx_crc_byte),
        .tx_crc(tx_crc)
    );

    // The read port: cbr_cmd_exec's; COMPACT: also cbr_cmd_rx's, which reads only while
    // cbr_cmd_exec has no job (they never read in the same cycle).
    assign stg_re = rx_stg_re || ex_stg_re;
    assign stg_raddr = rx_stg_re ? rx_stg_raddr : ex_stg_raddr;

    cbr_cmd_ram #(
        .AW(SW)
    ) u_stage (
        .clk(clk),
        .we(stg_we),
        .waddr(stg_waddr[SW-1:0]),
        .wdata(stg_wdata),
        .re(stg_re),
        .raddr(stg_raddr[SW-1:0]),
        .rdata(stg_rdata)
    );
    // COMPACT: bit IW (the bank) is always 0
    wire [1:0] unused_bank = {stg_waddr[IW], stg_raddr[IW]};

    cbr_cmd_exec #(
        .MAX_PAYLOAD(MAX_PAYLOAD),
        .REG_BYTES(REG_BYTES),
        .BUF0_BYTES(BUF0_BYTES),
        .BUF1_BYTES(BUF1_BYTES),
        .BUF2_BYTES(BUF2_BYTES),
        .BUF3_BYTES(BUF3_BYTES),
        .IW(IW),
        .INFO_ROWS(INFO_ROWS),
        .INFO_COLS(INFO_COLS),
        .INFO_PARAM_ENTRIES(INFO_PARAM_ENTRIES),
        .INFO_MAX_KERNEL(INFO_MAX_KERNEL),
        .INFO_MAX_STRIDE(INFO_MAX_STRIDE),
        .INFO_MAX_DILATION(INFO_MAX_DILATION),
        .INFO_FEATURES(INFO_FEATURES),
        .INFO_CLOCK_KHZ(INFO_CLOCK_KHZ),
        .INFO_ACC_PIXELS(INFO_ACC_PIXELS),
        .INFO_TX_WORDS(COMPACT != 0 ? 1 : TX_DEPTH),
        .COMPACT(COMPACT),
        .COPY_BYTES(COPY_BYTES),
        .COPY_BUFS(COPY_BUFS)
    ) u_exec (
        .clk(clk),
        .rst(rst),
        .job_valid(job_valid),
        .job_ready(job_ready),
        .job_status(job_status),
        .job_opcode(job_opcode),
        .job_seq(job_seq),
        .job_arg0(job_arg0),
        .job_arg1(job_arg1),
        .job_arg2(job_arg2),
        .job_len(job_len),
        .job_bank(job_bank),
        .job_span(job_span),
        .stg_re(ex_stg_re),
        .stg_raddr(ex_stg_raddr),
        .stg_rdata(stg_rdata),
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
        .cp_waddr(cp_waddr),
        .out_valid(out_valid),
        .out_data(out_data),
        .out_first(out_first),
        .out_crc(out_crc),
        .out_level(out_level)
    );

    cbr_cmd_tx #(
        .COMPACT(COMPACT),
        .DEPTH(TX_DEPTH)
    ) u_tx (
        .clk(clk),
        .rst(rst),
        .in_valid(out_valid),
        .in_data(out_data),
        .in_first(out_first),
        .in_crc(out_crc),
        .level(out_level),
        .tx_data(tx_data),
        .tx_valid(tx_valid),
        .tx_ready(tx_ready),
        .crc_go(tx_crc_go),
        .crc_first(tx_crc_first),
        .crc_byte(tx_crc_byte),
        .crc_in(tx_crc)
    );

endmodule
`resetall
