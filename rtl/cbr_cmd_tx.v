`resetall
`default_nettype none
// cbr_cmd_tx - the sending end of the command block: computes the response CRCs on the fly
// and queues response words for the device->host stream.
//
// Why: the response header's hcrc and the trailing CRC depend on every word before them,
// whatever port the word came from (a constant, the staging RAM, the register or buffer read
// data). Doing the CRC here, at the one place all words pass in order, means cbr_cmd_exec
// only says "a CRC goes here". The 4-word queue absorbs the one-cycle read latency of the
// ports under tx back-pressure: cbr_cmd_exec issues a word only while level plus the word
// in flight is below 4, so the queue never overflows and still moves one word per cycle.
module cbr_cmd_tx (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,  // a response word this cycle (never when the queue is full)
    input  wire [31:0] in_data,   // the word, unless in_crc
    input  wire        in_first,  // the first word of a response: the CRC restarts with it
    input  wire        in_crc,    // send the CRC of the response so far instead of in_data
    output wire [2:0]  level,     // words queued, 0..4 (registered)
    output wire [31:0] tx_data,   // device -> host words
    output wire        tx_valid,  // registered
    input  wire        tx_ready
);

    reg [31:0] q0, q1, q2, q3;     // the queue; rd_q selects the oldest
    reg [1:0]  wr_q, rd_q;
    reg [2:0]  cnt_q;
    reg [31:0] crc_q;              // raw CRC register of the response so far

    wire [31:0] crc_base = in_first ? 32'hFFFF_FFFF : crc_q;
    wire [31:0] word = in_crc ? ~crc_base : in_data;
    wire [31:0] crc_next;
    cbr_crc32_w32 u_crc (.crc_in(crc_base), .data(word), .crc_out(crc_next));

    wire pop = tx_valid && tx_ready;

    always @(posedge clk) begin
        if (in_valid) begin
            crc_q <= crc_next;
            case (wr_q)
                2'd0: q0 <= word;
                2'd1: q1 <= word;
                2'd2: q2 <= word;
                default: q3 <= word;
            endcase
            wr_q <= wr_q + 2'd1;
        end
        if (pop)
            rd_q <= rd_q + 2'd1;
        cnt_q <= cnt_q + {2'd0, in_valid} - {2'd0, pop};
        if (rst) begin
            wr_q <= 2'd0;
            rd_q <= 2'd0;
            cnt_q <= 3'd0;
        end
    end

    assign level = cnt_q;
    assign tx_valid = (cnt_q != 3'd0);
    assign tx_data = (rd_q == 2'd0) ? q0 : (rd_q == 2'd1) ? q1 : (rd_q == 2'd2) ? q2 : q3;

endmodule
`resetall
