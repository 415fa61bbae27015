/*
 * test_proto.c - the packet format of docs/protocol.md and the resynchronising reader:
 * CRC vectors, round trips, every kind of bad packet, and a randomized stream of packets,
 * garbage and corruption in which no corrupted packet may ever come out as good.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "testrng.h"
#include "proto.h"

static uint64_t seed;

static size_t make_pkt(uint8_t *out, uint8_t op, uint32_t seq, const void *payload,
                       uint32_t len)
{
    struct cbr_pkt p = {.opcode = op, .seq = seq, .arg0 = 0x11223344, .arg1 = 7, .arg2 = 9,
                        .len = len};
    return cbr_pkt_encode(&p, payload, out);
}

static void test_crc32_matches_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(cbr_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(cbr_crc32(0, "", 0), 0);
    /* Chaining equals one pass. */
    uint32_t c = cbr_crc32(0, "1234", 4);
    assert_int_equal(cbr_crc32(c, "56789", 5), 0xCBF43926u);
    uint8_t zeros[32] = {0};
    assert_int_equal(cbr_crc32(0, zeros, 32), 0x190A55ADu);
}

/* The CRC one bit at a time, straight from the polynomial: what the eight tables must give. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

/* Eight bytes a step (slicing-by-8) on long buffers at every alignment, in random pieces,
 * against the bitwise CRC. */
static void test_crc32_matches_a_bitwise_crc_on_long_buffers(void **state)
{
    (void)state;
    rng = seed;
    uint8_t buf[4096 + 8];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd(256);
    for (int t = 0; t < 200; t++) {
        const size_t off = rnd(8), len = rnd(4097);
        const uint32_t want = crc32_bitwise(0, buf + off, len);
        assert_int_equal(cbr_crc32(0, buf + off, len), want);
        uint32_t c = 0;
        for (size_t at = 0; at < len;) {
            size_t n = 1 + rnd(64);
            n = n < len - at ? n : len - at;
            c = cbr_crc32(c, buf + off + at, n);
            at += n;
        }
        assert_int_equal(c, want);
    }
}

static void test_encode_lays_out_the_header_as_documented(void **state)
{
    (void)state;
    uint8_t b[64];
    struct cbr_pkt p = {.opcode = CBR_OP_BUF_WRITE, .flags = 1, .status = 4, .seq = 0xA1B2C3D4,
                        .arg0 = 2, .arg1 = 0x100, .arg2 = 3, .len = 3};
    assert_int_equal(cbr_pkt_encode(&p, "abc", b), 32 + 4 + 4); /* payload padded to 4 */
    static const uint8_t head[28] = {0x43, 0x42, 0x52, 0x50, 1, 0x20, 1, 4, 0xD4, 0xC3,
                                     0xB2, 0xA1, 2, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0};
    assert_memory_equal(b, head, 28);
    uint32_t hcrc = cbr_crc32(0, b, 28);
    assert_int_equal(b[28] | b[29] << 8 | b[30] << 16 | (uint32_t)b[31] << 24, hcrc);
    assert_memory_equal(b + 32, "abc", 4); /* with its zero pad byte */
    uint32_t crc = cbr_crc32(0, b, 36);
    assert_int_equal(b[36] | b[37] << 8 | b[38] << 16 | (uint32_t)b[39] << 24, crc);
}

static void test_reader_round_trips_every_payload_size(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 256), 0);
    uint8_t payload[256], wire[300];
    for (uint32_t len = 0; len <= 256; len++) {
        for (uint32_t i = 0; i < len; i++)
            payload[i] = (uint8_t)(i * 7 + len);
        size_t n = make_pkt(wire, CBR_OP_NOP, len, payload, len);
        assert_int_equal(cbr_reader_feed(&r, wire, n), n);
        struct cbr_pkt p;
        const uint8_t *pl;
        assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
        assert_int_equal(p.seq, len);
        assert_int_equal(p.len, len);
        assert_int_equal(p.arg0, 0x11223344);
        assert_memory_equal(pl, payload, len);
        assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_NEED_MORE);
    }
    assert_int_equal(r.skipped, 0);
    cbr_reader_free(&r);
}

