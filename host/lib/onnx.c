/*
 * onnx.c - the hardened ONNX loader: protobuf bytes to the model graph of model.h.
 *
 * The parser is generated at build time by protoc-c from the onnx.proto that libonnx-dev
 * installs (mk/onnx.mk). Everything read from the file is distrusted: operators and dtypes
 * come from allow-lists, every tensor's data length is checked against its shape and dtype
 * before it is read, dimensions are checked for sign and overflow, external data is read only
 * from inside the model's folder, and every node input must be defined before it is used.
 * Each message names the file and the node or tensor at fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "model.h"
#include "onnx.pb-c.h"

const char *const m_op_names[OP_COUNT] = {
    [OP_CONV] = "Conv", [OP_BN] = "BatchNormalization", [OP_RELU] = "Relu",
    [OP_CLIP] = "Clip", [OP_LEAKY] = "LeakyRelu", [OP_MAXPOOL] = "MaxPool",
    [OP_AVGPOOL] = "AveragePool", [OP_GAP] = "GlobalAveragePool", [OP_GEMM] = "Gemm",
    [OP_MATMUL] = "MatMul", [OP_FLATTEN] = "Flatten", [OP_RESHAPE] = "Reshape",
    [OP_ADD] = "Add", [OP_SOFTMAX] = "Softmax", [OP_LOGSOFTMAX] = "LogSoftmax",
    [OP_SIGMOID] = "Sigmoid", [OP_IDENTITY] = "Identity", [OP_DROPOUT] = "Dropout",
    [OP_QLINEARCONV] = "QLinearConv", [OP_QUANTIZE] = "QuantizeLinear",
    [OP_DEQUANTIZE] = "DequantizeLinear",
};

#define MAX_NODES 100000
#define MAX_TENSORS 200000
#define MAX_NAME 4096

/* ---- the model's tables ----------------------------------------------------------------- */

void m_free(cbr_model *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->n_t; i++) {
        free(m->t[i].name);
        free(m->t[i].f);
        free(m->t[i].i64);
    }
    for (uint32_t i = 0; i < m->n_nodes; i++)
        free(m->nodes[i].name);
    free(m->t);
    free(m->nodes);
    free(m->recs);
    free(m->name);
    free(m->path);
    free(m);
}

int m_find_tensor(const cbr_model *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_t; i++)
        if (!strcmp(m->t[i].name, name))
            return (int)i;
    return -1;
}

static int add_tensor(cbr_model *m, const char *name, int *idx)
{
    if (m->n_t == m->cap_t) {
        if (m->n_t >= MAX_TENSORS)
            return cbr_fail(CBR_ERANGE, "%s: more than %d tensors", m->name, MAX_TENSORS);
        uint32_t cap = m->cap_t ? m->cap_t * 2 : 32;
        m_tensor *t = realloc(m->t, cap * sizeof *t);
        if (!t)
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        m->t = t;
        m->cap_t = cap;
    }
    m_tensor *t = &m->t[m->n_t];
    memset(t, 0, sizeof *t);
    t->producer = -1;
    if (!(t->name = strdup(name)))
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    *idx = (int)m->n_t++;
    return 0;
}

static const char *dtype_text(int dt)
{
    switch (dt) {
    case M_FLOAT: return "float";
    case M_UINT8: return "uint8";
    case M_INT8: return "int8";
    case M_INT32: return "int32";
    case M_INT64: return "int64";
    default: return "unsupported";
    }
}

static size_t dtype_bytes(int dt)
{
    switch (dt) {
    case M_FLOAT: return 4;
    case M_UINT8: return 1;
    case M_INT8: return 1;
    case M_INT32: return 4;
    case M_INT64: return 8;
    default: return 0;
    }
}

/* ---- external data ---------------------------------------------------------------------- */

/* A decimal uint64 with nothing around it. */
static bool parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s)
        return false;
    uint64_t r = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || r > (UINT64_MAX - 9) / 10)
            return false;
        r = r * 10 + (uint64_t)(*s - '0');
    }
    *v = r;
    return true;
}

