`resetall
`default_nettype none
// cbr_tiny_breg - a 16-bit register held in an iCE40 block RAM (SB_RAM40_4K, 256 x 16, one
// word used), written bit by bit (the RAM's write mask); or a behavioural model of it for the
// simulators.
//
// Why: cbr_tiny_regs' run copy of the arguments (about 250 bits, written once a tile and
// constant while it runs) costs a logic cell per flip-flop on the UP5K, whose logic cells the
// tiny core fills, while 20 of its 30 block RAMs are unused. A block RAM whose read port reads
// one fixed word every cycle presents that word as a register does: q is the word written, from
// the second cycle after the write on. (yosys would map a one-word array to flip-flops, so
// synthesis gets the primitive; yosys defines SYNTHESIS, and rtl/tiny is only ever synthesized
// for the iCE40. Verilator and Icarus read the model, with the same timing.)
module cbr_tiny_breg (
    input  wire        clk,
    input  wire        we,       // write the bits wmask does not keep this cycle
    input  wire [15:0] wmask,    // 1: keep this bit (SB_RAM40_4K's MASK)
    input  wire [15:0] wdata,
    output wire [15:0] q         // the word, from the second cycle after a write
);

`ifdef SYNTHESIS
    SB_RAM40_4K #(.WRITE_MODE(0), .READ_MODE(0)) u_ram (
        .RCLK(clk), .RCLKE(1'b1), .RE(1'b1), .RADDR(11'd0), .RDATA(q),
        .WCLK(clk), .WCLKE(1'b1), .WE(we), .WADDR(11'd0), .MASK(wmask), .WDATA(wdata));
`else
    reg [15:0] m, r;
    integer i;
    always @(posedge clk) begin
        for (i = 0; i < 16; i = i + 1)
            if (we && !wmask[i])
                m[i] <= wdata[i];
        r <= m;
    end
    assign q = r;
`endif

endmodule
`resetall
