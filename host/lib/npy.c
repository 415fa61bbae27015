/*
 * npy.c - NumPy .npy files: a parser over bytes, an encoder to bytes, and file load/save.
 *
 * The format (numpy.lib.format): the magic "\x93NUMPY", a major and minor version byte, the
 * header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), the header
 * (a Python dict literal, ASCII in 1.0 and 2.0, UTF-8 in 3.0, terminated by '\n' and
 * space-padded), then the raw C-order data.
 *
 * The reader is strict because its input is untrusted: the header dict is parsed token by
 * token rather than searched for substrings, every size is checked for overflow before
 * anything is allocated, and the file must be exactly header + data. Each message starts
 * with the file name and says which byte or which key is at fault.
 */
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64             /* numpy aligns the data to 64 bytes */
#define NPY_MAX_FILE_BYTES ((uint64_t)4 << 30) /* cbr_npy_load refuses larger files */
#define NPY_SHOW_MAX 48          /* longest string quoted in a message, before "..." */
#define NPY_MAX_NESTING 32       /* brackets deep in a skipped descr literal */

/* Why a dimension cannot be used; the first one is reported once the syntax is known good. */
enum dim_problem {
    DIM_OK = 0,
    DIM_NEGATIVE,
    DIM_ZERO,
    DIM_HUGE,                    /* more than 2^64-1 */
    DIM_TOO_MANY,                /* past CBR_TENSOR_MAX_DIMS */
};

/* A slice of the header: a string's contents. */
struct span {
    const uint8_t *s;
    size_t n;
};

/*
 * What the header dict says. Parsing records what it finds and checks only the syntax;
 * whether the values are usable is decided afterwards, so a malformed header is always
 * reported as malformed (CBR_EBADMSG) rather than as whatever value came first.
 */
struct npy_header {
    bool have_descr, have_fortran, have_shape;
    struct span descr;           /* the descr string, when it is one */
    bool descr_compound;         /* descr is a list or tuple: a structured dtype */
    size_t descr_pos;            /* header index of the descr value */
    bool fortran;
    uint32_t ndim;               /* dimensions seen */
    uint64_t shape[CBR_TENSOR_MAX_DIMS];
    enum dim_problem dim_problem;
    uint32_t dim_problem_index;
    size_t dim_problem_pos;
    /* Decided after parsing, from descr. */
    cbr_dtype dtype;
    bool little;                 /* byte order of multi-byte elements in the file */
};

/* A cursor over the header bytes. */
struct hdr_cursor {
    const char *name;            /* for messages */
    const uint8_t *p;            /* the header (after the length field) */
    size_t len;                  /* header length */
    size_t pos;                  /* current index into p */
    size_t base;                 /* file offset of p[0], so messages give file offsets */
    unsigned version;            /* major version of the file */
};

static bool host_is_little(void)
{
    const uint16_t one = 1;
    uint8_t first;

    memcpy(&first, &one, 1);
    return first == 1;
}

/* Copy count 4-byte elements, reversing each one's bytes. */
static void swap32_copy(uint8_t *dst, const uint8_t *src, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        dst[4 * i + 0] = src[4 * i + 3];
        dst[4 * i + 1] = src[4 * i + 2];
        dst[4 * i + 2] = src[4 * i + 1];
        dst[4 * i + 3] = src[4 * i + 0];
    }
}

/* Copy element data between file order (little or big) and host order. */
static void copy_elements(void *dst, const void *src, uint64_t count, size_t itemsize,
                          bool file_little)
{
    if (itemsize == 1 || file_little == host_is_little())
        memcpy(dst, src, (size_t)(count * itemsize));
    else
        swap32_copy(dst, src, count);
}

/* Render bytes for a message: printable ASCII as is, anything else as \xNN, cut at
 * NPY_SHOW_MAX with "...". */
static const char *show(const uint8_t *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (i == NPY_SHOW_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            buf[o++] = (char)s[i];
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", s[i]);
    }
    buf[o] = '\0';
    return buf;
}

/* Describe the byte under the cursor for "found ..." in messages. */
static const char *show_here(const struct hdr_cursor *c, char *buf, size_t cap)
{
    uint8_t ch;

    if (c->pos >= c->len) {
        snprintf(buf, cap, "the end of the header");
        return buf;
    }
    ch = c->p[c->pos];
    if (ch > 0x20 && ch < 0x7f)
        snprintf(buf, cap, "'%c'", ch);
    else
        snprintf(buf, cap, "byte 0x%02x", ch);
    return buf;
}

