/*
 * tr_serial.c - the serial (UART) transport, and the "serial" device: the iCEBreaker's
 * FT2232H channel B (ftdi_sio, /dev/ttyUSB1), or any tty that carries the packet protocol.
 *
 * "serial:PATH[@BAUD]" (default 3 000 000 baud) opens PATH raw, 8N1, without flow control
 * (neither RTS/CTS nor XON/XOFF: the board wires only TXD and RXD). The rate is set with
 * termios2 (TCSETS2 with BOTHER), which takes any rate the driver can make, and read back:
 * a driver that refuses the rate, or makes one more than 3 % off (the UART would see
 * garbage), is an error naming both rates. The port is taken exclusively (TIOCEXCL, which
 * root ignores, and flock, which it does not) and flushed, so another program's or an earlier
 * run's bytes are never read as answers. docs/links.md has the error model and figures.
 *
 * The link has no flow control and the board's receive FIFO holds 2 KiB, so the transport
 * reports how many host-to-device bytes may be unanswered at once (max_in_flight in
 * cbr_link_stats) and the link's rate; the client (accel.c) posts no more than that and scales
 * its timeouts to the rate.
 *
 * <termios.h> and <asm/termbits.h> both define struct termios and the flag macros, so this
 * file uses only the kernel's header and the ioctls directly.
 */
#include <asm/termbits.h>
#include <dirent.h>
#include <errno.h>
#include <linux/serial.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbr.h"
#include "device.h"
#include "transport.h"

#define SERIAL_RX_FIFO 2048    /* the board's receive FIFO (cbr_uart_bridge RX_DEPTH words) */
#define SERIAL_RATE_TOL 0.03   /* a UART tolerates about 3 % between the two ends' rates */
#define SERIAL_SLICE_MS 100    /* longest single poll(), so a hang-up is seen within it */

struct serial_tr {
    struct cbr_transport t;
    char path[PATH_MAX];
    unsigned baud;
    int fd;
    bool gone;                 /* hung up: every call is CBR_ENODEV from now on */
    uint64_t bytes_out, bytes_in;
};

int cbr_serial_parse_uri(const char *args, char *path, size_t plen, unsigned *baud, char *err,
                         size_t len)
{
    *baud = CBR_SERIAL_DEFAULT_BAUD;
    if (!args || !*args)
        return cbr_errf(err, len, CBR_EINVAL, "serial: missing the port (serial:PATH[@BAUD], "
                        "like serial:/dev/ttyUSB1)");
    const char *at = strrchr(args, '@');
    size_t n = at ? (size_t)(at - args) : strlen(args);
    if (n == 0)
        return cbr_errf(err, len, CBR_EINVAL, "serial:%s: missing the port before '@'", args);
    if (n >= plen)
        return cbr_errf(err, len, CBR_EINVAL, "serial: port path too long (%zu bytes)", n);
    memcpy(path, args, n);
    path[n] = '\0';
    if (!at)
        return 0;
    const char *b = at + 1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(b, &end, 10);
    if (!*b || *b < '0' || *b > '9' || *end || errno)
        return cbr_errf(err, len, CBR_EINVAL, "serial:%s: baud rate '%s' is not a number "
                        "(serial:PATH@BAUD, like @3000000)", args, b);
    if (v < CBR_SERIAL_MIN_BAUD || v > CBR_SERIAL_MAX_BAUD)
        return cbr_errf(err, len, CBR_EINVAL, "serial:%s: baud rate %lu is out of range (%d to "
                        "%d)", args, v, CBR_SERIAL_MIN_BAUD, CBR_SERIAL_MAX_BAUD);
    *baud = (unsigned)v;
    return 0;
}

int cbr_serial_get_rate(int fd, unsigned *baud)
{
    struct termios2 tio;
    if (ioctl(fd, TCGETS2, &tio) < 0)
        return -1;
    *baud = tio.c_ospeed;
    return 0;
}

bool cbr_serial_rate_close(unsigned asked, unsigned got)
{
    double d = (double)got - (double)asked;
    return (d < 0 ? -d : d) <= SERIAL_RATE_TOL * asked;
}

