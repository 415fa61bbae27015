`resetall
`default_nettype none
// cbr_fx3_bridge - Cypress FX3 synchronous slave FIFO (32-bit, AN65974) to the command
// block's 32-bit word streams. The FPGA is the FIFO master: it drives PCLK (the board top
// forwards clk with an ODDR), SLCS#, SLRD#, SLWR#, SLOE#, PKTEND# and A[1:0] from registers
// and samples DQ and the flags in input registers. docs/shells.md has the waveforms.
//
// FX3 configuration this bridge expects (the FX3 firmware's GPIF II slave FIFO setup):
//   - socket at address ADDR_OUT: U2P (USB bulk OUT -> FPGA), socket at ADDR_IN: P2U
//     (FPGA -> USB bulk IN), P2U DMA buffers of exactly IN_BUF_WORDS * 4 bytes;
//   - FLAGA: dedicated DMA-ready flag of the ADDR_IN thread, active high (1 = the current
//     buffer can take words); FLAGB: dedicated DMA-ready flag of the ADDR_OUT thread,
//     active high (1 = the current buffer holds unread words);
//   - read data latency 2 (SLRD# sampled at edge k: DQ sampled by the FPGA at edge k+2),
//     flag latency 3 (an access sampled at edge k shows in the flag the FPGA samples at
//     k+3). Reads of an empty socket return junk and consume nothing.
// With those latencies a word the input register took at edge k+2 for a read issued at
// edge k is real exactly when FLAGB, sampled at the same edge, is high: the flag then
// describes the socket just before that read. The IN direction needs no partial flag: a
// fresh P2U buffer takes IN_BUF_WORDS words, the bridge counts them, and after every commit
// (a full buffer or PKTEND#) it waits until FLAGA describes the state after it.
// When the device has had no word to send for PKTEND_IDLE cycles and the current P2U buffer
// is partly filled, PKTEND# commits it as a short packet, so a response never sits in the
// FX3 waiting for more.
module cbr_fx3_bridge #(
    parameter [1:0] ADDR_OUT = 2'd3,  // FX3 socket address of the U2P (host -> FPGA) thread
    parameter [1:0] ADDR_IN = 2'd0,   // FX3 socket address of the P2U (FPGA -> host) thread
    parameter IN_BUF_WORDS = 1024,    // words in one P2U DMA buffer (FX3 firmware), >= 2
    parameter PKTEND_IDLE = 16,       // idle cycles before a partial P2U buffer is committed
    parameter RX_DEPTH = 16           // words of the receive FIFO: power of 2, >= 8
) (
    input  wire        clk,          // PCLK: forwarded to the FX3 by the board top
    input  wire        rst,          // synchronous, active high
    // FX3 slave FIFO pins (active-low strobes; DQ split for the board top's IOBUFs)
    output reg         fx3_slcs_n,   // chip select
    output reg         fx3_slrd_n,   // read strobe
    output reg         fx3_slwr_n,   // write strobe
    output reg         fx3_sloe_n,   // FX3 drives DQ while low
    output reg         fx3_pktend_n, // commit the current P2U buffer (short packet)
    output reg  [1:0]  fx3_a,        // socket address
    input  wire [31:0] fx3_dq_i,     // DQ from the pads
    output reg  [31:0] fx3_dq_o,     // DQ to the pads
    output reg         fx3_dq_oe,    // the FPGA drives DQ
    input  wire        fx3_flaga,    // ADDR_IN thread ready (space)
    input  wire        fx3_flagb,    // ADDR_OUT thread ready (data)
    // host -> device words (to cbr_top rx_*)
    output wire [31:0] rx_data,
    output wire        rx_valid,
    input  wire        rx_ready,
    // device -> host words (from cbr_top tx_*)
    input  wire [31:0] tx_data,
    input  wire        tx_valid,
    output wire        tx_ready
);

    localparam RX_AW = $clog2(RX_DEPTH);
    localparam CNT_W = $clog2(IN_BUF_WORDS + 1);
    localparam IDLE_W = $clog2(PKTEND_IDLE + 1);
    localparam [31:0] BUF_N32 = IN_BUF_WORDS;
    localparam [31:0] BUF_LAST32 = IN_BUF_WORDS - 1;
    localparam [31:0] IDLE_N32 = PKTEND_IDLE;
    localparam [CNT_W-1:0] BUF_N = BUF_N32[CNT_W-1:0];
    localparam [CNT_W-1:0] BUF_LAST = BUF_LAST32[CNT_W-1:0];
    localparam [IDLE_W-1:0] IDLE_N = IDLE_N32[IDLE_W-1:0];

    generate
        if (RX_DEPTH < 8 || (1 << RX_AW) != RX_DEPTH) begin : g_bad_depth
            cbr_fx3_bridge_error_RX_DEPTH_must_be_a_power_of_2_at_least_8 u_err();
        end
        if (IN_BUF_WORDS < 2) begin : g_bad_buf
            cbr_fx3_bridge_error_IN_BUF_WORDS_must_be_at_least_2 u_err();
        end
        if (PKTEND_IDLE < 1) begin : g_bad_idle
            cbr_fx3_bridge_error_PKTEND_IDLE_must_be_at_least_1 u_err();
        end
    endgenerate

    // ---- input registers (IOB flip-flops) -------------------------------------------------
    reg [31:0] dq_q;
    reg        flaga_q, flagb_q;
    always @(posedge clk) begin
        dq_q <= fx3_dq_i;
        flaga_q <= fx3_flaga;
        flagb_q <= fx3_flagb;
    end

    // ---- receive FIFO ---------------------------------------------------------------------
    reg [31:0]     rxf_mem [0:RX_DEPTH-1];
    reg [RX_AW:0]  rxf_wp, rxf_rp;
    wire [RX_AW:0] rxf_count = rxf_wp - rxf_rp;
    assign rx_valid = rxf_count != 0;
    assign rx_data = rxf_mem[rxf_rp[RX_AW-1:0]];

    // Reads in flight: rd_p[0] = a read the FX3 sampled at the last edge, rd_p[2] = one it
    // sampled three edges ago, whose data and flag are in dq_q / flagb_q now.
    reg [2:0] rd_p;
    wire      rd_pin = !fx3_slrd_n;       // sampled by the FX3 at the coming edge
    wire      push = rd_p[2] && flagb_q;
    wire [RX_AW+1:0] in_flight = {{(RX_AW+1){1'b0}}, rd_p[0]} + {{(RX_AW+1){1'b0}}, rd_p[1]} +
                                 {{(RX_AW+1){1'b0}}, rd_p[2]} + {{(RX_AW+1){1'b0}}, rd_pin};
    localparam [31:0] RX_FREE32 = RX_DEPTH - 1;
    localparam [RX_AW+1:0] RX_FREE = RX_FREE32[RX_AW+1:0];
    wire      rx_room = {1'b0, rxf_count} + in_flight <= RX_FREE;

    always @(posedge clk) begin
        if (push)
            rxf_mem[rxf_wp[RX_AW-1:0]] <= dq_q;
    end

    // ---- state ------------------------------------------------------------------------------
    localparam [1:0] S_IDLE = 2'd0,   // nobody drives DQ (bus turnaround)
                     S_RD = 2'd1,     // reading the ADDR_OUT socket
                     S_RD_END = 2'd2, // SLOE# held until the last read's data is in
                     S_WR = 2'd3;     // writing the ADDR_IN socket
    reg [1:0] state;

    // P2U credit: wr_known = the current buffer's fill is known (wr_cnt words written);
    // wr_blind counts down after a commit until FLAGA describes the state after it.
    reg             wr_known;
    reg [2:0]       wr_blind;
    reg [CNT_W-1:0] wr_cnt;
    reg [IDLE_W-1:0] idle_cnt;
    wire wr_can = wr_known && wr_cnt != BUF_N;
    wire pktend_due = wr_known && wr_cnt != 0 && idle_cnt == IDLE_N;
    wire want_wr = (tx_valid && wr_can) || pktend_due;
    wire want_rd = flagb_q && rx_room;

    // A word moves from tx in S_WR when there is room in the current P2U buffer.
    assign tx_ready = state == S_WR && wr_can;
    wire wr_fire = tx_ready && tx_valid;
    wire pk_fire = state == S_WR && !wr_fire && pktend_due;
    wire rd_fire = state == S_RD && !want_wr && want_rd;

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
            fx3_slcs_n <= 1'b1;
            fx3_slrd_n <= 1'b1;
            fx3_slwr_n <= 1'b1;
            fx3_sloe_n <= 1'b1;
            fx3_pktend_n <= 1'b1;
            fx3_dq_oe <= 1'b0;
            fx3_a <= ADDR_OUT;
            rd_p <= 3'b0;
            rxf_wp <= 0;
            rxf_rp <= 0;
            wr_known <= 1'b0;
            wr_blind <= 3'd4;
            wr_cnt <= 0;
            idle_cnt <= 0;
        end else begin
            fx3_slcs_n <= 1'b0;
            rd_p <= {rd_p[1:0], rd_pin};
            if (push)
                rxf_wp <= rxf_wp + 1'b1;
            if (rx_valid && rx_ready)
                rxf_rp <= rxf_rp + 1'b1;

            fx3_slrd_n <= !rd_fire;
            fx3_slwr_n <= !wr_fire;
            fx3_pktend_n <= !pk_fire;
            if (wr_fire)
                fx3_dq_o <= tx_data;

            // P2U credit
            if (wr_fire) begin
                wr_cnt <= wr_cnt + 1'b1;
                idle_cnt <= 0;
                if (wr_cnt == BUF_LAST) begin // fills: FX3 commits
                    wr_known <= 1'b0;
                    wr_blind <= 3'd4;
                end
            end else if (pk_fire) begin
                wr_known <= 1'b0;
                wr_blind <= 3'd4;
            end else if (!wr_known) begin
                if (wr_blind != 0)
                    wr_blind <= wr_blind - 1'b1;
                else if (flaga_q) begin
                    wr_known <= 1'b1;
                    wr_cnt <= 0;
                    idle_cnt <= 0;
                end
            end else if (wr_cnt != 0 && !tx_valid && idle_cnt != IDLE_N) begin
                idle_cnt <= idle_cnt + 1'b1;
            end

            case (state)
                S_IDLE: begin
                    fx3_sloe_n <= 1'b1;
                    fx3_dq_oe <= 1'b0;
                    if (want_wr) begin
                        state <= S_WR;
                        fx3_a <= ADDR_IN;
                        fx3_dq_oe <= 1'b1;
                    end else if (want_rd) begin
                        state <= S_RD;
                        fx3_a <= ADDR_OUT;
                        fx3_sloe_n <= 1'b0;
                    end
                end
                S_RD: begin
                    if (want_wr || !want_rd)
                        state <= S_RD_END;
                end
                S_RD_END: begin
                    // The last read was sampled at least an edge ago; its data is on DQ
                    // until the edge after next.
                    if (!rd_pin && rd_p[1:0] == 2'b0) begin
                        state <= S_IDLE;
                        fx3_sloe_n <= 1'b1;
                    end
                end
                default: begin // S_WR
                    if (!want_wr) begin
                        state <= S_IDLE;
                        fx3_dq_oe <= 1'b0;
                    end
                end
            endcase
        end
    end

endmodule
`resetall