/* Read len bytes at offset of the file `location`, which must stay inside dir. */
static int read_external(const cbr_model *m, const char *tname, const char *dir,
                         const char *location, uint64_t offset, uint64_t len, void *dst)
{
    if (!dir)
        return cbr_fail(CBR_ENOTSUP, "%s: tensor '%s': external data ('%s') is refused when "
                        "the model is not loaded from a file", m->name, tname, location);
    if (!*location || location[0] == '/' || strstr(location, ".."))
        return cbr_fail(CBR_EINVAL, "%s: tensor '%s': external data location '%s' must be a "
                        "relative path inside the model's folder (no '/' start, no '..')",
                        m->name, tname, location);
    char path[PATH_MAX], real_dir[PATH_MAX], real_file[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, location) >= (int)sizeof path)
        return cbr_fail(CBR_ERANGE, "%s: tensor '%s': external data path too long", m->name,
                        tname);
    if (!realpath(dir, real_dir))
        return cbr_fail(CBR_ENOENT, "%s: the model's folder '%s': %s", m->name, dir,
                        strerror(errno));
    if (!realpath(path, real_file))
        return cbr_fail(CBR_ENOENT, "%s: tensor '%s': external data '%s': %s", m->name, tname,
                        path, strerror(errno));
    size_t dl = strlen(real_dir);
    if (strncmp(real_file, real_dir, dl) != 0 || (real_file[dl] != '/' && dl > 1))
        return cbr_fail(CBR_EINVAL, "%s: tensor '%s': external data '%s' leads outside the "
                        "model's folder (to %s)", m->name, tname, location, real_file);
    int fd = open(real_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cbr_fail(CBR_ENOENT, "%s: tensor '%s': external data '%s': %s", m->name, tname,
                        path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = cbr_fail(CBR_EIO, "%s: tensor '%s': external data '%s' is not a regular file",
                      m->name, tname, path);
        goto out_close;
    }
    if (offset > (uint64_t)st.st_size || len > (uint64_t)st.st_size - offset) {
        rc = cbr_fail(CBR_EBADMSG, "%s: tensor '%s': external data '%s' has %lld bytes; "
                      "offset %llu + length %llu runs past its end", m->name, tname, path,
                      (long long)st.st_size, (unsigned long long)offset,
                      (unsigned long long)len);
        goto out_close;
    }
    uint8_t *p = dst;
    uint64_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, p + done, (size_t)(len - done), (off_t)(offset + done));
        if (r <= 0) {
            rc = cbr_fail(CBR_EIO, "%s: tensor '%s': reading external data '%s' failed",
                          m->name, tname, path);
            goto out_close;
        }
        done += (uint64_t)r;
    }
out_close:
    close(fd);
    return rc;
}

/* ---- tensors ---------------------------------------------------------------------------- */