static int hdr_fail(const struct hdr_cursor *c, size_t pos, int code, const char *fmt, ...)
    CBR_PRINTF(4, 5);

/* Fail with "<name>: header byte <file offset>: <message>". */
static int hdr_fail(const struct hdr_cursor *c, size_t pos, int code, const char *fmt, ...)
{
    char *buf = cbr_thread_errbuf();
    va_list ap;
    int n;

    n = snprintf(buf, CBR_ERRMSG_MAX, "%s: header byte %zu: ", c->name, c->base + pos);
    if (n < 0 || n >= CBR_ERRMSG_MAX)
        return code;
    va_start(ap, fmt);
    vsnprintf(buf + n, (size_t)(CBR_ERRMSG_MAX - n), fmt, ap);
    va_end(ap);
    return code;
}

/* Python's whitespace inside brackets: space, tab, form feed, and line ends. */
static bool is_ws(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static void skip_ws(struct hdr_cursor *c)
{
    while (c->pos < c->len && is_ws(c->p[c->pos]))
        c->pos++;
}

static bool at(const struct hdr_cursor *c, uint8_t ch)
{
    return c->pos < c->len && c->p[c->pos] == ch;
}

static bool span_is(struct span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.n == n && memcmp(s.s, lit, n) == 0;
}

/* Expect one punctuation character; what names the construct for the message. */
static int expect(struct hdr_cursor *c, uint8_t ch, const char *what)
{
    char found[32];

    skip_ws(c);
    if (!at(c, ch))
        return hdr_fail(c, c->pos, CBR_EBADMSG, "expected '%c' %s, found %s", ch, what,
                        show_here(c, found, sizeof found));
    c->pos++;
    return 0;
}

/* A Python string literal in single or double quotes, without escapes or prefixes. */
static int parse_string(struct hdr_cursor *c, const char *what, struct span *out)
{
    char found[32];
    size_t start;
    uint8_t quote;

    skip_ws(c);
    if (!at(c, '\'') && !at(c, '"'))
        return hdr_fail(c, c->pos, CBR_EBADMSG, "expected a quoted string for %s, found %s",
                        what, show_here(c, found, sizeof found));
    quote = c->p[c->pos];
    start = ++c->pos;
    for (;;) {
        uint8_t ch;

        if (c->pos >= c->len)
            return hdr_fail(c, start - 1, CBR_EBADMSG, "unterminated string for %s", what);
        ch = c->p[c->pos];
        if (ch == quote)
            break;
        if (ch == '\\')
            return hdr_fail(c, c->pos, CBR_EBADMSG, "escape sequence in the string for %s "
                            "(not supported)", what);
        if (ch < 0x20 || ch == 0x7f)
            return hdr_fail(c, c->pos, CBR_EBADMSG, "control byte 0x%02x in the string for "
                            "%s", ch, what);
        c->pos++;
    }
    out->s = c->p + start;
    out->n = c->pos - start;
    c->pos++;
    return 0;
}

/*
 * Map a descr to a dtype. numpy writes '|' for single bytes and '<' or '>' otherwise; '='
 * and no prefix mean native order, and numpy reads '|' on a multi-byte type as native too.
 */
static bool descr_to_dtype(struct span d, cbr_dtype *dtype, bool *little)
{
    const uint8_t *s = d.s;
    size_t n = d.n;
    uint8_t order = '=';

    if (n == 3 && (s[0] == '|' || s[0] == '<' || s[0] == '>' || s[0] == '=')) {
        order = s[0];
        s++;
        n--;
    }
    if (n != 2)
        return false;
    *little = order == '<' || (order != '>' && host_is_little());
    if (s[0] == 'i' && s[1] == '1')
        *dtype = CBR_DTYPE_INT8;
    else if (s[0] == 'u' && s[1] == '1')
        *dtype = CBR_DTYPE_UINT8;
    else if (s[0] == 'i' && s[1] == '4')
        *dtype = CBR_DTYPE_INT32;
    else if (s[0] == 'f' && s[1] == '4')
        *dtype = CBR_DTYPE_FLOAT32;
    else
        return false;
    return true;
}

static int skip_literal(struct hdr_cursor *c, unsigned depth);

/* Skip the items of a list, tuple or dict up to the closing bracket. */
static int skip_items(struct hdr_cursor *c, uint8_t close, unsigned depth)
{
    char found[32];
    int ret;

    for (;;) {
        skip_ws(c);
        if (at(c, close))
            break;
        ret = skip_literal(c, depth);
        if (ret != 0)
            return ret;
        skip_ws(c);
        if (close == '}') {
            ret = expect(c, ':', "in a dictionary");
            if (ret != 0)
                return ret;
            ret = skip_literal(c, depth);
            if (ret != 0)
                return ret;
            skip_ws(c);
        }
        if (at(c, ',')) {
            c->pos++;
            continue;
        }
        if (!at(c, close))
            return hdr_fail(c, c->pos, CBR_EBADMSG, "expected ',' or '%c', found %s", close,
                            show_here(c, found, sizeof found));
    }
    c->pos++;
    return 0;
}

/*
 * Skip one Python literal (string, number, name, list, tuple, dict), checking its syntax
 * only. It is used for a structured descr, which is rejected afterwards anyway; depth
 * bounds the recursion, since the input is untrusted.
 */
static int skip_literal(struct hdr_cursor *c, unsigned depth)
{
    char found[32];
    struct span ignored;
    uint8_t ch;

    skip_ws(c);
    if (c->pos >= c->len)
        return hdr_fail(c, c->pos, CBR_EBADMSG, "expected a value, found the end of the "
                        "header");
    ch = c->p[c->pos];
    if (ch == '\'' || ch == '"')
        return parse_string(c, "a value", &ignored);
    if (ch == '[' || ch == '(' || ch == '{') {
        if (depth >= NPY_MAX_NESTING)
            return hdr_fail(c, c->pos, CBR_EBADMSG, "brackets nested more than %d deep",
                            NPY_MAX_NESTING);
        c->pos++;
        return skip_items(c, ch == '[' ? ']' : ch == '(' ? ')' : '}', depth + 1);
    }
    if (ch == '-' || ch == '+')
        c->pos++;
    if (c->pos < c->len && ((c->p[c->pos] >= '0' && c->p[c->pos] <= '9') ||
                            (c->p[c->pos] >= 'A' && c->p[c->pos] <= 'Z') ||
                            (c->p[c->pos] >= 'a' && c->p[c->pos] <= 'z'))) {
        while (c->pos < c->len && ((c->p[c->pos] >= '0' && c->p[c->pos] <= '9') ||
                                   (c->p[c->pos] >= 'A' && c->p[c->pos] <= 'Z') ||
                                   (c->p[c->pos] >= 'a' && c->p[c->pos] <= 'z') ||
                                   c->p[c->pos] == '_' || c->p[c->pos] == '.'))
            c->pos++;
        return 0;
    }
    return hdr_fail(c, c->pos, CBR_EBADMSG, "expected a value, found %s",
                    show_here(c, found, sizeof found));
}

static int parse_descr(struct hdr_cursor *c, struct npy_header *h)
{
    skip_ws(c);
    h->descr_pos = c->pos;
    if (at(c, '[') || at(c, '(')) {
        h->descr_compound = true;
        return skip_literal(c, 0);
    }
    return parse_string(c, "'descr'", &h->descr);
}

static int parse_fortran_order(struct hdr_cursor *c, struct npy_header *h)
{
    char found[32];
    size_t start;
    struct span word;

    skip_ws(c);
    start = c->pos;
    while (c->pos < c->len && ((c->p[c->pos] >= 'A' && c->p[c->pos] <= 'Z') ||
                               (c->p[c->pos] >= 'a' && c->p[c->pos] <= 'z')))
        c->pos++;
    word.s = c->p + start;
    word.n = c->pos - start;
    if (span_is(word, "True")) {
        h->fortran = true;
        return 0;
    }
    if (span_is(word, "False")) {
        h->fortran = false;
        return 0;
    }
    c->pos = start;
    return hdr_fail(c, start, CBR_EBADMSG, "'fortran_order' must be True or False, found %s",
                    show_here(c, found, sizeof found));
}

static void dim_problem(struct npy_header *h, enum dim_problem problem, size_t pos)
{
    if (h->dim_problem != DIM_OK)
        return;
    h->dim_problem = problem;
    h->dim_problem_index = h->ndim;
    h->dim_problem_pos = pos;
}

static bool is_digit_at(const struct hdr_cursor *c)
{
    return c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9';
}

/* One dimension: decimal digits, or '-' and digits (parsed, to be reported as negative),
 * with Python 2's 'L' suffix allowed in 1.0 and 2.0 (numpy accepts it there). */
static int parse_dim(struct hdr_cursor *c, struct npy_header *h)
{
    char found[32];
    size_t start = c->pos;
    bool negative = false, huge = false;
    uint64_t v = 0;

    if (at(c, '-')) {
        negative = true;
        c->pos++;
    }
    if (!is_digit_at(c))
        return hdr_fail(c, c->pos, CBR_EBADMSG, "expected a dimension (an integer) in "
                        "'shape', found %s", show_here(c, found, sizeof found));
    while (is_digit_at(c)) {
        uint64_t digit = (uint64_t)(c->p[c->pos] - '0');

        if (__builtin_mul_overflow(v, (uint64_t)10, &v) ||
            __builtin_add_overflow(v, digit, &v))
            huge = true;
        c->pos++;
    }
    if (c->version < 3 && at(c, 'L'))
        c->pos++;
    if (negative)
        dim_problem(h, DIM_NEGATIVE, start);
    else if (huge)
        dim_problem(h, DIM_HUGE, start);
    else if (v == 0)
        dim_problem(h, DIM_ZERO, start);
    else if (h->ndim >= CBR_TENSOR_MAX_DIMS)
        dim_problem(h, DIM_TOO_MANY, start);
    if (h->ndim < CBR_TENSOR_MAX_DIMS)
        h->shape[h->ndim] = v;
    if (h->ndim < UINT32_MAX)
        h->ndim++;
    return 0;
}

/* A tuple of dimensions: (), (5,), (2, 3), (2, 3,). (5) is an int in Python, not a shape. */
static int parse_shape(struct hdr_cursor *c, struct npy_header *h)
{
    char found[32];
    size_t open;
    bool comma = false;
    int ret;

    skip_ws(c);
    open = c->pos;
    ret = expect(c, '(', "to open the tuple of 'shape'");
    if (ret != 0)
        return ret;
    for (;;) {
        skip_ws(c);
        if (at(c, ')'))
            break;
        ret = parse_dim(c, h);
        if (ret != 0)
            return ret;
        skip_ws(c);
        if (at(c, ',')) {
            c->pos++;
            comma = true;
            continue;
        }
        comma = false;
        if (!at(c, ')'))
            return hdr_fail(c, c->pos, CBR_EBADMSG, "expected ',' or ')' in 'shape', found %s",
                            show_here(c, found, sizeof found));
    }
    if (h->ndim == 1 && !comma)
        return hdr_fail(c, open, CBR_EBADMSG, "'shape' is not a tuple: a single dimension "
                        "needs a trailing comma, as in (5,)");
    c->pos++;
    return 0;
}

/* The header dict: keys in any order, each exactly once, trailing comma allowed. */
static int parse_dict(struct hdr_cursor *c, struct npy_header *h)
{
    char shown[4 * NPY_SHOW_MAX + 8];
    char found[32];
    int ret;

    ret = expect(c, '{', "to open the header dictionary");
    if (ret != 0)
        return ret;
    for (;;) {
        struct span key;
        size_t key_pos;
        bool *have;

        skip_ws(c);
        if (at(c, '}'))
            break;
        key_pos = c->pos;
        ret = parse_string(c, "a key", &key);
        if (ret != 0)
            return ret;
        if (span_is(key, "descr"))
            have = &h->have_descr;
        else if (span_is(key, "fortran_order"))
            have = &h->have_fortran;
        else if (span_is(key, "shape"))
            have = &h->have_shape;
        else
            return hdr_fail(c, key_pos, CBR_EBADMSG, "unknown key '%s' (expected 'descr', "
                            "'fortran_order' and 'shape')",
                            show(key.s, key.n, shown, sizeof shown));
        if (*have)
            return hdr_fail(c, key_pos, CBR_EBADMSG, "duplicate key '%s'",
                            show(key.s, key.n, shown, sizeof shown));
        *have = true;
        ret = expect(c, ':', "after the key");
        if (ret != 0)
            return ret;
        if (have == &h->have_descr)
            ret = parse_descr(c, h);
        else if (have == &h->have_fortran)
            ret = parse_fortran_order(c, h);
        else
            ret = parse_shape(c, h);
        if (ret != 0)
            return ret;
        skip_ws(c);
        if (at(c, ',')) {
            c->pos++;
            continue;
        }
        if (!at(c, '}'))
            return hdr_fail(c, c->pos, CBR_EBADMSG, "expected ',' or '}' after the value of "
                            "'%s', found %s", show(key.s, key.n, shown, sizeof shown),
                            show_here(c, found, sizeof found));
    }
    c->pos++;
    return 0;
}

/* The values, once the syntax is good: malformed ones first, then unsupported, then too
 * large. */
static int check_header(const struct hdr_cursor *c, struct npy_header *h)
{
    char shown[4 * NPY_SHOW_MAX + 8];
    uint32_t index = h->dim_problem_index;
    size_t pos = h->dim_problem_pos;

    if (!h->have_descr)
        return cbr_fail(CBR_EBADMSG, "%s: header: missing key 'descr'", c->name);
    if (!h->have_fortran)
        return cbr_fail(CBR_EBADMSG, "%s: header: missing key 'fortran_order'", c->name);
    if (!h->have_shape)
        return cbr_fail(CBR_EBADMSG, "%s: header: missing key 'shape'", c->name);
    if (h->dim_problem == DIM_NEGATIVE)
        return hdr_fail(c, pos, CBR_EBADMSG, "dimension %u in 'shape' is negative",
                        (unsigned)index);
    if (h->dim_problem == DIM_ZERO)
        return hdr_fail(c, pos, CBR_EBADMSG, "dimension %u is 0: empty tensors are not "
                        "supported", (unsigned)index);
    if (h->descr_compound)
        return hdr_fail(c, h->descr_pos, CBR_ENOTSUP, "structured dtypes (a list or tuple "
                        "in 'descr') are not supported (int8, uint8, int32 or float32)");
    if (!descr_to_dtype(h->descr, &h->dtype, &h->little))
        return cbr_fail(CBR_ENOTSUP, "%s: dtype '%s' is not supported (int8, uint8, int32 "
                        "or float32)", c->name, show(h->descr.s, h->descr.n, shown,
                                                     sizeof shown));
    if (h->fortran)
        return cbr_fail(CBR_ENOTSUP, "%s: Fortran-order arrays are not supported; save with "
                        "np.ascontiguousarray", c->name);
    if (h->dim_problem == DIM_HUGE)
        return hdr_fail(c, pos, CBR_ERANGE, "dimension %u in 'shape' is larger than 2^64-1",
                        (unsigned)index);
    if (h->dim_problem == DIM_TOO_MANY)
        return hdr_fail(c, pos, CBR_ERANGE, "'shape' has %u dimensions, more than the limit "
                        "of %d (CBR_TENSOR_MAX_DIMS)", (unsigned)h->ndim, CBR_TENSOR_MAX_DIMS);
    return 0;
}

static int parse_header(struct hdr_cursor *c, struct npy_header *h)
{
    char found[32];
    int ret;

    memset(h, 0, sizeof *h);
    if (c->version < 3) {
        for (size_t i = 0; i < c->len; i++) {
            if (c->p[i] >= 0x80)
                return hdr_fail(c, i, CBR_EBADMSG, "non-ASCII byte 0x%02x in a version %u.0 "
                                "header (only 3.0 allows UTF-8)", c->p[i], c->version);
        }
    }
    ret = parse_dict(c, h);
    if (ret != 0)
        return ret;
    skip_ws(c);
    if (c->pos < c->len)
        return hdr_fail(c, c->pos, CBR_EBADMSG, "unexpected %s after the header dictionary",
                        show_here(c, found, sizeof found));
    if (c->p[c->len - 1] != '\n')
        return hdr_fail(c, c->len - 1, CBR_EBADMSG, "the header does not end with '\\n'");
    return check_header(c, h);
}

/* "(2, 3)" for messages. */
static const char *show_shape(const uint64_t *shape, uint32_t ndim, char *buf, size_t cap)
{
    size_t o = 0;

    o += (size_t)snprintf(buf, cap, "(");
    for (uint32_t i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, ndim == 1 ? ",)" : ")");
    return buf;
}

static uint32_t read_le(const uint8_t *p, size_t n)
{
    uint32_t v = 0;

    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

int cbr_npy_parse(const void *bytes, size_t len, const char *name, cbr_tensor **t)
{
    const uint8_t *b = bytes;
    struct npy_header h;
    struct hdr_cursor c;
    char shape_buf[CBR_TENSOR_MAX_DIMS * 24 + 8];
    unsigned major, minor;
    size_t lsize, hstart, hlen, data_off, avail, n;
    uint64_t count = 1, data_bytes;
    cbr_tensor *tensor;
    int ret;

    if (name == NULL)
        name = "<memory>";
    if (t == NULL)
        return cbr_fail(CBR_EINVAL, "%s: cbr_npy_parse: t is NULL", name);
    *t = NULL;
    if (b == NULL && len > 0)
        return cbr_fail(CBR_EINVAL, "%s: cbr_npy_parse: bytes is NULL", name);

    n = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != (uint8_t)NPY_MAGIC[i])
            return cbr_fail(CBR_EBADMSG, "%s: not a .npy file: byte %zu is 0x%02x, expected "
                            "0x%02x of the magic string \"\\x93NUMPY\"", name, i, b[i],
                            (uint8_t)NPY_MAGIC[i]);
    }
    if (len < NPY_MAGIC_LEN)
        return cbr_fail(CBR_EBADMSG, "%s: truncated at byte %zu, in the magic string "
                        "(bytes 0-5)", name, len);
    if (len < 8)
        return cbr_fail(CBR_EBADMSG, "%s: truncated at byte %zu, in the version (bytes 6-7)",
                        name, len);
    major = b[6];
    minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return cbr_fail(CBR_ENOTSUP, "%s: version %u.%u (bytes 6-7) is not supported (1.0, "
                        "2.0 or 3.0)", name, major, minor);
    lsize = major == 1 ? 2 : 4;
    hstart = 8 + lsize;
    if (len < hstart)
        return cbr_fail(CBR_EBADMSG, "%s: truncated at byte %zu, in the header length (bytes "
                        "8-%zu)", name, len, hstart - 1);
    hlen = read_le(b + 8, lsize);
    if (hlen > CBR_NPY_MAX_HEADER)
        return cbr_fail(CBR_ERANGE, "%s: header length %zu (bytes 8-%zu) exceeds the limit "
                        "of %d bytes", name, hlen, hstart - 1, CBR_NPY_MAX_HEADER);
    if (hlen == 0)
        return cbr_fail(CBR_EBADMSG, "%s: header length (bytes 8-%zu) is 0", name,
                        hstart - 1);
    if (len - hstart < hlen)
        return cbr_fail(CBR_EBADMSG, "%s: truncated at byte %zu, in the header (bytes %zu-%zu "
                        "by the length at byte 8)", name, len, hstart, hstart + hlen - 1);

    c.name = name;
    c.p = b + hstart;
    c.len = hlen;
    c.pos = 0;
    c.base = hstart;
    c.version = major;
    ret = parse_header(&c, &h);
    if (ret != 0)
        return ret;

    for (uint32_t i = 0; i < h.ndim; i++) {
        if (__builtin_mul_overflow(count, h.shape[i], &count))
            return cbr_fail(CBR_ERANGE, "%s: shape %s overflows 64 bits at dimension %u",
                            name, show_shape(h.shape, h.ndim, shape_buf, sizeof shape_buf),
                            (unsigned)i);
    }
    if (__builtin_mul_overflow(count, (uint64_t)cbr_dtype_size(h.dtype), &data_bytes))
        return cbr_fail(CBR_ERANGE, "%s: shape %s of %s is more than 2^64-1 bytes", name,
                        show_shape(h.shape, h.ndim, shape_buf, sizeof shape_buf),
                        cbr_dtype_name(h.dtype));
    data_off = hstart + hlen;
    avail = len - data_off;
    if (data_bytes > avail)
        return cbr_fail(CBR_EBADMSG, "%s: truncated at byte %zu, in the data (shape %s of %s "
                        "needs %llu bytes from byte %zu, %zu present)", name, len,
                        show_shape(h.shape, h.ndim, shape_buf, sizeof shape_buf),
                        cbr_dtype_name(h.dtype), (unsigned long long)data_bytes, data_off,
                        avail);
    if (data_bytes < avail)
        return cbr_fail(CBR_EBADMSG, "%s: %llu trailing bytes after the data, from byte %llu "
                        "(shape %s of %s)", name, (unsigned long long)(avail - data_bytes),
                        (unsigned long long)(data_off + data_bytes),
                        show_shape(h.shape, h.ndim, shape_buf, sizeof shape_buf),
                        cbr_dtype_name(h.dtype));

    ret = cbr_tensor_create(&tensor, h.dtype, h.ndim, h.shape);
    if (ret != 0)
        return cbr_fail(ret, "%s: cannot allocate %llu bytes for shape %s of %s", name,
                        (unsigned long long)data_bytes,
                        show_shape(h.shape, h.ndim, shape_buf, sizeof shape_buf),
                        cbr_dtype_name(h.dtype));
    copy_elements(tensor->data, b + data_off, count, cbr_dtype_size(h.dtype), h.little);
    *t = tensor;
    return 0;
}

