/*
 * cbr.h - the public C API of libcbr, the host library of the cbr accelerator.
 *
 * cbr offloads the Conv + BatchNorm + ReLU (+ pooling) block of int8 CNN inference to an
 * FPGA, a cycle-accurate simulation of it, or the C golden model. The arithmetic is fixed by
 * docs/numerics.md (TFLite's int8 per-channel scheme) and is identical on every device.
 *
 * This is the only header an application includes. Conventions:
 *  - Functions that act return int: 0 on success, a negative CBR_E* code on failure.
 *    cbr_strerror() gives static text for a code; cbr_errmsg() the detail of the last
 *    failure (naming the parameter, file or limit at fault).
 *  - Handles are opaque. Every create/open has a destroy/close that accepts NULL.
 *  - Pointers passed in are borrowed for the duration of the call unless a comment says
 *    otherwise; nothing returned needs freeing unless a comment says so.
 *  - Handles are not thread-safe: use one handle from one thread at a time. Different
 *    handles may be used from different threads.
 */
#ifndef CBR_H
#define CBR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from libcbr.so; the rest of the library is hidden. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** Library version. */
#define CBR_VERSION_MAJOR 0
#define CBR_VERSION_MINOR 1
#define CBR_VERSION_PATCH 0
#define CBR_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** Error codes. Every failing function returns one of these (negative). */
enum cbr_error {
    CBR_OK = 0,
    CBR_EINVAL = -1,     /**< an argument or layer parameter is invalid */
    CBR_ENOMEM = -2,     /**< out of memory */
    CBR_EIO = -3,        /**< I/O error on a file or a link */
    CBR_ETIMEDOUT = -4,  /**< the device did not answer in time */
    CBR_ENODEV = -5,     /**< no such device, or it was unplugged */
    CBR_EBADMSG = -6,    /**< corrupt data: bad CRC, malformed file or packet */
    CBR_ENOTSUP = -7,    /**< valid, but not supported by this device or build */
    CBR_ERANGE = -8,     /**< a value or size exceeds a limit */
    CBR_EBUSY = -9,      /**< too many jobs in flight, or the handle is in use */
    CBR_EPROTO = -10,    /**< the device broke the protocol */
    CBR_ENOENT = -11,    /**< a file or path does not exist */
    CBR_EAGAIN = -12,    /**< not finished yet (cbr_job_poll) */
    CBR_EDEVICE = -13,   /**< the device reported an error */
};

/** Static text for an error code; never NULL. */
const char *cbr_strerror(int code);

/* ---------------------------------------------------------------------------------------- */
/* Devices                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct cbr_device cbr_device;

/** Feature bits reported in cbr_device_info.features. */
enum cbr_feature {
    CBR_FEAT_LEAKY = 1u << 0,     /**< leaky ReLU (second multiplier pair) */
    CBR_FEAT_MAXPOOL = 1u << 1,   /**< max pooling after the activation */
    CBR_FEAT_AVGPOOL = 1u << 2,   /**< average and global-average pooling */
    CBR_FEAT_DEPTHWISE = 1u << 3, /**< groups, including depthwise */
    CBR_FEAT_DILATION = 1u << 4,  /**< dilated kernels */
    CBR_FEAT_COUNTERS = 1u << 5,  /**< cycle and MAC counters (cbr_stats.cycles etc.) */
    CBR_FEAT_SCATTER = 1u << 6,   /**< strided buffer writes: channel padding is not sent */
    CBR_FEAT_DWMODE = 1u << 7,    /**< the core's own depthwise mode (taps on the array rows) */
    CBR_FEAT_CYCLES = 1u << 8,    /**< cycle counters only (set without CBR_FEAT_COUNTERS: the
                                       iCEBreaker image): cbr_stats.core_cycles is counted, the
                                       busy and stall cycles and the MAC count are not */
    CBR_FEAT_DONES = 1u << 9,     /**< the core counts finished tiles (DONES register) and
                                       starts a queued tile while the one before it drains:
                                       a tile taken no longer means the one before is done */
    CBR_FEAT_QUEUE2 = 1u << 10,   /**< the core queues two starts, each with the arguments
                                       as they were at its start, and counts the starts it
                                       accepted (STARTS register) */
    CBR_FEAT_COPY = 1u << 11,     /**< the device copies between its buffers (BUF_COPY): a
                                       network keeps intermediates on the device */
    CBR_FEAT_RUN_CHECK = 1u << 12, /**< RUN may be posted: a checked RUN runs only if no
                                        request was lost before it and it is not a replay */
};

