`resetall
`default_nettype none
// cbr_fx3_top - the accelerator behind a Cypress FX3 USB 3 bridge in synchronous slave FIFO
// mode (32-bit): cbr_fx3_bridge in front of cbr_top. A board top instantiates it, forwards
// clk to the FX3's PCLK (ODDR), puts IOBUFs on DQ (fx3_dq_i / fx3_dq_o / fx3_dq_oe) and
// synchronises its reset. The USB side enumerates as a vendor-class device with one bulk OUT
// and one bulk IN endpoint (host/lib/tr_usb.c); docs/shells.md has the wiring, the FX3
// configuration and the timing.
//
// Ports (all synchronous to clk, the FX3's PCLK, at most 100 MHz):
//   clk, rst              clock, synchronous active-high reset
//   fx3_slcs_n            SLCS#    out   chip select (low after reset)
//   fx3_slrd_n            SLRD#    out   read strobe
//   fx3_slwr_n            SLWR#    out   write strobe
//   fx3_sloe_n            SLOE#    out   FX3 output enable
//   fx3_pktend_n          PKTEND#  out   commit a short packet
//   fx3_a[1:0]            A[1:0]   out   socket address (ADDR_OUT reads, ADDR_IN writes)
//   fx3_dq_i/o/oe[31:0]   DQ[31:0] inout (split: pad in, pad out, output enable)
//   fx3_flaga             FLAGA    in    ADDR_IN thread DMA ready (1 = space)
//   fx3_flagb             FLAGB    in    ADDR_OUT thread DMA ready (1 = data)
module cbr_fx3_top #(
    parameter ROWS = 16,             // array rows (cbr_top)
    parameter COLS = 16,             // array columns (cbr_top)
    parameter [1:0] ADDR_OUT = 2'd3, // U2P socket address (cbr_fx3_bridge)
    parameter [1:0] ADDR_IN = 2'd0,  // P2U socket address
    parameter IN_BUF_WORDS = 1024,   // P2U DMA buffer, words (the FX3 firmware's size / 4)
    parameter PKTEND_IDLE = 16       // idle cycles before a short packet is committed
) (
    input  wire        clk,
    input  wire        rst,
    output wire        fx3_slcs_n,
    output wire        fx3_slrd_n,
    output wire        fx3_slwr_n,
    output wire        fx3_sloe_n,
    output wire        fx3_pktend_n,
    output wire [1:0]  fx3_a,
    input  wire [31:0] fx3_dq_i,
    output wire [31:0] fx3_dq_o,
    output wire        fx3_dq_oe,
    input  wire        fx3_flaga,
    input  wire        fx3_flagb
);

    wire [31:0] rx_data, tx_data;
    wire        rx_valid, rx_ready, tx_valid, tx_ready;

    cbr_fx3_bridge #(
        .ADDR_OUT(ADDR_OUT),
        .ADDR_IN(ADDR_IN),
        .IN_BUF_WORDS(IN_BUF_WORDS),
        .PKTEND_IDLE(PKTEND_IDLE)
    ) u_bridge (
        .clk(clk),
        .rst(rst),
        .fx3_slcs_n(fx3_slcs_n),
        .fx3_slrd_n(fx3_slrd_n),
        .fx3_slwr_n(fx3_slwr_n),
        .fx3_sloe_n(fx3_sloe_n),
        .fx3_pktend_n(fx3_pktend_n),
        .fx3_a(fx3_a),
        .fx3_dq_i(fx3_dq_i),
        .fx3_dq_o(fx3_dq_o),
        .fx3_dq_oe(fx3_dq_oe),
        .fx3_flaga(fx3_flaga),
        .fx3_flagb(fx3_flagb),
        .rx_data(rx_data),
        .rx_valid(rx_valid),
        .rx_ready(rx_ready),
        .tx_data(tx_data),
        .tx_valid(tx_valid),
        .tx_ready(tx_ready)
    );

    cbr_top #(
        .ROWS(ROWS),
        .COLS(COLS)
    ) u_top (
        .clk(clk),
        .rst(rst),
        .rx_data(rx_data),
        .rx_valid(rx_valid),
        .rx_ready(rx_ready),
        .tx_data(tx_data),
        .tx_valid(tx_valid),
        .tx_ready(tx_ready)
    );

endmodule
`resetall