/* Fill constant tensor t (name set) from a TensorProto. */
static int load_tensor(const cbr_model *m, m_tensor *t, const Onnx__TensorProto *tp,
                       const char *dir)
{
    const char *nm = t->name;
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t isz = dtype_bytes(dt);
    if (isz == 0)
        return cbr_fail(CBR_ENOTSUP, "%s: tensor '%s': data type %d is not supported (float, "
                        "uint8, int8, int32, int64 are)", m->name, nm, dt);
    if (tp->segment)
        return cbr_fail(CBR_ENOTSUP, "%s: tensor '%s': segmented tensors are not supported",
                        m->name, nm);
    if (tp->n_dims > M_MAX_DIMS)
        return cbr_fail(CBR_ERANGE, "%s: tensor '%s': %zu dimensions (at most %d)", m->name,
                        nm, tp->n_dims, M_MAX_DIMS);
    uint64_t count = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d <= 0)
            return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': dimension %zu is %lld (must be "
                            ">= 1)", m->name, nm, i, (long long)d);
        if ((uint64_t)d > M_MAX_ELEMS || count * (uint64_t)d > M_MAX_ELEMS)
            return cbr_fail(CBR_ERANGE, "%s: tensor '%s': more than %llu elements", m->name,
                            nm, (unsigned long long)M_MAX_ELEMS);
        count *= (uint64_t)d;
        t->dims[i] = (uint32_t)d;
    }
    t->ndim = (uint32_t)tp->n_dims;
    t->count = count;
    t->dtype = dt;
    t->is_const = true;

    const uint64_t bytes = count * isz;
    void *raw = NULL;
    bool ext = tp->has_data_location &&
               tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t typed = dt == M_FLOAT ? tp->n_float_data
                   : dt == M_INT64 ? tp->n_int64_data : tp->n_int32_data;
    if (ext) {
        const char *loc = NULL;
        uint64_t off = 0, len = bytes;
        bool have_len = false;
        for (size_t i = 0; i < tp->n_external_data; i++) {
            const Onnx__StringStringEntryProto *e = tp->external_data[i];
            if (!e->key || !e->value)
                continue;
            if (!strcmp(e->key, "location")) {
                loc = e->value;
            } else if (!strcmp(e->key, "offset") || !strcmp(e->key, "length")) {
                uint64_t v;
                if (!parse_u64(e->value, &v))
                    return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': external data %s '%s' is "
                                    "not a number", m->name, nm, e->key, e->value);
                if (e->key[0] == 'o') {
                    off = v;
                } else {
                    len = v;
                    have_len = true;
                }
            }
        }
        if (!loc)
            return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': external data without a location",
                            m->name, nm);
        if (have_len && len != bytes)
            return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': external data length %llu is not "
                            "the %llu bytes of %llu %s values", m->name, nm,
                            (unsigned long long)len, (unsigned long long)bytes,
                            (unsigned long long)count, dtype_text(dt));
        if (!(raw = malloc(bytes)))
            return cbr_fail(CBR_ENOMEM, "%s: tensor '%s': out of memory", m->name, nm);
        int rc = read_external(m, nm, dir, loc, off, bytes, raw);
        if (rc < 0) {
            free(raw);
            return rc;
        }
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != bytes)
            return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': raw_data has %zu bytes; shape and "
                            "dtype need %llu (%llu %s values)", m->name, nm, tp->raw_data.len,
                            (unsigned long long)bytes, (unsigned long long)count,
                            dtype_text(dt));
    } else if (typed != count) {
        return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': %zu %s values stored; its shape "
                        "needs %llu", m->name, nm, typed,
                        dt == M_FLOAT ? "float_data" : dt == M_INT64 ? "int64_data"
                                                                       : "int32_data",
                        (unsigned long long)count);
    }

    t->f = malloc(count * sizeof *t->f);
    t->i64 = malloc(count * sizeof *t->i64);
    if (!t->f || !t->i64) {
        free(raw);
        return cbr_fail(CBR_ENOMEM, "%s: tensor '%s': out of memory", m->name, nm);
    }
    const uint8_t *src = raw ? raw : tp->has_raw_data ? tp->raw_data.data : NULL;
    for (uint64_t i = 0; i < count; i++) {
        int64_t iv = 0;
        float fv = 0;
        if (src) { /* little-endian, as ONNX stores raw data */
            const uint8_t *b = src + i * isz;
            uint64_t u = 0;
            for (size_t k = 0; k < isz; k++)
                u |= (uint64_t)b[k] << (8 * k);
            switch (dt) {
            case M_FLOAT: {
                uint32_t u32 = (uint32_t)u;
                memcpy(&fv, &u32, 4);
                break;
            }
            case M_UINT8: iv = (int64_t)(uint8_t)u; break;
            case M_INT8: iv = (int8_t)(uint8_t)u; break;
            case M_INT32: iv = (int32_t)(uint32_t)u; break;
            default: iv = (int64_t)u; break;
            }
        } else if (dt == M_FLOAT) {
            fv = tp->float_data[i];
        } else if (dt == M_INT64) {
            iv = tp->int64_data[i];
        } else {
            int32_t v = tp->int32_data[i];
            iv = dt == M_UINT8 ? (int64_t)(uint8_t)v : dt == M_INT8 ? (int64_t)(int8_t)v : v;
            if (iv != v) {
                free(raw);
                return cbr_fail(CBR_EBADMSG, "%s: tensor '%s': value %d at %llu does not fit "
                                "%s", m->name, nm, v, (unsigned long long)i, dtype_text(dt));
            }
        }
        if (dt == M_FLOAT) {
            t->f[i] = fv;
            t->i64[i] = 0;
        } else {
            t->i64[i] = iv;
            t->f[i] = (float)iv;
        }
    }
    free(raw);
    return 0;
}

/* ---- attributes ------------------------------------------------------------------------- */

static int attr_type_fail(const cbr_model *m, const m_node *n, const char *attr,
                          const char *want)
{
    return cbr_fail(CBR_EBADMSG, "%s: node '%s' (%s): attribute '%s' must be %s", m->name,
                    n->name, m_op_names[n->op], attr, want);
}

