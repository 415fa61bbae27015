/*
 * plan.h - the tile planner: how a layer is cut into tiles that fit a device's buffers
 * (docs/tiling.md). Pure arithmetic on a layer and the device's INFO: no I/O, so the plan is
 * made once, when the layer is created, and unit-tested without a device.
 *
 * Vocabulary (docs/tiling.md has the pictures):
 *   job      the layer is run per image and per group: a dense convolution of cin -> cout
 *            channels (cin = C/G, cout = O/G); every job has the same geometry.
 *   region   an input window (rows x columns x a range of input channels) written to the
 *            activation buffer in the device layout; several runs read it while it stays.
 *   wset     the weights and per-channel parameters of a range of output blocks and input
 *            channels, written to the weight and parameter buffers.
 *   run      one RUN of the core: a tile of pooled output rows x columns, n_ob output blocks
 *            of one wset, reading one region; with an input-channel chain, several runs
 *            accumulate one tile in int32 on the device before it is requantized.
 */
#ifndef CBR_PLAN_H
#define CBR_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cbr.h"

/* What the planner needs to know of a device (from INFO). */
struct cbr_caps {
    uint32_t rows, cols;
    uint32_t act_bytes, wgt_bytes, out_bytes; /* buffers 0, 1, 3 */
    uint32_t param_entries;                  /* buffer 2, 32 bytes per channel */
    uint32_t acc_pixels;                     /* conv pixels per accumulator bank */
    bool dw_mode;                            /* the core has the depthwise mode */
    double link_bpc;                         /* host -> device bytes a device cycle, for
                                                the order of the first tiles (0: 2) */
    double link_latency;                     /* device cycles a crossing of the link takes,
                                                each way (0: none known) */
    bool in_resident;                        /* the whole input is in the activation buffer
                                                already (a chain keeps it there): the order
                                                of the first tiles waits for weights alone */
};

/*
 * The output buffer is cut into PLAN_OUT_SLOTS slots that tiles take in turn: a tile's output
 * fits one slot (rounded down to a whole pixel of COLS bytes, as OUT_BASE must be). With three,
 * the output of tile i-1 stays in its slot while tile i runs and tile i+1's start is queued,
 * so its read need not hold up that start (docs/tiling.md, "Streaming").
 */
#define PLAN_OUT_SLOTS 3

/* The most input rows a region may store: the core's IN_H register has 16 bits
 * (docs/registers.md). Columns need no limit: a region is one column strip of tiles. */
#define PLAN_MAX_IN_ROWS 0xFFFFu

/* The most channels a RUN may have in IN_C and OUT_C (16 bits in the core; docs/registers.md):
 * a 1x1 layer of 65536 input channels, the reduction limit, runs as a chain. */
#define PLAN_MAX_CHANNELS 0xFFFFu

static inline uint32_t cbr_plan_out_slot(const struct cbr_caps *k)
{
    return k->out_bytes / PLAN_OUT_SLOTS / k->cols * k->cols;
}

struct plan_region {
    uint32_t iy0, iy1, ix0, ix1; /* stored input rows and columns (layer coordinates) */
    uint32_t c0, nc;             /* input channels of the job: c0 .. c0+nc-1 */
    uint32_t n_cb;               /* channel blocks stored: nc / rows, rounded up */
    uint32_t bytes;              /* n_cb * rows * columns * ROWS (depthwise: per bank,
                                    ceil(rows / NG) rows); n_cb * pitch where that is larger */
    uint32_t pitch;              /* dense: bytes between its channel blocks in the buffer,
                                    rows * columns * ROWS, or the tallest region's rows where
                                    regions take the whole buffer in turn (plan_dense) */
};

struct plan_wset {
    uint32_t ob0, n_ob;          /* output blocks of the job */
    uint32_t c0, nc, n_cb;       /* input channels, as in the region it pairs with */
    uint32_t bytes;              /* weights: n_ob * n_cb * KH * KW * ROWS * COLS */
    uint32_t param_bytes;        /* n_ob * COLS * 32 */
};

enum { PLAN_ACC_LOAD = 1u << 2, PLAN_ACC_KEEP = 1u << 3 }; /* MODE bits (registers.md) */

struct plan_run {
    uint32_t region, wset;       /* indices into the plan's arrays */
    uint32_t ob0, n_ob;          /* output blocks of the job this run computes */
    uint32_t py0, py1, px0, px1; /* pooled (or conv, without pooling) output tile */
    uint32_t cy0, cy1, cx0, cx1; /* the conv rows and columns it needs */
    uint32_t acc_mode;           /* PLAN_ACC_* */
};

struct cbr_plan {
    uint32_t cin, cout;          /* channels of a job */
    uint32_t n_cb, n_ob;         /* blocks of the whole job */
    bool host_pool;              /* the device computes the conv plane; the host pools it */
    bool chain;                  /* input channels split over several runs */
    bool depthwise;              /* the core's depthwise mode: one job of all channels,
                                    activations in NG row banks (registers.md) */
    uint32_t ng;                 /* depthwise: kernel rows per pass = banks = ROWS / 4 */
    uint32_t dw_passes;          /* depthwise: passes per output block */
    bool weights_resident;       /* one wset for the whole job, written once per group */
    uint32_t n_regions, n_wsets, n_runs;
    struct plan_region *regions;
    struct plan_wset *wsets;
    struct plan_run *runs;       /* in execution order */
    /* device-side pooling of a run (from the layer; host_pool: none) */
    uint32_t pool_kind;
    uint32_t oh, ow;             /* conv plane of the layer */
    uint32_t ph, pw;             /* output plane the runs produce (conv plane if host_pool) */
};

/*
 * Plan layer l (validated) for a device with caps. Returns 0, or CBR_ERANGE with a message
 * naming the limit when the device cannot run it at all, or CBR_ENOMEM.
 */
int cbr_plan_make(const cbr_layer *l, const struct cbr_caps *caps, struct cbr_plan **out,
                  char *err, size_t len);
void cbr_plan_free(struct cbr_plan *p);

/* Whether the layer runs in the core's depthwise mode on this device: a square array with
 * the mode, channel multiplier 1, no dilation. */
bool cbr_plan_dw_eligible(const cbr_layer *l, const struct cbr_caps *caps);

#endif