/* The dtype's descr as written: explicit little-endian for multi-byte types. */
static const char *dtype_descr(cbr_dtype dtype)
{
    switch (dtype) {
    case CBR_DTYPE_INT8: return "|i1";
    case CBR_DTYPE_UINT8: return "|u1";
    case CBR_DTYPE_INT32: return "<i4";
    case CBR_DTYPE_FLOAT32: return "<f4";
    }
    return NULL;
}

/* Check a caller's tensor before writing it; count must agree with the shape. */
static int check_tensor(const cbr_tensor *t, const char *who, uint64_t *data_bytes)
{
    uint64_t count = 1;

    if (t == NULL)
        return cbr_fail(CBR_EINVAL, "%s: tensor is NULL", who);
    if (dtype_descr(t->dtype) == NULL)
        return cbr_fail(CBR_EINVAL, "%s: dtype %d is not a cbr_dtype", who, (int)t->dtype);
    if (t->ndim > CBR_TENSOR_MAX_DIMS)
        return cbr_fail(CBR_EINVAL, "%s: ndim %u exceeds the limit of %d", who,
                        (unsigned)t->ndim, CBR_TENSOR_MAX_DIMS);
    for (uint32_t i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0)
            return cbr_fail(CBR_EINVAL, "%s: dimension %u is 0: empty tensors are not "
                            "supported", who, (unsigned)i);
        if (__builtin_mul_overflow(count, t->shape[i], &count))
            return cbr_fail(CBR_ERANGE, "%s: the element count overflows 64 bits at "
                            "dimension %u", who, (unsigned)i);
    }
    if (count != t->count)
        return cbr_fail(CBR_EINVAL, "%s: count %llu does not match the shape's %llu "
                        "elements", who, (unsigned long long)t->count,
                        (unsigned long long)count);
    if (__builtin_mul_overflow(count, (uint64_t)cbr_dtype_size(t->dtype), data_bytes) ||
        *data_bytes > SIZE_MAX)
        return cbr_fail(CBR_ERANGE, "%s: %llu elements of %s do not fit in memory", who,
                        (unsigned long long)count, cbr_dtype_name(t->dtype));
    if (t->data == NULL)
        return cbr_fail(CBR_EINVAL, "%s: data is NULL", who);
    return 0;
}