/** What a device is and what it can do, as it reports itself. */
typedef struct cbr_device_info {
    char uri[128];            /**< the URI it was opened with, normalised ("cpu", "sim:16x16") */
    char name[64];            /**< human-readable kind: "golden model (cpu)", ... */
    uint32_t rows, cols;      /**< systolic array shape; 0 x 0 for the cpu device */
    uint32_t act_buf_bytes;   /**< on-chip activation buffer (0: unlimited) */
    uint32_t wgt_buf_bytes;   /**< on-chip weight buffer (0: unlimited) */
    uint32_t out_buf_bytes;   /**< on-chip output buffer (0: unlimited) */
    uint32_t param_entries;   /**< per-channel parameter slots (0: unlimited) */
    uint32_t max_kernel;      /**< largest KH and KW */
    uint32_t max_stride;      /**< largest stride per axis */
    uint32_t max_dilation;    /**< largest dilation per axis */
    uint32_t features;        /**< CBR_FEAT_* bits */
    uint32_t proto_version;   /**< packet protocol version; 0 for the cpu device */
    uint32_t clock_khz;       /**< design clock; 0 when not meaningful */
} cbr_device_info;

/**
 * Open a device from a URI:
 *   "cpu"                       the golden model on the host (always available)
 *   "sim", "sim:RxC"            the Verilator model of the RTL (default array 16x16)
 *   "sim:ice"                   the Verilator model of the iCE40UP5K tiny core (rtl/tiny)
 *   "usb", "usb:VID:PID[:SERIAL]"  a board over USB (libusb)
 *   "pcie:PATH"                 a board over Xilinx XDMA character devices (PATH=/dev/xdma0)
 *   "serial:TTY[@BAUD]"         a board over a UART, e.g. the iCEBreaker's serial:/dev/ttyUSB1
 *                               (raw 8N1, no flow control, BAUD default 3000000)
 * NULL or "" opens the default device (CBR_DEFAULT_DEVICE).
 * On success *dev is a new handle, closed with cbr_device_close(). On failure *dev is NULL
 * and cbr_errmsg(NULL) says why.
 * The board devices read, when they open: CBR_TIMEOUT_MS (a request's timeout, default
 * 5000) and CBR_LINK_LATENCY_US (the link's latency each way in microseconds, which the
 * tile planner plans for, 0 to 100000; the USB, PCIe and serial links cannot measure it).
 * A malformed value fails the open with CBR_EINVAL.
 */
int cbr_device_open(cbr_device **dev, const char *uri);

/** Close a device; waits for (and frees) jobs still in flight. Accepts NULL. */
void cbr_device_close(cbr_device *dev);

/** Fill *info with what the device reports. */
int cbr_device_get_info(cbr_device *dev, cbr_device_info *info);

/**
 * The URI of the device used when none is given. It is the first device kind this build
 * has, in the order sim, cpu; the environment variable CBR_DEVICE overrides it.
 */
const char *cbr_default_device(void);

/**
 * Enumerate the device URIs this build could open now, one per call: index 0, 1, ... until
 * it returns CBR_ENOENT. The string is written to buf (NUL-terminated, truncated to len).
 */
int cbr_device_list(size_t index, char *buf, size_t len);

/**
 * Text describing the last failure on dev, or, for dev == NULL, the last failure of a call
 * on this thread that has no device (cbr_device_open, tensor I/O, quantization helpers).
 * Never NULL; "" when there was none. Valid until the next call on the same handle/thread.
 */
const char *cbr_errmsg(const cbr_device *dev);

/* ---------------------------------------------------------------------------------------- */
/* Layers                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** API-wide limits (a device may report tighter ones in cbr_device_info). */
#define CBR_MAX_KERNEL 11          /**< KH, KW */
#define CBR_MAX_REDUCTION 65536    /**< (C / G) * KH * KW; more could overflow int32 */
#define CBR_MAX_DIM 65536          /**< N, C, H, W, O and each padding amount */

