`resetall
`default_nettype none
// cbr_core_buf - one of the core's four buffers: a cbr_ram whose port A is the host's 32-bit
// byte-addressed view (docs/registers.md) and whose port B is the compute side's full word.
//
// Why words of WB bytes: the compute side needs one activation pixel (ROWS bytes), one
// weight row or one output pixel (COLS bytes) per cycle, so the RAM word is that wide and the
// host's 32-bit words are lanes of it: host byte address A is lane (A / 4) % (WB / 4) of word
// A / WB. A host write enables only the bytes of its lane (and of buf_wstrb); a host read
// returns its lane one cycle after the request, as cbr_cmd's buffer port requires.
// Addresses wrap modulo the buffer size (cbr_cmd never sends one outside it).
//
// Port A also takes whole words (x_*: cbr_cmd's BUF_COPY, a word a cycle); a wide access and
// a host access are never in the same cycle (cbr_cmd's buffer port is idle during a copy).
module cbr_core_buf #(
    parameter WB = 4,  // bytes per word: a power of two, >= 4
    parameter AW = 10  // word-address bits: the buffer holds WB * 2^AW bytes
) (
    input  wire            clk,
    // host port
    input  wire            h_sel,    // the request is for this buffer
    input  wire            h_we,
    input  wire            h_re,
    input  wire [31:0]     h_addr,   // byte address (bits 1:0 ignored)
    input  wire [31:0]     h_wdata,
    input  wire [3:0]      h_wstrb,
    output wire [31:0]     h_rdata,  // the cycle after h_re
    // wide host port (port A too): whole words
    input  wire            x_re,
    input  wire            x_we,
    input  wire [AW-1:0]   x_addr,   // word address
    input  wire [8*WB-1:0] x_wdata,
    output wire [8*WB-1:0] x_rdata,  // the cycle after x_re
    // compute port
    input  wire            c_en,
    input  wire [WB-1:0]   c_we,
    input  wire [AW-1:0]   c_addr,
    input  wire [8*WB-1:0] c_wdata,
    output wire [8*WB-1:0] c_rdata
);

    localparam LB = $clog2(WB);      // byte-in-word bits
    localparam NL = WB / 4;          // host lanes per word

    generate
        if (WB < 4 || (1 << LB) != WB) begin : g_bad_wb
            cbr_core_buf_error_wb_must_be_a_power_of_two_at_least_4 u_err ();
        end
    endgenerate

    wire            x_on = x_re || x_we;
    wire [AW-1:0]   a_addr = x_on ? x_addr : h_addr[LB +: AW];
    wire [8*WB-1:0] a_rdata;
    wire [WB-1:0]   a_we;
    wire [WB-1:0]   h_we_b;   // the host's byte enables in the word
    wire [31:0]     unused_addr = {h_addr[31:LB+AW], h_addr[1:0], {(LB+AW-2){1'b0}}};

    generate
        if (NL == 1) begin : g_one
            assign h_we_b = h_we ? h_wstrb : 4'd0;
            assign h_rdata = a_rdata;
        end else begin : g_lanes
            wire [LB-3:0] lane = h_addr[LB-1:2];
            reg  [LB-3:0] lane_q;
            always @(posedge clk)
                if (h_sel && h_re)
                    lane_q <= lane;
            assign h_we_b = h_we ? {{(WB-4){1'b0}}, h_wstrb} << (4 * lane) : {WB{1'b0}};
            assign h_rdata = a_rdata[32*lane_q +: 32];
        end
    endgenerate
    assign a_we = x_we ? {WB{1'b1}} : h_we_b;
    assign x_rdata = a_rdata;

    cbr_ram #(.WB(WB), .AW(AW)) u_ram (
        .clk(clk),
        .a_en((h_sel && (h_we || h_re)) || x_on),
        .a_we(a_we),
        .a_addr(a_addr),
        .a_wdata(x_we ? x_wdata : {NL{h_wdata}}),
        .a_rdata(a_rdata),
        .b_en(c_en),
        .b_we(c_we),
        .b_addr(c_addr),
        .b_wdata(c_wdata),
        .b_rdata(c_rdata)
    );

endmodule
`resetall