/* Attributes that are pairs (or a window of 2) over H and W. */
static int attr_pair(const cbr_model *m, const m_node *n, const Onnx__AttributeProto *a,
                     int64_t out[2], int64_t min)
{
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS || a->n_ints != 2)
        return cbr_fail(CBR_ENOTSUP, "%s: node '%s' (%s): attribute '%s' must be 2 ints (only "
                        "2-D convolution and pooling are supported)", m->name, n->name,
                        m_op_names[n->op], a->name);
    for (int i = 0; i < 2; i++) {
        if (a->ints[i] < min || a->ints[i] > CBR_MAX_DIM)
            return cbr_fail(CBR_EINVAL, "%s: node '%s' (%s): attribute '%s' value %lld is "
                            "outside [%lld, %d]", m->name, n->name, m_op_names[n->op],
                            a->name, (long long)a->ints[i], (long long)min, CBR_MAX_DIM);
        out[i] = a->ints[i];
    }
    return 0;
}

static int parse_attrs(const cbr_model *m, m_node *n, const Onnx__NodeProto *np)
{
    n->strides[0] = n->strides[1] = 1;
    n->dilations[0] = n->dilations[1] = 1;
    n->group = 1;
    n->alpha = n->op == OP_LEAKY ? 0.01f : 1.0f;
    n->beta = 1.0f;
    n->eps = 1e-5f;
    n->clip_min = -INFINITY;
    n->clip_max = INFINITY;
    n->axis = 1;
    int rc;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        const char *an = a->name ? a->name : "";
        bool is_int = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        bool is_float = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        if (!strcmp(an, "kernel_shape")) {
            if ((rc = attr_pair(m, n, a, n->kernel, 1)) < 0)
                return rc;
            n->n_kernel = 2;
        } else if (!strcmp(an, "strides")) {
            if ((rc = attr_pair(m, n, a, n->strides, 1)) < 0)
                return rc;
        } else if (!strcmp(an, "dilations")) {
            if ((rc = attr_pair(m, n, a, n->dilations, 1)) < 0)
                return rc;
        } else if (!strcmp(an, "pads")) {
            if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS || a->n_ints != 4)
                return attr_type_fail(m, n, an, "4 ints (2-D: top, left, bottom, right)");
            for (int k = 0; k < 4; k++) {
                if (a->ints[k] < 0 || a->ints[k] > CBR_MAX_DIM)
                    return cbr_fail(CBR_EINVAL, "%s: node '%s' (%s): pads[%d] = %lld is "
                                    "outside [0, %d]", m->name, n->name, m_op_names[n->op],
                                    k, (long long)a->ints[k], CBR_MAX_DIM);
                n->pads[k] = a->ints[k];
            }
            n->has_pads = true;
        } else if (!strcmp(an, "auto_pad")) {
            if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
                return attr_type_fail(m, n, an, "a string");
            const char *v = (const char *)a->s.data;
            size_t l = a->s.len;
            if (l == 6 && !memcmp(v, "NOTSET", 6))
                n->auto_pad = PAD_NOTSET;
            else if (l == 10 && !memcmp(v, "SAME_UPPER", 10))
                n->auto_pad = PAD_SAME_UPPER;
            else if (l == 10 && !memcmp(v, "SAME_LOWER", 10))
                n->auto_pad = PAD_SAME_LOWER;
            else if (l == 5 && !memcmp(v, "VALID", 5))
                n->auto_pad = PAD_VALID;
            else
                return attr_type_fail(m, n, an, "NOTSET, SAME_UPPER, SAME_LOWER or VALID");
        } else if (!strcmp(an, "group")) {
            if (!is_int || a->i < 1 || a->i > CBR_MAX_DIM)
                return attr_type_fail(m, n, an, "an int in [1, 65536]");
            n->group = a->i;
        } else if (!strcmp(an, "ceil_mode") || !strcmp(an, "count_include_pad") ||
                   !strcmp(an, "transA") || !strcmp(an, "transB")) {
            if (!is_int || (a->i != 0 && a->i != 1))
                return attr_type_fail(m, n, an, "0 or 1");
            if (an[0] == 'c' && an[1] == 'e')
                n->ceil_mode = a->i;
            else if (an[0] == 'c')
                n->count_include_pad = a->i;
            else if (an[5] == 'A')
                n->trans_a = a->i;
            else
                n->trans_b = a->i;
        } else if (!strcmp(an, "axis")) {
            if (!is_int || a->i < -M_MAX_DIMS || a->i > M_MAX_DIMS)
                return attr_type_fail(m, n, an, "a small int");
            n->axis = a->i;
            n->has_axis = true;
        } else if (!strcmp(an, "alpha") || !strcmp(an, "beta") || !strcmp(an, "epsilon") ||
                   !strcmp(an, "min") || !strcmp(an, "max")) {
            if (!is_float || !isfinite(a->f))
                return attr_type_fail(m, n, an, "a finite float");
            switch (an[0]) {
            case 'a': n->alpha = a->f; break;
            case 'b': n->beta = a->f; break;
            case 'e': n->eps = a->f; break;
            default:
                if (an[1] == 'i')
                    n->clip_min = a->f;
                else
                    n->clip_max = a->f;
            }
        } else if (!strcmp(an, "training_mode") || !strcmp(an, "allowzero") ||
                   !strcmp(an, "storage_order") || !strcmp(an, "spatial")) {
            if (!is_int || (a->i != 0 && !(an[0] == 's' && a->i == 1)))
                return cbr_fail(CBR_ENOTSUP, "%s: node '%s' (%s): attribute %s = %lld is not "
                                "supported (only 0)", m->name, n->name, m_op_names[n->op], an,
                                (long long)a->i);
        } else if (!strcmp(an, "momentum") || !strcmp(an, "seed") || !strcmp(an, "ratio")) {
            /* training-only: no effect on inference */
        } else {
            return cbr_fail(CBR_ENOTSUP, "%s: node '%s' (%s): attribute '%s' is not supported",
                            m->name, n->name, m_op_names[n->op], an);
        }
    }
    return 0;
}