typedef enum cbr_act {
    CBR_ACT_NONE = 0,  /**< clamp to [-128, 127] */
    CBR_ACT_RELU = 1,  /**< clamp to [max(y_zp, -128), 127] */
    CBR_ACT_RELU6 = 2, /**< like relu; the upper bound y_zp + round(6 / y_scale) needs the
                            explicit clamp (see cbr_relu6_range) */
    CBR_ACT_LEAKY = 3, /**< acc < 0 uses the neg_multiplier / neg_shift pair */
} cbr_act;

typedef enum cbr_pool_kind {
    CBR_POOL_NONE = 0,
    CBR_POOL_MAX = 1,  /**< padded positions never win */
    CBR_POOL_AVG = 2,  /**< sum of valid positions / their count, rounded half away from 0 */
    CBR_POOL_GAVG = 3, /**< average over the whole plane; kernel/stride/pad ignored */
} cbr_pool_kind;

/** Pooling after the activation, on int8 with the output's scale and zero point. */
typedef struct cbr_pool {
    cbr_pool_kind kind;
    uint32_t kh, kw;                       /**< window */
    uint32_t stride_h, stride_w;           /**< 0 means equal to the window */
    uint32_t pad_top, pad_left, pad_bottom, pad_right; /**< each < the window */
    bool ceil_mode;                        /**< ONNX ceil_mode: round the output size up */
} cbr_pool;

/** Memory layout of activations (input and output). Weights are always OIHW. */
typedef enum cbr_layout {
    CBR_LAYOUT_NCHW = 0,
    CBR_LAYOUT_NHWC = 1,
} cbr_layout;

/**
 * Everything that defines one conv + requantize + activation (+ pool) layer. Zero it
 * (memset or "= {0}"), then fill it in; zero strides and dilations mean 1, zero groups
 * means 1, a zero pool stride means the pool window. The arrays are borrowed: cbr_layer_create() copies them.
 */
typedef struct cbr_layer_desc {
    uint32_t in_c, in_h, in_w;     /**< input channels and plane (the batch is per run) */
    uint32_t out_c;                /**< output channels O */
    uint32_t kh, kw;               /**< kernel, 1..CBR_MAX_KERNEL */
    uint32_t stride_h, stride_w;
    uint32_t dilation_h, dilation_w;
    uint32_t pad_top, pad_left, pad_bottom, pad_right; /**< padding is the input zero point */
    uint32_t groups;               /**< divides in_c and out_c; in_c == groups is depthwise */

    int32_t input_zp;              /**< x zero point, -128..127 */
    int32_t output_zp;             /**< y zero point, -128..127 */

    cbr_act act;
    bool has_clamp;                /**< also clamp to [clamp_min, clamp_max] after act */
    int32_t clamp_min, clamp_max;  /**< -128..127, min <= max */

    cbr_pool pool;
    cbr_layout layout;             /**< layout of the input and output buffers */

    const int8_t *weights;         /**< O x (C/G) x KH x KW, values -127..127 */
    const int32_t *bias;           /**< O; NULL means all zero */
    const int32_t *multiplier;     /**< O; M0 in [2^30, 2^31-1] or 0 */
    const int32_t *shift;          /**< O; -31..30 */
    const int32_t *neg_multiplier; /**< O; leaky only: the pair used when acc < 0 */
    const int32_t *neg_shift;      /**< O; leaky only */
} cbr_layer_desc;

/** Output shape of a layer for batch n, after pooling, in NCHW order: (n, out_c, oh, ow). */
typedef struct cbr_shape {
    uint32_t n, c, h, w;
} cbr_shape;

typedef struct cbr_layer cbr_layer;

/**
 * Validate desc for dev and prepare it (copy the parameters, plan tiles). Every rule of
 * docs/numerics.md and every device limit is checked here, once; the message in
 * cbr_errmsg(dev) names the field and the limit. *layer is owned by the caller and must be
 * destroyed before dev is closed.
 */
int cbr_layer_create(cbr_device *dev, const cbr_layer_desc *desc, cbr_layer **layer);

/** Destroy a layer. Accepts NULL. Jobs using it must have been waited for. */
void cbr_layer_destroy(cbr_layer *layer);

/** The output shape for a batch of n (conv output, then pooling). */
int cbr_layer_output_shape(const cbr_layer *layer, uint32_t n, cbr_shape *shape);

