`resetall
`default_nettype none
// cbr_cmd_ram - the command block's staging buffer: a simple dual-port RAM, one write port
// and one registered read port, 32-bit words.
//
// Why: a request's payload is only trusted once its CRC has been checked (docs/protocol.md),
// so cbr_cmd_rx writes it here first and cbr_cmd_exec copies it to the register space or a
// buffer afterwards (or echoes it, for NOP). Written in the form FPGA tools map to one block
// RAM (synchronous write, synchronous read, no reset): it holds data, not control state.
module cbr_cmd_ram #(
    parameter AW = 9  // address bits: 2**AW words
) (
    input  wire          clk,
    input  wire          we,     // write wdata at waddr this cycle
    input  wire [AW-1:0] waddr,
    input  wire [31:0]   wdata,
    input  wire          re,     // read raddr this cycle: the word is on rdata the next cycle
    input  wire [AW-1:0] raddr,
    output wire [31:0]   rdata   // holds until the next read
);

    // no_rw_check: the command block never reads a word in the cycle it writes it (the two
    // banks, or in COMPACT mode the read-back a cycle later), so yosys need not build the
    // read-first bypass it otherwise adds around an iCE40 block RAM (73 flip-flops).
    (* no_rw_check *)
    reg [31:0] mem [0:(1 << AW) - 1];
    reg [31:0] rdata_q;

    always @(posedge clk) begin
        if (we)
            mem[waddr] <= wdata;
        if (re)
            rdata_q <= mem[raddr];
    end

    assign rdata = rdata_q;

endmodule
`resetall
