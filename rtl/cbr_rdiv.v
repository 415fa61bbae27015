`resetall
`default_nettype none
// cbr_rdiv - pipelined signed division rounded half away from zero, for pooling averages.
//
//   q = sign(s) * floor((|s| + floor(c / 2)) / c)      (golden.c's average(); c >= 1)
//
// Why its own module: the average of int8 values lies in [-128, 127], so only 8 quotient
// bits are ever needed, and a restoring divider of 8 compare-subtract stages is exact, small
// and runs at one result per cycle. The pool stage uses a LANES-wide instance with narrow
// operands for window averages (count <= KMAX^2) and a one-lane instance with wide operands,
// fed one channel per cycle, for global averages (count up to H*W). A beat with in_bypass
// passes the low byte of each lane through (max pooling shares the pipeline).
// Latency QB + 1 = 9 cycles; the pipeline moves when en is high.
module cbr_rdiv #(
    parameter LANES = 1,   // dividends per beat (one shared divisor)
    parameter S_W = 13,    // dividend width (signed); |s| / c must be <= 128
    parameter C_W = 4,     // divisor width (unsigned, >= 1)
    parameter USER_W = 1   // sideband carried with the beat
) (
    input  wire               clk,        // rising-edge clock
    input  wire               rst,        // synchronous, active high, control state only
    input  wire               en,         // advance the pipeline
    input  wire               in_valid,   // input beat present
    input  wire               in_bypass,  // pass s[7:0] through instead of dividing
    input  wire [LANES*S_W-1:0] in_s,     // signed dividend of lane l at [S_W*l+:S_W]
    input  wire [C_W-1:0]     in_c,       // divisor
    input  wire [USER_W-1:0]  in_user,    // sideband of the beat
    output wire               out_valid,  // output beat present (registered)
    output wire [8*LANES-1:0] out_q,      // int8 quotient of lane l at [8l+:8]
    output wire [USER_W-1:0]  out_user    // sideband of the beat
);

    localparam QB = 8;  // quotient bits: |q| <= 128

    generate
        if (S_W < 8 || C_W < 2) begin : g_bad_width
            cbr_rdiv_error_s_w_must_be_at_least_8_and_c_w_at_least_2 u_err ();
        end
    endgenerate
    localparam NW = (S_W + 1 > C_W + QB) ? S_W + 1 : C_W + QB;  // remainder width

    // Stage 0: magnitude plus half the divisor. Stages 1..QB: quotient bit QB-s, MSB first.
    reg [QB:0]                v_q, byp_q;
    reg [(QB+1)*LANES*NW-1:0] rem_q;
    reg [(QB+1)*LANES*QB-1:0] quo_q;
    reg [(QB+1)*LANES-1:0]    neg_q;
    reg [(QB+1)*C_W-1:0]      c_q;
    reg [(QB+1)*USER_W-1:0]   user_q;

    always @(posedge clk) begin : s0
        integer l;
        reg [S_W-1:0] v, mag;
        if (en) begin
            v_q[0] <= in_valid;
            byp_q[0] <= in_bypass;
            c_q[0 +: C_W] <= in_c;
            user_q[0 +: USER_W] <= in_user;
            for (l = 0; l < LANES; l = l + 1) begin
                v = in_s[S_W*l +: S_W];
                mag = v[S_W-1] ? -v : v;
                neg_q[l] <= v[S_W-1];
                rem_q[NW*l +: NW] <= {{(NW-S_W){1'b0}}, mag} + {{(NW-C_W+1){1'b0}}, in_c[C_W-1:1]};
                quo_q[QB*l +: QB] <= v[QB-1:0];  // the bypass value
            end
        end
        if (rst)
            v_q[0] <= 1'b0;
    end

    genvar gs;
    generate
        for (gs = 1; gs <= QB; gs = gs + 1) begin : g_stage
            localparam BIT = QB - gs;
            always @(posedge clk) begin : step
                integer l;
                reg [NW-1:0] rem, dsh;
                if (en) begin
                    v_q[gs] <= v_q[gs-1];
                    byp_q[gs] <= byp_q[gs-1];
                    c_q[C_W*gs +: C_W] <= c_q[C_W*(gs-1) +: C_W];
                    user_q[USER_W*gs +: USER_W] <= user_q[USER_W*(gs-1) +: USER_W];
                    neg_q[LANES*gs +: LANES] <= neg_q[LANES*(gs-1) +: LANES];
                    dsh = {{(NW-C_W){1'b0}}, c_q[C_W*(gs-1) +: C_W]} << BIT;
                    for (l = 0; l < LANES; l = l + 1) begin
                        rem = rem_q[NW*(LANES*(gs-1)+l) +: NW];
                        if (byp_q[gs-1]) begin
                            quo_q[QB*(LANES*gs+l) +: QB] <= quo_q[QB*(LANES*(gs-1)+l) +: QB];
                        end else begin
                            quo_q[QB*(LANES*gs+l) +: QB] <=
                                {quo_q[QB*(LANES*(gs-1)+l) +: QB-1], rem >= dsh};
                            rem = rem >= dsh ? rem - dsh : rem;
                        end
                        rem_q[NW*(LANES*gs+l) +: NW] <= rem;
                    end
                end
                if (rst)
                    v_q[gs] <= 1'b0;
            end
        end
    endgenerate

    genvar gl;
    generate
        for (gl = 0; gl < LANES; gl = gl + 1) begin : g_out
            wire [QB-1:0] q = quo_q[QB*(LANES*QB+gl) +: QB];
            assign out_q[8*gl +: 8] = (byp_q[QB] || !neg_q[LANES*QB+gl]) ? q : -q;
        end
    endgenerate

    assign out_valid = v_q[QB];
    assign out_user = user_q[USER_W*QB +: USER_W];

    wire [LANES*NW-1:0] unused_rem = rem_q[NW*LANES*QB +: NW*LANES];
    wire [C_W-1:0]      unused_c = c_q[C_W*QB +: C_W];

endmodule
`resetall
