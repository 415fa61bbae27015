`resetall
`default_nettype none
// cbr_core_agen - walks the loop nest of one tile (docs/registers.md) and feeds the array one
// beat per cycle (docs/core.md).
//
// Two stages. The pass generator steps (ob, cb, ky, kx) and computes each pass's start: the
// first tap row and column (iy0 = ky*dh - pad_top, ix0 = kx*dw - pad_left) and its buffer
// word address, all incrementally (the products HW, dh*IN_W, sh*IN_W, pad_top*IN_W are taken
// once, at the start of the tile; channel block cb starts cb * CB_PITCH words after
// ACT_BASE, CB_PITCH = ACT_CB_PITCH / ROWS, or HW when that register is 0). It runs one pass
// ahead, into a one-entry slot. The beat generator streams the pass's OUT_H x OUT_W beats,
// stepping iy, ix and the address by the strides; a tap outside the stored tile (padding, or
// at/after IN_H / IN_W) is sent as X_ZP in every lane, which the array turns into 0.
// Addresses are computed modulo the buffer size: an in-range tap's address is exact, an
// out-of-range one is never used.
//
// Pass boundaries cost nothing when the weights of the pass are in the shadow registers
// (w_ok, cbr_core_wload) and, for the first pass of an output block, when the parameter
// loader has claimed the block's bank (b_ready: the bank is drained and its biases are being
// loaded; they are in place long before the first beat reaches the accumulator, which takes
// at least ROWS + COLS + 2 cycles after the issue, while the COLS biases take COLS + 1 cycles
// after the claim): then the next pass's first beat follows the previous pass's last beat in
// the next cycle. Otherwise the generator waits, and counts the cycle as stall-in (weights
// still loading) or stall-out (the bank is still being drained).
//
// Feed pipeline: issue (buffer read) -> buffer data -> lane mux (X_ZP) registered -> array,
// D_FEED = 2 cycles. The beat's sideband to the accumulator: {sos, first, last, bank, eop}:
// start of pass, first / last pass of the block, the block's bank, end of pass.
module cbr_core_agen #(
    parameter ROWS = 16,  // array rows: channels per beat (bytes per activation word)
    parameter COLS = 16,  // array columns: output channels per block
    parameter AW_A = 12,  // activation buffer word-address bits
    parameter DW = 11,    // bits of the conv output plane dimensions
    parameter MW = 10     // bits of the useful MACs of one beat: >= clog2(ROWS+1) + clog2(COLS+1)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              go,        // start of a tile: run registers valid
    input  wire              running,
    input  wire [15:0]       in_h,
    input  wire [15:0]       in_w,
    input  wire [15:0]       n_cb,
    input  wire [15:0]       n_ob,
    input  wire [3:0]        kh,
    input  wire [3:0]        kw,
    input  wire [7:0]        sh,
    input  wire [7:0]        sw,
    input  wire [7:0]        dh,
    input  wire [7:0]        dw,
    input  wire [15:0]       pt,
    input  wire [15:0]       pl,
    input  wire [DW-1:0]     oh,
    input  wire [DW-1:0]     ow,
    input  wire [AW_A-1:0]   act_base,  // word address of channel block 0, pixel (0, 0)
    input  wire [AW_A-1:0]   cb_pitch,  // words between channel blocks; 0: IN_H * IN_W
    input  wire [15:0]       in_c,
    input  wire [15:0]       out_c,
    input  wire [7:0]        x_zp,
    // gating
    input  wire              w_ok,      // the pending pass's weights are loading/loaded
    input  wire [1:0]        b_ready,   // the bank is claimed for its next block
    input  wire [1:0]        b_loading, // the bank's parameters are being loaded
    output wire              consume,   // a pass's first beat was issued
    output wire              consume_final,  // ... of the tile's last pass
    output wire              bg_first,  // the first beat of an output block was issued
    output wire              bg_bank,   // ... on this bank
    // activation buffer, compute port (read-only)
    output wire              a_en,
    output wire [AW_A-1:0]   a_addr,
    input  wire [8*ROWS-1:0] a_rdata,
    // array input
    output reg               arr_valid,
    output reg               arr_sw,
    output reg  [8*ROWS-1:0] arr_x,
    output reg  [4:0]        arr_user,
    // counter events
    output wire              ev_busy,
    output wire [MW-1:0]     ev_mac,
    output wire              ev_stall_in,
    output wire              ev_stall_out
);

    localparam CW = 20;                        // signed tap coordinates
    localparam RUW = $clog2(ROWS + 1);         // used rows of a block
    localparam CUW = $clog2(COLS + 1);         // used columns of a block
    localparam integer RI = ROWS;
    localparam integer CI = COLS;
    localparam [16:0] R17 = RI[16:0];
    localparam [16:0] C17 = CI[16:0];
    localparam [RUW-1:0] RFULL = RI[RUW-1:0];
    localparam [CUW-1:0] CFULL = CI[CUW-1:0];

    generate
        if (MW < RUW + CUW) begin : g_bad_mw
            cbr_core_agen_error_mw_too_small u_err ();
        end
        if (AW_A < 8 || AW_A > 20) begin : g_bad_aw
            cbr_core_agen_error_activation_buffer_must_be_256_to_1m_words u_err ();
        end
    endgenerate

    // ---- products taken once per tile ----------------------------------------------------
    // Registered at the end of the go cycle: valid from the cycle after go, when the pass
    // generator makes its first step.
    reg [AW_A-1:0] dhw, shw, ptw;        // dh*IN_W, sh*IN_W, pt*IN_W (mod 2^AW_A)
    reg [AW_A-1:0] cbs;                  // channel-block stride: cb_pitch, or IN_H*IN_W if 0
    wire [31:0]    p_hw = {16'd0, in_h} * {16'd0, in_w};
    wire [23:0]    p_dhw = {16'd0, dh} * {8'd0, in_w};
    wire [23:0]    p_shw = {16'd0, sh} * {8'd0, in_w};
    wire [31:0]    p_ptw = {16'd0, pt} * {16'd0, in_w};
    wire [2*32+2*24-4*AW_A-1:0] unused_prod =
        {p_hw[31:AW_A], p_dhw[23:AW_A], p_shw[23:AW_A], p_ptw[31:AW_A]};

    always @(posedge clk) begin
        dhw <= p_dhw[AW_A-1:0];
        shw <= p_shw[AW_A-1:0];
        ptw <= p_ptw[AW_A-1:0];
        cbs <= cb_pitch == {AW_A{1'b0}} ? p_hw[AW_A-1:0] : cb_pitch;
    end

    // ---- pass generator ------------------------------------------------------------------
    reg            pg_act;               // passes left to generate
    reg [15:0]     pg_ob, pg_cb;
    reg [3:0]      pg_ky, pg_kx;
    reg [11:0]     kyd, kxd;             // ky*dh, kx*dw
    reg [AW_A-1:0] kydw;                 // ky*dh*IN_W
    reg [AW_A-1:0] cboff;                // act_base + cb*cbs
    reg [16:0]     cbr, obc;             // cb*ROWS, ob*COLS

    // the slot: the next pass
    reg                  s_v;
    reg signed [CW-1:0]  s_iy0, s_ix0;
    reg [AW_A-1:0]       s_arow;
    reg                  s_first, s_last, s_final, s_bank;
    reg [MW-1:0]         s_mac;

    wire kx_last = pg_kx == kw - 4'd1;
    wire ky_last = pg_ky == kh - 4'd1;
    wire cb_last = pg_cb == n_cb - 16'd1;
    wire ob_last = pg_ob == n_ob - 16'd1;

    wire signed [CW-1:0] d_iy0 = $signed({{(CW-12){1'b0}}, kyd}) - $signed({{(CW-16){1'b0}}, pt});
    wire signed [CW-1:0] d_ix0 = $signed({{(CW-12){1'b0}}, kxd}) - $signed({{(CW-16){1'b0}}, pl});
    wire [CW-1:0]        d_ix0u = d_ix0;
    wire [AW_A-1:0]      d_arow = cboff + kydw - ptw + d_ix0u[AW_A-1:0];
    wire [16:0]          rows_left = {1'b0, in_c} - cbr;
    wire [16:0]          cols_left = {1'b0, out_c} - obc;
    wire [RUW-1:0]       ru = rows_left[16] ? {RUW{1'b0}} :
                              (rows_left >= R17 ? RFULL : rows_left[RUW-1:0]);
    wire [CUW-1:0]       cu = cols_left[16] ? {CUW{1'b0}} :
                              (cols_left >= C17 ? CFULL : cols_left[CUW-1:0]);
    wire [RUW+CUW-1:0]   d_mac = ru * cu;
    wire [CW-1:0]        unused_ix0 = d_ix0u;

    wire s_take;                         // the beat generator takes the slot
    wire pg_step = pg_act && (!s_v || s_take);

    always @(posedge clk) begin
        if (pg_step) begin
            s_v <= 1'b1;
            s_iy0 <= d_iy0;
            s_ix0 <= d_ix0;
            s_arow <= d_arow;
            s_first <= pg_cb == 16'd0 && pg_ky == 4'd0 && pg_kx == 4'd0;
            s_last <= cb_last && ky_last && kx_last;
            s_final <= cb_last && ky_last && kx_last && ob_last;
            s_bank <= pg_ob[0];
            s_mac <= {{(MW-RUW-CUW){1'b0}}, d_mac};
            if (!kx_last) begin
                pg_kx <= pg_kx + 4'd1;
                kxd <= kxd + {4'd0, dw};
            end else begin
                pg_kx <= 4'd0;
                kxd <= 12'd0;
                if (!ky_last) begin
                    pg_ky <= pg_ky + 4'd1;
                    kyd <= kyd + {4'd0, dh};
                    kydw <= kydw + dhw;
                end else begin
                    pg_ky <= 4'd0;
                    kyd <= 12'd0;
                    kydw <= {AW_A{1'b0}};
                    if (!cb_last) begin
                        pg_cb <= pg_cb + 16'd1;
                        cboff <= cboff + cbs;
                        cbr <= cbr + R17;
                    end else begin
                        pg_cb <= 16'd0;
                        cboff <= act_base;
                        cbr <= 17'd0;
                        pg_ob <= pg_ob + 16'd1;
                        obc <= obc + C17;
                        if (ob_last)
                            pg_act <= 1'b0;
                    end
                end
            end
        end else if (s_take) begin
            s_v <= 1'b0;
        end
        if (go) begin
            pg_ob <= 16'd0;
            pg_cb <= 16'd0;
            pg_ky <= 4'd0;
            pg_kx <= 4'd0;
            kyd <= 12'd0;
            kxd <= 12'd0;
            kydw <= {AW_A{1'b0}};
            cboff <= act_base;
            cbr <= 17'd0;
            obc <= 17'd0;
        end
        if (rst || go)
            s_v <= 1'b0;
        if (rst)
            pg_act <= 1'b0;
        else if (go)
            pg_act <= 1'b1;   // ptw, cbs, ... are valid from the next cycle on
    end

    // ---- beat generator ------------------------------------------------------------------
    reg                 bg_has;          // cur_* is a beat to issue
    reg                 c_sw;            // it is the first beat of its pass
    reg                 c_first, c_last, c_final, c_bank;
    reg [MW-1:0]        c_mac;
    reg [DW-1:0]        oy, ox;
    reg signed [CW-1:0] iy, ix, ix0;
    reg [AW_A-1:0]      arow, acur;

    wire gate = !c_sw || (w_ok && (!c_first || b_ready[c_bank]));
    wire issue = running && bg_has && gate;
    wire ox_last = ox == ow - 1'b1;
    wire oy_last = oy == oh - 1'b1;
    wire eop = ox_last && oy_last;
    assign s_take = s_v && (!bg_has || (issue && eop));

    wire signed [CW-1:0] ih = $signed({{(CW-16){1'b0}}, in_h});
    wire signed [CW-1:0] iw = $signed({{(CW-16){1'b0}}, in_w});
    wire inrange = !iy[CW-1] && iy < ih && !ix[CW-1] && ix < iw;

    wire signed [CW-1:0] sh_s = $signed({{(CW-8){1'b0}}, sh});
    wire signed [CW-1:0] sw_s = $signed({{(CW-8){1'b0}}, sw});

    always @(posedge clk) begin
        if (s_take) begin
            bg_has <= 1'b1;
            c_sw <= 1'b1;
            c_first <= s_first;
            c_last <= s_last;
            c_final <= s_final;
            c_bank <= s_bank;
            c_mac <= s_mac;
            oy <= {DW{1'b0}};
            ox <= {DW{1'b0}};
            iy <= s_iy0;
            ix <= s_ix0;
            ix0 <= s_ix0;
            arow <= s_arow;
            acur <= s_arow;
        end else if (issue) begin
            c_sw <= 1'b0;
            if (eop) begin
                bg_has <= 1'b0;
            end else if (ox_last) begin
                ox <= {DW{1'b0}};
                oy <= oy + 1'b1;
                iy <= iy + sh_s;
                ix <= ix0;
                arow <= arow + shw;
                acur <= arow + shw;
            end else begin
                ox <= ox + 1'b1;
                ix <= ix + sw_s;
                acur <= acur + {{(AW_A-8){1'b0}}, sw};
            end
        end
        if (rst || go)
            bg_has <= 1'b0;
    end

    assign consume = issue && c_sw;
    assign consume_final = c_final;
    assign bg_first = issue && c_sw && c_first;
    assign bg_bank = c_bank;

    assign a_en = issue;
    assign a_addr = acur;

    // ---- feed pipeline -------------------------------------------------------------------
    reg       f_v, f_sw, f_in;
    reg [4:0] f_user;
    always @(posedge clk) begin
        f_v <= issue;
        f_sw <= c_sw;
        f_in <= inrange;
        f_user <= {c_sw, c_first, c_last, c_bank, eop};
        arr_valid <= f_v;
        arr_sw <= f_sw;
        arr_x <= f_in ? a_rdata : {ROWS{x_zp}};
        arr_user <= f_user;
        if (rst || go) begin
            f_v <= 1'b0;
            arr_valid <= 1'b0;
        end
    end

    // ---- counter events ------------------------------------------------------------------
    wire waiting = running && bg_has && !issue;
    assign ev_busy = issue;
    assign ev_mac = issue ? c_mac : {MW{1'b0}};
    assign ev_stall_out = waiting && c_sw && w_ok && c_first && !b_ready[c_bank] &&
                          !b_loading[c_bank];
    assign ev_stall_in = (waiting && !ev_stall_out) || (running && !bg_has && (pg_act || s_v));

endmodule
`resetall
