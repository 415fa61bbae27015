/*
 * test_npy.c - tensors and the .npy reader/writer (host/lib/tensor.c, host/lib/npy.c).
 *
 * Files are hand-built here byte by byte, so every header form and every malformation is
 * exercised without numpy. Run from the repository root: the last tests read
 * tests/fuzz/seeds/npy and tests/fuzz/regress/npy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbr.h"

#define NAME "T.npy"
#define SEED_DIR "tests/fuzz/seeds/npy"
#define REGRESS_DIR "tests/fuzz/regress/npy"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A .npy file from a header given verbatim (length hl) and raw data; free() it. */
static uint8_t *npy_build_n(unsigned major, const char *header, size_t hl, const void *data,
                            size_t dlen, size_t *len)
{
    size_t ls = major == 1 ? 2 : 4;
    size_t n = 8 + ls + hl + dlen;
    uint8_t *p = malloc(n);

    assert_non_null(p);
    memcpy(p, "\x93NUMPY", 6);
    p[6] = (uint8_t)major;
    p[7] = 0;
    for (size_t i = 0; i < ls; i++)
        p[8 + i] = (uint8_t)(hl >> (8 * i));
    memcpy(p + 8 + ls, header, hl);
    if (dlen > 0)
        memcpy(p + 8 + ls + hl, data, dlen);
    *len = n;
    return p;
}

static uint8_t *npy_build(unsigned major, const char *header, const void *data, size_t dlen,
                          size_t *len)
{
    return npy_build_n(major, header, strlen(header), data, dlen, len);
}

/* The message must start with the name and contain needle. */
static void assert_msg(const char *name, const char *needle)
{
    const char *msg = cbr_errmsg(NULL);

    if (strncmp(msg, name, strlen(name)) != 0 || msg[strlen(name)] != ':')
        fail_msg("message '%s' does not start with '%s:'", msg, name);
    if (needle != NULL && strstr(msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", msg, needle);
}

static void expect_parse_fail(const uint8_t *p, size_t len, int code, const char *needle)
{
    cbr_tensor *t = (cbr_tensor *)&t;
    int ret = cbr_npy_parse(p, len, NAME, &t);

    if (ret != code)
        fail_msg("expected %d, got %d (%s)", code, ret, cbr_errmsg(NULL));
    assert_null(t);
    assert_msg(NAME, needle);
}

/* Build a v1 file from header + data and expect the parse to fail. */
static void expect_header_fail(const char *header, const void *data, size_t dlen, int code,
                               const char *needle)
{
    size_t len;
    uint8_t *p = npy_build(1, header, data, dlen, &len);

    expect_parse_fail(p, len, code, needle);
    free(p);
}

/* Build a file and parse it; the test fails unless it parses. */
static cbr_tensor *parse_ok(unsigned major, const char *header, const void *data, size_t dlen)
{
    cbr_tensor *t = NULL;
    size_t len;
    uint8_t *p = npy_build(major, header, data, dlen, &len);
    int ret = cbr_npy_parse(p, len, NAME, &t);

    free(p);
    if (ret != 0)
        fail_msg("parse of %s failed: %d %s", header, ret, cbr_errmsg(NULL));
    assert_non_null(t);
    return t;
}

static void assert_shape(const cbr_tensor *t, uint32_t ndim, const uint64_t *shape)
{
    uint64_t count = 1;

    assert_int_equal(t->ndim, ndim);
    for (uint32_t i = 0; i < ndim; i++) {
        assert_int_equal(t->shape[i], shape[i]);
        count *= shape[i];
    }
    assert_int_equal(t->count, count);
}

static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* A scratch directory under /tmp, removed (with its files) by rm_dir. */
static void make_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/cbr_test_npy.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void rm_dir(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    struct stat st;
    uint8_t *p;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    p = malloc((size_t)st.st_size + 1);
    assert_non_null(p);
    assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

static cbr_tensor *make_tensor(cbr_dtype dtype, uint32_t ndim, const uint64_t *shape,
                               uint32_t seed)
{
    cbr_tensor *t = NULL;
    uint8_t *d;

    assert_int_equal(cbr_tensor_create(&t, dtype, ndim, shape), 0);
    d = t->data;
    for (uint64_t i = 0; i < t->count * cbr_dtype_size(dtype); i++)
        d[i] = (uint8_t)lcg(&seed);
    return t;
}

static void assert_tensors_equal(const cbr_tensor *a, const cbr_tensor *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_shape(b, a->ndim, a->shape);
    assert_memory_equal(a->data, b->data, a->count * cbr_dtype_size(a->dtype));
}

/* ---- tensors ---------------------------------------------------------------------------- */

static void test_dtype_size_and_name_cover_all_dtypes(void **state)
{
    (void)state;
    assert_int_equal(cbr_dtype_size(CBR_DTYPE_INT8), 1);
    assert_int_equal(cbr_dtype_size(CBR_DTYPE_UINT8), 1);
    assert_int_equal(cbr_dtype_size(CBR_DTYPE_INT32), 4);
    assert_int_equal(cbr_dtype_size(CBR_DTYPE_FLOAT32), 4);
    assert_int_equal(cbr_dtype_size((cbr_dtype)42), 0);
    assert_string_equal(cbr_dtype_name(CBR_DTYPE_INT8), "int8");
    assert_string_equal(cbr_dtype_name(CBR_DTYPE_UINT8), "uint8");
    assert_string_equal(cbr_dtype_name(CBR_DTYPE_INT32), "int32");
    assert_string_equal(cbr_dtype_name(CBR_DTYPE_FLOAT32), "float32");
    assert_non_null(cbr_dtype_name((cbr_dtype)42));
}

static void test_tensor_create_zero_fills_and_sets_count(void **state)
{
    const uint64_t shape[] = {2, 3, 4};
    cbr_tensor *t = NULL;
    const int32_t *d;

    (void)state;
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT32, 3, shape), 0);
    assert_int_equal(t->dtype, CBR_DTYPE_INT32);
    assert_shape(t, 3, shape);
    d = t->data;
    for (size_t i = 0; i < 24; i++)
        assert_int_equal(d[i], 0);
    cbr_tensor_free(t);
}

static void test_tensor_create_scalar_has_one_element(void **state)
{
    cbr_tensor *t = NULL;

    (void)state;
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_FLOAT32, 0, NULL), 0);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->count, 1);
    assert_non_null(t->data);
    cbr_tensor_free(t);
}

