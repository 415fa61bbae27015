`resetall
`default_nettype none
// cbr_tiny_core - the accelerator core for the iCE40UP5K (docs/tiny.md): cbr_core's ports,
// registers and buffer layouts for a 4 x 4 "array" (the host sees ROWS = COLS = 4 and writes
// what it writes to sim:4x4), computed by a sequential engine with 4 multipliers.
//
// Why its own microarchitecture: cbr_core keeps a whole pass in flight (array, accumulator
// banks of the whole plane, 4 requantization lanes, parameter register sets), which is 33 k
// LUT4 at 4 x 4; on a 5 k-cell part with a 3 Mbaud UART the link, not the MACs, sets the
// speed, so one pixel at a time (cbr_tiny_eng) does.
//
// Memories: the UP5K's four SPRAMs as two 16K x 32 pairs (cbr_tiny_ram), single-port, the
// host first (a cycle in which cbr_cmd reads or writes a buffer is lost to the engine: the
// buffer port has no ready, its read data comes the cycle after buf_re):
//
//   pair A   buffer 0, activations: 64 KiB
//   pair B   0x0000 buffer 1, weights: 32 KiB       0x2000 buffer 3, outputs: 16 KiB
//            0x3000 accumulator banks: 2 x 256 pixels x 4 lanes x 32 bits (not host visible)
//            0x3800 buffer 2, parameters: 8 KiB (256 channels)
//   (word addresses; host byte address / 4 within the buffer's region)
//
// Registers: cbr_tiny_regs (cbr_core_regs' map, the host's copy of the arguments in block RAM);
// COUNTERS = 2 keeps only its cycle counters, COUNTERS = 0 none (the others read 0;
// docs/tiny.md).
module cbr_tiny_core #(
    parameter COUNTERS = 1          // 1: the counters at 0x80..0xE7; 2: CYCLES and TOTAL_CYCLES
                                    // only; 0: none (what is left out reads 0)
) (
    input  wire        clk,
    input  wire        rst,
    // register port (cbr_cmd): read data the cycle after reg_re
    input  wire        reg_we,
    input  wire        reg_re,
    input  wire [11:0] reg_addr,
    input  wire [31:0] reg_wdata,
    output wire [31:0] reg_rdata,
    // buffer port (cbr_cmd): read data the cycle after buf_re
    input  wire        buf_we,
    input  wire        buf_re,
    input  wire [1:0]  buf_id,
    input  wire [31:0] buf_addr,
    input  wire [31:0] buf_wdata,
    input  wire [3:0]  buf_wstrb,
    output wire [31:0] buf_rdata,
    // control
    input  wire        core_start,  // pulse: as a write of ap_start
    input  wire        core_reset   // pulse: abort the tile, back to idle
);

    // Buffers as cbr_top_tiny's INFO reports them: ACT 65536, WGT 32768, PARAM_ENTRIES 256,
    // OUT 16384 bytes, ACC_PIXELS 256.

    wire crst = rst || core_reset;

    // ---- registers -------------------------------------------------------------------------
    wire        go, run_done;
    wire        ev_busy, ev_stall_in, ev_stall_out;
    wire [4:0]  ev_mac;
    wire [15:0] r_in_h, r_in_w, r_pt, r_pl;
    wire [11:0] r_n_cb, r_n_ob;
    wire [1:0]  r_in_c, r_out_c;
    wire [3:0]  r_kh, r_kw;
    wire [7:0]  r_sh, r_sw, r_dh, r_dw, r_x_zp, r_y_zp, r_act_min, r_act_max;
    wire [7:0]  r_pkh, r_pkw, r_psh, r_psw, r_ppt, r_ppl;
    wire [8:0]  r_oh, r_ow, r_ph, r_pw;
    wire        r_leaky, r_acc_load, r_acc_keep;
    wire [1:0]  r_pool;
    wire        cp_wr;
    wire [4:0]  cp_idx;
    wire [31:0] cp_d;

    cbr_tiny_regs #(.COUNTERS(COUNTERS)) u_regs (
        .clk(clk), .rst(rst), .core_reset(core_reset), .core_start(core_start),
        .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_rdata(reg_rdata), .go(go), .run_done(run_done),
        .ev_busy(ev_busy), .ev_mac(ev_mac), .ev_stall_in(ev_stall_in),
        .ev_stall_out(ev_stall_out),
        .r_in_h(r_in_h), .r_in_w(r_in_w), .r_n_cb(r_n_cb), .r_n_ob(r_n_ob),
        .r_kh(r_kh), .r_kw(r_kw), .r_sh(r_sh), .r_sw(r_sw), .r_dh(r_dh), .r_dw(r_dw),
        .r_pt(r_pt), .r_pl(r_pl), .r_oh(r_oh), .r_ow(r_ow), .r_x_zp(r_x_zp),
        .r_y_zp(r_y_zp), .r_act_min(r_act_min), .r_act_max(r_act_max), .r_leaky(r_leaky),
        .r_acc_load(r_acc_load), .r_acc_keep(r_acc_keep), .r_pool(r_pool),
        .r_pkh(r_pkh), .r_pkw(r_pkw), .r_psh(r_psh), .r_psw(r_psw),
        .r_ppt(r_ppt), .r_ppl(r_ppl), .r_ph(r_ph), .r_pw(r_pw),
        .cp_wr(cp_wr), .cp_idx(cp_idx), .cp_d(cp_d), .r_in_c(r_in_c),
        .r_out_c(r_out_c)
    );

    // ---- the engine ----------------------------------------------------------------------------
    wire        hold = buf_we || buf_re;
    wire        e_a_en, e_b_en;
    wire [3:0]  e_b_we;
    wire [13:0] e_a_addr, e_b_addr;
    wire [31:0] e_b_wdata, a_rdata, b_rdata;

    cbr_tiny_eng u_eng (
        .clk(clk), .rst(crst), .go(go), .run_done(run_done), .hold(hold),
        .in_h(r_in_h), .in_w(r_in_w), .n_cb(r_n_cb), .n_ob(r_n_ob), .pt(r_pt), .pl(r_pl),
        .in_c(r_in_c), .out_c(r_out_c), .kh(r_kh), .kw(r_kw), .sh(r_sh), .sw(r_sw),
        .dh(r_dh), .dw(r_dw), .oh(r_oh), .ow(r_ow), .ph(r_ph), .pw(r_pw),
        .x_zp(r_x_zp), .y_zp(r_y_zp), .act_min(r_act_min), .act_max(r_act_max),
        .leaky(r_leaky), .acc_load(r_acc_load), .acc_keep(r_acc_keep), .pool(r_pool),
        .pkh(r_pkh), .pkw(r_pkw), .psh(r_psh), .psw(r_psw), .ppt(r_ppt), .ppl(r_ppl),
        .cp_wr(cp_wr), .cp_idx(cp_idx), .cp_d(cp_d),
        .a_en(e_a_en), .a_addr(e_a_addr), .a_rdata(a_rdata),
        .b_en(e_b_en), .b_we(e_b_we), .b_addr(e_b_addr), .b_wdata(e_b_wdata),
        .b_rdata(b_rdata),
        .ev_busy(ev_busy), .ev_mac(ev_mac), .ev_stall_in(ev_stall_in),
        .ev_stall_out(ev_stall_out));

    // ---- the two memory pairs: the host's access, else the engine's ----------------------------
    wire        h_a = hold && buf_id == 2'd0;
    wire        h_b = hold && buf_id != 2'd0;
    wire [3:0]  h_we = buf_we ? buf_wstrb : 4'd0;
    reg  [13:0] h_b_addr;
    always @(*) begin
        case (buf_id)
            2'd1: h_b_addr = {1'b0, buf_addr[14:2]};           // weights, 32 KiB
            2'd2: h_b_addr = {3'b111, buf_addr[12:2]};         // parameters, 8 KiB
            default: h_b_addr = {2'b10, buf_addr[13:2]};       // outputs, 16 KiB
        endcase
    end
    wire [31:0] unused_addr = {buf_addr[31:16], buf_addr[1:0], 14'd0};

    cbr_tiny_ram u_pair_a (
        .clk(clk), .en(h_a || e_a_en), .we(h_a ? h_we : 4'd0),
        .addr(h_a ? buf_addr[15:2] : e_a_addr), .wdata(buf_wdata), .rdata(a_rdata));

    cbr_tiny_ram u_pair_b (
        .clk(clk), .en(h_b || e_b_en), .we(h_b ? h_we : e_b_we),
        .addr(h_b ? h_b_addr : e_b_addr), .wdata(h_b ? buf_wdata : e_b_wdata),
        .rdata(b_rdata));

    reg h_rd_a;
    always @(posedge clk)
        if (buf_re)
            h_rd_a <= buf_id == 2'd0;
    assign buf_rdata = h_rd_a ? a_rdata : b_rdata;

endmodule
`resetall
