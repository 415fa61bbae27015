`resetall
`default_nettype none
// cbr_xdma_bridge - Xilinx XDMA (PG195) AXI4-Stream channels and its AXI4-Lite user BAR to
// the command block's 32-bit word streams. docs/shells.md has the timing; the user BAR's
// register map is docs/links.md's ("_user register map"), which the host's tr_xdma.c reads.
//
// H2C (host -> card), 64-bit beats: each half whose tkeep nibble is 4'hF is one word, low
// half first; a nibble that is neither 0 nor F would split a word (the protocol only moves
// whole words): its bytes are dropped and STATUS.H2C_ERR is set. tlast is not needed (the
// command block finds packets itself). A beat is taken when the two-word holding register
// will be free, so the path moves one word a cycle, the command block's rate.
// C2H (card -> host): words are paired into beats, low half first. The bridge follows the
// response packets (magic, length in word 6, payload, CRC) and ends each with tlast, so
// the host's DMA read completes with every response; a packet's last word in a low half
// goes out at once with tkeep 8'h0F. Words that are not a packet (none are produced by
// the command block; the parser restarts at the magic) are flushed with tlast after
// C2H_IDLE idle cycles.
// CONTROL.LINK_RESET drops the words held in both directions and discards the response
// being sent up to its end, so the next C2H transfer starts at a packet; the core is not
// touched.
module cbr_xdma_bridge #(
    parameter C2H_IDLE = 32   // idle cycles before a partial C2H beat is sent with tlast
) (
    input  wire        clk,              // axi_aclk
    input  wire        rst,              // synchronous, active high (!axi_aresetn)
    input  wire        user_lnk_up,      // XDMA: the PCIe link is up (STATUS.LINK_UP)
    // XDMA H2C channel 0, AXI4-Stream (host -> card)
    input  wire [63:0] s_axis_h2c_tdata,
    input  wire [7:0]  s_axis_h2c_tkeep,
    input  wire        s_axis_h2c_tlast,
    input  wire        s_axis_h2c_tvalid,
    output wire        s_axis_h2c_tready,
    // XDMA C2H channel 0, AXI4-Stream (card -> host)
    output reg  [63:0] m_axis_c2h_tdata,
    output reg  [7:0]  m_axis_c2h_tkeep,
    output reg         m_axis_c2h_tlast,
    output reg         m_axis_c2h_tvalid,
    input  wire        m_axis_c2h_tready,
    // XDMA M_AXI_LITE (user BAR), AXI4-Lite slave; only addr[4:2] are decoded
    input  wire [31:0] s_axil_awaddr,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output reg         s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [31:0] s_axil_araddr,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output reg  [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output reg         s_axil_rvalid,
    input  wire        s_axil_rready,
    // host -> device words (to cbr_top rx_*)
    output wire [31:0] rx_data,
    output wire        rx_valid,
    input  wire        rx_ready,
    // device -> host words (from cbr_top tx_*)
    input  wire [31:0] tx_data,
    input  wire        tx_valid,
    output wire        tx_ready
);

    localparam [31:0] REG_ID = 32'h58524243;           // "CBRX" in memory order
    localparam [31:0] REG_VERSION = 32'h0001_0001;     // protocol 1, register map 1
    localparam [31:0] MAGIC = 32'h50524243;            // packet magic (docs/protocol.md)
    localparam IDLE_W = $clog2(C2H_IDLE + 1);
    localparam [31:0] IDLE_N32 = C2H_IDLE;
    localparam [IDLE_W-1:0] IDLE_N = IDLE_N32[IDLE_W-1:0];

    generate
        if (C2H_IDLE < 1) begin : g_bad_idle
            cbr_xdma_bridge_error_C2H_IDLE_must_be_at_least_1 u_err();
        end
    endgenerate

    reg link_reset;       // CONTROL.LINK_RESET in progress
    reg h2c_err;          // STATUS.H2C_ERR (sticky)
    reg [31:0] h2c_bytes, c2h_bytes;

    // ---- H2C: 64-bit beats -> words ----------------------------------------------------------
    reg [63:0] h_data;
    reg [1:0]  h_have;    // which halves of h_data are words still to send
    wire       h_lo_ok = s_axis_h2c_tkeep[3:0] == 4'hF;
    wire       h_hi_ok = s_axis_h2c_tkeep[7:4] == 4'hF;
    wire       h_bad = (s_axis_h2c_tkeep[3:0] != 4'h0 && !h_lo_ok) ||
                       (s_axis_h2c_tkeep[7:4] != 4'h0 && !h_hi_ok);
    assign rx_valid = h_have != 2'b00 && !link_reset;
    assign rx_data = h_have[0] ? h_data[31:0] : h_data[63:32];
    wire       rx_fire = rx_valid && rx_ready;
    // Free after this cycle: nothing held, or the one word held leaves now.
    assign s_axis_h2c_tready = link_reset || h_have == 2'b00 ||
                               (rx_fire && (h_have == 2'b01 || h_have == 2'b10));
    wire       h_fire = s_axis_h2c_tvalid && s_axis_h2c_tready;
    wire [3:0] h_nbytes = {3'b0, s_axis_h2c_tkeep[0]} + {3'b0, s_axis_h2c_tkeep[1]} +
                          {3'b0, s_axis_h2c_tkeep[2]} + {3'b0, s_axis_h2c_tkeep[3]} +
                          {3'b0, s_axis_h2c_tkeep[4]} + {3'b0, s_axis_h2c_tkeep[5]} +
                          {3'b0, s_axis_h2c_tkeep[6]} + {3'b0, s_axis_h2c_tkeep[7]};
    wire       unused_h2c_tlast = s_axis_h2c_tlast;

    always @(posedge clk) begin
        if (rst) begin
            h_have <= 2'b00;
            h2c_bytes <= 0;
        end else begin
            if (h_fire)
                h2c_bytes <= h2c_bytes + {28'b0, h_nbytes};
            if (link_reset) begin
                h_have <= 2'b00;
            end else if (h_fire) begin
                h_data <= s_axis_h2c_tdata;
                h_have <= {h_hi_ok, h_lo_ok};
            end else if (rx_fire) begin
                h_have <= h_have[0] ? {h_have[1], 1'b0} : 2'b00;
            end
        end
    end

    // ---- C2H: words -> 64-bit beats, tlast at the end of each response --------------------------
    reg [31:0] c_lo;          // a low half waiting for its high half
    reg        c_lo_have;
    reg [3:0]  c_widx;        // word index within the packet: 0..8 (8 = past the header)
    reg        c_pkt;         // the packet began with the magic
    reg [31:0] c_len;         // its payload length (word 6)
    reg [30:0] c_rem;         // words after the header still to come (payload + CRC)
    reg [IDLE_W-1:0] c_idle;
    // A word is taken when the output register is free or leaves now.
    wire out_free = !m_axis_c2h_tvalid || m_axis_c2h_tready;
    assign tx_ready = out_free || link_reset;
    wire tx_fire = tx_valid && tx_ready;
    // Is this word the last of its packet?
    wire [30:0] c_body = c_len[31:2] + {30'b0, c_len[1:0] != 2'b0} + 31'd1; // payload + CRC
    wire tx_last = c_pkt && c_widx == 4'd8 && c_rem == 31'd1;

    always @(posedge clk) begin
        if (rst) begin
            m_axis_c2h_tvalid <= 1'b0;
            c_lo_have <= 1'b0;
            c_widx <= 4'd0;
            c_pkt <= 1'b0;
            c_idle <= 0;
            c2h_bytes <= 0;
        end else begin
            if (m_axis_c2h_tvalid && m_axis_c2h_tready)
                m_axis_c2h_tvalid <= 1'b0;
            if (tx_fire) begin
                // follow the packet
                if (tx_last) begin
                    c_widx <= 4'd0;
                    c_pkt <= 1'b0;
                end else if (c_widx == 4'd0) begin
                    c_pkt <= tx_data == MAGIC;
                    c_widx <= tx_data == MAGIC ? 4'd1 : 4'd0;
                end else if (c_widx != 4'd8) begin
                    c_widx <= c_widx + 1'b1;
                    if (c_widx == 4'd6)
                        c_len <= tx_data;
                    if (c_widx == 4'd7)
                        c_rem <= c_body;
                end else begin
                    c_rem <= c_rem - 1'b1;
                end
            end
            if (link_reset) begin
                c_lo_have <= 1'b0;
                c_idle <= 0;
            end else if (tx_fire) begin
                c_idle <= 0;
                if (c_lo_have || tx_last) begin
                    m_axis_c2h_tvalid <= 1'b1;
                    m_axis_c2h_tdata <= c_lo_have ? {tx_data, c_lo} : {32'b0, tx_data};
                    m_axis_c2h_tkeep <= c_lo_have ? 8'hFF : 8'h0F;
                    m_axis_c2h_tlast <= tx_last;
                    c2h_bytes <= c2h_bytes + (c_lo_have ? 32'd8 : 32'd4);
                    c_lo_have <= 1'b0;
                end else begin
                    c_lo <= tx_data;
                    c_lo_have <= 1'b1;
                end
            end else if (c_lo_have && out_free) begin
                // no word: after C2H_IDLE cycles the lone low half goes out with tlast
                if (c_idle == IDLE_N) begin
                    m_axis_c2h_tvalid <= 1'b1;
                    m_axis_c2h_tdata <= {32'b0, c_lo};
                    m_axis_c2h_tkeep <= 8'h0F;
                    m_axis_c2h_tlast <= 1'b1;
                    c2h_bytes <= c2h_bytes + 32'd4;
                    c_lo_have <= 1'b0;
                    c_idle <= 0;
                    c_widx <= 4'd0;
                    c_pkt <= 1'b0;
                end else begin
                    c_idle <= c_idle + 1'b1;
                end
            end
        end
    end

    // ---- AXI4-Lite register block --------------------------------------------------------------
    // One access at a time: a write takes AW and W together, a read AR; the answer is held
    // until taken.
    assign s_axil_awready = s_axil_awvalid && s_axil_wvalid && !s_axil_bvalid;
    assign s_axil_wready = s_axil_awready;
    assign s_axil_bresp = 2'b00;
    assign s_axil_arready = !s_axil_rvalid;
    assign s_axil_rresp = 2'b00;
    wire [2:0] rd_reg = s_axil_araddr[4:2];
    wire unused_axil = &{1'b0, s_axil_awaddr[31:5], s_axil_awaddr[1:0], s_axil_araddr[31:5],
                         s_axil_araddr[1:0], s_axil_wdata[31:1], s_axil_wstrb[3:1]};
    wire write_ctrl = s_axil_awready && s_axil_awaddr[4:2] == 3'd3 && s_axil_wstrb[0] &&
                      s_axil_wdata[0];

    always @(posedge clk) begin
        if (rst) begin
            s_axil_bvalid <= 1'b0;
            s_axil_rvalid <= 1'b0;
            link_reset <= 1'b0;
            h2c_err <= 1'b0;
        end else begin
            if (s_axil_bvalid && s_axil_bready)
                s_axil_bvalid <= 1'b0;
            else if (s_axil_awready)
                s_axil_bvalid <= 1'b1;
            if (s_axil_rvalid && s_axil_rready)
                s_axil_rvalid <= 1'b0;
            else if (s_axil_arvalid && s_axil_arready) begin
                s_axil_rvalid <= 1'b1;
                case (rd_reg)
                    3'd0: s_axil_rdata <= REG_ID;
                    3'd1: s_axil_rdata <= REG_VERSION;
                    3'd2: s_axil_rdata <= {30'b0, h2c_err, user_lnk_up && !link_reset};
                    3'd3: s_axil_rdata <= {31'b0, link_reset};
                    3'd4: s_axil_rdata <= h2c_bytes;
                    3'd5: s_axil_rdata <= c2h_bytes;
                    default: s_axil_rdata <= 32'b0;
                endcase
            end
            if (h_fire && h_bad && !link_reset)
                h2c_err <= 1'b1;
            if (write_ctrl) begin
                link_reset <= 1'b1;
                h2c_err <= 1'b0;
            end else if (link_reset && c_widx == 4'd0 && !tx_valid) begin
                // at a packet boundary with nothing offered: the next word starts a packet
                link_reset <= 1'b0;
            end
        end
    end

endmodule
`resetall
