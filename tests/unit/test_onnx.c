/*
 * test_onnx.c - the ONNX loader, the float executor, calibration, quantization files and the
 * int8 run, on models built here with the generated protobuf-c API (random weights from a
 * printed seed), and the loader's refusals of bad models.
 *
 * CBR_SEED=<seed> replays a run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbr.h"
#include "onnx.pb-c.h"
#include "testrng.h"

static double urand(double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64() >> 11) * 0x1p-53;
}

/* ---- a small model builder over the generated protobuf-c structs ------------------------ */

#define MAXN 32

typedef struct builder {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto nodes[MAXN], *node_ptrs[MAXN];
    Onnx__AttributeProto attrs[MAXN][6], *attr_ptrs[MAXN][6];
    char *in_names[MAXN][9], *out_names[MAXN][1];
    Onnx__TensorProto inits[MAXN], *init_ptrs[MAXN];
    int64_t init_dims[MAXN][4];
    float *init_data[MAXN];
    uint8_t *init_raw[MAXN];
    Onnx__ValueInfoProto io[2], *in_ptr[1], *out_ptr[1];
    Onnx__TypeProto types[2];
    Onnx__TypeProto__Tensor ttypes[2];
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dims[4], *dim_ptrs[4];
} builder;

static builder *bld_new(const char *input, const int64_t in_shape[4], const char *output)
{
    builder *b = calloc(1, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.node = b->node_ptrs;
    b->graph.initializer = b->init_ptrs;
    for (int i = 0; i < 2; i++) {
        onnx__value_info_proto__init(&b->io[i]);
        onnx__type_proto__init(&b->types[i]);
        onnx__type_proto__tensor__init(&b->ttypes[i]);
        b->ttypes[i].has_elem_type = 1;
        b->ttypes[i].elem_type = 1;
        b->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        b->types[i].tensor_type = &b->ttypes[i];
        b->io[i].type = &b->types[i];
    }
    onnx__tensor_shape_proto__init(&b->shape);
    for (int i = 0; i < 4; i++) {
        onnx__tensor_shape_proto__dimension__init(&b->dims[i]);
        b->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        b->dims[i].dim_value = in_shape[i];
        b->dim_ptrs[i] = &b->dims[i];
    }
    b->shape.n_dim = 4;
    b->shape.dim = b->dim_ptrs;
    b->ttypes[0].shape = &b->shape;
    b->io[0].name = (char *)input;
    b->io[1].name = (char *)output;
    b->in_ptr[0] = &b->io[0];
    b->out_ptr[0] = &b->io[1];
    b->graph.n_input = 1;
    b->graph.input = b->in_ptr;
    b->graph.n_output = 1;
    b->graph.output = b->out_ptr;
    return b;
}

/* A float initializer of random values in [lo, hi). */
static Onnx__TensorProto *bld_init(builder *b, const char *name, int nd, const int64_t *dims,
                                   double lo, double hi)
{
    size_t i = b->graph.n_initializer++;
    Onnx__TensorProto *t = &b->inits[i];
    onnx__tensor_proto__init(t);
    size_t count = 1;
    for (int k = 0; k < nd; k++) {
        b->init_dims[i][k] = dims[k];
        count *= (size_t)dims[k];
    }
    t->n_dims = (size_t)nd;
    t->dims = b->init_dims[i];
    t->has_data_type = 1;
    t->data_type = 1;
    t->name = (char *)name;
    b->init_data[i] = malloc(count * sizeof(float));
    for (size_t k = 0; k < count; k++)
        b->init_data[i][k] = (float)urand(lo, hi);
    t->n_float_data = count;
    t->float_data = b->init_data[i];
    b->init_ptrs[i] = t;
    return t;
}

/* An initializer of ONNX type dtype (1 float, 2 uint8, 3 int8, 6 int32) from values v, as
 * raw_data; nd 0 is a scalar. */
static void bld_init_vals(builder *b, const char *name, int nd, const int64_t *dims, int dtype,
                          const double *v)
{
    size_t i = b->graph.n_initializer++;
    Onnx__TensorProto *t = &b->inits[i];
    onnx__tensor_proto__init(t);
    size_t count = 1, es = dtype == 2 || dtype == 3 ? 1 : 4;
    for (int k = 0; k < nd; k++) {
        b->init_dims[i][k] = dims[k];
        count *= (size_t)dims[k];
    }
    t->n_dims = (size_t)nd;
    t->dims = b->init_dims[i];
    t->has_data_type = 1;
    t->data_type = dtype;
    t->name = (char *)name;
    uint8_t *raw = b->init_raw[i] = malloc(count * es);
    for (size_t k = 0; k < count; k++) {
        if (dtype == 1) {
            float f = (float)v[k];
            memcpy(raw + 4 * k, &f, 4);
        } else if (dtype == 6) {
            int32_t q = (int32_t)v[k];
            memcpy(raw + 4 * k, &q, 4);
        } else {
            raw[k] = (uint8_t)(int)v[k];
        }
    }
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = count * es;
    b->init_ptrs[i] = t;
}

static Onnx__NodeProto *bld_node(builder *b, const char *op, const char *name, int n_in,
                                 const char *const *ins, const char *out)
{
    size_t i = b->graph.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    for (int k = 0; k < n_in; k++)
        b->in_names[i][k] = (char *)ins[k];
    n->n_input = (size_t)n_in;
    n->input = b->in_names[i];
    b->out_names[i][0] = (char *)out;
    n->n_output = 1;
    n->output = b->out_names[i];
    n->attribute = b->attr_ptrs[i];
    b->node_ptrs[i] = n;
    return n;
}

static void bld_ints(builder *b, Onnx__NodeProto *n, const char *name, int cnt, int64_t *v)
{
    size_t ni = (size_t)(n - b->nodes), k = n->n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[ni][k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    if (cnt == 1) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = v[0];
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->n_ints = (size_t)cnt;
        a->ints = v;
    }
    b->attr_ptrs[ni][k] = a;
}

static void bld_str(builder *b, Onnx__NodeProto *n, const char *name, const char *v)
{
    size_t ni = (size_t)(n - b->nodes), k = n->n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[ni][k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.data = (uint8_t *)v;
    a->s.len = strlen(v);
    b->attr_ptrs[ni][k] = a;
}

static uint8_t *bld_pack(builder *b, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*len);
    onnx__model_proto__pack(&b->model, buf);
    return buf;
}

static void bld_free(builder *b)
{
    for (size_t i = 0; i < b->graph.n_initializer; i++) {
        free(b->init_data[i]);
        free(b->init_raw[i]);
    }
    free(b);
}

/* Attribute values the builders point at (they must outlive the builder). */
static int64_t pads_asym[4] = {0, 1, 1, 0}, two_two[2] = {2, 2}, three[2] = {3, 3}, one[1] = {1};

/* LeNet-like: Conv(asymmetric pads, 7x7 -> 6x6) + BN + Relu + MaxPool(3x3 stride 2, ceil:
 * 3x3, where floor would give 2x2) + Flatten + Gemm. */
static builder *lenet(void)
{
    int64_t in[4] = {1, 2, 7, 7};
    builder *b = bld_new("x", in, "y");
    int64_t wd[4] = {4, 2, 3, 3}, c4[1] = {4}, gd[2] = {5, 4 * 3 * 3}, g5[1] = {5};
    bld_init(b, "w", 4, wd, -0.5, 0.5);
    bld_init(b, "cb", 1, c4, -0.1, 0.1);
    bld_init(b, "g", 1, c4, 0.5, 1.5);
    bld_init(b, "be", 1, c4, -0.2, 0.2);
    bld_init(b, "mu", 1, c4, -0.2, 0.2);
    bld_init(b, "var", 1, c4, 0.5, 1.5);
    bld_init(b, "fw", 2, gd, -0.3, 0.3);
    bld_init(b, "fb", 1, g5, -0.1, 0.1);
    const char *ci[] = {"x", "w", "cb"}, *bi[] = {"c", "g", "be", "mu", "var"};
    Onnx__NodeProto *conv = bld_node(b, "Conv", "conv", 3, ci, "c");
    bld_ints(b, conv, "pads", 4, pads_asym);
    bld_node(b, "BatchNormalization", "bn", 5, bi, "bn");
    const char *ri[] = {"bn"}, *pi[] = {"r"}, *fi[] = {"p"}, *gi[] = {"f", "fw", "fb"};
    bld_node(b, "Relu", "relu", 1, ri, "r");
    Onnx__NodeProto *pool = bld_node(b, "MaxPool", "pool", 1, pi, "p");
    bld_ints(b, pool, "kernel_shape", 2, three);
    bld_ints(b, pool, "strides", 2, two_two);
    bld_ints(b, pool, "ceil_mode", 1, one);
    bld_node(b, "Flatten", "flat", 1, fi, "f");
    Onnx__NodeProto *g = bld_node(b, "Gemm", "fc", 3, gi, "y");
    bld_ints(b, g, "transB", 1, one);
    return b;
}

static cbr_tensor *rand_input(uint64_t n, uint64_t c, uint64_t h, uint64_t w)
{
    cbr_tensor *t;
    uint64_t shape[4] = {n, c, h, w};
    assert_int_equal(cbr_tensor_create(&t, CBR_DTYPE_FLOAT32, 4, shape), 0);
    for (uint64_t i = 0; i < t->count; i++)
        ((float *)t->data)[i] = (float)urand(-1, 1);
    return t;
}

static void seed(const char *test)
{
    uint64_t s = test_seed();
    print_message("%s: seed %llu (CBR_SEED=%llu replays it)\n", test, (unsigned long long)s,
                  (unsigned long long)s);
    rng = s;
}

/* int8 on the cpu device against the float model: every output within tol of the float
 * output range (the quantization error of three requantized tensors). */
static void check_int8_vs_float(cbr_model *m, const cbr_tensor *x, double tol)
{
    cbr_tensor *yf, *yq;
    cbr_device *dev;
    assert_int_equal(cbr_model_run_float(m, x, &yf), 0);
    assert_false(cbr_model_is_quantized(m));
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    assert_int_equal(cbr_model_run(m, dev, x, false, &yq), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "calibrate"));
    assert_int_equal(cbr_model_calibrate(m, x), 0);
    assert_true(cbr_model_is_quantized(m));
    assert_int_equal(cbr_model_run(m, dev, x, false, &yq), 0);
    assert_int_equal(yq->count, yf->count);
    const float *a = yf->data, *q = yq->data;
    double lo = INFINITY, hi = -INFINITY, worst = 0;
    for (uint64_t i = 0; i < yf->count; i++) {
        lo = fmin(lo, a[i]);
        hi = fmax(hi, a[i]);
    }
    for (uint64_t i = 0; i < yf->count; i++)
        worst = fmax(worst, fabs(a[i] - q[i]));
    print_message("  int8 vs float: worst |diff| %.4f of an output range %.4f\n", worst,
                  hi - lo);
    if (worst > tol * (hi - lo))
        fail_msg("int8 output differs from float by %g, over %g of the range %g", worst, tol,
                 hi - lo);
    assert_true(cbr_model_layer_count(m) > 0);
    cbr_tensor_free(yf);
    cbr_tensor_free(yq);
    cbr_device_close(dev);
}

