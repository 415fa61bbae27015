`resetall
`default_nettype none
// cbr_delay - a fixed delay line of D registers (D = 0 is a wire).
//
// The systolic array needs many of these: the input skew (row r waits r cycles), the output
// de-skew (column j waits COLS-1-j cycles) and the valid/sideband lines that travel beside
// the fixed-latency datapath. One small module keeps those triangles readable. Only delay
// lines that carry control state (valid bits, swap flags) are reset (RESET = 1); data lines
// are not, as STYLE.md asks.
module cbr_delay #(
    parameter W = 1,     // width of the delayed signal
    parameter D = 1,     // delay in cycles (registers); 0 passes the input through
    parameter RESET = 0  // 1: clear the line on rst (for valid bits); 0: no reset (data)
) (
    input  wire         clk,  // rising-edge clock
    input  wire         rst,  // synchronous, active high, control state only
    input  wire [W-1:0] in,   // value entering the line
    output wire [W-1:0] out   // in, D cycles later
);

    wire unused_rst = rst;  // only read when RESET = 1 and D > 0

    generate
        if (D == 0) begin : g_wire
            wire unused_clk = clk;
            assign out = in;
        end else if (D == 1) begin : g_one
            reg [W-1:0] q;
            always @(posedge clk) begin
                q <= in;
                if (RESET != 0 && rst)
                    q <= {W{1'b0}};
            end
            assign out = q;
        end else begin : g_line
            reg [W*D-1:0] q;
            always @(posedge clk) begin
                q <= {q[W*(D-1)-1:0], in};
                if (RESET != 0 && rst)
                    q <= {(W*D){1'b0}};
            end
            assign out = q[W*D-1 -: W];
        end
    endgenerate

endmodule
`resetall
