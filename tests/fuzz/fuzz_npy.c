/*
 * fuzz_npy.c - libFuzzer target for the .npy reader (cbr_npy_parse).
 *
 * Any input must return cleanly: success, or a negative code with a message that starts
 * with the name given. A parsed tensor must survive encode + parse unchanged, and the
 * encoding must be numpy's layout (version 1.0, data on a 64-byte boundary). Any
 * violation aborts, so libFuzzer records the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"

#define NAME "fuzz.npy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(int ret)
{
    const char *msg = cbr_errmsg(NULL);

    if (ret >= 0)
        abort();
    if (strncmp(msg, NAME ": ", strlen(NAME ": ")) != 0 || msg[strlen(NAME ": ")] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cbr_tensor *a = NULL, *b = NULL;
    void *bytes = NULL;
    size_t len = 0, hlen;
    const uint8_t *p;
    int ret;

    ret = cbr_npy_parse(data, size, NAME, &a);
    if (ret != 0) {
        if (a != NULL)
            abort();
        check_message(ret);
        return 0;
    }
    if (a == NULL || a->ndim > CBR_TENSOR_MAX_DIMS || a->count == 0)
        abort();

    if (cbr_npy_encode(a, &bytes, &len) != 0)
        abort();
    p = bytes;
    if (len < 10 || memcmp(p, "\x93NUMPY\x01\x00", 8) != 0)
        abort();
    hlen = (size_t)p[8] | (size_t)p[9] << 8;
    if ((10 + hlen) % 64 != 0 || len != 10 + hlen + a->count * cbr_dtype_size(a->dtype))
        abort();

    if (cbr_npy_parse(bytes, len, NAME, &b) != 0)
        abort();
    if (b->dtype != a->dtype || b->ndim != a->ndim || b->count != a->count)
        abort();
    for (uint32_t i = 0; i < a->ndim; i++) {
        if (b->shape[i] != a->shape[i])
            abort();
    }
    if (memcmp(a->data, b->data, a->count * cbr_dtype_size(a->dtype)) != 0)
        abort();

    free(bytes);
    cbr_tensor_free(b);
    cbr_tensor_free(a);
    return 0;
}
