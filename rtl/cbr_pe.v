`resetall
`default_nettype none
// cbr_pe - one processing element of the weight-stationary systolic array (docs/rtl.md).
//
// Why it looks like this: the array keeps a weight in every PE and streams activations
// through it, so a PE needs two weight registers (the active one, and a shadow that the next
// pass's weights are written into while the current pass runs: weight loading is hidden
// behind compute) and a swap flag that travels with the first activation of a pass, so each
// PE switches weights exactly when the new pass's wavefront reaches it. The activation moves
// one PE to the right per cycle, the partial sum one PE down; both are registered here.
//
// The activation operand is x - x_zp (9 bits, subtracted once at the array edge), so padding,
// which the feeder sends as x_zp, contributes exactly 0, as NUMERICS.md requires. In the
// depthwise mode of the array the operand comes from a per-column group bus (a_dw) instead of
// the left neighbour; the swap flag still travels along the row.
module cbr_pe #(
    parameter A_W = 9,  // activation operand width: x - x_zp of two int8 values
    parameter W_W = 8,  // weight width (int8)
    parameter P_W = 21  // partial sum width: A_W + W_W + ceil(log2(ROWS)) holds any column sum
) (
    input  wire           clk,     // rising-edge clock
    input  wire           rst,     // synchronous, active high, control state only
    input  wire           cfg_dw,  // 1: multiply a_dw (depthwise group bus), 0: a_in
    input  wire [A_W-1:0] a_in,    // activation from the left neighbour (or the row input)
    input  wire           sw_in,   // first beat of a pass: use the shadow weight from now on
    input  wire [A_W-1:0] a_dw,    // activation from this column's group bus (depthwise)
    output wire [A_W-1:0] a_out,   // a_in, one cycle later, to the right neighbour
    output wire           sw_out,  // sw_in, one cycle later, to the right neighbour
    input  wire [P_W-1:0] p_in,    // partial sum from the PE above (0 in the top row)
    output wire [P_W-1:0] p_out,   // p_in + a * w, registered, to the PE below
    input  wire           wl_en,   // write wl_data into the shadow weight register
    input  wire [W_W-1:0] wl_data  // next pass's weight
);

    reg [A_W-1:0] a_q;
    reg           sw_q;
    reg [W_W-1:0] w_act_q;   // weight of the pass now flowing through this PE
    reg [W_W-1:0] w_sh_q;    // weight of the next pass
    reg [P_W-1:0] p_q;

    wire [W_W-1:0] w_eff = sw_in ? w_sh_q : w_act_q;
    wire [A_W-1:0] a_op = cfg_dw ? a_dw : a_in;
    wire signed [A_W+W_W-1:0] prod = $signed(a_op) * $signed(w_eff);

    always @(posedge clk) begin
        a_q <= a_in;
        w_act_q <= w_eff;
        p_q <= p_in + {{(P_W - A_W - W_W){prod[A_W+W_W-1]}}, prod};
        if (wl_en)
            w_sh_q <= wl_data;
        sw_q <= sw_in;
        if (rst)
            sw_q <= 1'b0;
    end

    assign a_out = a_q;
    assign sw_out = sw_q;
    assign p_out = p_q;

endmodule
`resetall