static void test_onnx_lenet_int8_within_quantization_error_of_float(void **state)
{
    (void)state;
    seed(__func__);
    builder *b = lenet();
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "lenet.onnx", NULL), 0);
    uint32_t nd;
    uint64_t shape[CBR_TENSOR_MAX_DIMS];
    assert_int_equal(cbr_model_input_shape(m, &nd, shape), 0);
    assert_int_equal(nd, 3);
    assert_int_equal(shape[2], 7);
    cbr_tensor *x = rand_input(70, 2, 7, 7);
    check_int8_vs_float(m, x, 0.08);
    /* the fused steps: conv block, flatten (host), fc */
    cbr_model_layer l;
    assert_int_equal(cbr_model_layer_info(m, 0, &l), 0);
    assert_string_equal(l.ops, "Conv+BatchNormalization+Relu+MaxPool");
    assert_true(l.on_device);
    cbr_tensor_free(x);
    cbr_model_free(m);
    free(buf);
    bld_free(b);
}

/* Residual add, depthwise conv with SAME_UPPER padding, GAP, Softmax at the tail. */
static void test_onnx_residual_depthwise_gap_softmax(void **state)
{
    (void)state;
    seed(__func__);
    int64_t in[4] = {1, 3, 6, 5};
    builder *b = bld_new("x", in, "y");
    int64_t w1[4] = {3, 1, 3, 3}, w2[4] = {3, 3, 1, 1}, c3[1] = {3};
    bld_init(b, "dw", 4, w1, -0.6, 0.6);
    bld_init(b, "pw", 4, w2, -0.6, 0.6);
    bld_init(b, "pb", 1, c3, -0.1, 0.1);
    const char *i1[] = {"x", "dw"}, *i2[] = {"d", "pw", "pb"}, *i3[] = {"e", "x"},
               *i4[] = {"s"}, *i5[] = {"r"}, *i6[] = {"g"}, *i7[] = {"f"};
    Onnx__NodeProto *d = bld_node(b, "Conv", "dwconv", 2, i1, "d");
    bld_ints(b, d, "group", 1, (int64_t[]){3});
    bld_str(b, d, "auto_pad", "SAME_UPPER");
    bld_ints(b, d, "strides", 2, (int64_t[]){1, 1});
    bld_node(b, "Conv", "pwconv", 3, i2, "e");
    bld_node(b, "Add", "add", 2, i3, "s");
    bld_node(b, "Relu", "relu", 1, i4, "r");
    bld_node(b, "GlobalAveragePool", "gap", 1, i5, "g");
    bld_node(b, "Flatten", "flat", 1, i6, "f");
    bld_node(b, "Softmax", "softmax", 1, i7, "y");
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "res.onnx", NULL), 0);
    cbr_tensor *x = rand_input(40, 3, 6, 5);
    check_int8_vs_float(m, x, 0.08);
    cbr_tensor_free(x);
    cbr_model_free(m);
    free(buf);
    bld_free(b);
}

