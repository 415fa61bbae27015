/*
 * emu_serial.c - the board behind a UART: a pseudo-terminal whose slave the host opens as it
 * would the iCEBreaker's /dev/ttyUSB1, served by a model of rtl/cbr_uart_bridge.v's rules.
 *
 * What the model keeps of the bridge (docs/boards.md, docs/links.md):
 *   - the line rate: bytes cross each way at most at the rate set with --baud (10 bits per
 *     byte), unless --baud 0; a host that set its end of the line to another rate (more than
 *     3 % off) sends garbage, which the bridge never assembles into words;
 *   - bytes are assembled into 32-bit words, byte 0 first, and the words go into a receive
 *     FIFO of RX_FIFO_WORDS; a word that finds the FIFO full is dropped (and counted: a host
 *     that keeps its bytes in flight within the FIFO never sees this);
 *   - the command block takes words from the FIFO only while it is not sending an answer (its
 *     transmitter holds a word or two), so the FIFO fills while an answer is on the line;
 *   - a pause of 64 bit times inside a word drops the partial word.
 *
 * Faults (--fault, per byte on this link): corrupt flips a bit; drop loses the byte; stall
 * inserts a noise byte after it (a glitch on the line); timeout pauses the line after it
 * (the partial word is dropped); unplug closes the master: the host's port hangs up.
 *
 * The emulator holds a slave descriptor of its own, so the master never reads end-of-file
 * while no host has the port open (between commands of a test, say).
 */
#include <asm/termbits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "errors.h"

#define RX_FIFO_WORDS 512     /* cbr_uart_bridge RX_DEPTH: 2 KiB */
#define TX_HOLD 8             /* answer bytes the bridge's transmitter holds */
#define FREE_RUN_MS 200       /* keep clocking this long after the last traffic */
#define SLICE_CYCLES 2000     /* cycles clocked between looks at the line */
#define QUIET_POLL_MS 10
#define BURST_MS 2.0          /* line time an idle line may bank: bursts stay short */
#define OUTQ_MAX (1u << 20)
#define IDLE_MIN_MS 1.0       /* the shortest quiet time that counts as a pause */

struct line {
    double t;                 /* line time (ms) up to which bytes have been sent */
};