/** The conv-only (pre-pooling) output plane: oh and ow before pooling. */
int cbr_layer_conv_shape(const cbr_layer *layer, uint32_t *oh, uint32_t *ow);

/** Counters of one run. Fields a device does not count are 0. */
typedef struct cbr_stats {
    uint64_t macs;              /**< useful MACs: n * OH * OW * O * (C/G) * KH * KW */
    uint64_t cycles;            /**< device cycles from start to done, link time included
                                     (over USB, PCIe and serial, which cannot count them: the
                                     wall time in cycles of the device's INFO clock) */
    uint64_t core_cycles;       /**< cycles the core was running tiles: the compute-only time
                                     (0 on a device with neither CBR_FEAT_COUNTERS nor
                                     CBR_FEAT_CYCLES; the three below: 0 without
                                     CBR_FEAT_COUNTERS) */
    uint64_t busy_cycles;       /**< cycles the array did useful work */
    uint64_t stall_in_cycles;   /**< cycles stalled waiting for input */
    uint64_t stall_out_cycles;  /**< cycles stalled on output */
    uint64_t link_stall_cycles; /**< cycles the core sat idle waiting on the link and the host:
                                     cycles - core_cycles */
    uint64_t bytes_to_device;
    uint64_t bytes_from_device;
    uint64_t bytes_compulsory;  /**< input + weights + params + output, each once; in a
                                     network, without a tensor kept on the device (resident) */
    uint32_t array_rows, array_cols; /**< 0 on the cpu device */
    uint32_t tiles;             /**< tiles (RUNs) the layer took on the device (1 on cpu) */
    uint32_t resident;          /**< CBR_RESIDENT_* bits: in a network, where the input came
                                     from and the output went (cbr_network_run) */
    double host_seconds;        /**< time libcbr spent on the run: layout conversion,
                                     packing, the protocol, polling; on the cpu device the
                                     golden model itself. The CPU time of its worker thread;
                                     with a simulated board, the wall time outside the
                                     board's model (model_seconds), an upper bound when
                                     other processes share the CPU. What a real board's host
                                     would pay. In a network, what the network's run spends
                                     around its layers counts to the first. */
    double model_seconds;       /**< time a simulated board's model took to simulate the run
                                     (wall time of the thread that runs it, which computes
                                     all the while; 0 on other devices) */
    uint64_t bytes_ahead;       /**< of bytes_to_device: this layer's first weights and
                                     parameters, sent while the layer before it in a network ran
                                     on the same board (written ahead; 0 elsewhere) */
} cbr_stats;

/** cbr_stats.resident: the tensor stayed on the device between two layers of a network. */
enum cbr_resident {
    CBR_RESIDENT_INPUT = 1u << 0,  /**< the input was on the device already (not sent) */
    CBR_RESIDENT_OUTPUT = 1u << 1, /**< the output stayed there for the next layer (not read) */
};

/** MAC utilization: macs / (rows * cols * cycles); 0 when the device has no counters. */
double cbr_stats_utilization(const cbr_stats *stats);

/**
 * Run a layer on a batch of n synchronously. On a board, a batch of images small enough to
 * take one tile each runs several images to a tile (docs/tiling.md, "Image stacking"): one
 * run of n images is cheaper than n runs of one. Rewrites of the layer (stacking, folding,
 * stride skipping) use a host copy of the rearranged input for the run.
 * input:  n x C x H x W int8 (or n x H x W x C for CBR_LAYOUT_NHWC), borrowed.
 * output: cbr_layer_output_shape() elements, caller-allocated, written in full on success.
 * stats:  may be NULL.
 */
int cbr_layer_run(cbr_layer *layer, uint32_t n, const int8_t *input, int8_t *output,
                  cbr_stats *stats);

/* ---------------------------------------------------------------------------------------- */
/* Asynchronous jobs                                                                        */
/* ---------------------------------------------------------------------------------------- */

typedef struct cbr_job cbr_job;

/**
 * Start running a layer; returns at once with a job. input and output stay borrowed until
 * the job has finished (cbr_job_poll or cbr_job_wait returned something other than
 * CBR_EAGAIN): do not free or change them before. Several jobs may be in flight on one
 * device; they complete in submission order. Free each job with cbr_job_free().
 */
int cbr_layer_submit(cbr_layer *layer, uint32_t n, const int8_t *input, int8_t *output,
                     cbr_job **job);