/* Ranges saved to a quantization file give the same int8 output when loaded again. */
static void test_onnx_save_load_ranges_roundtrip(void **state)
{
    (void)state;
    seed(__func__);
    char dir[] = "/tmp/cbr_onnx_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char onnx[64], q[64];
    snprintf(onnx, sizeof onnx, "%s/m.onnx", dir);
    snprintf(q, sizeof q, "%s/m.cbrq", dir);
    builder *b = lenet();
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    FILE *f = fopen(onnx, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    cbr_model *m, *m2;
    cbr_device *dev;
    cbr_tensor *x = rand_input(9, 2, 7, 7), *y1, *y2;
    assert_int_equal(cbr_model_load(&m, onnx), 0);
    assert_int_equal(cbr_model_calibrate(m, x), 0);
    assert_int_equal(cbr_model_save(m, q), 0);
    assert_int_equal(cbr_model_load(&m2, q), 0);
    assert_true(cbr_model_is_quantized(m2));
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    assert_int_equal(cbr_model_run(m, dev, x, true, &y1), 0);
    assert_int_equal(cbr_model_run(m2, dev, x, true, &y2), 0);
    assert_int_equal(y1->dtype, CBR_DTYPE_INT8);
    assert_memory_equal(y1->data, y2->data, y1->count);
    /* a changed model (here: an unknown field appended) no longer matches its ranges */
    f = fopen(onnx, "ab");
    fputc(0x98, f); /* field 19, varint 1: skipped by the parser, but the hash differs */
    fputc(0x01, f);
    fputc(0x01, f);
    fclose(f);
    cbr_model *m3 = NULL;
    assert_true(cbr_model_load(&m3, q) < 0);
    assert_null(m3);
    cbr_tensor_free(y1);
    cbr_tensor_free(y2);
    cbr_tensor_free(x);
    cbr_device_close(dev);
    cbr_model_free(m);
    cbr_model_free(m2);
    unlink(onnx);
    unlink(q);
    rmdir(dir);
    free(buf);
    bld_free(b);
}

/* ---- bad models ------------------------------------------------------------------------- */

static void expect_refused(builder *b, int code, const char *what)
{
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m = (cbr_model *)1;
    int rc = cbr_model_parse(&m, buf, len, "bad.onnx", NULL);
    const char *msg = cbr_errmsg(NULL);
    if (rc != code || !strstr(msg, what) || m != NULL)
        fail_msg("returned %d (want %d); message '%s' should mention '%s'", rc, code, msg,
                 what);
    free(buf);
}

static void test_onnx_raw_data_length_mismatch_is_refused(void **state)
{
    (void)state;
    builder *b = lenet();
    Onnx__TensorProto *w = &b->inits[0];
    uint8_t raw[10] = {0};
    w->n_float_data = 0;
    w->has_raw_data = 1;
    w->raw_data.data = raw;
    w->raw_data.len = sizeof raw;
    expect_refused(b, CBR_EBADMSG, "tensor 'w': raw_data has 10 bytes");
    bld_free(b);
}

static void test_onnx_negative_dim_is_refused(void **state)
{
    (void)state;
    builder *b = lenet();
    b->init_dims[1][0] = -4;
    expect_refused(b, CBR_EBADMSG, "tensor 'cb': dimension 0 is -4");
    bld_free(b);
}

static void test_onnx_unsupported_ops_are_all_listed(void **state)
{
    (void)state;
    builder *b = lenet();
    b->nodes[2].op_type = (char *)"Tanh";
    b->nodes[4].op_type = (char *)"LRN";
    expect_refused(b, CBR_ENOTSUP, "2 nodes with an operator that cbr cannot run: 'relu' "
                                   "(Tanh), 'flat' (LRN)");
    bld_free(b);
}

static void test_onnx_input_used_before_definition_is_refused(void **state)
{
    (void)state;
    builder *b = lenet();
    Onnx__NodeProto tmp = b->nodes[1];
    b->nodes[1] = b->nodes[2];
    b->nodes[2] = tmp; /* Relu before the BN that feeds it */
    expect_refused(b, CBR_EBADMSG, "input 'bn' is not defined before use");
    bld_free(b);
}

static void test_onnx_external_data_outside_folder_is_refused(void **state)
{
    (void)state;
    builder *b = lenet();
    Onnx__TensorProto *w = &b->inits[0];
    Onnx__StringStringEntryProto e;
    onnx__string_string_entry_proto__init(&e);
    e.key = (char *)"location";
    e.value = (char *)"../../etc/passwd";
    Onnx__StringStringEntryProto *ep[1] = {&e};
    w->n_float_data = 0;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->n_external_data = 1;
    w->external_data = ep;
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "bad.onnx", "/tmp"), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "inside the model's folder"));
    assert_int_equal(cbr_model_parse(&m, buf, len, "bad.onnx", NULL), CBR_ENOTSUP);
    free(buf);
    bld_free(b);
}