static void test_tensor_create_overflow_returns_erange(void **state)
{
    const uint64_t count_overflow[] = {UINT64_C(1) << 32, UINT64_C(1) << 32};
    const uint64_t bytes_overflow[] = {UINT64_C(1) << 62};
    cbr_tensor *t = (cbr_tensor *)&t;

    (void)state;
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT8, 2, count_overflow), CBR_ERANGE);
    assert_null(t);
    assert_non_null(strstr(cbr_errmsg(NULL), "overflows"));
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT32, 1, bytes_overflow), CBR_ERANGE);
    assert_null(t);
}

static void test_tensor_create_bad_arguments_fail(void **state)
{
    const uint64_t shape[CBR_TENSOR_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint64_t empty[] = {2, 0};
    cbr_tensor *t = NULL;

    (void)state;
    assert_int_equal(cbr_tensor_create(NULL, CBR_DTYPE_INT8, 1, shape), CBR_EINVAL);
    assert_int_equal(cbr_tensor_create(&t, (cbr_dtype)9, 1, shape), CBR_EINVAL);
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT8, 1, NULL), CBR_EINVAL);
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT8, 2, empty), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "dimension 1 is 0"));
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT8, CBR_TENSOR_MAX_DIMS + 1, shape),
                     CBR_ERANGE);
    assert_null(t);
}

static void test_tensor_free_accepts_null(void **state)
{
    (void)state;
    cbr_tensor_free(NULL);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void round_trip_all_shapes(cbr_dtype dtype)
{
    static const struct {
        uint32_t ndim;
        uint64_t shape[CBR_TENSOR_MAX_DIMS];
    } shapes[] = {
        {0, {0}}, {1, {1}}, {1, {5}}, {2, {2, 3}}, {3, {3, 1, 7}}, {4, {1, 3, 5, 4}},
        {1, {1000}}, {8, {1, 2, 1, 3, 1, 2, 1, 2}},
    };

    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        cbr_tensor *a = make_tensor(dtype, shapes[i].ndim, shapes[i].shape, (uint32_t)i);
        cbr_tensor *b = NULL;
        void *bytes = NULL;
        size_t len = 0, hlen;
        const uint8_t *p;

        assert_int_equal(cbr_npy_encode(a, &bytes, &len), 0);
        p = bytes;
        assert_memory_equal(p, "\x93NUMPY\x01\x00", 8);
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        assert_int_equal((10 + hlen) % 64, 0);
        assert_int_equal(len, 10 + hlen + a->count * cbr_dtype_size(dtype));
        assert_int_equal(cbr_npy_parse(bytes, len, NAME, &b), 0);
        assert_tensors_equal(a, b);
        cbr_tensor_free(a);
        cbr_tensor_free(b);
        free(bytes);
    }
}

static void test_npy_round_trip_int8_all_shapes(void **state)
{
    (void)state;
    round_trip_all_shapes(CBR_DTYPE_INT8);
}

static void test_npy_round_trip_uint8_all_shapes(void **state)
{
    (void)state;
    round_trip_all_shapes(CBR_DTYPE_UINT8);
}

static void test_npy_round_trip_int32_all_shapes(void **state)
{
    (void)state;
    round_trip_all_shapes(CBR_DTYPE_INT32);
}

static void test_npy_round_trip_float32_all_shapes(void **state)
{
    (void)state;
    round_trip_all_shapes(CBR_DTYPE_FLOAT32);
}

static void test_npy_encode_writes_numpy_header_and_little_endian_data(void **state)
{
    static const char want[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
    const uint64_t shape[] = {2};
    cbr_tensor *t = NULL;
    void *bytes = NULL;
    size_t len = 0;
    const uint8_t *p;
    int32_t *d;

    (void)state;
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT32, 1, shape), 0);
    d = t->data;
    d[0] = 0x01020304;
    d[1] = -2;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), 0);
    p = bytes;
    assert_int_equal(len, 128 + 8);
    assert_memory_equal(p, "\x93NUMPY\x01\x00\x76\x00", 10);
    assert_memory_equal(p + 10, want, strlen(want));
    for (size_t i = 10 + strlen(want); i < 127; i++)
        assert_int_equal(p[i], ' ');
    assert_int_equal(p[127], '\n');
    assert_memory_equal(p + 128, "\x04\x03\x02\x01\xfe\xff\xff\xff", 8);
    free(bytes);
    cbr_tensor_free(t);
}