/** 0 when the job finished well, CBR_EAGAIN while it runs, or the job's error. */
int cbr_job_poll(cbr_job *job);

/**
 * Wait for the job: up to timeout_ms milliseconds (negative: forever). Returns 0 when it
 * finished well, CBR_ETIMEDOUT if it is still running, or the job's error. stats may be NULL.
 */
int cbr_job_wait(cbr_job *job, int timeout_ms, cbr_stats *stats);

/** Free a job; waits for it first if it is still running. Accepts NULL. */
void cbr_job_free(cbr_job *job);

/* ---------------------------------------------------------------------------------------- */
/* Networks                                                                                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct cbr_network cbr_network;

/**
 * A network: layers run in order, each layer's output the next one's input. Consecutive
 * layers must agree on that tensor: shape (out_c x out_h x out_w of one is in_c x in_h x in_w
 * of the next), zero point (output_zp of one is input_zp of the next) and layout. Layers may
 * be on different devices. The layers are borrowed and must outlive the network.
 * Consecutive layers on one board run as one job (no other job on that device runs between
 * them), and the tensor between two of them stays on the device where it fits
 * (CBR_FEAT_COPY, the next layer takes its whole input in one piece and nothing rewrites it
 * on the host: docs/tiling.md, "Networks"); where two neighbours cannot both stay, the
 * choice over the whole chain that moves the fewest bytes over the link. Every other
 * intermediate stays on the host. cbr_stats.resident says which. On failure *net is NULL and cbr_errmsg(NULL) says which
 * layer and why.
 */
int cbr_network_create(cbr_layer *const *layers, uint32_t n_layers, cbr_network **net);

/** Destroy a network (not its layers). Accepts NULL. */
void cbr_network_destroy(cbr_network *net);

/**
 * Run a network on a batch of n: input in the first layer's input shape and layout, output
 * (caller-allocated) in the last layer's output shape. total (may be NULL) gets the sums over
 * the layers; per_layer (may be NULL) an array of n_layers stats. On failure the message in
 * cbr_errmsg(NULL) names the layer; output is then incomplete.
 */
int cbr_network_run(cbr_network *net, uint32_t n, const int8_t *input, int8_t *output,
                    cbr_stats *total, cbr_stats *per_layer);

/**
 * Whether cbr_network_run keeps intermediates on the device where they fit (the default)
 * or always brings them to the host (keep = false: to compare the two). 0, or CBR_EINVAL.
 */
int cbr_network_keep_on_device(cbr_network *net, bool keep);

/* ---------------------------------------------------------------------------------------- */
/* Quantization helpers (host side; docs/numerics.md "Host-side quantization")              */
/* ---------------------------------------------------------------------------------------- */

/** clamp(round_half_away(v / scale) + zp, -128, 127); +-inf saturate. scale must be finite
 *  and > 0: for a bad scale or a NaN v it returns zp clamped to int8 (the real value 0) and
 *  leaves a message in cbr_errmsg(NULL). */
int8_t cbr_quantize(float v, float scale, int32_t zp);

/** scale * (q - zp). */
float cbr_dequantize(int8_t q, float scale, int32_t zp);

/**
 * TFLite's QuantizeMultiplier: m = m0 * 2^(shift - 31), m0 in [2^30, 2^31-1] (or 0 for
 * m == 0 and for m too small), shift in [-31, 30]. m must be finite and >= 0.
 */
int cbr_quantize_multiplier(double m, int32_t *m0, int32_t *shift);

/** The relu6 clamp for an output quantized with (y_scale, y_zp): the act_min and act_max of
 *  docs/numerics.md. */
int cbr_relu6_range(float y_scale, int32_t y_zp, int32_t *act_min, int32_t *act_max);

/**
 * Fold a float conv (+ optional BatchNorm) into the int8 contract, per output channel.
 * Inputs are borrowed; outputs are caller-allocated arrays of the sizes given.
 */
