`resetall
`default_nettype none
// cbr_nitefury_top - the RHS Research NiteFury II board top (XC7A200T-2FBG484E, M.2 PCIe
// Gen2 x4): the Xilinx XDMA IP (xdma_0, created by constraints/nitefury/vivado.tcl: AXI4-
// Stream, one H2C and one C2H channel, 64-bit AXI at 125 MHz, AXI4-Lite master on BAR0)
// and the 16x16 accelerator behind cbr_xdma_top, on the IP's axi_aclk.
//
// Vendor-only: xdma_0, IBUFDS_GTE2 and the GTPs exist in Vivado, so this file is read by
// vivado.tcl and not by the open flows (make synth BOARD=nitefury synthesizes cbr_xdma_top,
// everything of ours below the IP). Pins: constraints/nitefury/nitefury.xdc.
//
// LEDs (active low): 0 PCIe link up, 1 out of reset, 2 heartbeat of axi_aclk, 3 off.
module cbr_nitefury_top (
    input  wire       pcie_refclk_p,   // 100 MHz from the M.2 connector
    input  wire       pcie_refclk_n,
    input  wire       pcie_perst_n,    // PERST#
    output wire       pcie_clkreq_n,   // CLKREQ#: always wanted
    input  wire [3:0] pcie_rxp,
    input  wire [3:0] pcie_rxn,
    output wire [3:0] pcie_txp,
    output wire [3:0] pcie_txn,
    output wire [3:0] led_n
);

    wire refclk, axi_aclk, axi_aresetn, user_lnk_up;

    IBUFDS_GTE2 u_refclk (
        .I(pcie_refclk_p), .IB(pcie_refclk_n), .CEB(1'b0), .O(refclk), .ODIV2());

    wire [63:0] h2c_tdata, c2h_tdata;
    wire [7:0]  h2c_tkeep, c2h_tkeep;
    wire        h2c_tlast, h2c_tvalid, h2c_tready, c2h_tlast, c2h_tvalid, c2h_tready;
    wire [31:0] axil_awaddr, axil_wdata, axil_araddr, axil_rdata;
    wire [3:0]  axil_wstrb;
    wire [2:0]  axil_awprot, axil_arprot;
    wire [1:0]  axil_bresp, axil_rresp;
    wire        axil_awvalid, axil_awready, axil_wvalid, axil_wready, axil_bvalid, axil_bready;
    wire        axil_arvalid, axil_arready, axil_rvalid, axil_rready;

    xdma_0 u_xdma (
        .sys_clk(refclk),
        .sys_rst_n(pcie_perst_n),
        .user_lnk_up(user_lnk_up),
        .pci_exp_txp(pcie_txp), .pci_exp_txn(pcie_txn),
        .pci_exp_rxp(pcie_rxp), .pci_exp_rxn(pcie_rxn),
        .axi_aclk(axi_aclk),
        .axi_aresetn(axi_aresetn),
        .usr_irq_req(1'b0), .usr_irq_ack(), .msi_enable(), .msi_vector_width(),
        .m_axis_h2c_tdata_0(h2c_tdata), .m_axis_h2c_tkeep_0(h2c_tkeep),
        .m_axis_h2c_tlast_0(h2c_tlast), .m_axis_h2c_tvalid_0(h2c_tvalid),
        .m_axis_h2c_tready_0(h2c_tready),
        .s_axis_c2h_tdata_0(c2h_tdata), .s_axis_c2h_tkeep_0(c2h_tkeep),
        .s_axis_c2h_tlast_0(c2h_tlast), .s_axis_c2h_tvalid_0(c2h_tvalid),
        .s_axis_c2h_tready_0(c2h_tready),
        .m_axil_awaddr(axil_awaddr), .m_axil_awprot(axil_awprot),
        .m_axil_awvalid(axil_awvalid), .m_axil_awready(axil_awready),
        .m_axil_wdata(axil_wdata), .m_axil_wstrb(axil_wstrb), .m_axil_wvalid(axil_wvalid),
        .m_axil_wready(axil_wready), .m_axil_bvalid(axil_bvalid), .m_axil_bresp(axil_bresp),
        .m_axil_bready(axil_bready), .m_axil_araddr(axil_araddr), .m_axil_arprot(axil_arprot),
        .m_axil_arvalid(axil_arvalid), .m_axil_arready(axil_arready),
        .m_axil_rdata(axil_rdata), .m_axil_rresp(axil_rresp), .m_axil_rvalid(axil_rvalid),
        .m_axil_rready(axil_rready));

    // axi_aresetn is synchronous to axi_aclk (PG195); cbr_xdma_top wants active high.
    reg rst = 1'b1;
    always @(posedge axi_aclk)
        rst <= !axi_aresetn;

    cbr_xdma_top #(.ROWS(16), .COLS(16)) u_cbr (
        .clk(axi_aclk), .rst(rst), .user_lnk_up(user_lnk_up),
        .s_axis_h2c_tdata(h2c_tdata), .s_axis_h2c_tkeep(h2c_tkeep),
        .s_axis_h2c_tlast(h2c_tlast), .s_axis_h2c_tvalid(h2c_tvalid),
        .s_axis_h2c_tready(h2c_tready),
        .m_axis_c2h_tdata(c2h_tdata), .m_axis_c2h_tkeep(c2h_tkeep),
        .m_axis_c2h_tlast(c2h_tlast), .m_axis_c2h_tvalid(c2h_tvalid),
        .m_axis_c2h_tready(c2h_tready),
        .s_axil_awaddr(axil_awaddr), .s_axil_awvalid(axil_awvalid),
        .s_axil_awready(axil_awready), .s_axil_wdata(axil_wdata), .s_axil_wstrb(axil_wstrb),
        .s_axil_wvalid(axil_wvalid), .s_axil_wready(axil_wready), .s_axil_bresp(axil_bresp),
        .s_axil_bvalid(axil_bvalid), .s_axil_bready(axil_bready),
        .s_axil_araddr(axil_araddr), .s_axil_arvalid(axil_arvalid),
        .s_axil_arready(axil_arready), .s_axil_rdata(axil_rdata), .s_axil_rresp(axil_rresp),
        .s_axil_rvalid(axil_rvalid), .s_axil_rready(axil_rready));

    reg [26:0] beat = 27'd0;
    always @(posedge axi_aclk)
        beat <= beat + 27'd1;

    assign pcie_clkreq_n = 1'b0;
    assign led_n = {1'b1, beat[26], rst, !user_lnk_up};

endmodule
`resetall
