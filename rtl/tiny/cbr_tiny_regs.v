`resetall
`default_nettype none
// cbr_tiny_regs - the tiny core's register block: cbr_core_regs' map and ap_ctrl_hs
// semantics (docs/registers.md), with the host's copy of the arguments in block RAM.
//
// Why: cbr_core_regs keeps the 27 argument words twice in flip-flops (the host's copy, all
// 32 bits, and the run copy) and reads them back through a 48-way mux: about 1,900
// flip-flops and 2,700 LUTs, half the UP5K. Here the host's copy is a 64 x 32 block RAM in
// two banks per word, and the run copy (the 253 bits the engine uses) is in 16 more block
// RAMs read as registers (cbr_tiny_breg: a flip-flop is a logic cell on the UP5K, and the
// tiny core needs its logic cells, not its block RAMs).
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
// Counters (COUNTERS = 1): per-tile CYCLES, BUSY, MACS, STALL_IN, STALL_OUT in 40 bits (their
// _HI words read bits 39:32: 25 hours at 12 MHz), the cumulative TOTAL_* in 48 bits (_HI: bits
// 47:32). COUNTERS = 2 has only CYCLES and TOTAL_CYCLES (the other counter words read 0;
// cbr_top_tiny clears INFO FEATURES bit 5 and sets bit 8, "cycles only"): the iCEBreaker image,
// which has no room for the rest. COUNTERS = 0 has no counter logic at all (about 790 logic
// cells less than 1): the counter words read 0, FEATURES bits 5 and 8 are clear. docs/tiny.md
// lists these deviations.
module cbr_tiny_regs #(
    parameter COUNTERS = 1          // 1: the counters of registers.md 0x80..0xE7; 2: CYCLES and
                                    // TOTAL_CYCLES only; 0: none
) (
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
    // run copy of the arguments (the bits the engine uses; the bases and CB_PITCH: cp_*),
    // held in block RAM (cbr_tiny_breg), constant from the copy to the next take
    output wire [15:0] r_in_h, r_in_w, r_pt, r_pl,
    output wire [11:0] r_n_cb, r_n_ob,   // mod 4096 (docs/tiny.md)
    output wire [1:0]  r_in_c, r_out_c,   // IN_C, OUT_C mod 4 (the last blocks' used rows, columns)
    output wire [3:0]  r_kh, r_kw,
    output wire [7:0]  r_sh, r_sw, r_dh, r_dw,
    output wire [8:0]  r_oh, r_ow, r_ph, r_pw,
    output wire [7:0]  r_x_zp, r_y_zp, r_act_min, r_act_max,
    output wire        r_leaky, r_acc_load, r_acc_keep,
    output wire [1:0]  r_pool,
    output wire [7:0]  r_pkh, r_pkw, r_psh, r_psw, r_ppt, r_ppl,
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

    reg        ap_start, ap_done, running, copying, took;
    reg [31:0] runs;                  // counted the cycle after the take (see the reads)
    reg [31:0] latest, snap, valid;   // bits 25, 27..31 unused

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
        took <= take;
        if (took)
            runs <= runs + 32'd1;
        if (rst) begin
            took <= 1'b0;
            runs <= 32'd0;
            // any snapshot works until the first take (writes go to the other slot, the copy
            // reads it only after a take), but a write indexes by it (wbank): no X slot
            snap <= 32'd0;
        end
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

    // one enable a word (an indexed write, latest[aidx] <= .., becomes 32-bit shifts and masks
    // in yosys: about 20 logic cells more)
    integer i;
    always @(posedge clk) begin
        for (i = 0; i < NW; i = i + 1)
            if (a_we && aidx == i[4:0]) begin
                latest[i] <= wbank;
                valid[i] <= 1'b1;
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

    // ---- the run registers: 253 bits in 16 block RAM words (cbr_tiny_breg) ------------------
    // Each field is written from its copy word's bits (fw) in the cycle that word is on d: the
    // write mask (fm, 1: keep the bit) keeps it in every other cycle, so one block RAM word
    // holds fields of several copy words. The last field (word 24) is readable 2 cycles
    // later, when the copy is at word 26: go follows that word, so the engine sees every field.
    localparam RB = 253;
    wire [31:0] cw = ~({31'd0, cp_rd} << ci_q);   // cw[k] == 0: word k is on d
    wire [10:0] unused_cw = {cw[31:25], cw[22:19]};
    wire [255:0] fw = {3'd0, d[15:0], d[15:0], d[11:0], d[11:0], d[3:0], d[3:0], d[15:0],
                       d[15:0], d[31:0], d[8:0], d[8:0], d[7:0], d[7:0], d[15:0], d[5:2], d[0],
                       d[15:0], d[15:0], d[15:0], d[24:16], d[8:0], d[1:0], d[1:0]};
    wire [255:0] fm = {3'b111, {16{cw[0]}}, {16{cw[1]}}, {12{cw[2]}}, {12{cw[3]}}, {4{cw[4]}},
                       {4{cw[5]}}, {16{cw[6]}}, {16{cw[7]}}, {32{cw[8]}}, {9{cw[9]}},
                       {9{cw[10]}}, {8{cw[11]}}, {8{cw[12]}}, {16{cw[13]}}, {5{cw[14]}},
                       {16{cw[15]}}, {16{cw[16]}}, {16{cw[17]}}, {18{cw[18]}}, {2{cw[23]}},
                       {2{cw[24]}}};
    wire [255:0] fq;
    wire [2:0]   unused_fq = fq[255:RB];
    assign {r_in_h, r_in_w, r_n_cb, r_n_ob, r_kh, r_kw, r_sw, r_sh, r_dw, r_dh, r_pl, r_pt,
            r_oh, r_ow, r_x_zp, r_y_zp, r_act_max, r_act_min, r_pool, r_acc_keep, r_acc_load,
            r_leaky, r_pkw, r_pkh, r_psw, r_psh, r_ppl, r_ppt, r_pw, r_ph, r_in_c,
            r_out_c} = fq[RB-1:0];

    genvar b;
    generate
        for (b = 0; b < 16; b = b + 1) begin : g_run
            cbr_tiny_breg u_w (
                .clk(clk), .we(cp_rd), .wmask(fm[16*b +: 16]), .wdata(fw[16*b +: 16]),
                .q(fq[16*b +: 16]));
        end
    endgenerate

    // ---- counters --------------------------------------------------------------------------
    // cnt_q: the counter word read (widx at reg_re; 0 outside 0x80..0xE7, always 0 with
    // COUNTERS = 0). CYCLES counts the take cycle and every running cycle up to and with the
    // one of run_done (registers.md's "ap_start to ap_done"); TOTAL_CYCLES counts the same
    // cycles over every tile, so it grows by exactly each tile's CYCLES. COUNTERS = 2 keeps
    // just these two (a 40- and a 48-bit counter and their 4 read words: the core's own time
    // for a board without room for the rest); COUNTERS = 1 adds the event counters.
    wire [31:0] cnt_q;
    generate
        if (COUNTERS != 0) begin : g_cnt
            reg [39:0] c_cycles;
            reg [47:0] t_cycles;
            reg [31:0] crd, crd_q;
            wire [31:0] ev_rd;   // the word of an event counter (COUNTERS = 1), else 0

            always @(posedge clk) begin
                if (running)
                    c_cycles <= c_cycles + 40'd1;
                if (take || running)
                    t_cycles <= t_cycles + 48'd1;
                if (take || rst)
                    c_cycles <= 40'd1;  // the cycle ap_start is taken
                if (rst)
                    t_cycles <= 48'd0;
            end

            if (COUNTERS == 1) begin : g_ev
                reg [39:0] c_busy, c_macs, c_stall_in, c_stall_out;
                reg [47:0] t_busy, t_macs, t_stall_in, t_stall_out;
                reg [31:0] erd;

                always @(posedge clk) begin
                    if (running) begin
                        c_busy <= c_busy + {39'd0, ev_busy};
                        c_macs <= c_macs + {35'd0, ev_mac};
                        c_stall_in <= c_stall_in + {39'd0, ev_stall_in};
                        c_stall_out <= c_stall_out + {39'd0, ev_stall_out};
                        t_busy <= t_busy + {47'd0, ev_busy};
                        t_macs <= t_macs + {43'd0, ev_mac};
                        t_stall_in <= t_stall_in + {47'd0, ev_stall_in};
                        t_stall_out <= t_stall_out + {47'd0, ev_stall_out};
                    end
                    if (take || rst) begin
                        c_busy <= 40'd0;
                        c_macs <= 40'd0;
                        c_stall_in <= 40'd0;
                        c_stall_out <= 40'd0;
                    end
                    if (rst) begin
                        t_busy <= 48'd0;
                        t_macs <= 48'd0;
                        t_stall_in <= 48'd0;
                        t_stall_out <= 48'd0;
                    end
                end

                always @(*) begin
                    case (widx)
                        W_CNT + 10'd2: erd = c_busy[31:0];
                        W_CNT + 10'd3: erd = {24'd0, c_busy[39:32]};
                        W_CNT + 10'd4: erd = c_macs[31:0];
                        W_CNT + 10'd5: erd = {24'd0, c_macs[39:32]};
                        W_CNT + 10'd6: erd = c_stall_in[31:0];
                        W_CNT + 10'd7: erd = {24'd0, c_stall_in[39:32]};
                        W_CNT + 10'd8: erd = c_stall_out[31:0];
                        W_CNT + 10'd9: erd = {24'd0, c_stall_out[39:32]};
                        W_TOT + 10'd2: erd = t_busy[31:0];
                        W_TOT + 10'd3: erd = {16'd0, t_busy[47:32]};
                        W_TOT + 10'd4: erd = t_macs[31:0];
                        W_TOT + 10'd5: erd = {16'd0, t_macs[47:32]};
                        W_TOT + 10'd6: erd = t_stall_in[31:0];
                        W_TOT + 10'd7: erd = {16'd0, t_stall_in[47:32]};
                        W_TOT + 10'd8: erd = t_stall_out[31:0];
                        W_TOT + 10'd9: erd = {16'd0, t_stall_out[47:32]};
                        default: erd = 32'd0;
                    endcase
                end
                assign ev_rd = erd;
            end else begin : g_no_ev
                // cycles only: the events are not used (yosys drops their logic in the engine)
                wire [7:0] unused_ev = {ev_busy, ev_mac, ev_stall_in, ev_stall_out};
                assign ev_rd = 32'd0;
            end

            always @(*) begin
                case (widx)
                    W_CNT + 10'd0: crd = c_cycles[31:0];
                    W_CNT + 10'd1: crd = {24'd0, c_cycles[39:32]};
                    W_TOT + 10'd0: crd = t_cycles[31:0];
                    W_TOT + 10'd1: crd = {16'd0, t_cycles[47:32]};
                    default: crd = ev_rd;
                endcase
            end
            always @(posedge clk)
                if (reg_re)
                    crd_q <= crd;
            assign cnt_q = crd_q;
        end else begin : g_no_cnt
            // no counters: the events are not used (yosys drops their logic in the engine)
            wire [7:0] unused_ev = {ev_busy, ev_mac, ev_stall_in, ev_stall_out};
            assign cnt_q = 32'd0;
        end
    endgenerate

    // ---- reads ------------------------------------------------------------------------------
    // Read data is valid the cycle after reg_re (cbr_cmd takes it then), so what the read
    // selects is registered and the data are ORed from their sources in that cycle: the
    // argument RAM's output (a host read has the RAM that cycle), CTRL's 4 bits as they were,
    // the counter word as it was, and RUNS itself: RUNS counts a take one cycle late (took),
    // so in the cycle after a read it still holds what it held in the read's cycle.
    reg        runs_q, argv_q;
    reg [3:0]  ctrl_q;
    always @(posedge clk) begin
        if (reg_re) begin
            runs_q <= widx == W_RUNS;
            argv_q <= is_arg && valid[aidx];
            ctrl_q <= widx == W_CTRL ? {!running && !ap_start, !running, ap_done, ap_start}
                                     : 4'd0;
        end
    end
    assign reg_rdata = (argv_q ? am_q : 32'd0) | (runs_q ? runs : 32'd0) | {28'd0, ctrl_q}
                       | cnt_q;

endmodule
`resetall
