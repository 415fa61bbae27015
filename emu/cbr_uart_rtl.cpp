// cbr_uart_rtl.cpp - cbr-uart-rtl and cbr-uart-rtl-core: the iCEBreaker board top
// (rtl/boards/cbr_icebreaker_top.v) in Verilator, behind a pseudo-terminal, at the bit level.
// One binary per bitstream, from this one source (mk/serial.mk): cbr-uart-rtl is the link
// bring-up image (CORE=0: the command block with plain RAM behind it, no compute),
// cbr-uart-rtl-core the accelerator (CORE=1: the command block and the tiny core, rtl/tiny):
//
//     cbr-uart-rtl[-core] [--trace FILE.fst] [LINK] -- COMMAND [ARGS...]
//
// Host bytes from the pty master are shifted into the top's RX pin as 8N1 frames at 4 clocks
// per bit (12 MHz / 3 Mbaud, as on the board); the TX pin is sampled in the middle of each
// bit and the bytes go back to the master. So `cbr info -d serial:LINK` runs through the real
// UART bridge (its synchroniser, word assembly, 512-word RX FIFO, pause rule) and the real
// command block. Time is simulated time: the line runs at 3 Mbaud of the model's clock, however
// fast the model runs. --trace writes every signal of the top to an FST waveform (gtkwave),
// from the power-on reset to COMMAND's exit (about 130 KB per ms of board time with the core).
// COMMAND gets the pty's path as $CBR_EMU_TTY; with LINK a symlink to it is made there (and
// removed at exit). Exits with COMMAND's status; prints on stderr the bytes each way, the
// cycles (board time) and whether the red LED (a byte dropped on a full RX FIFO) lit.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "Vcbr_icebreaker_top.h"
#include "verilated.h"
#include "verilated_fst_c.h"

#ifndef CBR_UART_CORE
#define CBR_UART_CORE 0
#endif
#if CBR_UART_CORE
static const char PROG[] = "cbr-uart-rtl-core";
static const char IMAGE[] = "CORE=1, the accelerator: command block + tiny core";
#else
static const char PROG[] = "cbr-uart-rtl";
static const char IMAGE[] = "CORE=0, the link bring-up image";
#endif

static const int CLOCKS_PER_BIT = 4;

// Host -> board: a byte queue shifted out as frames on RX.
struct serializer {
    unsigned char q[65536];
    size_t head = 0, len = 0;
    int bit = -1;      // -1 idle; 0 start; 1..8 data; 9 stop
    int tick = 0;
    unsigned char cur = 0;
    int line() const
    {
        if (bit < 0 || bit == 9)
            return 1;
        if (bit == 0)
            return 0;
        return (cur >> (bit - 1)) & 1;
    }
    void clock()
    {
        if (bit < 0) {
            if (!len)
                return;
            cur = q[head];
            head = (head + 1) % sizeof q;
            len--;
            bit = 0;
            tick = 0;
            return;
        }
        if (++tick < CLOCKS_PER_BIT)
            return;
        tick = 0;
        if (++bit > 9)
            bit = -1;
    }
};

// Board -> host: frames sampled off TX in the middle of each bit.
struct deserializer {
    int bit = -1;
    int tick = 0;
    unsigned char cur = 0;
    bool framing_error = false;
    // Returns true with *out set when a byte is complete.
    bool clock(int tx, unsigned char *out)
    {
        if (bit < 0) {
            if (tx == 0) {   // start bit: sample its middle, then every bit time
                bit = 0;
                tick = 0;
            }
            return false;
        }
        if (++tick < (bit == 0 ? CLOCKS_PER_BIT / 2 : CLOCKS_PER_BIT))
            return false;
        tick = 0;
        if (bit == 0) {
            if (tx != 0)
                bit = -1;    // a glitch, not a start bit
            else
                bit = 1;
            return false;
        }
        if (bit <= 8) {
            cur = (unsigned char)((cur >> 1) | (tx ? 0x80 : 0));
            bit++;
            return false;
        }
        framing_error |= tx != 1;
        bit = -1;
        *out = cur;
        return true;
    }
};

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int usage(const char *why)
{
    fprintf(stderr, "%s: %s\nusage: %s [--trace FILE.fst] [LINK] -- COMMAND [ARGS...]\n",
            PROG, why, PROG);
    return 2;
}