/* ---- the graph -------------------------------------------------------------------------- */

static int op_from_name(const char *s)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(s, m_op_names[i]))
            return i;
    return -1;
}

static int add_node(cbr_model *m, m_node **out)
{
    if (m->n_nodes == m->cap_nodes) {
        uint32_t cap = m->cap_nodes ? m->cap_nodes * 2 : 32;
        m_node *nn = realloc(m->nodes, cap * sizeof *nn);
        if (!nn)
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        m->nodes = nn;
        m->cap_nodes = cap;
    }
    *out = &m->nodes[m->n_nodes++];
    memset(*out, 0, sizeof **out);
    return 0;
}

static bool valid_name(const char *s)
{
    return s && *s && strlen(s) < MAX_NAME;
}

/* A Constant node becomes a constant tensor. */
static int load_constant(cbr_model *m, const Onnx__NodeProto *np, const char *nname,
                         const char *dir)
{
    if (np->n_output != 1 || !valid_name(np->output[0]))
        return cbr_fail(CBR_EBADMSG, "%s: node '%s' (Constant): needs one named output",
                        m->name, nname);
    const Onnx__TensorProto *tp = NULL;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        if (a->name && !strcmp(a->name, "value") && a->t)
            tp = a->t;
        else
            return cbr_fail(CBR_ENOTSUP, "%s: node '%s' (Constant): only the 'value' "
                            "attribute (a tensor) is supported", m->name, nname);
    }
    if (!tp)
        return cbr_fail(CBR_EBADMSG, "%s: node '%s' (Constant): no 'value' tensor", m->name,
                        nname);
    if (m_find_tensor(m, np->output[0]) >= 0)
        return cbr_fail(CBR_EBADMSG, "%s: node '%s' (Constant): output '%s' is already "
                        "defined", m->name, nname, np->output[0]);
    int idx, rc;
    if ((rc = add_tensor(m, np->output[0], &idx)) < 0)
        return rc;
    return load_tensor(m, &m->t[idx], tp, dir);
}

/* Append "'name' (Op)" to the list of unsupported nodes. */
static void note_unsupported(char *list, size_t cap, size_t *count, const char *nname,
                             const char *op)
{
    size_t l = strlen(list);
    if (*count < 20 && l + 8 < cap)
        snprintf(list + l, cap - l, "%s'%s' (%s)", l ? ", " : "", nname, op);
    else if (*count == 20 && l + 8 < cap)
        snprintf(list + l, cap - l, ", ...");
    (*count)++;
}

