`resetall
`default_nettype none
// cbr_ram - a true dual-port RAM with byte write enables and registered reads (block RAM).
//
// Why one generic module: every buffer of the core (activations, weights, parameters,
// outputs, the accumulator banks) is a block RAM with a host-side port and a compute-side
// port on the same clock, written here once in the form that yosys (memory_libmap), Vivado
// and the simulators all recognise: one memory, two ports, each with its own address, byte
// enables and a read register that loads when the port is enabled. Reads return the old data when a
// port writes the address it reads (read-first); both ports writing one address in the same
// cycle is undefined, as in the FPGA primitives, and the core never does it.
module cbr_ram #(
    parameter WB = 4,  // bytes per word; the write-enable granularity is one byte
    parameter AW = 10  // address bits: 2^AW words
) (
    input  wire            clk,
    // port A
    input  wire            a_en,     // access: the read register loads, writes may happen
    input  wire [WB-1:0]   a_we,     // byte write enables (ignored unless a_en)
    input  wire [AW-1:0]   a_addr,   // word address
    input  wire [8*WB-1:0] a_wdata,  // byte i at [8i+:8]
    output reg  [8*WB-1:0] a_rdata,  // the word at a_addr, the cycle after a_en
    // port B, likewise
    input  wire            b_en,
    input  wire [WB-1:0]   b_we,
    input  wire [AW-1:0]   b_addr,
    input  wire [8*WB-1:0] b_wdata,
    output reg  [8*WB-1:0] b_rdata
);

    reg [8*WB-1:0] mem [0:(1<<AW)-1];

    // One write process per byte and port (not a loop: simulators handle any WB this way).
    genvar i;
    generate
        for (i = 0; i < WB; i = i + 1) begin : g_byte
            always @(posedge clk)
                if (a_en && a_we[i])
                    mem[a_addr][8*i +: 8] <= a_wdata[8*i +: 8];
            always @(posedge clk)
                if (b_en && b_we[i])
                    mem[b_addr][8*i +: 8] <= b_wdata[8*i +: 8];
        end
    endgenerate

    always @(posedge clk) begin
        if (a_en)
            a_rdata <= mem[a_addr];
        if (b_en)
            b_rdata <= mem[b_addr];
    end

endmodule
`resetall
