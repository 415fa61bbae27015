/*
 * fuzz_onnx.c - libFuzzer target for the ONNX loader (cbr_model_parse) and, for models it
 * accepts, the float executor on a one-sample input.
 *
 * Any input must return cleanly: success, or a negative code with a message that starts
 * with the name given and a NULL model. External data is refused (no folder is given), so
 * the fuzzer never reads files. Any violation aborts, so libFuzzer records the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"

#define NAME "fuzz.onnx"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cbr_model *m = NULL;
    int ret = cbr_model_parse(&m, data, size, NAME, NULL);
    if (ret != 0) {
        const char *msg = cbr_errmsg(NULL);
        if (m != NULL || ret >= 0 || strncmp(msg, NAME ": ", strlen(NAME ": ")) != 0)
            abort();
        return 0;
    }
    if (m == NULL)
        abort();
    /* Run the float model on a small sample of zeros: shapes were checked at load. */
    uint32_t nd;
    uint64_t shape[CBR_TENSOR_MAX_DIMS + 1];
    if (cbr_model_input_shape(m, &nd, shape + 1) != 0 || nd + 1 > CBR_TENSOR_MAX_DIMS)
        abort();
    uint64_t count = 1;
    for (uint32_t i = 1; i <= nd; i++)
        count *= shape[i];
    shape[0] = 1;
    cbr_tensor *x = NULL, *y = NULL;
    if (count <= 4096 && cbr_tensor_create(&x, CBR_DTYPE_FLOAT32, nd + 1, shape) == 0) {
        if (cbr_model_run_float(m, x, &y) == 0 && y == NULL)
            abort();
    }
    cbr_tensor_free(y);
    cbr_tensor_free(x);
    cbr_model_free(m);
    return 0;
}