int cbr_npy_encode(const cbr_tensor *t, void **bytes, size_t *len)
{
    char dict[128 + CBR_TENSOR_MAX_DIMS * 24];
    char shape_buf[CBR_TENSOR_MAX_DIMS * 24 + 8];
    uint64_t data_bytes = 0;
    size_t dict_len, lsize, hlen, pad, prefix, total;
    unsigned version;
    uint8_t *out;
    int ret;

    if (bytes == NULL || len == NULL)
        return cbr_fail(CBR_EINVAL, "cbr_npy_encode: bytes or len is NULL");
    *bytes = NULL;
    *len = 0;
    ret = check_tensor(t, "cbr_npy_encode", &data_bytes);
    if (ret != 0)
        return ret;

    /* numpy's own layout, so the header reads the same as np.save's. */
    dict_len = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                                "'shape': %s, }", dtype_descr(t->dtype),
                                show_shape(t->shape, t->ndim, shape_buf, sizeof shape_buf));

    /* Pad with spaces so the data starts on a multiple of 64; 2.0 only for a header over
     * 65535 bytes, which 8 dimensions cannot reach but the format allows. */
    version = 1;
    for (;;) {
        lsize = version == 1 ? 2 : 4;
        prefix = NPY_MAGIC_LEN + 2 + lsize;
        pad = (NPY_ALIGN - (prefix + dict_len + 1) % NPY_ALIGN) % NPY_ALIGN;
        hlen = dict_len + pad + 1;
        if (version == 1 && hlen > 65535) {
            version = 2;
            continue;
        }
        break;
    }
    if (data_bytes > SIZE_MAX - prefix - hlen)
        return cbr_fail(CBR_ERANGE, "cbr_npy_encode: %llu bytes of data do not fit in memory",
                        (unsigned long long)data_bytes);
    total = prefix + hlen + (size_t)data_bytes;

    out = malloc(total);
    if (out == NULL)
        return cbr_fail(CBR_ENOMEM, "cbr_npy_encode: out of memory for %zu bytes", total);
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = (uint8_t)version;
    out[7] = 0;
    for (size_t i = 0; i < lsize; i++)
        out[8 + i] = (uint8_t)(hlen >> (8 * i));
    memcpy(out + prefix, dict, dict_len);
    memset(out + prefix + dict_len, ' ', pad);
    out[prefix + hlen - 1] = '\n';
    copy_elements(out + prefix + hlen, t->data, t->count, cbr_dtype_size(t->dtype), true);
    *bytes = out;
    *len = total;
    return 0;
}