static void test_reader_fed_one_byte_at_a_time_finds_the_packet(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[128];
    size_t n = make_pkt(wire, CBR_OP_INFO, 42, "hello", 5);
    struct cbr_pkt p;
    const uint8_t *pl;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_NEED_MORE);
        assert_int_equal(cbr_reader_feed(&r, wire + i, 1), 1);
    }
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
    assert_int_equal(p.seq, 42);
    cbr_reader_free(&r);
}

static void test_reader_skips_garbage_before_a_packet(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[200];
    /* Garbage including a bare magic, which must not be taken for a header. */
    static const uint8_t junk[] = {1, 2, 0x43, 0x42, 0x52, 0x50, 9, 9, 9, 0x43, 0x42};
    memcpy(wire, junk, sizeof junk);
    size_t n = sizeof junk + make_pkt(wire + sizeof junk, CBR_OP_NOP, 5, "xy", 2);
    cbr_reader_feed(&r, wire, n);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
    assert_int_equal(p.seq, 5);
    assert_int_equal(r.skipped, sizeof junk);
    cbr_reader_free(&r);
}

static void test_reader_corrupt_header_is_skipped_and_next_packet_found(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[200];
    size_t a = make_pkt(wire, CBR_OP_NOP, 1, "payload1", 8);
    size_t b = make_pkt(wire + a, CBR_OP_NOP, 2, "payload2", 8);
    wire[24] ^= 0x40; /* the length field of the first: hcrc must catch it */
    cbr_reader_feed(&r, wire, a + b);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
    assert_int_equal(p.seq, 2);
    assert_int_equal(r.skipped, a);
    cbr_reader_free(&r);
}

static void test_reader_bad_payload_crc_reports_the_sequence(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[200];
    size_t a = make_pkt(wire, CBR_OP_BUF_WRITE, 77, "data-data", 9);
    size_t b = make_pkt(wire + a, CBR_OP_NOP, 78, NULL, 0);
    wire[35] ^= 1;
    cbr_reader_feed(&r, wire, a + b);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_BAD_CRC);
    assert_int_equal(p.seq, 77);
    assert_int_equal(p.opcode, CBR_OP_BUF_WRITE);
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
    assert_int_equal(p.seq, 78);
    cbr_reader_free(&r);
}

static void test_reader_length_above_max_is_refused_without_waiting(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 16), 0);
    uint8_t big[64] = {0}, wire[200];
    size_t a = make_pkt(wire, CBR_OP_BUF_WRITE, 3, big, 17);
    cbr_reader_feed(&r, wire, CBR_PROTO_HDR); /* only the header has arrived */
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_BAD_LENGTH);
    assert_int_equal(p.seq, 3);
    assert_int_equal(p.len, 17);
    /* The rest of the oversized packet is garbage now; the next packet is still found. */
    size_t b = make_pkt(wire + a, CBR_OP_NOP, 4, NULL, 0);
    size_t off = CBR_PROTO_HDR;
    enum cbr_read_result res;
    while ((res = cbr_reader_next(&r, &p, &pl)) == CBR_READ_NEED_MORE && off < a + b)
        off += cbr_reader_feed(&r, wire + off, a + b - off);
    assert_int_equal(res, CBR_READ_PACKET);
    assert_int_equal(p.seq, 4);
    cbr_reader_free(&r);
}

static void test_reader_wrong_version_is_reported(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[100];
    size_t n = make_pkt(wire, CBR_OP_NOP, 9, NULL, 0);
    wire[4] = 2;
    uint32_t hcrc = cbr_crc32(0, wire, 28);
    memcpy(wire + 28, &hcrc, 4); /* little-endian host */
    cbr_reader_feed(&r, wire, n);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_BAD_VERSION);
    assert_int_equal(p.version, 2);
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_NEED_MORE);
    cbr_reader_free(&r);
}

static void test_reader_magic_inside_a_payload_does_not_split_it(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 128), 0);
    uint8_t inner[64], wire[200];
    size_t in = make_pkt(inner, CBR_OP_RUN, 1000, NULL, 0); /* a whole packet as payload */
    size_t n = make_pkt(wire, CBR_OP_NOP, 1, inner, (uint32_t)in);
    cbr_reader_feed(&r, wire, n);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_PACKET);
    assert_int_equal(p.seq, 1);
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_NEED_MORE);
    cbr_reader_free(&r);
}

