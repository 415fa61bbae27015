`resetall
`default_nettype none
// cbr_cmd_rx - the receiving half of the command block: finds packets in the host->device
// word stream, checks them, stages their payload and hands each one to cbr_cmd_exec as a job.
//
// Why a module of its own: receiving never waits for execution (the staging RAM has two
// banks, so the next packet streams in while the previous one is committed and answered),
// and everything that deals with an untrusted stream - resynchronisation, the header and
// payload CRCs, the pad check, the idle timeout - sits here, in front of anything that writes.
//
// Steps (docs/protocol.md, docs/cmd.md): words enter an 8-word window. A word at the head
// that is not the magic is dropped; a magic at the head starts a header, whose CRC is
// computed one window word a cycle. With all 8 words in: hcrc wrong -> drop only the head
// word and scan the 7 others again (so a real packet that started inside a fake header is
// still found); hcrc right -> the window is emptied and the header decides: response flag
// set -> skip the packet silently; version not 1 -> job BAD_VERSION; length above
// MAX_PAYLOAD -> job BAD_LENGTH (both skip the 32 header bytes only); otherwise the payload
// words go to the staging bank and the CRC, then the trailer word gives job OK or BAD_CRC
// (CRC wrong or a pad byte not zero). A partial packet that gets no word for RX_TIMEOUT
// cycles in which rx_ready is high is dropped.
//
// For a scatter BUF_WRITE (arg2 != 0: CHUNK = arg2[15:0], PITCH = arg2[31:16]) a sequential
// division runs while the payload streams in, one quotient bit a cycle (IW+2 cycles): with
// L = length - 1, job_span = (L / CHUNK) * PITCH + L % CHUNK, the offset of the last byte
// the write addresses, relative to arg1. cbr_cmd_exec range-checks with it before anything
// is written. The job is held back until the division is done, which delays only scatter
// writes shorter than about 4*(IW+1) bytes. (COMPACT: no division, job_span is 0;
// cbr_cmd_exec finds the extent by walking the write's addresses before it checks.)
//
// COMPACT = 1 (slow links, docs/cmd.md): the same checks and results with a fraction of the
// logic. The window lives in staging words 0..7 (a ring; a flag per slot says "is the
// magic"), its words and the payload words are read back through the staging read port and
// go through the CRC a byte a cycle, and the header fields are read out of the ring after
// the hcrc matched. There is one staging bank: the next packet is taken only after
// cbr_cmd_exec has answered this one (job_ready is then its last cycle). rx_ready is low
// while a word is in the CRC (a payload word takes 7 cycles).
module cbr_cmd_rx #(
    parameter MAX_PAYLOAD = 1024,   // bytes, a multiple of 4: the longest payload accepted
    parameter RX_TIMEOUT  = 65536,  // idle cycles (rx_ready high, no word) that drop a partial packet
    parameter IW          = 8,      // staging word-index bits per bank: 2**IW >= MAX_PAYLOAD/4
    parameter COMPACT     = 0       // 1: the area-optimised variant (see above)
) (
    input  wire          clk,
    input  wire          rst,
    // host -> device words, byte 0 of the stream in [7:0]
    input  wire [31:0]   rx_data,
    input  wire          rx_valid,
    output wire          rx_ready,     // from registers only
    // staging RAM write port
    output wire          stg_we,
    output wire [IW:0]   stg_waddr,    // {bank, word index}
    output wire [31:0]   stg_wdata,
    // staging RAM read port (COMPACT only; the word is on stg_rdata the cycle after stg_re)
    output wire          stg_re,
    output wire [IW:0]   stg_raddr,
    input  wire [31:0]   stg_rdata,
    // one job per packet that needs an answer; held until job_ready
    output wire          job_valid,
    input  wire          job_ready,
    output wire [2:0]    job_status,   // 0 OK (payload good), 1 BAD_CRC, 2 BAD_LENGTH, 5 BAD_VERSION
    output wire [7:0]    job_opcode,
    output wire [31:0]   job_seq,
    output wire [31:0]   job_arg0,
    output wire [31:0]   job_arg1,
    output wire [31:0]   job_arg2,
    output wire [31:0]   job_len,      // the header's length (<= MAX_PAYLOAD when status is 0)
    output wire          job_bank,     // the staging bank holding the payload
    // scatter BUF_WRITE with status 0 and length >= 1: (L / CHUNK) * PITCH + L % CHUNK,
    // L = length - 1 (don't-care when CHUNK is 0 and for every other job)
    output wire [IW+17:0] job_span,
    // COMPACT: cbr_cmd_tx's CRC, run by this CRC step while a job is out (cbr_cmd_tx.v)
    input  wire          tx_crc_go,
    input  wire          tx_crc_first,
    input  wire [7:0]    tx_crc_byte,
    output wire [31:0]   tx_crc
);

    localparam [31:0] MAGIC = 32'h5052_4243;
    localparam [31:0] MAXP = MAX_PAYLOAD;
    localparam TW = $clog2(RX_TIMEOUT + 1);           // timeout counter bits
    localparam [31:0] TMO_LAST_32 = RX_TIMEOUT - 1;
    localparam [TW-1:0] TMO_LAST = TMO_LAST_32[TW-1:0];

    localparam [2:0] S_HDR = 3'd0;   // scanning / collecting a header in the window
    localparam [2:0] S_PAY = 3'd1;   // payload words into the staging bank
    localparam [2:0] S_TRL = 3'd2;   // the trailer (CRC) word
    localparam [2:0] S_SKIP = 3'd3;  // the rest of a packet that is not answered
    localparam [2:0] S_JOB = 3'd4;   // a job waits for cbr_cmd_exec

    localparam [2:0] ST_OK = 3'd0, ST_BAD_CRC = 3'd1, ST_BAD_LENGTH = 3'd2, ST_BAD_VERSION = 3'd5;
    localparam [7:0] OP_BUF_WRITE = 8'h20;
    localparam DW = IW + 2;                           // bits of length - 1 (< 4 * 2**IW)
    localparam [31:0] DW_LAST_32 = DW - 1;
    localparam [4:0] DW_LAST = DW_LAST_32[4:0];       // division iterations - 1

    generate
        if (MAX_PAYLOAD % 4 != 0 || MAX_PAYLOAD < 4) begin : g_bad_max_payload
            cbr_cmd_rx_error_max_payload_must_be_a_positive_multiple_of_4 u_err ();
        end
        if ((MAX_PAYLOAD / 4) > (1 << IW)) begin : g_bad_iw
            cbr_cmd_rx_error_iw_too_small_for_max_payload u_err ();
        end
        if (IW + 2 > 31) begin : g_bad_iw_div
            cbr_cmd_rx_error_iw_too_large u_err ();
        end
        if (COMPACT != 0 && IW < 3) begin : g_bad_compact_iw
            cbr_cmd_rx_error_compact_needs_8_staging_words u_err ();
        end
        if (RX_TIMEOUT < 1) begin : g_bad_timeout
            cbr_cmd_rx_error_rx_timeout_must_be_at_least_1 u_err ();
        end
    endgenerate


    reg [2:0]    state_q;
    reg [31:0]   crc_q;      // raw CRC register
    reg [IW:0]   cnt_q;      // S_PAY: payload words received; S_SKIP: words still to skip
    reg [IW:0]   wtot_q;     // payload words of the packet
    reg          pad_bad_q;
    reg [TW-1:0] tmo_q;
    reg          bank_q;
    reg [2:0]    status_q;
    reg [7:0]    opcode_q;
    reg [31:0]   seq_q, arg0_q, arg1_q, arg2_q, len_q;
    wire         dv_busy;    // the scatter-extent division runs (g_full)
    wire [IW+17:0] span;     // its result

    // set by the variant below
    wire         partial;    // a packet has begun: the timeout runs
    wire         rdy;        // rx_ready

    assign rx_ready = rdy;
    wire accept = rx_valid && rx_ready;

    // ---- the payload tail: bytes past len in the last word must be zero ------------------
    reg [31:0] pad_mask;
    always @(*) begin
        case (len_q[1:0])
            2'd1: pad_mask = 32'hFFFF_FF00;
            2'd2: pad_mask = 32'hFFFF_0000;
            2'd3: pad_mask = 32'hFF00_0000;
            default: pad_mask = 32'h0000_0000;
        endcase
    end

    // ---- the timeout ---------------------------------------------------------------------
    wire idle_wait = partial && rx_ready && !rx_valid;
    wire drop = idle_wait && (tmo_q == TMO_LAST);

    always @(posedge clk) begin
        if (!idle_wait)
            tmo_q <= {TW{1'b0}};
        else
            tmo_q <= tmo_q + 1'b1;
        if (rst)
            tmo_q <= {TW{1'b0}};
    end

    generate
        if (COMPACT == 0) begin : g_full
            reg [255:0]  hw_q;       // the window: word i in [32*i +: 32], word 0 the oldest
            reg [3:0]    hn_q;       // words in the window, 0..8
            reg [2:0]    si_q;       // window words already in crc_q (counted from the head)

            // ---- the window ----------------------------------------------------------------
            wire [31:0] w_head = hw_q[31:0];
            wire [31:0] w_hcrc = hw_q[255:224];
            wire [31:0] w_len = hw_q[223:192];
            wire        head_magic = (w_head == MAGIC);
            wire        in_hdr = (state_q == S_HDR);
            wire        hdr_full = (hn_q == 4'd8) && (si_q == 3'd7);  // crc_q covers words 0..6
            wire        hcrc_ok = (~crc_q == w_hcrc);
            wire        busy_head = in_hdr && (hn_q != 4'd0);
            wire        shift = busy_head && (!head_magic || (hdr_full && !hcrc_ok));
            wire        take = busy_head && head_magic && hdr_full && hcrc_ok;
            wire        step = busy_head && head_magic && !hdr_full && ({1'b0, si_q} < hn_q);

            // ---- the job queue ----------------------------------------------------------------
            // A received packet's job waits in a queue of JQ entries (cbr_cmd_exec takes the
            // head; with the queue empty, straight from the registers above, as soon as the
            // packet is in), and the receiver goes on with the next packet: a request without
            // a payload (a BUF_READ, a poll) holds up neither the link nor a staging bank while
            // the job before it commits. A payload goes into bank_q once no queued or running
            // job still reads that bank.
            localparam JQ = 4;
            localparam JB = 3 + 8 + 5 * 32 + 2 + IW + 18;   // status .. span, used, bank
            reg  [JB-1:0] jq_q [0:JQ-1];
            reg  [1:0]    jq_rd_q, jq_wr_q;
            reg  [2:0]    jq_n_q;
            reg           pay_q;      // this packet's payload went into bank_q
            reg           run_used_q, run_bank_q;  // the job cbr_cmd_exec took last
            wire [JB-1:0] jq_in = {status_q, opcode_q, seq_q, arg0_q, arg1_q, arg2_q, len_q,
                                   span, pay_q, bank_q};
            wire          jq_some = (jq_n_q != 3'd0);
            wire          job_in = (state_q == S_JOB) && !dv_busy;  // this packet's job
            wire          direct = job_in && !jq_some && job_ready; // taken at once
            wire          jq_push = job_in && !jq_some ? !job_ready
                                                       : job_in && (jq_n_q != JQ[2:0]);
            wire          jq_pop = jq_some && job_ready;
            wire          job_out = direct || jq_push;              // the receiver goes on
            wire [JB-1:0] jq_head = jq_some ? jq_q[jq_rd_q] : jq_in;
            // bank_q is read by a queued job (qb*_q: queued jobs with a payload, per bank), or
            // by the running one (cbr_cmd_exec not idle)
            reg  [2:0]    qb0_q, qb1_q;
            wire          head_b = jq_head[0], head_used = jq_head[1];
            wire          bank_used = ((bank_q ? qb1_q : qb0_q) != 3'd0)
                                      || (run_used_q && !job_ready && (run_bank_q == bank_q));
            wire          inc0 = jq_push && pay_q && !bank_q, inc1 = jq_push && pay_q && bank_q;
            wire          dec0 = jq_pop && head_used && !head_b;
            wire          dec1 = jq_pop && head_used && head_b;

            always @(posedge clk) begin
                if (jq_push) begin
                    jq_q[jq_wr_q] <= jq_in;
                    jq_wr_q <= jq_wr_q + 2'd1;
                end
                if (jq_pop || direct) begin
                    run_used_q <= head_used;
                    run_bank_q <= head_b;
                end
                if (jq_pop)
                    jq_rd_q <= jq_rd_q + 2'd1;
                jq_n_q <= jq_n_q + {2'd0, jq_push} - {2'd0, jq_pop};
                qb0_q <= qb0_q + {2'd0, inc0} - {2'd0, dec0};
                qb1_q <= qb1_q + {2'd0, inc1} - {2'd0, dec1};
                if (rst) begin
                    jq_rd_q <= 2'd0;
                    jq_wr_q <= 2'd0;
                    jq_n_q <= 3'd0;
                    qb0_q <= 3'd0;
                    qb1_q <= 3'd0;
                    run_used_q <= 1'b0;
                end
            end

            assign job_valid = jq_some || job_in;
            assign {job_status, job_opcode, job_seq, job_arg0, job_arg1, job_arg2, job_len,
                    job_span} = jq_head[JB-1:2];
            assign job_bank = jq_head[0];

            assign rdy = in_hdr ? (hn_q != 4'd8)
                       : (state_q == S_PAY) ? !bank_used
                       : (state_q != S_JOB);

            // ---- header fields, valid in the cycle of take ---------------------------------
            wire        h_ver_ok = (hw_q[39:32] == 8'd1);
            wire        h_resp = hw_q[48];
            wire        h_len_ok = (w_len <= MAXP);
            // payload words, ceil(len / 4); used only when len <= MAX_PAYLOAD <= 4 * 2**IW
            wire [IW:0] h_words = w_len[IW+2:2] + {{IW{1'b0}}, (w_len[1:0] != 2'd0)};
            // status, flags[7:1]; the magic was checked
            wire [46:0] unused_hdr = {hw_q[63:49], hw_q[31:0]};
            wire [31:0] w_arg2 = hw_q[191:160];
            // a scatter write with a payload: its extent is divided out while the payload comes
            wire        h_scatter = (hw_q[47:40] == OP_BUF_WRITE) && (w_arg2 != 32'd0)
                                    && (w_len != 32'd0);
            wire [31:0] w_len_m1 = w_len - 32'd1;             // < 4 * 2**IW when it is used
            wire [31-DW:0] unused_len_m1 = w_len_m1[31:DW];

            // the scatter-extent division: dv_n_q holds the dividend bits still to bring
            // down (MSB first), dv_r_q the remainder, dv_a_q the quotient so far times PITCH
            reg          dv_busy_q;
            reg [4:0]    dv_i_q;     // iterations left - 1
            reg [DW-1:0] dv_n_q;
            reg [16:0]   dv_r_q;
            reg [IW+17:0] dv_a_q;
            wire         dv_go = take;   // start the division if dv_want
            wire         dv_want = h_scatter && !h_resp && h_ver_ok && h_len_ok;
            wire [DW-1:0] dv_n0 = w_len_m1[DW-1:0];
            assign dv_busy = dv_busy_q;
            assign span = dv_a_q + {{(IW + 1){1'b0}}, dv_r_q};

            // ---- one step of the restoring division by CHUNK (arg2_q[15:0]) --------------
            wire [16:0] dv_r2 = {dv_r_q[15:0], dv_n_q[DW-1]};
            wire        dv_ge = (dv_r2 >= {1'b0, arg2_q[15:0]});
            wire [16:0] dv_r_n = dv_ge ? dv_r2 - {1'b0, arg2_q[15:0]} : dv_r2;
            wire [IW+17:0] dv_a_n = {dv_a_q[IW+16:0], 1'b0}
                                    + (dv_ge ? {{(IW + 2){1'b0}}, arg2_q[31:16]}
                                             : {(IW + 18){1'b0}});

            always @(posedge clk) begin
                if (dv_busy_q) begin
                    dv_r_q <= dv_r_n;
                    dv_a_q <= dv_a_n;
                    dv_n_q <= {dv_n_q[DW-2:0], 1'b0};
                    dv_i_q <= dv_i_q - 5'd1;
                    if (dv_i_q == 5'd0)
                        dv_busy_q <= 1'b0;
                end
                if (dv_go) begin
                    dv_busy_q <= dv_want;
                    dv_i_q <= DW_LAST;
                    dv_n_q <= dv_n0;
                    dv_r_q <= 17'd0;
                    dv_a_q <= {(IW + 18){1'b0}};
                end
                if (rst)
                    dv_busy_q <= 1'b0;
            end

            assign partial = (in_hdr && hn_q != 4'd0 && head_magic) || state_q == S_PAY
                             || state_q == S_TRL || state_q == S_SKIP;

            // ---- the CRC -------------------------------------------------------------------
            wire [31:0] crc_word = in_hdr ? hw_q[{si_q, 5'd0} +: 32] : rx_data;
            wire [31:0] crc_next;
            cbr_crc32_w32 u_crc (.crc_in(crc_q), .data(crc_word), .crc_out(crc_next));

            // ---- next window ---------------------------------------------------------------
            reg [255:0] hw_n;
            reg [3:0]   hn_n;
            integer i;
            always @(*) begin
                hw_n = hw_q;
                hn_n = hn_q;
                if (shift) begin
                    hw_n = {32'd0, hw_q[255:32]};
                    hn_n = hn_q - 4'd1;
                end
                for (i = 0; i < 8; i = i + 1)
                    if (in_hdr && accept && hn_n == i[3:0])
                        hw_n[32*i +: 32] = rx_data;
                if (in_hdr && accept)
                    hn_n = hn_n + 4'd1;
                if (take || drop)
                    hn_n = 4'd0;
            end

            always @(posedge clk) begin
                hw_q <= hw_n;
                hn_q <= hn_n;

                case (state_q)
                    S_HDR: begin
                        if (shift) begin
                            crc_q <= 32'hFFFF_FFFF;
                            si_q <= 3'd0;
                        end else if (step) begin
                            crc_q <= crc_next;
                            si_q <= si_q + 3'd1;
                        end else if (take) begin
                            crc_q <= crc_next;  // the packet CRC goes on over the hcrc word
                            si_q <= 3'd0;
                            opcode_q <= hw_q[47:40];
                            seq_q <= hw_q[95:64];
                            arg0_q <= hw_q[127:96];
                            arg1_q <= hw_q[159:128];
                            arg2_q <= hw_q[191:160];
                            len_q <= w_len;
                            wtot_q <= h_words;
                            cnt_q <= {(IW + 1){1'b0}};
                            pad_bad_q <= 1'b0;
                            pay_q <= 1'b0;
                            if (h_resp) begin
                                // Not a request: no answer, nothing done. Skip what the header
                                // says follows, unless that cannot be trusted either.
                                if (h_ver_ok && h_len_ok) begin
                                    cnt_q <= h_words + 1'b1;
                                    state_q <= S_SKIP;
                                end else begin
                                    crc_q <= 32'hFFFF_FFFF;
                                end
                            end else if (!h_ver_ok) begin
                                status_q <= ST_BAD_VERSION;
                                state_q <= S_JOB;
                            end else if (!h_len_ok) begin
                                status_q <= ST_BAD_LENGTH;
                                state_q <= S_JOB;
                            end else if (h_words == {(IW + 1){1'b0}}) begin
                                state_q <= S_TRL;
                            end else begin
                                state_q <= S_PAY;
                                pay_q <= 1'b1;
                            end
                        end
                    end
                    S_PAY: begin
                        if (accept) begin
                            crc_q <= crc_next;
                            cnt_q <= cnt_q + 1'b1;
                            if (cnt_q == wtot_q - 1'b1) begin
                                pad_bad_q <= |(rx_data & pad_mask);
                                state_q <= S_TRL;
                            end
                        end
                    end
                    S_TRL: begin
                        if (accept) begin
                            status_q <= (~crc_q == rx_data && !pad_bad_q) ? ST_OK : ST_BAD_CRC;
                            state_q <= S_JOB;
                        end
                    end
                    S_SKIP: begin
                        if (accept) begin
                            cnt_q <= cnt_q - 1'b1;
                            if (cnt_q == {{IW{1'b0}}, 1'b1}) begin
                                crc_q <= 32'hFFFF_FFFF;
                                state_q <= S_HDR;
                            end
                        end
                    end
                    S_JOB: begin
                        if (job_out) begin
                            if (pay_q)
                                bank_q <= !bank_q;
                            crc_q <= 32'hFFFF_FFFF;
                            state_q <= S_HDR;
                        end
                    end
                    default: state_q <= S_HDR;
                endcase

                if (drop) begin
                    crc_q <= 32'hFFFF_FFFF;
                    si_q <= 3'd0;
                    state_q <= S_HDR;
                end

                if (rst) begin
                    state_q <= S_HDR;
                    hn_q <= 4'd0;
                    si_q <= 3'd0;
                    crc_q <= 32'hFFFF_FFFF;
                    bank_q <= 1'b0;
                end
            end

            assign stg_we = (state_q == S_PAY) && accept;
            assign stg_waddr = {bank_q, cnt_q[IW-1:0]};
            assign stg_re = 1'b0;
            assign stg_raddr = {(IW + 1){1'b0}};
            wire [31:0] unused_stg_rdata = stg_rdata;
            assign tx_crc = 32'd0;
            wire [9:0] unused_tx_crc = {tx_crc_go, tx_crc_first, tx_crc_byte};
        end else begin : g_compact
            localparam [2:0] S_EXT = 3'd5;   // the header fields are read out of the ring
            localparam [2:0] S_DEC = 3'd6;   // the header decides, as take does in g_full
            localparam [1:0] K_WIN = 2'd0, K_HCRC = 2'd1, K_FLD = 2'd2, K_PAY = 2'd3;

            reg [2:0]  hp_q;       // ring slot of the window's head (staging word hp_q)
            reg [3:0]  hn_q;       // words in the window, 0..8
            reg [7:0]  mg_q;       // slot i holds the magic
            reg [2:0]  si_q;       // window words already in crc_q (counted from the head)
            reg        rd_q;       // a staging word was read last cycle: it is on stg_rdata
            reg [1:0]  rk_q;       // what for (K_*)
            reg        rb_q;       // a payload word was written last cycle: read it back
            reg [2:0]  fi_q;       // S_EXT: the next header word to read (1..6), then 7
            reg        cb_busy_q;  // the CRC takes stg_rdata's bytes, one a cycle
            reg [1:0]  cb_q;       // the byte
            reg        ver_ok_q, resp_q;

            wire in_hdr = (state_q == S_HDR);
            wire idle = !rd_q && !rb_q && !cb_busy_q;
            wire head_magic = mg_q[hp_q];
            wire busy_head = in_hdr && (hn_q != 4'd0) && idle;
            wire shift_nm = busy_head && !head_magic;
            wire rd_win = busy_head && head_magic && (si_q != 3'd7) && ({1'b0, si_q} < hn_q);
            wire rd_hcrc = busy_head && head_magic && (si_q == 3'd7) && (hn_q == 4'd8);
            wire hcrc_ok = (~crc_q == stg_rdata);
            wire got_hcrc = rd_q && (rk_q == K_HCRC);
            wire shift = shift_nm || (got_hcrc && !hcrc_ok);
            wire take = got_hcrc && hcrc_ok;
            wire rd_fld = (state_q == S_EXT) && !cb_busy_q && (fi_q != 3'd7);
            wire crc_go = rd_q && (rk_q == K_WIN || rk_q == K_PAY);
            wire [2:0] slot_w = hp_q + hn_q[2:0];   // the next window word goes here
            wire [2:0] slot_r = hp_q + (rd_fld ? fi_q : si_q);

            assign rdy = in_hdr ? (hn_q != 4'd8)
                       : (state_q == S_PAY || state_q == S_TRL) ? idle
                       : (state_q == S_SKIP);

            // ---- header fields, valid in S_DEC -----------------------------------------------
            wire        h_len_ok = (len_q <= MAXP);
            wire [IW:0] h_words = len_q[IW+2:2] + {{IW{1'b0}}, (len_q[1:0] != 2'd0)};
            // no extent division: cbr_cmd_exec walks a scatter write's addresses instead
            assign dv_busy = 1'b0;
            assign span = {(IW + 18){1'b0}};

            assign partial = (in_hdr && hn_q != 4'd0 && head_magic) || state_q == S_PAY
                             || state_q == S_TRL || state_q == S_SKIP;

            // ---- the CRC, a byte of stg_rdata a cycle ----------------------------------------
            // While a job is out (S_JOB) it is the response's, fed by cbr_cmd_tx; the last
            // response word (issued as job_ready rises) is not needed in it.
            wire        in_job = (state_q == S_JOB);
            wire        tx_go = in_job && tx_crc_go && !job_ready;
            wire [7:0]  crc_byte = in_job ? tx_crc_byte : stg_rdata[{cb_q, 3'b000} +: 8];
            wire [31:0] crc_next;
            cbr_crc32_w32 #(.BITS(8)) u_crc (.crc_in(crc_q), .data(crc_byte), .crc_out(crc_next));
            assign tx_crc = crc_q;

            always @(posedge clk) begin
                rd_q <= 1'b0;
                rb_q <= 1'b0;
                if (cb_busy_q) begin
                    crc_q <= crc_next;
                    cb_q <= cb_q + 2'd1;
                    if (cb_q == 2'd3)
                        cb_busy_q <= 1'b0;
                end
                if (crc_go || tx_go) begin
                    cb_busy_q <= 1'b1;
                    cb_q <= 2'd0;
                end
                if (tx_go && tx_crc_first)
                    crc_q <= 32'hFFFF_FFFF;
                if (rb_q) begin
                    rd_q <= 1'b1;
                    rk_q <= K_PAY;
                end

                // the ring: a word in, the head out
                if (in_hdr && accept) begin
                    mg_q[slot_w] <= (rx_data == MAGIC);
                    hn_q <= hn_q + 4'd1 - {3'd0, shift};
                end else if (shift) begin
                    hn_q <= hn_q - 4'd1;
                end
                if (shift) begin
                    hp_q <= hp_q + 3'd1;
                    crc_q <= 32'hFFFF_FFFF;
                    si_q <= 3'd0;
                end
                if (rd_win) begin
                    rd_q <= 1'b1;
                    rk_q <= K_WIN;
                    si_q <= si_q + 3'd1;
                end
                if (rd_hcrc) begin
                    rd_q <= 1'b1;
                    rk_q <= K_HCRC;
                end
                if (rd_fld) begin
                    rd_q <= 1'b1;
                    rk_q <= K_FLD;
                    fi_q <= fi_q + 3'd1;
                end
                if (take) begin
                    cb_busy_q <= 1'b1;   // the packet CRC goes on over the hcrc word
                    cb_q <= 2'd0;
                    hn_q <= 4'd0;
                    si_q <= 3'd0;
                    fi_q <= 3'd1;
                    state_q <= S_EXT;
                end
                if (rd_q && rk_q == K_FLD)
                    case (fi_q)
                        3'd2: begin
                            ver_ok_q <= (stg_rdata[7:0] == 8'd1);
                            opcode_q <= stg_rdata[15:8];
                            resp_q <= stg_rdata[16];
                        end
                        3'd3: seq_q <= stg_rdata;
                        3'd4: arg0_q <= stg_rdata;
                        3'd5: arg1_q <= stg_rdata;
                        3'd6: arg2_q <= stg_rdata;
                        default: begin
                            len_q <= stg_rdata;
                            state_q <= S_DEC;
                        end
                    endcase

                case (state_q)
                    S_DEC: begin
                        wtot_q <= h_words;
                        cnt_q <= {(IW + 1){1'b0}};
                        pad_bad_q <= 1'b0;
                        state_q <= S_HDR;
                        if (resp_q) begin
                            if (ver_ok_q && h_len_ok) begin
                                cnt_q <= h_words + 1'b1;
                                state_q <= S_SKIP;
                            end else begin
                                crc_q <= 32'hFFFF_FFFF;
                            end
                        end else if (!ver_ok_q) begin
                            status_q <= ST_BAD_VERSION;
                            state_q <= S_JOB;
                        end else if (!h_len_ok) begin
                            status_q <= ST_BAD_LENGTH;
                            state_q <= S_JOB;
                        end else if (h_words == {(IW + 1){1'b0}}) begin
                            state_q <= S_TRL;
                        end else begin
                            state_q <= S_PAY;
                        end
                    end
                    S_PAY: begin
                        if (accept) begin
                            rb_q <= 1'b1;
                            if (cnt_q == wtot_q - 1'b1) begin
                                pad_bad_q <= |(rx_data & pad_mask);
                                state_q <= S_TRL;
                            end
                        end
                    end
                    S_TRL: begin
                        if (accept) begin
                            status_q <= (~crc_q == rx_data && !pad_bad_q) ? ST_OK : ST_BAD_CRC;
                            state_q <= S_JOB;
                        end
                    end
                    S_SKIP: begin
                        if (accept) begin
                            cnt_q <= cnt_q - 1'b1;
                            if (cnt_q == {{IW{1'b0}}, 1'b1}) begin
                                crc_q <= 32'hFFFF_FFFF;
                                state_q <= S_HDR;
                            end
                        end
                    end
                    S_JOB: begin
                        if (job_ready && !dv_busy) begin
                            crc_q <= 32'hFFFF_FFFF;
                            state_q <= S_HDR;
                        end
                    end
                    default: ;
                endcase
                // the payload word's read-back: cnt_q moves on once it was read
                if (rb_q)
                    cnt_q <= cnt_q + 1'b1;

                if (drop) begin
                    crc_q <= 32'hFFFF_FFFF;
                    si_q <= 3'd0;
                    hn_q <= 4'd0;
                    rd_q <= 1'b0;
                    cb_busy_q <= 1'b0;
                    state_q <= S_HDR;
                end

                if (rst) begin
                    state_q <= S_HDR;
                    hp_q <= 3'd0;
                    hn_q <= 4'd0;
                    si_q <= 3'd0;
                    rd_q <= 1'b0;
                    rb_q <= 1'b0;
                    cb_busy_q <= 1'b0;
                    crc_q <= 32'hFFFF_FFFF;
                    bank_q <= 1'b0;
                end
            end

            // Window words go to their ring slot, payload words from staging word 0 on (the
            // header was read out of the ring before the first one arrives).
            assign stg_we = accept && (in_hdr || state_q == S_PAY);
            assign stg_waddr = in_hdr ? {{(IW - 2){1'b0}}, slot_w} : {1'b0, cnt_q[IW-1:0]};
            assign stg_re = rd_win || rd_hcrc || rd_fld || rb_q;
            assign stg_raddr = rb_q ? {1'b0, cnt_q[IW-1:0]} : {{(IW - 2){1'b0}}, slot_r};

            // one job at a time, held in the receiver's registers until job_ready
            assign job_valid = (state_q == S_JOB) && !dv_busy;
            assign job_status = status_q;
            assign job_opcode = opcode_q;
            assign job_seq = seq_q;
            assign job_arg0 = arg0_q;
            assign job_arg1 = arg1_q;
            assign job_arg2 = arg2_q;
            assign job_len = len_q;
            assign job_bank = bank_q;
            assign job_span = span;
        end
    endgenerate

    assign stg_wdata = rx_data;

endmodule
`resetall
