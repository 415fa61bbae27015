/*
 * test_tr_xdma.c - the PCIe (XDMA) transport against a card played by this test: two real
 * FIFOs for the streams and a real file for the user BAR (docs/links.md), as cbr-emu makes
 * them, with a thread that answers LINK_RESET the way the bridge does. Opening checks, data
 * both ways, timeouts, and every failure the BAR or the streams can show: each must become
 * the documented error, in time, and nothing from before a link reset may come back as data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbr.h"
#include "testrng.h"
#include "transport.h"

enum { ID = 0x00, VERSION = 0x04, STATUS = 0x08, CONTROL = 0x0C };
enum { LINK_UP = 1, H2C_ERR = 2, C2H_ERR = 4, H2C_HUNG = 8, C2H_HUNG = 16 };

/* The card: paths under a scratch directory, our ends of the FIFOs, the BAR file. */
struct card {
    char dir[64], prefix[96], h2c_path[128], c2h_path[128], user_path[128];
    int h2c, c2h, user;         /* h2c: we read; c2h: we write; both held read-write */
    pthread_t thread;
    volatile bool stop, ack;    /* ack: answer LINK_RESET */
    volatile int resets;
};

static void put(struct card *c, uint32_t off, uint32_t v)
{
    uint8_t w[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    assert_int_equal(pwrite(c->user, w, 4, off), 4);
}

static uint32_t get(struct card *c, uint32_t off)
{
    uint8_t w[4];
    assert_int_equal(pread(c->user, w, 4, off), 4);
    return (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 | (uint32_t)w[3] << 24;
}

/* The bridge's LINK_RESET: flush what it holds of the host's stream, clear the sticky bits. */
static void *card_main(void *p)
{
    struct card *c = p;
    while (!c->stop) {
        if (c->ack && (get(c, CONTROL) & 1)) {
            uint8_t junk[4096];
            while (read(c->h2c, junk, sizeof junk) > 0) {
            }
            put(c, STATUS, get(c, STATUS) & LINK_UP);
            c->resets++;
            put(c, CONTROL, 0);
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static struct card *card_new(uint32_t id, uint32_t version, uint32_t status, bool streams)
{
    struct card *c = calloc(1, sizeof *c);
    assert_non_null(c);
    snprintf(c->dir, sizeof c->dir, "/tmp/cbr-test-xdma-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->prefix, sizeof c->prefix, "%s/xdma0", c->dir);
    snprintf(c->h2c_path, sizeof c->h2c_path, "%s_h2c_0", c->prefix);
    snprintf(c->c2h_path, sizeof c->c2h_path, "%s_c2h_0", c->prefix);
    snprintf(c->user_path, sizeof c->user_path, "%s_user", c->prefix);
    c->h2c = c->c2h = -1;
    if (streams) {
        assert_int_equal(mkfifo(c->h2c_path, 0600), 0);
        assert_int_equal(mkfifo(c->c2h_path, 0600), 0);
        c->h2c = open(c->h2c_path, O_RDWR | O_NONBLOCK);
        c->c2h = open(c->c2h_path, O_RDWR | O_NONBLOCK);
        assert_true(c->h2c >= 0 && c->c2h >= 0);
    }
    c->user = open(c->user_path, O_RDWR | O_CREAT, 0600);
    assert_true(c->user >= 0);
    assert_int_equal(ftruncate(c->user, 4096), 0);
    put(c, ID, id);
    put(c, VERSION, version);
    put(c, STATUS, status);
    c->ack = true;
    assert_int_equal(pthread_create(&c->thread, NULL, card_main, c), 0);
    return c;
}

static struct card *good_card(void)
{
    return card_new(0x58524243u, 0x10001u, LINK_UP, true);
}

static void card_free(struct card *c)
{
    c->stop = true;
    pthread_join(c->thread, NULL);
    if (c->h2c >= 0)
        close(c->h2c);
    if (c->c2h >= 0)
        close(c->c2h);
    close(c->user);
    unlink(c->h2c_path);
    unlink(c->c2h_path);
    unlink(c->user_path);
    rmdir(c->dir);
    free(c);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int open_on(struct card *c, struct cbr_transport **t, char *err, size_t len)
{
    return cbr_transport_xdma_open(t, c->prefix, err, len);
}

static void test_open_missing_paths_is_enodev_naming_the_path(void **state)
{
    (void)state;
    struct cbr_transport *t = (void *)1;
    char err[512] = "";
    assert_int_equal(cbr_transport_xdma_open(&t, "/nonexistent/xdma7", err, sizeof err),
                     CBR_ENODEV);
    assert_null(t);
    assert_non_null(strstr(err, "/nonexistent/xdma7_user"));
}

static void test_open_refuses_a_card_that_is_not_cbr(void **state)
{
    (void)state;
    struct card *c = card_new(0x10EE9038u, 0x10001u, LINK_UP, true);
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "not a cbr board"));
    assert_non_null(strstr(err, "0x10ee9038"));
    card_free(c);
}

static void test_open_all_ones_is_a_card_that_does_not_respond(void **state)
{
    (void)state;
    struct card *c = card_new(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, true);
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "all ones"));
    card_free(c);
}

static void test_open_link_down_and_newer_protocol_are_refused(void **state)
{
    (void)state;
    struct cbr_transport *t;
    char err[512] = "";
    struct card *c = card_new(0x58524243u, 0x10001u, 0, true);
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "link is down"));
    card_free(c);
    c = card_new(0x58524243u, 0x20001u, LINK_UP, true);
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ENOTSUP);
    assert_non_null(strstr(err, "protocol 2"));
    card_free(c);
}