static void test_reader_feed_takes_only_what_fits(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 8), 0);
    uint8_t junk[100];
    memset(junk, 0xAA, sizeof junk);
    size_t took = cbr_reader_feed(&r, junk, sizeof junk);
    assert_int_equal(took, r.cap);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_NEED_MORE);
    /* Scanning kept the last 3 bytes (a magic could start there); the rest is free again. */
    assert_int_equal(r.len, 3);
    assert_int_equal(cbr_reader_feed(&r, junk, sizeof junk - took), r.cap - 3);
    cbr_reader_reset(&r);
    assert_int_equal(r.len, 0);
    cbr_reader_free(&r);
}

/*
 * A stream of random packets, some corrupted (a flipped bit anywhere), with random garbage
 * between them, fed in random chunks: every intact packet must come out, in order, exactly;
 * no corrupted packet may come out as good.
 */
static void test_reader_random_stream_never_passes_a_corrupted_packet(void **state)
{
    (void)state;
    rng = seed;
    enum { PACKETS = 3000, MAXP = 300 };
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, MAXP), 0);
    size_t cap = (size_t)PACKETS * (MAXP + 64 + 40);
    uint8_t *stream = malloc(cap);
    bool *intact = calloc(PACKETS, sizeof(bool));
    uint32_t *lens = calloc(PACKETS, sizeof(uint32_t));
    size_t pos = 0;
    int n_intact = 0;
    for (uint32_t i = 0; i < PACKETS; i++) {
        size_t g = rnd(4) == 0 ? rnd(40) : 0;
        for (size_t k = 0; k < g; k++)
            stream[pos++] = (uint8_t)rnd(256);
        uint8_t payload[MAXP];
        lens[i] = rnd(MAXP + 1);
        for (uint32_t k = 0; k < lens[i]; k++)
            payload[k] = (uint8_t)(i + k);
        size_t n = make_pkt(stream + pos, CBR_OP_BUF_WRITE, i, payload, lens[i]);
        intact[i] = rnd(5) != 0;
        if (!intact[i])
            stream[pos + rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8));
        n_intact += intact[i];
        pos += n;
    }
    size_t fed = 0;
    int got = 0;
    uint32_t last = 0;
    bool first = true;
    for (;;) {
        struct cbr_pkt p;
        const uint8_t *pl;
        enum cbr_read_result res = cbr_reader_next(&r, &p, &pl);
        if (res == CBR_READ_NEED_MORE) {
            if (fed == pos)
                break;
            size_t chunk = 1 + rnd(700);
            if (chunk > pos - fed)
                chunk = pos - fed;
            fed += cbr_reader_feed(&r, stream + fed, chunk);
            continue;
        }
        if (res != CBR_READ_PACKET)
            continue;
        assert_true(p.seq < PACKETS);
        if (!intact[p.seq]) {
            fail_msg("seed %llu: corrupted packet %u passed as good",
                     (unsigned long long)seed, p.seq);
        }
        assert_true(first || p.seq > last);
        assert_int_equal(p.len, lens[p.seq]);
        for (uint32_t k = 0; k < p.len; k++)
            assert_int_equal(pl[k], (uint8_t)(p.seq + k));
        first = false;
        last = p.seq;
        got++;
    }
    if (got != n_intact)
        fail_msg("seed %llu: %d of %d intact packets recovered", (unsigned long long)seed, got,
                 n_intact);
    free(stream);
    free(intact);
    free(lens);
    cbr_reader_free(&r);
}