static void test_onnx_shape_mismatch_and_garbage_are_refused(void **state)
{
    (void)state;
    builder *b = lenet();
    b->init_dims[6][1] = 35; /* fc weight no longer matches the flattened features */
    b->init_data[6] = realloc(b->init_data[6], 5 * 35 * sizeof(float));
    b->inits[6].n_float_data = 5 * 35;
    b->inits[6].float_data = b->init_data[6];
    expect_refused(b, CBR_EINVAL, "node 'fc' (Gemm): A has 36 features");
    bld_free(b);

    cbr_model *m = NULL;
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_int_equal(cbr_model_parse(&m, junk, sizeof junk, "junk.onnx", NULL), CBR_EBADMSG);
    assert_non_null(strstr(cbr_errmsg(NULL), "junk.onnx: not an ONNX model"));
    assert_null(m);
}

static void test_onnx_run_checks_the_input_shape(void **state)
{
    (void)state;
    seed(__func__);
    builder *b = lenet();
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "lenet.onnx", NULL), 0);
    cbr_tensor *x = rand_input(2, 2, 7, 6), *y = NULL;
    assert_int_equal(cbr_model_run_float(m, x, &y), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "has shape (2,2,7,6); the model 'lenet.onnx' "
                                             "takes (N)+(2,7,7)"));
    assert_null(y);
    cbr_tensor_free(x);
    cbr_model_free(m);
    free(buf);
    bld_free(b);
}

