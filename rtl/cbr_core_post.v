`resetall
`default_nettype none
// cbr_core_post - the drain: requantization, activation, pooling and the output buffer
// (docs/core.md, NUMERICS.md).
//
// Why in two phases out of the bank: a block's whole conv plane sits in its accumulator bank
// (the host keeps OUT_H * OUT_W <= ACC_PIXELS), which is random-access, so pooling needs no
// line buffers and no limit on the window: phase 1 streams the plane through COLS
// cbr_requant lanes (one pixel per cycle) and writes the int8 results back into the bank in
// place (or, without pooling, straight to the output buffer); phase 2 walks the pooled
// outputs in raster order and reads each one's window (clipped to the plane: padded
// positions are skipped) from the bank, one position per cycle, taking the max or the sum
// and the count, and divides by the count (cbr_rdiv: rounding half away from zero). Global
// average is one window over the whole plane. Phase 2 costs one cycle per window position,
// so it stays hidden behind the passes of the next block unless the block has very few
// passes or the windows overlap heavily.
//
// Outputs go to the output buffer in order: word OUT_BASE/COLS + k for the k-th pooled
// pixel of the tile, which is exactly docs/registers.md's layout (ob, y, x).
//
// ACC_KEEP (keep): a full bank is released at once, untouched (no requantization, no
// pooling, no output): its int32 partial sums stay for the next tile's ACC_LOAD.
//
// Its own copy of the arguments: the next tile may be taken (go) while this unit still
// drains the last blocks of the tile before (cbr_core_regs, take_ok), so the drain copies the
// run registers it uses when it starts a tile: at go when it is idle or finishing, else
// (pend) the cycle it finishes. The core takes no further tile until then (!pend).
module cbr_core_post #(
    parameter COLS = 16,  // array columns: lanes per pixel
    parameter PIXW = 10,  // bank address bits: ACC_PIXELS = 2^PIXW
    parameter DW = 11,    // bits of the conv and pooled plane dimensions (PIXW + 1)
    parameter AW_O = 12   // output buffer word-address bits (one word = one pixel)
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               go,        // start of a tile: run registers valid
    input  wire               r_bank0,   // bank of the tile's output block 0
    input  wire [15:0]        r_n_ob,
    input  wire [DW-1:0]      r_oh,
    input  wire [DW-1:0]      r_ow,
    input  wire [1:0]         r_pool,    // 0 none, 1 max, 2 avg, 3 global avg
    input  wire [7:0]         r_pkh,
    input  wire [7:0]         r_pkw,
    input  wire [7:0]         r_psh,
    input  wire [7:0]         r_psw,
    input  wire [7:0]         r_ppt,
    input  wire [7:0]         r_ppl,
    input  wire [DW-1:0]      r_ph,
    input  wire [DW-1:0]      r_pw,
    input  wire [7:0]         r_y_zp,
    input  wire [7:0]         r_act_min,
    input  wire [7:0]         r_act_max,
    input  wire               r_leaky,
    input  wire               r_keep,    // ACC_KEEP: release full banks without draining
    input  wire [AW_O-1:0]    r_out_base, // word address of the tile's first output pixel
    // bank flags (cbr_core_ctrl) and the requantization pairs of bank d_bank
    input  wire [1:0]         b_full,
    input  wire [1:0]         b_par,
    input  wire [32*COLS-1:0] m0,
    input  wire [6*COLS-1:0]  shift,
    input  wire [32*COLS-1:0] neg_m0,
    input  wire [6*COLS-1:0]  neg_shift,
    // bank port (cbr_core_acc)
    output wire               d_act,
    output wire               d_bank,
    output wire               d_re,
    output wire [PIXW-1:0]    d_raddr,
    input  wire [32*COLS-1:0] d_rdata,
    output wire               d_we,
    output wire [PIXW-1:0]    d_waddr,
    output wire [32*COLS-1:0] d_wdata,
    // output buffer, compute port (write-only)
    output wire               o_en,
    output wire [AW_O-1:0]    o_addr,
    output wire [8*COLS-1:0]  o_wdata,
    // events
    output wire               dr_done,   // pulse: bank d_bank drained
    output wire               tile_done, // pulse: the tile's last block is written
    output wire               pend       // a tile taken is still to be drained
);

    localparam CNT_W = PIXW + 1;    // window position count, up to ACC_PIXELS
    localparam SW = CNT_W + 8;      // window sum
    localparam YW = DW + 12;        // signed window coordinates
    localparam [2:0] S_OFF = 3'd0, S_IDLE = 3'd1, S_REQ = 3'd2, S_REQW = 3'd3, S_POOL = 3'd4,
                     S_FIN = 3'd5;
    localparam [1:0] W_ROW = 2'd0, W_WIN = 2'd1, W_END = 2'd2;

    reg [2:0]      st;
    reg [15:0]     dr_ob;
    reg [AW_O-1:0] optr;
    reg [PIXW-1:0] p, plast;

    // ---- the drain's copy of the arguments ----------------------------------------------
    reg [15:0]     n_ob;
    reg [DW-1:0]   oh, ow, ph, pw;
    reg [1:0]      pool;
    reg [7:0]      pkh, pkw, psh, psw, ppt, ppl, y_zp, act_min, act_max;
    reg            leaky, keep, bank0, pend_q;

    wire fin = st == S_IDLE && dr_ob == n_ob;  // the tile's last block is written
    wire p_start = (go || pend_q) && (st == S_OFF || fin);

    always @(posedge clk) begin
        if (p_start) begin
            n_ob <= r_n_ob;
            oh <= r_oh;
            ow <= r_ow;
            ph <= r_ph;
            pw <= r_pw;
            pool <= r_pool;
            pkh <= r_pkh;
            pkw <= r_pkw;
            psh <= r_psh;
            psw <= r_psw;
            ppt <= r_ppt;
            ppl <= r_ppl;
            y_zp <= r_y_zp;
            act_min <= r_act_min;
            act_max <= r_act_max;
            leaky <= r_leaky;
            keep <= r_keep;
            bank0 <= r_bank0;
        end
        if (go && !p_start)
            pend_q <= 1'b1;
        else if (p_start)
            pend_q <= 1'b0;
        if (rst)
            pend_q <= 1'b0;
    end
    assign pend = go || pend_q;

    wire kmax = pool == 2'd1;
    wire gavg = pool == 2'd3;

    assign d_bank = dr_ob[0] ^ bank0;
    assign d_act = st == S_REQ || st == S_REQW || st == S_POOL || st == S_FIN;
    assign dr_done = st == S_FIN;
    assign tile_done = fin;

    wire [2*DW-1:0] plane = r_oh * r_ow;  // of the tile p_start copies
    wire [PIXW-1:0] plane_m1 = plane[PIXW-1:0] - 1'b1;
    wire [2*DW-PIXW-1:0] unused_plane = plane[2*DW-1:PIXW];

    // ---- phase 1: requantize ------------------------------------------------------------
    reg            r1_v, r1_last;
    reg [PIXW-1:0] r1_pix;

    wire [COLS-1:0]        q_v;
    wire [COLS*(PIXW+1)-1:0] q_user;
    wire [8*COLS-1:0]      q_y;
    wire [COLS-1:0]        unused_q_ready;
    wire                   q_last = q_user[PIXW];
    wire [PIXW-1:0]        q_pix = q_user[PIXW-1:0];
    wire                   q_any = q_v[0];
    wire [COLS-1:1]        unused_q_v = q_v[COLS-1:1];
    wire [(COLS-1)*(PIXW+1)-1:0] unused_q_user = q_user[COLS*(PIXW+1)-1:PIXW+1];

    genvar j;
    generate
        for (j = 0; j < COLS; j = j + 1) begin : g_lane
            cbr_requant #(.USER_W(PIXW + 1)) u_rq (
                .clk(clk),
                .rst(rst),
                .in_valid(r1_v),
                .in_ready(unused_q_ready[j]),
                .in_acc(d_rdata[32*j +: 32]),
                .in_m0(m0[32*j +: 32]),
                .in_shift(shift[6*j +: 6]),
                .in_leaky(leaky),
                .in_neg_m0(neg_m0[32*j +: 32]),
                .in_neg_shift(neg_shift[6*j +: 6]),
                .in_y_zp(y_zp),
                .in_act_min(act_min),
                .in_act_max(act_max),
                .in_user({r1_last, r1_pix}),
                .out_valid(q_v[j]),
                .out_ready(1'b1),
                .out_data(q_y[8*j +: 8]),
                .out_user(q_user[(PIXW+1)*j +: PIXW+1])
            );
        end
    endgenerate

    // The in-place result: int8 in the low byte of each lane.
    reg [32*COLS-1:0] q_word;
    integer l;
    always @(*) begin
        for (l = 0; l < COLS; l = l + 1)
            q_word[32*l +: 32] = {24'd0, q_y[8*l +: 8]};
    end

    // ---- phase 2: window generator --------------------------------------------------------
    wire signed [YW-1:0] e_kh = gavg ? $signed({{(YW-DW){1'b0}}, oh}) : $signed({{(YW-8){1'b0}}, pkh});
    wire signed [YW-1:0] e_kw = gavg ? $signed({{(YW-DW){1'b0}}, ow}) : $signed({{(YW-8){1'b0}}, pkw});
    wire signed [YW-1:0] e_sh = gavg ? 1 : $signed({{(YW-8){1'b0}}, psh});
    wire signed [YW-1:0] e_sw = gavg ? 1 : $signed({{(YW-8){1'b0}}, psw});
    wire signed [YW-1:0] e_pt = gavg ? 0 : $signed({{(YW-8){1'b0}}, ppt});
    wire signed [YW-1:0] e_pl = gavg ? 0 : $signed({{(YW-8){1'b0}}, ppl});
    wire [DW-1:0]        e_ph = gavg ? {{(DW-1){1'b0}}, 1'b1} : ph;
    wire [DW-1:0]        e_pw = gavg ? {{(DW-1){1'b0}}, 1'b1} : pw;
    wire signed [YW-1:0] s_oh = $signed({{(YW-DW){1'b0}}, oh});
    wire signed [YW-1:0] s_ow = $signed({{(YW-DW){1'b0}}, ow});

    reg [1:0]            w_st;
    reg [DW-1:0]         py, px;
    reg signed [YW-1:0]  ys, xs;
    reg [PIXW-1:0]       rb;          // r0 * OUT_W
    reg [DW-1:0]         nr;          // valid rows of the current window row
    // the window slot
    reg                  wv, w_last;
    reg [PIXW-1:0]       w_base;
    reg [DW-1:0]         w_nr, w_nc;

    wire signed [YW-1:0] r0 = ys[YW-1] ? {YW{1'b0}} : ys;
    wire signed [YW-1:0] r1t = ys + e_kh;
    wire signed [YW-1:0] r1 = r1t > s_oh ? s_oh : r1t;
    wire signed [YW-1:0] nr_s = r1 - r0;
    wire [YW-1:0]        r0u = r0;
    wire [2*DW-1:0]      rb_p = r0u[DW-1:0] * ow;
    wire signed [YW-1:0] c0 = xs[YW-1] ? {YW{1'b0}} : xs;
    wire signed [YW-1:0] c1t = xs + e_kw;
    wire signed [YW-1:0] c1 = c1t > s_ow ? s_ow : c1t;
    wire signed [YW-1:0] nc_s = c1 - c0;
    wire [YW-1:0]        c0u = c0;
    wire [YW-1:0]        nru = nr_s;
    wire [YW-1:0]        ncu = nc_s;
    wire [3*YW-3*DW+2*DW-PIXW+YW-PIXW-1:0] unused_w =
        {r0u[YW-1:DW], nru[YW-1:DW], ncu[YW-1:DW], rb_p[2*DW-1:PIXW], c0u[YW-1:PIXW]};

    wire r_take;
    wire w_push = st == S_POOL && w_st == W_WIN && (!wv || r_take);
    wire px_last = px == e_pw - 1'b1;
    wire py_last = py == e_ph - 1'b1;

    always @(posedge clk) begin
        if (st == S_POOL && w_st == W_ROW) begin
            rb <= rb_p[PIXW-1:0];
            nr <= nr_s[YW-1] ? {DW{1'b0}} : nru[DW-1:0];
            w_st <= W_WIN;
        end
        if (w_push) begin
            wv <= 1'b1;
            w_base <= rb + c0u[PIXW-1:0];
            w_nr <= nr;
            w_nc <= nc_s[YW-1] ? {DW{1'b0}} : ncu[DW-1:0];
            w_last <= px_last && py_last;
            if (px_last) begin
                px <= {DW{1'b0}};
                xs <= -e_pl;
                py <= py + 1'b1;
                ys <= ys + e_sh;
                w_st <= py_last ? W_END : W_ROW;
            end else begin
                px <= px + 1'b1;
                xs <= xs + e_sw;
            end
        end else if (r_take) begin
            wv <= 1'b0;
        end
        if (st == S_REQW && q_any && q_last) begin   // entering S_POOL
            w_st <= W_ROW;
            py <= {DW{1'b0}};
            px <= {DW{1'b0}};
            ys <= -e_pt;
            xs <= -e_pl;
        end
        if (rst || p_start || st != S_POOL)
            wv <= 1'b0;
    end

    // ---- phase 2: window reader -----------------------------------------------------------
    reg            ra, r_first, r_lastw;
    reg [PIXW-1:0] r_addr, r_row;
    reg [DW-1:0]   r_rc, r_cc, r_nr, r_nc;

    wire [DW:0] rc1 = {1'b0, r_rc} + 1'b1;
    wire [DW:0] cc1 = {1'b0, r_cc} + 1'b1;
    wire        col_end = cc1 >= {1'b0, r_nc};
    wire        r_endwin = ra && rc1 >= {1'b0, r_nr} && col_end;
    assign r_take = wv && (!ra || r_endwin);

    always @(posedge clk) begin
        if (r_take) begin
            ra <= 1'b1;
            r_first <= 1'b1;
            r_lastw <= w_last;
            r_addr <= w_base;
            r_row <= w_base;
            r_rc <= {DW{1'b0}};
            r_cc <= {DW{1'b0}};
            r_nr <= w_nr;
            r_nc <= w_nc;
        end else if (r_endwin) begin
            ra <= 1'b0;
        end else if (ra) begin
            r_first <= 1'b0;
            if (col_end) begin
                r_cc <= {DW{1'b0}};
                r_rc <= rc1[DW-1:0];
                r_row <= r_row + ow[PIXW-1:0];
                r_addr <= r_row + ow[PIXW-1:0];
            end else begin
                r_cc <= cc1[DW-1:0];
                r_addr <= r_addr + 1'b1;
            end
        end
        if (rst || p_start || st != S_POOL)
            ra <= 1'b0;
    end

    // ---- phase 2: combine, divide -----------------------------------------------------------
    reg              p1_v, p1_first, p1_end, p1_last;
    reg [SW*COLS-1:0] cacc;
    reg [CNT_W-1:0]  cnt;
    reg [SW*COLS-1:0] comb;
    wire [CNT_W-1:0] cnt_now = p1_first ? {{(CNT_W-1){1'b0}}, 1'b1} : cnt + 1'b1;

    always @(*) begin : combine
        integer k;
        reg signed [SW-1:0] y, a;
        for (k = 0; k < COLS; k = k + 1) begin
            y = $signed({{(SW-8){d_rdata[32*k+7]}}, d_rdata[32*k +: 8]});
            a = $signed(cacc[SW*k +: SW]);
            if (p1_first)
                comb[SW*k +: SW] = y;
            else if (kmax)
                comb[SW*k +: SW] = y > a ? y : a;
            else
                comb[SW*k +: SW] = a + y;
        end
    end

    reg              p2_v, p2_last;
    reg [SW*COLS-1:0] p2_s;
    reg [CNT_W-1:0]  p2_c;

    always @(posedge clk) begin
        p1_v <= st == S_POOL && ra;
        p1_first <= r_first;
        p1_end <= r_endwin;
        p1_last <= r_lastw;
        if (p1_v) begin
            cacc <= comb;
            cnt <= cnt_now;
        end
        p2_v <= p1_v && p1_end;
        p2_last <= p1_last;
        p2_s <= comb;
        p2_c <= cnt_now;
        if (rst || p_start) begin
            p1_v <= 1'b0;
            p2_v <= 1'b0;
        end
    end

    wire              dv_v, dv_last;
    wire [8*COLS-1:0] dv_q;

    cbr_rdiv #(.LANES(COLS), .S_W(SW), .C_W(CNT_W), .USER_W(1)) u_div (
        .clk(clk),
        .rst(rst),
        .en(1'b1),
        .in_valid(p2_v),
        .in_bypass(kmax),
        .in_s(p2_s),
        .in_c(p2_c),
        .in_user(p2_last),
        .out_valid(dv_v),
        .out_q(dv_q),
        .out_user(dv_last)
    );

    // ---- sequencing ------------------------------------------------------------------------
    wire q_out = pool == 2'd0;   // phase 1 writes the output buffer

    always @(posedge clk) begin
        r1_v <= st == S_REQ;
        r1_pix <= p;
        r1_last <= p == plast;
        if (o_en)
            optr <= optr + 1'b1;
        case (st)
            S_IDLE:
                if (dr_ob == n_ob)
                    st <= S_OFF;
                else if (b_full[d_bank] && b_par[d_bank]) begin
                    st <= keep ? S_FIN : S_REQ;
                    p <= {PIXW{1'b0}};
                end
            S_REQ: begin
                p <= p + 1'b1;
                if (p == plast)
                    st <= S_REQW;
            end
            S_REQW:
                if (q_any && q_last)
                    st <= q_out ? S_FIN : S_POOL;
            S_POOL:
                if (dv_v && dv_last)
                    st <= S_FIN;
            S_FIN: begin
                dr_ob <= dr_ob + 16'd1;
                st <= S_IDLE;
            end
            default: ;
        endcase
        if (p_start) begin
            st <= S_IDLE;
            dr_ob <= 16'd0;
            optr <= r_out_base;
            plast <= plane_m1;
        end
        if (rst) begin
            st <= S_OFF;
            r1_v <= 1'b0;
        end
    end

    assign d_re = st == S_REQ || (st == S_POOL && ra);
    assign d_raddr = st == S_REQ ? p : r_addr;
    assign d_we = q_any && !q_out;
    assign d_waddr = q_pix;
    assign d_wdata = q_word;

    assign o_en = (q_any && q_out) || dv_v;
    assign o_addr = optr;
    assign o_wdata = q_out ? q_y : dv_q;

endmodule
`resetall
