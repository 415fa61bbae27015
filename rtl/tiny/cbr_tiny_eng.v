`resetall
`default_nettype none
// cbr_tiny_eng - the tiny core's sequential engine: one output pixel at a time, its int32
// sums in the multipliers' accumulators, 4 MACs a cycle (docs/tiny.md).
//
// Why output-stationary: with 4 multipliers the 4-channel sums of one pixel are 4 SB_MAC16
// accumulators, so the taps of a pixel (cb, ky, kx) stream through them and the sums never go
// to RAM; the accumulator banks are only read by ACC_LOAD and written by ACC_KEEP (at the
// pixel's end), and the requantized plane goes to the bank only when it is to be pooled.
// Each pixel is:
//
//   S_PIX   sums = 0
//   S_TAP   per tap: the activation word (R = 4 channels) and the 4 weight rows, one row a
//           cycle: sums[j] += (x[r] - X_ZP) * w[r][j]; a tap outside the tile (padding) is
//           one cycle and no reads (its products would be 0)
//   post    per lane j: + the bias, or with ACC_LOAD + the bank's partial sum; ACC_KEEP: the
//           result to the bank; otherwise the multiplier pair (the leaky one if the result is
//           negative), cbr_tiny_rq, then the 4 bytes to the output buffer (or to the bank
//           for pooling)
//
// After a block's plane, pooling walks the pooled outputs and, for each lane in turn, reads
// the window's positions from the bank, one a cycle (max, or sum and count and a serial
// rounded division): one combiner instead of four, the window read four times.
//
// Memories: pair A holds the activations, pair B the weights, outputs, accumulator banks and
// parameters (regions, see cbr_tiny_core). Both are single-port and the host has priority: in
// a cycle with `hold` the engine issues no access and waits. Every read's data is used in the
// cycle after its issue, which a host access cannot disturb (its own data comes a cycle later).
//
// keep_hierarchy: flattened into its parent, yosys 0.23 no longer finds the four lanes'
// accumulators behind their multipliers (ice40_dsp), and they cost 4 x 32 carry cells.
(* keep_hierarchy *)
module cbr_tiny_eng (
    input  wire        clk,
    input  wire        rst,
    input  wire        go,          // run registers valid: start the tile
    output reg         run_done,    // pulse: the tile is finished
    input  wire        hold,        // the host uses the memories this cycle
    // run copy of the arguments (cbr_core_regs, word addresses)
    input  wire [15:0] in_h, in_w, pt, pl,
    input  wire [11:0] n_cb, n_ob,      // mod 4096: a bound of 0 means 4096
    input  wire [1:0]  in_c, out_c,     // IN_C, OUT_C mod 4: the last blocks' used rows, columns
    input  wire [3:0]  kh, kw,
    input  wire [7:0]  sh, sw, dh, dw,
    input  wire [8:0]  oh, ow, ph, pw,
    input  wire [7:0]  x_zp, y_zp, act_min, act_max,
    input  wire        leaky, acc_load, acc_keep,
    input  wire [1:0]  pool,
    input  wire [7:0]  pkh, pkw, psh, psw, ppt, ppl,
    // the argument copy (cbr_tiny_regs), word index 0..26: ACT_BASE, WGT_BASE, OUT_BASE,
    // PARAM_BASE and CB_PITCH go straight into the working registers (the engine is idle)
    input  wire        cp_wr,
    input  wire [4:0]  cp_idx,
    input  wire [31:0] cp_d,
    // memory pair A (activations): read only
    output wire        a_en,
    output wire [13:0] a_addr,
    input  wire [31:0] a_rdata,
    // memory pair B (weights, outputs, banks, parameters)
    output wire        b_en,
    output wire [3:0]  b_we,
    output wire [13:0] b_addr,
    output wire [31:0] b_wdata,
    input  wire [31:0] b_rdata,
    // counter events
    output wire        ev_busy,
    output wire [4:0]  ev_mac,
    output wire        ev_stall_in,
    output wire        ev_stall_out
);

    // pair B regions (word addresses)
    localparam [1:0] RG_OUT = 2'd2;   // 0x2000: OUT_BASE/4 + k; 0x0000: weights
    localparam [13:0] PAR0 = 14'h3800;

    localparam [4:0] S_IDLE = 5'd0, S_SU = 5'd1, S_OB = 5'd2, S_PIX = 5'd3, S_TAP = 5'd4,
                     S_DRAIN = 5'd5, S_BIAS = 5'd6, S_BIASW = 5'd7, S_KEEP = 5'd8, S_M = 5'd9,
                     S_MW = 5'd10, S_S = 5'd11, S_SW = 5'd12, S_RQ = 5'd13, S_OUT = 5'd14,
                     S_NEXT = 5'd15, S_PWIN = 5'd16, S_PWIN2 = 5'd17, S_PRD = 5'd18,
                     S_PRDW = 5'd19, S_PDIV0 = 5'd20, S_PDIV = 5'd21, S_POUT = 5'd22,
                     S_NOB = 5'd23, S_DONE = 5'd24;

    reg [4:0]  st;
    reg [2:0]  su;          // setup step
    // tile constants (word addresses mod the pair, 14 bits)
    reg [13:0] k_ky, k_oy, pitch, a_row0, a_row;
    // loop state
    reg [11:0] ob, cb;
    reg [3:0]  ky, kx;
    reg [1:0]  r, j;
    reg [8:0]  oy, ox;
    reg [7:0]  p;           // pixel index in the plane (bank word)
    // tap coordinates mod 2^16: a row before the plane (-PAD_T..-1) reads as 65536 - PAD_T
    // and above IN_H, so one unsigned compare finds the padding (docs/tiny.md)
    reg [15:0] iy, ix, iy_pix, ix_pix;
    reg [13:0] a, a_ky, a_cb, a_pix;
    reg [12:0] w, w_ob;     // the tap's weight row, block ob's first
    reg [10:0] pbase;
    reg [11:0] optr;
    reg [31:0] yw;          // the pixel's 4 output bytes, shifted in from the top, lane 0
                            // first; with ACC_KEEP the lane's sum for the bank
    reg        tap_first;   // the tap's first cycle (for MACS)

    // ---- setup products: one 16x16 multiplier ----------------------------------------------
    // its operands are chosen by the state (setup step su, or the pooling window's first row)
    reg  [13:0] mu_a;
    wire [13:0] mu_b = st == S_SU ? in_w[13:0] : {5'd0, ow};
    wire [27:0] mu_p = mu_a * mu_b;
    wire [13:0] unused_mu = mu_p[27:14];
    wire [17:0] unused_cp = {cp_d[31:16], cp_d[1:0]};

    // ---- taps ---------------------------------------------------------------------------------
    wire pad = iy >= in_h || ix >= in_w;
    wire tap_go = st == S_TAP && !hold;
    wire beat = tap_go && !pad;                  // a weight row (and at r = 0 the pixel) read
    wire tap_end = tap_go && (pad || r == 2'd3); // the tap is done this cycle
    // Loop ends compare the incremented index with the bound (one adder per loop, shared
    // with the increment; a bound of 0 means 2^width, as index == bound - 1 would).
    wire [3:0]  kx_n = kx + 4'd1;
    wire [3:0]  ky_n = ky + 4'd1;
    wire [11:0] cb_n = cb + 12'd1;
    wire [11:0] ob_n = ob + 12'd1;
    wire [8:0]  ox_n = ox + 9'd1;
    wire [8:0]  oy_n = oy + 9'd1;
    wire last_kx = kx_n == kw;
    wire last_ky = ky_n == kh;
    wire last_cb = cb_n == n_cb;
    // used rows / columns of the block (for MACS): 4, or in the last block what IN_C / OUT_C
    // leaves (N_CB*4 - 4 < IN_C <= N_CB*4, likewise OUT_C, registers.md)
    wire last_ob = ob_n == n_ob;
    wire [2:0] nr = last_cb && in_c[1:0] != 2'd0 ? {1'b0, in_c[1:0]} : 3'd4;
    wire [2:0] nc = last_ob && out_c[1:0] != 2'd0 ? {1'b0, out_c[1:0]} : 3'd4;
    // One next value per register, shared along the loop nest: a tap steps kx, or (the row's
    // last) ky, or (the channel block's last) cb; otherwise the pixel's first tap (S_PIX).
    wire kx_step = tap_end && !last_kx;
    wire ky_step = tap_end && last_kx && !last_ky;
    wire cb_step = tap_end && last_kx && last_ky && !last_cb;
    wire t_ld = st == S_PIX;
    wire [13:0] a_cb_n = cb_step ? a_cb + pitch : a_pix;
    wire [13:0] a_ky_n = ky_step ? a_ky + k_ky : a_cb_n;
    wire [13:0] a_n = kx_step ? a + {6'd0, dw} : a_ky_n;
    wire last_ox = ox_n == ow;
    wire last_oy = oy_n == oh;
    // the pixel loop: the next pixel in the row, or the next row, or the plane's end
    wire ob_ld = st == S_OB;
    wire n_x = st == S_NEXT && !last_ox;
    wire n_y = st == S_NEXT && last_ox && !last_oy;
    wire n_end = st == S_NEXT && last_ox && last_oy;
    wire [13:0] a_row_n = n_y ? a_row + k_oy : a_row0;
    wire bank = ob[0];

    // ---- the MAC stage: the weight row and (first row) the pixel arrive, 4 products added ------
    // The sums are pure multiply-accumulates, cleared at S_PIX (the bias or the bank's partial
    // sums are added once per lane in S_BIASW), in the form yosys packs whole into an
    // SB_MAC16 (multiplier, adder and accumulator register): 16-bit signed operands, the
    // activation operand 0 in cycles without a row.
    reg        d_v, d_first;
    reg [23:0] x_q;         // the pixel's channels 1..3, shifted down a channel a row
    reg signed [31:0] acc0, acc1, acc2, acc3;
    wire [7:0]  xb = d_first ? a_rdata[7:0] : x_q[7:0];   // channel r (rows come in order)
    wire signed [8:0]  xs = $signed({xb[7], xb}) - $signed({x_zp[7], x_zp});
    wire signed [15:0] xa = d_v ? {{7{xs[8]}}, xs} : 16'sd0;
    wire signed [15:0] w0 = {{8{b_rdata[7]}}, b_rdata[7:0]};
    wire signed [15:0] w1 = {{8{b_rdata[15]}}, b_rdata[15:8]};
    wire signed [15:0] w2 = {{8{b_rdata[23]}}, b_rdata[23:16]};
    wire signed [15:0] w3 = {{8{b_rdata[31]}}, b_rdata[31:24]};
    wire        acc_clr = st == S_PIX;

    always @(posedge clk) begin
        d_v <= beat;
        d_first <= r == 2'd0;
        if (d_v)
            x_q <= d_first ? a_rdata[31:8] : {8'd0, x_q[23:8]};
        if (rst)
            d_v <= 1'b0;
    end

    always @(posedge clk) begin
        if (acc_clr) begin
            acc0 <= 32'sd0;
            acc1 <= 32'sd0;
            acc2 <= 32'sd0;
            acc3 <= 32'sd0;
        end else begin
            acc0 <= acc0 + xa * w0;
            acc1 <= acc1 + xa * w1;
            acc2 <= acc2 + xa * w2;
            acc3 <= acc3 + xa * w3;
        end
    end

    // ---- requantization ----------------------------------------------------------------------
    wire       rq_start = st == S_SW;  // the shift word is on b_rdata in this cycle
    wire       rq_done;
    wire [7:0] rq_y;
    reg signed [31:0] acc_j;
    always @(*) begin
        case (j)
            2'd0: acc_j = acc0;
            2'd1: acc_j = acc1;
            2'd2: acc_j = acc2;
            default: acc_j = acc3;
        endcase
    end
    // the lane's sum + bias (or + the bank's partial sum), int32 wrapping: cbr_tiny_rq takes
    // it in S_BIASW (and keeps its sign for the leaky choice), ACC_KEEP puts it in yw
    wire [31:0] bsum = acc_j + $signed(b_rdata);
    wire       rq_neg;
    wire use_neg = leaky && rq_neg;

    // M0 is on b_rdata in S_MW (cbr_tiny_rq keeps it), the shift in S_SW
    cbr_tiny_rq u_rq (
        .clk(clk), .rst(rst), .take(st == S_BIASW), .acc(bsum), .neg(rq_neg),
        .m_load(st == S_MW), .m0(b_rdata), .start(rq_start), .shift(b_rdata[5:0]),
        .y_zp(y_zp), .act_min(act_min), .act_max(act_max), .done(rq_done), .y(rq_y));

    // ---- pooling -----------------------------------------------------------------------------
    wire gavg = pool == 2'd3;
    wire do_pool = pool != 2'd0 && !acc_keep;
    reg [8:0]  py, px;
    reg signed [11:0] ys, xs_w;   // window origin; saturates past 1023 (beyond any plane)
    reg [8:0]  r1, c0, c1, rr, cc;
    reg [7:0]  rb;
    reg [8:0]  cnt;
    reg signed [16:0] pa;   // the lane's max or sum
    reg        pv;          // a window position was read last cycle
    reg [16:0] dn;          // the division: {remainder, the dividend's bits still to come}
    reg [2:0]  dbit;
    reg [6:0]  dq;          // the quotient's bits so far, shifted in from the bottom
    wire signed [11:0] wy1 = ys + $signed({4'd0, pkh});
    wire signed [11:0] wx1 = xs_w + $signed({4'd0, pkw});
    wire signed [11:0] soh = $signed({3'd0, oh});
    wire signed [11:0] sow = $signed({3'd0, ow});
    wire [8:0] e_r0 = gavg || ys < 0 ? 9'd0 : ys[8:0];
    wire [8:0] e_r1 = gavg || wy1 > soh ? oh : (wy1 < 0 ? 9'd0 : wy1[8:0]);
    wire [8:0] e_c0 = gavg || xs_w < 0 ? 9'd0 : xs_w[8:0];
    wire [8:0] e_c1 = gavg || wx1 > sow ? ow : (wx1 < 0 ? 9'd0 : wx1[8:0]);
    always @(*) begin
        case (st == S_SU ? su : 3'd7)
            3'd1: mu_a = {6'd0, dh};
            3'd2: mu_a = {6'd0, sh};
            3'd3: mu_a = pt[13:0];
            3'd4: mu_a = in_h[13:0];
            default: mu_a = {5'd0, e_r0};
        endcase
    end
    wire [8:0] e_ph = gavg ? 9'd1 : ph;
    wire [8:0] e_pw = gavg ? 9'd1 : pw;
    wire empty = e_r1 <= e_r0 || e_c1 <= e_c0;
    wire p_go = st == S_PRD && !hold;
    wire [8:0] cc_n = cc + 9'd1;
    wire [8:0] rr_n = rr + 9'd1;
    wire [8:0] px_n = px + 9'd1;
    wire [8:0] py_n = py + 9'd1;
    wire last_cc = cc_n == c1;
    wire last_rr = rr_n == r1;
    wire [7:0] ppix = rb + cc[7:0];
    wire kmax = pool == 2'd1;
    // the pooled outputs' loop: the next output in the row, or the next row
    wire pp_x = st == S_POUT && !hold && px_n != e_pw;
    wire pp_y = st == S_POUT && !hold && px_n == e_pw && py_n != e_ph;
    wire signed [11:0] x0 = gavg ? 12'sd0 : -$signed({4'd0, ppl});   // no pp_y when gavg
    wire signed [11:0] y0 = gavg ? 12'sd0 : -$signed({4'd0, ppt});
    wire [11:0] unused_pool = {ys[11:9], xs_w[11:9], wy1[11:9], wx1[11:9]};

    // One lane of a window position: max (y - acc > 0: y) or sum, on one adder.
    function signed [16:0] comb;
        input signed [16:0] acc;
        input [7:0] y8;
        input max;
        reg signed [17:0] t;
        begin
            t = max ? $signed({{10{y8[7]}}, y8}) - $signed({acc[16], acc})
                    : $signed({{10{y8[7]}}, y8}) + $signed({acc[16], acc});
            if (!max)
                comb = t[16:0];
            else if (!t[17] && t != 18'sd0)
                comb = $signed({{9{y8[7]}}, y8});
            else
                comb = acc;
        end
    endfunction

    wire [16:0] dn0 = (pa ^ {17{pa[16]}}) + {9'd0, cnt[8:1]} + {16'd0, pa[16]};  // |pa| + cnt/2
    // Long division of the dividend n (< 256 x cnt: the quotient has 8 bits) by cnt: the
    // remainder starts as n / 256 (< cnt) and takes one bit of n a step, at most 2 cnt - 1.
    wire [9:0]  dv_r = dn[16:7];
    wire [10:0] d_df = {1'b0, dv_r} - {2'd0, cnt};
    wire        d_ge = !d_df[10];
    wire [7:0]  d_q = {dq, d_ge};
    wire        unused_df = d_df[9];
    // the lane's byte for yw: requantized, the window's max, or the rounded average
    wire [7:0]  yb = st == S_RQ ? rq_y : kmax ? pa[7:0] : pa[16] ? 8'd0 - d_q : d_q;
    wire        yb_we = (st == S_RQ && rq_done) || (st == S_PDIV0 && kmax) ||
                        (st == S_PDIV && dbit == 3'd0);

    // ---- memory ports ---------------------------------------------------------------------------
    // Pair B address of each issuing state.
    reg        b_en_c;
    reg [3:0]  b_we_c;
    reg [13:0] b_addr_c;
    reg [31:0] b_wdata_c;
    wire [13:0] bank_w = {3'b110, bank, p, j};           // 0x3000 + bank*1024 + p*4 + j
    // channel j's parameter word: bias (S_BIAS), M0 (S_M) or shift (S_S), or their leaky
    // pair, in the parameter region (mod its 2 048 words)
    wire [2:0]  poff = st == S_BIAS ? 3'd0 : st == S_M ? (use_neg ? 3'd3 : 3'd1) :
                       (use_neg ? 3'd4 : 3'd2);
    wire [13:0] par_w = PAR0 + {3'd0, pbase + {6'd0, j, poff}};
    always @(*) begin
        b_en_c = 1'b0;
        b_we_c = 4'd0;
        b_addr_c = {1'b0, w};
        b_wdata_c = yw;
        case (st)
            S_TAP: b_en_c = !pad;
            S_KEEP: begin
                b_en_c = 1'b1;
                b_we_c = 4'hF;
            end
            S_BIAS: b_en_c = 1'b1;
            S_M: b_en_c = 1'b1;
            S_S: b_en_c = 1'b1;
            S_OUT: begin
                b_en_c = 1'b1;
                b_we_c = 4'hF;
            end
            S_PRD: b_en_c = 1'b1;
            S_POUT: begin
                b_en_c = 1'b1;
                b_we_c = 4'hF;
            end
            default: ;
        endcase
        case (st)
            S_KEEP: b_addr_c = bank_w;
            S_BIAS: b_addr_c = acc_load ? bank_w : par_w;
            S_M: b_addr_c = par_w;
            S_S: b_addr_c = par_w;
            S_OUT: b_addr_c = do_pool ? bank_w : {RG_OUT, optr};   // j is 0
            S_PRD: b_addr_c = {3'b110, bank, ppix, 2'b00};
            S_POUT: b_addr_c = {RG_OUT, optr};
            default: ;
        endcase
    end
    wire b_want = b_en_c;
    assign b_en = b_want && !hold;
    assign b_we = b_we_c;
    assign b_addr = b_addr_c;
    assign b_wdata = b_wdata_c;
    assign a_en = beat && r == 2'd0;
    assign a_addr = a;

    // ---- counters --------------------------------------------------------------------------------
    wire post = st == S_BIAS || st == S_BIASW || st == S_KEEP || st == S_M || st == S_MW ||
                st == S_S || st == S_SW || st == S_RQ || st == S_OUT || st == S_PWIN ||
                st == S_PWIN2 || st == S_PRD || st == S_PRDW || st == S_PDIV0 || st == S_PDIV ||
                st == S_POUT;
    // BUSY counts taps (cbr_core's beats: one per (ob, cb, ky, kx, oy, ox), padding included),
    // MACS their used rows x used columns; both on the tap's first cycle.
    wire tap_start = tap_go && (pad || tap_first);
    assign ev_busy = tap_start;
    assign ev_mac = tap_start ? {2'd0, nr} * {2'd0, nc} : 5'd0;
    assign ev_stall_in = (b_want || st == S_TAP) && hold;
    assign ev_stall_out = post && !ev_stall_in;

    // ---- the sequencer ---------------------------------------------------------------------------
    always @(posedge clk) begin
        run_done <= 1'b0;
        if (pv) begin
            pa <= comb(pa, b_rdata[8*j +: 8], kmax);
            cnt <= cnt + 9'd1;
        end
        pv <= p_go;
        case (st)
            S_IDLE: ;
            S_SU: begin
                // products mod 2^14: dh*IN_W, sh*IN_W, pt*IN_W, IN_H*IN_W
                su <= su + 3'd1;
                case (su)
                    3'd0: ;
                    3'd1: k_ky <= mu_p[13:0];
                    3'd2: k_oy <= mu_p[13:0];
                    3'd3: a_row0 <= a_row0 - mu_p[13:0] - pl[13:0];
                    default: begin
                        // a_row0 held ACT_BASE, pitch CB_PITCH (from the copy)
                        if (pitch == 14'd0)
                            pitch <= mu_p[13:0];
                        st <= S_OB;
                    end
                endcase
            end
            S_OB:
                st <= S_PIX;
            S_PIX: begin
                r <= 2'd0;
                j <= 2'd0;
                tap_first <= 1'b1;
                st <= S_TAP;
            end
            S_TAP:
                if (tap_go) begin
                    r <= pad ? 2'd0 : r + 2'd1;
                    tap_first <= tap_end;
                    if (tap_end && last_kx && last_ky && last_cb)
                        st <= S_DRAIN;
                end
            S_DRAIN:
                if (!d_v)
                    st <= S_BIAS;
            S_BIAS:
                if (!hold)
                    st <= S_BIASW;
            S_BIASW:
                st <= acc_keep ? S_KEEP : S_M;
            S_KEEP:
                if (!hold) begin
                    j <= j + 2'd1;
                    st <= j == 2'd3 ? S_NEXT : S_BIAS;
                end
            S_M:
                if (!hold)
                    st <= S_MW;
            S_MW:
                st <= S_S;
            S_S:
                if (!hold)
                    st <= S_SW;
            S_SW:
                st <= S_RQ;
            S_RQ:
                if (rq_done) begin
                    j <= j + 2'd1;
                    st <= j == 2'd3 ? S_OUT : S_BIAS;
                end
            S_OUT:
                if (!hold) begin
                    if (!do_pool)
                        optr <= optr + 12'd1;
                    st <= S_NEXT;
                end
            S_NEXT:
                st <= !last_ox || !last_oy ? S_PIX : do_pool ? S_PWIN : S_NOB;
            S_PWIN: begin
                // the window, clipped to the plane; its first row's pixel index r0 * OUT_W
                r1 <= e_r1;
                c0 <= e_c0;
                c1 <= e_c1;
                rr <= e_r0;
                cc <= e_c0;
                cnt <= 9'd0;
                pa <= kmax ? -17'sd128 : 17'sd0;
                st <= empty ? S_PRDW : S_PWIN2;
            end
            S_PWIN2: begin
                rb <= mu_p[7:0];
                st <= S_PRD;
            end
            S_PRD:
                if (p_go) begin
                    if (!last_cc) begin
                        cc <= cc_n;
                    end else begin
                        cc <= c0;
                        rr <= rr_n;
                        rb <= rb + ow[7:0];
                        if (last_rr)
                            st <= S_PRDW;
                    end
                end
            S_PRDW:
                st <= S_PDIV0;
            S_PDIV0: begin
                // max: the lane's value; average: (|sum| + cnt/2) / cnt, 8 quotient bits
                dn <= dn0;
                dbit <= 3'd7;
                if (kmax) begin
                    j <= j + 2'd1;
                    st <= j == 2'd3 ? S_POUT : S_PWIN;
                end else begin
                    st <= S_PDIV;
                end
            end
            S_PDIV: begin
                dn <= {d_ge ? d_df[8:0] : dv_r[8:0], dn[6:0], 1'b0};
                dq <= d_q[6:0];
                dbit <= dbit - 3'd1;
                if (dbit == 3'd0) begin
                    j <= j + 2'd1;
                    st <= j == 2'd3 ? S_POUT : S_PWIN;
                end
            end
            S_POUT:
                if (!hold) begin
                    optr <= optr + 12'd1;
                    st <= px_n != e_pw || py_n != e_ph ? S_PWIN : S_NOB;
                end
            S_NOB: begin
                ob <= ob_n;
                pbase <= pbase + 11'd32;
                w_ob <= w;
                st <= last_ob ? S_DONE : S_OB;
            end
            S_DONE: begin
                run_done <= 1'b1;
                st <= S_IDLE;
            end
            default: st <= S_IDLE;
        endcase
        if (st == S_BIASW && acc_keep)
            yw <= bsum;
        else if (yb_we)
            yw <= {yb, yw[31:8]};
        // the pixel loop's registers (S_OB loads the block's first pixel)
        if (ob_ld || n_x || n_y) begin
            ox <= n_x ? ox_n : 9'd0;
            ix_pix <= n_x ? ix_pix + {8'd0, sw} : 16'd0 - pl;
            a_pix <= n_x ? a_pix + {6'd0, sw} : a_row_n;
        end
        if (ob_ld || n_y) begin
            oy <= n_y ? oy_n : 9'd0;
            iy_pix <= n_y ? iy_pix + {8'd0, sh} : 16'd0 - pt;
            a_row <= a_row_n;
        end
        if (ob_ld || st == S_NEXT)
            p <= ob_ld ? 8'd0 : p + 8'd1;
        // the pooled outputs' loop (from the plane's last pixel); the origin saturates
        if (n_end || pp_x || pp_y)
            px <= pp_x ? px_n : 9'd0;
        if (n_end || pp_y)
            py <= pp_y ? py_n : 9'd0;
        if (n_end || pp_y || (pp_x && xs_w < 12'sd1024))
            xs_w <= pp_x ? xs_w + $signed({4'd0, psw}) : x0;
        if (n_end || (pp_y && ys < 12'sd1024))
            ys <= pp_y ? ys + $signed({4'd0, psh}) : y0;
        // the tap loop's registers (S_PIX loads the pixel's first tap)
        if (t_ld || tap_end) begin
            kx <= kx_step ? kx_n : 4'd0;
            ix <= kx_step ? ix + {8'd0, dw} : ix_pix;
            a <= a_n;
        end
        if (t_ld || tap_go)
            w <= t_ld ? w_ob : w + (pad ? 13'd4 : 13'd1);   // a row a beat, a tap in the padding
        if (t_ld || ky_step || cb_step)
            a_ky <= a_ky_n;
        if (t_ld || (tap_end && last_kx)) begin
            ky <= ky_step ? ky_n : 4'd0;
            iy <= ky_step ? iy + {8'd0, dh} : iy_pix;
        end
        if (t_ld || cb_step) begin
            cb <= cb_step ? cb_n : 12'd0;
            a_cb <= a_cb_n;
        end
        if (cp_wr)
            case (cp_idx)
                5'd19: a_row0 <= cp_d[15:2];
                5'd20: w_ob <= cp_d[14:2];
                5'd21: optr <= cp_d[13:2];
                5'd22: pbase <= cp_d[12:2];
                5'd26: pitch <= cp_d[15:2];
                default: ;
            endcase
        if (go) begin
            su <= 3'd0;
            ob <= 12'd0;
            st <= n_ob == 12'd0 ? S_DONE : S_SU;
        end
        if (rst) begin
            st <= S_IDLE;
            run_done <= 1'b0;
        end
    end

endmodule
`resetall
