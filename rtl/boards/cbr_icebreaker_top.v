`resetall
`default_nettype none
// cbr_icebreaker_top - the iCEBreaker (iCE40UP5K-SG48) board top: the 12 MHz oscillator,
// the FT2232H channel B UART (cbr_uart_bridge, 3 Mbaud) and, behind it, either the
// accelerator (CORE = 1: cbr_top_tiny, the sequential tiny core of rtl/tiny with its buffers
// in the UP5K's SPRAM, docs/tiny.md, built with COUNTERS = 2: the cycle counters only, as the
// UP5K has no room for the MAC, busy and stall counters; INFO FEATURES 0x15F tells the host
// they read 0) or the link bring-up image (CORE = 0: the packet command block cbr_cmd alone,
// with one 4 KiB block RAM behind its four buffer ids and a 64-word register file).
//
// Why two images: the array core (cbr_top) is about six times the UP5K's 5280 logic cells
// (docs/boards.md), so the accelerator here is the tiny core: with the UART bridge and the
// compact command block it takes 4 890 cells at 22.6 MHz (docs/boards.md), and it is what
// `make bitstream BOARD=icebreaker` builds. The bring-up image has the same UART bridge and
// command block, the same packets, CRCs and INFO block, for bringing up the link alone:
// `cbr info` and buffer round trips work; RUN is accepted but no core answers it (ap_done
// never rises, a layer times out).
//
// Pins (constraints/icebreaker/icebreaker.pcf):
//   CLK      35   12 MHz oscillator
//   RX        6   FT2232H BDBUS0 (TXD) -> FPGA
//   TX        9   FPGA -> FT2232H BDBUS1 (RXD)
//   BTN_N    10   user button, active low: board reset
//   LEDR_N   11   red LED, active low: a received byte was dropped (RX FIFO full)
//   LEDG_N   37   green LED, active low: out of reset, blinking at ~1.4 Hz
module cbr_icebreaker_top #(
    parameter CORE = 0,             // 1: the accelerator (the bitstream); 0: link bring-up
    // the bring-up image's command block (CORE = 0 only; `make area-cmd-ice40` measures the
    // image with both variants and both payload limits)
    parameter LINK_COMPACT = 1,     // cbr_cmd's variant: the area-optimised one (docs/cmd.md)
    parameter LINK_PAYLOAD = 256,   // cbr_cmd's staging size, bytes
    parameter CLK_HZ = 12000000,    // CLK (no PLL: the design closes timing at 12 MHz)
    parameter BAUD = 3000000        // UART line rate (FT2232H: 12 MHz / n)
) (
    input  wire CLK,
    input  wire RX,
    output wire TX,
    input  wire BTN_N,
    output wire LEDR_N,
    output wire LEDG_N
);

    // Reset: held for 16 cycles after configuration and while the button is pressed
    // (button synchronised first; the FPGA's flip-flops start at 0 after configuration).
    // (Zero initial values only: that is what an iCE40 flip-flop holds after configuration.)
    reg [1:0] btn_sync = 2'b00;
    reg [4:0] por = 5'd0;
    reg       run = 1'b0;
    wire      rst = !run;
    always @(posedge CLK) begin
        btn_sync <= {btn_sync[0], BTN_N};
        if (!btn_sync[1])
            por <= 5'd0;
        else if (!por[4])
            por <= por + 5'd1;
        run <= por[4];
    end

    wire [31:0] rx_data, tx_data;
    wire        rx_valid, rx_ready, tx_valid, tx_ready, rx_overflow, uart_tx;

    cbr_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD), .RX_DEPTH(512)) u_uart (
        .clk(CLK), .rst(rst), .uart_rx(RX), .uart_tx(uart_tx),
        .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
        .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready),
        .rx_overflow(rx_overflow));
    assign TX = uart_tx;

    generate
        if (CORE != 0) begin : g_core
            cbr_top_tiny #(
                .COUNTERS(2),  // cycle counters only: all of them need ~790 cells the UP5K lacks
                .MAX_PAYLOAD(1024), .CLOCK_KHZ(CLK_HZ / 1000)
            ) u_top (
                .clk(CLK), .rst(rst),
                .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
                .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready));
        end else begin : g_link
            wire        reg_we, reg_re, buf_we, buf_re, unused_start, unused_reset;
            wire [69:0] unused_cp;   // no BUF_COPY (COPY_BYTES 0): the copy port stays idle
            wire [11:0] reg_addr;
            wire [31:0] reg_wdata, buf_waddr, buf_raddr, buf_wdata;
            wire [1:0]  buf_wid, buf_rid;
            wire [3:0]  buf_wstrb;
            reg  [31:0] reg_rdata, buf_rdata;

            cbr_cmd #(
                .COMPACT(LINK_COMPACT), .MAX_PAYLOAD(LINK_PAYLOAD), .REG_BYTES(256),
                .BUF0_BYTES(1024), .BUF1_BYTES(1024), .BUF2_BYTES(1024), .BUF3_BYTES(1024),
                .INFO_ROWS(4), .INFO_COLS(4), .INFO_PARAM_ENTRIES(32),
                .INFO_FEATURES(0), .INFO_CLOCK_KHZ(CLK_HZ / 1000), .INFO_ACC_PIXELS(16)
            ) u_cmd (
                .clk(CLK), .rst(rst),
                .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
                .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready),
                .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr),
                .reg_wdata(reg_wdata), .reg_rdata(reg_rdata),
                .buf_we(buf_we), .buf_wid(buf_wid), .buf_waddr(buf_waddr),
                .buf_wdata(buf_wdata), .buf_wstrb(buf_wstrb), .buf_re(buf_re),
                .buf_rid(buf_rid), .buf_raddr(buf_raddr), .buf_rdata(buf_rdata),
                .core_start(unused_start), .core_reset(unused_reset),
                .cp_re(unused_cp[0]), .cp_rid(unused_cp[2:1]), .cp_raddr(unused_cp[34:3]),
                .cp_we(unused_cp[35]), .cp_wid(unused_cp[37:36]), .cp_waddr(unused_cp[69:38]));

            // 4 buffers x 1 KiB in one RAM: word address {buffer, addr[9:2]}, a write port
            // and a read port. no_rw_check: cbr_cmd never reads a word in the cycle it
            // writes it (a read and a write in one cycle are for different buffers), so
            // yosys needs no read-first bypass around the block RAM
            (* no_rw_check *)
            reg  [31:0] bmem [0:1023];
            wire [9:0]  bwa = {buf_wid, buf_waddr[9:2]};
            wire [9:0]  bra = {buf_rid, buf_raddr[9:2]};
            genvar i;
            for (i = 0; i < 4; i = i + 1) begin : g_byte
                always @(posedge CLK)
                    if (buf_we && buf_wstrb[i])
                        bmem[bwa][8*i +: 8] <= buf_wdata[8*i +: 8];
            end
            always @(posedge CLK)
                if (buf_re)
                    buf_rdata <= bmem[bra];

            (* no_rw_check *)
            reg [31:0] rmem [0:63];
            always @(posedge CLK) begin
                if (reg_we)
                    rmem[reg_addr[7:2]] <= reg_wdata;
                if (reg_re)
                    reg_rdata <= rmem[reg_addr[7:2]];
            end
            wire [53:0] unused_addr = {reg_addr[11:8], reg_addr[1:0], buf_waddr[31:10],
                                       buf_waddr[1:0], buf_raddr[31:10], buf_raddr[1:0]};
        end
    endgenerate

    reg [23:0] blink = 24'd0;
    always @(posedge CLK)
        blink <= rst ? 24'd0 : blink + 24'd1;
    assign LEDG_N = rst | blink[23];
    assign LEDR_N = !rx_overflow;

endmodule
`resetall
