`resetall
`default_nettype none
// cbr_requant - one lane of requantization + activation clamp, exactly as NUMERICS.md.
//
//   scaled = MultiplyByQuantizedMultiplier(acc, M0, shift)     ((M0n, shiftn) if leaky, acc < 0)
//   y      = clamp(scaled + y_zp, act_min, act_max)
//
// Why a stream with per-element parameters: the accumulator drain produces one int32 per
// output channel per cycle per lane, and the per-channel parameters (M0, shift and the leaky
// pair, from the params buffer) arrive beside it, so the stage needs no knowledge of layout.
// BatchNorm is already folded into M0, shift and the bias (NUMERICS.md), so this is the whole
// BN + activation. Initiation interval 1, latency 6 cycles when out_ready stays high.
//
// Pipeline (each stage registered, all advancing together while the output skid has room):
//   S1  pick (M0, shift) or the leaky pair; split shift into left = max(s,0), right = max(-s,0)
//   S2  a = saturate_int32(acc * 2^left)
//   S3  ab = a * M (signed 32 x 32 -> 64; a DSP cascade on FPGAs)
//   S4  SaturatingRoundingDoublingHighMul: (ab + nudge) / 2^31 truncated toward zero, and
//       INT32_MAX for INT32_MIN * INT32_MIN
//   S5  RoundingDivideByPOT(x, right): (x >> right) + (remainder > threshold)
//   out clamp(S5 + y_zp, act_min, act_max), in the skid buffer's output register
//
// Ranges (NUMERICS.md): shift in [-31, 30] as 6-bit two's complement; act_min <= act_max.
// M0 may be any int32 (the datapath is the general gemmlowp one), 0 included.
module cbr_requant #(
    parameter USER_W = 1  // sideband bits carried with each element (channel index, last, ...)
) (
    input  wire              clk,           // rising-edge clock
    input  wire              rst,           // synchronous, active high, control state only
    input  wire              in_valid,      // input beat present
    output wire              in_ready,      // beat taken when valid && ready (registered)
    input  wire [31:0]       in_acc,        // int32 accumulator
    input  wire [31:0]       in_m0,         // M0, used when not (leaky and acc < 0)
    input  wire [5:0]        in_shift,      // shift, signed, -31..30
    input  wire              in_leaky,      // use the second pair for acc < 0
    input  wire [31:0]       in_neg_m0,     // M0n
    input  wire [5:0]        in_neg_shift,  // shiftn, signed, -31..30
    input  wire [7:0]        in_y_zp,       // output zero point, int8
    input  wire [7:0]        in_act_min,    // clamp low, int8
    input  wire [7:0]        in_act_max,    // clamp high, int8
    input  wire [USER_W-1:0] in_user,       // sideband of the beat
    output wire              out_valid,     // output beat present (registered)
    input  wire              out_ready,     // consumer takes the output beat
    output wire [7:0]        out_data,      // int8 result
    output wire [USER_W-1:0] out_user       // sideband of the beat
);

    localparam [31:0] I32_MIN = 32'h8000_0000;
    localparam [31:0] I32_MAX = 32'h7FFF_FFFF;
    localparam CTX_W = 24 + USER_W;  // y_zp, act_min, act_max, user travel along

    wire adv;  // the whole pipeline moves this cycle

    // ---- S1: select the multiplier pair -------------------------------------------------
    wire       neg = in_leaky && in_acc[31];
    wire [5:0] s_sel = neg ? in_neg_shift : in_shift;

    reg              v1;
    reg [31:0]       acc1;
    reg [31:0]       m1;
    reg [4:0]        left1;
    reg [5:0]        right1;
    reg [CTX_W-1:0]  ctx1;

    always @(posedge clk) begin
        if (adv) begin
            v1 <= in_valid;
            acc1 <= in_acc;
            m1 <= neg ? in_neg_m0 : in_m0;
            left1 <= s_sel[5] ? 5'd0 : s_sel[4:0];
            right1 <= s_sel[5] ? 6'd0 - s_sel : 6'd0;
            ctx1 <= {in_user, in_act_max, in_act_min, in_y_zp};
        end
        if (rst)
            v1 <= 1'b0;
    end

    // ---- S2: a = saturate(acc * 2^left) -------------------------------------------------
    wire [63:0] wide = {{32{acc1[31]}}, acc1} << left1;
    // It fits in int32 when bits 63..31 are all copies of the sign.
    wire        fits = &wide[63:31] || ~|wide[63:31];
    wire [31:0] a_sat = fits ? wide[31:0] : (wide[63] ? I32_MIN : I32_MAX);

    reg             v2;
    reg [31:0]      a2;
    reg [31:0]      m2;
    reg [5:0]       right2;
    reg [CTX_W-1:0] ctx2;

    always @(posedge clk) begin
        if (adv) begin
            v2 <= v1;
            a2 <= a_sat;
            m2 <= m1;
            right2 <= right1;
            ctx2 <= ctx1;
        end
        if (rst)
            v2 <= 1'b0;
    end

    // ---- S3: the 64-bit product ---------------------------------------------------------
    wire signed [63:0] ab = $signed(a2) * $signed(m2);

    reg             v3;
    reg [63:0]      ab3;
    reg             minmin3;
    reg [5:0]       right3;
    reg [CTX_W-1:0] ctx3;

    always @(posedge clk) begin
        if (adv) begin
            v3 <= v2;
            ab3 <= ab;
            minmin3 <= a2 == I32_MIN && m2 == I32_MIN;
            right3 <= right2;
            ctx3 <= ctx2;
        end
        if (rst)
            v3 <= 1'b0;
    end

    // ---- S4: SaturatingRoundingDoublingHighMul ------------------------------------------
    // nudge = ab >= 0 ? 2^30 : 1 - 2^30; |ab| <= 2^62, so ab + nudge cannot overflow.
    wire [63:0] nudge = ab3[63] ? 64'hFFFF_FFFF_C000_0001 : 64'h0000_0000_4000_0000;
    wire [63:0] sum = ab3 + nudge;
    // Division by 2^31 truncating toward zero: floor for sum >= 0, ceil (add 2^31 - 1
    // before the arithmetic shift) for sum < 0.
    wire [63:0] sum_adj = sum[63] ? sum + 64'h0000_0000_7FFF_FFFF : sum;
    wire [63:0] quo = $signed(sum_adj) >>> 31;
    wire [31:0] srdhm = minmin3 ? I32_MAX : quo[31:0];
    wire [32:0] unused_quo = quo[63:31];  // |quotient| < 2^31 except the case handled above

    reg             v4;
    reg [31:0]      x4;
    reg [5:0]       right4;
    reg [CTX_W-1:0] ctx4;

    always @(posedge clk) begin
        if (adv) begin
            v4 <= v3;
            x4 <= srdhm;
            right4 <= right3;
            ctx4 <= ctx3;
        end
        if (rst)
            v4 <= 1'b0;
    end

    // ---- S5: RoundingDivideByPOT ----------------------------------------------------------
    wire [32:0] mask_w = (33'd1 << right4) - 33'd1;
    wire [31:0] mask = mask_w[31:0];
    wire        unused_mask = mask_w[32];
    wire [31:0] remainder = x4 & mask;
    wire [31:0] threshold = {1'b0, mask[31:1]} + {31'd0, x4[31]};
    wire [31:0] shifted = $signed(x4) >>> right4;
    wire [31:0] rdiv = shifted + {31'd0, remainder > threshold};

    reg             v5;
    reg [31:0]      x5;
    reg [CTX_W-1:0] ctx5;

    always @(posedge clk) begin
        if (adv) begin
            v5 <= v4;
            x5 <= rdiv;
            ctx5 <= ctx4;
        end
        if (rst)
            v5 <= 1'b0;
    end

    // ---- out: + y_zp, clamp --------------------------------------------------------------
    wire [7:0]        y_zp = ctx5[7:0];
    wire [7:0]        act_min = ctx5[15:8];
    wire [7:0]        act_max = ctx5[23:16];
    wire [USER_W-1:0] user5 = ctx5[CTX_W-1:24];
    wire signed [32:0] y = $signed({x5[31], x5}) + $signed({{25{y_zp[7]}}, y_zp});
    wire signed [32:0] lo = $signed({{25{act_min[7]}}, act_min});
    wire signed [32:0] hi = $signed({{25{act_max[7]}}, act_max});
    wire [32:0]        yc = y < lo ? lo : (y > hi ? hi : y);
    wire [24:0]        unused_yc = yc[32:8];  // within [act_min, act_max], so int8

    cbr_skid #(.W(8 + USER_W)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(v5),
        .in_ready(adv),
        .in_data({user5, yc[7:0]}),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data({out_user, out_data})
    );

    assign in_ready = adv;

endmodule
`resetall