static int load_graph(cbr_model *m, const Onnx__GraphProto *g, const char *dir)
{
    int rc, idx;
    if (g->n_node > MAX_NODES)
        return cbr_fail(CBR_ERANGE, "%s: %zu nodes (at most %d)", m->name, g->n_node,
                        MAX_NODES);
    if (g->n_sparse_initializer)
        return cbr_fail(CBR_ENOTSUP, "%s: sparse initializers are not supported", m->name);
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        if (!valid_name(tp->name))
            return cbr_fail(CBR_EBADMSG, "%s: initializer %zu has no name", m->name, i);
        if (m_find_tensor(m, tp->name) >= 0)
            return cbr_fail(CBR_EBADMSG, "%s: initializer '%s' is defined twice", m->name,
                            tp->name);
        if ((rc = add_tensor(m, tp->name, &idx)) < 0 ||
            (rc = load_tensor(m, &m->t[idx], tp, dir)) < 0)
            return rc;
    }

    /* The one graph input that is not an initializer: float (N, ...). */
    m->input = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!valid_name(vi->name))
            return cbr_fail(CBR_EBADMSG, "%s: graph input %zu has no name", m->name, i);
        if (m_find_tensor(m, vi->name) >= 0)
            continue; /* an initializer listed as an input (older exporters) */
        if (m->input >= 0)
            return cbr_fail(CBR_ENOTSUP, "%s: the graph has more than one input ('%s' and "
                            "'%s'); one is supported", m->name, m->t[m->input].name, vi->name);
        const Onnx__TypeProto *ty = vi->type;
        if (!ty || ty->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
            !ty->tensor_type->has_elem_type || ty->tensor_type->elem_type != M_FLOAT)
            return cbr_fail(CBR_ENOTSUP, "%s: graph input '%s' must be a float tensor",
                            m->name, vi->name);
        const Onnx__TensorShapeProto *sh = ty->tensor_type->shape;
        if (!sh || sh->n_dim < 2 || sh->n_dim > M_MAX_DIMS)
            return cbr_fail(CBR_ENOTSUP, "%s: graph input '%s' must have a known shape "
                            "(N, ...) of 2 to %d dimensions", m->name, vi->name, M_MAX_DIMS);
        if ((rc = add_tensor(m, vi->name, &idx)) < 0)
            return rc;
        m_tensor *t = &m->t[idx];
        t->dtype = M_FLOAT;
        t->ndim = (uint32_t)sh->n_dim - 1;
        t->count = 1;
        for (size_t d = 1; d < sh->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = sh->dim[d];
            if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
                dm->dim_value < 1 || dm->dim_value > CBR_MAX_DIM)
                return cbr_fail(CBR_ENOTSUP, "%s: graph input '%s': dimension %zu must be a "
                                "number in [1, %d] (only the batch may be symbolic)", m->name,
                                vi->name, d, CBR_MAX_DIM);
            t->dims[d - 1] = (uint32_t)dm->dim_value;
            t->count *= (uint64_t)dm->dim_value;
        }
        if (t->count > M_MAX_ELEMS)
            return cbr_fail(CBR_ERANGE, "%s: graph input '%s': a sample of more than %llu "
                            "elements", m->name, vi->name, (unsigned long long)M_MAX_ELEMS);
        m->input = idx;
    }
    if (m->input < 0)
        return cbr_fail(CBR_EINVAL, "%s: the graph has no input besides its initializers",
                        m->name);

    char unsupported[1024] = "";
    size_t n_unsupported = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        char fallback[32];
        snprintf(fallback, sizeof fallback, "#%zu", i);
        const char *nname = valid_name(np->name) ? np->name : fallback;
        const char *opname = np->op_type ? np->op_type : "";
        const bool foreign = np->domain && *np->domain && strcmp(np->domain, "ai.onnx");
        if (!foreign && !strcmp(opname, "Constant")) {
            if ((rc = load_constant(m, np, nname, dir)) < 0)
                return rc;
            continue;
        }
        int op = foreign ? -1 : op_from_name(opname);
        if (op < 0) {
            note_unsupported(unsupported, sizeof unsupported, &n_unsupported, nname, opname);
            /* define its outputs, so that the nodes after it are checked and listed too */
            for (size_t k = 0; k < np->n_output; k++)
                if (valid_name(np->output[k]) && m_find_tensor(m, np->output[k]) < 0 &&
                    (rc = add_tensor(m, np->output[k], &idx)) < 0)
                    return rc;
            continue;
        }
        m_node *n = NULL;
        if ((rc = add_node(m, &n)) < 0)
            return rc;
        n->op = (m_op)op;
        if (!(n->name = strdup(nname)))
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        if (np->n_input > M_MAX_INPUTS || np->n_input == 0)
            return cbr_fail(CBR_EBADMSG, "%s: node '%s' (%s): %zu inputs", m->name, n->name,
                            opname, np->n_input);
        n->n_in = (uint32_t)np->n_input;
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = np->input[k];
            if (!in || !*in) {
                n->in[k] = -1;
                continue;
            }
            int ti = m_find_tensor(m, in);
            if (ti < 0)
                return cbr_fail(CBR_EBADMSG, "%s: node '%s' (%s): input '%s' is not defined "
                                "before use (the graph must be topologically sorted)", m->name,
                                n->name, opname, in);
            n->in[k] = ti;
            m->t[ti].n_consumers++;
        }
        if (np->n_output < 1 || np->n_output > 2 || !valid_name(np->output[0]))
            return cbr_fail(CBR_EBADMSG, "%s: node '%s' (%s): needs one named output", m->name,
                            n->name, opname);
        for (size_t k = 0; k < np->n_output; k++) {
            const char *on = np->output[k];
            if (!on || !*on)
                continue;
            if (m_find_tensor(m, on) >= 0)
                return cbr_fail(CBR_EBADMSG, "%s: node '%s' (%s): output '%s' is already "
                                "defined (each tensor has one producer)", m->name, n->name,
                                opname, on);
            if ((rc = add_tensor(m, on, &idx)) < 0)
                return rc;
            m->t[idx].producer = (int)(n - m->nodes);
            if (k == 0)
                n->out = idx;
        }
        n = &m->nodes[m->n_nodes - 1]; /* add_tensor does not move nodes, but be plain */
        if ((rc = parse_attrs(m, n, np)) < 0)
            return rc;
    }
    if (n_unsupported)
        return cbr_fail(CBR_ENOTSUP, "%s: %zu node%s with an operator that cbr cannot run: "
                        "%s", m->name, n_unsupported, n_unsupported == 1 ? "" : "s",
                        unsupported);
    if (m->n_nodes == 0)
        return cbr_fail(CBR_EINVAL, "%s: the graph has no nodes", m->name);

    if (g->n_output != 1 || !valid_name(g->output[0]->name))
        return cbr_fail(CBR_ENOTSUP, "%s: the graph must have exactly one named output (it "
                        "has %zu)", m->name, g->n_output);
    m->output = m_find_tensor(m, g->output[0]->name);
    if (m->output < 0 || m->t[m->output].producer < 0)
        return cbr_fail(CBR_EBADMSG, "%s: graph output '%s' is not produced by any node",
                        m->name, g->output[0]->name);
    m->t[m->output].is_output = true;
    return 0;
}