/* QuantizeLinear (uint8) -> QLinearConv (per-channel int8 weights, int32 bias, uint8 out) ->
 * DequantizeLinear: no calibration; the int8 run within one output step of the float
 * executor's ONNX arithmetic (which rounds half to even in float; the device uses the
 * fixed-point multiplier), and mostly equal. */
static void test_onnx_qlinearconv_runs_with_the_graphs_scales(void **state)
{
    (void)state;
    seed(__func__);
    int64_t in[4] = {1, 3, 6, 6};
    builder *b = bld_new("x", in, "y");
    enum { O = 4, C = 3, K = 3 };
    double w[O * C * K * K], ws[O], wz[O] = {0}, bias[O];
    for (int o = 0; o < O; o++) {
        ws[o] = urand(0.002, 0.01);
        bias[o] = (double)(int)urand(-300, 300);
        for (int k = 0; k < C * K * K; k++)
            w[o * C * K * K + k] = (double)(int)urand(-127, 128);
    }
    const double xs = 2.0 / 255, xz = 128, ys = 3.0 / 255, yz = 20;
    int64_t wd[4] = {O, C, K, K}, od[1] = {O};
    bld_init_vals(b, "xs", 0, NULL, 1, &xs);
    bld_init_vals(b, "xz", 0, NULL, 2, &xz);
    bld_init_vals(b, "w", 4, wd, 3, w);
    bld_init_vals(b, "ws", 1, od, 1, ws);
    bld_init_vals(b, "wz", 1, od, 3, wz);
    bld_init_vals(b, "ys", 0, NULL, 1, &ys);
    bld_init_vals(b, "yz", 0, NULL, 2, &yz);
    bld_init_vals(b, "b", 1, od, 6, bias);
    const char *qi[] = {"x", "xs", "xz"}, *ci[] = {"q", "xs", "xz", "w", "ws", "wz", "ys",
                                                   "yz", "b"},
               *di[] = {"c", "ys", "yz"};
    bld_node(b, "QuantizeLinear", "quant", 3, qi, "q");
    Onnx__NodeProto *c = bld_node(b, "QLinearConv", "qconv", 9, ci, "c");
    bld_ints(b, c, "pads", 4, pads_asym);
    bld_node(b, "DequantizeLinear", "dequant", 3, di, "y");
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "q.onnx", NULL), 0);
    assert_true(cbr_model_is_quantized(m));
    cbr_tensor *x = rand_input(5, 3, 6, 6), *yf, *yq;
    cbr_device *dev;
    assert_int_equal(cbr_model_run_float(m, x, &yf), 0);
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    assert_int_equal(cbr_model_run(m, dev, x, false, &yq), 0);
    assert_int_equal(yq->count, yf->count);
    uint64_t differ = 0;
    for (uint64_t i = 0; i < yf->count; i++) {
        double d = fabs(((float *)yf->data)[i] - ((float *)yq->data)[i]);
        if (d > ys * 1.001)
            fail_msg("output %llu: %g against %g", (unsigned long long)i,
                     (double)((float *)yq->data)[i], (double)((float *)yf->data)[i]);
        differ += d > 0;
    }
    print_message("  %llu of %llu outputs differ by one step\n", (unsigned long long)differ,
                  (unsigned long long)yf->count);
    assert_true(differ * 20 < yf->count);
    cbr_model_layer l;
    assert_int_equal(cbr_model_layer_info(m, 1, &l), 0);
    assert_string_equal(l.ops, "QLinearConv");
    assert_true(l.on_device);
    cbr_tensor_free(yf);
    cbr_tensor_free(yq);
    cbr_tensor_free(x);
    cbr_device_close(dev);
    cbr_model_free(m);
    free(buf);

    /* a quantized tensor may only go into DequantizeLinear or QLinearConv */
    b->nodes[2].op_type = (char *)"Relu";
    b->nodes[2].n_input = 1;
    expect_refused(b, CBR_ENOTSUP, "node 'dequant' (Relu): input 0 ('c') is uint8: only "
                                   "DequantizeLinear and QLinearConv take quantized tensors");
    bld_free(b);
}