/* Raw 8N1 at baud, no flow control, reads that never block (poll() waits), then flushed. */
int cbr_serial_configure(int fd, const char *path, unsigned baud, char *err, size_t len)
{
    struct termios2 tio;
    if (ioctl(fd, TCGETS2, &tio) < 0)
        return cbr_errf(err, len, errno == ENOTTY || errno == EINVAL ? CBR_EINVAL : CBR_EIO,
                        "%s is not a serial port (cannot read its terminal settings: %s)", path,
                        strerror(errno));
    tio.c_iflag = IGNBRK;        /* no XON/XOFF, no CR/LF mapping, no parity marking */
    tio.c_oflag = 0;
    tio.c_lflag = 0;             /* no echo, no line editing, no signals */
    tio.c_cflag = CS8 | CREAD | CLOCAL | BOTHER | (BOTHER << IBSHIFT); /* 8N1, no RTS/CTS */
    tio.c_ispeed = tio.c_ospeed = baud;
    /* VMIN 1, VTIME 0 and O_NONBLOCK: read() takes what is there and fails with EAGAIN
     * when nothing is (poll() does the waiting), so a read of 0 bytes can only mean a hang-up
     * (with VMIN 0 an empty port would read 0 too). */
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (ioctl(fd, TCSETS2, &tio) < 0)
        return cbr_errf(err, len, errno == EINVAL ? CBR_ENOTSUP : CBR_EIO,
                        "%s: the driver refuses %u baud 8N1: %s", path, baud, strerror(errno));
    unsigned got;
    if (cbr_serial_get_rate(fd, &got) < 0)
        return cbr_errf(err, len, CBR_EIO, "%s: cannot read back the settings: %s", path,
                        strerror(errno));
    if (!cbr_serial_rate_close(baud, got))
        return cbr_errf(err, len, CBR_ENOTSUP, "%s: asked for %u baud, the driver set %u (more "
                        "than 3 %% off: the board would read garbage)", path, baud, got);
    if (ioctl(fd, TCFLSH, TCIOFLUSH) < 0)
        return cbr_errf(err, len, CBR_EIO, "%s: cannot flush: %s", path, strerror(errno));
    return 0;
}

/* An errno of read()/write() on the port: hang-up and removal are "gone", for good. */
static int port_error(struct serial_tr *s, int e, const char *what, char *err, size_t len)
{
    if (e == EIO || e == ENXIO || e == ENODEV || e == EPIPE) {
        s->gone = true;
        return cbr_errf(err, len, CBR_ENODEV, "%s: %s failed (%s): the board is gone "
                        "(unplugged or the port hung up)", s->path, what, strerror(e));
    }
    return cbr_errf(err, len, CBR_EIO, "%s: %s failed: %s", s->path, what, strerror(e));
}

static int hung_up(struct serial_tr *s, char *err, size_t len)
{
    s->gone = true;
    return cbr_errf(err, len, CBR_ENODEV, "%s hung up: the board is gone (unplugged)", s->path);
}

/* The time the line needs for n bytes (10 bits each), in ms. */
static double line_ms(const struct serial_tr *s, size_t n)
{
    return (double)n * 10.0 * 1000.0 / s->baud;
}