static void test_npy_encode_writes_pipe_descr_for_bytes_and_empty_tuple_for_scalar(void **state)
{
    cbr_tensor *t = NULL;
    void *bytes = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_UINT8, 0, NULL), 0);
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), 0);
    assert_int_equal(len, 129);
    assert_non_null(memmem(bytes, len, "'descr': '|u1'", 14));
    assert_non_null(memmem(bytes, len, "'shape': ()", 11));
    free(bytes);
    cbr_tensor_free(t);
}

static void test_npy_encode_invalid_tensor_returns_einval(void **state)
{
    const uint64_t shape[] = {2, 3};
    cbr_tensor *t = NULL;
    void *bytes = (void *)&bytes;
    size_t len = 1;

    (void)state;
    assert_int_equal(cbr_npy_encode(NULL, &bytes, &len), CBR_EINVAL);
    assert_null(bytes);
    assert_int_equal(len, 0);
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_INT8, 2, shape), 0);
    assert_int_equal(cbr_npy_encode(t, NULL, &len), CBR_EINVAL);
    assert_int_equal(cbr_npy_encode(t, &bytes, NULL), CBR_EINVAL);
    t->count = 5;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "count 5"));
    t->count = 6;
    t->shape[1] = 0;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), CBR_EINVAL);
    t->shape[1] = 3;
    t->dtype = (cbr_dtype)7;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), CBR_EINVAL);
    t->dtype = CBR_DTYPE_INT8;
    t->ndim = CBR_TENSOR_MAX_DIMS + 1;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), CBR_EINVAL);
    t->ndim = 2;
    assert_int_equal(cbr_npy_encode(t, &bytes, &len), 0);
    free(bytes);
    cbr_tensor_free(t);
}

/* ---- header forms ----------------------------------------------------------------------- */

static void test_npy_parse_v2_header(void **state)
{
    const int8_t data[] = {1, -2, 3, -4, 5, -6};
    const uint64_t shape[] = {3, 2};
    cbr_tensor *t;

    (void)state;
    t = parse_ok(2, "{'descr': '|i1', 'fortran_order': False, 'shape': (3, 2), }\n", data, 6);
    assert_int_equal(t->dtype, CBR_DTYPE_INT8);
    assert_shape(t, 2, shape);
    assert_memory_equal(t->data, data, 6);
    cbr_tensor_free(t);
}

static void test_npy_parse_v3_header(void **state)
{
    const float data[] = {1.5f, -2.25f};
    const uint64_t shape[] = {2};
    cbr_tensor *t;

    (void)state;
    t = parse_ok(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}      \n", data,
                 sizeof data);
    assert_int_equal(t->dtype, CBR_DTYPE_FLOAT32);
    assert_shape(t, 1, shape);
    assert_memory_equal(t->data, data, sizeof data);
    cbr_tensor_free(t);
}

static void test_npy_parse_v3_utf8_descr_returns_enotsup(void **state)
{
    size_t len;
    uint8_t *p = npy_build(3, "{'descr': '<\xc3\xa9', 'fortran_order': False, 'shape': (), }\n",
                           NULL, 0, &len);

    (void)state;
    expect_parse_fail(p, len, CBR_ENOTSUP, "dtype '<\\xc3\\xa9' is not supported");
    free(p);
}

static void test_npy_parse_keys_in_any_order_with_double_quotes_and_whitespace(void **state)
{
    const uint8_t data[] = {7, 8};
    const uint64_t shape[] = {1, 2};
    cbr_tensor *t;

    (void)state;
    t = parse_ok(1, "  {\"shape\":(1,2),\t\"descr\" :\"|u1\" ,\n'fortran_order'  :  False}\n",
                 data, 2);
    assert_int_equal(t->dtype, CBR_DTYPE_UINT8);
    assert_shape(t, 2, shape);
    assert_memory_equal(t->data, data, 2);
    cbr_tensor_free(t);
}

static void test_npy_parse_shape_forms(void **state)
{
    static const struct {
        const char *shape;
        uint32_t ndim;
        uint64_t dims[3];
    } cases[] = {
        {"()", 0, {0}}, {"(5,)", 1, {5}}, {"(2, 3)", 2, {2, 3}}, {"(2,3,)", 2, {2, 3}},
        {"( 4 , )", 1, {4}}, {"(2L, 3L)", 2, {2, 3}}, {"(1,\n 2,\n 3)", 3, {1, 2, 3}},
        {"(007,)", 1, {7}},
    };
    uint8_t data[64] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char header[128];
        cbr_tensor *t;
        uint64_t count = 1;

        for (uint32_t k = 0; k < cases[i].ndim; k++)
            count *= cases[i].dims[k];
        snprintf(header, sizeof header,
                 "{'descr': '|i1', 'fortran_order': False, 'shape': %s, }\n", cases[i].shape);
        t = parse_ok(1, header, data, (size_t)count);
        assert_shape(t, cases[i].ndim, cases[i].dims);
        cbr_tensor_free(t);
    }
}

static void test_npy_parse_big_endian_int32_is_byte_swapped(void **state)
{
    const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xfe};
    cbr_tensor *t;
    const int32_t *d;

    (void)state;
    t = parse_ok(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }\n", data, 8);
    assert_int_equal(t->dtype, CBR_DTYPE_INT32);
    d = t->data;
    assert_int_equal(d[0], 0x01020304);
    assert_int_equal(d[1], -2);
    cbr_tensor_free(t);
}

