`resetall
`default_nettype none
// cbr_core_param - loads the per-channel parameters of each output block into the register
// set of its accumulator bank (docs/registers.md, buffer 2; docs/core.md).
//
// Why registers: the accumulator adds COLS biases per cycle and the drain requantizes COLS
// lanes per cycle, each lane with its own (M0, shift, M0n, shiftn), so all of a block's
// parameters must be readable at once. Two sets, one per bank, let block ob+1 be loaded and
// computed while block ob is still being drained with its own parameters.
//
// Order: block by block, each into bank (ob + bank0) % 2 once that bank is free (cbr_core_ctrl;
// ld_start claims it and lets the block's first pass start). The COLS biases are read first:
// written by the end of cycle ld_start + COLS + 1, well before the first beat can reach the
// accumulator (ROWS + COLS + 2 cycles after it is issued, the cycle after ld_start at the
// earliest). Then M0, shift, M0n, shiftn (ld_all: the block may be drained): 5 * COLS reads
// of one word per cycle, from word PARAM_BASE/4 + (ob*COLS + j)*8 + k for word k of channel
// j.
module cbr_core_param #(
    parameter COLS = 16,  // array columns: channels per output block
    parameter AW_P = 12   // parameter buffer (32-bit) word-address bits
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             go,          // start of a tile: run registers valid
    input  wire             running,
    input  wire [15:0]      n_ob,        // output blocks of the tile
    input  wire             bank0,       // bank of block 0
    input  wire [AW_P-1:0]  param_base,  // word address of channel 0, word 0
    input  wire [1:0]       b_busy,      // bank holds a block (cbr_core_ctrl)
    output wire             ld_start,    // pulse: loading of a block into bank ld_sbank begins
    output wire             ld_sbank,
    output reg              ld_all,      // pulse: all parameters of bank ld_dbank are in place
    output reg              ld_dbank,
    // parameter buffer, compute port (read-only)
    output wire             p_en,
    output wire [AW_P-1:0]  p_addr,
    input  wire [31:0]      p_rdata,
    // the sets: biases of bank bias_sel, requantization pairs of bank rq_sel
    input  wire             bias_sel,
    output wire [32*COLS-1:0] bias,      // channel j at [32j+:32]
    input  wire             rq_sel,
    output wire [32*COLS-1:0] m0,
    output wire [6*COLS-1:0]  shift,     // int6, -31..30
    output wire [32*COLS-1:0] neg_m0,
    output wire [6*COLS-1:0]  neg_shift
);

    localparam CB = (COLS > 1) ? $clog2(COLS) : 1;
    localparam integer JL = COLS - 1;
    localparam [CB-1:0] JLAST = JL[CB-1:0];
    localparam integer OS = 8 * COLS;             // words per block
    localparam [AW_P-1:0] OB_STEP = OS[AW_P-1:0];

    reg [15:0]     lo_ob;     // next block to load
    reg [AW_P-1:0] lo_base;   // its channel 0, word 0
    reg            act;       // loading
    reg            bank;
    reg [2:0]      k;         // word of the channel being read
    reg [CB-1:0]   j;         // channel being read
    // the read in flight (data on p_rdata this cycle)
    reg            wv;
    reg [2:0]      wk;
    reg [CB-1:0]   wj;
    reg            wbank;

    wire last_rd = act && k == 3'd4 && j == JLAST;
    wire lo_bank = lo_ob[0] ^ bank0;
    assign ld_start = running && !go && !act && lo_ob != n_ob && !b_busy[lo_bank];
    assign ld_sbank = lo_bank;
    assign p_en = act;
    assign p_addr = lo_base + {{(AW_P-CB-3){1'b0}}, j, k};

    always @(posedge clk) begin
        wv <= act;
        wk <= k;
        wj <= j;
        wbank <= bank;
        ld_all <= wv && wk == 3'd4 && wj == JLAST;
        ld_dbank <= wbank;
        if (ld_start) begin
            act <= 1'b1;
            bank <= lo_bank;
            k <= 3'd0;
            j <= {CB{1'b0}};
        end else if (act) begin
            j <= j + 1'b1;
            if (j == JLAST) begin
                j <= {CB{1'b0}};
                k <= k + 3'd1;
            end
            if (last_rd) begin
                act <= 1'b0;
                lo_ob <= lo_ob + 16'd1;
                lo_base <= lo_base + OB_STEP;
            end
        end
        if (go) begin
            lo_ob <= 16'd0;
            lo_base <= param_base;
        end
        if (rst || go) begin
            act <= 1'b0;
            wv <= 1'b0;
            ld_all <= 1'b0;
        end
    end

    // ld_all is registered one cycle after the write below, so the flags in
    // cbr_core_ctrl rise after the registers they announce hold their values.

    // The register sets: [bank][channel].
    reg [32*COLS-1:0] s_bias [0:1];
    reg [32*COLS-1:0] s_m0 [0:1];
    reg [6*COLS-1:0]  s_sh [0:1];
    reg [32*COLS-1:0] s_nm0 [0:1];
    reg [6*COLS-1:0]  s_nsh [0:1];

    always @(posedge clk) begin
        if (wv) begin
            case (wk)
                3'd0: s_bias[wbank][32*wj +: 32] <= p_rdata;
                3'd1: s_m0[wbank][32*wj +: 32] <= p_rdata;
                3'd2: s_sh[wbank][6*wj +: 6] <= p_rdata[5:0];
                3'd3: s_nm0[wbank][32*wj +: 32] <= p_rdata;
                default: s_nsh[wbank][6*wj +: 6] <= p_rdata[5:0];
            endcase
        end
    end

    assign bias = s_bias[bias_sel];
    assign m0 = s_m0[rq_sel];
    assign shift = s_sh[rq_sel];
    assign neg_m0 = s_nm0[rq_sel];
    assign neg_shift = s_nsh[rq_sel];

endmodule
`resetall
