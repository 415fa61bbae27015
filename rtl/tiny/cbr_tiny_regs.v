`resetall
`default_nettype none
// cbr_tiny_regs - the tiny core's register block: cbr_core_regs' map and ap_ctrl_hs
// semantics (docs/registers.md), with the host's copy of the arguments in block RAM.
//
// Why: cbr_core_regs keeps the 27 argument words twice in flip-flops (the host's copy, all
// 32 bits, and the run copy) and reads them back through a 48-way mux: about 1,900
// flip-flops and 2,700 LUTs, half the UP5K. Here the host's copy is a 64 x 32 block RAM in
// two banks per word, and only the run copy (the bits the engine uses) is in flip-flops.
//
// The arguments must be copied "in the cycle ap_start is taken" while the host may write the
// next tile's from then on, and a RAM cannot be copied in one cycle. So each word i has two
// slots, and two bits: latest[i], the slot holding the host's last write, and snap[i], the
// slot the running tile's copy is read from. Taking ap_start sets snap = latest for every
// word at once (the snapshot); a host write goes to the slot that is not the snapshot's
// (take ? latest : snap, inverted) and moves latest there, so the snapshot stays intact
// while it is read out, one word a cycle, into the run registers (the host's argument reads
// come first). `go` follows the last word: about 30 cycles after the take.
// valid[i] makes a word read 0 until it is written after rst, as flip-flops reset to 0 would.
//
// Counters: per-tile CYCLES, BUSY, MACS, STALL_IN, STALL_OUT in 40 bits (their _HI words read
// bits 39:32: 25 hours at 12 MHz), the cumulative TOTAL_* in 48 bits (_HI: bits 47:32).
// docs/tiny.md lists these deviations.
module cbr_tiny_regs (
    input  wire        clk,
    input  wire        rst,
    input  wire        core_reset,  // RESET: abort, back to idle
    input  wire        core_start,  // RUN: as a write of ap_start
    // register port of cbr_cmd
    input  wire        reg_we,
    input  wire        reg_re,
    input  wire [11:0] reg_addr,
    input  wire [31:0] reg_wdata,
    output wire [31:0] reg_rdata,
    // run control
    output reg         go,          // pulse: run registers valid, start the tile
    input  wire        run_done,    // pulse: the tile is finished
    // counter events
    input  wire        ev_busy,
    input  wire [4:0]  ev_mac,
    input  wire        ev_stall_in,
    input  wire        ev_stall_out,
    // run copy of the arguments (the bits the engine uses; the bases and CB_PITCH: cp_*)
    output reg  [15:0] r_in_h, r_in_w, r_pt, r_pl,
    output reg  [11:0] r_n_cb, r_n_ob,   // mod 4096 (docs/tiny.md)
    output reg  [1:0]  r_in_c, r_out_c,   // IN_C, OUT_C mod 4 (the last blocks' used rows, columns)
    output reg  [3:0]  r_kh, r_kw,
    output reg  [7:0]  r_sh, r_sw, r_dh, r_dw,
    output reg  [8:0]  r_oh, r_ow, r_ph, r_pw,
    output reg  [7:0]  r_x_zp, r_y_zp, r_act_min, r_act_max,
    output reg         r_leaky, r_acc_load, r_acc_keep,
    output reg  [1:0]  r_pool,
    output reg  [7:0]  r_pkh, r_pkw, r_psh, r_psw, r_ppt, r_ppl,
    // the copy's words as they are read (the engine, idle then, loads the bases and CB_PITCH
    // straight into its working registers: no run copy of them)
    output wire        cp_wr,
    output wire [4:0]  cp_idx,
    output wire [31:0] cp_d
);

    localparam NW = 27;            // argument words 0x10 .. 0x78 (index 25, RUNS, is not one)
    localparam [9:0] W_CTRL = 10'd0, W_RUNS = 10'd29, W_CNT = 10'd32, W_TOT = 10'd48;

    wire [9:0] widx = reg_addr[11:2];
    wire [4:0] aidx = widx[4:0] - 5'd4;
    wire       is_arg = widx >= 10'd4 && widx < 10'd4 + NW && widx != W_RUNS;
    wire [1:0] unused_addr = reg_addr[1:0];

    reg        ap_start, ap_done, running, copying;
    reg [31:0] runs;
    reg [31:0] latest, snap, valid;   // bits 25, 27..31 unused
    reg [39:0] c_cycles, c_busy, c_macs, c_stall_in, c_stall_out;
    reg [47:0] t_cycles, t_busy, t_macs, t_stall_in, t_stall_out;

    // ---- ap_ctrl_hs ------------------------------------------------------------------------
    wire take = ap_start && !running;

    always @(posedge clk) begin
        if (run_done) begin
            ap_done <= 1'b1;
            running <= 1'b0;
        end
        if (take) begin
            ap_start <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b1;
            runs <= runs + 32'd1;
            snap <= latest;
        end
        // after take: a start requested in the take cycle is the next tile's
        if ((reg_we && widx == W_CTRL && reg_wdata[0]) || core_start)
            ap_start <= 1'b1;
        if (rst || core_reset) begin
            ap_start <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b0;
        end
        if (rst)
            runs <= 32'd0;
    end

    // ---- the argument RAM: slot {bank, word} ----------------------------------------------
    reg  [31:0] am [0:63];
    reg  [31:0] am_q;
    reg         cp_rd;            // the copy read a word last cycle
    reg  [4:0]  ci, ci_q;         // the word the copy reads next / read last cycle
    wire        wbank = !(take ? latest[aidx] : snap[aidx]);
    wire        a_we = reg_we && is_arg;
    wire        h_rd = reg_re && is_arg;   // only argument reads use the RAM
    wire        cp_go = copying && !h_rd;
    wire [5:0]  rd_addr = h_rd ? {latest[aidx], aidx} : {snap[ci], ci};

    always @(posedge clk) begin
        if (a_we)
            am[{wbank, aidx}] <= reg_wdata;
        if (h_rd || cp_go)
            am_q <= am[rd_addr];
    end

    always @(posedge clk) begin
        if (a_we) begin
            latest[aidx] <= wbank;
            valid[aidx] <= 1'b1;
        end
        if (rst) begin
            latest <= 32'd0;
            valid <= 32'd0;
        end
    end

    // ---- the copy: one word a cycle from the snapshot to the run registers -----------------
    reg        cp_valid;
    wire [31:0] d = cp_valid ? am_q : 32'd0;
    assign cp_wr = cp_rd;
    assign cp_idx = ci_q;
    assign cp_d = d;

    always @(posedge clk) begin
        go <= 1'b0;
        cp_rd <= cp_go;
        ci_q <= ci;
        cp_valid <= valid[ci];
        if (cp_go) begin
            ci <= ci + 5'd1;
            if (ci == NW - 1)
                copying <= 1'b0;
        end
        if (cp_rd) begin
            case (ci_q)
                5'd0: r_in_h <= d[15:0];
                5'd1: r_in_w <= d[15:0];
                5'd2: r_n_cb <= d[11:0];
                5'd3: r_n_ob <= d[11:0];
                5'd4: r_kh <= d[3:0];
                5'd5: r_kw <= d[3:0];
                5'd6: {r_sw, r_sh} <= d[15:0];
                5'd7: {r_dw, r_dh} <= d[15:0];
                5'd8: {r_pl, r_pt} <= d;
                5'd9: r_oh <= d[8:0];
                5'd10: r_ow <= d[8:0];
                5'd11: r_x_zp <= d[7:0];
                5'd12: r_y_zp <= d[7:0];
                5'd13: {r_act_max, r_act_min} <= d[15:0];
                5'd14: {r_pool, r_acc_keep, r_acc_load, r_leaky} <= {d[5:2], d[0]};
                5'd15: {r_pkw, r_pkh} <= d[15:0];
                5'd16: {r_psw, r_psh} <= d[15:0];
                5'd17: {r_ppl, r_ppt} <= d[15:0];
                5'd18: {r_pw, r_ph} <= {d[24:16], d[8:0]};
                5'd23: r_in_c <= d[1:0];
                5'd24: r_out_c <= d[1:0];
                default: ;
            endcase
            if (ci_q == NW - 1)
                go <= 1'b1;
        end
        if (take) begin
            copying <= 1'b1;
            ci <= 5'd0;
        end
        if (rst || core_reset) begin
            copying <= 1'b0;
            cp_rd <= 1'b0;
            go <= 1'b0;
        end
    end

    // ---- counters --------------------------------------------------------------------------
    always @(posedge clk) begin
        if (running) begin
            c_cycles <= c_cycles + 40'd1;
            c_busy <= c_busy + {39'd0, ev_busy};
            c_macs <= c_macs + {35'd0, ev_mac};
            c_stall_in <= c_stall_in + {39'd0, ev_stall_in};
            c_stall_out <= c_stall_out + {39'd0, ev_stall_out};
            t_busy <= t_busy + {47'd0, ev_busy};
            t_macs <= t_macs + {43'd0, ev_mac};
            t_stall_in <= t_stall_in + {47'd0, ev_stall_in};
            t_stall_out <= t_stall_out + {47'd0, ev_stall_out};
        end
        if (take || running)
            t_cycles <= t_cycles + 48'd1;
        if (take || rst) begin
            c_cycles <= 40'd1;  // the cycle ap_start is taken
            c_busy <= 40'd0;
            c_macs <= 40'd0;
            c_stall_in <= 40'd0;
            c_stall_out <= 40'd0;
        end
        if (rst) begin
            t_cycles <= 48'd0;
            t_busy <= 48'd0;
            t_macs <= 48'd0;
            t_stall_in <= 48'd0;
            t_stall_out <= 48'd0;
        end
    end

    // ---- reads: arguments from the RAM, the rest from a register ----------------------------
    reg [31:0] rd, rd_q;
    reg        arg_q, argv_q;
    always @(*) begin
        case (widx)
            W_CTRL: rd = {28'd0, !running && !ap_start, !running, ap_done, ap_start};
            W_RUNS: rd = runs;
            W_CNT + 10'd0: rd = c_cycles[31:0];
            W_CNT + 10'd1: rd = {24'd0, c_cycles[39:32]};
            W_CNT + 10'd2: rd = c_busy[31:0];
            W_CNT + 10'd3: rd = {24'd0, c_busy[39:32]};
            W_CNT + 10'd4: rd = c_macs[31:0];
            W_CNT + 10'd5: rd = {24'd0, c_macs[39:32]};
            W_CNT + 10'd6: rd = c_stall_in[31:0];
            W_CNT + 10'd7: rd = {24'd0, c_stall_in[39:32]};
            W_CNT + 10'd8: rd = c_stall_out[31:0];
            W_CNT + 10'd9: rd = {24'd0, c_stall_out[39:32]};
            W_TOT + 10'd0: rd = t_cycles[31:0];
            W_TOT + 10'd1: rd = {16'd0, t_cycles[47:32]};
            W_TOT + 10'd2: rd = t_busy[31:0];
            W_TOT + 10'd3: rd = {16'd0, t_busy[47:32]};
            W_TOT + 10'd4: rd = t_macs[31:0];
            W_TOT + 10'd5: rd = {16'd0, t_macs[47:32]};
            W_TOT + 10'd6: rd = t_stall_in[31:0];
            W_TOT + 10'd7: rd = {16'd0, t_stall_in[47:32]};
            W_TOT + 10'd8: rd = t_stall_out[31:0];
            W_TOT + 10'd9: rd = {16'd0, t_stall_out[47:32]};
            default: rd = 32'd0;
        endcase
    end

    always @(posedge clk) begin
        if (reg_re) begin
            rd_q <= rd;
            arg_q <= is_arg;
            argv_q <= valid[aidx];
        end
    end
    assign reg_rdata = !arg_q ? rd_q : argv_q ? am_q : 32'd0;

endmodule
`resetall