static uint64_t fnv1a(const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

int m_onnx_parse(cbr_model **out, const void *bytes, size_t len, const char *name,
                 const char *dir)
{
    if (!out)
        return cbr_fail(CBR_EINVAL, "cbr_model_parse: model is NULL");
    *out = NULL;
    if (!name)
        name = "model";
    if (!bytes || len == 0)
        return cbr_fail(CBR_EBADMSG, "%s: empty file", name);
    cbr_model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name))) {
        free(m);
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", name);
    }
    m->input = m->output = -1;
    m->hash = fnv1a(bytes, len);
    int rc;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, bytes);
    if (!mp) {
        rc = cbr_fail(CBR_EBADMSG, "%s: not an ONNX model (the protobuf does not parse)",
                      name);
        goto out_free;
    }
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            m->opset = o->version;
    }
    if (m->opset < 7) {
        rc = cbr_fail(CBR_ENOTSUP, "%s: the model imports no default-domain opset >= 7 "
                      "(it has %lld)", name, (long long)m->opset);
        goto out_unpacked;
    }
    if (!mp->graph) {
        rc = cbr_fail(CBR_EBADMSG, "%s: the model has no graph", name);
        goto out_unpacked;
    }
    if ((rc = load_graph(m, mp->graph, dir)) < 0)
        goto out_unpacked;
    onnx__model_proto__free_unpacked(mp, NULL);
    if ((rc = m_prepare(m)) < 0)
        goto out_free;
    *out = m;
    return 0;

out_unpacked:
    onnx__model_proto__free_unpacked(mp, NULL);
out_free:
    m_free(m);
    return rc;
}
