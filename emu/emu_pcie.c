/*
 * emu_pcie.c - the board as Xilinx XDMA character-device paths under a directory.
 *
 * With no kernel driver here, the two DMA streams are FIFOs (DIR/xdma0_h2c_0 and
 * DIR/xdma0_c2h_0) and the user BAR is a regular file (DIR/xdma0_user) whose 32-bit words this
 * process keeps current: the host's transport (host/lib/tr_xdma.c) uses them with the same
 * read()/write()/pread()/pwrite() calls as the real devices. The register map is the XDMA
 * bridge's, docs/links.md.
 *
 * This process holds both FIFOs open read-write, so the host can open either end without
 * waiting for the other and never sees end-of-stream or EPIPE while the emulator lives.
 *
 * Time on the board advances only while the model is clocked: it free-runs while the host is
 * active (traffic within FREE_RUN_MS, or bytes waiting to go out), so that a tile the host
 * waits on finishes, and the loop blocks in poll() when everything is quiet.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "errors.h"

/* The user BAR (docs/links.md). */
enum {
    USER_ID = 0x00, USER_VERSION = 0x04, USER_STATUS = 0x08, USER_CONTROL = 0x0C,
    USER_H2C_BYTES = 0x10, USER_C2H_BYTES = 0x14,
};
enum {
    ST_LINK_UP = 1u << 0, ST_H2C_ERR = 1u << 1, ST_C2H_ERR = 1u << 2, ST_H2C_HUNG = 1u << 3,
    ST_C2H_HUNG = 1u << 4,
};
#define USER_ID_CBRX 0x58524243u
#define USER_VERSION_1 (1u | 1u << 16)
#define USER_BAR_BYTES 4096
#define CONTROL_LINK_RESET 1u

#define FREE_RUN_MS 200       /* keep clocking this long after the last traffic */
#define SLICE_CYCLES 2000     /* cycles clocked between looks at the streams */
#define QUIET_POLL_MS 10      /* how often a quiet loop checks the child and the BAR */
#define OUTQ_MAX (1u << 20)   /* device -> host bytes held while the host does not read */