static void test_reader_nonzero_pad_byte_is_a_bad_packet(void **state)
{
    (void)state;
    struct cbr_reader r;
    assert_int_equal(cbr_reader_init(&r, 64), 0);
    uint8_t wire[100];
    size_t n = make_pkt(wire, CBR_OP_NOP, 12, "abcde", 5);
    assert_int_equal(n % 4, 0);
    wire[32 + 6] = 1; /* a pad byte; then make the CRC right, so only the pad is wrong */
    uint32_t crc = cbr_crc32(0, wire, n - 4);
    memcpy(wire + n - 4, &crc, 4);
    cbr_reader_feed(&r, wire, n);
    struct cbr_pkt p;
    const uint8_t *pl;
    assert_int_equal(cbr_reader_next(&r, &p, &pl), CBR_READ_BAD_CRC);
    assert_int_equal(p.seq, 12);
    cbr_reader_free(&r);
}

static void test_wire_size_is_whole_words(void **state)
{
    (void)state;
    for (uint32_t len = 0; len < 64; len++) {
        assert_int_equal(cbr_pkt_wire_size(len) % 4, 0);
        assert_true(cbr_pkt_wire_size(len) >= 36 + len);
        assert_true(cbr_pkt_wire_size(len) < 40 + len);
    }
}

static void test_only_run_is_not_idempotent(void **state)
{
    (void)state;
    static const uint8_t ops[] = {CBR_OP_NOP, CBR_OP_INFO, CBR_OP_RESET, CBR_OP_REG_WRITE,
                                  CBR_OP_REG_READ, CBR_OP_BUF_WRITE, CBR_OP_BUF_READ};
    for (size_t i = 0; i < sizeof ops; i++) {
        assert_true(cbr_op_idempotent(ops[i]));
        assert_string_not_equal(cbr_op_name(ops[i]), "?");
    }
    assert_false(cbr_op_idempotent(CBR_OP_RUN));
    assert_string_equal(cbr_op_name(0xEE), "?");
    assert_string_equal(cbr_status_name(CBR_ST_BAD_CRC), "BAD_CRC");
    assert_string_equal(cbr_status_name(200), "?");
}

static void test_scatter_arg_packs_chunk_low_and_pitch_high(void **state)
{
    (void)state;
    /* BUF_WRITE arg2 (docs/protocol.md, "Scatter writes"): CHUNK in [15:0], PITCH in [31:16]. */
    assert_int_equal(CBR_BUF_SCATTER(3, 16), 0x00100003u);
    assert_int_equal(CBR_BUF_SCATTER(1, 65535), 0xFFFF0001u);
    assert_int_equal(CBR_BUF_SCATTER(65535, 65535), 0xFFFFFFFFu);
    uint8_t b[40];
    struct cbr_pkt p = {.opcode = CBR_OP_BUF_WRITE, .arg2 = CBR_BUF_SCATTER(3, 16)};
    cbr_pkt_encode(&p, NULL, b);
    static const uint8_t arg2[4] = {3, 0, 16, 0};
    assert_memory_equal(b + 20, arg2, 4);
}

int main(void)
{
    seed = test_seed();
    printf("test_proto: seed %llu (replay with CBR_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_matches_the_standard_check_value),
        cmocka_unit_test(test_crc32_matches_a_bitwise_crc_on_long_buffers),
        cmocka_unit_test(test_encode_lays_out_the_header_as_documented),
        cmocka_unit_test(test_reader_round_trips_every_payload_size),
        cmocka_unit_test(test_reader_fed_one_byte_at_a_time_finds_the_packet),
        cmocka_unit_test(test_reader_skips_garbage_before_a_packet),
        cmocka_unit_test(test_reader_corrupt_header_is_skipped_and_next_packet_found),
        cmocka_unit_test(test_reader_bad_payload_crc_reports_the_sequence),
        cmocka_unit_test(test_reader_length_above_max_is_refused_without_waiting),
        cmocka_unit_test(test_reader_wrong_version_is_reported),
        cmocka_unit_test(test_reader_magic_inside_a_payload_does_not_split_it),
        cmocka_unit_test(test_reader_feed_takes_only_what_fits),
        cmocka_unit_test(test_reader_random_stream_never_passes_a_corrupted_packet),
        cmocka_unit_test(test_reader_nonzero_pad_byte_is_a_bad_packet),
        cmocka_unit_test(test_wire_size_is_whole_words),
        cmocka_unit_test(test_only_run_is_not_idempotent),
        cmocka_unit_test(test_scatter_arg_packs_chunk_low_and_pitch_high),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
