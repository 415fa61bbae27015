/*
 * test_tr_serial.c - the serial (UART) transport on a real pseudo-terminal: this test holds
 * the master (the board's end) and the transport opens the slave as it would /dev/ttyUSB1.
 * The URI parser; the line settings the transport leaves on the tty (read back through the
 * master, which shares the slave's termios); stale bytes flushed at open; random data both
 * ways; the timeouts; exclusivity; hang-up; and ports that are not ports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <asm/termbits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cbr.h"
#include "errors.h"
#include "testrng.h"
#include "transport.h"

struct pty {
    int master;
    char slave[128];
};

static void pty_open(struct pty *p)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    assert_true(p->master >= 0);
    assert_int_equal(grantpt(p->master), 0);
    assert_int_equal(unlockpt(p->master), 0);
    assert_int_equal(ptsname_r(p->master, p->slave, sizeof p->slave), 0);
}

static struct cbr_transport *open_ok(const char *uri)
{
    struct cbr_transport *t = NULL;
    char err[512] = "";
    int rc = cbr_transport_serial_open(&t, uri, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %d %s", uri, rc, err);
    return t;
}

/* Reads n bytes from fd within ms, polling. */
static size_t read_all(int fd, uint8_t *buf, size_t n, int ms)
{
    double deadline = cbr_now_ms() + ms;
    size_t got = 0;
    while (got < n && cbr_now_ms() < deadline) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        poll(&pf, 1, 10);
    }
    return got;
}