struct pcie {
    struct emu_board *b;
    char path[3][4096];       /* h2c, c2h, user */
    int h2c, c2h, user;
    bool made[3];             /* which paths this process created (and removes) */
    uint32_t status;
    uint32_t h2c_bytes, c2h_bytes;
    uint32_t shown[3];        /* what the BAR shows of the three, to write only changes */
    bool h2c_hung, c2h_hung, unplugged;
    uint8_t *outq;            /* device -> host bytes not yet written to the FIFO */
    size_t out_head, out_len;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void put_reg(struct pcie *p, uint32_t off, uint32_t v)
{
    uint8_t w[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    if (pwrite(p->user, w, 4, off) != 4) {
        /* The file is ours and in place; nothing sensible to do but go on. */
    }
}

static uint32_t get_reg(struct pcie *p, uint32_t off)
{
    uint8_t w[4];
    if (pread(p->user, w, 4, off) != 4)
        return 0;
    return (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 | (uint32_t)w[3] << 24;
}

static void publish(struct pcie *p)
{
    if (p->unplugged)
        return;
    const uint32_t v[3] = {p->status, p->h2c_bytes, p->c2h_bytes};
    const uint32_t off[3] = {USER_STATUS, USER_H2C_BYTES, USER_C2H_BYTES};
    for (int i = 0; i < 3; i++)
        if (v[i] != p->shown[i]) {
            put_reg(p, off[i], v[i]);
            p->shown[i] = v[i];
        }
}

/* The device is gone: every BAR word reads all ones and the paths disappear, as after a
 * surprise removal; open descriptors stay valid but nothing moves any more. */
static void unplug(struct pcie *p)
{
    if (p->unplugged)
        return;
    p->unplugged = true;
    uint8_t ones[USER_BAR_BYTES];
    memset(ones, 0xFF, sizeof ones);
    if (pwrite(p->user, ones, sizeof ones, 0) != (ssize_t)sizeof ones) {
        /* as in put_reg */
    }
    for (int i = 0; i < 3; i++)
        unlink(p->path[i]);
    p->out_len = p->out_head = 0;
}

/* CONTROL.LINK_RESET: drop what is in flight in both stream paths, clear the sticky bits. */
static void link_reset(struct pcie *p)
{
    uint8_t junk[65536];
    while (read(p->h2c, junk, sizeof junk) > 0) {
    }
    p->out_len = p->out_head = 0;
    p->h2c_hung = p->c2h_hung = false;
    p->status = ST_LINK_UP;
    publish(p);
    put_reg(p, USER_CONTROL, 0);
}

static void take_h2c(struct pcie *p, bool *moved)
{
    uint8_t buf[65536];
    ssize_t n = read(p->h2c, buf, sizeof buf);
    if (n <= 0)
        return;
    *moved = true;
    switch (emu_board_fault(p->b, EMU_H2D, buf, (size_t)n)) {
    case EMU_PASS:
        p->h2c_bytes += (uint32_t)n;
        emu_board_h2d(p->b, buf, (size_t)n);
        break;
    case EMU_DROP:
        break;
    case EMU_STALL:
        p->status |= ST_H2C_ERR;
        break;
    case EMU_TIMEOUT:
        p->status |= ST_H2C_HUNG;
        p->h2c_hung = true;
        break;
    case EMU_UNPLUGGED:
        unplug(p);
        break;
    }
}

static void clock_board(struct pcie *p, bool *moved)
{
    if (p->out_len >= OUTQ_MAX)
        return; /* the host is not reading: back-pressure, as a full stream FIFO would */
    if (p->out_head && p->out_head + p->out_len > OUTQ_MAX) {
        memmove(p->outq, p->outq + p->out_head, p->out_len);
        p->out_head = 0;
    }
    size_t room = 2 * OUTQ_MAX - p->out_head - p->out_len;
    uint8_t *at = p->outq + p->out_head + p->out_len;
    size_t n = emu_board_d2h(p->b, at, room < 65536 ? room : 65536, SLICE_CYCLES);
    if (!n)
        return;
    *moved = true;
    switch (emu_board_fault(p->b, EMU_D2H, at, n)) {
    case EMU_PASS:
        if (!p->c2h_hung)
            p->out_len += n;
        break;
    case EMU_DROP:
        break;
    case EMU_STALL:
        p->status |= ST_C2H_ERR;
        break;
    case EMU_TIMEOUT:
        p->status |= ST_C2H_HUNG;
        p->c2h_hung = true;
        break;
    case EMU_UNPLUGGED:
        unplug(p);
        break;
    }
}

static void give_c2h(struct pcie *p, bool *moved)
{
    if (!p->out_len || p->c2h_hung)
        return;
    ssize_t n = write(p->c2h, p->outq + p->out_head, p->out_len);
    if (n <= 0)
        return;
    *moved = true;
    p->c2h_bytes += (uint32_t)n;
    p->out_head += (size_t)n;
    p->out_len -= (size_t)n;
    if (!p->out_len)
        p->out_head = 0;
}

static int fail(char *err, size_t len, const char *what, const char *path)
{
    snprintf(err, len, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* Make the three paths; refuses to replace anything already there. */
static int make_paths(struct pcie *p, const char *dir, char *err, size_t len)
{
    static const char *const names[3] = {"xdma0_h2c_0", "xdma0_c2h_0", "xdma0_user"};
    for (int i = 0; i < 3; i++) {
        int k = snprintf(p->path[i], sizeof p->path[i], "%s/%s", dir, names[i]);
        if (k < 0 || (size_t)k >= sizeof p->path[i]) {
            snprintf(err, len, "directory name too long: %s", dir);
            return -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (mkfifo(p->path[i], 0600) < 0)
            return fail(err, len, "cannot create the FIFO", p->path[i]);
        p->made[i] = true;
    }
    p->user = open(p->path[2], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (p->user < 0)
        return fail(err, len, "cannot create", p->path[2]);
    p->made[2] = true;
    if (ftruncate(p->user, USER_BAR_BYTES) < 0)
        return fail(err, len, "cannot size", p->path[2]);
    p->h2c = open(p->path[0], O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (p->h2c < 0)
        return fail(err, len, "cannot open", p->path[0]);
    p->c2h = open(p->path[1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (p->c2h < 0)
        return fail(err, len, "cannot open", p->path[1]);
    put_reg(p, USER_ID, USER_ID_CBRX);
    put_reg(p, USER_VERSION, USER_VERSION_1);
    put_reg(p, USER_CONTROL, 0);
    p->status = ST_LINK_UP;
    put_reg(p, USER_STATUS, p->status);
    p->shown[0] = p->status;
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

int emu_pcie_main(struct emu_board *b, const char *dir, char *const argv[], char *err,
                  size_t len)
{
    struct pcie p = {.b = b, .h2c = -1, .c2h = -1, .user = -1};
    int rc = -1;
    bool made_dir = false;
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT || mkdir(dir, 0700) < 0)
            return fail(err, len, "cannot create the directory", dir);
        made_dir = true;
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, len, "%s is not a directory", dir);
        return -1;
    }
    p.outq = malloc(2 * OUTQ_MAX);
    if (!p.outq) {
        snprintf(err, len, "out of memory");
        goto out_rmdir;
    }
    if (make_paths(&p, dir, err, len) < 0)
        goto out_unlink;

    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pid_t child = fork();
    if (child < 0) {
        fail(err, len, "cannot fork to run", argv[0]);
        goto out_signals;
    }
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "cbr-emu: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }

    double last = cbr_now_ms();
    bool killed = false;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child)
            break;
        if (stop_signal && !killed) {
            kill(child, SIGTERM);
            killed = true;
        }
        bool moved = false;
        if (!p.unplugged) {
            if (get_reg(&p, USER_CONTROL) & CONTROL_LINK_RESET)
                link_reset(&p);
            if (!p.h2c_hung)
                take_h2c(&p, &moved);
        }
        bool active = cbr_now_ms() - last < FREE_RUN_MS || p.out_len;
        if (!p.unplugged && active)
            clock_board(&p, &moved);
        if (!p.unplugged)
            give_c2h(&p, &moved);
        publish(&p);
        if (moved)
            last = cbr_now_ms();
        else if (!active || p.unplugged) {
            struct pollfd pf = {.fd = p.h2c, .events = POLLIN};
            poll(&pf, p.unplugged || p.h2c_hung ? 0 : 1, QUIET_POLL_MS);
            if (p.unplugged || p.h2c_hung) {
                struct timespec ts = {0, QUIET_POLL_MS * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
    }
    rc = wait_status(status);

out_signals:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out_unlink:
    if (p.h2c >= 0)
        close(p.h2c);
    if (p.c2h >= 0)
        close(p.c2h);
    if (p.user >= 0)
        close(p.user);
    for (int i = 0; i < 3; i++)
        if (p.made[i] && !p.unplugged)
            unlink(p.path[i]);
    free(p.outq);
out_rmdir:
    if (made_dir)
        rmdir(dir);
    return rc;
}
