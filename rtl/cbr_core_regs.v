`resetall
`default_nettype none
// cbr_core_regs - the core's register block (docs/registers.md): ap_ctrl_hs at 0x00, the
// tile arguments (0x10..0x70, 0x78), the 64-bit per-tile counters at 0x80 and the 64-bit
// cumulative counters at 0xC0.
//
// Why a run copy: the host writes the next tile's arguments while the current tile runs
// (double buffering), so every argument is copied into a run register when ap_start is
// taken, and the datapath only ever sees the run copy. The host-visible copy keeps all 32
// bits of every word so registers read back exactly as written; the run copy keeps only the
// bits the datapath uses, already converted to word addresses of each buffer.
//
// Control: ap_start is set by a CTRL write with bit 0 or by core_start (the RUN command), and
// taken in the first cycle the core is idle, or in which the running tile no longer needs
// the front of the core (take_ok: every beat of it accumulated and its parameters loaded;
// only its drain is left): the arguments are copied in that cycle (`take`), `go` pulses the
// cycle after (every run register valid from then on) and `running` stays high from then
// until the last tile taken is done (tile_done with no further tile for the drain). So a
// queued tile's passes start while the tile before it is requantized and written out. A
// start requested while one is pending merges with it (ap_start is one bit); one requested
// in the very cycle the pending one is taken stays pending for the next tile, as the argument
// writes of that cycle do. ap_done is set when the core becomes idle and cleared only when
// the next ap_start is taken (not on read, as HLS has it): every register read can then be
// retried over a lossy link. RUNS (0x74) counts the starts taken since reset, so the host
// learns whether a RUN whose answer was lost reached the core; DONES (0x7C) counts the tiles
// finished (outputs written), so the host learns when a tile's outputs may be read even
// while the next tile already runs. ap_idle = !running; ap_ready = the core would take
// ap_start now (!running && !ap_start). core_reset (the RESET command) clears ap_start,
// ap_done and running; arguments, RUNS, DONES and the counters keep their values.
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

    localparam RB = $clog2(ROWS);
    localparam CB = $clog2(COLS);
    localparam NARG = 25;  // 0x10 .. 0x70; ACT_CB_PITCH (0x78) is held apart (RUNS is 0x74)
    localparam [9:0] W_CTRL = 10'd0, W_RUNS = 10'd29, W_PITCH = 10'd30, W_DONES = 10'd31,
                     W_CNT = 10'd32, W_TOT = 10'd48;

    // Argument word indices (address = 0x10 + 4 * index).
    localparam A_IN_H = 0, A_IN_W = 1, A_N_CB = 2, A_N_OB = 3, A_KH = 4, A_KW = 5,
               A_STRIDE = 6, A_DIL = 7, A_PAD = 8, A_OUT_H = 9, A_OUT_W = 10, A_X_ZP = 11,
               A_Y_ZP = 12, A_ACT = 13, A_MODE = 14, A_POOL_K = 15, A_POOL_S = 16,
               A_POOL_PAD = 17, A_POOL_OUT = 18, A_ACT_BASE = 19, A_WGT_BASE = 20,
               A_OUT_BASE = 21, A_PARAM_BASE = 22, A_IN_C = 23, A_OUT_C = 24;

    reg [32*NARG-1:0] arg_q;
    reg [31:0]        pitch_q;  // ACT_CB_PITCH
    reg               ap_start, ap_done;
    reg [31:0]        runs, dones;
    reg [63:0]        c_cycles, c_busy, c_macs, c_stall_in, c_stall_out;
    reg [63:0]        t_cycles, t_busy, t_macs, t_stall_in, t_stall_out;

    wire [9:0] widx = reg_addr[11:2];
    wire       is_arg = widx >= 10'd4 && widx < 10'd4 + NARG;
    wire [4:0] aidx = widx[4:0] - 5'd4;  // the argument word, when is_arg
    wire [1:0] unused_addr = reg_addr[1:0];

    // ---- host writes, ap_ctrl_hs ---------------------------------------------------------
    // take: ap_start is taken this cycle; the run copy gets the arguments as they were
    // before it (a write in this very cycle belongs to the next tile).
    always @(*)
        take = ap_start && (!running || take_ok);

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
            ap_start <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b1;
            runs <= runs + 32'd1;
        end
        // after take: a start requested in the take cycle is the next tile's
        if ((reg_we && widx == W_CTRL && reg_wdata[0]) || core_start)
            ap_start <= 1'b1;
        if (rst || core_reset) begin
            ap_start <= 1'b0;
            ap_done <= 1'b0;
            running <= 1'b0;
            go <= 1'b0;
        end
        if (rst) begin
            arg_q <= {(32*NARG){1'b0}};
            pitch_q <= 32'd0;
            runs <= 32'd0;
            dones <= 32'd0;
        end
    end

    // ---- the run copy --------------------------------------------------------------------
    // Field f of argument word k: arg_q[32*k + lsb +: width]. The readback mux reads every
    // bit of arg_q, so the bits no field uses need no unused_* wire.
    always @(posedge clk) begin
        if (take) begin
            r_in_h <= arg_q[32*A_IN_H +: 16];
            r_in_w <= arg_q[32*A_IN_W +: 16];
            r_n_cb <= arg_q[32*A_N_CB +: 16];
            r_n_ob <= arg_q[32*A_N_OB +: 16];
            r_kh <= arg_q[32*A_KH +: 4];
            r_kw <= arg_q[32*A_KW +: 4];
            r_sh <= arg_q[32*A_STRIDE +: 8];
            r_sw <= arg_q[32*A_STRIDE + 8 +: 8];
            r_dh <= arg_q[32*A_DIL +: 8];
            r_dw <= arg_q[32*A_DIL + 8 +: 8];
            r_pt <= arg_q[32*A_PAD +: 16];
            r_pl <= arg_q[32*A_PAD + 16 +: 16];
            r_oh <= arg_q[32*A_OUT_H +: DW];
            r_ow <= arg_q[32*A_OUT_W +: DW];
            r_x_zp <= arg_q[32*A_X_ZP +: 8];
            r_y_zp <= arg_q[32*A_Y_ZP +: 8];
            r_act_min <= arg_q[32*A_ACT +: 8];
            r_act_max <= arg_q[32*A_ACT + 8 +: 8];
            r_leaky <= arg_q[32*A_MODE];
            r_dwise <= arg_q[32*A_MODE + 1];
            r_acc_load <= arg_q[32*A_MODE + 2];
            r_acc_keep <= arg_q[32*A_MODE + 3];
            r_pool <= arg_q[32*A_MODE + 4 +: 2];
            r_pkh <= arg_q[32*A_POOL_K +: 8];
            r_pkw <= arg_q[32*A_POOL_K + 8 +: 8];
            r_psh <= arg_q[32*A_POOL_S +: 8];
            r_psw <= arg_q[32*A_POOL_S + 8 +: 8];
            r_ppt <= arg_q[32*A_POOL_PAD +: 8];
            r_ppl <= arg_q[32*A_POOL_PAD + 8 +: 8];
            r_ph <= arg_q[32*A_POOL_OUT +: DW];
            r_pw <= arg_q[32*A_POOL_OUT + 16 +: DW];
            r_act_base <= arg_q[32*A_ACT_BASE + RB +: AW_A];
            r_cb_pitch <= pitch_q[RB +: AW_A];
            r_wgt_base <= arg_q[32*A_WGT_BASE + CB +: AW_W];
            r_out_base <= arg_q[32*A_OUT_BASE + CB +: AW_O];
            r_param_base <= arg_q[32*A_PARAM_BASE + 2 +: AW_P];
            // after the previous tile's last block (r_n_ob, r_bank0 are still its own here)
            r_bank0 <= arg_q[32*A_MODE + 2] || arg_q[32*A_MODE + 3] ? 1'b0 : r_bank0 ^ r_n_ob[0];
            r_in_c <= arg_q[32*A_IN_C +: 16];
            r_out_c <= arg_q[32*A_OUT_C +: 16];
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
            W_CTRL: rd = {28'd0, !running && !ap_start, !running, ap_done, ap_start};
            W_RUNS: rd = runs;
            W_PITCH: rd = pitch_q;
            W_DONES: rd = dones;
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