static void test_npy_parse_big_endian_float32_is_byte_swapped(void **state)
{
    const uint8_t data[] = {0x3f, 0xc0, 0x00, 0x00, 0xc0, 0x10, 0x00, 0x00};
    cbr_tensor *t;
    const float *d;

    (void)state;
    t = parse_ok(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", data, 8);
    assert_int_equal(t->dtype, CBR_DTYPE_FLOAT32);
    d = t->data;
    assert_true(d[0] == 1.5f);
    assert_true(d[1] == -2.25f);
    cbr_tensor_free(t);
}

static void test_npy_parse_accepts_every_descr_spelling(void **state)
{
    static const struct {
        const char *descr;
        cbr_dtype dtype;
    } cases[] = {
        {"|i1", CBR_DTYPE_INT8}, {"<i1", CBR_DTYPE_INT8}, {">i1", CBR_DTYPE_INT8},
        {"i1", CBR_DTYPE_INT8}, {"|u1", CBR_DTYPE_UINT8}, {"<u1", CBR_DTYPE_UINT8},
        {"u1", CBR_DTYPE_UINT8}, {"<i4", CBR_DTYPE_INT32}, {">i4", CBR_DTYPE_INT32},
        {"=i4", CBR_DTYPE_INT32}, {"i4", CBR_DTYPE_INT32}, {"<f4", CBR_DTYPE_FLOAT32},
        {">f4", CBR_DTYPE_FLOAT32}, {"f4", CBR_DTYPE_FLOAT32},
    };
    const uint8_t data[4] = {1, 2, 3, 4};

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char header[128];
        cbr_tensor *t;

        snprintf(header, sizeof header,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (), }\n", cases[i].descr);
        t = parse_ok(1, header, data, cbr_dtype_size(cases[i].dtype));
        assert_int_equal(t->dtype, cases[i].dtype);
        assert_int_equal(t->ndim, 0);
        assert_int_equal(t->count, 1);
        cbr_tensor_free(t);
    }
}

/* ---- rejected headers ------------------------------------------------------------------- */

static void test_npy_parse_fortran_order_returns_enotsup(void **state)
{
    const uint8_t data[6] = {0};

    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }\n", data, 6,
                       CBR_ENOTSUP, "Fortran-order arrays are not supported; save with "
                       "np.ascontiguousarray");
}

static void test_npy_parse_unknown_dtype_returns_enotsup(void **state)
{
    static const char *const descrs[] = {
        "<f8", "<i8", "<i2", "<u4", "|b1", "<U3", "|O", "<c8", "", "<f2", "|S4", ">u2", "<M8[s]",
    };
    uint8_t data[8] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char header[128], needle[128];

        snprintf(header, sizeof header,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }\n", descrs[i]);
        snprintf(needle, sizeof needle, NAME ": dtype '%s' is not supported (int8, uint8, "
                 "int32 or float32)", descrs[i]);
        expect_header_fail(header, data, 8, CBR_ENOTSUP, needle);
    }
}

static void test_npy_parse_structured_dtype_returns_enotsup(void **state)
{
    const uint8_t data[4] = {0};

    (void)state;
    expect_header_fail("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }\n",
                       data, 4, CBR_ENOTSUP, "structured dtypes");
}

static void test_npy_parse_unknown_key_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (), 'extra': 1}\n",
                       "x", 1, CBR_EBADMSG, "header byte 64: unknown key 'extra'");
}

static void test_npy_parse_missing_key_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'fortran_order': False, 'shape': (), }\n", "x", 1, CBR_EBADMSG,
                       "missing key 'descr'");
    expect_header_fail("{'descr': '|i1', 'shape': (), }\n", "x", 1, CBR_EBADMSG,
                       "missing key 'fortran_order'");
    expect_header_fail("{'descr': '|i1', 'fortran_order': False}\n", "x", 1, CBR_EBADMSG,
                       "missing key 'shape'");
    expect_header_fail("{}\n", "x", 1, CBR_EBADMSG, "missing key");
}

static void test_npy_parse_duplicate_key_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (), 'shape': (1,)}\n",
                       "x", 1, CBR_EBADMSG, "header byte 64: duplicate key 'shape'");
    expect_header_fail("{'descr': '|i1', \"descr\": '|i1', 'fortran_order': False, "
                       "'shape': ()}\n", "x", 1, CBR_EBADMSG, "duplicate key 'descr'");
}

static void test_npy_parse_garbage_after_dict_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (), } x\n", "x", 1,
                       CBR_EBADMSG, "header byte 66: unexpected 'x' after the header dictionary");
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (), }}\n", "x", 1,
                       CBR_EBADMSG, "after the header dictionary");
}

static void test_npy_parse_header_without_newline_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (), }   ", "x", 1,
                       CBR_EBADMSG, "does not end with '\\n'");
}