static int serial_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                       char *err, size_t len)
{
    struct serial_tr *s = (struct serial_tr *)t;
    if (s->gone)
        return cbr_errf(err, len, CBR_ENODEV, "%s: the board is gone", s->path);
    /* The driver's buffer drains at the line rate: never give up before the bytes could
     * have gone out twice over. */
    double wait = line_ms(s, n) * 2 + 100;
    if (timeout_ms >= 0 && timeout_ms > wait)
        wait = timeout_ms;
    double deadline = cbr_now_ms() + wait;
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(s->fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            s->bytes_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return port_error(s, errno, "write", err, len);
        double left = deadline - cbr_now_ms();
        if (left <= 0) {
            ioctl(s->fd, TCFLSH, TCOFLUSH); /* no half packet left behind to go out later */
            return cbr_errf(err, len, CBR_ETIMEDOUT, "%s: %zu of %zu bytes not taken within "
                            "%.0f ms", s->path, n - done, n, wait);
        }
        struct pollfd pf = {.fd = s->fd, .events = POLLOUT};
        int r = poll(&pf, 1, left < SERIAL_SLICE_MS ? (int)left + 1 : SERIAL_SLICE_MS);
        if (r > 0 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return hung_up(s, err, len);
    }
    return 0;
}

static int serial_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got,
                       int timeout_ms, char *err, size_t len)
{
    struct serial_tr *s = (struct serial_tr *)t;
    *got = 0;
    if (s->gone)
        return cbr_errf(err, len, CBR_ENODEV, "%s: the board is gone", s->path);
    double deadline = cbr_now_ms() + (timeout_ms < 0 ? 1e12 : timeout_ms);
    for (;;) {
        ssize_t r = read(s->fd, buf, cap);
        if (r > 0) {
            *got = (size_t)r;
            s->bytes_in += (uint64_t)r;
            return 0;
        }
        if (r == 0)   /* empty reads EAGAIN (VMIN 1, O_NONBLOCK): 0 is a hang-up */
            return hung_up(s, err, len);
        if (errno != EAGAIN && errno != EINTR)
            return port_error(s, errno, "read", err, len);
        double left = deadline - cbr_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pf = {.fd = s->fd, .events = POLLIN};
        int n = poll(&pf, 1, left < SERIAL_SLICE_MS ? (int)left + 1 : SERIAL_SLICE_MS);
        if (n > 0 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL)) && !(pf.revents & POLLIN))
            return hung_up(s, err, len);
    }
}

static void serial_stats(struct cbr_transport *t, struct cbr_link_stats *st)
{
    struct serial_tr *s = (struct serial_tr *)t;
    memset(st, 0, sizeof *st);
    st->bytes_out = s->bytes_out;
    st->bytes_in = s->bytes_in;
    st->max_in_flight = SERIAL_RX_FIFO;
    st->bytes_per_second = s->baud / 10.0;
}

static void serial_close(struct cbr_transport *t)
{
    struct serial_tr *s = (struct serial_tr *)t;
    if (!s)
        return;
    if (s->fd >= 0) {
        /* The tty keeps TIOCEXCL after we close (a pty's while its master lives): clear it,
         * or the next program is refused. */
        ioctl(s->fd, TIOCNXCL);
        close(s->fd);
    }
    free(s);
}

static const struct cbr_transport_ops serial_ops = {
    .name = "serial",
    .send = serial_send,
    .recv = serial_recv,
    .stats = serial_stats,
    .close = serial_close,
};

/* ftdi_sio holds received bytes for its latency timer (16 ms by default) before passing them
 * on; ASYNC_LOW_LATENCY sets it to 1 ms, so an answer is not held 16 ms. Drivers without the
 * ioctl (a pty) are fine as they are. */
static void low_latency(int fd)
{
    struct serial_struct ss;
    if (ioctl(fd, TIOCGSERIAL, &ss) == 0 && !(ss.flags & ASYNC_LOW_LATENCY)) {
        ss.flags |= ASYNC_LOW_LATENCY;
        ioctl(fd, TIOCSSERIAL, &ss);
    }
}

/* Open and lock the port; a clear error for what is not a port or is taken. */
static int open_port(struct serial_tr *s, char *err, size_t len)
{
    struct stat st;
    if (stat(s->path, &st) < 0)
        return cbr_errf(err, len, errno == ENOENT ? CBR_ENODEV : CBR_EIO, "cannot open %s: %s",
                        s->path, strerror(errno));
    if (!S_ISCHR(st.st_mode))
        return cbr_errf(err, len, CBR_EINVAL, "%s is not a serial port (it is a %s)", s->path,
                        S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode)
                        ? "regular file" : "non-character file");
    s->fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->fd < 0)
        return cbr_errf(err, len, errno == EBUSY ? CBR_EBUSY : errno == ENOENT ||
                        errno == ENXIO || errno == ENODEV ? CBR_ENODEV : CBR_EIO,
                        "cannot open %s: %s%s", s->path, strerror(errno),
                        errno == EBUSY ? " (another program has it open exclusively)"
                        : errno == EACCES ? " (add yourself to the port's group, e.g. dialout)"
                        : "");
    if (flock(s->fd, LOCK_EX | LOCK_NB) < 0)
        return cbr_errf(err, len, errno == EWOULDBLOCK ? CBR_EBUSY : CBR_EIO,
                        "%s is in use by another program (flock: %s)", s->path, strerror(errno));
    unsigned dummy;
    if (cbr_serial_get_rate(s->fd, &dummy) < 0)
        return cbr_errf(err, len, CBR_EINVAL, "%s is not a serial port (%s)", s->path,
                        strerror(errno));
    if (ioctl(s->fd, TIOCEXCL) < 0)
        return cbr_errf(err, len, CBR_EIO, "%s: cannot take it exclusively: %s", s->path,
                        strerror(errno));
    low_latency(s->fd);
    return cbr_serial_configure(s->fd, s->path, s->baud, err, len);
}

