/*
 * model.h - a model graph imported from ONNX, shared by the loader (onnx.c), the float
 * executor and calibration (model.c) and the int8 lowering (model_quant.c). Private.
 *
 * The loader turns the protobuf into this small graph and checks everything a later stage
 * relies on: the operator and dtype allow-lists, tensor sizes, that every node input is
 * defined before use. m_prepare() then infers the per-sample shape of every activation and
 * checks each node's operands against it, so the executors never meet an inconsistent graph.
 *
 * Activations are batched: their first dimension is the batch N, which is left out of
 * m_tensor.dims. Constants (initializers, Constant nodes) keep their full shape.
 */
#ifndef CBR_MODEL_H
#define CBR_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "cbr.h"

#define M_MAX_DIMS 8
#define M_MAX_INPUTS 9
#define M_MAX_ELEMS (UINT64_C(1) << 28) /* elements of one constant or one sample's tensor */

typedef enum m_op {
    OP_CONV, OP_BN, OP_RELU, OP_CLIP, OP_LEAKY, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_GEMM,
    OP_MATMUL, OP_FLATTEN, OP_RESHAPE, OP_ADD, OP_SOFTMAX, OP_LOGSOFTMAX, OP_SIGMOID,
    OP_IDENTITY, OP_DROPOUT, OP_QLINEARCONV, OP_QUANTIZE, OP_DEQUANTIZE, OP_COUNT
} m_op;

/* ONNX names of the operators, indexed by m_op. */
extern const char *const m_op_names[OP_COUNT];

/* ONNX TensorProto data types the loader accepts. */
enum { M_FLOAT = 1, M_UINT8 = 2, M_INT8 = 3, M_INT32 = 6, M_INT64 = 7 };

typedef enum m_autopad { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } m_autopad;

typedef struct m_tensor {
    char *name;
    bool is_const;
    int dtype;                    /* M_FLOAT, ... */
    uint32_t ndim;                /* constants: full rank; activations: without the batch */
    uint32_t dims[M_MAX_DIMS];
    uint64_t count;               /* product of dims */
    float *f;                     /* constant data as float (every dtype) */
    int64_t *i64;                 /* constant data as int64 (every dtype) */
    int producer;                 /* node index, -1 for the graph input and constants */
    uint32_t n_consumers;
    bool is_output;
    bool has_range;               /* calibrated (or loaded) activation range */
    float lo, hi;
    bool has_qp;                  /* scale/zero point fixed by the graph (Q/DQ, QLinearConv) */
    float q_scale;
    int32_t q_zp;                 /* int8 zero point (uint8 ones have 128 subtracted) */
} m_tensor;

typedef struct m_node {
    char *name;                   /* the node's name, or "#<index>" when it has none */
    m_op op;
    uint32_t n_in;
    int in[M_MAX_INPUTS];         /* tensor indices; -1 for an omitted optional input */
    int out;                      /* the (only used) output */
    /* attributes, with ONNX's defaults */
    uint32_t n_kernel;
    int64_t kernel[2], strides[2], dilations[2], pads[4]; /* pads: top, left, bottom, right */
    bool has_pads;
    m_autopad auto_pad;
    int64_t group;
    bool ceil_mode, count_include_pad;
    float alpha, beta, eps;
    float clip_min, clip_max;
    int64_t trans_a, trans_b, axis;
    bool has_axis;
    bool folded;                  /* a DequantizeLinear of a constant: its output is a
                                   * constant (m_prepare computes it); nothing to run */
} m_node;

/* Per-layer record of the last int8 run (see cbr_model_layer in cbr.h). */
typedef struct m_layer_rec {
    char name[96];
    char ops[96];
    bool on_device;
    cbr_stats stats;
} m_layer_rec;

struct cbr_model {
    char *name;                   /* for messages: the file name */
    m_tensor *t;
    uint32_t n_t, cap_t;
    m_node *nodes;
    uint32_t n_nodes, cap_nodes;
    int input, output;            /* tensor indices */
    int64_t opset;
    uint64_t hash;                /* FNV-1a 64 of the model bytes */
    char *path;                   /* the .onnx file, when loaded from one */
    m_layer_rec *recs;
    uint32_t n_recs;
    cbr_progress_fn progress;
    void *progress_user;
};

/* Parse ONNX bytes into a new model (onnx.c). dir is where external data may live (NULL:
 * external data is refused). Calls m_prepare. */
int m_onnx_parse(cbr_model **out, const void *bytes, size_t len, const char *name,
                 const char *dir);

/* The index of the tensor called name, or -1. */
int m_find_tensor(const cbr_model *m, const char *name);

/* Infer shapes and check every node (model.c). */
int m_prepare(cbr_model *m);

/* Free a model's contents and the model. */
void m_free(cbr_model *m);

/* Run the float graph on a batch of n (x: n x input sample), writing every activation
 * tensor into vals[t] (n x sample floats, malloc'd; constants stay NULL). vals has n_t
 * entries, zeroed by the caller; the caller frees them with m_free_vals. */
int m_run_float(cbr_model *m, uint32_t n, const float *x, float **vals);
void m_free_vals(const cbr_model *m, float **vals);

/* One float node over its inputs (shared by the float executor and the int8 path's host
 * float steps): vals as above, the node's output allocated into vals[node->out]. */
int m_exec_float_node(cbr_model *m, const m_node *node, uint32_t n, float **vals);

/* The weight input of a Conv or QLinearConv. */
static inline int m_conv_w(const m_node *n)
{
    return n->op == OP_QLINEARCONV ? n->in[3] : n->in[1];
}

/* An integer activation (the output of QuantizeLinear or QLinearConv). Its float values in
 * the float executor are the integers themselves (0..255 for uint8); in the int8 run it is
 * int8, a uint8 tensor's values and zero point with 128 subtracted. */
static inline bool m_is_int(const m_tensor *t)
{
    return t->dtype == M_UINT8 || t->dtype == M_INT8;
}

/* The per-sample element count of an activation. */
static inline uint64_t m_sample(const m_tensor *t)
{
    return t->count;
}

/* Integer parameters of a pooling node after auto_pad: the device's cbr_pool. */
void m_pool_params(const cbr_model *m, const m_node *node, cbr_pool *p);

/* AveragePool with count_include_pad: the divisor of output (oh, ow) on an h x w input. */
uint32_t m_pool_count_incl(const cbr_pool *p, uint32_t h, uint32_t w, uint32_t oh,
                           uint32_t ow);

/* Conv padding after auto_pad: top, left, bottom, right. */
void m_conv_pads(const cbr_model *m, const m_node *node, uint32_t pads[4]);

/* The int8 run (model_quant.c). */
int m_run_int8(cbr_model *m, cbr_device *dev, uint32_t n, const float *x, bool int8_out,
               void *y);

/* Whether the int8 run finds every scale it needs (lowering without a device): false only
 * when an activation lacks a range (model_quant.c). */
bool m_has_scales(const cbr_model *m);

#endif
