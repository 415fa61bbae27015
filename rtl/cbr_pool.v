`resetall
`default_nettype none
// cbr_pool - streaming pooling after the activation: max, average, global average (or none).
//
// Why a streaming, separable design: the requantized int8 outputs of a tile leave in raster
// order (one beat = LANES channels of one pixel), and pooling must not need the whole tile in
// memory. Max and sum are separable and the valid positions of a clipped rectangular window
// are (valid rows) x (valid columns), so the stage pools each row horizontally as the pixels
// arrive (a shift register of the last KMAX pixels), keeps the horizontal results of the last
// KMAX rows in a line buffer (KMAX banks of WMAX entries, synchronous read: block RAM), and
// pools vertically when a row closes a window. Overlapping windows (3x3 stride 2, the ResNet
// stem) cost nothing extra: the line buffer is read, never consumed. Average divides by the
// count of valid positions with a pipelined restoring divider (8 quotient bits suffice: the
// mean of int8 values is within [-128, 127]), rounding half away from zero as NUMERICS.md:
// q = (|sum| + floor(count/2)) / count, negated for a negative sum.
//
// Windows that end beyond the last column (right padding, ceil mode) are emitted in flush
// cycles at the end of the row, during which in_ready is low; windows that end beyond the
// last row likewise after the plane, reading the line buffer only. Both are rare and short.
// Otherwise the stage accepts one beat per cycle.
//
// Configuration (CBR_POOL_* kinds; held constant from a plane's first input beat until its
// last output beat): cfg_h x cfg_w input pixels in raster order, window cfg_kh x cfg_kw
// (<= KMAX), strides, top/left padding (< window), and the pooled size cfg_ph x cfg_pw, which
// the host computes as golden.c does (that is where bottom/right padding and ceil mode live;
// every window must contain a valid position, which NUMERICS.md's rules guarantee). Kind
// none passes the plane through; global average emits one beat per plane.
module cbr_pool #(
    parameter LANES = 16,  // channels per beat (the array's COLS)
    parameter KMAX = 3,    // largest window side; >= 2, <= 15
    parameter WMAX = 128,  // largest pooled width cfg_pw (line-buffer depth); <= 2^DIM_W
    parameter DIM_W = 10   // bits of plane dimensions (cfg_h, cfg_w, cfg_ph, cfg_pw)
) (
    input  wire                 clk,        // rising-edge clock
    input  wire                 rst,        // synchronous, active high, control state only
    input  wire [1:0]           cfg_kind,   // 0 none, 1 max, 2 average, 3 global average
    input  wire [DIM_W-1:0]     cfg_h,      // input rows, >= 1
    input  wire [DIM_W-1:0]     cfg_w,      // input columns, >= 1
    input  wire [3:0]           cfg_kh,     // window rows, 1..KMAX
    input  wire [3:0]           cfg_kw,     // window columns, 1..KMAX
    input  wire [3:0]           cfg_sh,     // stride between window rows, >= 1
    input  wire [3:0]           cfg_sw,     // stride between window columns, >= 1
    input  wire [3:0]           cfg_pt,     // top padding, < cfg_kh
    input  wire [3:0]           cfg_pl,     // left padding, < cfg_kw
    input  wire [DIM_W-1:0]     cfg_ph,     // pooled rows, >= 1
    input  wire [DIM_W-1:0]     cfg_pw,     // pooled columns, 1..WMAX
    input  wire                 in_valid,   // input beat present
    output wire                 in_ready,   // beat taken when valid && ready (registered)
    input  wire [8*LANES-1:0]   in_data,    // int8 of lane l at [8l+:8]
    output wire                 out_valid,  // output beat present (registered)
    input  wire                 out_ready,  // consumer takes the output beat
    output wire [8*LANES-1:0]   out_data,   // int8 of lane l at [8l+:8]
    output wire                 out_last    // last beat of a plane
);

    localparam SD = DIM_W + 2;                  // signed positions (padding goes negative)
    localparam HS_W = 9 + $clog2(KMAX);         // a row window's sum of int8
    localparam WC_W = $clog2(KMAX * KMAX + 1);  // a window's count of valid positions
    localparam NC_W = WC_W;                      // its valid columns (<= KMAX), same width
    localparam MW = LANES * HS_W + NC_W;        // line-buffer word
    localparam LB_AW = $clog2(WMAX);
    localparam BK_W = $clog2(KMAX);
    localparam WIN_W = 9 + $clog2(KMAX * KMAX);  // a window's sum of int8
    localparam SUM_W = 2 * DIM_W + 9;           // global sum of up to 2^(2 DIM_W) int8
    localparam CNT_W = 2 * DIM_W + 1;           // global count
    localparam LI_W = LANES > 1 ? $clog2(LANES) : 1;  // lane index
    localparam [LI_W-1:0] LANE_LAST = LANES[LI_W-1:0] - 1'b1;
    localparam [BK_W:0] KM = KMAX[BK_W:0];

    generate
        if (KMAX < 2 || KMAX > 15) begin : g_bad_kmax
            cbr_pool_error_kmax_must_be_2_to_15 u_err ();
        end
        if (LB_AW > DIM_W) begin : g_bad_wmax
            cbr_pool_error_wmax_exceeds_dim_w u_err ();
        end
    endgenerate

    wire adv;  // everything moves this cycle (the output skid has room)

    // ---- effective configuration (kind none is max 1x1, stride 1) ------------------------
    wire                 k_none = cfg_kind == 2'd0;
    wire                 k_gavg = cfg_kind == 2'd3;
    wire                 k_max = cfg_kind == 2'd1 || k_none;
    wire [3:0]           kh = k_none ? 4'd1 : cfg_kh;
    wire [3:0]           kw = k_none ? 4'd1 : cfg_kw;
    wire [3:0]           sh = k_none ? 4'd1 : cfg_sh;
    wire [3:0]           sw = k_none ? 4'd1 : cfg_sw;
    wire [3:0]           pt = k_none ? 4'd0 : cfg_pt;
    wire [3:0]           pl = k_none ? 4'd0 : cfg_pl;
    wire [DIM_W-1:0]     n_ph = k_none ? cfg_h : cfg_ph;
    wire [DIM_W-1:0]     n_pw = k_none ? cfg_w : cfg_pw;
    wire signed [SD-1:0] w_last = $signed({2'b00, cfg_w}) - 1;
    wire signed [SD-1:0] h_last = $signed({2'b00, cfg_h}) - 1;

    // ======================= H: horizontal windows, as pixels arrive =======================
    reg [DIM_W-1:0]          h_iw, h_ih, h_pw;   // next input column/row, next window
    reg signed [SD-1:0]      h_st0;              // h_pw * sw (window start before padding)
    reg                      h_flush;            // emitting windows past the row end
    // Planes taken by H and finished by V, mod 4. V may finish a plane before H has taken
    // its last pixels (pixels in no window), so H waits only while it is a plane ahead.
    reg [1:0]                h_planes, v_planes;
    wire [1:0]               h_ahead = h_planes - v_planes;
    wire                     h_wait = h_ahead == 2'd1;
    reg [8*LANES*KMAX-1:0]   srl;                // entry k: the pixel k columns back
    wire                     v_done;             // V finished a plane

    wire   g_busy_w;
    assign in_ready = adv && !h_flush && !h_wait && !(k_gavg && g_busy_w);
    wire acc = in_valid && in_ready;
    wire row_end = h_iw == cfg_w - 1'b1;
    wire plane_end = row_end && h_ih == cfg_h - 1'b1;

    wire [8*LANES*KMAX-1:0] srl_nx = {srl[8*LANES*(KMAX-1)-1:0], in_data};
    wire signed [SD-1:0]    h_st = h_st0 - $signed({{(SD-4){1'b0}}, pl});  // first column
    wire signed [SD-1:0]    h_end = h_st + $signed({{(SD-4){1'b0}}, kw}) - 1;
    wire signed [SD-1:0]    iw_s = $signed({2'b00, h_iw});
    wire                    h_more = h_pw < n_pw;
    wire                    emit_acc = acc && !k_gavg && h_more && h_end == iw_s;
    wire                    emit_fl = adv && h_flush;
    wire                    h_emit = emit_acc || emit_fl;
    wire signed [SD-1:0]    h_base = h_flush ? w_last : iw_s;
    wire [8*LANES*KMAX-1:0] h_src = h_flush ? srl : srl_nx;
    wire [DIM_W-1:0]        h_pw_after = h_pw + {{(DIM_W-1){1'b0}}, emit_acc};

    reg [KMAX-1:0]          h_inc;        // entry k lies in window h_pw
    reg [NC_W-1:0]          h_nc;
    reg [LANES*HS_W-1:0]    h_val;        // per lane: max (k_max) or sum of the window
    always @(*) begin : h_reduce
        integer k, l;
        reg signed [SD-1:0]   pos;
        reg signed [HS_W-1:0] acc_v, x;
        reg [SD-1:0]          kq;
        h_nc = {NC_W{1'b0}};
        for (k = 0; k < KMAX; k = k + 1) begin
            kq = k[SD-1:0];
            pos = h_base - $signed(kq);
            h_inc[k] = pos >= h_st && pos >= 0;
            h_nc = h_nc + {{(NC_W-1){1'b0}}, h_inc[k]};
        end
        for (l = 0; l < LANES; l = l + 1) begin
            acc_v = k_max ? -128 : 0;
            for (k = 0; k < KMAX; k = k + 1) begin
                x = $signed({{(HS_W-8){h_src[8*(LANES*k+l)+7]}}, h_src[8*(LANES*k+l) +: 8]});
                if (h_inc[k])
                    acc_v = k_max ? (x > acc_v ? x : acc_v) : acc_v + x;
            end
            h_val[HS_W*l +: HS_W] = acc_v;
        end
    end

    // Horizontal result, to V.
    reg                  hv_valid;
    reg [LANES*HS_W-1:0] hv_val;
    reg [NC_W-1:0]       hv_nc;

    always @(posedge clk) begin
        if (adv) begin
            hv_valid <= h_emit;
            hv_val <= h_val;
            hv_nc <= h_nc;
            if (acc && !k_gavg)
                srl <= srl_nx;
            if (emit_acc || emit_fl) begin
                h_pw <= h_pw + 1'b1;
                h_st0 <= h_st0 + $signed({{(SD-4){1'b0}}, sw});
            end
            // Row and plane bookkeeping (the global average only counts positions).
            if ((acc && row_end && !(!k_gavg && h_pw_after < n_pw)) ||
                (emit_fl && h_pw + 1'b1 >= n_pw)) begin
                h_flush <= 1'b0;
                h_iw <= {DIM_W{1'b0}};
                h_pw <= {DIM_W{1'b0}};
                h_st0 <= {SD{1'b0}};
                if (h_ih == cfg_h - 1'b1) begin
                    h_ih <= {DIM_W{1'b0}};
                    h_planes <= h_planes + {1'b0, !k_gavg};
                end else begin
                    h_ih <= h_ih + 1'b1;
                end
            end else if (acc && row_end) begin
                h_flush <= 1'b1;  // windows left past the row end
            end else if (acc) begin
                h_iw <= h_iw + 1'b1;
            end
        end
        if (rst) begin
            hv_valid <= 1'b0;
            h_flush <= 1'b0;
            h_planes <= 2'd0;
            h_iw <= {DIM_W{1'b0}};
            h_ih <= {DIM_W{1'b0}};
            h_pw <= {DIM_W{1'b0}};
            h_st0 <= {SD{1'b0}};
        end
    end

    // ======================= V: vertical windows over the line buffer ======================
    reg [DIM_W-1:0]     v_ih, v_pw, v_ph, v_fpw;  // row, column of the incoming H result,
                                                  // next window row, flush column
    reg signed [SD-1:0] v_st0;                    // v_ph * sh (window start before padding)
    reg [BK_W-1:0]      v_bank, v_lastbank;       // bank of row v_ih; of the plane's last row
    reg                 v_flush;

    wire signed [SD-1:0] v_st = v_st0 - $signed({{(SD-4){1'b0}}, pt});  // first row
    wire signed [SD-1:0] v_end = v_st + $signed({{(SD-4){1'b0}}, kh}) - 1;
    wire                 v_take = adv && hv_valid;
    wire                 v_close = v_ph < n_ph && v_end == $signed({2'b00, v_ih});
    wire                 v_lastpw = v_pw == n_pw - 1'b1;
    wire                 v_lastrow = v_ih == cfg_h - 1'b1;
    wire                 fl_step = adv && v_flush;
    wire                 fl_lastpw = v_fpw == n_pw - 1'b1;
    wire                 v_emit = (v_take && v_close) || fl_step;
    wire [DIM_W-1:0]     v_ph_after = v_ph + {{(DIM_W-1){1'b0}}, v_close};
    wire signed [SD-1:0] v_base = v_flush ? h_last : $signed({2'b00, v_ih});
    wire [BK_W-1:0]      v_bbase = v_flush ? v_lastbank : v_bank;
    wire [DIM_W-1:0]     v_col = v_flush ? v_fpw : v_pw;
    wire                 end_no_flush = v_take && v_lastpw && v_lastrow && !(v_ph_after < n_ph);
    wire                 end_flush = fl_step && fl_lastpw && v_ph + 1'b1 >= n_ph;
    assign v_done = end_no_flush || end_flush;

    // Which banks hold rows of the window being emitted (the current row comes from hv).
    reg [KMAX-1:0] v_mask;
    always @(*) begin : v_rows
        integer b;
        reg [BK_W:0]        kk, bq;
        reg signed [SD-1:0] row;
        for (b = 0; b < KMAX; b = b + 1) begin
            bq = b[BK_W:0];
            kk = ({1'b0, v_bbase} >= bq) ? {1'b0, v_bbase} - bq : {1'b0, v_bbase} + KM - bq;
            row = v_base - $signed({{(SD-BK_W-1){1'b0}}, kk});
            v_mask[b] = (v_flush || kk != 0) && row >= v_st && row >= 0;
        end
    end

    // The line buffer: bank b holds the H results of rows with index = b (mod KMAX).
    wire [KMAX*MW-1:0] lb_rd;
    genvar gb;
    generate
        for (gb = 0; gb < KMAX; gb = gb + 1) begin : g_bank
            reg [MW-1:0] mem [0:WMAX-1];
            reg [MW-1:0] rd_q;
            always @(posedge clk) begin
                if (v_take && v_bank == gb)
                    mem[v_pw[LB_AW-1:0]] <= {hv_nc, hv_val};
                if (v_take || fl_step)
                    rd_q <= mem[v_col[LB_AW-1:0]];
            end
            assign lb_rd[MW*gb +: MW] = rd_q;
        end
    endgenerate

    reg                  e1_valid, e1_cur, e1_last;
    reg [LANES*HS_W-1:0] e1_val;
    reg [NC_W-1:0]       e1_nc;
    reg [KMAX-1:0]       e1_mask;
    reg [BK_W-1:0]       e1_bank;

    always @(posedge clk) begin
        if (adv) begin
            e1_valid <= v_emit;
            e1_cur <= !v_flush;
            e1_val <= hv_val;
            e1_nc <= hv_nc;
            e1_mask <= v_mask;
            e1_bank <= v_bbase;
            e1_last <= v_ph == n_ph - 1'b1 && v_col == n_pw - 1'b1;
            if (v_take) begin
                if (v_lastpw) begin
                    v_pw <= {DIM_W{1'b0}};
                    v_bank <= {1'b0, v_bank} + 1'b1 == KM ? {BK_W{1'b0}} : v_bank + 1'b1;
                    if (v_close) begin
                        v_ph <= v_ph + 1'b1;
                        v_st0 <= v_st0 + $signed({{(SD-4){1'b0}}, sh});
                    end
                    if (v_lastrow) begin
                        v_ih <= {DIM_W{1'b0}};
                        v_lastbank <= v_bank;
                        if (v_ph_after < n_ph)
                            v_flush <= 1'b1;
                    end else begin
                        v_ih <= v_ih + 1'b1;
                    end
                end else begin
                    v_pw <= v_pw + 1'b1;
                end
            end
            if (fl_step) begin
                if (fl_lastpw) begin
                    v_fpw <= {DIM_W{1'b0}};
                    v_ph <= v_ph + 1'b1;
                    v_st0 <= v_st0 + $signed({{(SD-4){1'b0}}, sh});
                end else begin
                    v_fpw <= v_fpw + 1'b1;
                end
            end
            if (v_done) begin
                v_planes <= v_planes + 1'b1;
                v_flush <= 1'b0;
                v_ph <= {DIM_W{1'b0}};
                v_st0 <= {SD{1'b0}};
                v_bank <= {BK_W{1'b0}};
            end
        end
        if (rst) begin
            e1_valid <= 1'b0;
            v_flush <= 1'b0;
            v_planes <= 2'd0;
            v_ih <= {DIM_W{1'b0}};
            v_pw <= {DIM_W{1'b0}};
            v_ph <= {DIM_W{1'b0}};
            v_fpw <= {DIM_W{1'b0}};
            v_st0 <= {SD{1'b0}};
            v_bank <= {BK_W{1'b0}};
            v_lastbank <= {BK_W{1'b0}};
        end
    end

    // E1 -> combine the current row with the line buffer: max or sum, and the count.
    reg [LANES*WIN_W-1:0] e1_out;
    reg [WC_W-1:0]        e1_cnt;
    always @(*) begin : v_reduce
        integer b, l;
        reg signed [WIN_W-1:0] a, x;
        reg [WC_W-1:0]         nc, nr;
        nr = {{(WC_W-1){1'b0}}, e1_cur};
        for (b = 0; b < KMAX; b = b + 1)
            nr = nr + {{(WC_W-1){1'b0}}, e1_mask[b]};
        nc = e1_cur ? e1_nc : lb_rd[MW*e1_bank + LANES*HS_W +: NC_W];
        e1_cnt = nr * nc;
        for (l = 0; l < LANES; l = l + 1) begin
            x = $signed({{(WIN_W-HS_W){e1_val[HS_W*l+HS_W-1]}}, e1_val[HS_W*l +: HS_W]});
            a = e1_cur ? x : (k_max ? -128 : 0);
            for (b = 0; b < KMAX; b = b + 1) begin
                x = $signed({{(WIN_W-HS_W){lb_rd[MW*b+HS_W*l+HS_W-1]}},
                             lb_rd[MW*b + HS_W*l +: HS_W]});
                if (e1_mask[b])
                    a = k_max ? (x > a ? x : a) : a + x;
            end
            e1_out[WIN_W*l +: WIN_W] = a;
        end
    end

    // Window averages (max values ride along, bypassing the division).
    wire               wd_valid, wd_last;
    wire [8*LANES-1:0] wd_q;
    cbr_rdiv #(.LANES(LANES), .S_W(WIN_W), .C_W(WC_W), .USER_W(1)) u_wdiv (
        .clk(clk),
        .rst(rst),
        .en(adv),
        .in_valid(e1_valid),
        .in_bypass(k_max),
        .in_s(e1_out),
        .in_c(e1_cnt),
        .in_user(e1_last),
        .out_valid(wd_valid),
        .out_q(wd_q),
        .out_user(wd_last)
    );

    // ======================= global average ================================================
    // A sum per lane over the plane; at the plane's end the sums are held and divided one
    // lane per cycle by a single wide divider, and the beat is emitted when all are back.
    // Input waits meanwhile (LANES + 10 cycles per plane).
    reg [LANES*SUM_W-1:0] g_sum, g_hold;
    reg [CNT_W-1:0]       g_n, g_cnt;
    reg                   g_busy, g_feeding, g_out_valid;
    reg [LI_W-1:0]        g_feed;
    reg [8*LANES-1:0]     g_res;
    reg [LANES*SUM_W-1:0] g_nx;
    always @(*) begin : g_add
        integer l;
        for (l = 0; l < LANES; l = l + 1)
            g_nx[SUM_W*l +: SUM_W] = g_sum[SUM_W*l +: SUM_W] +
                {{(SUM_W-8){in_data[8*l+7]}}, in_data[8*l +: 8]};
    end
    wire g_end = acc && k_gavg && plane_end;
    assign g_busy_w = g_busy;

    wire             gd_valid;
    wire [7:0]       gd_q;
    wire [LI_W-1:0]  gd_lane;
    cbr_rdiv #(.LANES(1), .S_W(SUM_W), .C_W(CNT_W), .USER_W(LI_W)) u_gdiv (
        .clk(clk),
        .rst(rst),
        .en(1'b1),
        .in_valid(g_feeding),
        .in_bypass(1'b0),
        .in_s(g_hold[SUM_W*g_feed +: SUM_W]),
        .in_c(g_cnt),
        .in_user(g_feed),
        .out_valid(gd_valid),
        .out_q(gd_q),
        .out_user(gd_lane)
    );

    always @(posedge clk) begin
        if (acc && k_gavg) begin
            g_sum <= g_end ? {(LANES*SUM_W){1'b0}} : g_nx;
            g_n <= g_end ? {CNT_W{1'b0}} : g_n + 1'b1;
        end
        if (g_end) begin
            g_hold <= g_nx;
            g_cnt <= g_n + 1'b1;
            g_busy <= 1'b1;
            g_feeding <= 1'b1;
            g_feed <= {LI_W{1'b0}};
        end
        if (g_feeding) begin
            g_feed <= g_feed + 1'b1;
            if (g_feed == LANE_LAST)
                g_feeding <= 1'b0;
        end
        if (gd_valid) begin
            g_res[8*gd_lane +: 8] <= gd_q;
            if (gd_lane == LANE_LAST)
                g_out_valid <= 1'b1;
        end
        if (adv && g_out_valid) begin  // taken by the output skid
            g_out_valid <= 1'b0;
            g_busy <= 1'b0;
        end
        if (rst) begin
            g_sum <= {(LANES*SUM_W){1'b0}};
            g_n <= {CNT_W{1'b0}};
            g_busy <= 1'b0;
            g_feeding <= 1'b0;
            g_out_valid <= 1'b0;
        end
    end

    cbr_skid #(.W(8 * LANES + 1)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(k_gavg ? g_out_valid : wd_valid),
        .in_ready(adv),
        .in_data(k_gavg ? {1'b1, g_res} : {wd_last, wd_q}),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data({out_last, out_data})
    );

endmodule
`resetall
