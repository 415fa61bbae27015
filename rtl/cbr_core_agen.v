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
//
// The activation buffer is NG banks (the top log2(NG) word-address bits); a dense beat reads
// the one bank its address falls in. Depthwise mode (dwm, MODE bit 1; docs/core.md,
// "Depthwise mode"): the array's rows are NG groups of 4 taps (one kernel row per group,
// 4 consecutive kernel columns), its columns COLS channels. A pass is (ob, kyc, kxc): kernel
// rows kyc*NG .. +NG-1, columns kxc*4 .. +3. For each output row the generator emits a
// stream of L = sw*(OW-1) + KWc elements (KWc = the pass's kernel columns), one per cycle,
// element s being input column ix0 + s; elements s = ox*sw are beats (output pixel ox). Each
// element reads, for every group g, input row iy0 + g of the channel block, which sits in
// bank iy mod NG (the host stores row y there, docs/registers.md): the NG groups always
// read NG different banks. Group g's word reaches the array g*4 cycles after group 0's, so
// array row g*4 + k of a beat sees element beat + k: kernel column kxc*4 + k.
module cbr_core_agen #(
    parameter ROWS = 16,  // array rows: channels per beat (bytes per activation word)
    parameter COLS = 16,  // array columns: output channels per block
    parameter AW_A = 12,  // activation buffer word-address bits
    parameter DW = 11,    // bits of the conv output plane dimensions
    parameter MW = 10,    // bits of the useful MACs of one beat: >= clog2(ROWS+1) + clog2(COLS+1)
    parameter NG = 1      // activation banks = depthwise groups (a power of 2, <= ROWS/4)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              go,        // start of a tile: run registers valid
    input  wire              running,
    input  wire              bank0,     // bank of output block 0
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
    input  wire              dwm,       // depthwise mode (MODE bit 1, when supported)
    // gating
    input  wire              w_ok,      // the pending pass's weights are loading/loaded
    input  wire [1:0]        b_ready,   // the bank is claimed for its next block
    input  wire [1:0]        b_loading, // the bank's parameters are being loaded
    output wire              consume,   // a pass's first beat was issued
    output wire              consume_final,  // ... of the tile's last pass
    output wire              bg_first,  // the first beat of an output block was issued
    output wire              bg_bank,   // ... on this bank
    // activation buffer banks, compute ports (read-only): bank k at [k*..]
    output wire [NG-1:0]                      k_en,
    output wire [NG*(AW_A-$clog2(NG))-1:0]    k_addr,
    input  wire [NG*8*ROWS-1:0]               k_rdata,
    // array input
    output reg               arr_valid,
    output reg               arr_sw,
    output reg  [8*ROWS-1:0] arr_x,
    output reg  [4:0]        arr_user,
    output wire [NG*8*ROWS-1:0] arr_dwx,  // depthwise group buses, group g at [8*ROWS*g +:]
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
    localparam LG = $clog2(NG);                // bank bits
    localparam LGW = LG > 0 ? LG : 1;
    localparam AW_B = AW_A - LG;               // bank word-address bits
    localparam RB = 4;                         // depthwise taps per group (array DW_RB)
    localparam integer NGI = NG;
    localparam [7:0] NG8 = NGI[7:0];
    localparam [7:0] NGM = NG8 - 8'd1;

    generate
        if (MW < RUW + CUW) begin : g_bad_mw
            cbr_core_agen_error_mw_too_small u_err ();
        end
        if (NG < 1 || (1 << LG) != NG || NG * RB > ROWS && NG > 1) begin : g_bad_ng
            cbr_core_agen_error_ng u_err ();
        end
        if (AW_A < 8 || AW_A > 20) begin : g_bad_aw
            cbr_core_agen_error_activation_buffer_must_be_256_to_1m_words u_err ();
        end
    endgenerate

    // ---- products taken once per tile ----------------------------------------------------
    // Registered at the end of the go cycle: valid from the cycle after go, when the pass
    // generator makes its first step.
    // Depthwise mode: IN_H counts bank rows (ceil(IN_H/NG)), a kernel-row chunk is one bank
    // row (IN_W words), the row step is (sh div NG) bank rows plus a carry per group, the pad
    // is (pt div NG) bank rows plus one for the groups below pt mod NG.
    reg [AW_A-1:0] dhw, shw, ptw;        // dh*IN_W, sh*IN_W, pt*IN_W (mod 2^AW_A); dw: see above
    reg [AW_A-1:0] cbs;                  // channel-block stride: cb_pitch, or IN_H*IN_W if 0
    reg [CW-1:0]   swow;                 // sw*(OW-1)
    reg [7:0]      ptb;                  // pt mod NG
    reg [15:0]     e_ncb;                // loop bounds and steps of the pass generator
    reg [3:0]      e_kh, e_kw;
    reg [7:0]      e_dh, e_dw;
    wire [16:0]    hq = dwm ? ({1'b0, in_h} + {9'd0, NGM}) >> LG : {1'b0, in_h};
    wire [15:0]    ptq = dwm ? pt >> LG : pt;
    wire [7:0]     shq = dwm ? sh >> LG : sh;
    wire [32:0]    p_hw = {16'd0, hq} * {17'd0, in_w};
    wire [23:0]    p_dhw = dwm ? {8'd0, in_w} : {16'd0, dh} * {8'd0, in_w};
    wire [23:0]    p_shw = {16'd0, shq} * {8'd0, in_w};
    wire [31:0]    p_ptw = {16'd0, ptq} * {16'd0, in_w};
    wire [DW-1:0]  owm1 = ow - 1'b1;
    wire [DW+7:0]  p_sww = {{DW{1'b0}}, sw} * {8'd0, owm1};
    wire [7:0]     kh8 = {4'd0, kh} + NGM;
    wire [7:0]     kw8 = {4'd0, kw} + 8'd3;
    wire [33+2*24+32-4*AW_A-1:0] unused_prod =
        {p_hw[32:AW_A], p_dhw[23:AW_A], p_shw[23:AW_A], p_ptw[31:AW_A]};

    always @(posedge clk) begin
        if (go) begin
            dhw <= p_dhw[AW_A-1:0];
            shw <= p_shw[AW_A-1:0];
            ptw <= p_ptw[AW_A-1:0];
            cbs <= cb_pitch == {AW_A{1'b0}} ? p_hw[AW_A-1:0] : cb_pitch;
            swow <= {{(CW-DW-8){1'b0}}, p_sww};
            ptb <= pt[7:0] & NGM;
            e_ncb <= dwm ? 16'd1 : n_cb;
            e_kh <= dwm ? kh8[LG +: 4] : kh;
            e_kw <= dwm ? kw8[5:2] : kw;
            e_dh <= dwm ? NG8 : dh;
            e_dw <= dwm ? 8'd4 : dw;
        end
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
    reg [2:0]            s_kwc;          // depthwise: kernel columns of the pass, 1..4

    wire kx_last = pg_kx == e_kw - 4'd1;
    wire ky_last = pg_ky == e_kh - 4'd1;
    wire cb_last = pg_cb == e_ncb - 16'd1;
    wire ob_last = pg_ob == n_ob - 16'd1;

    wire signed [CW-1:0] d_iy0 = $signed({{(CW-12){1'b0}}, kyd}) - $signed({{(CW-16){1'b0}}, pt});
    wire signed [CW-1:0] d_ix0 = $signed({{(CW-12){1'b0}}, kxd}) - $signed({{(CW-16){1'b0}}, pl});
    wire [CW-1:0]        d_ix0u = d_ix0;
    wire [AW_A-1:0]      d_arow = cboff + kydw - ptw + (dwm ? {AW_A{1'b0}} : d_ix0u[AW_A-1:0]);
    wire [16:0]          rows_left = {1'b0, in_c} - cbr;
    wire [16:0]          cols_left = {1'b0, out_c} - obc;
    wire [RUW-1:0]       ru = rows_left[16] ? {RUW{1'b0}} :
                              (rows_left >= R17 ? RFULL : rows_left[RUW-1:0]);
    wire [CUW-1:0]       cu = cols_left[16] ? {CUW{1'b0}} :
                              (cols_left >= C17 ? CFULL : cols_left[CUW-1:0]);
    // depthwise: taps of the pass (kernel rows min(NG, KH - kyc*NG) x columns min(4, ..))
    wire [11:0]          ky_left = {8'd0, kh} - kyd;
    wire [11:0]          kx_left = {8'd0, kw} - kxd;
    wire [11:0]          ty = ky_left >= {4'd0, NG8} ? {4'd0, NG8} : ky_left;
    wire [2:0]           tx = kx_left >= 12'd4 ? 3'd4 : kx_left[2:0];
    wire [11:0]          taps = ty * {9'd0, tx};
    wire [RUW-1:0]       ru_e = dwm ? taps[RUW-1:0] : ru;
    wire [RUW+CUW-1:0]   d_mac = ru_e * cu;
    wire [11-RUW:0]      unused_taps = taps[11:RUW];
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
            s_bank <= pg_ob[0] ^ bank0;
            s_mac <= {{(MW-RUW-CUW){1'b0}}, d_mac};
            s_kwc <= tx;
            if (!kx_last) begin
                pg_kx <= pg_kx + 4'd1;
                kxd <= kxd + {4'd0, e_dw};
            end else begin
                pg_kx <= 4'd0;
                kxd <= 12'd0;
                if (!ky_last) begin
                    pg_ky <= pg_ky + 4'd1;
                    kyd <= kyd + {4'd0, e_dh};
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
                        cboff <= dwm ? cboff + cbs : act_base;   // dw: block ob's input
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
    reg                 bg_has;          // cur_* is a beat (dw: a stream element) to issue
    reg                 c_sw;            // it is the first beat of its pass
    reg                 c_first, c_last, c_final, c_bank;
    reg [MW-1:0]        c_mac;
    reg [DW-1:0]        oy, ox;
    reg signed [CW-1:0] iy, ix, ix0;
    reg [AW_A-1:0]      arow, acur;
    // depthwise: element index in the output row, the next beat's element, the row's last
    reg [CW-1:0]        es, nb, lasts;
    // depthwise, per group g: input row, its bank-row address, its bank (iy mod NG)
    // (registers in g_grp below; here their flat views)
    wire [NG*CW-1:0]    giy_v;
    wire [NG*LGW-1:0]   grem_v;

    wire gate = !c_sw || (w_ok && (!c_first || b_ready[c_bank]));
    wire issue = running && bg_has && gate;
    wire ox_last = ox == ow - 1'b1;
    wire oy_last = oy == oh - 1'b1;
    wire eop = ox_last && oy_last;
    wire d_beat = ox != ow && es == nb;          // dw: this element is a beat
    wire d_rowend = es == lasts;
    wire d_eop = d_beat && eop;                  // dw: the pass's last beat
    wire pass_end = dwm ? d_rowend && oy_last : eop;
    wire beat = !dwm || d_beat;
    assign s_take = s_v && (!bg_has || (issue && pass_end));

    wire signed [CW-1:0] ih = $signed({{(CW-16){1'b0}}, in_h});
    wire signed [CW-1:0] iw = $signed({{(CW-16){1'b0}}, in_w});
    wire inrange = !iy[CW-1] && iy < ih && !ix[CW-1] && ix < iw;
    wire ix_in = !ix[CW-1] && ix < iw;

    wire signed [CW-1:0] sh_s = $signed({{(CW-8){1'b0}}, sh});
    wire signed [CW-1:0] sw_s = $signed({{(CW-8){1'b0}}, sw});
    wire [CW-1:0]        ixu = ix;
    wire [7:0]           shl = sh & NGM;     // sh mod NG
    wire [31:0]          inw32 = {16'd0, in_w};
    wire [AW_A-1:0]      inw_a = inw32[AW_A-1:0];   // IN_W, mod the buffer
    wire [8+8+CW+8+32-1:0] unused_bits = {kh8, kw8, ixu, shl, inw32};

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
            es <= {CW{1'b0}};
            nb <= {CW{1'b0}};
            lasts <= swow + {{(CW-3){1'b0}}, s_kwc} - 1'b1;
        end else if (issue && dwm) begin
            c_sw <= 1'b0;
            if (d_beat) begin
                ox <= ox + 1'b1;
                nb <= nb + {{(CW-8){1'b0}}, sw};
            end
            if (d_rowend) begin
                if (oy_last) begin
                    bg_has <= 1'b0;
                end else begin
                    oy <= oy + 1'b1;
                    ox <= {DW{1'b0}};
                    es <= {CW{1'b0}};
                    nb <= {CW{1'b0}};
                    ix <= ix0;
                end
            end else begin
                es <= es + 1'b1;
                ix <= ix + $signed({{(CW-1){1'b0}}, 1'b1});
            end
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

    // ---- bank ports ------------------------------------------------------------------------
    // Dense: the bank of acur's top bits. Depthwise: bank k serves the group whose row is in
    // it (the NG groups' rows are consecutive, so each bank serves exactly one group).
    wire [NG*AW_B-1:0] g_addr;           // group g's bank-local word address
    wire [NG-1:0]      g_in;             // group g's tap is inside the tile
    wire               d_rowstep = issue && dwm && d_rowend && !oy_last;
    genvar gg, kk;
    generate
        for (gg = 0; gg < NG; gg = gg + 1) begin : g_grp
            localparam integer GI = gg;
            localparam [CW-1:0] GCW = GI[CW-1:0];
            localparam [7:0] G8 = GI[7:0];
            reg signed [CW-1:0] giy;     // input row
            reg [AW_A-1:0]      grow;    // its bank-row word address (+ ix: the tap)
            reg [LGW-1:0]       grem;    // its bank, iy mod NG
            wire [LGW:0]        rsum = {1'b0, grem} + {1'b0, shl[LGW-1:0]};
            always @(posedge clk) begin
                if (s_take) begin
                    giy <= s_iy0 + $signed(GCW);
                    grow <= s_arow - (G8 < ptb ? inw_a : {AW_A{1'b0}});
                    grem <= G8[LGW-1:0] - ptb[LGW-1:0];
                end else if (d_rowstep) begin
                    giy <= giy + sh_s;
                    if (NG > 1 && rsum >= NG8[LGW:0])
                        grow <= grow + shw + inw_a;
                    else
                        grow <= grow + shw;
                    grem <= rsum[LGW-1:0];   // mod NG
                end
            end
            wire [AW_A-1:0] ga = grow + ixu[AW_A-1:0];
            assign g_addr[gg*AW_B +: AW_B] = ga[AW_B-1:0];
            assign g_in[gg] = ix_in && !giy[CW-1] && giy < ih;
            assign giy_v[gg*CW +: CW] = giy;
            assign grem_v[gg*LGW +: LGW] = grem;
            if (LG > 0) begin : g_unused_hi
                wire [LGW-1:0] unused_ga = ga[AW_A-1 -: LGW];
            end
        end
        for (kk = 0; kk < NG; kk = kk + 1) begin : g_bank
            localparam integer KI = kk;
            localparam [LGW-1:0] KB = KI[LGW-1:0];
            reg [AW_B-1:0] dsel;
            integer m;
            always @(*) begin
                dsel = {AW_B{1'b0}};
                for (m = 0; m < NG; m = m + 1)
                    if (grem_v[m*LGW +: LGW] == KB)
                        dsel = dsel | g_addr[m*AW_B +: AW_B];
            end
            if (LG > 0) begin : g_multi
                assign k_en[kk] = issue && (dwm || acur[AW_A-1 -: LGW] == KB);
            end else begin : g_single
                assign k_en[kk] = issue;
            end
            assign k_addr[kk*AW_B +: AW_B] = dwm ? dsel : acur[AW_B-1:0];
        end
    endgenerate
    wire [NG*CW-1:0] unused_giy = giy_v;

    // ---- feed pipeline -------------------------------------------------------------------
    reg             f_v, f_sw, f_in;
    reg [4:0]       f_user;
    reg [LGW-1:0]   f_bank;              // dense: the bank read
    reg [NG*LGW-1:0] f_rem;              // dw: group g's bank
    reg [NG-1:0]    f_gin;
    reg [NG*8*ROWS-1:0] dwx;             // dw: group words, before the group skew
    wire [LGW-1:0]  fb = LG > 0 ? f_bank : {LGW{1'b0}};
    integer q;
    always @(posedge clk) begin
        f_v <= issue && beat;
        f_sw <= c_sw;
        f_in <= inrange;
        f_gin <= g_in;
        f_bank <= acur[AW_A-1 -: LGW];
        f_rem <= grem_v;
        f_user <= {c_sw, c_first, c_last, c_bank, dwm ? d_eop : eop};
        arr_valid <= f_v;
        arr_sw <= f_sw;
        arr_x <= f_in ? k_rdata[8*ROWS*fb +: 8*ROWS] : {ROWS{x_zp}};
        for (q = 0; q < NG; q = q + 1)
            dwx[8*ROWS*q +: 8*ROWS] <= f_gin[q] ? k_rdata[8*ROWS*f_rem[LGW*q +: LGW] +: 8*ROWS] :
                                       {ROWS{x_zp}};
        arr_user <= f_user;
        if (rst || go) begin
            f_v <= 1'b0;
            arr_valid <= 1'b0;
        end
    end

    // Group g's word reaches the array g*4 cycles after group 0's (array row g*4 + k of a
    // beat takes the word of the element k after it, presented g*4 + k cycles later).
    generate
        for (gg = 0; gg < NG; gg = gg + 1) begin : g_skew
            cbr_delay #(.W(8*ROWS), .D(RB*gg), .RESET(0)) u_d (
                .clk(clk), .rst(rst), .in(dwx[8*ROWS*gg +: 8*ROWS]),
                .out(arr_dwx[8*ROWS*gg +: 8*ROWS]));
        end
    endgenerate

    // ---- counter events ------------------------------------------------------------------
    wire waiting = running && bg_has && !issue;
    assign ev_busy = issue && beat;
    assign ev_mac = issue && beat ? c_mac : {MW{1'b0}};
    assign ev_stall_out = waiting && c_sw && w_ok && c_first && !b_ready[c_bank] &&
                          !b_loading[c_bank];
    assign ev_stall_in = (waiting && !ev_stall_out) || (running && !bg_has && (pg_act || s_v));

endmodule
`resetall
