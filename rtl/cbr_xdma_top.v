`resetall
`default_nettype none
// cbr_xdma_top - the accelerator behind a Xilinx XDMA PCIe endpoint (PG195, AXI4-Stream
// interface, one H2C and one C2H channel, 64-bit AXI data, the AXI4-Lite master on the user
// BAR): cbr_xdma_bridge in front of cbr_top. A board top instantiates the XDMA IP (Vivado,
// vendor-only) and this module beside it, on the IP's axi_aclk, with rst = !axi_aresetn.
// The host opens <dev>_h2c_0, <dev>_c2h_0 and <dev>_user (host/lib/tr_xdma.c); docs/shells.md
// has the wiring and the timing, docs/links.md the user BAR's registers.
//
// Ports (all synchronous to clk = the XDMA's axi_aclk):
//   clk, rst                          clock, synchronous active-high reset
//   user_lnk_up                       in   the XDMA's user_lnk_up (STATUS.LINK_UP)
//   s_axis_h2c_{tdata[63:0], tkeep[7:0], tlast, tvalid} in, s_axis_h2c_tready out
//                                     the XDMA's m_axis_h2c_*_0 (host -> card)
//   m_axis_c2h_{tdata[63:0], tkeep[7:0], tlast, tvalid} out, m_axis_c2h_tready in
//                                     the XDMA's s_axis_c2h_*_0 (card -> host)
//   s_axil_{awaddr, awvalid, wdata, wstrb, wvalid, bready, araddr, arvalid, rready} in,
//   s_axil_{awready, wready, bresp, bvalid, arready, rdata, rresp, rvalid} out
//                                     the XDMA's m_axil_* (user BAR; awprot/arprot unused)
module cbr_xdma_top #(
    parameter ROWS = 16,      // array rows (cbr_top)
    parameter COLS = 16,      // array columns (cbr_top)
    parameter C2H_IDLE = 32   // cbr_xdma_bridge: idle cycles before a lone C2H word is sent
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        user_lnk_up,
    input  wire [63:0] s_axis_h2c_tdata,
    input  wire [7:0]  s_axis_h2c_tkeep,
    input  wire        s_axis_h2c_tlast,
    input  wire        s_axis_h2c_tvalid,
    output wire        s_axis_h2c_tready,
    output wire [63:0] m_axis_c2h_tdata,
    output wire [7:0]  m_axis_c2h_tkeep,
    output wire        m_axis_c2h_tlast,
    output wire        m_axis_c2h_tvalid,
    input  wire        m_axis_c2h_tready,
    input  wire [31:0] s_axil_awaddr,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output wire        s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [31:0] s_axil_araddr,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output wire [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output wire        s_axil_rvalid,
    input  wire        s_axil_rready
);

    wire [31:0] rx_data, tx_data;
    wire        rx_valid, rx_ready, tx_valid, tx_ready;

    cbr_xdma_bridge #(
        .C2H_IDLE(C2H_IDLE)
    ) u_bridge (
        .clk(clk),
        .rst(rst),
        .user_lnk_up(user_lnk_up),
        .s_axis_h2c_tdata(s_axis_h2c_tdata),
        .s_axis_h2c_tkeep(s_axis_h2c_tkeep),
        .s_axis_h2c_tlast(s_axis_h2c_tlast),
        .s_axis_h2c_tvalid(s_axis_h2c_tvalid),
        .s_axis_h2c_tready(s_axis_h2c_tready),
        .m_axis_c2h_tdata(m_axis_c2h_tdata),
        .m_axis_c2h_tkeep(m_axis_c2h_tkeep),
        .m_axis_c2h_tlast(m_axis_c2h_tlast),
        .m_axis_c2h_tvalid(m_axis_c2h_tvalid),
        .m_axis_c2h_tready(m_axis_c2h_tready),
        .s_axil_awaddr(s_axil_awaddr),
        .s_axil_awvalid(s_axil_awvalid),
        .s_axil_awready(s_axil_awready),
        .s_axil_wdata(s_axil_wdata),
        .s_axil_wstrb(s_axil_wstrb),
        .s_axil_wvalid(s_axil_wvalid),
        .s_axil_wready(s_axil_wready),
        .s_axil_bresp(s_axil_bresp),
        .s_axil_bvalid(s_axil_bvalid),
        .s_axil_bready(s_axil_bready),
        .s_axil_araddr(s_axil_araddr),
        .s_axil_arvalid(s_axil_arvalid),
        .s_axil_arready(s_axil_arready),
        .s_axil_rdata(s_axil_rdata),
        .s_axil_rresp(s_axil_rresp),
        .s_axil_rvalid(s_axil_rvalid),
        .s_axil_rready(s_axil_rready),
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
