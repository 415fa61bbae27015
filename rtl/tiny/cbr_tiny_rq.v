`resetall
`default_nettype none
// cbr_tiny_rq - one requantization (docs/numerics.md) at a time, in a few dozen cycles:
//
//   y = clamp(RDBPOT(SRDHM(sat(acc * 2^left), M0), right) + y_zp, act_min, act_max)
//
// Why serial and on magnitudes: the tiny core drains one channel of one pixel at a time, so
// a result every ~20 cycles is plenty, and a single 16x16 unsigned multiplier (one SB_MAC16)
// used four times plus one-bit shifters costs a fraction of cbr_requant's 32x32 multiplier
// and barrel shifters. Working on |acc| and |M0| with the product's sign apart makes both
// roundings the same formula:
//
//   SRDHM:  |r| = floor((|acc'| * M0 + 2^30 - neg) / 2^31), neg = sign(acc): M0 is 0 or in
//           [2^30, 2^31 - 1] (docs/numerics.md; the core trusts its parameters)
//           (gemmlowp's nudge 1 - 2^30 and truncation toward zero, on the magnitude);
//           a positive 2^31 (INT32_MIN * INT32_MIN) saturates to 2^31 - 1
//   RDBPOT: |q| = floor((|r| + 2^(e-1)) / 2^e) = (floor(|r| / 2^(e-1)) + 1) / 2, e >= 1:
//           round half away from zero
//   sat(acc * 2^left): |acc| doubled left times, stopping at 2^31 - 1 (or 2^31 when acc < 0)
//
// Cycles: 1 + min(left, ...) + 4 + 1 + right + 1.
module cbr_tiny_rq (
    input  wire        clk,
    input  wire        rst,
    input  wire        m_load,     // take m0 (before start: the caller need not hold it)
    input  wire        start,      // pulse: take acc and shift
    input  wire [31:0] acc,        // int32
    input  wire [31:0] m0,         // the multiplier, 0 or 2^30 .. 2^31 - 1 (bit 31 unused)
    input  wire [5:0]  shift,      // int6, -31..30
    input  wire [7:0]  y_zp,
    input  wire [7:0]  act_min,
    input  wire [7:0]  act_max,
    output reg         done,       // pulse: y valid
    output reg  [7:0]  y
);

    localparam [2:0] R_IDLE = 3'd0, R_LSH = 3'd1, R_MUL = 3'd2, R_H = 3'd3, R_RSH = 3'd4,
                     R_FIN = 3'd5;

    reg [2:0]  st;
    reg [31:0] a, m;       // |acc'|, M0
    reg        sa, neg;
    reg [4:0]  left;
    reg [5:0]  right;
    reg [1:0]  k;          // partial product
    reg [33:0] p;          // the product's high part, shifted down 16 bits a step; then
                           // (R_H on) q, the rounded high half, halved right times
    reg        p31;        // bit 31 of the product (plus the nudge)
    wire [32:0] q = p[32:0];

    // The product |a| * |m| + 2^30 - neg in three steps of a 34-bit sum, from the low
    // partial product up, shifting the sum down 16 bits between weights:
    //   k0: a_lo * m_lo + nudge      k1: + a_lo * m_hi, k2: + a_hi * m_lo (weight 2^16)
    //   k3: (sum >> 16) + a_hi * m_hi (weight 2^32)
    // and the rounded high half is bits 62:31 of the product: {p, p31}.
    wire [15:0] pa = k[1] ? a[31:16] : a[15:0];
    wire [15:0] pb = k == 2'd1 || k == 2'd3 ? m[31:16] : m[15:0];
    wire [31:0] pp = pa * pb;
    wire [33:0] p_in = k == 2'd0 ? {3'd0, 1'b1, 30'd0} - {33'd0, neg} :
                       k == 2'd3 ? {16'd0, p[33:16]} : p;
    wire [33:0] p_sum = p_in + {2'd0, pp};
    wire [32:0] h = {p[31:0], p31};
    wire        unused_m0 = m0[31];
    // saturating doubling: |acc| may grow to 2^31 - 1, or 2^31 when acc < 0
    wire        a_big = a[31] || (a[30] && (!sa || |a[29:0]));
    // the result saturates the int8 range long before 2^9, so the clamp works on 11 bits
    wire [9:0]  qs = |q[32:9] ? 10'd511 : {1'b0, q[8:0]};
    wire [10:0] r = neg ? 11'd0 - {1'b0, qs} : {1'b0, qs};
    wire [11:0] yv = {r[10], r} + {{4{y_zp[7]}}, y_zp};
    wire [11:0] lo = {{4{act_min[7]}}, act_min};
    wire [11:0] hi = {{4{act_max[7]}}, act_max};

    always @(posedge clk) begin
        done <= 1'b0;
        if (m_load)
            m <= {1'b0, m0[30:0]};
        case (st)
            R_IDLE:
                if (start) begin
                    sa <= acc[31];
                    a <= acc[31] ? 32'd0 - acc : acc;
                    neg <= acc[31];
                    left <= shift[5] ? 5'd0 : shift[4:0];
                    right <= shift[5] ? 6'd0 - shift : 6'd0;
                    st <= R_LSH;
                end
            R_LSH: begin
                k <= 2'd0;
                if (left == 5'd0 || a == 32'd0) begin
                    st <= R_MUL;
                end else if (a_big) begin
                    a <= sa ? 32'h8000_0000 : 32'h7FFF_FFFF;
                    st <= R_MUL;
                end else begin
                    a <= {a[30:0], 1'b0};
                    left <= left - 5'd1;
                end
            end
            R_MUL: begin
                // k0: the low 16 bits are final; k1, k2 add at weight 2^16; k3 at 2^32
                p <= k == 2'd0 ? {16'd0, p_sum[33:16]} : p_sum;
                if (k == 2'd2)
                    p31 <= p_sum[15];
                k <= k + 2'd1;
                if (k == 2'd3)
                    st <= R_H;
            end
            R_H: begin
                p <= {1'b0, !neg && h[32:31] != 2'd0 ? 33'h0_7FFF_FFFF : h};
                st <= right == 6'd0 ? R_FIN : R_RSH;
                right <= right - 6'd1;
            end
            R_RSH: begin
                if (right == 6'd0) begin
                    p <= {1'b0, (q + 33'd1) >> 1};
                    st <= R_FIN;
                end else begin
                    p <= {1'b0, q >> 1};
                    right <= right - 6'd1;
                end
            end
            R_FIN: begin
                y <= $signed(yv) < $signed(lo) ? act_min :
                     $signed(yv) > $signed(hi) ? act_max : yv[7:0];
                done <= 1'b1;
                st <= R_IDLE;
            end
            default: st <= R_IDLE;
        endcase
        if (rst) begin
            st <= R_IDLE;
            done <= 1'b0;
        end
    end

endmodule
`resetall
