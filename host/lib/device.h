/*
 * device.h - what a device backend implements, and the objects the API layer shares with
 * backends (private).
 *
 * The API layer (api.c) owns validation, layouts, the job queue and error text; a backend
 * only runs a validated layer on NCHW int8 data, blocking, on the device's worker thread.
 * Asynchrony is the API layer's: each device has one worker thread that takes jobs in
 * submission order, so a backend never sees two jobs at once and needs no locking. Backends
 * that can overlap transfers with compute do so inside run() (double buffering belongs to
 * the tile schedule of one layer, not to the job queue).
 */
#ifndef CBR_DEVICE_H
#define CBR_DEVICE_H

#include <pthread.h>

#include "cbr.h"
#include "errors.h"

struct cbr_backend;

/* A validated, normalised layer with its own copies of the parameter arrays. */
struct cbr_layer {
    cbr_device *dev;
    cbr_layer_desc desc;      /* normalised; array pointers point at the copies below */
    int8_t *weights;
    int32_t *bias;            /* never NULL: zeros when the caller gave none */
    int32_t *multiplier, *shift;
    int32_t *neg_multiplier, *neg_shift; /* NULL unless leaky */
    int32_t act_min, act_max; /* effective clamp */
    uint32_t conv_oh, conv_ow;
    uint32_t out_h, out_w;    /* after pooling */
    void *priv;               /* the backend's plan, from layer_prepare */
};

enum cbr_job_state { CBR_JOB_QUEUED, CBR_JOB_RUNNING, CBR_JOB_DONE };

struct cbr_job {
    cbr_layer *layer;         /* the layer; of a chain, its first */
    cbr_layer *const *chain;  /* a chain job (cbr_chain_run): n_chain layers, else NULL */
    uint32_t n_chain;
    bool keep;                /* chain: intermediates on the device where they fit */
    cbr_stats *chain_stats;   /* chain: n_chain entries */
    uint32_t failed;          /* chain: the layer that failed */
    uint32_t n;
    const int8_t *input;      /* caller's buffer, in the layer's layout */
    int8_t *output;
    enum cbr_job_state state; /* guarded by dev->lock */
    int result;
    cbr_stats stats;
    char errmsg[CBR_ERRMSG_MAX];
    struct cbr_job *next;     /* queue link */
};

struct cbr_backend {
    const char *scheme;       /* the URI scheme: "cpu", "sim", ... */
    const char *usage;        /* URI forms, for messages: "sim[:RxC]" */
    /* Open: parse args (the URI after "scheme:", or "" ), fill dev->info, set dev->priv.
     * On failure return a code with a message in errmsg. */
    int (*open)(cbr_device *dev, const char *args, char *errmsg, size_t len);
    void (*close)(cbr_device *dev);
    /* Optional: add URIs this backend can open now to the enumeration. Calls emit(uri, ctx)
     * once per device. */
    void (*list)(void (*emit)(const char *uri, void *ctx), void *ctx);
    /* Optional: check the layer against device limits and plan it (layer->priv). Runs on
     * the caller's thread while jobs may be running: no device I/O here. */
    int (*layer_prepare)(cbr_device *dev, cbr_layer *layer, char *errmsg, size_t len);
    void (*layer_release)(cbr_device *dev, cbr_layer *layer);
    /* Run one layer, blocking, on the worker thread. input is NCHW (n x C x H x W) and
     * output NCHW (n x O x out_h x out_w). Fill stats (zeroed by the caller). */
    int (*run)(cbr_device *dev, const cbr_layer *layer, uint32_t n, const int8_t *input,
               int8_t *output, cbr_stats *stats, char *errmsg, size_t len);
    /* Optional: run layers[0..k-1] (all on this device, prepared, each one's output the
     * next one's input; NCHW) as one job, keeping intermediates on the device where they fit
     * when keep is set. stats: k entries (the backend zeroes them). On failure *failed is the
     * index of the layer that failed. */
    int (*run_chain)(cbr_device *dev, cbr_layer *const *layers, uint32_t k, uint32_t n,
                     const int8_t *input, int8_t *output, bool keep, cbr_stats *stats,
                     uint32_t *failed, char *errmsg, size_t len);
};

/* Run layers[0..k-1], all on one device whose backend has run_chain, as one job (submit and
 * wait): see cbr_backend.run_chain. Layout conversion as for a layer. On failure the
 * message is on the device and *failed names the layer. */
int cbr_chain_run(cbr_layer *const *layers, uint32_t k, uint32_t n, const int8_t *input,
                  int8_t *output, bool keep, cbr_stats *stats, uint32_t *failed);

/* Add s's counters to t (a total over layers or runs): the sums, and the array shape of the
 * last board; not resident, which describes one layer's run. */
void cbr_stats_add(cbr_stats *t, const cbr_stats *s);

struct cbr_device {
    const struct cbr_backend *backend;
    cbr_device_info info;
    void *priv;
    char errmsg[CBR_ERRMSG_MAX];

    pthread_mutex_t lock;
    pthread_cond_t cond;      /* signalled when a job is queued or finishes, or on stop */
    pthread_t worker;
    bool worker_started;
    bool stopping;
    struct cbr_job *head, *tail; /* jobs not yet taken by the worker */
    unsigned in_flight;       /* submitted and not yet finished */
};

/* Record a message on the device; returns code. */
int cbr_dev_fail(cbr_device *dev, int code, const char *fmt, ...) CBR_PRINTF(3, 4);

/* The bytes a layer needs at least once: input, weights, per-channel params, output. */
uint64_t cbr_layer_compulsory_bytes(const cbr_layer *layer, uint32_t n);

/* n * OH * OW * O * (C/G) * KH * KW. */
uint64_t cbr_layer_macs(const cbr_layer *layer, uint32_t n);

extern const struct cbr_backend cbr_backend_cpu;
extern const struct cbr_backend cbr_backend_sim;
extern const struct cbr_backend cbr_backend_board; /* a board over a caller's transport */
extern const struct cbr_backend cbr_backend_pcie;  /* XDMA character devices (tr_xdma.c) */
extern const struct cbr_backend cbr_backend_usb;   /* libusb (tr_usb.c) */
extern const struct cbr_backend cbr_backend_serial; /* a tty, e.g. the iCEBreaker's UART */

struct cbr_transport;

/* The board driver's open over a transport it then owns (closed on failure too). */
int cbr_board_open(cbr_device *dev, struct cbr_transport *tr, const char *uri, char *err,
                   size_t len);

/* Open a device driving a board over tr (for tests and emulators): tr is owned by the device
 * from here on, also on failure. */
int cbr_device_open_transport(cbr_device **dev, struct cbr_transport *tr, const char *uri);

#endif
