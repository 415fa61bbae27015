`resetall
`default_nettype none
// cbr_core_regs - the core's register block (docs/registers.md): ap_ctrl_hs at 0x00, the
// tile arguments (0x10..0x70, 0x78), the 64-bit per-tile counters at 0x80 and the 64-bit
// cumulative counters at 0xC0.
//
// Why the copies: the host writes the next tiles' arguments while the current tile runs
// (double buffering), so every start copies the arguments into its place in the queue, the
// take copies that into the run registers, and the datapath only ever sees the run copy.
// The host-visible copy keeps all 32 bits of every word so registers read back exactly as
// written; the queued and run copies keep only the bits the datapath uses, already
// converted to word addresses of each buffer.
//
// Control: a start (a CTRL write with bit 0, or core_start: the RUN command) copies the
// arguments as they are in that cycle into a queue of two pending starts; STARTS (0xA8)
// counts the starts the queue accepted, and a start that finds both places full is refused
// (not counted: the host learns from STARTS whether a RUN whose answer was lost got in).
// The oldest pending start is taken in the first cycle the core is idle, or in which the
// running tile no longer needs the front of the core (take_ok: every beat of it accumulated
// and its parameters loaded; only its drain is left): its copy becomes the run copy in that
// cycle (`take`), `go` pulses the cycle after (every run register valid from then on) and
// `running` stays high from then until the last tile taken is done (tile_done with no further
// tile for the drain). So a queued tile's passes start while the tile before it is
// requantized and written out, and the host may write the arguments of the tile after it
// and queue that too, while both are still pending or running. A start requested in the
// very cycle the oldest is taken goes into the place that take frees. ap_start (CTRL bit 0)
// reads 1 while any start is pending. ap_done is set when the core becomes idle and cleared
// only when the next start is taken (not on read, as HLS has it): every register read can
// then be retried over a lossy link. RUNS (0x74) counts the starts taken since reset; DONES
// (0x7C) counts the tiles finished (outputs written), so the host learns when a tile's
// outputs may be read even while the next tile already runs. ap_idle = !running; ap_ready =
// the core would take a start now (!running && nothing pending). core_reset (the RESET
// command) empties the queue and clears ap_done and running; arguments, STARTS, RUNS, DONES
// and the counters keep their values.
//
// Bank parity: output block ob of a tile accumulates in bank (ob + r_bank0) % 2. A tile
// starts on the bank after the previous tile's last block, so its first block never waits
// for that block's drain; a tile with ACC_LOAD or ACC_KEEP starts on bank 0, as the chains
// of docs/registers.md need.
//
// Counters: the per-tile ones (0x80..0xA4) restart when ap_start is taken; the cumulative
// TOTAL_* (0xC0..0xE4, same order) count the same events over every tile since the hardware
// reset (rst only: not core_reset, not ap_start), so a host that queues tiles back to back
// diffs them around a layer. TOTAL_CYCLES counts the take cycle and the running cycles of
// every tile, counted once where two tiles overlap: the cycles the core was not idle (an
// aborted tile's cycles included).
module cbr_core_regs #(
    parameter ROWS = 16,  // array rows: bytes per activation-buffer word
    parameter COLS = 16,  // array columns: bytes per weight- and output-buffer word
    parameter AW_A = 12,  // activation buffer word-address bits
    parameter AW_W = 12,  // weight buffer word-address bits
    parameter AW_P = 12,  // parameter buffer (32-bit) word-address bits
    parameter AW_O = 12,  // output buffer word-address bits
    parameter DW = 11,    // bits of the conv and pooled plane dimensions
    parameter MW = 10     // bits of the useful MACs of one beat: >= clog2(ROWS+1) + clog2(COLS+1)
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            core_reset,  // RESET: abort, back to idle
    input  wire            core_start,  // RUN: as a write of ap_start
    // register port of cbr_cmd
    input  wire            reg_we,
    input  wire            reg_re,
    input  wire [11:0]     reg_addr,
    input  wire [31:0]     reg_wdata,
    output reg  [31:0]     reg_rdata,
    // run control
    output reg             go,          // pulse: run registers valid, start the tile
    output reg             take,        // pulse: ap_start taken, the run copy loads
    output reg             running,     // from ap_start taken until the core is idle
    input  wire            take_ok,     // the running tile's front is done: a start may be taken
    input  wire            tile_done,   // pulse: a tile is finished (outputs written)
    input  wire            drain_more,  // ... and the drain has another tile to do
    // counter events (while running)
    input  wire            ev_busy,     // a beat entered the array
    input  wire [MW-1:0]   ev_mac,      // its useful MACs
    input  wire            ev_stall_in,
    input  wire            ev_stall_out,
    // run copy of the arguments
    output reg  [15:0]     r_in_h,
    output reg  [15:0]     r_in_w,
    output reg  [15:0]     r_n_cb,
    output reg  [15:0]     r_n_ob,
    output reg  [3:0]      r_kh,
    output reg  [3:0]      r_kw,
    output reg  [7:0]      r_sh,
    output reg  [7:0]      r_sw,
    output reg  [7:0]      r_dh,
    output reg  [7:0]      r_dw,
    output reg  [15:0]     r_pt,
    output reg  [15:0]     r_pl,
    output reg  [DW-1:0]   r_oh,
    output reg  [DW-1:0]   r_ow,
    output reg  [7:0]      r_x_zp,
    output reg  [7:0]      r_y_zp,
    output reg  [7:0]      r_act_min,
    output reg  [7:0]      r_act_max,
    output reg             r_leaky,
    output reg             r_dwise,       // MODE bit 1: depthwise mode
    output reg             r_acc_load,    // MODE bit 2: the first pass adds to the bank
    output reg             r_acc_keep,    // MODE bit 3: no drain, the bank keeps the sums
    output reg  [1:0]      r_pool,
    output reg  [7:0]      r_pkh,
    output reg  [7:0]      r_pkw,
    output reg  [7:0]      r_psh,
    output reg  [7:0]      r_psw,
    output reg  [7:0]      r_ppt,
    output reg  [7:0]      r_ppl,
    output reg  [DW-1:0]   r_ph,
    output reg  [DW-1:0]   r_pw,
    output reg  [AW_A-1:0] r_act_base,    // ACT_BASE / ROWS
    output reg  [AW_A-1:0] r_cb_pitch,    // ACT_CB_PITCH / ROWS (0: IN_H * IN_W)
    output reg  [AW_W-1:0] r_wgt_base,    // WGT_BASE / COLS
    output reg  [AW_O-1:0] r_out_base,    // OUT_BASE / COLS
    output reg  [AW_P-1:0] r_param_base,  // PARAM_BASE / 4
    output reg             r_bank0,       // the bank of output block 0
    output reg  [15:0]     r_in_c,
    output reg  [15:0]     r_out_c
);

    // The run fields of one tile, packed: what a queued start keeps (QW bits, not the 832
    // of the host-visible words). r_bank0 is not among them: it follows from the tile taken
    // before, at the take.
    localparam QW_HEAD = 4 * 16 + 2 * 4 + 4 * 8 + 2 * 16 + 2 * DW + 4 * 8;  // before MODE
    localparam QW = QW_HEAD + 4 + 2 + 6 * 8 + 2 * DW + 2 * AW_A + AW_W + AW_O + AW_P + 2 * 16;
    // the queued copy's bit of MODE bit 3 (ACC_KEEP), the top of its MODE nibble
    localparam Q_ACC_KEEP = QW - 1 - QW_HEAD;

    localparam RB = $clog2(ROWS);
    localparam CB = $clog2(COLS);
    localparam NARG = 25;  // 0x10 .. 0x70; ACT_CB_PITCH (0x78) is held apart (RUNS is 0x74)
    localparam [9:0] W_CTRL = 10'd0, W_RUNS = 10'd29, W_PITCH = 10'd30, W_DONES = 10'd31,
                     W_CNT = 10'd32, W_STARTS = 10'd42, W_TOT = 10'd48;

    // Argument word indices (address = 0x10 + 4 * index).
    localparam A_IN_H = 0, A_IN_W = 1, A_N_CB = 2, A_N_OB = 3, A_KH = 4, A_KW = 5,
               A_STRIDE = 6, A_DIL = 7, A_PAD = 8, A_OUT_H = 9, A_OUT_W = 10, A_X_ZP = 11,
               A_Y_ZP = 12, A_ACT = 13, A_MODE = 14, A_POOL_K = 15, A_POOL_S = 16,
               A_POOL_PAD = 17, A_POOL_OUT = 18, A_ACT_BASE = 19, A_WGT_BASE = 20,
               A_OUT_BASE = 21, A_PARAM_BASE = 22, A_IN_C = 23, A_OUT_C = 24;

    reg [32*NARG-1:0] arg_q;
    reg [31:0]        pitch_q;  // ACT_CB_PITCH
    reg               ap_done;
    reg               q0_v, q1_v;  // the queue: q0 is taken first
    reg [QW-1:0]      q0, q1;
    reg [31:0]        starts, runs, dones;
    reg [63:0]        c_cycles, c_busy, c_macs, c_stall_in, c_stall_out;
    reg [63:0]        t_cycles, t_busy, t_macs, t_stall_in, t_stall_out;
    wire              ap_start = q0_v;

    wire [9:0] widx = reg_addr[11:2];
    wire       is_arg = widx >= 10'd4 && widx < 10'd4 + NARG;
    wire [4:0] aidx = widx[4:0] - 5'd4;  // the argument word, when is_arg
    wire [1:0] unused_addr = reg_addr[1:0];

    // ---- the run fields of the arguments as they are now ------------------------------
    // Field f of argument word k: arg_q[32*k + lsb +: width]. The readback mux reads every
    // bit of arg_q, so the bits no field uses need no unused_* wire.
    wire [QW-1:0] snap = {
        arg_q[32*A_IN_H +: 16], arg_q[32*A_IN_W +: 16], arg_q[32*A_N_CB +: 16],
        arg_q[32*A_N_OB +: 16], arg_q[32*A_KH +: 4], arg_q[32*A_KW +: 4],
        arg_q[32*A_STRIDE +: 8], arg_q[32*A_STRIDE + 8 +: 8], arg_q[32*A_DIL +: 8],
        arg_q[32*A_DIL + 8 +: 8], arg_q[32*A_PAD +: 16], arg_q[32*A_PAD + 16 +: 16],
        arg_q[32*A_OUT_H +: DW], arg_q[32*A_OUT_W +: DW], arg_q[32*A_X_ZP +: 8],
        arg_q[32*A_Y_ZP +: 8], arg_q[32*A_ACT +: 8], arg_q[32*A_ACT + 8 +: 8],
        arg_q[32*A_MODE +: 4], arg_q[32*A_MODE + 4 +: 2], arg_q[32*A_POOL_K +: 8],
        arg_q[32*A_POOL_K + 8 +: 8], arg_q[32*A_POOL_S +: 8], arg_q[32*A_POOL_S + 8 +: 8],
        arg_q[32*A_POOL_PAD +: 8], arg_q[32*A_POOL_PAD + 8 +: 8], arg_q[32*A_POOL_OUT +: DW],
        arg_q[32*A_POOL_OUT + 16 +: DW], arg_q[32*A_ACT_BASE + RB +: AW_A],
        pitch_q[RB +: AW_A], arg_q[32*A_WGT_BASE + CB +: AW_W],
        arg_q[32*A_OUT_BASE + CB +: AW_O], arg_q[32*A_PARAM_BASE + 2 +: AW_P],
        arg_q[32*A_IN_C +: 16], arg_q[32*A_OUT_C +: 16]};

    // ---- host writes, ap_ctrl_hs, the queue ----------------------------------------------
    // take: the oldest start is taken this cycle; the run copy gets its fields.
    // start: a start is requested this cycle, with the arguments as they were before it (a
    // write in this very cycle belongs to the next start).
    wire start = (reg_we && widx == W_CTRL && reg_wdata[0]) || core_start;
    always @(*)
        take = q0_v && (!running || take_ok);

    always @(posedge clk) begin
        go <= take;
        if (reg_we && is_arg)
            arg_q[32*aidx +: 32] <= reg_wdata;
        if (reg_we && widx == W_PITCH)
            pitch_q <= reg_wdata;
        if (tile_done)
            dones <= dones + 32'd1;
        if (tile_done && !drain_more) begin
            ap_done <= 1'b1;
            running <= 1'b0;
        end
        if (take) begin
            q0 <= q1;
            q0_v <= q1_v;
            q1_v <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b1;
            runs <= runs + 32'd1;
        end
        // after take: a start goes into the first place free once the take has moved up
        if (start) begin
            if (!q0_v || (take && !q1_v)) begin
                q0 <= snap;
                q0_v <= 1'b1;
                starts <= starts + 32'd1;
            end else if (!q1_v || take) begin
                q1 <= snap;
                q1_v <= 1'b1;
                starts <= starts + 32'd1;
            end
        end
        if (rst || core_reset) begin
            q0_v <= 1'b0;
            q1_v <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b0;
            go <= 1'b0;
        end
        if (rst) begin
            arg_q <= {(32*NARG){1'b0}};
            pitch_q <= 32'd0;
            starts <= 32'd0;
            runs <= 32'd0;
            dones <= 32'd0;
        end
    end

    // ---- the run copy --------------------------------------------------------------------
    always @(posedge clk) begin
        if (take) begin
            {r_in_h, r_in_w, r_n_cb, r_n_ob, r_kh, r_kw, r_sh, r_sw, r_dh, r_dw, r_pt, r_pl,
             r_oh, r_ow, r_x_zp, r_y_zp, r_act_min, r_act_max,
             r_acc_keep, r_acc_load, r_dwise, r_leaky, r_pool, r_pkh, r_pkw, r_psh, r_psw,
             r_ppt, r_ppl, r_ph, r_pw, r_act_base, r_cb_pitch, r_wgt_base, r_out_base,
             r_param_base, r_in_c, r_out_c} <= q0;
            // after the previous tile's last block (r_n_ob, r_bank0 are still its own here);
            // MODE bits 2 and 3 (ACC_LOAD, ACC_KEEP) sit at the end of q0's mode field
            r_bank0 <= q0[Q_ACC_KEEP] || q0[Q_ACC_KEEP - 1] ? 1'b0 : r_bank0 ^ r_n_ob[0];
        end
        if (rst) begin  // the parity chain starts from known values
            r_bank0 <= 1'b0;
            r_n_ob <= 16'd0;
        end
    end

    // ---- counters --------------------------------------------------------------------------
    always @(posedge clk) begin
        if (running) begin
            c_cycles <= c_cycles + 64'd1;
            c_busy <= c_busy + {63'd0, ev_busy};
            c_macs <= c_macs + {{(64-MW){1'b0}}, ev_mac};
            c_stall_in <= c_stall_in + {63'd0, ev_stall_in};
            c_stall_out <= c_stall_out + {63'd0, ev_stall_out};
        end
        if (take || rst) begin
            c_cycles <= 64'd1;  // the cycle ap_start is taken
            c_busy <= 64'd0;
            c_macs <= 64'd0;
            c_stall_in <= 64'd0;
            c_stall_out <= 64'd0;
        end
    end

    // Cumulative: the same events, never restarted but by rst: the take cycle of an idle
    // core and every cycle it runs, each once (a tile taken while another drains overlaps
    // it, so TOTAL_CYCLES can be below the sum of the per-tile CYCLES).
    always @(posedge clk) begin
        if (take || running)
            t_cycles <= t_cycles + 64'd1;
        if (running) begin
            t_busy <= t_busy + {63'd0, ev_busy};
            t_macs <= t_macs + {{(64-MW){1'b0}}, ev_mac};
            t_stall_in <= t_stall_in + {63'd0, ev_stall_in};
            t_stall_out <= t_stall_out + {63'd0, ev_stall_out};
        end
        if (rst) begin
            t_cycles <= 64'd0;
            t_busy <= 64'd0;
            t_macs <= 64'd0;
            t_stall_in <= 64'd0;
            t_stall_out <= 64'd0;
        end
    end

    // ---- reads -----------------------------------------------------------------------------
    reg [31:0] rd;
    always @(*) begin
        rd = 32'd0;
        if (is_arg)
            rd = arg_q[32*aidx +: 32];
        case (widx)
            W_CTRL: rd = {27'd0, q1_v, !running && !ap_start, !running, ap_done, ap_start};
            W_RUNS: rd = runs;
            W_PITCH: rd = pitch_q;
            W_DONES: rd = dones;
            W_STARTS: rd = starts;
            W_CNT + 10'd0: rd = c_cycles[31:0];
            W_CNT + 10'd1: rd = c_cycles[63:32];
            W_CNT + 10'd2: rd = c_busy[31:0];
            W_CNT + 10'd3: rd = c_busy[63:32];
            W_CNT + 10'd4: rd = c_macs[31:0];
            W_CNT + 10'd5: rd = c_macs[63:32];
            W_CNT + 10'd6: rd = c_stall_in[31:0];
            W_CNT + 10'd7: rd = c_stall_in[63:32];
            W_CNT + 10'd8: rd = c_stall_out[31:0];
            W_CNT + 10'd9: rd = c_stall_out[63:32];
            W_TOT + 10'd0: rd = t_cycles[31:0];
            W_TOT + 10'd1: rd = t_cycles[63:32];
            W_TOT + 10'd2: rd = t_busy[31:0];
            W_TOT + 10'd3: rd = t_busy[63:32];
            W_TOT + 10'd4: rd = t_macs[31:0];
            W_TOT + 10'd5: rd = t_macs[63:32];
            W_TOT + 10'd6: rd = t_stall_in[31:0];
            W_TOT + 10'd7: rd = t_stall_in[63:32];
            W_TOT + 10'd8: rd = t_stall_out[31:0];
            W_TOT + 10'd9: rd = t_stall_out[63:32];
            default: ;
        endcase
    end

    always @(posedge clk) begin
        if (reg_re)
            reg_rdata <= rd;
    end

endmodule
`resetall
