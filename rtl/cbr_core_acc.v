`resetall
`default_nettype none
// cbr_core_acc - the two int32 accumulator banks and the read-add-write stage behind the
// array (docs/core.md).
//
// Why two banks: output block ob accumulates in bank ob % 2 over all of its passes; once
// complete, the drain (cbr_core_post) requantizes and pools it out of that bank while the
// passes of block ob+1 accumulate in the other one, so the array never waits for the
// post-processing unless a block has fewer passes than the drain needs cycles.
//
// Stage (one beat per cycle, no stall): the array's result for pixel p of a pass arrives at
// cycle t; the bank is read at t, the sum (the bias instead of the bank's value on the block's
// first pass, unless ACC_LOAD: then the first pass adds to the partial sums a previous tile
// left in the bank; int32, wrapping) is formed at t+1 and written at t+2. The same pixel of
// the next pass arrives at t+P or later, P >= COLS + 2 (cbr_core_wload), so it reads the value
// written at t+2 whenever P >= 3. The pixel index is counted here: beats of a pass arrive in
// raster order, and the first one carries sos.
//
// While the drain owns a bank (d_act, d_bank) its read and write ports are the drain's.
module cbr_core_acc #(
    parameter COLS = 16,  // array columns: int32 lanes per bank word
    parameter PIXW = 10   // bank address bits: ACC_PIXELS = 2^PIXW pixels per bank
) (
    input  wire                clk,
    input  wire                rst,
    input  wire                go,         // start of a tile
    input  wire                load,       // ACC_LOAD: first passes add to the bank too
    // array output
    input  wire                in_valid,
    input  wire [32*COLS-1:0]  in_data,    // column sums, lane j at [32j+:32]
    input  wire [4:0]          in_user,    // {sos, first, last, bank, eop} (cbr_core_agen)
    // biases of bank bias_sel (cbr_core_param)
    output wire                bias_sel,
    input  wire [32*COLS-1:0]  bias,
    output reg                 full,       // pulse: the last beat of a block is written
    output reg                 full_bank,
    // drain port
    input  wire                d_act,      // the drain owns bank d_bank
    input  wire                d_bank,
    input  wire                d_re,
    input  wire [PIXW-1:0]     d_raddr,
    output wire [32*COLS-1:0]  d_rdata,    // the cycle after d_re
    input  wire                d_we,
    input  wire [PIXW-1:0]     d_waddr,
    input  wire [32*COLS-1:0]  d_wdata
);

    localparam WB = 4 * COLS;

    wire in_sos = in_user[4];
    wire in_first = in_user[3];
    wire in_last = in_user[2];
    wire in_bank = in_user[1];
    wire in_eop = in_user[0];

    // ---- A0: read the bank ----------------------------------------------------------------
    reg  [PIXW-1:0] pix_q;
    wire [PIXW-1:0] pix = in_sos ? {PIXW{1'b0}} : pix_q + 1'b1;

    reg              a1_v, a1_first, a1_full, a1_bank;
    reg [PIXW-1:0]   a1_pix;
    reg [32*COLS-1:0] a1_data;

    always @(posedge clk) begin
        if (in_valid)
            pix_q <= pix;
        a1_v <= in_valid;
        a1_first <= in_first;
        a1_full <= in_last && in_eop;
        a1_bank <= in_bank;
        a1_pix <= pix;
        a1_data <= in_data;
        if (rst || go)
            a1_v <= 1'b0;
    end

    // ---- A1: add ---------------------------------------------------------------------------
    wire [64*COLS-1:0] rd;   // bank b's read register at [32*COLS*b +: 32*COLS]
    wire [32*COLS-1:0] base = a1_first && !load ? bias : rd[32*COLS*a1_bank +: 32*COLS];
    assign bias_sel = a1_bank;

    reg               a2_v, a2_full, a2_bank;
    reg [PIXW-1:0]    a2_pix;
    reg [32*COLS-1:0] a2_sum;

    integer j;
    always @(posedge clk) begin
        for (j = 0; j < COLS; j = j + 1)
            a2_sum[32*j +: 32] <= base[32*j +: 32] + a1_data[32*j +: 32];
        a2_v <= a1_v;
        a2_full <= a1_v && a1_full;
        a2_bank <= a1_bank;
        a2_pix <= a1_pix;
        full <= a2_v && a2_full;
        full_bank <= a2_bank;
        if (rst || go) begin
            a2_v <= 1'b0;
            a2_full <= 1'b0;
            full <= 1'b0;
        end
    end

    // ---- A2: write; the banks ------------------------------------------------------------
    genvar b;
    generate
        for (b = 0; b < 2; b = b + 1) begin : g_bank
            wire drain = d_act && d_bank == b;
            wire              we = drain ? d_we : a2_v && a2_bank == b;
            wire [PIXW-1:0]   wa = drain ? d_waddr : a2_pix;
            wire [32*COLS-1:0] wd = drain ? d_wdata : a2_sum;
            wire              re = drain ? d_re : in_valid && in_bank == b;
            wire [PIXW-1:0]   ra = drain ? d_raddr : pix;
            wire [32*COLS-1:0] unused_wr;
            cbr_ram #(.WB(WB), .AW(PIXW)) u_ram (
                .clk(clk),
                .a_en(we),
                .a_we({WB{1'b1}}),
                .a_addr(wa),
                .a_wdata(wd),
                .a_rdata(unused_wr),
                .b_en(re),
                .b_we({WB{1'b0}}),
                .b_addr(ra),
                .b_wdata({(8*WB){1'b0}}),
                .b_rdata(rd[32*COLS*b +: 32*COLS])
            );
        end
    endgenerate

    // The drain reads the bank it owns; the read register holds its last value otherwise.
    reg d_bank_q;
    always @(posedge clk)
        d_bank_q <= d_bank;
    assign d_rdata = rd[32*COLS*d_bank_q +: 32*COLS];

endmodule
`resetall
