`resetall
`default_nettype none
// cmd_ice40_top - the area measurement of the iCEBreaker's link (mk/cmd.mk, `make
// area-cmd-ice40`): the UART bridge and the command block with the bring-up image's
// parameters (rtl/boards/cbr_icebreaker_top.v, CORE = 0), behind the board's pins.
//
// Why a top of its own: the board top does not pass COMPACT or MAX_PAYLOAD through, and the
// measurement needs both variants and both payload limits. The register file and the 4 KiB
// buffer RAM are the bring-up image's, so the command block's ports are used as on the
// board (nothing is optimised away) and the packed count is the whole image's.
module cmd_ice40_top #(
    parameter COMPACT = 0,          // cbr_cmd's variant
    parameter MAX_PAYLOAD = 256,    // cbr_cmd's staging size
    parameter CLK_HZ = 12000000,
    parameter BAUD = 3000000
) (
    input  wire CLK,
    input  wire RX,
    output wire TX,
    input  wire BTN_N,
    output wire LEDR_N,
    output wire LEDG_N
);

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
    wire        rx_valid, rx_ready, tx_valid, tx_ready, rx_overflow;

    cbr_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD), .RX_DEPTH(512)) u_uart (
        .clk(CLK), .rst(rst), .uart_rx(RX), .uart_tx(TX),
        .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
        .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready),
        .rx_overflow(rx_overflow));

    wire        reg_we, reg_re, buf_we, buf_re, unused_start, unused_reset;
    wire [11:0] reg_addr;
    wire [31:0] reg_wdata, buf_addr, buf_wdata;
    wire [1:0]  buf_id;
    wire [3:0]  buf_wstrb;
    reg  [31:0] reg_rdata, buf_rdata;

    cbr_cmd #(
        .COMPACT(COMPACT),
        .MAX_PAYLOAD(MAX_PAYLOAD), .REG_BYTES(256),
        .BUF0_BYTES(1024), .BUF1_BYTES(1024), .BUF2_BYTES(1024), .BUF3_BYTES(1024),
        .INFO_ROWS(4), .INFO_COLS(4), .INFO_PARAM_ENTRIES(32),
        .INFO_FEATURES(0), .INFO_CLOCK_KHZ(CLK_HZ / 1000), .INFO_ACC_PIXELS(16)
    ) u_cmd (
        .clk(CLK), .rst(rst),
        .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
        .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready),
        .reg_we(reg_we), .reg_re(reg_re), .reg_addr(reg_addr),
        .reg_wdata(reg_wdata), .reg_rdata(reg_rdata),
        .buf_we(buf_we), .buf_re(buf_re), .buf_id(buf_id), .buf_addr(buf_addr),
        .buf_wdata(buf_wdata), .buf_wstrb(buf_wstrb), .buf_rdata(buf_rdata),
        .core_start(unused_start), .core_reset(unused_reset));

    // 4 buffers x 1 KiB in one RAM, a 64-word register file: as the bring-up image, but
    // with no_rw_check (cbr_cmd never reads a word in the cycle it writes it), which keeps
    // yosys from adding about 200 LCs of read-first bypass around the two RAMs.
    (* no_rw_check *)
    reg  [31:0] bmem [0:1023];
    wire [9:0]  ba = {buf_id, buf_addr[9:2]};
    genvar i;
    generate
        for (i = 0; i < 4; i = i + 1) begin : g_byte
            always @(posedge CLK)
                if (buf_we && buf_wstrb[i])
                    bmem[ba][8*i +: 8] <= buf_wdata[8*i +: 8];
        end
    endgenerate
    always @(posedge CLK)
        if (buf_re)
            buf_rdata <= bmem[ba];

    (* no_rw_check *)
    reg [31:0] rmem [0:63];
    always @(posedge CLK) begin
        if (reg_we)
            rmem[reg_addr[7:2]] <= reg_wdata;
        if (reg_re)
            reg_rdata <= rmem[reg_addr[7:2]];
    end
    wire [29:0] unused_addr = {reg_addr[11:8], reg_addr[1:0], buf_addr[31:10], buf_addr[1:0]};

    assign LEDG_N = rst;
    assign LEDR_N = !rx_overflow;

endmodule
`resetall
