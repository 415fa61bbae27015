`resetall
`default_nettype none
// cbr_tiny_rq - one requantization (docs/numerics.md) at a time, in a few dozen cycles:
//
//   y = clamp(RDBPOT(SRDHM(sat(acc * 2^left), M0), right) + y_zp, act_min, act_max)
//
// Why serial and on magnitudes: the tiny core drains one channel of one pixel at a time, so
// a result every ~20 cycles is plenty, and a single 16x16 unsigned multiplier (one SB_MAC16)
// used six times plus one-bit shifters costs a fraction of cbr_requant's 32x32 multiplier
// and barrel shifters. Working on |acc| and |M0| with the product's sign apart makes both
// roundings the same formula:
//
//   SRDHM:  |r| = floor((|acc'| * M0 + 2^30 - neg) / 2^31), neg = sign(acc): M0 is 0 or in
//           [2^30, 2^31 - 1] (docs/numerics.md; the core trusts its parameters, M0's bit 31
//           is ignored), so |r| < 2^31: gemmlowp's saturation (INT32_MIN * INT32_MIN) never
//           happens (gemmlowp's nudge 1 - 2^30 and truncation toward zero, on the magnitude)
//   RDBPOT: |q| = floor((|r| + 2^(e-1)) / 2^e) = t / 2 + t[0], t = floor(|r| / 2^(e-1)),
//           e >= 1: round half away from zero; t[0] is added in the final adder
//   sat(acc * 2^left): |acc| doubled left times, stopping at 2^31 - 1 (or 2^31 when acc < 0)
//
// |acc| is held as |acc| - neg (the one's complement, no negation adder): doubling it is a
// shift with neg shifted in, both saturations are 2^31 - 1 and start at bit 30, and the
// missing neg x M0 is two more partial products (neg times each half of M0).
//
// Cycles: 1 + min(left, ...) + 1 + 6 + right + 1.
module cbr_tiny_rq (
    input  wire        clk,
    input  wire        rst,
    input  wire        take,       // take acc (idle, before m_load and start)
    input  wire [31:0] acc,        // int32
    output reg         neg,        // acc < 0 (from the cycle after take)
    input  wire        m_load,     // take m0 (before start: the caller need not hold it)
    input  wire [31:0] m0,         // the multiplier, 0 or 2^30 .. 2^31 - 1 (bit 31 unused)
    input  wire        start,      // pulse: take shift and run
    input  wire [5:0]  shift,      // int6, -31..30
    input  wire [7:0]  y_zp,
    input  wire [7:0]  act_min,
    input  wire [7:0]  act_max,
    output reg         done,       // pulse: y valid
    output reg  [7:0]  y
);

    localparam [1:0] R_IDLE = 2'd0, R_LSH = 2'd1, R_MUL = 2'd2, R_RSH = 2'd3;

    reg [1:0]  st;
    reg        fin;        // the last cycle: clamp and output
    reg [30:0] a, m;       // |acc'| - neg, M0
    reg        rnd;
    reg [4:0]  left;
    reg [5:0]  right;      // -e: counts up to 0
    reg [2:0]  k;          // partial product
    reg [32:0] p;          // the product's sum (at weight 2^0, then 2^16, then 2^32); from
                           // k5 on |r| = bits 61:31 of the product, then halved e times

    // The product a * m + neg * m + 2^30 - neg (= |acc'| * M0 + 2^30 - neg) in six steps of
    // a 33-bit sum, shifting it down 16 bits between weights:
    //   k0: a_lo * m_lo + 2^30 - neg   k1: + neg * m_lo                        (weight 2^0)
    //   k2: (sum >> 16) + a_lo * m_hi  k3: + a_hi * m_lo  k4: + neg * m_hi     (weight 2^16)
    //   k5: (sum >> 16) + a_hi * m_hi                                          (weight 2^32)
    // bit 31 of the product is bit 15 of the sum after k4; |r| = {sum after k5, that bit}.
    wire        k_neg = k == 3'd1 || k == 3'd4;
    wire [15:0] pa = k_neg ? {15'd0, neg} : (k == 3'd3 || k == 3'd5) ? {1'b0, a[30:16]} : a[15:0];
    wire [15:0] pb = k == 3'd2 || k[2] ? {1'b0, m[30:16]} : m[15:0];
    wire [31:0] pp = pa * pb;
    wire [32:0] p_in = k == 3'd0 ? (neg ? 33'h0_3FFF_FFFF : 33'h0_4000_0000) :
                       k == 3'd2 || k == 3'd5 ? {16'd0, p[32:16]} : p;
    wire [32:0] p_sum = p_in + {1'd0, pp};
    wire        unused_m0 = m0[31];
    // the result saturates the int8 range long before 2^9, so the clamp works on 12 bits:
    // y_zp +- (min(t / 2, 511) + t[0]), the negation as ~x + 1 in the adder's carry
    wire [8:0]  qs = |p[30:9] ? 9'd511 : p[8:0];
    wire [11:0] yv = {{4{y_zp[7]}}, y_zp} + ({3'd0, qs} ^ {12{neg}}) + {11'd0, neg ^ rnd};
    wire [11:0] lo = {{4{act_min[7]}}, act_min};
    wire [11:0] hi = {{4{act_max[7]}}, act_max};
    wire [1:0]  unused_p = {p[32:31]};

    always @(posedge clk) begin
        done <= 1'b0;
        fin <= 1'b0;
        if (m_load)
            m <= m0[30:0];
        if (take) begin
            a <= acc[30:0] ^ {31{acc[31]}};
            neg <= acc[31];
        end
        if (fin) begin
            y <= $signed(yv) < $signed(lo) ? act_min :
                 $signed(yv) > $signed(hi) ? act_max : yv[7:0];
            done <= 1'b1;
        end
        case (st)
            R_IDLE:
                if (start) begin
                    rnd <= 1'b0;
                    k <= 3'd0;
                    left <= shift[5] ? 5'd0 : shift[4:0];
                    right <= shift[5] ? shift : 6'd0;
                    st <= R_LSH;
                end
            R_LSH:
                if (left == 5'd0 || a[30]) begin
                    if (left != 5'd0)
                        a <= 31'h7FFF_FFFF;
                    st <= R_MUL;
                end else begin
                    a <= {a[29:0], neg};
                    left <= left - 5'd1;
                end
            R_MUL: begin
                k <= k + 3'd1;
                p <= p_sum;
                if (k == 3'd5) begin
                    p <= {2'd0, p_sum[29:0], p[15]};
                    if (right == 6'd0) begin
                        fin <= 1'b1;
                        st <= R_IDLE;
                    end else begin
                        st <= R_RSH;
                    end
                end
            end
            default: begin   // R_RSH: halve e times, the last bit out is t[0]
                p <= p >> 1;
                right <= right + 6'd1;
                if (right == 6'h3F) begin
                    rnd <= p[0];
                    fin <= 1'b1;
                    st <= R_IDLE;
                end
            end
        endcase
        if (rst) begin
            st <= R_IDLE;
            done <= 1'b0;
            fin <= 1'b0;
        end
    end

endmodule
`resetall