/* The process umask, without changing it: /proc when it says, else the umask() round trip
 * (which briefly changes it for every thread). */
static mode_t current_umask(void)
{
    char line[128];
    mode_t mask;
    FILE *f;

    f = fopen("/proc/self/status", "re");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            unsigned int v;

            if (sscanf(line, "Umask: %o", &v) == 1) {
                fclose(f);
                return (mode_t)(v & 0777);
            }
        }
        fclose(f);
    }
    mask = umask(022);
    umask(mask);
    return mask;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cbr_npy_save(const char *path, const cbr_tensor *t)
{
    char msg[CBR_ERRMSG_MAX];
    const char *slash;
    void *bytes = NULL;
    char *tmp = NULL;
    size_t len, dir_len, tmp_size;
    int fd = -1;
    int ret;

    if (path == NULL || path[0] == '\0')
        return cbr_fail(CBR_EINVAL, "cbr_npy_save: path is NULL or empty");
    ret = cbr_npy_encode(t, &bytes, &len);
    if (ret != 0) {
        snprintf(msg, sizeof msg, "%s", cbr_thread_errbuf());
        ret = cbr_fail(ret, "%s: %s", path, msg);
        goto out;
    }

    /* ".<name>.XXXXXX" in the same directory, so the rename cannot cross filesystems. */
    slash = strrchr(path, '/');
    dir_len = slash == NULL ? 0 : (size_t)(slash - path) + 1;
    tmp_size = strlen(path) + sizeof "..XXXXXX";
    tmp = malloc(tmp_size);
    if (tmp == NULL) {
        ret = cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
        goto out_free_bytes;
    }
    snprintf(tmp, tmp_size, "%.*s.%s.XXXXXX", (int)dir_len, path, path + dir_len);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot create a temporary file beside it: %s", path,
                       strerror(errno));
        goto out_free_tmp;
    }
    if (write_all(fd, bytes, len) != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    /* mkstemp made it 0600; give it the mode open(O_CREAT, 0666) would have. */
    if (fchmod(fd, 0666 & ~current_umask()) != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot chmod %s: %s", path, tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    if (fsync(fd) != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot fsync %s: %s", path, tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    ret = close(fd);
    fd = -1;
    if (ret != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    if (rename(tmp, path) != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot rename %s over it: %s", path, tmp,
                       strerror(errno));
        goto out_unlink_tmp;
    }
    ret = 0;
    goto out_free_tmp;

out_unlink_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out_free_tmp:
    free(tmp);
out_free_bytes:
    free(bytes);
out:
    return ret;
}

/* Read a whole file into a malloc'd buffer, refusing more than NPY_MAX_FILE_BYTES. */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t cap, len = 0;
    int fd, ret;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return cbr_fail(CBR_ENOENT, "%s: no such file", path);
        return cbr_fail(CBR_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        ret = cbr_fail(CBR_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        ret = cbr_fail(CBR_EIO, "%s: is a directory", path);
        goto out_close;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > NPY_MAX_FILE_BYTES) {
        ret = cbr_fail(CBR_ERANGE, "%s: %llu bytes is larger than the limit of 4 GiB", path,
                       (unsigned long long)st.st_size);
        goto out_close;
    }
    /* One byte more than the size, so reaching EOF needs no second allocation. */
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    buf = malloc(cap);
    if (buf == NULL) {
        ret = cbr_fail(CBR_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
        goto out_close;
    }
    for (;;) {
        ssize_t r;

        if (len == cap) {
            uint8_t *bigger;

            if ((uint64_t)len > NPY_MAX_FILE_BYTES) {
                ret = cbr_fail(CBR_ERANGE, "%s: larger than the limit of 4 GiB", path);
                goto out_free_buf;
            }
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                ret = cbr_fail(CBR_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
                goto out_free_buf;
            }
            buf = bigger;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ret = cbr_fail(CBR_EIO, "%s: read error at byte %zu: %s", path, len,
                           strerror(errno));
            goto out_free_buf;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if ((uint64_t)len > NPY_MAX_FILE_BYTES) {
        ret = cbr_fail(CBR_ERANGE, "%s: larger than the limit of 4 GiB", path);
        goto out_free_buf;
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;

out_free_buf:
    free(buf);
out_close:
    close(fd);
    return ret;
}

int cbr_npy_load(const char *path, cbr_tensor **t)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret;

    if (t == NULL)
        return cbr_fail(CBR_EINVAL, "cbr_npy_load: t is NULL");
    *t = NULL;
    if (path == NULL)
        return cbr_fail(CBR_EINVAL, "cbr_npy_load: path is NULL");
    ret = read_file(path, &buf, &len);
    if (ret != 0)
        return ret;
    ret = cbr_npy_parse(buf, len, path, t);
    free(buf);
    return ret;
}
