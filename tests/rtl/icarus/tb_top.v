`default_nettype none
// tb_top - the simulated board in Icarus Verilog (4-state): cbr_top or cbr_top_tiny (TINY), or
// the yosys netlist of either (NETLIST), clocked by commands that the shim tests/rtl/icarus/cbr_sim_ivl.c sends over a pipe, so the
// real libcbr (sim transport, protocol, planner, driver) runs layers on it and test_sim
// compares them with the golden model.
//
// Why a pipe and not vectors: the host's driver polls and reacts to what the device answers,
// so the stimulus cannot be fixed in advance; the shim turns the cbr_sim.h calls into these
// commands, one per line, on +cmd=FILE, and reads the answers from +rsp=FILE:
//
//   R <max_cycles> <n> <w0> .. <wn-1>   clock until the device sent a word or max_cycles
//                                       passed, offering host words w0.. (hex) in order
//       -> D <taken> <cycles> <m> <t0> .. <tm-1>   words the device took, cycles run, the
//                                       words it sent (hex)
//   X                                   hold reset for 8 cycles      -> K <cycles run>
//   Q                                   finish                       -> K
//
// X check (what the 2-state Verilator board cannot see): after reset, rx_ready and tx_valid
// must be 0 or 1 in every cycle and tx_data must be fully known whenever tx_valid is high.
// A violation answers "E <message>" and ends the simulation.
//
// The link runs at the port's full rate (a word each way per cycle when both sides are
// ready); the Verilator board's modelled link rates are not modelled here.
module tb_top;

    parameter ROWS = 4;                 // array shape of the cbr_top under test
    parameter COLS = 4;
    parameter ACT_BYTES = 524288;       // its buffer sizes (cbr_top's parameters)
    parameter WGT_BYTES = 262144;
    parameter PARAM_ENTRIES = 2048;
    parameter OUT_BYTES = 131072;
    parameter ACC_PIXELS = 1024;
    parameter MAX_PAYLOAD = 16384;
    parameter NETLIST = 0;              // 1: the DUT is a netlist without parameters
    parameter TINY = 0;                 // 1: the DUT is cbr_top_tiny (rtl/tiny; NETLIST: its
                                        // synth_ice40 netlist on yosys's iCE40 cell models)
    parameter UART_BOARD = 0;           // 1: the DUT is cbr_icebreaker_top behind its UART
    parameter CORE = 0;                 // its CORE parameter
    parameter CLK_HZ = 12000000;        // its clock and baud rate
    parameter BAUD = 3000000;

    localparam MAXW = 8192;             // host words per R command (the shim's chunk)

    reg         clk = 1'b0;
    reg         rst = 1'b1;
    reg  [31:0] rx_data = 32'd0;
    reg         rx_valid = 1'b0;
    wire        rx_ready;
    wire [31:0] tx_data;
    wire        tx_valid;
    reg         tx_ready = 1'b0;

    generate
        if (UART_BOARD) begin : g_uart
            // The host's side of the link is a second cbr_uart_bridge (the FT2232H's part):
            // the words of the commands below cross two UARTs and the board's pins.
            wire host_txd, board_txd, unused_ovf, unused_ledr, unused_ledg;
            cbr_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD)) u_host (
                .clk(clk), .rst(rst), .uart_rx(board_txd), .uart_tx(host_txd),
                .rx_data(tx_data), .rx_valid(tx_valid), .rx_ready(tx_ready),
                .tx_data(rx_data), .tx_valid(rx_valid), .tx_ready(rx_ready),
                .rx_overflow(unused_ovf));
            cbr_icebreaker_top #(.CORE(CORE), .CLK_HZ(CLK_HZ), .BAUD(BAUD)) u_dut (
                .CLK(clk), .RX(host_txd), .TX(board_txd), .BTN_N(!rst),
                .LEDR_N(unused_ledr), .LEDG_N(unused_ledg));
        end else if (TINY) begin : g_tiny
            cbr_top_tiny u_dut (
                .clk(clk), .rst(rst), .rx_data(rx_data), .rx_valid(rx_valid),
                .rx_ready(rx_ready), .tx_data(tx_data), .tx_valid(tx_valid),
                .tx_ready(tx_ready));
        end else if (NETLIST) begin : g_net
            cbr_top u_dut (
                .clk(clk), .rst(rst), .rx_data(rx_data), .rx_valid(rx_valid),
                .rx_ready(rx_ready), .tx_data(tx_data), .tx_valid(tx_valid),
                .tx_ready(tx_ready));
        end else begin : g_rtl
            cbr_top #(
                .ROWS(ROWS), .COLS(COLS), .ACT_BYTES(ACT_BYTES), .WGT_BYTES(WGT_BYTES),
                .PARAM_ENTRIES(PARAM_ENTRIES), .OUT_BYTES(OUT_BYTES),
                .ACC_PIXELS(ACC_PIXELS), .MAX_PAYLOAD(MAX_PAYLOAD)
            ) u_dut (
                .clk(clk), .rst(rst), .rx_data(rx_data), .rx_valid(rx_valid),
                .rx_ready(rx_ready), .tx_data(tx_data), .tx_valid(tx_valid),
                .tx_ready(tx_ready));
        end
    endgenerate

    // Block RAMs power up with defined contents on an FPGA (the bitstream's, zero unless
    // set); in a 4-state simulator they start as X. The host leaves bytes it never needs
    // unwritten (the padding lanes of a partial channel block, whose weights are zero), and
    // X * 0 is X in 4-state arithmetic, so the core's buffers and accumulator banks start
    // with random bytes here (seed +memseed=N), as a board with unknown contents would:
    // the results must not depend on them. Registers are not filled: X from them is caught.
    // The tiny core's two memory pairs are filled too: in its RTL the behavioural model of
    // cbr_tiny_ram, in its netlist the four SB_SPRAM256KA (yosys's model starts them as X).
    // (In that netlist every flip-flop starts at 0, as an iCE40's do: yosys's SB_DFF* models.)
    localparam NG = ROWS == COLS ? ROWS / 4 : 1;  // activation banks (cbr_core)
    integer memseed = 1, fi, fj;
    genvar gk;
    generate
        if (TINY && !NETLIST) begin : g_fill_tiny
            initial begin
                #1;
                for (fi = 0; fi < 16384; fi = fi + 1) begin
                    g_tiny.u_dut.u_core.u_pair_a.mem[fi] = $random(memseed);
                    g_tiny.u_dut.u_core.u_pair_b.mem[fi] = $random(memseed);
                end
                // the SPRAMs' outputs power up unknown but defined (X * 0 in the engine's
                // multipliers would be X until the first read)
                g_tiny.u_dut.u_core.u_pair_a.q = $random(memseed);
                g_tiny.u_dut.u_core.u_pair_b.q = $random(memseed);
            end
        end else if (TINY) begin : g_fill_tiny_net
            // the instance names synth_ice40 gives the primitives of rtl/tiny/cbr_tiny_ram.v
            initial begin
                #1;
                for (fi = 0; fi < 16384; fi = fi + 1) begin
                    g_tiny.u_dut.\u_core.u_pair_a.u_lo .mem[fi] = $random(memseed);
                    g_tiny.u_dut.\u_core.u_pair_a.u_hi .mem[fi] = $random(memseed);
                    g_tiny.u_dut.\u_core.u_pair_b.u_lo .mem[fi] = $random(memseed);
                    g_tiny.u_dut.\u_core.u_pair_b.u_hi .mem[fi] = $random(memseed);
                end
            end
        end else if (!NETLIST && !UART_BOARD) begin : g_fill
            for (gk = 0; gk < NG; gk = gk + 1) begin : g_act
                initial begin
                    #1;
                    for (fi = 0; fi < ACT_BYTES / ROWS / NG; fi = fi + 1)
                        for (fj = 0; fj < ROWS / 4; fj = fj + 1)
                            g_rtl.u_dut.u_core.g_act[gk].u_act.u_ram.mem[fi][32*fj +: 32] =
                                $random(memseed);
                end
            end
            initial begin
                #2;
                for (fi = 0; fi < WGT_BYTES / COLS; fi = fi + 1)
                    for (fj = 0; fj < COLS / 4; fj = fj + 1)
                        g_rtl.u_dut.u_core.u_wgt.u_ram.mem[fi][32*fj +: 32] = $random(memseed);
                for (fi = 0; fi < PARAM_ENTRIES * 8; fi = fi + 1)
                    g_rtl.u_dut.u_core.u_par.u_ram.mem[fi] = $random(memseed);
                for (fi = 0; fi < OUT_BYTES / COLS; fi = fi + 1)
                    for (fj = 0; fj < COLS / 4; fj = fj + 1)
                        g_rtl.u_dut.u_core.u_out.u_ram.mem[fi][32*fj +: 32] = $random(memseed);
                for (fi = 0; fi < ACC_PIXELS; fi = fi + 1)
                    for (fj = 0; fj < COLS; fj = fj + 1) begin
                        g_rtl.u_dut.u_core.u_acc.g_bank[0].u_ram.mem[fi][32*fj +: 32] =
                            $random(memseed);
                        g_rtl.u_dut.u_core.u_acc.g_bank[1].u_ram.mem[fi][32*fj +: 32] =
                            $random(memseed);
                    end
            end
        end
    endgenerate

    reg [31:0] words [0:MAXW-1];
    reg [31:0] sent [0:MAXW-1];
    reg [1023:0] cmd_path, rsp_path, vcd_path;
    integer fc, fr, rc, i, n, taken, cycles, nsent, maxc;
    reg [7:0] op;
    reg rx_fire, tx_fire;
    reg [31:0] tx_w;

    // One clock cycle: inputs settle while clk is low, handshakes are sampled, rising edge.
    task one_cycle;
        begin
            rx_valid = taken < n;
            rx_data = taken < n ? words[taken] : 32'd0;
            tx_ready = 1'b1;
            #5;
            if (!rst && ((^{rx_ready, tx_valid}) === 1'bx || (tx_valid === 1'b1 && (^tx_data) === 1'bx))) begin
                $fwrite(fr, "E X after reset at cycle %0d: rx_ready=%b tx_valid=%b tx_data=%h\n",
                        cycles, rx_ready, tx_valid, tx_data);
                $fflush(fr);
                $finish;
            end
            rx_fire = rx_valid && rx_ready;
            tx_fire = tx_valid && tx_ready;
            tx_w = tx_data;
            clk = 1'b1;
            #5;
            clk = 1'b0;
            if (rx_fire)
                taken = taken + 1;
            if (tx_fire) begin
                sent[nsent] = tx_w;
                nsent = nsent + 1;
            end
            cycles = cycles + 1;
        end
    endtask

    initial begin
        if (!$value$plusargs("cmd=%s", cmd_path) || !$value$plusargs("rsp=%s", rsp_path)) begin
            $display("tb_top: usage: vvp tb_top.vvp +cmd=FIFO +rsp=FIFO [+vcd=FILE]");
            $finish;
        end
        if ($value$plusargs("memseed=%d", memseed))
            $display("tb_top: memory fill seed %0d", memseed);
        #3;  // the fills above, before the first command
        if ($value$plusargs("vcd=%s", vcd_path)) begin
            $dumpfile(vcd_path);
            $dumpvars(0, tb_top);
        end
        fc = $fopen(cmd_path, "r");
        fr = $fopen(rsp_path, "w");
        if (fc == 0 || fr == 0) begin
            $display("tb_top: cannot open %0s or %0s", cmd_path, rsp_path);
            $finish;
        end
        forever begin
            op = 8'd0;
            rc = $fscanf(fc, " %c", op);
            if (rc != 1 || op == "Q") begin
                $fwrite(fr, "K\n");
                $fflush(fr);
                $finish;
            end
            if (op == "X") begin
                rst = 1'b1;
                rx_valid = 1'b0;
                tx_ready = 1'b0;
                n = 0;
                taken = 0;
                nsent = 0;
                cycles = 0;
                for (i = 0; i < 8; i = i + 1)
                    one_cycle;
                rst = 1'b0;
                // a board is out of its own power-on reset before the host talks to it
                for (i = 0; i < (UART_BOARD ? 64 : 0); i = i + 1)
                    one_cycle;
                $fwrite(fr, "K %0d\n", cycles);
                $fflush(fr);
            end else if (op == "R") begin
                rc = $fscanf(fc, " %d %d", maxc, n);
                if (rc != 2 || n < 0 || n > MAXW) begin
                    $fwrite(fr, "E bad R command\n");
                    $fflush(fr);
                    $finish;
                end
                for (i = 0; i < n; i = i + 1)
                    rc = $fscanf(fc, " %h", words[i]);
                taken = 0;
                cycles = 0;
                nsent = 0;
                while (cycles < maxc && nsent == 0)
                    one_cycle;
                rx_valid = 1'b0;
                $fwrite(fr, "D %0d %0d %0d", taken, cycles, nsent);
                for (i = 0; i < nsent; i = i + 1)
                    $fwrite(fr, " %h", sent[i]);
                $fwrite(fr, "\n");
                $fflush(fr);
            end else begin
                $fwrite(fr, "E unknown command %c\n", op);
                $fflush(fr);
                $finish;
            end
        end
    end

endmodule
`resetall