/* AveragePool 2x2 stride 2 with pads 1 and count_include_pad: a corner output is the corner
 * input over 4 (float), and the int8 run agrees within the quantization error. */
static void test_onnx_avgpool_count_include_pad(void **state)
{
    (void)state;
    seed(__func__);
    int64_t in[4] = {1, 2, 5, 4}, pads[4] = {1, 1, 1, 1};
    builder *b = bld_new("x", in, "y");
    const char *pi[] = {"x"};
    Onnx__NodeProto *p = bld_node(b, "AveragePool", "pool", 1, pi, "y");
    bld_ints(b, p, "kernel_shape", 2, two_two);
    bld_ints(b, p, "strides", 2, two_two);
    bld_ints(b, p, "pads", 4, pads);
    bld_ints(b, p, "count_include_pad", 1, one);
    size_t len;
    uint8_t *buf = bld_pack(b, &len);
    cbr_model *m;
    assert_int_equal(cbr_model_parse(&m, buf, len, "avg.onnx", NULL), 0);
    cbr_tensor *x = rand_input(3, 2, 5, 4), *yf;
    assert_int_equal(cbr_model_run_float(m, x, &yf), 0);
    assert_int_equal(yf->count, 3 * 2 * 3 * 3); /* (5 + 2 - 2) / 2 + 1 = 3, likewise 3 */
    const float *xv = x->data, *yv = yf->data;
    assert_float_equal(yv[0], xv[0] / 4, 1e-6);
    /* the last of the last row: inputs (3, 3), (4, 3) and two padded columns */
    assert_float_equal(yv[8], (xv[15] + xv[19]) / 4, 1e-6);
    cbr_tensor_free(yf);
    check_int8_vs_float(m, x, 0.02);
    cbr_tensor_free(x);
    cbr_model_free(m);
    free(buf);
    bld_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_lenet_int8_within_quantization_error_of_float),
        cmocka_unit_test(test_onnx_residual_depthwise_gap_softmax),
        cmocka_unit_test(test_onnx_save_load_ranges_roundtrip),
        cmocka_unit_test(test_onnx_raw_data_length_mismatch_is_refused),
        cmocka_unit_test(test_onnx_negative_dim_is_refused),
        cmocka_unit_test(test_onnx_unsupported_ops_are_all_listed),
        cmocka_unit_test(test_onnx_input_used_before_definition_is_refused),
        cmocka_unit_test(test_onnx_external_data_outside_folder_is_refused),
        cmocka_unit_test(test_onnx_shape_mismatch_and_garbage_are_refused),
        cmocka_unit_test(test_onnx_run_checks_the_input_shape),
        cmocka_unit_test(test_onnx_qlinearconv_runs_with_the_graphs_scales),
        cmocka_unit_test(test_onnx_avgpool_count_include_pad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
