`resetall
`default_nettype none
// cbr_core_wload - streams the weights of the next pass into the array's shadow registers
// while the current pass runs (docs/core.md, "weight prefetch").
//
// Why this timing: the weight buffer holds the passes in loop-nest order, ROWS rows of COLS
// weights each, so the loader just walks it from WGT_BASE one row per cycle. The array's
// contract (cbr_array header) is that after the swap beat of pass q enters at cycle t, row r
// of the shadow may be written from cycle t + COLS + r on, and the swap beat of pass q+1 may
// enter once row r was written before it reaches row r. Here the swap beat is issued by the
// address generator D_FEED = 2 cycles before it enters the array, a row's read is issued one
// cycle before it is written (WRL = 1), and:
//
//   consume (swap beat of pass q issued) at cycle a -> the timer runs TMR = COLS - 1 cycles
//   -> first read at a + COLS + 1, row r written at a + COLS + 2 + r = t + COLS + r
//   -> w_ok from the cycle after the first read: the swap beat of pass q+1 may be issued.
//
// So loading is hidden completely when a pass has at least COLS + 2 beats (and ROWS <= COLS
// + 2); shorter passes wait for it (stall-in).
module cbr_core_wload #(
    parameter ROWS = 16,  // array rows: weight rows per pass
    parameter COLS = 16,  // array columns: weights per row
    parameter AW_W = 12   // weight buffer word-address bits (one word = one row)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              go,             // start of a tile: wgt_base valid
    input  wire [AW_W-1:0]   wgt_base,       // row address of pass 0, row 0
    input  wire              consume,        // the swap beat of the loaded pass was issued
    input  wire              consume_final,  // ... and it was the tile's last pass
    output reg               w_ok,           // the next pass's swap beat may be issued
    // weight buffer, compute port (read-only)
    output wire              w_en,
    output wire [AW_W-1:0]   w_addr,
    input  wire [8*COLS-1:0] w_rdata,
    // array shadow-weight port
    output reg               wl_valid,
    output reg  [RBW-1:0]    wl_row,
    output wire [8*COLS-1:0] wl_data
);

    localparam RBW = (ROWS > 1) ? $clog2(ROWS) : 1;
    localparam integer RL = ROWS - 1;
    localparam [RBW-1:0] RLAST = RL[RBW-1:0];
    localparam TW = $clog2(COLS + 1);
    localparam integer TI = COLS - 1;
    localparam [TW-1:0] TMR = TI[TW-1:0];

    reg [AW_W-1:0] addr;
    reg            req;       // a pass is waiting to be loaded
    reg [TW-1:0]   tmr;       // cycles until it may start
    reg            loading;
    reg [RBW-1:0]  row;

    wire start = req && tmr == {TW{1'b0}} && !loading && !consume;

    assign w_en = loading;
    assign w_addr = addr;
    assign wl_data = w_rdata;

    always @(posedge clk) begin
        wl_valid <= loading;
        wl_row <= row;
        if (tmr != {TW{1'b0}})
            tmr <= tmr - 1'b1;
        if (loading) begin
            addr <= addr + 1'b1;
            row <= row + 1'b1;
            if (row == {RBW{1'b0}})
                w_ok <= 1'b1;
            if (row == RLAST)
                loading <= 1'b0;
        end
        if (start) begin
            req <= 1'b0;
            loading <= 1'b1;
            row <= {RBW{1'b0}};
        end
        if (consume) begin
            w_ok <= 1'b0;
            req <= !consume_final;
            tmr <= TMR;
        end
        if (go) begin
            addr <= wgt_base;
            req <= 1'b1;
            tmr <= {TW{1'b0}};
        end
        if (rst || go) begin
            loading <= 1'b0;
            wl_valid <= 1'b0;
            w_ok <= 1'b0;
        end
        if (rst)
            req <= 1'b0;
    end

endmodule
`resetall
