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
//
// DEPTH > 4 (the large builds): the queue is a block-RAM FIFO of DEPTH words (a power of 2),
// so a BUF_READ's answer, up to max_payload, is queued at a word a cycle and the commands
// behind it (the writes of the next tiles) run while it drains at the link's rate: the two
// directions of the link are busy at once. level then reads as a 4-word queue's would with
// min(4, free words) free (cbr_cmd_exec's rule is unchanged). The RAM is read a cycle ahead
// into a register and an output stage (first word out 3 cycles after it went in).
//
// COMPACT = 1 (slow links, docs/cmd.md): one word held, its CRC taken a byte a cycle before
// it is offered on tx; level is 4 while a word is held, 0 otherwise (cbr_cmd_exec then issues
// the next word only into an empty cbr_cmd_tx). The CRC register and step are cbr_cmd_rx's,
// idle while a response is sent: crc_go/crc_first/crc_byte feed them, crc_in is the CRC.
module cbr_cmd_tx #(
    parameter COMPACT = 0,         // 1: the area-optimised variant (see above)
    parameter DEPTH = 4            // words queued: 4, or a larger power of 2 (block RAM)
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,  // a response word this cycle (never when the queue is full)
    input  wire [31:0] in_data,   // the word, unless in_crc
    input  wire        in_first,  // the first word of a response: the CRC restarts with it
    input  wire        in_crc,    // send the CRC of the response so far instead of in_data
    output wire [2:0]  level,     // words queued, 0..4 (registered)
    output wire [31:0] tx_data,   // device -> host words
    output wire        tx_valid,  // registered
    input  wire        tx_ready,
    // COMPACT: the CRC in cbr_cmd_rx (crc_go: a word from the next cycle on, one byte a cycle
    // for 4 cycles; crc_first: starting from the preset)
    output wire        crc_go,
    output wire        crc_first,
    output wire [7:0]  crc_byte,
    input  wire [31:0] crc_in     // raw CRC register of the response so far
);

    wire [31:0] crc_base;          // the raw CRC of the response before this word
    wire [31:0] word = in_crc ? ~crc_base : in_data;
    wire pop = tx_valid && tx_ready;

    generate
        if (COMPACT == 0) begin : g_wcrc  // the CRC a word a cycle, for both queues
            reg [31:0] crc_q;              // raw CRC register of the response so far
            wire [31:0] crc_next;
            cbr_crc32_w32 u_crc (.crc_in(crc_base), .data(word), .crc_out(crc_next));
            assign crc_base = in_first ? 32'hFFFF_FFFF : crc_q;
            assign crc_go = 1'b0;
            assign crc_first = 1'b0;
            assign crc_byte = 8'd0;
            wire [31:0] unused_crc_in = crc_in;
            always @(posedge clk)
                if (in_valid)
                    crc_q <= crc_next;
        end

        if (COMPACT == 0 && DEPTH > 4) begin : g_deep
            localparam AW = $clog2(DEPTH);
            reg [31:0]   mem [0:DEPTH-1];
            reg [AW-1:0] wr_q, rd_q;       // RAM write and read pointers
            reg [AW:0]   cnt_q;            // words queued in all (RAM, ram_q, out_q)
            reg [AW:0]   inram_q;          // words in the RAM not yet read out
            reg [31:0]   ram_q, out_q;
            reg          ram_v, out_v;

            if ((1 << AW) != DEPTH) begin : g_bad_depth
                cbr_cmd_tx_error_DEPTH_must_be_a_power_of_2 u_err ();
            end

            // ram_q moves on to out_q when out_q is free or leaves this cycle; the RAM is
            // read when ram_q will be free after this cycle
            wire adv = ram_v && (!out_v || pop);
            wire rd = inram_q != {(AW + 1){1'b0}} && (!ram_v || adv);

            always @(posedge clk) begin
                if (in_valid) begin
                    mem[wr_q] <= word;
                    wr_q <= wr_q + 1'b1;
                end
                if (rd) begin
                    ram_q <= mem[rd_q];
                    rd_q <= rd_q + 1'b1;
                end
                if (adv)
                    out_q <= ram_q;
                out_v <= adv || (out_v && !pop);
                ram_v <= rd || (ram_v && !adv);
                inram_q <= inram_q + {{AW{1'b0}}, in_valid} - {{AW{1'b0}}, rd};
                cnt_q <= cnt_q + {{AW{1'b0}}, in_valid} - {{AW{1'b0}}, pop};
                if (rst) begin
                    wr_q <= {AW{1'b0}};
                    rd_q <= {AW{1'b0}};
                    inram_q <= {(AW + 1){1'b0}};
                    cnt_q <= {(AW + 1){1'b0}};
                    ram_v <= 1'b0;
                    out_v <= 1'b0;
                end
            end

            // as a 4-word queue with min(4, DEPTH - cnt_q) words free
            wire [AW:0] free = DEPTH[AW:0] - cnt_q;
            assign level = free >= 4 ? 3'd0 : 3'd4 - free[2:0];
            assign tx_valid = out_v;
            assign tx_data = out_q;
        end else if (COMPACT == 0) begin : g_full
            reg [31:0] q0, q1, q2, q3;     // the queue; rd_q selects the oldest
            reg [1:0]  wr_q, rd_q;
            reg [2:0]  cnt_q;

            always @(posedge clk) begin
                if (in_valid) begin
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
        end else begin : g_compact
            reg [31:0] q_q;            // the word
            reg        held_q;         // q_q holds a word (its CRC may still be running)
            reg        ready_q;        // ... and its CRC is done: offered on tx
            reg [1:0]  cb_q;           // the byte of q_q the CRC takes next

            assign crc_base = in_first ? 32'hFFFF_FFFF : crc_in;
            assign crc_go = in_valid;
            assign crc_first = in_first;
            assign crc_byte = q_q[{cb_q, 3'b000} +: 8];

            always @(posedge clk) begin
                if (held_q && !ready_q) begin
                    cb_q <= cb_q + 2'd1;
                    if (cb_q == 2'd3)
                        ready_q <= 1'b1;
                end
                if (pop) begin
                    held_q <= 1'b0;
                    ready_q <= 1'b0;
                end
                if (in_valid) begin
                    q_q <= word;
                    cb_q <= 2'd0;
                    held_q <= 1'b1;
                    ready_q <= 1'b0;
                end
                if (rst) begin
                    held_q <= 1'b0;
                    ready_q <= 1'b0;
                end
            end

            assign level = {held_q, 2'b00};
            assign tx_valid = ready_q;
            assign tx_data = q_q;
        end
    endgenerate

endmodule
`resetall