static void test_open_without_streams_names_the_stream(void **state)
{
    (void)state;
    struct card *c = card_new(0x58524243u, 0x10001u, LINK_UP, false);
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "_h2c_0"));
    card_free(c);
}

/* Random sizes both ways, every byte checked; what sat in the card-to-host stream before the
 * open (an earlier user's answers) is never returned. */
static void test_bytes_cross_both_ways_intact_and_stale_bytes_are_drained(void **state)
{
    (void)state;
    struct card *c = good_card();
    assert_int_equal(write(c->c2h, "STALE!!!", 8), 8);
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    assert_true(c->resets >= 1);
    static uint8_t out[20000], in[20000], got_buf[20000];
    for (int round = 0; round < 20; round++) {
        size_t n = 1 + rnd(sizeof out);
        for (size_t i = 0; i < n; i++)
            out[i] = (uint8_t)next_u64();
        /* The pipe holds 64 KiB: the card reads in parallel only when it must, so n is
         * below that and the send completes on its own. */
        assert_int_equal(t->ops->send(t, out, n, 1000, err, sizeof err), 0);
        size_t have = 0;
        while (have < n) {
            ssize_t r = read(c->h2c, in + have, n - have);
            assert_true(r > 0);
            have += (size_t)r;
        }
        assert_memory_equal(in, out, n);
        assert_int_equal(write(c->c2h, out, n), (ssize_t)n);
        have = 0;
        while (have < n) {
            size_t got = 0;
            assert_int_equal(t->ops->recv(t, got_buf + have, n - have, &got, 1000, err,
                                          sizeof err), 0);
            assert_true(got > 0);
            have += got;
        }
        assert_memory_equal(got_buf, out, n);
    }
    struct cbr_link_stats st;
    t->ops->stats(t, &st);
    assert_true(st.bytes_out > 0 && st.bytes_out == st.bytes_in);
    t->ops->close(t);
    card_free(c);
}

static void test_recv_with_nothing_returns_no_bytes_at_its_timeout(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    uint8_t b[16];
    size_t got = 99;
    double t0 = now_ms();
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 150, err, sizeof err), 0);
    double el = now_ms() - t0;
    assert_int_equal(got, 0);
    assert_true(el >= 140 && el < 1000);
    t->ops->close(t);
    card_free(c);
}

