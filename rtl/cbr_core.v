`resetall
`default_nettype none
// cbr_core - the accelerator core: buffers, loop-nest address generation, the systolic
// array, int32 accumulation, requantization / activation / pooling, the ap_ctrl_hs register
// block and the performance counters (docs/core.md; the host contract is
// docs/registers.md).
//
// Why this shape: one tile is a loop nest (output block, input block, ky, kx, oy, ox) whose
// innermost two loops stream one pixel per cycle through a weight-stationary array. Each
// (ob, cb, ky, kx) is a pass with fixed weights, loaded into the array's shadow registers
// during the previous pass; the partial sums of a pass go to an int32 accumulator bank that
// holds the block's whole conv plane; after the block's last pass the drain requantizes and
// pools that bank into the output buffer while the next block accumulates in the other
// bank. Nothing waits in steady state, so the array takes a beat every cycle.
//
// Across tiles: a start requested while a tile runs is taken the cycle after it finishes
// (the arguments are copied then), so the host queues the next tile; every tile starts at
// bank 0, and MODE.ACC_KEEP (no drain: the int32 sums stay in the banks) / MODE.ACC_LOAD
// (first passes add to the banks) chain the input-channel blocks of a tile over several
// RUNs. ACT_CB_PITCH sets the stride between input-channel blocks, so a tile can be a window
// of a larger resident input region.
//
//   host (cbr_cmd) --reg port--> cbr_core_regs --run copy, go--> all units
//   host (cbr_cmd) --buf port--> 4 x cbr_core_buf (act, wgt, param, out)
//   host (cbr_cmd) --copy port--> act, wgt, out: a whole word a cycle, buffer to buffer
//   act buf -> cbr_core_agen -> cbr_array <- cbr_core_wload <- wgt buf
//   cbr_array -> cbr_core_acc (2 banks) <- biases: cbr_core_param <- param buf
//   cbr_core_acc bank -> cbr_core_post (requant, pool) -> out buf
//   cbr_core_ctrl: which bank is loaded / full / drained
//
// Depthwise mode (MODE bit 1, square arrays only: DWOK): the array's depthwise mode (taps on
// the rows in NG = ROWS/4 groups of 4, channels on the columns); the activation buffer is NG
// banks (its top address bits) so that the NG groups read NG input rows per cycle
// (cbr_core_agen, docs/core.md "Depthwise mode"). On other shapes the bit is ignored.
module cbr_core #(
    parameter ROWS = 16,                // array rows (input channels per block): power of 2, >= 4
    parameter COLS = 16,                // array columns (output channels per block): power of 2, >= 4
    parameter ACT_BYTES = 524288,       // activation buffer (buffer 0) bytes: power of 2
    parameter WGT_BYTES = 524288,       // weight buffer (buffer 1) bytes: power of 2
    parameter PARAM_ENTRIES = 2048,     // parameter buffer (buffer 2) channels (32 bytes each)
    parameter OUT_BYTES = 131072,       // output buffer (buffer 3) bytes: power of 2
    parameter ACC_PIXELS = 1024         // accumulator bank size in output pixels: power of 2
) (
    input  wire        clk,
    input  wire        rst,
    // register port (cbr_cmd): read data the cycle after reg_re
    input  wire        reg_we,
    input  wire        reg_re,
    input  wire [11:0] reg_addr,
    input  wire [31:0] reg_wdata,
    output wire [31:0] reg_rdata,
    // buffer port (cbr_cmd): a write side and a read side, read data the cycle after buf_re;
    // a write and a read may come in one cycle, to different buffers
    input  wire        buf_we,
    input  wire [1:0]  buf_wid,
    input  wire [31:0] buf_waddr,
    input  wire [31:0] buf_wdata,
    input  wire [3:0]  buf_wstrb,
    input  wire        buf_re,
    input  wire [1:0]  buf_rid,
    input  wire [31:0] buf_raddr,
    output wire [31:0] buf_rdata,
    // copy port (cbr_cmd's BUF_COPY, square arrays: words of ROWS = COLS bytes; ignored
    // otherwise): read the word at byte address cp_raddr of buffer cp_rid (0, 1 or 3) in the
    // cycle of cp_re, write it at cp_waddr of cp_wid in the next (cp_we). Port A only: the
    // compute side keeps running.
    input  wire        cp_re,
    input  wire [1:0]  cp_rid,
    input  wire [31:0] cp_raddr,
    input  wire        cp_we,
    input  wire [1:0]  cp_wid,
    input  wire [31:0] cp_waddr,
    // control
    input  wire        core_start,  // pulse: as a write of ap_start
    input  wire        core_reset   // pulse: abort the tile, back to idle
);

    localparam PARAM_BYTES = 32 * PARAM_ENTRIES;
    localparam AW_A = $clog2(ACT_BYTES / ROWS);
    localparam AW_W = $clog2(WGT_BYTES / COLS);
    localparam AW_P = $clog2(PARAM_BYTES / 4);
    localparam AW_O = $clog2(OUT_BYTES / COLS);
    localparam PIXW = $clog2(ACC_PIXELS);
    localparam DW = PIXW + 1;
    localparam MW = $clog2(ROWS + 1) + $clog2(COLS + 1);
    localparam RBW = $clog2(ROWS);
    localparam DWOK = ROWS == COLS;          // depthwise mode supported
    localparam NG = DWOK ? ROWS / 4 : 1;     // depthwise groups = activation banks
    localparam LG = $clog2(NG);
    localparam AW_B = AW_A - LG;             // bank word-address bits

    generate
        if (ROWS < 4 || (1 << $clog2(ROWS)) != ROWS || COLS < 4 ||
            (1 << $clog2(COLS)) != COLS) begin : g_bad_shape
            cbr_core_error_rows_cols_must_be_powers_of_two_at_least_4 u_err ();
        end
        if ((1 << AW_A) * ROWS != ACT_BYTES || (1 << AW_W) * COLS != WGT_BYTES ||
            (1 << AW_P) * 4 != PARAM_BYTES || (1 << AW_O) * COLS != OUT_BYTES ||
            (1 << PIXW) != ACC_PIXELS) begin : g_bad_size
            cbr_core_error_buffer_sizes_must_be_powers_of_two u_err ();
        end
    endgenerate

    wire crst = rst || core_reset;   // control state of a tile

    // ---- registers -------------------------------------------------------------------------
    wire            take, go, running, take_ok, tile_done, drain_more;
    wire            r_bank0;
    wire            ev_busy, ev_stall_in, ev_stall_out;
    wire [MW-1:0]   ev_mac;
    wire [15:0]     r_in_h, r_in_w, r_n_cb, r_n_ob, r_pt, r_pl, r_in_c, r_out_c;
    wire [3:0]      r_kh, r_kw;
    wire [7:0]      r_sh, r_sw, r_dh, r_dw, r_x_zp, r_y_zp, r_act_min, r_act_max;
    wire [7:0]      r_pkh, r_pkw, r_psh, r_psw, r_ppt, r_ppl;
    wire [DW-1:0]   r_oh, r_ow, r_ph, r_pw;
    wire            r_leaky, r_dwise, r_acc_load, r_acc_keep;
    wire [1:0]      r_pool;
    wire [AW_A-1:0] r_act_base, r_cb_pitch;
    wire [AW_W-1:0] r_wgt_base;
    wire [AW_O-1:0] r_out_base;
    wire [AW_P-1:0] r_param_base;

    cbr_core_regs #(
        .ROWS(ROWS), .COLS(COLS), .AW_A(AW_A), .AW_W(AW_W), .AW_P(AW_P), .AW_O(AW_O),
        .DW(DW), .MW(MW)
    ) u_regs (
        .clk(clk), .rst(rst), .core_reset(core_reset), .core_start(core_start),
        .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata),
        .take(take), .go(go), .running(running), .take_ok(take_ok), .tile_done(tile_done),
        .drain_more(drain_more),
        .ev_busy(ev_busy), .ev_mac(ev_mac), .ev_stall_in(ev_stall_in),
        .ev_stall_out(ev_stall_out),
        .r_in_h(r_in_h), .r_in_w(r_in_w), .r_n_cb(r_n_cb), .r_n_ob(r_n_ob),
        .r_kh(r_kh), .r_kw(r_kw), .r_sh(r_sh), .r_sw(r_sw), .r_dh(r_dh), .r_dw(r_dw),
        .r_pt(r_pt), .r_pl(r_pl), .r_oh(r_oh), .r_ow(r_ow), .r_x_zp(r_x_zp),
        .r_y_zp(r_y_zp), .r_act_min(r_act_min), .r_act_max(r_act_max), .r_leaky(r_leaky), .r_dwise(r_dwise),
        .r_acc_load(r_acc_load), .r_acc_keep(r_acc_keep), .r_pool(r_pool), .r_pkh(r_pkh), .r_pkw(r_pkw), .r_psh(r_psh), .r_psw(r_psw),
        .r_ppt(r_ppt), .r_ppl(r_ppl), .r_ph(r_ph), .r_pw(r_pw),
        .r_act_base(r_act_base), .r_cb_pitch(r_cb_pitch), .r_wgt_base(r_wgt_base), .r_out_base(r_out_base),
        .r_param_base(r_param_base), .r_bank0(r_bank0), .r_in_c(r_in_c), .r_out_c(r_out_c)
    );

    // ---- buffers ---------------------------------------------------------------------------
    wire [31:0]        h_rd0, h_rd1, h_rd2, h_rd3;
    wire               w_en, p_en, o_en;
    wire [NG-1:0]      k_en;
    wire [NG*AW_B-1:0] k_addr;
    wire [NG*8*ROWS-1:0] k_rdata;
    wire [AW_W-1:0]    w_addr;
    wire [AW_P-1:0]    p_addr;
    wire [AW_O-1:0]    o_addr;
    wire [8*COLS-1:0]  w_rdata, o_wdata, unused_o_rdata;
    wire [31:0]        p_rdata, unused_x_rd2;

    // The copy port: the wide side of port A of buffers 0 (the bank its address falls in, as
    // for the host port), 1 and 3. The word read in cycle t is the source's port-A read
    // register in t+1, written straight into the destination (never the same buffer).
    localparam CP = ROWS == COLS;
    localparam LGW = LG > 0 ? LG : 1;
    wire [NG-1:0]        x_re0, x_we0;
    wire [NG*AW_B-1:0]   x_addr0;
    wire [NG*8*ROWS-1:0] x_rd0;
    wire                 x_re1, x_we1, x_re3, x_we3;
    wire [AW_W-1:0]      x_addr1;
    wire [AW_O-1:0]      x_addr3;
    wire [8*COLS-1:0]    x_rd1, x_rd3;
    wire [8*ROWS-1:0]    x_wd0;
    wire [8*COLS-1:0]    x_wd13;
    generate
        if (CP) begin : g_copy
            localparam LR = $clog2(ROWS);
            wire [LGW-1:0] rbank = NG > 1 ? cp_raddr[LR + AW_B +: LGW] : {LGW{1'b0}};
            wire [LGW-1:0] wbank = NG > 1 ? cp_waddr[LR + AW_B +: LGW] : {LGW{1'b0}};
            reg  [1:0]     src_q;
            reg  [LGW-1:0] rbank_q;
            always @(posedge clk)
                if (cp_re) begin
                    src_q <= cp_rid;
                    rbank_q <= rbank;
                end
            genvar cb;
            for (cb = 0; cb < NG; cb = cb + 1) begin : g_bank
                wire w = cp_we && cp_wid == 2'd0 && wbank == cb;
                assign x_re0[cb] = cp_re && cp_rid == 2'd0 && rbank == cb;
                assign x_we0[cb] = w;
                assign x_addr0[AW_B*cb +: AW_B] = w ? cp_waddr[LR +: AW_B] : cp_raddr[LR +: AW_B];
            end
            assign x_re1 = cp_re && cp_rid == 2'd1;
            assign x_we1 = cp_we && cp_wid == 2'd1;
            assign x_addr1 = x_we1 ? cp_waddr[LR +: AW_W] : cp_raddr[LR +: AW_W];
            assign x_re3 = cp_re && cp_rid == 2'd3;
            assign x_we3 = cp_we && cp_wid == 2'd3;
            assign x_addr3 = x_we3 ? cp_waddr[LR +: AW_O] : cp_raddr[LR +: AW_O];
            assign x_wd0 = src_q == 2'd0 ? x_rd0[8*ROWS*rbank_q +: 8*ROWS]
                         : src_q == 2'd1 ? x_rd1 : x_rd3;
            assign x_wd13 = x_wd0;
            wire unused_cp = &{1'b0, cp_raddr, cp_waddr};  // the bits above a buffer's
        end else begin : g_no_copy
            assign x_re0 = {NG{1'b0}};
            assign x_we0 = {NG{1'b0}};
            assign x_addr0 = {(NG*AW_B){1'b0}};
            assign {x_re1, x_we1, x_re3, x_we3} = 4'd0;
            assign x_addr1 = {AW_W{1'b0}};
            assign x_addr3 = {AW_O{1'b0}};
            assign x_wd0 = {(8*ROWS){1'b0}};
            assign x_wd13 = {(8*COLS){1'b0}};
            wire unused_cp = &{1'b0, cp_re, cp_rid, cp_raddr, cp_we, cp_wid, cp_waddr, x_rd0,
                               x_rd1, x_rd3};
        end
    endgenerate

    // The host side of buffer i: the write if it is for i, else the read (never both).
    wire [3:0]  h_we_i, h_re_i;
    wire [31:0] h_addr_i [0:3];
    genvar bi;
    generate
        for (bi = 0; bi < 4; bi = bi + 1) begin : g_hport
            assign h_we_i[bi] = buf_we && buf_wid == bi;
            assign h_re_i[bi] = buf_re && buf_rid == bi;
            assign h_addr_i[bi] = h_we_i[bi] ? buf_waddr : buf_raddr;
        end
    endgenerate

    // The activation buffer: NG banks of 2^AW_B words, bank k = word addresses k*2^AW_B ..
    wire [32*NG-1:0]   h_rd0k;
    reg  [LGW-1:0]     h_bank_q;
    wire [LGW-1:0]     h_bank = NG > 1 ? h_addr_i[0][$clog2(ROWS) + AW_B +: LGW]
                                       : {LGW{1'b0}};
    genvar bk;
    generate
        for (bk = 0; bk < NG; bk = bk + 1) begin : g_act
            cbr_core_buf #(.WB(ROWS), .AW(AW_B)) u_act (
                .clk(clk), .h_sel(h_bank == bk), .h_we(h_we_i[0]),
                .h_re(h_re_i[0]), .h_addr(h_addr_i[0]), .h_wdata(buf_wdata),
                .h_wstrb(buf_wstrb),
                .h_rdata(h_rd0k[32*bk +: 32]),
                .x_re(x_re0[bk]), .x_we(x_we0[bk]), .x_addr(x_addr0[AW_B*bk +: AW_B]),
                .x_wdata(x_wd0), .x_rdata(x_rd0[8*ROWS*bk +: 8*ROWS]),
                .c_en(k_en[bk]), .c_we({ROWS{1'b0}}), .c_addr(k_addr[AW_B*bk +: AW_B]),
                .c_wdata({(8*ROWS){1'b0}}), .c_rdata(k_rdata[8*ROWS*bk +: 8*ROWS]));
        end
    endgenerate
    always @(posedge clk)
        if (h_re_i[0])
            h_bank_q <= h_bank;
    assign h_rd0 = h_rd0k[32*h_bank_q +: 32];

    cbr_core_buf #(.WB(COLS), .AW(AW_W)) u_wgt (
        .clk(clk), .h_sel(1'b1), .h_we(h_we_i[1]), .h_re(h_re_i[1]), .h_addr(h_addr_i[1]),
        .h_wdata(buf_wdata), .h_wstrb(buf_wstrb), .h_rdata(h_rd1),
        .x_re(x_re1), .x_we(x_we1), .x_addr(x_addr1), .x_wdata(x_wd13), .x_rdata(x_rd1),
        .c_en(w_en), .c_we({COLS{1'b0}}), .c_addr(w_addr), .c_wdata({(8*COLS){1'b0}}),
        .c_rdata(w_rdata));

    cbr_core_buf #(.WB(4), .AW(AW_P)) u_par (
        .clk(clk), .h_sel(1'b1), .h_we(h_we_i[2]), .h_re(h_re_i[2]), .h_addr(h_addr_i[2]),
        .h_wdata(buf_wdata), .h_wstrb(buf_wstrb), .h_rdata(h_rd2),
        .x_re(1'b0), .x_we(1'b0), .x_addr({AW_P{1'b0}}), .x_wdata(32'd0),
        .x_rdata(unused_x_rd2),
        .c_en(p_en), .c_we(4'd0), .c_addr(p_addr), .c_wdata(32'd0), .c_rdata(p_rdata));

    cbr_core_buf #(.WB(COLS), .AW(AW_O)) u_out (
        .clk(clk), .h_sel(1'b1), .h_we(h_we_i[3]), .h_re(h_re_i[3]), .h_addr(h_addr_i[3]),
        .h_wdata(buf_wdata), .h_wstrb(buf_wstrb), .h_rdata(h_rd3),
        .x_re(x_re3), .x_we(x_we3), .x_addr(x_addr3), .x_wdata(x_wd13), .x_rdata(x_rd3),
        .c_en(o_en), .c_we({COLS{o_en}}), .c_addr(o_addr), .c_wdata(o_wdata),
        .c_rdata(unused_o_rdata));

    reg [1:0] buf_id_q;
    always @(posedge clk)
        if (buf_re)
            buf_id_q <= buf_rid;
    assign buf_rdata = buf_id_q == 2'd0 ? h_rd0 : buf_id_q == 2'd1 ? h_rd1 :
                       buf_id_q == 2'd2 ? h_rd2 : h_rd3;

    // ---- bank scoreboard -------------------------------------------------------------------
    wire       ld_start, ld_sbank, ld_all, ld_dbank;
    wire       bg_first, bg_bank, acc_full, acc_bank, dr_done, d_bank;
    wire [1:0] b_busy, b_loading, b_ready, b_par, b_full;

    cbr_core_ctrl u_ctrl (
        .clk(clk), .rst(crst),
        .ld_start(ld_start), .ld_sbank(ld_sbank), .ld_all(ld_all),
        .ld_dbank(ld_dbank), .bg_first(bg_first), .bg_bank(bg_bank),
        .acc_full(acc_full), .acc_bank(acc_bank), .dr_done(dr_done), .dr_bank(d_bank),
        .b_busy(b_busy), .b_loading(b_loading), .b_ready(b_ready), .b_par(b_par),
        .b_full(b_full));

    // ---- parameters --------------------------------------------------------------------------
    wire                bias_sel;
    wire [32*COLS-1:0]  bias, m0, neg_m0;
    wire [6*COLS-1:0]   shift, neg_shift;

    cbr_core_param #(.COLS(COLS), .AW_P(AW_P)) u_param (
        .clk(clk), .rst(crst), .go(go), .running(running), .n_ob(r_n_ob), .bank0(r_bank0),
        .param_base(r_param_base), .b_busy(b_busy),
        .ld_start(ld_start), .ld_sbank(ld_sbank), .ld_all(ld_all), .ld_dbank(ld_dbank),
        .p_en(p_en), .p_addr(p_addr), .p_rdata(p_rdata),
        .bias_sel(bias_sel), .bias(bias), .rq_sel(d_bank), .m0(m0), .shift(shift),
        .neg_m0(neg_m0), .neg_shift(neg_shift));

    // ---- weights -----------------------------------------------------------------------------
    wire              consume, consume_final, w_ok, wl_valid;
    wire [RBW-1:0]    wl_row;
    wire [8*COLS-1:0] wl_data;

    cbr_core_wload #(.ROWS(ROWS), .COLS(COLS), .AW_W(AW_W)) u_wload (
        .clk(clk), .rst(crst), .go(go), .wgt_base(r_wgt_base),
        .consume(consume), .consume_final(consume_final), .w_ok(w_ok),
        .w_en(w_en), .w_addr(w_addr), .w_rdata(w_rdata),
        .wl_valid(wl_valid), .wl_row(wl_row), .wl_data(wl_data));

    // ---- address generation and the array ----------------------------------------------------
    wire               arr_valid, arr_sw;
    wire [8*ROWS-1:0]  arr_x;
    wire [4:0]         arr_user, out_user;
    wire               out_valid;
    wire [32*COLS-1:0] out_data;

    wire               dwm = DWOK && r_dwise;
    wire [NG*8*ROWS-1:0] arr_dwx;

    cbr_core_agen #(.ROWS(ROWS), .COLS(COLS), .AW_A(AW_A), .DW(DW), .MW(MW), .NG(NG)) u_agen (
        .clk(clk), .rst(crst), .go(go), .running(running), .bank0(r_bank0),
        .in_h(r_in_h), .in_w(r_in_w), .n_cb(r_n_cb), .n_ob(r_n_ob), .kh(r_kh), .kw(r_kw),
        .sh(r_sh), .sw(r_sw), .dh(r_dh), .dw(r_dw), .pt(r_pt), .pl(r_pl), .oh(r_oh),
        .ow(r_ow), .act_base(r_act_base), .cb_pitch(r_cb_pitch), .in_c(r_in_c), .out_c(r_out_c), .x_zp(r_x_zp),
        .dwm(dwm), .w_ok(w_ok), .b_ready(b_ready), .b_loading(b_loading),
        .consume(consume), .consume_final(consume_final), .bg_first(bg_first),
        .bg_bank(bg_bank),
        .k_en(k_en), .k_addr(k_addr), .k_rdata(k_rdata), .arr_dwx(arr_dwx),
        .arr_valid(arr_valid), .arr_sw(arr_sw), .arr_x(arr_x), .arr_user(arr_user),
        .ev_busy(ev_busy), .ev_mac(ev_mac), .ev_stall_in(ev_stall_in),
        .ev_stall_out(ev_stall_out));

    // Depthwise groups of 4 rows when supported; otherwise one group bus, tied off.
    generate
        if (DWOK) begin : g_arr_dw
            cbr_array #(.ROWS(ROWS), .COLS(COLS), .DW_RB(4), .USER_W(5)) u_array (
                .clk(clk), .rst(crst), .cfg_dw(dwm), .cfg_x_zp(r_x_zp),
                .in_valid(arr_valid), .in_sw(arr_sw), .in_x(arr_x), .in_user(arr_user),
                .dw_x(arr_dwx),
                .wl_valid(wl_valid), .wl_row(wl_row), .wl_data(wl_data),
                .out_valid(out_valid), .out_data(out_data), .out_user(out_user));
        end else begin : g_arr
            wire [8*ROWS-1:0] unused_dwx = arr_dwx;
            cbr_array #(.ROWS(ROWS), .COLS(COLS), .DW_RB(ROWS), .USER_W(5)) u_array (
                .clk(clk), .rst(crst), .cfg_dw(1'b0), .cfg_x_zp(r_x_zp),
                .in_valid(arr_valid), .in_sw(arr_sw), .in_x(arr_x), .in_user(arr_user),
                .dw_x({(8*COLS){1'b0}}),
                .wl_valid(wl_valid), .wl_row(wl_row), .wl_data(wl_data),
                .out_valid(out_valid), .out_data(out_data), .out_user(out_user));
        end
    endgenerate

    // ---- accumulation -------------------------------------------------------------------------
    wire               d_act, d_re, d_we;
    wire [PIXW-1:0]    d_raddr, d_waddr;
    wire [32*COLS-1:0] d_rdata, d_wdata;

    cbr_core_acc #(.COLS(COLS), .PIXW(PIXW)) u_acc (
        .clk(clk), .rst(crst), .go(go), .load(r_acc_load),
        .in_valid(out_valid), .in_data(out_data), .in_user(out_user),
        .bias_sel(bias_sel), .bias(bias), .full(acc_full), .full_bank(acc_bank),
        .d_act(d_act), .d_bank(d_bank), .d_re(d_re), .d_raddr(d_raddr), .d_rdata(d_rdata),
        .d_we(d_we), .d_waddr(d_waddr), .d_wdata(d_wdata));

    // ---- requantization, pooling, output -------------------------------------------------------
    cbr_core_post #(.COLS(COLS), .PIXW(PIXW), .DW(DW), .AW_O(AW_O)) u_post (
        .clk(clk), .rst(crst), .go(go), .r_bank0(r_bank0), .r_n_ob(r_n_ob), .r_oh(r_oh),
        .r_ow(r_ow), .r_pool(r_pool), .r_pkh(r_pkh), .r_pkw(r_pkw), .r_psh(r_psh),
        .r_psw(r_psw), .r_ppt(r_ppt), .r_ppl(r_ppl), .r_ph(r_ph), .r_pw(r_pw),
        .r_y_zp(r_y_zp), .r_act_min(r_act_min), .r_act_max(r_act_max), .r_leaky(r_leaky),
        .r_keep(r_acc_keep), .r_out_base(r_out_base),
        .b_full(b_full), .b_par(b_par), .m0(m0), .shift(shift), .neg_m0(neg_m0),
        .neg_shift(neg_shift),
        .d_act(d_act), .d_bank(d_bank), .d_re(d_re), .d_raddr(d_raddr), .d_rdata(d_rdata),
        .d_we(d_we), .d_waddr(d_waddr), .d_wdata(d_wdata),
        .o_en(o_en), .o_addr(o_addr), .o_wdata(o_wdata),
        .dr_done(dr_done), .tile_done(tile_done), .pend(drain_more));

    // ---- the front of a tile done: the next may be taken ----------------------------------------
    // Every block's last beat accumulated (acc_full) and its parameters loaded (ld_all): the
    // address generator, weight loader, parameter loader, array and accumulator stage hold
    // nothing of the tile any more, only the drain of its last blocks is left. The next tile
    // is then taken (cbr_core_regs) unless the drain still has a tile queued (drain_more);
    // its first block goes to the bank after this tile's last one (r_bank0).
    reg [15:0] n_full, n_ld;
    always @(posedge clk) begin
        if (acc_full)
            n_full <= n_full + 16'd1;
        if (ld_all)
            n_ld <= n_ld + 16'd1;
        if (crst || take) begin
            n_full <= 16'd0;
            n_ld <= 16'd0;
        end
    end
    assign take_ok = n_full == r_n_ob && n_ld == r_n_ob && !drain_more;

endmodule
`resetall
