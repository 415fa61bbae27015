`resetall
`default_nettype none
// cbr_array - the ROWS x COLS weight-stationary systolic array (docs/rtl.md).
//
// Why weight-stationary: one activation word per cycle (ROWS input channels of one pixel,
// read from one address of an NHWC-blocked buffer) feeds the whole array whatever the stride,
// dilation or padding, and weights are reused over a whole pass of pixels, so they can be
// loaded into shadow registers behind compute. Row r holds input channel r (or a depthwise
// tap), column j holds output channel j. A beat is one pixel; its result leaves the array as
// one COLS-wide vector of partial sums, LAT = ROWS + COLS - 1 cycles later. The skew of the
// wavefront (row r runs r cycles late, column j runs j cycles late) is done here, so outside
// the array every stream is aligned.
//
// Flow control: none inside. The array is a fixed-latency pipeline that never stalls; the
// feeder inserts bubbles (in_valid = 0) when it has nothing to send or when the accumulator
// behind the array has no room, and out_valid repeats in_valid LAT cycles later. That keeps
// the ROWS x COLS grid free of a global enable, whose fan-out would limit the clock.
//
// Weights: wl_valid writes wl_data into the shadow registers of row wl_row. A beat with
// in_sw = 1 starts a pass: each PE swaps to the shadow weights when that beat reaches it.
// Contract (docs/rtl.md): after the in_sw beat of a pass enters at cycle t, row r's shadow may
// be written from cycle t + COLS + r on, and must be written before the next in_sw beat
// reaches row r (enters at t' > write cycle - r). Writing one row per cycle from t + COLS,
// a pass of COLS + 1 beats hides the load completely.
//
// Depthwise mode (cfg_dw = 1): rows form NG = ROWS / DW_RB groups of DW_RB rows. Group g has
// its own bus dw_x of COLS int8 lanes (COLS channels of one input pixel), and row r = g*DW_RB
// + k takes, for the beat that entered at cycle t, lane j of the group-g word presented at
// cycle t + r. The feeder streams one input pixel per cycle per group (a kernel row), so the
// DW_RB rows of a group see consecutive kernel taps of the same pixel stream, and column j
// sums the taps of channel j only. in_x is ignored; in_sw and in_valid work as in normal mode.
//
// Arithmetic: operands are x - x_zp (9 bits) and int8 weights; column sums are exact in
// P_W = 17 + clog2(ROWS) bits and leave sign-extended to int32.
module cbr_array #(
    parameter ROWS = 16,   // PE rows: input channels (or depthwise taps) per pass, >= 2
    parameter COLS = 16,   // PE columns: output channels per pass, >= 1
    parameter DW_RB = 4,   // rows per depthwise group; must divide ROWS
    parameter USER_W = 1   // sideband bits carried from in_user to out_user with the beat
) (
    input  wire                             clk,        // rising-edge clock
    input  wire                             rst,        // synchronous reset (valid bits)
    input  wire                             cfg_dw,     // 1: depthwise group-bus mode
    input  wire [7:0]                       cfg_x_zp,   // input zero point, subtracted here
    input  wire                             in_valid,   // a beat (one pixel) enters
    input  wire                             in_sw,      // this beat starts a pass
    input  wire [8*ROWS-1:0]                in_x,       // int8 activation of row r at [8r+:8]
    input  wire [USER_W-1:0]                in_user,    // sideband of the beat
    input  wire [8*COLS*(ROWS/DW_RB)-1:0]   dw_x,       // group g lane j at [8(g*COLS+j)+:8]
    input  wire                             wl_valid,   // write one row of shadow weights
    input  wire [$clog2(ROWS)-1:0]          wl_row,     // which row
    input  wire [8*COLS-1:0]                wl_data,    // int8 weight of column j at [8j+:8]
    output wire                             out_valid,  // a beat's result
    output wire [32*COLS-1:0]               out_data,   // int32 sum of column j at [32j+:32]
    output wire [USER_W-1:0]                out_user    // the beat's sideband
);

    localparam A_W = 9;                        // x - x_zp
    localparam P_W = A_W + 8 + $clog2(ROWS);   // exact column sum
    localparam NG = ROWS / DW_RB;              // depthwise groups
    localparam LAT = ROWS + COLS - 1;          // in_valid to out_valid

    generate
        if (ROWS < 2) begin : g_bad_rows
            cbr_array_error_rows_must_be_at_least_2 u_err ();
        end
        if (COLS < 1) begin : g_bad_cols
            cbr_array_error_cols_must_be_at_least_1 u_err ();
        end
        if (DW_RB < 1 || ROWS % DW_RB != 0) begin : g_bad_rb
            cbr_array_error_dw_rb_must_divide_rows u_err ();
        end
    endgenerate

    // Activations travelling right: row r, position j (0 = entering column 0, COLS = off the
    // right edge) at index r*(COLS+1)+j. Partial sums travelling down: row r (0 = top input,
    // ROWS = bottom output), column j at index r*COLS+j.
    wire [ROWS*(COLS+1)*A_W-1:0] ah;
    wire [ROWS*(COLS+1)-1:0]     swh;
    wire [(ROWS+1)*COLS*P_W-1:0] pv;
    wire [NG*COLS*A_W-1:0]       dwa;     // group g lane j, skewed by j, minus x_zp

    wire [A_W-1:0] zp9 = {cfg_x_zp[7], cfg_x_zp};
    wire           sw_beat = in_valid & in_sw;

    genvar r, j, g;
    generate
        // Input skew: row r enters r cycles late.
        for (r = 0; r < ROWS; r = r + 1) begin : g_row_in
            wire [7:0] x_sk;
            wire       sw_sk;
            cbr_delay #(.W(8), .D(r), .RESET(0)) u_x (
                .clk(clk), .rst(rst), .in(in_x[8*r +: 8]), .out(x_sk));
            cbr_delay #(.W(1), .D(r), .RESET(1)) u_sw (
                .clk(clk), .rst(rst), .in(sw_beat), .out(sw_sk));
            assign ah[(r*(COLS+1))*A_W +: A_W] = {x_sk[7], x_sk} - zp9;
            assign swh[r*(COLS+1)] = sw_sk;
        end

        // Depthwise group buses: lane j reaches column j j cycles late, like the wavefront.
        for (g = 0; g < NG; g = g + 1) begin : g_dw_grp
            for (j = 0; j < COLS; j = j + 1) begin : g_dw_lane
                wire [7:0] x_sk;
                cbr_delay #(.W(8), .D(j), .RESET(0)) u_x (
                    .clk(clk), .rst(rst), .in(dw_x[8*(g*COLS+j) +: 8]), .out(x_sk));
                assign dwa[(g*COLS+j)*A_W +: A_W] = {x_sk[7], x_sk} - zp9;
            end
        end

        for (j = 0; j < COLS; j = j + 1) begin : g_top
            assign pv[j*P_W +: P_W] = {P_W{1'b0}};
        end

        for (r = 0; r < ROWS; r = r + 1) begin : g_r
            for (j = 0; j < COLS; j = j + 1) begin : g_c
                cbr_pe #(.A_W(A_W), .W_W(8), .P_W(P_W)) u_pe (
                    .clk(clk),
                    .rst(rst),
                    .cfg_dw(cfg_dw),
                    .a_in(ah[(r*(COLS+1)+j)*A_W +: A_W]),
                    .sw_in(swh[r*(COLS+1)+j]),
                    .a_dw(dwa[((r/DW_RB)*COLS+j)*A_W +: A_W]),
                    .a_out(ah[(r*(COLS+1)+j+1)*A_W +: A_W]),
                    .sw_out(swh[r*(COLS+1)+j+1]),
                    .p_in(pv[(r*COLS+j)*P_W +: P_W]),
                    .p_out(pv[((r+1)*COLS+j)*P_W +: P_W]),
                    .wl_en(wl_valid && wl_row == r),
                    .wl_data(wl_data[8*j +: 8])
                );
            end
        end

        // Output de-skew: column j waits COLS-1-j cycles, so a beat leaves as one vector.
        for (j = 0; j < COLS; j = j + 1) begin : g_out
            wire [P_W-1:0] p_dk;
            cbr_delay #(.W(P_W), .D(COLS-1-j), .RESET(0)) u_p (
                .clk(clk), .rst(rst), .in(pv[(ROWS*COLS+j)*P_W +: P_W]), .out(p_dk));
            assign out_data[32*j +: 32] = {{(32-P_W){p_dk[P_W-1]}}, p_dk};
        end
    endgenerate

    cbr_delay #(.W(1), .D(LAT), .RESET(1)) u_valid (
        .clk(clk), .rst(rst), .in(in_valid), .out(out_valid));
    cbr_delay #(.W(USER_W), .D(LAT), .RESET(0)) u_user (
        .clk(clk), .rst(rst), .in(in_user), .out(out_user));

    // The activations and swap flags that fall off the right edge go nowhere.
    wire unused_edge;
    generate
        if (1) begin : g_unused
            wire [ROWS*(A_W+1)-1:0] edge_bits;
            for (r = 0; r < ROWS; r = r + 1) begin : g_e
                assign edge_bits[r*(A_W+1) +: A_W+1] =
                    {swh[r*(COLS+1)+COLS], ah[(r*(COLS+1)+COLS)*A_W +: A_W]};
            end
            assign unused_edge = ^edge_bits;
        end
    endgenerate

endmodule
`resetall