struct serial {
    struct emu_board *b;
    const struct emu_serial_opts *o;
    int master, keep;         /* keep: our own slave descriptor */
    char slave[256];
    bool unplugged;
    struct line line[2];
    uint8_t word[4];          /* the receiver's partial word */
    unsigned word_n;
    uint8_t *fifo;            /* RX FIFO, bytes of whole words */
    size_t fifo_n;
    uint8_t *outq;            /* answer bytes on their way to the host */
    size_t out_head, out_len;
    uint64_t overflow_words, partial_words, garbled;
    size_t fifo_peak;         /* the most the RX FIFO held */
    double idle_since;        /* when the host last had nothing to send (0: it had) */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Bytes the line may carry now in direction d; all when unpaced. */
static size_t line_room(struct serial *s, int d, double now)
{
    if (!s->o->baud)
        return SIZE_MAX;
    if (s->line[d].t < now - BURST_MS)
        s->line[d].t = now - BURST_MS;
    double bytes = (now - s->line[d].t) * s->o->baud / 10.0 / 1000.0;
    return bytes < 1 ? 0 : (size_t)bytes;
}

static void line_used(struct serial *s, int d, size_t n)
{
    if (s->o->baud)
        s->line[d].t += (double)n * 10.0 * 1000.0 / s->o->baud;
}

/* The host's end: the rate its termios says (the host sets it through the slave). */
static bool host_rate_matches(struct serial *s)
{
    struct termios2 tio;
    if (!s->o->baud || ioctl(s->master, TCGETS2, &tio) < 0)
        return true;
    double d = (double)tio.c_ospeed - (double)s->o->baud;
    return (d < 0 ? -d : d) <= 0.03 * s->o->baud;
}

static void unplug(struct serial *s)
{
    if (s->unplugged)
        return;
    s->unplugged = true;
    close(s->master);
    close(s->keep);
    s->master = s->keep = -1;
    s->out_len = s->out_head = 0;
}

/* The receiver: one byte off the line into the word assembler, a whole word into the FIFO. */
static void rx_byte(struct serial *s, uint8_t c)
{
    s->word[s->word_n++] = c;
    if (s->word_n < 4)
        return;
    s->word_n = 0;
    if (s->fifo_n + 4 > RX_FIFO_WORDS * 4) {
        s->overflow_words++;
        return;
    }
    memcpy(s->fifo + s->fifo_n, s->word, 4);
    s->fifo_n += 4;
    if (s->fifo_n > s->fifo_peak)
        s->fifo_peak = s->fifo_n;
}

/* A pause on the line: the partial word is dropped. */
static void rx_pause(struct serial *s)
{
    if (s->word_n)
        s->partial_words++;
    s->word_n = 0;
}

/* The line has been quiet for 64 bit times: a partial word is dropped, as the bridge does.
 * Quiet means the host had nothing to send, not that this process was busy elsewhere; and
 * never less than IDLE_MIN_MS, the granularity of this loop. */
static void line_quiet(struct serial *s, double now)
{
    double idle_ms = s->o->baud ? 64.0 * 1000.0 / s->o->baud : 0;
    if (idle_ms < IDLE_MIN_MS)
        idle_ms = IDLE_MIN_MS;
    if (!s->idle_since)
        s->idle_since = now;
    else if (s->word_n && now - s->idle_since >= idle_ms)
        rx_pause(s);
}

static void take_line(struct serial *s, double now, bool *moved)
{
    uint8_t buf[4096];
    size_t room = line_room(s, EMU_H2D, now);
    if (!room)
        return;
    ssize_t n = read(s->master, buf, room < sizeof buf ? room : sizeof buf);
    if (n <= 0) {
        line_quiet(s, now);
        return;
    }
    s->idle_since = 0;
    *moved = true;
    line_used(s, EMU_H2D, (size_t)n);
    if (!host_rate_matches(s)) {
        s->garbled += (uint64_t)n;
        return;
    }
    for (ssize_t i = 0; i < n && !s->unplugged; i++) {
        uint8_t c = buf[i];
        switch (emu_board_fault(s->b, EMU_H2D, &c, 1)) {
        case EMU_PASS:
            rx_byte(s, c);
            break;
        case EMU_DROP:
            break;
        case EMU_STALL:
            rx_byte(s, c);
            rx_byte(s, (uint8_t)(c * 37u + 11u)); /* noise: any byte will do */
            break;
        case EMU_TIMEOUT:
            rx_byte(s, c);
            rx_pause(s);
            break;
        case EMU_UNPLUGGED:
            unplug(s);
            break;
        }
    }
}

/* The command block takes the FIFO's words while its transmitter is free, and runs. */
static void clock_board(struct serial *s, bool *moved)
{
    if (s->out_len > TX_HOLD)
        return;
    if (s->fifo_n) {
        emu_board_h2d(s->b, s->fifo, s->fifo_n);
        s->fifo_n = 0;
        *moved = true;
    }
    if (s->out_head && s->out_head + s->out_len > OUTQ_MAX) {
        memmove(s->outq, s->outq + s->out_head, s->out_len);
        s->out_head = 0;
    }
    uint8_t *at = s->outq + s->out_head + s->out_len;
    size_t n = emu_board_d2h(s->b, at, 65536, SLICE_CYCLES);
    if (!n)
        return;
    *moved = true;
    size_t kept = 0;
    for (size_t i = 0; i < n && !s->unplugged; i++) {
        uint8_t c = at[i];
        switch (emu_board_fault(s->b, EMU_D2H, &c, 1)) {
        case EMU_PASS:
        case EMU_TIMEOUT: /* a pause on the way to the host loses nothing */
            at[kept++] = c;
            break;
        case EMU_DROP:
            break;
        case EMU_STALL:
            at[kept++] = c;
            if (kept <= i) /* room for the noise byte without overwriting what is to come */
                at[kept++] = (uint8_t)(c * 37u + 11u);
            break;
        case EMU_UNPLUGGED:
            unplug(s);
            break;
        }
    }
    if (!s->unplugged)
        s->out_len += kept;
}

static void give_line(struct serial *s, double now, bool *moved)
{
    if (!s->out_len)
        return;
    size_t room = line_room(s, EMU_D2H, now);
    size_t k = s->out_len < room ? s->out_len : room;
    if (!k)
        return;
    ssize_t n = write(s->master, s->outq + s->out_head, k);
    if (n <= 0)
        return;
    *moved = true;
    line_used(s, EMU_D2H, (size_t)n);
    s->out_head += (size_t)n;
    s->out_len -= (size_t)n;
    if (!s->out_len)
        s->out_head = 0;
}

static int fail(char *err, size_t len, const char *what)
{
    snprintf(err, len, "%s: %s", what, strerror(errno));
    return -1;
}

/* The pty pair, the slave raw at the bridge's rate until the host sets its own. */
static int open_pty(struct serial *s, char *err, size_t len)
{
    s->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->master < 0)
        return fail(err, len, "posix_openpt");
    if (grantpt(s->master) < 0 || unlockpt(s->master) < 0)
        return fail(err, len, "cannot unlock the pseudo-terminal");
    if (ptsname_r(s->master, s->slave, sizeof s->slave) != 0)
        return fail(err, len, "ptsname");
    s->keep = open(s->slave, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->keep < 0)
        return fail(err, len, s->slave);
    struct termios2 tio;
    if (ioctl(s->keep, TCGETS2, &tio) < 0)
        return fail(err, len, "TCGETS2");
    tio.c_iflag = IGNBRK;
    tio.c_oflag = 0;
    tio.c_lflag = 0;
    tio.c_cflag = CS8 | CREAD | CLOCAL | BOTHER | (BOTHER << IBSHIFT);
    tio.c_ispeed = tio.c_ospeed = s->o->baud ? s->o->baud : 3000000;
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (ioctl(s->keep, TCSETS2, &tio) < 0)
        return fail(err, len, "TCSETS2");
    return 0;
}

