`resetall
`default_nettype none
// cbr_uart_bridge - the host link of boards whose USB chip is wired as a UART (the
// iCEBreaker's FT2232H channel B): 8N1 bytes on two pins <-> cbr_top's 32-bit word streams.
//
// Why a UART: the iCEBreaker wires only TXD/RXD of FT2232H channel B to the FPGA (channel A
// is the SPI flash), so neither of the chip's FIFO modes is available. The FT2232H runs
// 3 Mbaud (its 12 MHz / 4 rate), 300 KB/s each way; docs/boards.md has the figures.
//
// Words: byte 0 of the stream is bits [7:0] (the little-endian order of cbr_cmd). The link
// has no flow control, so host bytes go through an RX_DEPTH-word FIFO that absorbs the
// command block's pauses; a byte arriving when the FIFO is full is dropped (the packet's CRC
// then fails and the host retries, docs/protocol.md). A pause of IDLE_BITS bit times in the
// middle of a word drops the partial word, so a lost byte cannot shift every later word.
module cbr_uart_bridge #(
    parameter CLK_HZ = 12000000,  // clk frequency
    parameter BAUD = 3000000,     // line rate; CLK_HZ / BAUD >= 4 clocks per bit
    parameter RX_DEPTH = 512,     // host -> device FIFO, 32-bit words: a power of 2
    parameter IDLE_BITS = 64      // bit times of silence that drop a partial word
) (
    input  wire        clk,
    input  wire        rst,
    // the pins (idle high)
    input  wire        uart_rx,   // from the host's TXD
    output reg         uart_tx,   // to the host's RXD
    // host -> device words (to cbr_top rx_*)
    output wire [31:0] rx_data,
    output wire        rx_valid,
    input  wire        rx_ready,
    // device -> host words (from cbr_top tx_*)
    input  wire [31:0] tx_data,
    input  wire        tx_valid,
    output wire        tx_ready,
    // status
    output reg         rx_overflow  // sticky: a byte was dropped on a full FIFO (until rst)
);

    localparam DIV = CLK_HZ / BAUD;             // clocks per bit
    localparam CW = $clog2(DIV + 1);
    localparam FW = $clog2(RX_DEPTH);
    localparam IW = $clog2(IDLE_BITS * DIV + 1);
    localparam integer IDLE_N = IDLE_BITS * DIV;
    localparam [IW-1:0] IDLE_CLKS = IDLE_N[IW-1:0];

    generate
        if (DIV < 4) begin : g_bad_div
            cbr_uart_bridge_error_clk_hz_must_be_at_least_4_times_baud u_err ();
        end
        if ((1 << FW) != RX_DEPTH) begin : g_bad_depth
            cbr_uart_bridge_error_rx_depth_must_be_a_power_of_2 u_err ();
        end
    endgenerate

    // ---- receiver: two-flop synchroniser, start-bit detect, sample in the middle of a bit --
    reg [2:0]    rx_sync;
    reg          r_busy;
    reg [CW-1:0] r_cnt;
    reg [3:0]    r_bit;      // 0: start bit, 1..8 data, 9 stop
    reg [7:0]    r_shift;
    reg          r_byte_v;   // one-cycle: r_shift holds a byte
    wire         rxd = rx_sync[2];

    always @(posedge clk) begin
        rx_sync <= {rx_sync[1:0], uart_rx};
        r_byte_v <= 1'b0;
        if (!r_busy) begin
            if (!rxd) begin
                r_busy <= 1'b1;
                r_cnt <= DIV[CW-1:0] / 2 - 1'b1;  // to the middle of the start bit
                r_bit <= 4'd0;
            end
        end else if (r_cnt != 0) begin
            r_cnt <= r_cnt - 1'b1;
        end else begin
            r_cnt <= DIV[CW-1:0] - 1'b1;
            r_bit <= r_bit + 1'b1;
            if (r_bit == 4'd0) begin
                if (rxd)
                    r_busy <= 1'b0;              // a glitch, not a start bit
            end else if (r_bit == 4'd9) begin
                r_busy <= 1'b0;
                r_byte_v <= rxd;                 // a byte with a bad stop bit is dropped
            end else begin
                r_shift <= {rxd, r_shift[7:1]};
            end
        end
        if (rst) begin
            rx_sync <= 3'b111;
            r_busy <= 1'b0;
            r_byte_v <= 1'b0;
        end
    end

    // ---- bytes -> words, with the idle realignment ----------------------------------------
    reg [1:0]    a_n;        // bytes of the word so far
    reg [IW-1:0] a_idle;
    reg          a_v;        // one-cycle: a_word is complete
    reg [31:0]   a_word;     // bytes shift in from the top; the next byte is >= 40 clocks away

    always @(posedge clk) begin
        a_v <= 1'b0;
        if (r_byte_v) begin
            a_idle <= 0;
            a_n <= a_n + 1'b1;
            a_word <= {r_shift, a_word[31:8]};
            if (a_n == 2'd3)
                a_v <= 1'b1;
        end else if (a_n != 0) begin
            if (a_idle == IDLE_CLKS)
                a_n <= 2'd0;                     // partial word dropped
            else
                a_idle <= a_idle + 1'b1;
        end
        if (rst) begin
            a_n <= 2'd0;
            a_v <= 1'b0;
            a_idle <= 0;
        end
    end

    // ---- the receive FIFO (one block RAM) ---------------------------------------------------
    reg  [31:0]  f_mem [0:RX_DEPTH-1];
    reg  [FW:0]  f_wp, f_rp;
    reg  [31:0]  f_q;
    reg          f_qv;       // f_q holds the word at the head
    wire         f_empty = f_wp == f_rp;
    wire         f_full = f_wp == {~f_rp[FW], f_rp[FW-1:0]};
    wire         f_pop = !f_empty && (!f_qv || rx_ready);

    always @(posedge clk) begin
        if (a_v && !f_full)
            f_mem[f_wp[FW-1:0]] <= a_word;
        if (f_pop)
            f_q <= f_mem[f_rp[FW-1:0]];
    end

    always @(posedge clk) begin
        if (a_v) begin
            if (f_full)
                rx_overflow <= 1'b1;
            else
                f_wp <= f_wp + 1'b1;
        end
        if (f_pop) begin
            f_rp <= f_rp + 1'b1;
            f_qv <= 1'b1;
        end else if (rx_ready) begin
            f_qv <= 1'b0;
        end
        if (rst) begin
            f_wp <= 0;
            f_rp <= 0;
            f_qv <= 1'b0;
            rx_overflow <= 1'b0;
        end
    end

    assign rx_valid = f_qv;
    assign rx_data = f_q;

    // ---- transmitter: a word is four 8N1 frames, byte 0 first ------------------------------
    // Each data bit is picked out of the held word by its index {byte, bit} (no shift
    // register: a 32-to-1 selection is smaller on LUT4s than a 9-bit shifter loaded from a
    // 4-to-1 byte selection).
    reg [31:0]   t_word;
    reg [1:0]    t_byte;     // byte of the word being sent
    reg [3:0]    t_bit;      // 0 start, 1..8 data, 9 stop
    reg [CW-1:0] t_cnt;
    reg          t_busy;

    assign tx_ready = !t_busy;

    always @(posedge clk) begin
        if (!t_busy) begin
            uart_tx <= 1'b1;
            if (tx_valid) begin
                t_busy <= 1'b1;
                t_word <= tx_data;
                t_byte <= 2'd0;
                t_bit <= 4'd0;
                t_cnt <= DIV[CW-1:0] - 1'b1;
                uart_tx <= 1'b0;
            end
        end else if (t_cnt != 0) begin
            t_cnt <= t_cnt - 1'b1;
        end else begin
            t_cnt <= DIV[CW-1:0] - 1'b1;
            if (t_bit == 4'd9) begin
                // stop bit done: the next byte of the word, or done
                if (t_byte == 2'd3) begin
                    t_busy <= 1'b0;
                    uart_tx <= 1'b1;
                end else begin
                    t_byte <= t_byte + 1'b1;
                    t_bit <= 4'd0;
                    uart_tx <= 1'b0;
                end
            end else begin
                // the end of bit t_bit: data bit t_bit (0..7) of byte t_byte next, or the stop bit
                t_bit <= t_bit + 1'b1;
                uart_tx <= t_bit[3] ? 1'b1 : t_word[{t_byte, t_bit[2:0]}];
            end
        end
        if (rst) begin
            t_busy <= 1'b0;
            uart_tx <= 1'b1;
        end
    end

endmodule
`resetall
