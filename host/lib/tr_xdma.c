/*
 * tr_xdma.c - the PCIe transport: Xilinx XDMA character devices, and the "pcie" device.
 *
 * "pcie:PREFIX" (default /dev/xdma0) opens PREFIX_h2c_0 (host-to-card stream, write()),
 * PREFIX_c2h_0 (card-to-host stream, read()) and PREFIX_user (the user BAR, pread()/pwrite()
 * of the XDMA bridge's registers). The register map and what each failure becomes are in
 * docs/links.md.
 *
 * Every wait is a poll() in short slices; after a slice in which nothing moved the transport
 * reads STATUS, so a dead card (all ones), a wedged DMA path (HUNG bits) or a failed transfer
 * (ERR bits) is seen within a slice, not at the end of the client's timeout. A wedged or
 * failed path gets a LINK_RESET and a drain, so nothing that was in flight before it is ever
 * returned as data afterwards.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cbr.h"
#include "device.h"
#include "transport.h"

#define XDMA_DEFAULT_PREFIX "/dev/xdma0"

/* The bridge's user BAR (docs/links.md). */
enum {
    USER_ID = 0x00, USER_VERSION = 0x04, USER_STATUS = 0x08, USER_CONTROL = 0x0C,
};
enum {
    ST_LINK_UP = 1u << 0, ST_H2C_ERR = 1u << 1, ST_C2H_ERR = 1u << 2, ST_H2C_HUNG = 1u << 3,
    ST_C2H_HUNG = 1u << 4,
};
#define ID_CBRX 0x58524243u
#define CONTROL_LINK_RESET 1u
#define ALL_ONES 0xFFFFFFFFu

#define SLICE_MS 20            /* longest wait before STATUS is looked at */
#define LINK_RESET_MS 2000     /* how long a LINK_RESET may take */

struct xdma_tr {
    struct cbr_transport t;
    char prefix[PATH_MAX];
    char path[3][PATH_MAX + 16]; /* h2c, c2h, user */
    int h2c, c2h, user;
    bool reopened;               /* an all-ones read already led to one reopen */
    uint64_t bytes_out, bytes_in;
};

enum { P_H2C = 0, P_C2H = 1, P_USER = 2 };