int cbr_transport_serial_open(struct cbr_transport **out, const char *args, char *err,
                              size_t len)
{
    *out = NULL;
    struct serial_tr *s = calloc(1, sizeof *s);
    if (!s)
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    s->t.ops = &serial_ops;
    s->fd = -1;
    int rc = cbr_serial_parse_uri(args, s->path, sizeof s->path, &s->baud, err, len);
    if (rc == 0)
        rc = open_port(s, err, len);
    if (rc < 0) {
        serial_close(&s->t);
        return rc;
    }
    *out = &s->t;
    return 0;
}

/* ---- the "serial" device: the board driver over this transport ----------------------- */

static int serial_dev_open(cbr_device *dev, const char *args, char *err, size_t len)
{
    struct cbr_transport *tr;
    int rc = cbr_transport_serial_open(&tr, args, err, len);
    if (rc < 0)
        return rc;
    const struct serial_tr *s = (const struct serial_tr *)tr;
    char uri[PATH_MAX + 32];
    snprintf(uri, sizeof uri, "serial:%s@%u", s->path, s->baud);
    unsigned baud = s->baud; /* tr belongs to the board driver from here on */
    rc = cbr_board_open(dev, tr, uri, err, len);
    if (rc == 0)
        snprintf(dev->info.name, sizeof dev->info.name, "cbr board over a UART (%u baud)", baud);
    return rc;
}

/* Reads a short sysfs attribute into buf; false if it is not there. */
static bool read_attr(const char *dir, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

/* Each ftdi_sio port on interface 1 of an FT2232H (0403:6010): the iCEBreaker's UART. */
static void serial_list(void (*emit)(const char *uri, void *ctx), void *ctx)
{
    DIR *d = opendir("/sys/class/tty");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "ttyUSB", 6))
            continue;
        char link[PATH_MAX], intf[PATH_MAX];
        snprintf(link, sizeof link, "/sys/class/tty/%s/device/..", e->d_name);
        if (!realpath(link, intf))
            continue;
        char num[16], vid[16], pid[16], usbdev[PATH_MAX + 8];
        snprintf(usbdev, sizeof usbdev, "%s/..", intf);
        if (read_attr(intf, "bInterfaceNumber", num, sizeof num) && !strcmp(num, "01") &&
            read_attr(usbdev, "idVendor", vid, sizeof vid) && !strcmp(vid, "0403") &&
            read_attr(usbdev, "idProduct", pid, sizeof pid) && !strcmp(pid, "6010")) {
            char uri[300];
            snprintf(uri, sizeof uri, "serial:/dev/%s", e->d_name);
            emit(uri, ctx);
        }
    }
    closedir(d);
}

static void serial_dev_close(cbr_device *dev)
{
    cbr_backend_board.close(dev);
}

static int serial_prepare(cbr_device *dev, cbr_layer *layer, char *err, size_t len)
{
    return cbr_backend_board.layer_prepare(dev, layer, err, len);
}

static void serial_release(cbr_device *dev, cbr_layer *layer)
{
    cbr_backend_board.layer_release(dev, layer);
}

static int serial_run(cbr_device *dev, const cbr_layer *layer, uint32_t n, const int8_t *input,
                      int8_t *output, cbr_stats *stats, char *err, size_t len)
{
    return cbr_backend_board.run(dev, layer, n, input, output, stats, err, len);
}

const struct cbr_backend cbr_backend_serial = {
    .scheme = "serial",
    .usage = "serial:PATH[@BAUD]",
    .open = serial_dev_open,
    .list = serial_list,
    .close = serial_dev_close,
    .layer_prepare = serial_prepare,
    .layer_release = serial_release,
    .run = serial_run,
};