/* A hung path: the transport resets the link, drains, and says timed out, well before the
 * caller's timeout; the bytes that were in flight never come back. */
static void test_hung_dma_is_reset_and_reported_as_timeout(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    int resets = c->resets;
    put(c, STATUS, LINK_UP | C2H_HUNG);
    uint8_t b[64];
    size_t got = 0;
    double t0 = now_ms();
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 5000, err, sizeof err), CBR_ETIMEDOUT);
    assert_true(now_ms() - t0 < 1000);
    assert_int_equal(got, 0);
    assert_true(c->resets > resets);
    assert_non_null(strstr(err, "card-to-host DMA timed out"));
    /* The link works again afterwards. */
    assert_int_equal(write(c->c2h, "fresh", 5), 5);
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 1000, err, sizeof err), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(b, "fresh", 5);
    t->ops->close(t);
    card_free(c);
}

static void test_dma_error_is_reset_and_reported_as_eio(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    put(c, STATUS, LINK_UP | H2C_ERR);
    uint8_t b[64];
    size_t got = 0;
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 5000, err, sizeof err), CBR_EIO);
    assert_non_null(strstr(err, "host-to-card DMA failed"));
    assert_int_equal(get(c, STATUS), LINK_UP);
    t->ops->close(t);
    card_free(c);
}

/* Surprise removal: the BAR reads all ones and the paths are gone. ENODEV at once, and the
 * transport stays failed (no stale descriptors used). */
static void test_all_ones_and_vanished_paths_are_enodev_quickly(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    c->ack = false; /* a card that is gone answers nothing */
    uint8_t ones[4096];
    memset(ones, 0xFF, sizeof ones);
    assert_int_equal(pwrite(c->user, ones, sizeof ones, 0), (ssize_t)sizeof ones);
    unlink(c->user_path);
    uint8_t b[64];
    size_t got = 0;
    double t0 = now_ms();
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 5000, err, sizeof err), CBR_ENODEV);
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(strstr(err, "gone"));
    assert_int_equal(t->ops->send(t, "x", 1, 100, err, sizeof err), CBR_ENODEV);
    t->ops->close(t);
    card_free(c);
}

/* The card went away and came back with fresh device nodes (a hot reset re-enumerated it):
 * the old BAR reads all ones, the paths are new. One reopen finds it; the transfer in flight
 * is reported lost (EIO, which the client retries) and the new paths carry data. */
static void test_card_back_after_all_ones_is_reopened(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    c->ack = false;
    uint8_t ones[4096];
    memset(ones, 0xFF, sizeof ones);
    assert_int_equal(pwrite(c->user, ones, sizeof ones, 0), (ssize_t)sizeof ones);
    int old_user = c->user;
    close(c->h2c);
    close(c->c2h);
    unlink(c->h2c_path);
    unlink(c->c2h_path);
    unlink(c->user_path);
    assert_int_equal(mkfifo(c->h2c_path, 0600), 0);
    assert_int_equal(mkfifo(c->c2h_path, 0600), 0);
    c->h2c = open(c->h2c_path, O_RDWR | O_NONBLOCK);
    c->c2h = open(c->c2h_path, O_RDWR | O_NONBLOCK);
    c->user = open(c->user_path, O_RDWR | O_CREAT, 0600);
    assert_true(c->h2c >= 0 && c->c2h >= 0 && c->user >= 0);
    assert_int_equal(ftruncate(c->user, 4096), 0);
    put(c, ID, 0x58524243u);
    put(c, VERSION, 0x10001u);
    put(c, STATUS, LINK_UP);
    c->ack = true;
    uint8_t b[16];
    size_t got = 0;
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 5000, err, sizeof err), CBR_EIO);
    assert_non_null(strstr(err, "reopened"));
    assert_int_equal(t->ops->send(t, "ping", 4, 1000, err, sizeof err), 0);
    assert_int_equal(read(c->h2c, b, sizeof b), 4);
    assert_memory_equal(b, "ping", 4);
    assert_int_equal(write(c->c2h, "pong", 4), 4);
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 1000, err, sizeof err), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(b, "pong", 4);
    t->ops->close(t);
    close(old_user);
    card_free(c);
}