/* A register of the user BAR; all ones when the read itself fails (as a dead card reads). */
static uint32_t reg_get(struct xdma_tr *x, uint32_t off)
{
    uint8_t w[4];
    if (x->user < 0 || pread(x->user, w, 4, off) != 4)
        return ALL_ONES;
    return (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 | (uint32_t)w[3] << 24;
}

static bool reg_put(struct xdma_tr *x, uint32_t off, uint32_t v)
{
    uint8_t w[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return x->user >= 0 && pwrite(x->user, w, 4, off) == 4;
}

static void close_fds(struct xdma_tr *x)
{
    for (int *fd = &x->h2c; fd <= &x->user; fd++) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
    }
}

/* Throw away whatever the card-to-host stream holds now. */
static void drain(struct xdma_tr *x)
{
    uint8_t junk[4096];
    for (int i = 0; i < 4096; i++) {
        ssize_t n = read(x->c2h, junk, sizeof junk);
        if (n <= 0)
            break;
    }
}

/* CONTROL.LINK_RESET, wait for it to finish, then drain. */
static int link_reset(struct xdma_tr *x, char *err, size_t len)
{
    if (!reg_put(x, USER_CONTROL, CONTROL_LINK_RESET))
        return cbr_errf(err, len, CBR_ENODEV, "%s: cannot write CONTROL: %s", x->path[P_USER],
                    strerror(errno));
    double deadline = cbr_now_ms() + LINK_RESET_MS;
    for (;;) {
        uint32_t c = reg_get(x, USER_CONTROL);
        if (c == ALL_ONES)
            return cbr_errf(err, len, CBR_ENODEV, "%s: CONTROL reads all ones during a link "
                        "reset: the board is gone", x->path[P_USER]);
        if (!(c & CONTROL_LINK_RESET))
            break;
        if (cbr_now_ms() > deadline)
            return cbr_errf(err, len, CBR_ETIMEDOUT, "%s: LINK_RESET not done within %d ms",
                        x->path[P_USER], LINK_RESET_MS);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    drain(x);
    return 0;
}

/* Open the three paths and check the card is a cbr bridge that is up. */
static int open_paths(struct xdma_tr *x, char *err, size_t len)
{
    x->user = open(x->path[P_USER], O_RDWR | O_CLOEXEC);
    if (x->user < 0)
        return cbr_errf(err, len, errno == ENOENT || errno == ENXIO || errno == ENODEV
                                  ? CBR_ENODEV : CBR_EIO,
                    "cannot open %s: %s", x->path[P_USER], strerror(errno));
    uint32_t id = reg_get(x, USER_ID), ver = reg_get(x, USER_VERSION);
    uint32_t st = reg_get(x, USER_STATUS);
    if (id == ALL_ONES)
        return cbr_errf(err, len, CBR_ENODEV, "%s: ID reads all ones: the board does not respond "
                    "(link down, unplugged, or in reset)", x->path[P_USER]);
    if (id != ID_CBRX)
        return cbr_errf(err, len, CBR_ENODEV, "%s: ID is 0x%08x, not 0x%08x ('CBRX'): not a cbr "
                    "board", x->path[P_USER], id, ID_CBRX);
    if (ver >> 16 != 1)
        return cbr_errf(err, len, CBR_ENOTSUP, "%s: VERSION 0x%08x: packet protocol %u, this "
                    "host speaks 1", x->path[P_USER], ver, ver >> 16);
    if (st == ALL_ONES || !(st & ST_LINK_UP))
        return cbr_errf(err, len, CBR_ENODEV, "%s: STATUS 0x%08x: the link is down",
                    x->path[P_USER], st);
    static const int modes[2] = {O_WRONLY, O_RDONLY};
    for (int i = P_H2C; i <= P_C2H; i++) {
        int fd = open(x->path[i], modes[i] | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return cbr_errf(err, len, errno == ENOENT || errno == ENXIO || errno == ENODEV
                                      ? CBR_ENODEV : CBR_EIO,
                        "cannot open %s: %s", x->path[i], strerror(errno));
        if (i == P_H2C)
            x->h2c = fd;
        else
            x->c2h = fd;
    }
    return link_reset(x, err, len);
}

/*
 * The card looks gone (what says so: `what`). Once per transport, close and reopen the three
 * paths: a card that came back (a hot reset that re-enumerated it) is used again, and the
 * transfer in progress is reported lost (CBR_EIO, which the client retries). Otherwise, or
 * the second time, CBR_ENODEV.
 */
static int gone_or_reopen(struct xdma_tr *x, const char *what, char *err, size_t len)
{
    if (x->reopened) {
        close_fds(x);
        return cbr_errf(err, len, CBR_ENODEV, "%s: the board is gone", what);
    }
    x->reopened = true;
    close_fds(x);
    char why[256];
    if (open_paths(x, why, sizeof why) == 0)
        return cbr_errf(err, len, CBR_EIO, "%s; the board was reopened and is back, the "
                    "transfer in progress was lost", what);
    close_fds(x);
    return cbr_errf(err, len, CBR_ENODEV, "%s and reopening failed (%s): the board is gone", what,
                why);
}

/*
 * Nothing moved for a slice: what does the card say? 0 (keep waiting), or an error after
 * whatever recovery applies (a reopen for all ones, a link reset for ERR and HUNG bits).
 */
static int check_status(struct xdma_tr *x, char *err, size_t len)
{
    uint32_t st = reg_get(x, USER_STATUS);
    if (st == ALL_ONES) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "%s: STATUS reads all ones", x->path[P_USER]);
        return gone_or_reopen(x, what, err, len);
    }
    if (!(st & ST_LINK_UP))
        return cbr_errf(err, len, CBR_ENODEV, "%s: STATUS 0x%08x: the link is down",
                    x->path[P_USER], st);
    if (!(st & (ST_H2C_ERR | ST_C2H_ERR | ST_H2C_HUNG | ST_C2H_HUNG)))
        return 0;
    int rc = link_reset(x, err, len);
    if (rc < 0)
        return rc;
    if (st & (ST_H2C_HUNG | ST_C2H_HUNG))
        return cbr_errf(err, len, CBR_ETIMEDOUT, "%s DMA timed out (STATUS 0x%08x); the link "
                    "was reset", st & ST_H2C_HUNG ? "host-to-card" : "card-to-host", st);
    return cbr_errf(err, len, CBR_EIO, "%s DMA failed (STATUS 0x%08x); the link was reset",
                st & ST_H2C_ERR ? "host-to-card" : "card-to-host", st);
}

/* What an errno from the streams means. */
static int stream_error(struct xdma_tr *x, int i, int e, char *err, size_t len)
{
    if (e == EPIPE || e == ENODEV || e == ENXIO || e == ESHUTDOWN) {
        char what[PATH_MAX + 96];
        snprintf(what, sizeof what, "%s: %s", x->path[i], strerror(e));
        return gone_or_reopen(x, what, err, len);
    }
    if (e == ETIMEDOUT) {
        char why[256];
        if (link_reset(x, why, sizeof why) < 0)
            return cbr_errf(err, len, CBR_ENODEV, "%s: DMA timed out, and the link reset "
                        "failed: %s", x->path[i], why);
        return cbr_errf(err, len, CBR_ETIMEDOUT, "%s: DMA timed out; the link was reset",
                    x->path[i]);
    }
    return cbr_errf(err, len, CBR_EIO, "%s: %s", x->path[i], strerror(e));
}

/* write() with SIGPIPE held back: a vanished reader is an error, never a killed program. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n, int *e)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = write(fd, buf, n);
    *e = errno;
    if (r < 0 && *e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static int xdma_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                     char *err, size_t errlen)
{
    struct xdma_tr *x = (struct xdma_tr *)t;
    const uint8_t *p = buf;
    double deadline = cbr_now_ms() + (timeout_ms < 0 ? 1e12 : timeout_ms);
    size_t done = 0;
    if (x->h2c < 0)
        return cbr_errf(err, errlen, CBR_ENODEV, "%s is closed: the board is gone", x->path[P_H2C]);
    while (done < n) {
        int e;
        ssize_t w = write_nosigpipe(x->h2c, p + done, n - done, &e);
        if (w > 0) {
            done += (size_t)w;
            x->bytes_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && e != EAGAIN && e != EINTR)
            return stream_error(x, P_H2C, e, err, errlen);
        double left = deadline - cbr_now_ms();
        if (left <= 0) {
            int rc = check_status(x, err, errlen);
            if (rc < 0)
                return rc;
            rc = link_reset(x, err, errlen);
            if (rc < 0)
                return rc;
            return cbr_errf(err, errlen, CBR_ETIMEDOUT, "%s: %zu of %zu bytes not taken within "
                        "%d ms; the link was reset", x->path[P_H2C], n - done, n, timeout_ms);
        }
        struct pollfd pf = {.fd = x->h2c, .events = POLLOUT};
        int r = poll(&pf, 1, left < SLICE_MS ? (int)left + 1 : SLICE_MS);
        if (r == 0) {
            int rc = check_status(x, err, errlen);
            if (rc < 0)
                return rc;
        } else if (r > 0 && (pf.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            char what[PATH_MAX + 64];
            snprintf(what, sizeof what, "%s: the stream closed", x->path[P_H2C]);
            return gone_or_reopen(x, what, err, errlen);
        }
    }
    return 0;
}

static int xdma_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got,
                     int timeout_ms, char *err, size_t errlen)
{
    struct xdma_tr *x = (struct xdma_tr *)t;
    double deadline = cbr_now_ms() + (timeout_ms < 0 ? 1e12 : timeout_ms);
    *got = 0;
    if (x->c2h < 0)
        return cbr_errf(err, errlen, CBR_ENODEV, "%s is closed: the board is gone", x->path[P_C2H]);
    for (;;) {
        ssize_t r = read(x->c2h, buf, cap);
        if (r > 0) {
            *got = (size_t)r;
            x->bytes_in += (uint64_t)r;
            return 0;
        }
        if (r == 0) {
            char what[PATH_MAX + 64];
            snprintf(what, sizeof what, "%s: end of stream", x->path[P_C2H]);
            return gone_or_reopen(x, what, err, errlen);
        }
        if (errno != EAGAIN && errno != EINTR)
            return stream_error(x, P_C2H, errno, err, errlen);
        double left = deadline - cbr_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pf = {.fd = x->c2h, .events = POLLIN};
        int n = poll(&pf, 1, left < SLICE_MS ? (int)left + 1 : SLICE_MS);
        if (n == 0) {
            int rc = check_status(x, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
}

static void xdma_stats(struct cbr_transport *t, struct cbr_link_stats *s)
{
    struct xdma_tr *x = (struct xdma_tr *)t;
    memset(s, 0, sizeof *s);
    s->bytes_out = x->bytes_out;
    s->bytes_in = x->bytes_in;
}

static void xdma_close(struct cbr_transport *t)
{
    struct xdma_tr *x = (struct xdma_tr *)t;
    if (!x)
        return;
    close_fds(x);
    free(x);
}

static const struct cbr_transport_ops xdma_ops = {
    .name = "pcie",
    .send = xdma_send,
    .recv = xdma_recv,
    .stats = xdma_stats,
    .close = xdma_close,
};

int cbr_transport_xdma_open(struct cbr_transport **out, const char *prefix, char *err,
                            size_t len)
{
    *out = NULL;
    if (!prefix || !*prefix)
        prefix = XDMA_DEFAULT_PREFIX;
    if (strlen(prefix) >= PATH_MAX)
        return cbr_errf(err, len, CBR_EINVAL, "pcie: device prefix too long");
    struct xdma_tr *x = calloc(1, sizeof *x);
    if (!x)
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    x->t.ops = &xdma_ops;
    x->h2c = x->c2h = x->user = -1;
    snprintf(x->prefix, sizeof x->prefix, "%s", prefix);
    static const char *const suffix[3] = {"_h2c_0", "_c2h_0", "_user"};
    for (int i = 0; i < 3; i++)
        snprintf(x->path[i], sizeof x->path[i], "%s%s", prefix, suffix[i]);
    int rc = open_paths(x, err, len);
    if (rc < 0) {
        xdma_close(&x->t);
        return rc;
    }
    *out = &x->t;
    return 0;
}

/* ---- the "pcie" device: the board driver over this transport ------------------------- */

static int pcie_open(cbr_device *dev, const char *args, char *err, size_t len)
{
    struct cbr_transport *tr;
    int rc = cbr_transport_xdma_open(&tr, args, err, len);
    if (rc < 0)
        return rc;
    char uri[PATH_MAX + 8];
    snprintf(uri, sizeof uri, "pcie:%s", *args ? args : XDMA_DEFAULT_PREFIX);
    rc = cbr_board_open(dev, tr, uri, err, len);
    if (rc == 0)
        snprintf(dev->info.name, sizeof dev->info.name, "cbr board over PCIe (XDMA)");
    return rc;
}

/* Each /dev/xdmaN whose user BAR exists. */
static void pcie_list(void (*emit)(const char *uri, void *ctx), void *ctx)
{
    DIR *d = opendir("/dev");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned n;
        char tail[8];
        if (sscanf(e->d_name, "xdma%u%7s", &n, tail) == 2 && !strcmp(tail, "_user")) {
            char uri[64];
            snprintf(uri, sizeof uri, "pcie:/dev/xdma%u", n);
            emit(uri, ctx);
        }
    }
    closedir(d);
}

/* The board driver's calls (accel.c) behind the pcie scheme. */
static void pcie_close(cbr_device *dev)
{
    cbr_backend_board.close(dev);
}

static int pcie_prepare(cbr_device *dev, cbr_layer *layer, char *err, size_t len)
{
    return cbr_backend_board.layer_prepare(dev, layer, err, len);
}

static void pcie_release(cbr_device *dev, cbr_layer *layer)
{
    cbr_backend_board.layer_release(dev, layer);
}

static int pcie_run(cbr_device *dev, const cbr_layer *layer, uint32_t n, const int8_t *input,
                    int8_t *output, cbr_stats *stats, char *err, size_t len)
{
    return cbr_backend_board.run(dev, layer, n, input, output, stats, err, len);
}

const struct cbr_backend cbr_backend_pcie = {
    .scheme = "pcie",
    .usage = "pcie[:PREFIX]",
    .open = pcie_open,
    .list = pcie_list,
    .close = pcie_close,
    .layer_prepare = pcie_prepare,
    .layer_release = pcie_release,
    .run = pcie_run,
};