static void test_npy_parse_malformed_header_returns_ebadmsg(void **state)
{
    static const struct {
        const char *header;
        const char *needle;
    } cases[] = {
        {"\n", "expected '{'"},
        {"('descr', '|i1')\n", "expected '{' to open the header dictionary, found '('"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': ()\n", "expected ',' or '}'"},
        {"{'descr': '|i1' 'fortran_order': False, 'shape': ()}\n", "expected ',' or '}'"},
        {"{'descr' '|i1', 'fortran_order': False, 'shape': ()}\n", "expected ':'"},
        {"{descr: '|i1', 'fortran_order': False, 'shape': ()}\n", "expected a quoted string"},
        {"{'descr': '|i1, 'fortran_order': False, 'shape': ()}\n", "expected ',' or '}'"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': ()\n}", "does not end"},
        {"{'descr': \"|i1', 'fortran_order': False, 'shape': ()}\n", "control byte 0x0a"},
        {"{'descr': '|i1\\x', 'fortran_order': False, 'shape': ()}\n", "escape sequence"},
        {"{'descr': |i1, 'fortran_order': False, 'shape': ()}\n", "expected a quoted string"},
        {"{'descr': '|i1', 'fortran_order': false, 'shape': ()}\n", "must be True or False"},
        {"{'descr': '|i1', 'fortran_order': 0, 'shape': ()}\n", "must be True or False"},
        {"{'descr': '|i1', 'fortran_order': Falsey, 'shape': ()}\n", "must be True or False"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1)}\n", "is not a tuple"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': 1}\n", "expected '('"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': [1]}\n", "expected '('"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (,)}\n", "expected a dimension"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1,,)}\n", "expected a dimension"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1 1)}\n", "expected ',' or ')'"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1.0,)}\n", "expected ',' or ')'"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (0x1,)}\n", "expected ',' or ')'"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (+1,)}\n", "expected a dimension"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1,\n", "expected a dimension"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (1,)", "found the end of the header"},
        {"{,}\n", "expected a quoted string"},
        {"{'descr': '|i1',, 'fortran_order': False, 'shape': ()}\n", "expected a quoted"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': ()}\n}\n", "unexpected '}'"},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': ()}\n\x01\n", "unexpected byte 0x01"},
    };
    uint8_t data[1] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_header_fail(cases[i].header, data, 1, CBR_EBADMSG, cases[i].needle);
}

static void test_npy_parse_l_suffix_only_before_v3(void **state)
{
    size_t len;
    uint8_t *p = npy_build(3, "{'descr': '|i1', 'fortran_order': False, 'shape': (1L,), }\n",
                           "x", 1, &len);

    (void)state;
    expect_parse_fail(p, len, CBR_EBADMSG, "expected ',' or ')'");
    free(p);
}

static void test_npy_parse_header_over_limit_returns_erange(void **state)
{
    uint8_t p[16] = "\x93NUMPY\x02\x00";
    uint32_t hl = CBR_NPY_MAX_HEADER + 1;

    (void)state;
    memcpy(p + 8, &hl, 4); /* little-endian host */
    expect_parse_fail(p, sizeof p, CBR_ERANGE, "header length 65537 (bytes 8-11) exceeds the "
                      "limit of 65536 bytes");
    memcpy(p + 6, "\x03\x00\xff\xff\xff\xff", 6);
    expect_parse_fail(p, sizeof p, CBR_ERANGE, "header length 4294967295");
}

static void test_npy_parse_header_at_limit_is_accepted(void **state)
{
    static const char dict[] = "{'descr': '|i1', 'fortran_order': False, 'shape': (), }";
    char *header = malloc(CBR_NPY_MAX_HEADER + 1);
    cbr_tensor *t;

    (void)state;
    assert_non_null(header);
    memset(header, ' ', CBR_NPY_MAX_HEADER);
    memcpy(header, dict, strlen(dict));
    header[CBR_NPY_MAX_HEADER - 1] = '\n';
    header[CBR_NPY_MAX_HEADER] = '\0';
    t = parse_ok(2, header, "x", 1);
    assert_int_equal(t->count, 1);
    cbr_tensor_free(t);
    free(header);
}

static void test_npy_parse_shape_times_itemsize_overflow_returns_erange(void **state)
{
    (void)state;
    /* 2^32 * 2^32 elements overflow the count. */
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, "
                       "'shape': (4294967296, 4294967296), }\n", "x", 1, CBR_ERANGE,
                       "shape (4294967296, 4294967296) overflows 64 bits at dimension 1");
    /* 2^62 elements fit, 2^64 bytes of int32 do not. */
    expect_header_fail("{'descr': '<i4', 'fortran_order': False, "
                       "'shape': (4611686018427387904,), }\n", "x", 1, CBR_ERANGE,
                       "more than 2^64-1 bytes");
    /* 2^64 - 2^32 bytes fit in 64 bits: then the file is merely truncated. */
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, "
                       "'shape': (4294967296, 4294967295), }\n", "x", 1, CBR_EBADMSG,
                       "truncated");
}

static void test_npy_parse_dimension_over_uint64_returns_erange(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, "
                       "'shape': (2, 18446744073709551616), }\n", "x", 1, CBR_ERANGE,
                       "dimension 1 in 'shape' is larger than 2^64-1");
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, "
                       "'shape': (99999999999999999999999999999999999999,), }\n", "x", 1,
                       CBR_ERANGE, "dimension 0");
}

static void test_npy_parse_too_many_dims_returns_erange(void **state)
{
    cbr_tensor *t;

    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, "
                       "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }\n", "x", 1, CBR_ERANGE,
                       "'shape' has 9 dimensions, more than the limit of 8");
    t = parse_ok(1, "{'descr': '|i1', 'fortran_order': False, "
                 "'shape': (1, 1, 1, 1, 1, 1, 1, 1), }\n", "x", 1);
    assert_int_equal(t->ndim, 8);
    cbr_tensor_free(t);
}

static void test_npy_parse_negative_dimension_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (2, -3), }\n", "x", 1,
                       CBR_EBADMSG, "header byte 64: dimension 1 in 'shape' is negative");
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (-1,), }\n", "x", 1,
                       CBR_EBADMSG, "dimension 0 in 'shape' is negative");
}

static void test_npy_parse_zero_dimension_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 0), }\n", "", 0,
                       CBR_EBADMSG, "dimension 1 is 0: empty tensors are not supported");
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (0,), }\n", "", 0,
                       CBR_EBADMSG, "dimension 0 is 0: empty tensors are not supported");
}

