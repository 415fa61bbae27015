`resetall
`default_nettype none
// cbr_core_ctrl - the scoreboard of the two accumulator banks (docs/core.md).
//
// Why: output block ob lives in bank ob % 2 from the moment its parameters are loaded until
// its outputs are written, so that the passes of block ob+1 run while block ob is
// requantized and pooled. Four units share a bank in a fixed order, and this module holds
// the one flag each hand-over needs:
//
//   param loader   FREE -> busy, loading, ready   (ld_start; only when !busy: the first pass
//                                                  may start, its biases are in place
//                                                  before its first beat reaches the bank)
//                  all loaded  -> par, !loading   (ld_all: the drain may start)
//   address gen    first beat of the block issued -> !ready
//   accumulator    last beat of the block written -> full
//   drain          outputs written -> FREE        (dr_done clears busy, par, full)
//
// Flags outlive a tile: the next tile may be taken while the last block of this one drains
// (cbr_core_regs); its blocks start on the other bank. rst (or RESET) clears every flag.
module cbr_core_ctrl (
    input  wire       clk,
    input  wire       rst,
    input  wire       ld_start,  // the parameter loader takes bank ld_sbank
    input  wire       ld_sbank,
    input  wire       ld_all,    // all parameters of bank ld_dbank are loaded
    input  wire       ld_dbank,
    input  wire       bg_first,  // the first beat of a block entered, on bank bg_bank
    input  wire       bg_bank,
    input  wire       acc_full,  // the last beat of a block is in bank acc_bank
    input  wire       acc_bank,
    input  wire       dr_done,   // bank dr_bank is drained
    input  wire       dr_bank,
    output reg  [1:0] b_busy,    // holds a block (from ld_start to dr_done)
    output reg  [1:0] b_loading, // the parameter loader is filling it
    output reg  [1:0] b_ready,   // claimed, block not started: the first pass may go
    output reg  [1:0] b_par,     // all parameters loaded
    output reg  [1:0] b_full     // every pass of the block accumulated
);

    always @(posedge clk) begin
        if (ld_start) begin
            b_busy[ld_sbank] <= 1'b1;
            b_loading[ld_sbank] <= 1'b1;
            b_ready[ld_sbank] <= 1'b1;
        end
        if (ld_all) begin
            b_par[ld_dbank] <= 1'b1;
            b_loading[ld_dbank] <= 1'b0;
        end
        if (bg_first)
            b_ready[bg_bank] <= 1'b0;
        if (acc_full)
            b_full[acc_bank] <= 1'b1;
        if (dr_done) begin
            b_busy[dr_bank] <= 1'b0;
            b_par[dr_bank] <= 1'b0;
            b_full[dr_bank] <= 1'b0;
        end
        if (rst) begin
            b_busy <= 2'b00;
            b_loading <= 2'b00;
            b_ready <= 2'b00;
            b_par <= 2'b00;
            b_full <= 2'b00;
        end
    end

endmodule
`resetall