/* The card's side of the streams closes (the emulator died): ENODEV both ways, and the
 * write must not kill the program with SIGPIPE. */
static void test_peer_gone_is_enodev_without_sigpipe(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    close(c->h2c);
    close(c->c2h);
    c->h2c = c->c2h = -1;
    assert_int_equal(t->ops->send(t, "abcd", 4, 500, err, sizeof err), CBR_ENODEV);
    uint8_t b[8];
    size_t got;
    assert_int_equal(t->ops->recv(t, b, sizeof b, &got, 500, err, sizeof err), CBR_ENODEV);
    assert_non_null(strstr(err, "gone"));
    t->ops->close(t);
    card_free(c);
}

/* Nobody takes the host's bytes (the pipe fills): a timeout within the caller's time, after a
 * link reset. */
static void test_send_nobody_reads_times_out_in_time(void **state)
{
    (void)state;
    struct card *c = good_card();
    struct cbr_transport *t;
    char err[512] = "";
    assert_int_equal(open_on(c, &t, err, sizeof err), 0);
    static uint8_t big[1 << 20];
    double t0 = now_ms();
    assert_int_equal(t->ops->send(t, big, sizeof big, 200, err, sizeof err), CBR_ETIMEDOUT);
    double el = now_ms() - t0;
    assert_true(el >= 190 && el < 1500);
    assert_non_null(strstr(err, "not taken within 200 ms"));
    t->ops->close(t);
    card_free(c);
}

/* A bridge that never finishes LINK_RESET: a timeout, not a hang. */
static void test_link_reset_never_acknowledged_is_a_timeout(void **state)
{
    (void)state;
    struct card *c = good_card();
    c->ack = false;
    struct cbr_transport *t = (void *)1;
    char err[512] = "";
    double t0 = now_ms();
    assert_int_equal(open_on(c, &t, err, sizeof err), CBR_ETIMEDOUT);
    assert_true(now_ms() - t0 < 5000);
    assert_null(t);
    assert_non_null(strstr(err, "LINK_RESET"));
    card_free(c);
}

int main(void)
{
    uint64_t seed = test_seed();
    rng = seed;
    printf("test_tr_xdma: seed %llu (replay: CBR_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_missing_paths_is_enodev_naming_the_path),
        cmocka_unit_test(test_open_refuses_a_card_that_is_not_cbr),
        cmocka_unit_test(test_open_all_ones_is_a_card_that_does_not_respond),
        cmocka_unit_test(test_open_link_down_and_newer_protocol_are_refused),
        cmocka_unit_test(test_open_without_streams_names_the_stream),
        cmocka_unit_test(test_bytes_cross_both_ways_intact_and_stale_bytes_are_drained),
        cmocka_unit_test(test_recv_with_nothing_returns_no_bytes_at_its_timeout),
        cmocka_unit_test(test_hung_dma_is_reset_and_reported_as_timeout),
        cmocka_unit_test(test_dma_error_is_reset_and_reported_as_eio),
        cmocka_unit_test(test_all_ones_and_vanished_paths_are_enodev_quickly),
        cmocka_unit_test(test_card_back_after_all_ones_is_reopened),
        cmocka_unit_test(test_peer_gone_is_enodev_without_sigpipe),
        cmocka_unit_test(test_send_nobody_reads_times_out_in_time),
        cmocka_unit_test(test_link_reset_never_acknowledged_is_a_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