static int wait_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

static pid_t start_child(struct serial *s, char *const argv[])
{
    pid_t child = fork();
    if (child != 0)
        return child;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    setenv("CBR_EMU_TTY", s->o->link ? s->o->link : s->slave, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "cbr-emu: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Serve the line until the child exits. */
static int serve(struct serial *s, pid_t child)
{
    double last = cbr_now_ms();
    bool killed = false;
    int status = 0;
    for (;;) {
        if (waitpid(child, &status, WNOHANG) == child)
            return wait_status(status);
        if (stop_signal && !killed) {
            kill(child, SIGTERM);
            killed = true;
        }
        if (s->unplugged) {
            struct timespec ts = {0, QUIET_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        double now = cbr_now_ms();
        bool moved = false;
        take_line(s, now, &moved);
        bool active = now - last < FREE_RUN_MS || s->out_len || s->fifo_n;
        if (!s->unplugged && active)
            clock_board(s, &moved);
        if (!s->unplugged)
            give_line(s, now, &moved);
        if (moved) {
            last = now;
        } else if (!s->unplugged) {
            /* Paced bytes waiting: a short sleep; quiet: block until the host writes. */
            bool waiting = s->out_len || active;
            struct pollfd pf = {.fd = s->master, .events = POLLIN};
            if (waiting && s->o->baud) {
                struct timespec ts = {0, 200000L};
                nanosleep(&ts, NULL);
            } else if (!active) {
                poll(&pf, 1, QUIET_POLL_MS);
            }
        }
    }
}

int emu_serial_main(struct emu_board *b, const struct emu_serial_opts *o, char *const argv[],
                    char *err, size_t len)
{
    struct serial s = {.b = b, .o = o, .master = -1, .keep = -1};
    int rc = -1;
    bool linked = false;
    s.fifo = malloc(RX_FIFO_WORDS * 4);
    s.outq = malloc(2 * OUTQ_MAX);
    if (!s.fifo || !s.outq) {
        snprintf(err, len, "out of memory");
        goto out;
    }
    if (open_pty(&s, err, len) < 0)
        goto out;
    if (o->link) {
        if (symlink(s.slave, o->link) < 0) {
            snprintf(err, len, "cannot make the link %s -> %s: %s", o->link, s.slave,
                     strerror(errno));
            goto out;
        }
        linked = true;
    }
    fprintf(stderr, "cbr-emu: serial port %s%s%s (%u baud%s)\n", s.slave,
            o->link ? ", linked as " : "", o->link ? o->link : "", o->baud,
            o->baud ? "" : ": unpaced");

    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pid_t child = start_child(&s, argv);
    if (child < 0)
        fail(err, len, "cannot fork");
    else
        rc = serve(&s, child);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    fprintf(stderr, "cbr-emu: UART: %llu words dropped on a full RX FIFO (peak %zu of %d "
            "bytes), %llu partial words dropped after a pause, %llu bytes garbled by a rate "
            "mismatch\n", (unsigned long long)s.overflow_words, s.fifo_peak,
            RX_FIFO_WORDS * 4, (unsigned long long)s.partial_words,
            (unsigned long long)s.garbled);
out:
    if (linked)
        unlink(o->link);
    if (s.master >= 0)
        close(s.master);
    if (s.keep >= 0)
        close(s.keep);
    free(s.fifo);
    free(s.outq);
    return rc;
}