typedef struct cbr_fold_args {
    uint32_t out_c;            /**< O */
    uint32_t in_c_per_group;   /**< C / G */
    uint32_t kh, kw;
    const float *weight;       /**< O x C/G x KH x KW float conv weights */
    const float *conv_bias;    /**< O, or NULL for none */
    const float *bn_gamma;     /**< O; NULL for no BatchNorm (then beta/mean/var ignored) */
    const float *bn_beta;      /**< O */
    const float *bn_mean;      /**< O */
    const float *bn_var;       /**< O */
    float bn_eps;              /**< PyTorch's default is 1e-5 */
    float input_scale;         /**< s_x > 0 */
    float output_scale;        /**< s_y > 0 */
    float leaky_alpha;         /**< slope for the neg pair (only when out.neg_* are set) */
} cbr_fold_args;

typedef struct cbr_fold_out {
    int8_t *weights;           /**< O x C/G x KH x KW */
    int32_t *bias;             /**< O */
    int32_t *multiplier;       /**< O */
    int32_t *shift;            /**< O */
    float *weight_scale;       /**< O, or NULL if not wanted */
    int32_t *neg_multiplier;   /**< O, or NULL: the leaky pair, from the multiplier * alpha */
    int32_t *neg_shift;        /**< O, or NULL */
} cbr_fold_out;

int cbr_fold_conv_bn(const cbr_fold_args *args, const cbr_fold_out *out);

/* ---------------------------------------------------------------------------------------- */
/* Tensors and NumPy .npy files                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef enum cbr_dtype {
    CBR_DTYPE_INT8 = 0,
    CBR_DTYPE_UINT8 = 1,
    CBR_DTYPE_INT32 = 2,
    CBR_DTYPE_FLOAT32 = 3,
} cbr_dtype;

#define CBR_TENSOR_MAX_DIMS 8

/** A dense C-order tensor in host byte order. */
typedef struct cbr_tensor {
    cbr_dtype dtype;
    uint32_t ndim;                      /**< 0 (a scalar) .. CBR_TENSOR_MAX_DIMS */
    uint64_t shape[CBR_TENSOR_MAX_DIMS];
    uint64_t count;                     /**< number of elements (product of shape) */
    void *data;                         /**< count * cbr_dtype_size(dtype) bytes, owned */
} cbr_tensor;

/** Bytes per element; 0 for an unknown dtype. */
size_t cbr_dtype_size(cbr_dtype dtype);

/** numpy's name for the dtype ("int8", ...); "unknown" for an unknown dtype. */
const char *cbr_dtype_name(cbr_dtype dtype);

/** A new zero-filled tensor; free with cbr_tensor_free(). A 0 dimension is rejected
 *  (CBR_EINVAL), a size that overflows with CBR_ERANGE. */
int cbr_tensor_create(cbr_tensor **t, cbr_dtype dtype, uint32_t ndim, const uint64_t *shape);

/** Free a tensor and its data. Accepts NULL. */
void cbr_tensor_free(cbr_tensor *t);

/** Largest .npy header accepted by the reader (numpy's own default cap is 10000). */
#define CBR_NPY_MAX_HEADER 65536

/**
 * Parse a whole .npy file held in memory (versions 1.0, 2.0 and 3.0; dtypes int8, uint8,
 * int32, float32 of either byte order; C order). The file must be exactly header + data.
 * name is used in error messages only (may be NULL). On success *t is a new tensor.
 * Errors: CBR_EBADMSG (malformed, negative or 0 dimensions), CBR_ENOTSUP (Fortran order,
 * other dtypes, a version other than 1, 2, 3), CBR_ERANGE (header over CBR_NPY_MAX_HEADER,
 * more than CBR_TENSOR_MAX_DIMS dimensions, sizes that overflow), CBR_EINVAL (NULL
 * arguments), CBR_ENOMEM; cbr_errmsg(NULL) names the problem and the place.
 */
int cbr_npy_parse(const void *bytes, size_t len, const char *name, cbr_tensor **t);

/** Read a .npy file. As cbr_npy_parse, plus CBR_ENOENT / CBR_EIO for the file and
 *  CBR_ERANGE for a file over 4 GiB. */
int cbr_npy_load(const char *path, cbr_tensor **t);

/**
 * Encode a tensor as a .npy file in memory (version 1.0, or 2.0 when the header needs it).
 * *bytes is allocated with malloc and freed by the caller with free().
 */
int cbr_npy_encode(const cbr_tensor *t, void **bytes, size_t *len);

/**
 * Write a .npy file atomically: to a temporary file beside path, then renamed over it, with
 * mode 0666 less the umask. On failure (CBR_EIO; CBR_EINVAL for an invalid tensor) no new
 * file is left at path and an existing one is untouched.
 */