int main(int argc, char **argv)
{
    int i = 1;
    const char *link = nullptr, *trace_path = nullptr;
    if (i < argc && !strcmp(argv[i], "--trace")) {
        if (i + 1 >= argc || !strcmp(argv[i + 1], "--") || !argv[i + 1][0])
            return usage("--trace needs a file name");
        trace_path = argv[i + 1];
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--"))
        link = argv[i++];
    if (i >= argc || strcmp(argv[i], "--") || i + 1 >= argc)
        return usage("missing '-- COMMAND [ARGS...]'");
    char **cmd = argv + i + 1;

    Verilated::commandArgs(1, argv);
    Vcbr_icebreaker_top *top = new Vcbr_icebreaker_top;
    VerilatedFstC *tfp = nullptr;
    if (trace_path) {
        Verilated::traceEverOn(true);
        tfp = new VerilatedFstC;
        top->trace(tfp, 99);
        tfp->open(trace_path);
        if (!tfp->isOpen()) {
            fprintf(stderr, "%s: cannot write the waveform %s\n", PROG, trace_path);
            delete tfp;
            delete top;
            return 1;
        }
    }

    int master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    char slave[256];
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, slave, sizeof slave) != 0) {
        fprintf(stderr, "%s: cannot make a pseudo-terminal: %s\n", PROG, strerror(errno));
        return 1;
    }
    int keep = open(slave, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct termios tio;
    if (keep < 0 || tcgetattr(keep, &tio) < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", PROG, slave, strerror(errno));
        return 1;
    }
    cfmakeraw(&tio); // raw until the host sets its own: no echo of the board's bytes
    tcsetattr(keep, TCSANOW, &tio);
    if (link && symlink(slave, link) < 0) {
        fprintf(stderr, "%s: cannot make the link %s -> %s: %s\n", PROG, link, slave,
                strerror(errno));
        return 1;
    }
    fprintf(stderr, "%s: serial port %s%s%s (the board top's UART, 3 Mbaud of model "
            "time; %s)\n", PROG, slave, link ? ", linked as " : "", link ? link : "", IMAGE);

    unsigned long long cycles = 0;
    // One clock of the 12 MHz oscillator (two half periods of 41.667 ns: the FST time unit is
    // the Verilog default 1 ps, so time is cycles x 83333).
    auto tick = [&]() {
        top->CLK = 1;
        top->eval();
        if (tfp)
            tfp->dump((uint64_t)cycles * 83333 + 41667);
        top->CLK = 0;
        top->eval();
        cycles++;
        if (tfp)
            tfp->dump((uint64_t)cycles * 83333);
    };
    top->BTN_N = 1;
    top->RX = 1;
    top->CLK = 0;
    top->eval();
    if (tfp)
        tfp->dump(0);
    // Out of the power-on reset before the host can send: a configured board is up long
    // before anyone opens its port.
    for (int c = 0; c < 256; c++)
        tick();

    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setenv("CBR_EMU_TTY", link ? link : slave, 1);
        execvp(cmd[0], cmd);
        fprintf(stderr, "%s: cannot run %s: %s\n", PROG, cmd[0], strerror(errno));
        _exit(127);
    }

    serializer ser;
    deserializer des;
    unsigned char out[65536];
    size_t out_len = 0;
    unsigned long long to_board = 0, to_host = 0;
    bool red = false, killed = false;
    int status = 0, rc;
    unsigned quiet = 0;
    for (;;) {
        if (waitpid(child, &status, WNOHANG) == child) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (stop_signal && !killed) {
            kill(child, SIGTERM);
            killed = true;
        }
        // Top up the serializer from the master.
        if (ser.len < sizeof ser.q / 2) {
            unsigned char buf[4096];
            ssize_t n = read(master, buf, sizeof buf);
            for (ssize_t k = 0; k < n; k++) {
                ser.q[(ser.head + ser.len) % sizeof ser.q] = buf[k];
                ser.len++;
            }
            if (n > 0)
                to_board += (unsigned long long)n;
        }
        // Clock a slice: 2048 cycles, about 50 bytes of line time.
        bool busy = ser.len || ser.bit >= 0 || des.bit >= 0;
        for (int c = 0; c < 2048; c++) {
            ser.clock();
            top->RX = (unsigned char)ser.line();
            tick();
            unsigned char b;
            if (des.clock(top->TX, &b) && out_len < sizeof out) {
                out[out_len++] = b;
                to_host++;
            }
            red |= !top->LEDR_N;
            busy |= des.bit >= 0;
        }
        if (out_len) {
            ssize_t n = write(master, out, out_len);
            if (n > 0) {
                memmove(out, out + n, out_len - (size_t)n);
                out_len -= (size_t)n;
            }
        }
        // Quiet for a while (nothing on either line): wait for the host instead of spinning.
        // The accelerator image computes with both lines quiet (the host polls between
        // backoffs of a few ms), so it waits only after ~0.17 s of board time of quiet, the
        // bring-up image after ~11 ms.
        quiet = busy || out_len ? 0 : quiet + 1;
        if (quiet > (CBR_UART_CORE ? 1024u : 64u)) {
            struct pollfd pf = {master, POLLIN, 0};
            poll(&pf, 1, 10);
        }
    }
    if (tfp) {
        tfp->close();
        delete tfp;
    }
    fprintf(stderr, "%s: %llu bytes to the board, %llu to the host, %llu cycles "
            "(%.3f s of board time); red LED (RX FIFO overflow) %s%s\n", PROG, to_board, to_host,
            cycles, cycles / 12e6, red ? "LIT" : "never lit",
            des.framing_error ? "; framing errors on TX" : "");
    top->final();
    delete top;
    if (link)
        unlink(link);
    close(keep);
    close(master);
    return rc;
}