/* Every proper prefix of a valid file is truncated, and the message says in which part. */
static void truncate_everywhere(unsigned major)
{
    static const char header[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n";
    const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t len, hstart = major == 1 ? 10 : 12;
    uint8_t *p = npy_build(major, header, data, sizeof data, &len);

    for (size_t n = 0; n < len; n++) {
        const char *part;
        uint8_t *copy = malloc(n + 1); /* exact size, so ASan sees any overread */

        assert_non_null(copy);
        memcpy(copy, p, n);
        if (n < 6)
            part = "in the magic string";
        else if (n < 8)
            part = "in the version";
        else if (n < hstart)
            part = "in the header length";
        else if (n < hstart + strlen(header))
            part = "in the header (";
        else
            part = "in the data";
        expect_parse_fail(n ? copy : NULL, n, CBR_EBADMSG, "truncated at byte");
        expect_parse_fail(copy, n, CBR_EBADMSG, part);
        free(copy);
    }
    free(p);
}

static void test_npy_parse_truncated_at_every_byte_returns_ebadmsg(void **state)
{
    (void)state;
    truncate_everywhere(1);
    truncate_everywhere(2);
    truncate_everywhere(3);
}

static void test_npy_parse_trailing_bytes_returns_ebadmsg(void **state)
{
    (void)state;
    expect_header_fail("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }\n", "abc", 3,
                       CBR_EBADMSG, "1 trailing bytes after the data, from byte 70");
}

static void test_npy_parse_unsupported_version_returns_enotsup(void **state)
{
    static const uint8_t versions[][2] = {{4, 0}, {0, 0}, {1, 1}, {2, 5}, {255, 0}};
    uint8_t p[64] = "\x93NUMPY";

    (void)state;
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        char needle[64];

        p[6] = versions[i][0];
        p[7] = versions[i][1];
        snprintf(needle, sizeof needle, "version %u.%u (bytes 6-7) is not supported",
                 versions[i][0], versions[i][1]);
        expect_parse_fail(p, sizeof p, CBR_ENOTSUP, needle);
    }
}

static void test_npy_parse_non_ascii_header_before_v3_returns_ebadmsg(void **state)
{
    static const char header[] = "{'descr': '|i1', 'fortran_order': False, 'shape': (), }\xa0\n";

    (void)state;
    for (unsigned major = 1; major <= 2; major++) {
        size_t len;
        uint8_t *p = npy_build(major, header, "x", 1, &len);

        expect_parse_fail(p, len, CBR_EBADMSG, "non-ASCII byte 0xa0 in a version");
        expect_parse_fail(p, len, CBR_EBADMSG, major == 1 ? "header byte 65" : "header byte 67");
        free(p);
    }
}

static void test_npy_parse_nul_in_header_returns_ebadmsg(void **state)
{
    static const char header[] = "{'descr': '|i1\0', 'fortran_order': False, 'shape': (), }\n";
    size_t len;
    uint8_t *p = npy_build_n(1, header, sizeof header - 1, "x", 1, &len);

    (void)state;
    expect_parse_fail(p, len, CBR_EBADMSG, "header byte 24: control byte 0x00");
    free(p);
}

static void test_npy_parse_bad_magic_returns_ebadmsg(void **state)
{
    (void)state;
    expect_parse_fail((const uint8_t *)"PK\x03\x04", 4, CBR_EBADMSG,
                      "not a .npy file: byte 0 is 0x50");
    expect_parse_fail((const uint8_t *)"\x93NUMPX\x01\x00", 8, CBR_EBADMSG, "byte 5 is 0x58");
    expect_parse_fail((const uint8_t *)"\x93NUMPX", 3, CBR_EBADMSG, "truncated at byte 3");
}

static void test_npy_parse_zero_header_length_returns_ebadmsg(void **state)
{
    (void)state;
    expect_parse_fail((const uint8_t *)"\x93NUMPY\x01\x00\x00\x00", 10, CBR_EBADMSG,
                      "header length (bytes 8-9) is 0");
}

static void test_npy_parse_null_name_reports_memory(void **state)
{
    cbr_tensor *t = NULL;

    (void)state;
    assert_int_equal(cbr_npy_parse("junk", 4, NULL, &t), CBR_EBADMSG);
    assert_msg("<memory>", "not a .npy file");
}