int cbr_npy_save(const char *path, const cbr_tensor *t);

/* ---------------------------------------------------------------------------------------- */
/* Models: ONNX import, calibration, int8 runs (docs/models.md)                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct cbr_model cbr_model;

/**
 * Load a model: an ONNX file (.onnx), or a quantization file written by cbr_model_save()
 * (it names its ONNX file and brings the saved activation ranges with it). The loader is
 * hardened: an operator and dtype allow-list, every tensor's data length checked against
 * its shape and dtype, external data only inside the model's folder, every node input
 * defined before use. Operators that neither the device nor the host can run are all
 * listed in one error. On success *model is a new handle, freed with cbr_model_free(); on
 * failure it is NULL and cbr_errmsg(NULL) names the file, the node and the problem.
 */
int cbr_model_load(cbr_model **model, const char *path);

/**
 * As cbr_model_load for ONNX bytes held in memory. name is used in messages (may be NULL);
 * dir is the folder external data may come from (NULL refuses external data).
 */
int cbr_model_parse(cbr_model **model, const void *bytes, size_t len, const char *name,
                    const char *dir);

/** Free a model. Accepts NULL. */
void cbr_model_free(cbr_model *model);

/** The shape of one input sample (the graph input without its batch dimension). */
int cbr_model_input_shape(const cbr_model *model, uint32_t *ndim,
                          uint64_t shape[CBR_TENSOR_MAX_DIMS]);

/** True when every tensor the int8 run quantizes has a range or scale: calibrated, loaded
 *  from a quantization file, or given by the graph (QuantizeLinear, QLinearConv). */
bool cbr_model_is_quantized(const cbr_model *model);

/**
 * Calibrate: run the float model on samples (float32, (N, sample shape)) and record the
 * min and max of every activation. Replaces earlier ranges.
 */
int cbr_model_calibrate(cbr_model *model, const cbr_tensor *samples);

/**
 * Save the activation ranges as a quantization file (text, docs/models.md), written
 * atomically. It names the ONNX file relative to its own folder and records the ONNX file's
 * FNV-1a hash, so loading it later (cbr_model_load) needs no calibration. The model must
 * have been loaded from a file.
 */
int cbr_model_save(const cbr_model *model, const char *path);

/**
 * Run the float model on the host (the reference calibration uses): x float32
 * (N, sample shape); *y a new float32 tensor (N, output sample shape), freed by the caller.
 */
int cbr_model_run_float(cbr_model *model, const cbr_tensor *x, cbr_tensor **y);

/**
 * Run the int8 model: conv blocks on dev, the rest on the host with the same code for every
 * device (so every device gives the same bits). x float32 (N, sample shape), quantized with
 * the input's range. *y is a new tensor: float32 (dequantized) or, with int8_out, the int8
 * values of the output tensor. Needs cbr_model_is_quantized(). Consecutive conv blocks on a
 * board whose intermediate only the next one reads run as one job, the intermediate kept on
 * the board where it fits, as in cbr_network_run (cbr_model_layer.stats.resident).
 */
int cbr_model_run(cbr_model *model, cbr_device *dev, const cbr_tensor *x, bool int8_out,
                  cbr_tensor **y);

/** Progress of long runs: called with images done so far and the total. */
typedef void (*cbr_progress_fn)(void *user, uint64_t done, uint64_t total);

/** Set (or, with NULL, clear) the progress callback of cbr_model_run and calibration. */
void cbr_model_set_progress(cbr_model *model, cbr_progress_fn fn, void *user);

/** One step of the last cbr_model_run: a device layer or a host step. */
typedef struct cbr_model_layer {
    const char *name;          /**< the first ONNX node's name; valid while the model lives */
    const char *ops;           /**< the fused operators, "Conv+BatchNormalization+Relu" */
    bool on_device;            /**< false: run on the host */
    cbr_stats stats;           /**< summed over the run's batches; zero for host steps */
} cbr_model_layer;

/** Number of steps of the last cbr_model_run (0 before one). */
uint32_t cbr_model_layer_count(const cbr_model *model);

/** Step i of the last cbr_model_run. */
int cbr_model_layer_info(const cbr_model *model, uint32_t i, cbr_model_layer *info);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* CBR_H */
