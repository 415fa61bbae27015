/*
 * tensor.c - dense host tensors: dtype sizes and names, creation with overflow checks.
 *
 * A tensor's byte size is count * itemsize, computed in uint64_t with every multiplication
 * checked, because shapes come from files (.npy) and must not wrap into a small allocation.
 */
#include "errors.h"

#include <stdlib.h>

size_t cbr_dtype_size(cbr_dtype dtype)
{
    switch (dtype) {
    case CBR_DTYPE_INT8: return 1;
    case CBR_DTYPE_UINT8: return 1;
    case CBR_DTYPE_INT32: return 4;
    case CBR_DTYPE_FLOAT32: return 4;
    }
    return 0;
}

const char *cbr_dtype_name(cbr_dtype dtype)
{
    switch (dtype) {
    case CBR_DTYPE_INT8: return "int8";
    case CBR_DTYPE_UINT8: return "uint8";
    case CBR_DTYPE_INT32: return "int32";
    case CBR_DTYPE_FLOAT32: return "float32";
    }
    return "unknown";
}

int cbr_tensor_create(cbr_tensor **t, cbr_dtype dtype, uint32_t ndim, const uint64_t *shape)
{
    cbr_tensor *tensor;
    size_t itemsize;
    uint64_t count = 1;
    uint64_t bytes;
    int ret;

    if (t == NULL)
        return cbr_fail(CBR_EINVAL, "cbr_tensor_create: t is NULL");
    *t = NULL;
    itemsize = cbr_dtype_size(dtype);
    if (itemsize == 0)
        return cbr_fail(CBR_EINVAL, "cbr_tensor_create: dtype %d is not a cbr_dtype",
                        (int)dtype);
    if (ndim > CBR_TENSOR_MAX_DIMS)
        return cbr_fail(CBR_ERANGE, "cbr_tensor_create: ndim %u exceeds the limit of %d",
                        (unsigned)ndim, CBR_TENSOR_MAX_DIMS);
    if (ndim > 0 && shape == NULL)
        return cbr_fail(CBR_EINVAL, "cbr_tensor_create: shape is NULL for ndim %u",
                        (unsigned)ndim);

    /* Zero dimensions first: a 0 after an overflowing prefix must still read as "empty". */
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            return cbr_fail(CBR_EINVAL, "cbr_tensor_create: dimension %u is 0: empty "
                            "tensors are not supported", (unsigned)i);
    }
    for (uint32_t i = 0; i < ndim; i++) {
        if (__builtin_mul_overflow(count, shape[i], &count))
            return cbr_fail(CBR_ERANGE, "cbr_tensor_create: the element count overflows "
                            "64 bits at dimension %u", (unsigned)i);
    }
    if (__builtin_mul_overflow(count, (uint64_t)itemsize, &bytes) || bytes > SIZE_MAX)
        return cbr_fail(CBR_ERANGE, "cbr_tensor_create: %llu elements of %s do not fit in "
                        "memory", (unsigned long long)count, cbr_dtype_name(dtype));

    tensor = calloc(1, sizeof *tensor);
    if (tensor == NULL) {
        ret = cbr_fail(CBR_ENOMEM, "cbr_tensor_create: out of memory for the tensor");
        goto out;
    }
    tensor->data = calloc((size_t)bytes, 1);
    if (tensor->data == NULL) {
        ret = cbr_fail(CBR_ENOMEM, "cbr_tensor_create: out of memory for %llu bytes of data",
                       (unsigned long long)bytes);
        goto out_free_tensor;
    }
    tensor->dtype = dtype;
    tensor->ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++)
        tensor->shape[i] = shape[i];
    tensor->count = count;
    *t = tensor;
    return 0;

out_free_tensor:
    free(tensor);
out:
    return ret;
}

void cbr_tensor_free(cbr_tensor *t)
{
    if (t == NULL)
        return;
    free(t->data);
    free(t);
}