static void test_npy_parse_null_arguments_return_einval(void **state)
{
    cbr_tensor *t = NULL;

    (void)state;
    assert_int_equal(cbr_npy_parse("x", 1, NAME, NULL), CBR_EINVAL);
    assert_int_equal(cbr_npy_parse(NULL, 10, NAME, &t), CBR_EINVAL);
    assert_null(t);
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_npy_save_then_load_round_trips(void **state)
{
    const uint64_t shape[] = {3, 4, 5};
    char dir[64], path[128];
    cbr_tensor *a = make_tensor(CBR_DTYPE_FLOAT32, 3, shape, 11);
    cbr_tensor *b = NULL;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.npy", dir);
    assert_int_equal(cbr_npy_save(path, a), 0);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(cbr_npy_load(path, &b), 0);
    assert_tensors_equal(a, b);
    cbr_tensor_free(b);
    /* Saving again replaces the file. */
    cbr_tensor_free(a);
    a = make_tensor(CBR_DTYPE_INT8, 1, shape, 12);
    assert_int_equal(cbr_npy_save(path, a), 0);
    assert_int_equal(cbr_npy_load(path, &b), 0);
    assert_tensors_equal(a, b);
    assert_int_equal(count_entries(dir), 1);
    cbr_tensor_free(a);
    cbr_tensor_free(b);
    rm_dir(dir);
}

static void test_npy_save_mode_is_0666_less_umask(void **state)
{
    const uint64_t shape[] = {2};
    char dir[64], path[128];
    cbr_tensor *a = make_tensor(CBR_DTYPE_INT8, 1, shape, 1);
    struct stat st;
    mode_t old = umask(027);

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.npy", dir);
    assert_int_equal(cbr_npy_save(path, a), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    umask(0);
    assert_int_equal(cbr_npy_save(path, a), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0666);
    umask(old);
    cbr_tensor_free(a);
    rm_dir(dir);
}

static void test_npy_save_into_missing_directory_returns_eio_leaving_nothing(void **state)
{
    const uint64_t shape[] = {2};
    char dir[64], path[160];
    cbr_tensor *a = make_tensor(CBR_DTYPE_INT8, 1, shape, 1);
    struct stat st;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/missing/a.npy", dir);
    assert_int_equal(cbr_npy_save(path, a), CBR_EIO);
    assert_msg(path, "No such file or directory");
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(count_entries(dir), 0);
    cbr_tensor_free(a);
    rm_dir(dir);
}

/* A write that fails part-way (the file size limit, which binds even root) must leave the
 * old file as it was and no temporary file behind. */
static void test_npy_save_write_failure_leaves_existing_file_untouched(void **state)
{
    const uint64_t small_shape[] = {4};
    const uint64_t big_shape[] = {64, 1024};
    char dir[64], path[128];
    cbr_tensor *small = make_tensor(CBR_DTYPE_INT8, 1, small_shape, 1);
    cbr_tensor *big = make_tensor(CBR_DTYPE_INT32, 2, big_shape, 2);
    cbr_tensor *back = NULL;
    struct rlimit old, lim;
    void (*old_handler)(int);
    uint8_t *before, *after;
    size_t before_len, after_len;
    int ret;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.npy", dir);
    assert_int_equal(cbr_npy_save(path, small), 0);
    before = read_whole(path, &before_len);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = old.rlim_max < 4096 ? old.rlim_max : 4096;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ret = cbr_npy_save(path, big);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(ret, CBR_EIO);
    assert_msg(path, "File too large");
    after = read_whole(path, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(cbr_npy_load(path, &back), 0);
    assert_tensors_equal(small, back);
    free(before);
    free(after);
    cbr_tensor_free(back);
    cbr_tensor_free(small);
    cbr_tensor_free(big);
    rm_dir(dir);
}

/* The rename is the last step: when it fails (here: path is a directory) the temporary
 * file goes and the directory stays. */
static void test_npy_save_over_directory_returns_eio_removing_temporary(void **state)
{
    const uint64_t shape[] = {2};
    char dir[64], path[128];
    cbr_tensor *a = make_tensor(CBR_DTYPE_INT8, 1, shape, 1);
    struct stat st;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.npy", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(cbr_npy_save(path, a), CBR_EIO);
    assert_msg(path, "cannot rename");
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(rmdir(path), 0);
    cbr_tensor_free(a);
    rm_dir(dir);
}

static void test_npy_save_invalid_arguments_return_einval(void **state)
{
    const uint64_t shape[] = {2};
    char dir[64], path[128];
    cbr_tensor *a = make_tensor(CBR_DTYPE_INT8, 1, shape, 1);

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.npy", dir);
    assert_int_equal(cbr_npy_save(NULL, a), CBR_EINVAL);
    assert_int_equal(cbr_npy_save("", a), CBR_EINVAL);
    assert_int_equal(cbr_npy_save(path, NULL), CBR_EINVAL);
    assert_msg(path, "tensor is NULL");
    a->count = 3;
    assert_int_equal(cbr_npy_save(path, a), CBR_EINVAL);
    assert_int_equal(count_entries(dir), 0);
    cbr_tensor_free(a);
    rm_dir(dir);
}

static void test_npy_load_missing_file_returns_enoent(void **state)
{
    cbr_tensor *t = (cbr_tensor *)&t;

    (void)state;
    assert_int_equal(cbr_npy_load("/nonexistent/cbr/x.npy", &t), CBR_ENOENT);
    assert_null(t);
    assert_msg("/nonexistent/cbr/x.npy", "no such file");
}

static void test_npy_load_directory_returns_eio(void **state)
{
    cbr_tensor *t = NULL;

    (void)state;
    assert_int_equal(cbr_npy_load("/tmp", &t), CBR_EIO);
    assert_null(t);
    assert_msg("/tmp", "directory");
}

static void test_npy_load_file_over_4gib_returns_erange(void **state)
{
    char dir[64], path[128];
    cbr_tensor *t = NULL;
    int fd;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.npy", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    if (ftruncate(fd, ((off_t)4 << 30) + 1) != 0) {
        close(fd);
        rm_dir(dir);
        skip(); /* no sparse files here */
    }
    close(fd);
    assert_int_equal(cbr_npy_load(path, &t), CBR_ERANGE);
    assert_null(t);
    assert_msg(path, "larger than the limit of 4 GiB");
    rm_dir(dir);
}

static void test_npy_load_parse_error_names_the_path(void **state)
{
    char dir[64], path[128];
    cbr_tensor *t = NULL;
    size_t len;
    uint8_t *p = npy_build(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
                           "12345678", 8, &len);
    FILE *f;

    (void)state;
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/W.npy", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(p);
    assert_int_equal(cbr_npy_load(path, &t), CBR_ENOTSUP);
    assert_null(t);
    assert_msg(path, "dtype '<f8' is not supported (int8, uint8, int32 or float32)");
    rm_dir(dir);
}

/* ---- corpus files ----------------------------------------------------------------------- */

/* Parse every file in dir; returns how many there were. */
static size_t parse_dir(const char *dir, bool must_succeed)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        fail_msg("cannot open %s (run from the repository root): %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        char path[512];
        struct stat st;
        cbr_tensor *t = NULL;
        uint8_t *bytes;
        size_t len;
        int ret;

        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        bytes = read_whole(path, &len);
        ret = cbr_npy_parse(bytes, len, path, &t);
        if (ret == 0) {
            assert_non_null(t);
            assert_true(t->count >= 1);
        } else {
            assert_true(ret < 0);
            assert_null(t);
            assert_msg(path, NULL);
            if (must_succeed)
                fail_msg("%s: %d %s", path, ret, cbr_errmsg(NULL));
        }
        /* The same through the file API. */
        cbr_tensor_free(t);
        t = NULL;
        assert_int_equal(cbr_npy_load(path, &t), ret);
        cbr_tensor_free(t);
        free(bytes);
        n++;
    }
    closedir(d);
    return n;
}

static void test_npy_seed_files_parse(void **state)
{
    (void)state;
    assert_true(parse_dir(SEED_DIR, true) > 0);
}

static void test_npy_regress_files_return_cleanly(void **state)
{
    (void)state;
    assert_true(parse_dir(REGRESS_DIR, false) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_size_and_name_cover_all_dtypes),
        cmocka_unit_test(test_tensor_create_zero_fills_and_sets_count),
        cmocka_unit_test(test_tensor_create_scalar_has_one_element),
        cmocka_unit_test(test_tensor_create_overflow_returns_erange),
        cmocka_unit_test(test_tensor_create_bad_arguments_fail),
        cmocka_unit_test(test_tensor_free_accepts_null),
        cmocka_unit_test(test_npy_round_trip_int8_all_shapes),
        cmocka_unit_test(test_npy_round_trip_uint8_all_shapes),
        cmocka_unit_test(test_npy_round_trip_int32_all_shapes),
        cmocka_unit_test(test_npy_round_trip_float32_all_shapes),
        cmocka_unit_test(test_npy_encode_writes_numpy_header_and_little_endian_data),
        cmocka_unit_test(test_npy_encode_writes_pipe_descr_for_bytes_and_empty_tuple_for_scalar),
        cmocka_unit_test(test_npy_encode_invalid_tensor_returns_einval),
        cmocka_unit_test(test_npy_parse_v2_header),
        cmocka_unit_test(test_npy_parse_v3_header),
        cmocka_unit_test(test_npy_parse_v3_utf8_descr_returns_enotsup),
        cmocka_unit_test(test_npy_parse_keys_in_any_order_with_double_quotes_and_whitespace),
        cmocka_unit_test(test_npy_parse_shape_forms),
        cmocka_unit_test(test_npy_parse_big_endian_int32_is_byte_swapped),
        cmocka_unit_test(test_npy_parse_big_endian_float32_is_byte_swapped),
        cmocka_unit_test(test_npy_parse_accepts_every_descr_spelling),
        cmocka_unit_test(test_npy_parse_fortran_order_returns_enotsup),
        cmocka_unit_test(test_npy_parse_unknown_dtype_returns_enotsup),
        cmocka_unit_test(test_npy_parse_structured_dtype_returns_enotsup),
        cmocka_unit_test(test_npy_parse_unknown_key_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_missing_key_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_duplicate_key_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_garbage_after_dict_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_header_without_newline_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_malformed_header_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_l_suffix_only_before_v3),
        cmocka_unit_test(test_npy_parse_header_over_limit_returns_erange),
        cmocka_unit_test(test_npy_parse_header_at_limit_is_accepted),
        cmocka_unit_test(test_npy_parse_shape_times_itemsize_overflow_returns_erange),
        cmocka_unit_test(test_npy_parse_dimension_over_uint64_returns_erange),
        cmocka_unit_test(test_npy_parse_too_many_dims_returns_erange),
        cmocka_unit_test(test_npy_parse_negative_dimension_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_zero_dimension_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_truncated_at_every_byte_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_trailing_bytes_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_unsupported_version_returns_enotsup),
        cmocka_unit_test(test_npy_parse_non_ascii_header_before_v3_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_nul_in_header_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_bad_magic_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_zero_header_length_returns_ebadmsg),
        cmocka_unit_test(test_npy_parse_null_name_reports_memory),
        cmocka_unit_test(test_npy_parse_null_arguments_return_einval),
        cmocka_unit_test(test_npy_save_then_load_round_trips),
        cmocka_unit_test(test_npy_save_mode_is_0666_less_umask),
        cmocka_unit_test(test_npy_save_into_missing_directory_returns_eio_leaving_nothing),
        cmocka_unit_test(test_npy_save_write_failure_leaves_existing_file_untouched),
        cmocka_unit_test(test_npy_save_over_directory_returns_eio_removing_temporary),
        cmocka_unit_test(test_npy_save_invalid_arguments_return_einval),
        cmocka_unit_test(test_npy_load_missing_file_returns_enoent),
        cmocka_unit_test(test_npy_load_directory_returns_eio),
        cmocka_unit_test(test_npy_load_file_over_4gib_returns_erange),
        cmocka_unit_test(test_npy_load_parse_error_names_the_path),
        cmocka_unit_test(test_npy_seed_files_parse),
        cmocka_unit_test(test_npy_regress_files_return_cleanly),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
