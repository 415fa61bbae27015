`resetall
`default_nettype none
// cbr_tiny_ram - 16K x 32 bits, one port, byte write enables: two iCE40UP5K SPRAMs side by
// side (SB_SPRAM256KA, 16K x 16 each), or a behavioural model of them for the simulators.
//
// Why two SPRAMs per port: the host's buffer port moves 32 bits a cycle with a fixed one-cycle
// read latency (cbr_cmd), so a buffer the host writes must take 32 bits at once. The SPRAM's
// write mask is per nibble; a byte enable sets two of them.
//
// yosys 0.23's synth_ice40 does not infer SPRAM from an array, so synthesis (yosys defines
// SYNTHESIS; rtl/tiny is only ever synthesized for the iCE40) gets the primitives; Verilator
// and Icarus read the model (the same timing: the read word is on rdata the cycle after
// en && we == 0, and stays until the next read).
module cbr_tiny_ram (
    input  wire        clk,
    input  wire        en,       // access this cycle
    input  wire [3:0]  we,       // byte write enables (a write when any is set)
    input  wire [13:0] addr,     // word address
    input  wire [31:0] wdata,
    output wire [31:0] rdata     // the word read in the previous cycle
);

`ifdef SYNTHESIS
    wire wr = |we;
    SB_SPRAM256KA u_lo (
        .ADDRESS(addr), .DATAIN(wdata[15:0]),
        .MASKWREN({we[1], we[1], we[0], we[0]}), .WREN(wr), .CHIPSELECT(en),
        .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1),
        .DATAOUT(rdata[15:0]));
    SB_SPRAM256KA u_hi (
        .ADDRESS(addr), .DATAIN(wdata[31:16]),
        .MASKWREN({we[3], we[3], we[2], we[2]}), .WREN(wr), .CHIPSELECT(en),
        .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1),
        .DATAOUT(rdata[31:16]));
`else
    reg [31:0] mem [0:16383];
    reg [31:0] q;

    genvar i;
    generate
        for (i = 0; i < 4; i = i + 1) begin : g_byte
            always @(posedge clk)
                if (en && we[i])
                    mem[addr][8*i +: 8] <= wdata[8*i +: 8];
        end
    endgenerate

    always @(posedge clk)
        if (en && we == 4'd0)
            q <= mem[addr];
    assign rdata = q;
`endif

endmodule
`resetall