static void test_uri_parser(void **state)
{
    (void)state;
    char path[64], err[256];
    unsigned baud;
    /* A bad URI's CBR_EINVAL message must say `says`; a good one (says NULL) must parse to
     * path and baud. */
    static const struct uri_case { const char *uri, *says, *path; unsigned baud; } cases[] = {
        {"/dev/ttyUSB1", NULL, "/dev/ttyUSB1", 3000000},     /* no '@': the default rate */
        {"/dev/ttyUSB1@1000000", NULL, "/dev/ttyUSB1", 1000000},
        {"/tmp/a@b@300", NULL, "/tmp/a@b", 300},     /* the last '@' splits: a path may hold one */
        {"", "missing the port", NULL, 0},
        {"@9600", "missing the port", NULL, 0},
        {"/dev/ttyUSB1@", "is not a number", NULL, 0},
        {"/dev/ttyUSB1@fast", "'fast' is not a number", NULL, 0},
        {"/dev/ttyUSB1@-9600", "is not a number", NULL, 0},
        {"/dev/ttyUSB1@ 9600", "is not a number", NULL, 0},
        {"/dev/ttyUSB1@9600x", "is not a number", NULL, 0},
        {"/dev/ttyUSB1@299", "out of range", NULL, 0},
        {"/dev/ttyUSB1@12000001", "out of range", NULL, 0},
        {"/dev/ttyUSB1@99999999999999999999", "is not a number", NULL, 0},
        {"/dev/a/path/longer/than/sixty-four/bytes/does/not/fit/the/buffer/x", "too long", NULL,
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct uri_case *c = &cases[i];
        path[0] = err[0] = '\0', baud = 0;
        int rc = cbr_serial_parse_uri(c->uri, path, sizeof path, &baud, err, sizeof err);
        if (c->says && (rc != CBR_EINVAL || !strstr(err, c->says)))
            fail_msg("'%s': rc %d '%s', want CBR_EINVAL saying '%s'", c->uri, rc, err, c->says);
        if (!c->says && (rc != 0 || strcmp(path, c->path) != 0 || baud != c->baud))
            fail_msg("'%s': rc %d '%s', '%s' at %u baud, want '%s' at %u", c->uri, rc, err, path,
                     baud, c->path, c->baud);
    }
}

static void test_rate_tolerance(void **state)
{
    (void)state;
    assert_true(cbr_serial_rate_close(3000000, 3000000));
    assert_true(cbr_serial_rate_close(3000000, 3090000));
    assert_true(cbr_serial_rate_close(3000000, 2910000));
    assert_false(cbr_serial_rate_close(3000000, 3100000));
    assert_false(cbr_serial_rate_close(3000000, 9600));
}

/* The settings, read back through the master, for standard and odd rates. */
static void test_line_settings_on_a_pty(void **state)
{
    (void)state;
    const unsigned rates[] = {3000000, 1000000, 115200, 2500000, 300 + rnd(11999700)};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        struct pty p;
        pty_open(&p);
        char uri[192];
        snprintf(uri, sizeof uri, "%s@%u", p.slave, rates[i]);
        struct cbr_transport *t = open_ok(uri);
        struct termios2 tio;
        assert_int_equal(ioctl(p.master, TCGETS2, &tio), 0);
        assert_int_equal(tio.c_cflag & CSIZE, CS8);
        assert_int_equal(tio.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
        assert_true(tio.c_cflag & CREAD);
        assert_true(tio.c_cflag & CLOCAL);
        assert_int_equal(tio.c_iflag & (IXON | IXOFF | IXANY | ICRNL | INLCR | ISTRIP |
                                        INPCK), 0);
        assert_int_equal(tio.c_oflag & OPOST, 0);
        assert_int_equal(tio.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
        assert_int_equal(tio.c_cc[VMIN], 1);
        assert_int_equal(tio.c_cc[VTIME], 0);
        assert_int_equal(tio.c_ospeed, rates[i]);
        unsigned got;
        assert_int_equal(cbr_serial_get_rate(p.master, &got), 0);
        assert_int_equal(got, rates[i]);
        struct cbr_link_stats st;
        t->ops->stats(t, &st);
        assert_int_equal(st.max_in_flight, 2048);
        assert_true(st.bytes_per_second > rates[i] / 10.0 - 1 &&
                    st.bytes_per_second < rates[i] / 10.0 + 1);
        t->ops->close(t);
        close(p.master);
    }
}

static void test_stale_bytes_are_flushed_and_data_crosses_both_ways(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    int keep = open(p.slave, O_RDWR | O_NOCTTY | O_NONBLOCK); /* so the master may write */
    assert_true(keep >= 0);
    assert_int_equal(write(p.master, "stale answer", 12), 12);
    struct cbr_transport *t = open_ok(p.slave);
    char err[256];
    uint8_t buf[8192];
    /* Our slave's first settings echoed the stale bytes back to the master: not the
     * transport's bytes, drop them. */
    read_all(p.master, buf, sizeof buf, 50);
    size_t got = 1;
    assert_int_equal(t->ops->recv(t, buf, sizeof buf, &got, 50, err, sizeof err), 0);
    assert_int_equal(got, 0);

    /* Random bytes, every value including XON/XOFF, CR, LF, ^C and NUL: raw means raw. */
    enum { N = 3000 };
    uint8_t out[N], back[N];
    for (size_t i = 0; i < N; i++)
        out[i] = (uint8_t)next_u64();
    out[0] = 0x11, out[1] = 0x13, out[2] = '\r', out[3] = '\n', out[4] = 3, out[5] = 0;
    assert_int_equal(t->ops->send(t, out, N, 1000, err, sizeof err), 0);
    assert_int_equal(read_all(p.master, back, N, 2000), N);
    assert_memory_equal(out, back, N);

    for (size_t i = 0; i < N; i++)
        out[i] = (uint8_t)next_u64();
    out[7] = 0x13, out[8] = '\r', out[9] = 0x7f;
    size_t done = 0;
    while (done < N) {
        ssize_t w = write(p.master, out + done, N - done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    size_t seen = 0;
    double deadline = cbr_now_ms() + 2000;
    while (seen < N && cbr_now_ms() < deadline) {
        size_t n = 0;
        assert_int_equal(t->ops->recv(t, back + seen, N - seen, &n, 200, err, sizeof err), 0);
        seen += n;
    }
    assert_int_equal(seen, N);
    assert_memory_equal(back, out, N);
    t->ops->close(t);
    close(keep);
    close(p.master);
}

static void test_recv_with_nothing_times_out_in_time(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct cbr_transport *t = open_ok(p.slave);
    char err[256];
    uint8_t buf[64];
    size_t got = 1;
    double t0 = cbr_now_ms();
    assert_int_equal(t->ops->recv(t, buf, sizeof buf, &got, 150, err, sizeof err), 0);
    double took = cbr_now_ms() - t0;
    assert_int_equal(got, 0);
    assert_true(took >= 140 && took < 1000);
    t->ops->close(t);
    close(p.master);
}

/* Nobody reads the master: the send gives up in a time bounded by the timeout and the rate. */
static void test_send_nobody_reads_times_out(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct cbr_transport *t = open_ok(p.slave);
    char err[256];
    static uint8_t big[1 << 20];
    double t0 = cbr_now_ms();
    int rc = t->ops->send(t, big, sizeof big, 100, err, sizeof err);
    double took = cbr_now_ms() - t0;
    assert_int_equal(rc, CBR_ETIMEDOUT);
    assert_non_null(strstr(err, "not taken within"));
    /* 1 MiB at 3 Mbaud is 3.5 s of line; twice that plus 100 ms is the bound */
    assert_true(took < 8000);
    t->ops->close(t);
    close(p.master);
}

static void test_hang_up_is_enodev_at_once_and_stays(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct cbr_transport *t = open_ok(p.slave);
    close(p.master);
    char err[256] = "";
    uint8_t buf[64];
    size_t got;
    double t0 = cbr_now_ms();
    assert_int_equal(t->ops->recv(t, buf, sizeof buf, &got, 5000, err, sizeof err), CBR_ENODEV);
    assert_true(cbr_now_ms() - t0 < 1000);
    assert_non_null(strstr(err, "gone"));
    assert_int_equal(t->ops->send(t, "x", 1, 5000, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "gone"));
    t->ops->close(t);
}

static void test_hang_up_during_send_is_enodev(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct cbr_transport *t = open_ok(p.slave);
    close(p.master);
    char err[256] = "";
    int rc = t->ops->send(t, "abcd", 4, 5000, err, sizeof err);
    assert_int_equal(rc, CBR_ENODEV);
    assert_non_null(strstr(err, "gone"));
    t->ops->close(t);
}

static void test_second_open_is_refused_and_first_close_frees_it(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct cbr_transport *t = open_ok(p.slave), *t2 = NULL;
    char err[512] = "";
    int rc = cbr_transport_serial_open(&t2, p.slave, err, sizeof err);
    assert_int_equal(rc, CBR_EBUSY);
    assert_null(t2);
    assert_non_null(strstr(err, p.slave));
    t->ops->close(t);
    t = open_ok(p.slave); /* TIOCEXCL was cleared on close */
    t->ops->close(t);
    close(p.master);
}

static void test_not_a_port(void **state)
{
    (void)state;
    char file[] = "/tmp/cbr-serial-test-XXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    static const struct { const char *uri; int rc; const char *says; } cases[] = {
        {"/dev/null", CBR_EINVAL, "not a serial port"},
        {"/tmp", CBR_EINVAL, "directory"},
        {NULL, CBR_EINVAL, "regular file"},
        {"/nonexistent/ttyUSB7", CBR_ENODEV, "No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *uri = cases[i].uri ? cases[i].uri : file;
        struct cbr_transport *t = (struct cbr_transport *)1;
        char err[512] = "";
        int rc = cbr_transport_serial_open(&t, uri, err, sizeof err);
        if (rc != cases[i].rc || !strstr(err, cases[i].says) || !strstr(err, uri) || t)
            fail_msg("%s: rc %d '%s'", uri, rc, err);
    }
    unlink(file);
}

int main(void)
{
    uint64_t seed = test_seed();
    rng = seed;
    printf("test_tr_serial: seed %llu (CBR_SEED=%llu replays)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_parser),
        cmocka_unit_test(test_rate_tolerance),
        cmocka_unit_test(test_line_settings_on_a_pty),
        cmocka_unit_test(test_stale_bytes_are_flushed_and_data_crosses_both_ways),
        cmocka_unit_test(test_recv_with_nothing_times_out_in_time),
        cmocka_unit_test(test_send_nobody_reads_times_out),
        cmocka_unit_test(test_hang_up_is_enodev_at_once_and_stays),
        cmocka_unit_test(test_hang_up_during_send_is_enodev),
        cmocka_unit_test(test_second_open_is_refused_and_first_close_frees_it),
        cmocka_unit_test(test_not_a_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
