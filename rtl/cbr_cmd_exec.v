`resetall
`default_nettype none
// cbr_cmd_exec - the executing half of the command block: takes one checked packet (a job
// from cbr_cmd_rx), checks its opcode, lengths and address range, commits staged writes to
// the register or buffer port, pulses the core controls and issues the response words.
//
// Why a module of its own: it is the only part that writes anything, and it acts only on a
// job whose header and payload CRCs were good; every range check is done on sums of at
// least 35 bits (the scatter extent's, SW bits) before the first write, so no field value
// can wrap around into range.
//
// A job goes IDLE -> CHECK (status and response length, registered; the first staged word
// is read) -> COMMIT (REG_WRITE / BUF_WRITE with status OK: one write a cycle) -> RESP
// (header, payload, CRC; one word a cycle while cbr_cmd_tx has room). Read ports have one
// cycle of latency: a word issued in cycle t (reg_re / buf_re / staging read / a constant)
// reaches cbr_cmd_tx in t+1, through the p_* stage. A BUF_READ's payload and CRC are issued
// by the reader (g_reader) once RESP has issued its header: the next job, if it is a
// BUF_WRITE to another buffer, is checked and committed meanwhile (docs/cmd.md, "Reads
// beside writes"); any other waits, and so does every RESP, so responses keep their order.
//
// The commit is a byte stream from the staging bank to destination pieces. A piece is the
// part of one chunk (a scatter BUF_WRITE's CHUNK bytes; the whole payload otherwise) that
// lies in one 32-bit destination word: 1..4 bytes, written with its byte enables in the
// cycle after it is formed. Staged words are read into a small byte queue (sb_q, up to 8
// bytes) whenever it will hold at most 4 bytes after this cycle's piece, so a piece of up to
// 4 bytes is always there: one piece every cycle. A contiguous write (arg2 = 0, REG_WRITE)
// is one piece per word, one word a cycle; a scatter write whose chunks each lie inside one
// word, one chunk a cycle. The first staged word is read in CHECK, so nothing is lost to the
// read latency.
//
// COMPACT = 1 (slow links, docs/cmd.md): the job's fields are not copied - cbr_cmd_rx holds
// them until job_ready, which here is the cycle the last response word goes to cbr_cmd_tx -
// and one response word is in flight at a time (cbr_cmd_tx then takes several cycles a word).
// CHECK is bit-serial: one full adder and comparator do the length check, then the end of the
// access (2 * SW + 1 cycles); for a scatter BUF_WRITE the commit's stepping first walks to
// the address of its last byte (no division in cbr_cmd_rx). COMMIT moves one byte a cycle: a
// piece is gathered in the write register's byte lanes and written when it is complete (the
// same pieces, addresses, data and byte enables as the default variant).
//
// BUF_COPY (COPY_BYTES != 0): COMMIT drives the copy port instead of the buffer port, one
// word of COPY_BYTES a cycle: the read of word k+1 in the cycle of word k's write, so N words
// take N + 1 cycles. Its range check is a full-width compare in CHECK in both variants; with
// COPY_BYTES = 0 none of it is built and 0x22 is an unknown opcode.
module cbr_cmd_exec #(
    parameter MAX_PAYLOAD = 1024,    // bytes: the longest payload (INFO word 7)
    parameter REG_BYTES   = 256,     // register space bytes, <= 4096
    parameter BUF0_BYTES  = 65536,   // buffer 0 (activations) bytes
    parameter BUF1_BYTES  = 65536,   // buffer 1 (weights) bytes
    parameter BUF2_BYTES  = 8192,    // buffer 2 (per-channel parameters) bytes
    parameter BUF3_BYTES  = 65536,   // buffer 3 (outputs) bytes
    parameter IW          = 8,       // staging word-index bits per bank: 2**IW >= MAX_PAYLOAD/4
    parameter INFO_ROWS          = 16,      // INFO word 1
    parameter INFO_COLS          = 16,      // INFO word 2
    parameter INFO_PARAM_ENTRIES = 512,     // INFO word 6
    parameter INFO_MAX_KERNEL    = 11,      // INFO word 8
    parameter INFO_MAX_STRIDE    = 4,       // INFO word 9
    parameter INFO_MAX_DILATION  = 8,       // INFO word 10
    parameter INFO_FEATURES      = 0,       // INFO word 11
    parameter INFO_CLOCK_KHZ     = 200000,  // INFO word 12
    parameter INFO_ACC_PIXELS    = 1024,    // INFO word 13
    parameter INFO_TX_WORDS      = 4,       // INFO word 14: response words cbr_cmd_tx queues
    parameter COMPACT            = 0,       // 1: the area-optimised variant (see above)
    parameter COPY_BYTES         = 0,       // BUF_COPY word bytes (INFO word 15); 0: none
    parameter COPY_BUFS          = 0        // bit i: BUF_COPY may read and write buffer i
) (
    input  wire          clk,
    input  wire          rst,
    // the job from cbr_cmd_rx
    input  wire          job_valid,
    output wire          job_ready,
    input  wire [2:0]    job_status,
    input  wire [7:0]    job_opcode,
    input  wire [31:0]   job_seq,
    input  wire [31:0]   job_arg0,
    input  wire [31:0]   job_arg1,
    input  wire [31:0]   job_arg2,
    input  wire [31:0]   job_len,
    input  wire          job_bank,
    input  wire [IW+17:0] job_span,  // scatter BUF_WRITE: offset of the last byte from arg1
    // staging RAM read port (one cycle latency)
    output wire          stg_re,
    output wire [IW:0]   stg_raddr,
    input  wire [31:0]   stg_rdata,
    // register and buffer ports (docs/cmd.md)
    output wire          reg_we,
    output wire          reg_re,
    output wire [11:0]   reg_addr,
    output wire [31:0]   reg_wdata,
    input  wire [31:0]   reg_rdata,
    output wire          buf_we,
    output wire [1:0]    buf_wid,
    output wire [31:0]   buf_waddr,
    output wire [31:0]   buf_wdata,
    output wire [3:0]    buf_wstrb,
    output wire          buf_re,
    output wire [1:0]    buf_rid,
    output wire [31:0]   buf_raddr,
    input  wire [31:0]   buf_rdata,
    output wire          core_start,
    output wire          core_reset,
    // copy port (docs/cmd.md): a read in cycle t, the write of its word in t + 1
    output wire          cp_re,
    output wire [1:0]    cp_rid,
    output wire [31:0]   cp_raddr,
    output wire          cp_we,
    output wire [1:0]    cp_wid,
    output wire [31:0]   cp_waddr,
    // response words to cbr_cmd_tx
    output wire          out_valid,
    output wire [31:0]   out_data,
    output wire          out_first,
    output wire          out_crc,
    input  wire [2:0]    out_level
);

    localparam [31:0] MAGIC = 32'h5052_4243;
    localparam [7:0] OP_NOP = 8'h01, OP_INFO = 8'h02, OP_RESET = 8'h03, OP_REG_WRITE = 8'h10,
                     OP_REG_READ = 8'h11, OP_BUF_WRITE = 8'h20, OP_BUF_READ = 8'h21,
                     OP_BUF_COPY = 8'h22, OP_RUN = 8'h30;
    localparam [2:0] ST_OK = 3'd0, ST_BAD_LENGTH = 3'd2, ST_BAD_OPCODE = 3'd3,
                     ST_BAD_ADDRESS = 3'd4, ST_REFUSED = 3'd7;
    // INFO word 11: this block's own feature bit, a checked RUN (g_run_check)
    localparam [31:0] FEAT_RUN_CHECK = (COMPACT == 0) ? 32'h1000 : 32'h0;
    // The limits as 35-bit numbers, like the sums they are compared with.
    function [34:0] wide;
        input [31:0] v;
        begin
            wide = {3'd0, v};
        end
    endfunction
    localparam [34:0] MAXP = wide(MAX_PAYLOAD);
    localparam [34:0] REG_LIM = wide(REG_BYTES);
    localparam [34:0] B0_LIM = wide(BUF0_BYTES), B1_LIM = wide(BUF1_BYTES),
                      B2_LIM = wide(BUF2_BYTES), B3_LIM = wide(BUF3_BYTES);
    localparam LW = IW + 3;  // bits of a length <= MAX_PAYLOAD (<= 4 * 2**IW)
    // Width of the scatter range sum arg1 + span + 1 (no wrap-around) and its limits.
    localparam SW = (IW + 20 > 35) ? IW + 20 : 35;
    localparam [LW-1:0] INFO_LEN = 64;  // the INFO block: 16 words

    localparam [1:0] E_IDLE = 2'd0, E_CHECK = 2'd1, E_COMMIT = 2'd2, E_RESP = 2'd3;
    localparam [1:0] PH_HDR = 2'd0, PH_PAY = 2'd1, PH_CRC = 2'd2;
    localparam [2:0] SRC_CONST = 3'd0, SRC_CRC = 3'd1, SRC_REG = 3'd2, SRC_BUF = 3'd3,
                     SRC_STG = 3'd4;

    generate
        if (MAX_PAYLOAD < 64 || MAX_PAYLOAD % 4 != 0) begin : g_bad_max_payload
            cbr_cmd_exec_error_max_payload_must_be_a_multiple_of_4_and_at_least_64 u_err ();
        end
        if (REG_BYTES < 4 || REG_BYTES > 4096 || REG_BYTES % 4 != 0) begin : g_bad_reg_bytes
            cbr_cmd_exec_error_reg_bytes_must_be_a_multiple_of_4_up_to_4096 u_err ();
        end
        if (BUF0_BYTES % 4 != 0 || BUF1_BYTES % 4 != 0 || BUF2_BYTES % 4 != 0
            || BUF3_BYTES % 4 != 0) begin : g_bad_buf_bytes
            cbr_cmd_exec_error_buffer_sizes_must_be_multiples_of_4 u_err ();
        end
        if (COPY_BYTES != 0 && (COPY_BYTES < 4 || COPY_BYTES > 1024
            || (COPY_BYTES & (COPY_BYTES - 1)) != 0)) begin : g_bad_copy_bytes
            cbr_cmd_exec_error_copy_bytes_must_be_0_or_a_power_of_2_from_4_to_1024 u_err ();
        end
    endgenerate

    reg [1:0]    state_q;
    // the job (registered in E_IDLE; COMPACT: cbr_cmd_rx's registers, held until job_ready)
    wire [7:0]   op_q;
    wire [31:0]  seq_q, arg0_q, arg1_q, arg2_q, len_q;
    wire [2:0]   pre_q;      // the status cbr_cmd_rx found
    wire         bank_q;
    wire [IW+17:0] span_q;
    reg [2:0]    status_q;
    reg [LW-1:0] rlen_q;     // response payload bytes
    reg [IW:0]   nw_q;       // words to commit (COMMIT) or response payload words (RESP)
    reg [1:0]    ph_q;
    reg [2:0]    hi_q;       // header word index
    reg [IW:0]   k_q;        // payload word index
    reg [31:0]   addr_q;     // register or buffer byte address of word k_q
    reg          start_q, reset_q;
    // the commit: addr_q is the destination byte address of the next piece
    reg [15:0]   crem_q;     // bytes left in the current chunk (scatter)
    reg [LW-1:0] brem_q;     // payload bytes left
    // the commit write, one cycle behind the piece (written in the generate blocks below)
    reg          wr_valid_q, wr_buf_q;
    reg [31:0]   wr_data_q;
    reg [3:0]    wr_strb_q;
    // the issued response word, one cycle behind its issue
    // (COMPACT: only p_valid_q; RESP moves on in that cycle, so the rest is still at hand)
    reg          p_valid_q;
    wire         o_first;
    wire [2:0]   o_src;
    wire [31:0]  o_const;
    wire [3:0]   o_mask;

    // ---- CHECK: status and response length of the job ----------------------------------
    wire [34:0] a0 = {3'd0, arg0_q};
    wire [34:0] a1 = {3'd0, arg1_q};
    wire [34:0] a2 = {3'd0, arg2_q};
    wire [34:0] ln = {3'd0, len_q};
    wire [34:0] a1x4 = {1'b0, arg1_q, 2'b00};
    reg  [34:0] buf_lim;
    always @(*) begin
        case (arg0_q[1:0])
            2'd0: buf_lim = B0_LIM;
            2'd1: buf_lim = B1_LIM;
            2'd2: buf_lim = B2_LIM;
            default: buf_lim = B3_LIM;
        endcase
    end
    wire buf_id_ok = (arg0_q[31:2] == 30'd0);
    // scatter BUF_WRITE (arg2 != 0): CHUNK bytes every PITCH bytes
    wire        sc = (arg2_q != 32'd0);
    wire [15:0] s_chunk = arg2_q[15:0];
    wire [15:0] s_pitch = arg2_q[31:16];
    wire        s_geom_bad = (s_chunk == 16'd0) || (s_chunk > s_pitch);
    wire [SW-1:0] s_lim = {{(SW - 35){1'b0}}, buf_lim};

    // The range checks: *_len the response length against MAX_PAYLOAD, the others the end of
    // the access against the space (g_check_* below).
    wire gt_rr_len, gt_br_len, gt_rw, gt_rr, gt_bw, gt_bs, gt_br;
    wire ck_done;    // CHECK's last cycle
    // BUF_COPY (g_copy): the opcode is one (0 without the copy), its args are bad, the
    // commit's last write is in this cycle, N != 0
    wire op_cp, cp_bad, cp_done, cp_any;
    wire run_refuse;  // a checked RUN that must not run (g_run_check)

    reg [2:0]    c_st;
    reg [LW-1:0] c_rlen;
    always @(*) begin
        c_st = ST_OK;
        c_rlen = {LW{1'b0}};
        if (pre_q != ST_OK) begin
            c_st = pre_q;
        end else begin
            case (op_q)
                OP_NOP: c_rlen = len_q[LW-1:0];
                OP_INFO:
                    if (len_q != 32'd0) c_st = ST_BAD_LENGTH;
                    else c_rlen = INFO_LEN;
                OP_RESET, OP_RUN:
                    if (len_q != 32'd0) c_st = ST_BAD_LENGTH;
                    else if (op_q == OP_RUN && run_refuse) c_st = ST_REFUSED;
                OP_REG_WRITE:
                    if (len_q == 32'd0 || len_q[1:0] != 2'd0) c_st = ST_BAD_LENGTH;
                    else if (arg0_q[1:0] != 2'd0 || gt_rw) c_st = ST_BAD_ADDRESS;
                OP_REG_READ:
                    if (len_q != 32'd0 || gt_rr_len) c_st = ST_BAD_LENGTH;
                    else if (arg0_q[1:0] != 2'd0 || gt_rr) c_st = ST_BAD_ADDRESS;
                    else c_rlen = a1x4[LW-1:0];
                OP_BUF_WRITE:
                    if (!buf_id_ok)
                        c_st = ST_BAD_ADDRESS;
                    else if (!sc && (arg1_q[1:0] != 2'd0 || gt_bw))
                        c_st = ST_BAD_ADDRESS;
                    else if (sc && (s_geom_bad || gt_bs))
                        c_st = ST_BAD_ADDRESS;
                OP_BUF_READ:
                    if (len_q != 32'd0 || gt_br_len) c_st = ST_BAD_LENGTH;
                    else if (!buf_id_ok || arg1_q[1:0] != 2'd0 || gt_br)
                        c_st = ST_BAD_ADDRESS;
                    else c_rlen = arg2_q[LW-1:0];
                default:
                    if (!op_cp) c_st = ST_BAD_OPCODE;
                    else if (len_q != 32'd0) c_st = ST_BAD_LENGTH;
                    else if (cp_bad) c_st = ST_BAD_ADDRESS;
            endcase
        end
    end
    // words, ceil(bytes / 4); len_q <= MAX_PAYLOAD when pre_q is OK
    wire [IW:0] c_rwords = c_rlen[LW-1:2] + {{IW{1'b0}}, (c_rlen[1:0] != 2'd0)};
    wire [IW:0] c_lwords = len_q[LW-1:2] + {{IW{1'b0}}, (len_q[1:0] != 2'd0)};
    wire c_write = (c_st == ST_OK) && (op_q == OP_REG_WRITE || op_q == OP_BUF_WRITE)
                   && (c_lwords != {(IW + 1){1'b0}});
    wire c_copy = (c_st == ST_OK) && op_cp && cp_any;

    // ---- byte masks of a last word -------------------------------------------------------
    function [3:0] tail_mask;
        input [1:0] n;  // length mod 4
        begin
            case (n)
                2'd1: tail_mask = 4'b0001;
                2'd2: tail_mask = 4'b0011;
                2'd3: tail_mask = 4'b0111;
                default: tail_mask = 4'b1111;
            endcase
        end
    endfunction

    // ---- COMMIT: this cycle's piece --------------------------------------------------------
    // (COMPACT: a "piece" here is one byte of it)
    wire        in_commit = (state_q == E_COMMIT) && !op_cp;  // a copy is g_copy's
    wire [1:0]  doff = addr_q[1:0];
    wire [2:0]  pl;          // piece bytes, 1..4 (g_commit_*)
    wire        go;          // the piece moves this cycle
    wire [31:0] port_addr;   // reg_addr / buf_waddr (COMPACT: also buf_raddr)
    wire        rd_more;     // read the next staged word
    wire        p_last = (brem_q == {{(LW - 3){1'b0}}, pl});
    wire        c_end = sc && (crem_q == {13'd0, pl});  // the piece ends its chunk
    // next destination: past the piece, and over the gap PITCH - CHUNK after a chunk
    wire [16:0] adv = {14'd0, pl} + (c_end ? {1'b0, s_pitch - s_chunk} : 17'd0);
    // one adder for both moves of addr_q: the commit's, and RESP's next word
    wire [32:0] addr_sum = {1'b0, addr_q} + ((state_q == E_RESP) ? 33'd4 : {16'd0, adv});
    wire [31:0] addr_next = addr_sum[31:0];
    // COMPACT: CHECK first walks a scatter BUF_WRITE's addresses up to its last byte, with
    // the commit's own stepping (g_check_compact), instead of cbr_cmd_rx dividing
    wire        walk;

    // ---- the INFO block ------------------------------------------------------------------
    reg [31:0] info_word;
    always @(*) begin
        case (k_q[3:0])
            4'd0: info_word = 32'd1;
            4'd1: info_word = INFO_ROWS;
            4'd2: info_word = INFO_COLS;
            4'd3: info_word = BUF0_BYTES;
            4'd4: info_word = BUF1_BYTES;
            4'd5: info_word = BUF3_BYTES;
            4'd6: info_word = INFO_PARAM_ENTRIES;
            4'd7: info_word = MAX_PAYLOAD;
            4'd8: info_word = INFO_MAX_KERNEL;
            4'd9: info_word = INFO_MAX_STRIDE;
            4'd10: info_word = INFO_MAX_DILATION;
            4'd11: info_word = INFO_FEATURES | FEAT_RUN_CHECK;
            4'd12: info_word = INFO_CLOCK_KHZ;
            4'd13: info_word = INFO_ACC_PIXELS;
            4'd14: info_word = INFO_TX_WORDS;
            default: info_word = COPY_BYTES;
        endcase
    end

    // ---- RESP: which word is issued this cycle -------------------------------------------
    wire       in_resp = (state_q == E_RESP);
    // COMPACT: out_level is 0 (idle) or 4 (a word in cbr_cmd_tx)
    wire       room = (COMPACT != 0) ? (out_level == 3'd0 && !p_valid_q)
                                     : ({1'b0, out_level} + {3'd0, p_valid_q}) < 4'd4;
    // the reader (g_reader) has a BUF_READ's payload or CRC to issue; RESP waits for it
    wire       rd_busy;
    wire       rd_block;   // the offered job must wait for the reader
    wire       rd_issue;   // the reader issues a word this cycle
    wire       rd_crc;     // ... its CRC word
    wire [3:0] rd_mask;
    wire       fg_issue = in_resp && room && !rd_busy;
    wire       issue = fg_issue || rd_issue;
    wire       pay = (ph_q == PH_PAY);
    wire       k_last = (k_q == nw_q - 1'b1);
    // RESP moves to the next word: at the issue, or (COMPACT) a cycle later, with the word
    wire       resp_step = (COMPACT != 0) ? p_valid_q : fg_issue;
    // RESP hands a BUF_READ's payload to the reader with its header's last word, and is done
    wire       hand_off = (COMPACT == 0) && fg_issue && (ph_q == PH_HDR) && (hi_q == 3'd7)
                          && (op_q == OP_BUF_READ) && (nw_q != {(IW + 1){1'b0}});
    wire       i_first = !rd_busy && (ph_q == PH_HDR) && (hi_q == 3'd0);
    wire [3:0] i_mask = rd_busy ? rd_mask
                        : (pay && k_last) ? tail_mask(rlen_q[1:0]) : 4'b1111;

    reg [2:0]  i_src;
    reg [31:0] i_const;
    always @(*) begin
        i_src = SRC_CONST;
        i_const = 32'd0;
        if (rd_busy) begin
            i_src = rd_crc ? SRC_CRC : SRC_BUF;
        end else begin
            case (ph_q)
                PH_HDR:
                    case (hi_q)
                        3'd0: i_const = MAGIC;
                        3'd1: i_const = {5'd0, status_q, 8'h01, op_q, 8'h01};
                        3'd2: i_const = seq_q;
                        3'd6: i_const = {{(32 - LW){1'b0}}, rlen_q};
                        3'd7: i_src = SRC_CRC;
                        default: i_const = 32'd0;  // args 0..2
                    endcase
                PH_PAY:
                    case (op_q)
                        OP_NOP: i_src = SRC_STG;
                        OP_REG_READ: i_src = SRC_REG;
                        OP_BUF_READ: i_src = SRC_BUF;
                        default: i_const = info_word;  // INFO: no other opcode has a payload
                    endcase
                default: i_src = SRC_CRC;
            endcase
        end
    end

    always @(posedge clk) begin
        start_q <= 1'b0;
        reset_q <= 1'b0;
        p_valid_q <= issue;

        case (state_q)
            E_IDLE:
                if (job_valid && !rd_block) begin
                    k_q <= {(IW + 1){1'b0}};  // CHECK reads staged word 0
                    state_q <= E_CHECK;
                    if (COMPACT != 0) begin   // the walk starts where the commit will
                        addr_q <= (op_q == OP_REG_WRITE || op_q == OP_REG_READ) ? arg0_q : arg1_q;
                        crem_q <= s_chunk;
                        brem_q <= len_q[LW-1:0];
                    end
                end
            E_CHECK: if (walk) begin
                addr_q <= addr_next;
                crem_q <= c_end ? s_chunk : crem_q - {13'd0, pl};
                brem_q <= brem_q - {{(LW - 3){1'b0}}, pl};
            end else if (ck_done) begin
                status_q <= c_st;
                rlen_q <= c_rlen;
                ph_q <= PH_HDR;
                hi_q <= 3'd0;
                k_q <= {(IW + 1){1'b0}};
                addr_q <= (op_q == OP_REG_WRITE || op_q == OP_REG_READ) ? arg0_q : arg1_q;
                crem_q <= s_chunk;
                brem_q <= len_q[LW-1:0];
                start_q <= (c_st == ST_OK) && (op_q == OP_RUN);
                reset_q <= (c_st == ST_OK) && (op_q == OP_RESET);
                if (c_write) begin
                    nw_q <= c_lwords;
                    k_q <= {{IW{1'b0}}, 1'b1};
                    state_q <= E_COMMIT;
                end else if (c_copy) begin
                    nw_q <= {(IW + 1){1'b0}};
                    state_q <= E_COMMIT;
                end else begin
                    nw_q <= c_rwords;
                    state_q <= E_RESP;
                end
            end
            E_COMMIT: begin
                if (rd_more)
                    k_q <= k_q + 1'b1;
                if (go) begin
                    addr_q <= addr_next;
                    crem_q <= c_end ? s_chunk : crem_q - {13'd0, pl};
                    brem_q <= brem_q - {{(LW - 3){1'b0}}, pl};
                    if (p_last) begin
                        k_q <= {(IW + 1){1'b0}};
                        nw_q <= {(IW + 1){1'b0}};  // a write's response has no payload
                        state_q <= E_RESP;
                    end
                end
                if (cp_done) begin
                    k_q <= {(IW + 1){1'b0}};
                    state_q <= E_RESP;
                end
            end
            default: // E_RESP
                if (resp_step) begin
                    case (ph_q)
                        PH_HDR: begin
                            hi_q <= hi_q + 3'd1;
                            if (hi_q == 3'd7)
                                ph_q <= (nw_q == {(IW + 1){1'b0}}) ? PH_CRC : PH_PAY;
                            if (hand_off)
                                state_q <= E_IDLE;
                        end
                        PH_PAY: begin
                            k_q <= k_q + 1'b1;
                            addr_q <= addr_next;
                            if (k_last)
                                ph_q <= PH_CRC;
                        end
                        default:
                            state_q <= E_IDLE;
                    endcase
                end
        endcase

        if (rst) begin
            state_q <= E_IDLE;
            start_q <= 1'b0;
            reset_q <= 1'b0;
            p_valid_q <= 1'b0;
        end
    end

    // ---- the range checks and the commit, per variant ----------------------------------
    generate
        if (COMPACT == 0) begin : g_check_full
            // every sum at once, in CHECK's one cycle
            wire [SW-1:0] s_a1 = {{(SW - 32){1'b0}}, arg1_q};
            wire [SW-1:0] s_end = s_a1 + {{(SW - IW - 18){1'b0}}, span_q}
                                  + {{(SW - 1){1'b0}}, 1'b1};
            assign gt_rr_len = a1x4 > MAXP;
            assign gt_br_len = a2 > MAXP;
            assign gt_rw = a0 + ln > REG_LIM;
            assign gt_rr = a0 + a1x4 > REG_LIM;
            assign gt_bw = a1 + ln > buf_lim;
            assign gt_bs = (len_q == 32'd0) ? (s_a1 > s_lim) : (s_end > s_lim);
            assign gt_br = a1 + a2 > buf_lim;
            assign ck_done = 1'b1;
            assign walk = 1'b0;
            wire unused_addr_sum = addr_sum[32];
        end else begin : g_check_compact
            // x + y + cin > lim, bit-serially (LSB first: a carry and "greater so far", which
            // each bit where sum and lim differ decides anew), SW cycles a pass: pass 0 the
            // length (x = 0, lim MAX_PAYLOAD), pass 1 the end of the access. Only the
            // opcode's own sums matter (c_st above). 2 * SW + 1 cycles in all. Pass 1's x
            // is addr_q: arg0 or arg1, or for a scatter BUF_WRITE the address of its last
            // byte, found first by the walk (length - 1 cycles; wrap_q: it passed 2**32).
            reg          pass_q, done_q;
            reg  [5:0]   ci_q;       // the bit
            reg          cy_q, gt_q;
            reg  [1:0]   a1d_q;      // arg1's bits ci_q - 1 and ci_q - 2: bit ci_q of arg1 * 4
            reg          gt_len_q, gt_end_q;
            reg          wrap_q;
            wire         op_reg = (op_q == OP_REG_WRITE) || (op_q == OP_REG_READ);
            wire         scw = (op_q == OP_BUF_WRITE) && sc;
            assign walk = (state_q == E_CHECK) && scw && (pre_q == ST_OK)
                          && (brem_q != {LW{1'b0}}) && !p_last;
            wire         lo = !ci_q[5];  // bit ci_q of a 32-bit field: 0 from bit 32 on
            wire [4:0]   cl = ci_q[4:0];
            wire [63:0]  limw = {{(64 - SW){1'b0}},
                                 !pass_q ? {{(SW - 35){1'b0}}, MAXP}
                                 : op_reg ? {{(SW - 35){1'b0}}, REG_LIM} : s_lim};
            wire         a1b = lo && arg1_q[cl];
            wire         xb = pass_q && lo && addr_q[cl];
            reg          yb;
            always @(*) begin
                if (op_q == OP_REG_READ)
                    yb = a1d_q[1];
                else if (op_q == OP_BUF_READ)
                    yb = lo && arg2_q[cl];
                else if (scw)   // the last byte's address (+1), or arg1 when empty
                    yb = 1'b0;
                else
                    yb = lo && len_q[cl];
            end
            wire         sb = xb ^ yb ^ cy_q;
            wire         gt_n = (sb != limw[ci_q]) ? sb : gt_q;
            localparam [31:0] CI_LAST_32 = SW - 1;
            localparam [5:0] CI_LAST = CI_LAST_32[5:0];
            always @(posedge clk) begin
                if (walk && addr_sum[32])
                    wrap_q <= 1'b1;
                if (state_q != E_CHECK) begin
                    wrap_q <= 1'b0;
                    pass_q <= 1'b0;
                    done_q <= 1'b0;
                    ci_q <= 6'd0;
                    cy_q <= 1'b0;
                    gt_q <= 1'b0;
                    a1d_q <= 2'b00;
                end else if (!done_q && !walk) begin
                    cy_q <= (xb & yb) | (xb & cy_q) | (yb & cy_q);
                    gt_q <= gt_n;
                    a1d_q <= {a1d_q[0], a1b};
                    ci_q <= ci_q + 6'd1;
                    if (ci_q == CI_LAST) begin
                        ci_q <= 6'd0;
                        gt_q <= 1'b0;
                        a1d_q <= 2'b00;
                        if (!pass_q) begin
                            gt_len_q <= gt_n;
                            pass_q <= 1'b1;
                            cy_q <= scw && (len_q != 32'd0);
                        end else begin
                            gt_end_q <= gt_n;
                            done_q <= 1'b1;
                        end
                    end
                end
            end
            assign gt_rr_len = gt_len_q;
            assign gt_br_len = gt_len_q;
            assign gt_rw = gt_end_q;
            assign gt_rr = gt_end_q;
            assign gt_bw = gt_end_q;
            assign gt_bs = gt_end_q || wrap_q;
            assign gt_br = gt_end_q;
            assign ck_done = done_q;
            wire [174:0] unused_sums = {a0, a1, a2, ln, a1x4};
            wire [IW+17:0] unused_span = span_q;
        end

        if (COMPACT == 0) begin : g_commit_full
            reg [31:0]   wr_addr_q;
            reg [63:0]   sb_q;       // staged bytes not yet written, the next one in [7:0]
            reg [3:0]    sn_q;       // how many (0..8)
            reg          rv_q;       // a staging word was read last cycle: it is on stg_rdata
            wire [3:0]  avail = sn_q + (rv_q ? 4'd4 : 4'd0);    // bytes at hand, <= 8
            // staged bytes in order; rv_q implies sn_q <= 4, so the new word fits
            wire [63:0] comb = sb_q | (rv_q ? ({32'd0, stg_rdata} << {sn_q[2:0], 3'b000})
                                            : 64'd0);
            wire [2:0]  wroom = 3'd4 - {1'b0, doff};             // bytes to the end of the word
            wire [2:0]  csat = (!sc || crem_q[15:2] != 14'd0) ? 3'd4 : crem_q[2:0];
            wire [2:0]  bsat = (brem_q[LW-1:2] != {(LW - 2){1'b0}}) ? 3'd4 : brem_q[2:0];
            wire [2:0]  pl_rc = (wroom < csat) ? wroom : csat;
            wire [3:0]  sn_n = go ? avail - {1'b0, pl} : avail;
            reg  [3:0]  pmask;
            always @(*) begin
                case (pl)
                    3'd1: pmask = 4'b0001;
                    3'd2: pmask = 4'b0011;
                    3'd3: pmask = 4'b0111;
                    default: pmask = 4'b1111;
                endcase
            end
            assign pl = (pl_rc < bsat) ? pl_rc : bsat;
            assign go = in_commit && ({1'b0, pl} <= avail);
            assign rd_more = in_commit && (k_q != nw_q) && (sn_n <= 4'd4);
            assign port_addr = wr_valid_q ? wr_addr_q : addr_q;

            always @(posedge clk) begin
                wr_valid_q <= 1'b0;
                if (state_q == E_CHECK) begin
                    sb_q <= 64'd0;
                    sn_q <= 4'd0;
                    rv_q <= 1'b1;                  // staged word 0, read in this cycle
                end
                if (in_commit) begin
                    rv_q <= rd_more;
                    sn_q <= sn_n;
                    sb_q <= go ? comb >> {pl, 3'b000} : comb;
                end
                if (go) begin
                    wr_valid_q <= 1'b1;
                    wr_buf_q <= (op_q == OP_BUF_WRITE);
                    wr_addr_q <= {addr_q[31:2], 2'b00};
                    wr_data_q <= comb[31:0] << {doff, 3'b000};
                    wr_strb_q <= pmask << doff;
                end
                if (rst)
                    wr_valid_q <= 1'b0;
            end
        end else begin : g_commit_compact
            // A byte a cycle from stg_rdata (staged word k_q - 1) into lane doff of wr_data_q.
            // The byte that ends a piece (word, chunk or payload end) waits a cycle: the piece
            // is written in that cycle, at addr_q's word, and only then does addr_q move on,
            // so the write needs no address register of its own.
            reg [1:0]  bi_q;        // the byte of stg_rdata
            reg        open_q;      // a piece is being gathered: wr_strb_q has its bytes
            wire       p_end = (doff == 2'd3) || c_end || p_last;
            wire       lane = in_commit && !wr_valid_q;
            assign pl = 3'd1;
            assign go = in_commit && (wr_valid_q || !p_end);
            assign rd_more = go && (bi_q == 2'd3) && !p_last;
            assign port_addr = {addr_q[31:2], 2'b00};
            always @(posedge clk) begin
                wr_valid_q <= 1'b0;
                if (state_q == E_CHECK) begin
                    bi_q <= 2'd0;
                    open_q <= 1'b0;
                end
                if (go)
                    bi_q <= bi_q + 2'd1;
                if (lane) begin
                    wr_data_q[{doff, 3'b000} +: 8] <= stg_rdata[{bi_q, 3'b000} +: 8];
                    wr_strb_q <= (open_q ? wr_strb_q : 4'b0000) | (4'b0001 << doff);
                    open_q <= !p_end;
                    if (p_end) begin
                        wr_valid_q <= 1'b1;
                        wr_buf_q <= (op_q == OP_BUF_WRITE);
                    end
                end
                if (rst)
                    wr_valid_q <= 1'b0;
            end
        end
    endgenerate

    // ---- BUF_COPY: the checks and the copy port ------------------------------------------
    generate
        if (COPY_BYTES != 0) begin : g_copy
            localparam LCB = $clog2(COPY_BYTES);
            localparam CW = 33 + LCB;   // arg + N * COPY_BYTES, no wrap-around
            localparam [3:0] BUFS = COPY_BUFS[3:0];
            wire [1:0]  src = arg0_q[1:0];
            wire [1:0]  dst = arg0_q[3:2];
            wire [23:0] n = arg0_q[31:8];
            function [CW-1:0] lim;
                input [1:0] id;
                begin
                    case (id)
                        2'd0: lim = {{(CW - 35){1'b0}}, B0_LIM};
                        2'd1: lim = {{(CW - 35){1'b0}}, B1_LIM};
                        2'd2: lim = {{(CW - 35){1'b0}}, B2_LIM};
                        default: lim = {{(CW - 35){1'b0}}, B3_LIM};
                    endcase
                end
            endfunction
            wire [CW-1:0] span = {{(CW - 24 - LCB){1'b0}}, n, {LCB{1'b0}}};
            wire [CW-1:0] r_end = {{(CW - 32){1'b0}}, arg1_q} + span;
            wire [CW-1:0] w_end = {{(CW - 32){1'b0}}, arg2_q} + span;
            assign op_cp = (op_q == OP_BUF_COPY);
            assign cp_any = (n != 24'd0);
            assign cp_bad = (arg0_q[7:4] != 4'd0) || (src == dst) || !BUFS[src]
                            || !BUFS[dst] || (arg1_q[LCB-1:0] != {LCB{1'b0}})
                            || (arg2_q[LCB-1:0] != {LCB{1'b0}}) || (r_end > lim(src))
                            || (w_end > lim(dst));

            // COMMIT: re_q the read of word k at ra_q, we_q its write at wa_q a cycle later;
            // left_q the reads after this one.
            reg         re_q, we_q;
            reg  [23:0] left_q;
            reg  [31:0] ra_q, wa_q;
            always @(posedge clk) begin
                we_q <= re_q;
                if (re_q) begin
                    ra_q <= ra_q + COPY_BYTES;
                    left_q <= left_q - 24'd1;
                    re_q <= (left_q != 24'd0);
                end
                if (we_q)
                    wa_q <= wa_q + COPY_BYTES;
                if (state_q == E_CHECK) begin
                    re_q <= ck_done && c_copy;
                    ra_q <= arg1_q;
                    wa_q <= arg2_q;
                    left_q <= n - 24'd1;
                end
                if (rst) begin
                    re_q <= 1'b0;
                    we_q <= 1'b0;
                end
            end
            assign cp_done = we_q && !re_q;
            assign cp_re = re_q;
            assign cp_rid = src;
            assign cp_raddr = ra_q;
            assign cp_we = we_q;
            assign cp_wid = dst;
            assign cp_waddr = wa_q;
        end else begin : g_no_copy
            assign op_cp = 1'b0;
            assign cp_any = 1'b0;
            assign cp_bad = 1'b0;
            assign cp_done = 1'b0;
            assign cp_re = 1'b0;
            assign cp_rid = 2'd0;
            assign cp_raddr = 32'd0;
            assign cp_we = 1'b0;
            assign cp_wid = 2'd0;
            assign cp_waddr = 32'd0;
        end
    endgenerate

    generate
        if (COMPACT == 0) begin : g_job_regs
            reg [7:0]    op_r;
            reg [31:0]   seq_r, arg0_r, arg1_r, arg2_r, len_r;
            reg [2:0]    pre_r;
            reg          bank_r;
            reg [IW+17:0] span_r;
            always @(posedge clk)
                if (state_q == E_IDLE && job_valid && !rd_block) begin
                    span_r <= job_span;
                    op_r <= job_opcode;
                    seq_r <= job_seq;
                    arg0_r <= job_arg0;
                    arg1_r <= job_arg1;
                    arg2_r <= job_arg2;
                    len_r <= job_len;
                    pre_r <= job_status;
                    bank_r <= job_bank;
                end
            assign {op_q, seq_q, arg0_q, arg1_q, arg2_q, len_q, pre_q, bank_q, span_q} =
                {op_r, seq_r, arg0_r, arg1_r, arg2_r, len_r, pre_r, bank_r, span_r};
            assign job_ready = (state_q == E_IDLE) && !rd_block;
        end else begin : g_job_wires
            assign {op_q, seq_q, arg0_q, arg1_q, arg2_q, len_q, pre_q, bank_q, span_q} =
                {job_opcode, job_seq, job_arg0, job_arg1, job_arg2, job_len, job_status,
                 job_bank, job_span};
            // the job is done (and cbr_cmd_rx may take the next packet) with its last word
            assign job_ready = p_valid_q && (ph_q != PH_HDR) && (ph_q != PH_PAY);
        end

        // the issued word's source, one cycle after the issue
        if (COMPACT == 0) begin : g_p_regs
            reg          p_first_q;
            reg [2:0]    p_src_q;
            reg [31:0]   p_const_q;
            reg [3:0]    p_mask_q;
            always @(posedge clk)
                if (issue) begin
                    p_src_q <= i_src;
                    p_const_q <= i_const;
                    p_first_q <= i_first;
                    p_mask_q <= i_mask;
                end
            assign {o_first, o_src, o_const, o_mask} = {p_first_q, p_src_q, p_const_q, p_mask_q};
        end else begin : g_p_wires
            assign {o_first, o_src, o_const, o_mask} = {i_first, i_src, i_const, i_mask};
        end
    endgenerate

    // ---- a checked RUN (COMPACT = 0; docs/protocol.md, "Checked RUN") ---------------------
    // A RUN with arg1 bit 0 set runs only if no request was lost on the way since the last
    // plain RUN or RESET - every packet that passed its CRCs since then carried the sequence
    // number after the one before - and arg0 is the number of RUNs run since the RESET; else
    // it is answered REFUSED and starts nothing. A host may then post it like a write: a RUN
    // behind a lost write is refused, and a RUN sent again (go-back-N) after it ran is too.
    // A plain RUN (the host completed every request before it) clears the gap and sets the
    // count to arg0 + 1.
    generate
        if (COMPACT == 0) begin : g_run_check
            reg [31:0] seq_next_q;   // the sequence number the next packet should carry
            reg [31:0] runs_q;       // RUNs run since RESET (a plain RUN: its arg0 + 1)
            reg        gap_q;        // a packet was lost since the last plain RUN or RESET
            wire       gap = gap_q || (seq_q != seq_next_q);
            wire       checked = arg1_q[0];
            assign run_refuse = checked && (gap || arg0_q != runs_q);
            always @(posedge clk) begin
                if (state_q == E_CHECK && pre_q == ST_OK) begin
                    seq_next_q <= seq_q + 32'd1;
                    gap_q <= gap;
                    if (c_st == ST_OK && op_q == OP_RESET) begin
                        gap_q <= 1'b0;
                        runs_q <= 32'd0;
                    end
                    if (c_st == ST_OK && op_q == OP_RUN) begin
                        runs_q <= arg0_q + 32'd1;
                        if (!checked)
                            gap_q <= 1'b0;
                    end
                end
                if (rst) begin
                    seq_next_q <= 32'd0;
                    runs_q <= 32'd0;
                    gap_q <= 1'b1;
                end
            end
        end else begin : g_no_run_check
            assign run_refuse = 1'b0;  // every RUN runs; INFO does not set the bit
        end
    endgenerate

    // ---- the reader: a BUF_READ's payload and CRC (COMPACT = 0) --------------------------
    // RESP issues a BUF_READ's header and hands the rest to the reader with its last word
    // (hand_off), then is done: the next job may be taken while the payload is read out,
    // if it is a BUF_WRITE to another buffer (rd_block), so a write is committed while a
    // read drains. Any other job waits for the reader, and so does every response (RESP
    // issues nothing while rd_busy): responses leave in request order. The reader issues a
    // word whenever there is room, as RESP would, through the same p_* stage.
    generate
        if (COMPACT == 0) begin : g_reader
            reg          busy_q, crc_q;  // a word to issue: payload, then (crc_q) its CRC
            reg [IW:0]   left_q;         // payload words after this one
            reg [31:0]   ra_q;           // byte address of this payload word
            reg [1:0]    id_q;
            reg [1:0]    tail_q;         // payload length mod 4
            wire         last = (left_q == {(IW + 1){1'b0}});
            assign rd_busy = busy_q;
            assign rd_issue = busy_q && room;
            assign rd_crc = crc_q;
            assign rd_mask = (!crc_q && last) ? tail_mask(tail_q) : 4'b1111;
            assign rd_block = busy_q && !(job_opcode == OP_BUF_WRITE && job_arg0[1:0] != id_q);
            assign buf_re = rd_issue && !crc_q;
            assign buf_rid = id_q;
            assign buf_raddr = ra_q;
            always @(posedge clk) begin
                if (hand_off) begin
                    busy_q <= 1'b1;
                    crc_q <= 1'b0;
                    left_q <= nw_q - 1'b1;
                    ra_q <= addr_q;
                    id_q <= arg0_q[1:0];
                    tail_q <= rlen_q[1:0];
                end
                if (rd_issue) begin
                    if (crc_q) begin
                        busy_q <= 1'b0;
                    end else begin
                        ra_q <= ra_q + 32'd4;
                        left_q <= left_q - 1'b1;
                        crc_q <= last;
                    end
                end
                if (rst)
                    busy_q <= 1'b0;
            end
        end else begin : g_no_reader
            // one packet at a time: RESP reads a BUF_READ's payload itself, at port_addr
            assign rd_busy = 1'b0;
            assign rd_issue = 1'b0;
            assign rd_crc = 1'b0;
            assign rd_mask = 4'b1111;
            assign rd_block = 1'b0;
            assign buf_re = fg_issue && pay && (op_q == OP_BUF_READ);
            assign buf_rid = arg0_q[1:0];
            assign buf_raddr = port_addr;
        end
    endgenerate

    // Staging reads: the commit's source, or a NOP's echo.
    assign stg_re = (state_q == E_CHECK) || rd_more || (fg_issue && pay && op_q == OP_NOP);
    assign stg_raddr = {bank_q, k_q[IW-1:0]};

    assign reg_we = wr_valid_q && !wr_buf_q;
    assign reg_re = fg_issue && pay && (op_q == OP_REG_READ);
    assign reg_addr = port_addr[11:0];
    assign reg_wdata = wr_data_q;
    assign buf_we = wr_valid_q && wr_buf_q;
    assign buf_wid = arg0_q[1:0];
    assign buf_waddr = port_addr;
    assign buf_wdata = wr_data_q;
    assign buf_wstrb = wr_strb_q;
    assign core_start = start_q;
    assign core_reset = reset_q;

    reg [31:0] p_word;
    always @(*) begin
        case (o_src)
            SRC_REG: p_word = reg_rdata;
            SRC_BUF: p_word = buf_rdata;
            SRC_STG: p_word = stg_rdata;
            default: p_word = o_const;
        endcase
    end
    assign out_valid = p_valid_q;
    assign out_data = p_word & {{8{o_mask[3]}}, {8{o_mask[2]}}, {8{o_mask[1]}},
                                {8{o_mask[0]}}};
    assign out_first = o_first;
    assign out_crc = (o_src == SRC_CRC);

endmodule
`resetall
