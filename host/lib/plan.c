/*
 * plan.c - the tile planner (plan.h, docs/tiling.md).
 *
 * The device computes one tile per RUN: a tile of output rows x columns, for a few output
 * blocks, from an input window resident in the activation buffer, with the weights resident
 * in the weight buffer, into an accumulator bank of acc_pixels conv pixels. The planner picks
 *
 *   - the tile: as many conv pixels as the accumulator holds, full output width when that
 *     fits, aligned to the pooling windows so that pooling across tile borders is exact
 *     (a tile's pooled outputs see every conv row and column their windows cover);
 *   - regions: input windows shared by consecutive row tiles, as large as half the
 *     activation buffer (the other half takes the next region while this one is computed),
 *     or the whole buffer when one region holds the whole input, or when whole-buffer
 *     regions send the (not resident) weights fewer times;
 *   - wsets: all the weights at once when they fit (written once), or groups of output
 *     blocks that fit half the weight buffer;
 *   - the loop order that moves the fewest bytes: regions outer (weights sent once per
 *     region) or weight sets outer (inputs sent once per weight set); the first tiles, which
 *     wait for the link, in the order a model of the link says ends first (rect_best);
 *   - an input-channel chain when even one output block's weights or one tile's input do not
 *     fit: runs over channel chunks accumulate in int32 on the device (MODE ACC_KEEP /
 *     ACC_LOAD) and only the last one requantizes.
 *
 * Pooling that cannot be tiled (a window larger than the accumulator allows, a global
 * average over a plane larger than the accumulator) is done on the host from the device's
 * conv plane (host_pool): same arithmetic, more bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "device.h"
#include "errors.h"
#include "plan.h"

#define PARAM_BYTES 32

static uint32_t div_up(uint64_t x, uint64_t y)
{
    return (uint32_t)((x + y - 1) / y);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* One axis of the geometry: pooling (device side) and conv. */
struct axis {
    uint32_t in, pad, k, s, d;  /* conv: input size, leading padding, kernel, stride, dilation */
    uint32_t conv;              /* conv outputs */
    uint32_t pk, ps, pp;        /* pooling window, stride, leading padding (1, 1, 0: none) */
    uint32_t pooled;            /* outputs after pooling */
};

/* Conv outputs [c0, c1) that pooled outputs [p0, p1) need. */
static void conv_range(const struct axis *a, uint32_t p0, uint32_t p1, uint32_t *c0,
                       uint32_t *c1)
{
    int64_t lo = (int64_t)p0 * a->ps - a->pp;
    int64_t hi = (int64_t)(p1 - 1) * a->ps - a->pp + a->pk;
    *c0 = (uint32_t)max64(0, lo);
    *c1 = (uint32_t)min64(a->conv, hi);
}

/* Input positions [i0, i1) that conv outputs [c0, c1) read, clipped to the input. An empty
 * range (all padding) is [x, x) with x clamped into [0, in]. */
static void in_range(const struct axis *a, uint32_t c0, uint32_t c1, uint32_t *i0,
                     uint32_t *i1)
{
    int64_t lo = (int64_t)c0 * a->s - a->pad;
    int64_t hi = (int64_t)(c1 - 1) * a->s - a->pad + (int64_t)(a->k - 1) * a->d + 1;
    int64_t l = max64(0, min64(lo, a->in)), h = max64(l, min64(hi, a->in));
    *i0 = (uint32_t)l;
    *i1 = (uint32_t)h;
}

/* Stored input size of a tile of p pooled outputs starting at p0. */
static uint32_t tile_in(const struct axis *a, uint32_t p0, uint32_t p)
{
    uint32_t c0, c1, i0, i1;
    conv_range(a, p0, p0 + p, &c0, &c1);
    in_range(a, c0, c1, &i0, &i1);
    return i1 - i0;
}

/* Largest stored input size of any tile of p pooled outputs (interior tiles are largest;
 * checking the first, one interior and the last is enough for a regular grid). */
static uint32_t tile_in_max(const struct axis *a, uint32_t p)
{
    uint32_t m = 0, n = div_up(a->pooled, p);
    for (uint32_t t = 0; t < n; t++) {
        if (t > 1 && t + 1 < n)
            continue;
        uint32_t len = t + 1 == n ? a->pooled - t * p : p;
        uint32_t v = tile_in(a, t * p, len);
        m = v > m ? v : m;
    }
    if (n > 2) { /* an interior tile */
        uint32_t v = tile_in(a, p, p);
        m = v > m ? v : m;
    }
    return m;
}

/* Largest conv size of a tile of p pooled outputs. */
static uint32_t tile_conv_max(const struct axis *a, uint32_t p)
{
    if (a->pk == 1 && a->ps == 1)
        return p < a->conv ? p : a->conv;
    uint64_t v = (uint64_t)(p - 1) * a->ps + a->pk;
    return v < a->conv ? (uint32_t)v : a->conv;
}

struct ctx {
    const cbr_layer *l;
    const struct cbr_caps *caps;
    struct cbr_plan *p;
    struct axis y, x;
    uint32_t taps;
    uint32_t cap_regions, cap_wsets, cap_runs;
};

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*arr, (size_t)n * size);
    if (!q)
        return -1;
    *arr = q;
    *cap = n;
    return 0;
}

static int add_region(struct ctx *c, uint32_t py0, uint32_t py1, uint32_t px0, uint32_t px1,
                      uint32_t c0, uint32_t nc)
{
    struct cbr_plan *p = c->p;
    if (grow((void **)&p->regions, &c->cap_regions, p->n_regions + 1, sizeof *p->regions))
        return -1;
    struct plan_region *r = &p->regions[p->n_regions++];
    uint32_t cy0, cy1, cx0, cx1;
    conv_range(&c->y, py0, py1, &cy0, &cy1);
    conv_range(&c->x, px0, px1, &cx0, &cx1);
    in_range(&c->y, cy0, cy1, &r->iy0, &r->iy1);
    in_range(&c->x, cx0, cx1, &r->ix0, &r->ix1);
    r->c0 = c0;
    r->nc = nc;
    r->n_cb = div_up(nc, c->caps->rows);
    r->pitch = (r->iy1 - r->iy0) * (r->ix1 - r->ix0) * c->caps->rows;
    r->bytes = r->n_cb * r->pitch;
    return 0;
}

static int add_wset(struct ctx *c, uint32_t ob0, uint32_t n_ob, uint32_t c0, uint32_t nc)
{
    struct cbr_plan *p = c->p;
    if (grow((void **)&p->wsets, &c->cap_wsets, p->n_wsets + 1, sizeof *p->wsets))
        return -1;
    struct plan_wset *w = &p->wsets[p->n_wsets++];
    w->ob0 = ob0;
    w->n_ob = n_ob;
    w->c0 = c0;
    w->nc = nc;
    w->n_cb = div_up(nc, c->caps->rows);
    w->bytes = n_ob * w->n_cb * c->taps * c->caps->rows * c->caps->cols;
    w->param_bytes = n_ob * c->caps->cols * PARAM_BYTES;
    return 0;
}

static int add_run(struct ctx *c, uint32_t region, uint32_t wset, uint32_t ob0, uint32_t n_ob,
                   uint32_t py0, uint32_t py1, uint32_t px0, uint32_t px1, uint32_t acc_mode)
{
    struct cbr_plan *p = c->p;
    if (grow((void **)&p->runs, &c->cap_runs, p->n_runs + 1, sizeof *p->runs))
        return -1;
    struct plan_run *r = &p->runs[p->n_runs++];
    r->region = region;
    r->wset = wset;
    r->ob0 = ob0;
    r->n_ob = n_ob;
    r->py0 = py0;
    r->py1 = py1;
    r->px0 = px0;
    r->px1 = px1;
    conv_range(&c->y, py0, py1, &r->cy0, &r->cy1);
    conv_range(&c->x, px0, px1, &r->cx0, &r->cx1);
    r->acc_mode = acc_mode;
    return 0;
}

/* Bytes of the stored input of a pooled tile, all of the job's channels. */
static uint64_t tile_act_bytes(const struct ctx *c, uint32_t pth, uint32_t ptw, uint32_t nc)
{
    return (uint64_t)tile_in_max(&c->y, pth) * tile_in_max(&c->x, ptw) *
           div_up(nc, c->caps->rows) * c->caps->rows;
}

/*
 * The largest tile (pth x ptw pooled outputs) such that its conv plane fits the accumulator,
 * its output (n_ob blocks) fits an output slot (plan.h) and its input (nc channels) fits
 * act_cap. Full width first, then fewer columns. Returns 0 when nothing fits.
 */
static int pick_tile(const struct ctx *c, uint32_t nc, uint64_t act_cap, uint32_t *pth,
                     uint32_t *ptw)
{
    const struct cbr_caps *k = c->caps;
    uint64_t out_slot = cbr_plan_out_slot(k);
    for (uint32_t nx = 1; nx <= c->x.pooled; nx++) {
        uint32_t w = div_up(c->x.pooled, nx);
        if (nx > 1 && div_up(c->x.pooled, nx - 1) == w)
            continue; /* same width as the previous try */
        uint32_t cw = tile_conv_max(&c->x, w);
        /* the most rows the accumulator and the output slot allow */
        uint32_t best = 0;
        uint32_t lo = 1, hi = c->y.pooled;
        while (lo <= hi) {
            uint32_t h = lo + (hi - lo) / 2;
            bool ok = (uint64_t)tile_conv_max(&c->y, h) * cw <= k->acc_pixels &&
                      (uint64_t)h * w * k->cols <= out_slot &&
                      tile_act_bytes(c, h, w, nc) <= act_cap;
            if (ok) {
                best = h;
                lo = h + 1;
            } else {
                hi = h - 1;
            }
        }
        if (best) {
            *pth = best;
            *ptw = w;
            return 1;
        }
    }
    return 0;
}

/* Row tiles of the same height, then balanced: n tiles of about h rows. */
static uint32_t balance(uint32_t total, uint32_t h)
{
    uint32_t n = div_up(total, h);
    return div_up(total, n);
}

/* A tile height of at most h rows and cap, balanced over the total (balance). */
static uint32_t capped_height(uint32_t total, uint32_t h, uint32_t cap)
{
    return balance(total, h > cap ? cap : h);
}

/* The blocks a tile takes by default: what it may compute (blocks_most), but a quarter of
 * the weight set's k_w at most (a tile's output read must be back before the start two
 * tiles later). */
static uint32_t blocks_quarter(uint32_t most, uint32_t k_w)
{
    return most < div_up(k_w, 4) ? most : div_up(k_w, 4);
}

/* Output blocks a tile of pth x ptw pooled outputs may compute: what an output slot holds,
 * at most the weight set's k_w blocks and OUT_C's channels. */
static uint32_t blocks_most(const struct ctx *c, uint32_t pth, uint32_t ptw, uint32_t k_w)
{
    const uint32_t C = c->caps->cols;
    uint32_t n = (uint32_t)(cbr_plan_out_slot(c->caps) / ((uint64_t)pth * ptw * C));
    if (n > k_w)
        n = k_w;
    if ((uint64_t)n * C > PLAN_MAX_CHANNELS) /* OUT_C */
        n = PLAN_MAX_CHANNELS / C;
    return n;
}

/* The row tile after the last of a region that starts at row tile t0 and fits cap bytes
 * (at least one tile), and PLAN_MAX_IN_ROWS stored rows: the core's IN_H has 16 bits. */
static uint32_t next_region_end(const struct ctx *c, uint32_t pth, uint32_t px0, uint32_t px1,
                                uint64_t cap, uint32_t ny, uint32_t t0)
{
    uint32_t t1 = t0 + 1;
    while (t1 < ny) {
        uint32_t py1 = (t1 + 1) * pth < c->y.pooled ? (t1 + 1) * pth : c->y.pooled;
        uint32_t rows = tile_in(&c->y, t0 * pth, py1 - t0 * pth);
        uint64_t bytes = (uint64_t)rows * tile_in(&c->x, px0, px1 - px0) * c->p->n_cb *
                         c->caps->rows;
        if (bytes > cap || rows > PLAN_MAX_IN_ROWS)
            break;
        t1++;
    }
    return t1;
}

/* How many regions of at most cap bytes one column strip takes, and their bytes. */
static uint32_t group_rows(const struct ctx *c, uint32_t pth, uint32_t px0, uint32_t px1,
                           uint64_t cap, uint32_t ny, uint64_t *bytes)
{
    uint32_t n = 0;
    *bytes = 0;
    for (uint32_t t0 = 0; t0 < ny; n++) {
        uint32_t t1 = next_region_end(c, pth, px0, px1, cap, ny, t0);
        uint32_t py1 = t1 * pth < c->y.pooled ? t1 * pth : c->y.pooled;
        *bytes += (uint64_t)tile_in(&c->y, t0 * pth, py1 - t0 * pth) *
                  tile_in(&c->x, px0, px1 - px0) * c->p->n_cb * c->caps->rows;
        t0 = t1;
    }
    return n;
}

/* Weight bytes sent when all of them (w_all, in sets of k_w blocks) pass once per region,
 * n_reg regions in snake order: after the first pass, each pass finds the two sets the
 * one before ended with still in the weight buffer's halves. */
static uint64_t w_sent(const struct ctx *c, uint64_t w_all, uint32_t k_w, uint32_t n_reg)
{
    uint32_t n_ob = c->p->n_ob, n_ws = div_up(n_ob, k_w);
    if (n_ws <= 1 || n_reg <= 1)
        return n_ws <= 1 ? w_all : w_all * n_reg;
    uint64_t kept = w_all * (n_ws == 2 ? n_ob : 2 * k_w) / n_ob;
    return w_all + (uint64_t)(n_reg - 1) * (w_all - kept);
}

/* Input bytes sent when every region passes once per weight set, in snake order: each
 * pass after the first starts with the two regions the one before ended with. */
static uint64_t reg_sent(const struct ctx *c, uint64_t in_all, uint32_t n_ws)
{
    const struct cbr_plan *p = c->p;
    if (n_ws <= 1 || p->n_regions <= 1)
        return p->n_regions <= 1 ? in_all : in_all * n_ws;
    uint64_t kept = 0;
    for (uint32_t r = p->n_regions - 2; r < p->n_regions; r++)
        if (p->regions[r].bytes <= c->caps->act_bytes / 2 || r + 1 == p->n_regions)
            kept += p->regions[r].bytes; /* a region larger than half has the buffer alone */
    return in_all + (uint64_t)(n_ws - 1) * (in_all - kept);
}

/*
 * The order of the first tiles. Nothing is in the buffers when a layer starts, so its first
 * tiles wait for the link. The tiles of its first pair (region, wset) are a grid of row tiles
 * x block groups; the tiles done at any time form a rectangle, the first a row tiles x the
 * first b groups, that grows by a row of tiles or a column of them, and the link brings the
 * input rows and the blocks' weights in the order the tiles first need them (the driver's
 * load_step). A model of that: the link carries link_bpc bytes a cycle and idles
 * RECT_TILE_LINK_CYCLES a tile, plus RECT_TILE_ROUND_TRIPS round trips of its latency; a
 * tile starts once its rows and blocks are in and the tile before it has ended, and lasts
 * its beats, its pixels and 64 cycles (the driver's estimate_tile). Dynamic programming over (a, b) finds the growth that ends first
 * (tools/schedule_model.py is the same model, to read and to try shapes with;
 * docs/tiling.md, "Streaming", compares it with the runs).
 */
struct rect {
    uint32_t n_ty, n_gr;  /* row tiles, block groups */
    uint64_t *in_b;       /* [a]: input bytes that row tiles 0..a need */
    uint64_t blk;         /* weight and parameter bytes of an output block */
    uint64_t *px;         /* [a]: conv pixels of row tile a */
    uint64_t *col[2];     /* [a]: cycles of row tiles 0..a-1 (n_ty + 1 of them) in a group of
                             nb[0] blocks, in the last group */
    uint64_t t_min;       /* cycles a tile takes at least: RECT_TILE_MIN_WAITS x its waits */
    uint32_t *nb;         /* [b]: output blocks of group b */
    uint64_t *nb_sum;     /* [b]: of groups 0..b-1 (n_gr + 1 of them) */
    uint64_t beats;       /* beats a pixel and block: channel blocks x taps */
    double bpc;
    double tile_link;     /* link cycles a tile costs beyond its bytes */
};

#define RECT_MAX_CELLS (1u << 20) /* a larger grid keeps the plain order */

/* Link cycles each tile costs beyond its bytes: the driver stops writing ahead a margin
 * before the queued tile ends, and a RUN waits for the writes before it to be answered
 * (docs/tiling.md, "Streaming"). Fitted to ResNet-18 layer3.0.conv1 on sim:16x16 (74.8%,
 * 79.0% and 75.4% with four, two and one blocks a tile; the model says 75.0%, 78.8% and
 * 77.8%). */
#define RECT_TILE_LINK_CYCLES 1536

/* Round trips of the link's latency the driver waits for a tile: the poll that sees the tile
 * before it taken, the answers to its registers (its RUN waits for them) and to its RUN.
 * Where the RUN is posted (CBR_FEAT_RUN_CHECK) only the poll is left, but three still plan
 * better there (one: MobileNetV1 conv7.pw 305.8 k instead of 290.4 k cycles at 5 us). With
 * a latency they dominate small tiles (sim:16x16 at 5 us each way: ResNet-18 layer2.0.conv1
 * 54.7% -> 71.0% utilization with them in the model, which then takes fewer, larger tiles;
 * MobileNetV1 conv5.pw 47.9% -> 67.1%; docs/bench.md, "Link latency"). */
#define RECT_TILE_ROUND_TRIPS 3

/* The cycles the driver waits for those round trips a tile (0 without a latency). */
static double tile_waits(const struct cbr_caps *k)
{
    return k->link_latency > 0 ? 2.0 * RECT_TILE_ROUND_TRIPS * k->link_latency : 0;
}

/* The cycles a tile should last at least over a link with a latency, or the core waits for
 * the driver: four times its waits (the driver's polls lag the tile's start, and its writes
 * ahead wait for answers too). Fitted on sim:16x16 at 5 and 20 us each way (docs/tiling.md,
 * item 2). */
static uint64_t tile_min(const struct cbr_caps *k)
{
    return (uint64_t)(4.0 * tile_waits(k));
}

/* The model's tiles last at least this many times their waits (the rule's four, tile_min,
 * cost too much at 20 us each way: ResNet-18 layer3.0.conv1 in 3 tiles, 48.4% instead of
 * 53.7% in 4; MobileNetV1 conv7.pw 46.2% instead of 50.2%). Two took 32 tiles instead of 16
 * for ResNet-18 layer1.0.conv1 at 5 us, 84.7% instead of 88.3%. Swept on sim:16x16. */
#define RECT_TILE_MIN_WAITS 3.0

/* Cycles until the link has brought what a row tiles x b groups need, after `tiles` tiles. */
static double rect_link(const struct rect *r, uint32_t a, uint32_t b, uint64_t tiles)
{
    return (double)(r->in_b[a - 1] + r->nb_sum[b] * r->blk) / r->bpc +
           (double)tiles * r->tile_link;
}

/* Cycles of a tile of px conv pixels and nb blocks: its beats, its pixels and 64 (the
 * driver's estimate_tile), and over a link with a latency at least t_min. */
static uint64_t rect_tile(const struct rect *r, uint64_t px, uint32_t nb)
{
    uint64_t t = px * r->beats * nb + px + 64;
    return t > r->t_min ? t : r->t_min;
}

/* Compute of row tile a across groups 0..b-1 (only the last group may be short), and of
 * group b down row tiles 0..a-1. */
static double rect_row(const struct rect *r, uint32_t a, uint32_t b)
{
    uint32_t full = b == r->n_gr ? b - 1 : b;
    uint64_t t = full * rect_tile(r, r->px[a], r->nb[0]);
    if (b == r->n_gr)
        t += rect_tile(r, r->px[a], r->nb[b - 1]);
    return (double)t;
}

static double rect_col(const struct rect *r, uint32_t a, uint32_t b)
{
    return (double)r->col[b == r->n_gr - 1][a];
}

/* Modelled cycles of a growth: steps[i] 0 adds a row of tiles, 1 a column. */
static double rect_time(const struct rect *r, const unsigned char *steps)
{
    uint32_t a = 1, b = 1;
    double t = rect_link(r, 1, 1, 0) + rect_row(r, 0, 1);
    for (uint32_t i = 0; i + 2 < r->n_ty + r->n_gr; i++) {
        double l = rect_link(r, a + !steps[i], b + steps[i], (uint64_t)a * b);
        steps[i] ? b++ : a++;
        t = (l > t ? l : t) + (steps[i] ? rect_col(r, a, b - 1) : rect_row(r, a - 1, b));
    }
    return t;
}

/* The growth that ends first, into steps (n_ty + n_gr - 2 of them), and its modelled cycles
 * into *cycles. -1: out of memory. */
static int rect_best(const struct rect *r, unsigned char *steps, double *cycles)
{
    const uint32_t nt = r->n_ty, ng = r->n_gr;
    double *best = malloc((size_t)nt * ng * sizeof *best);
    unsigned char *from = malloc((size_t)nt * ng);
    if (!best || !from) {
        free(best);
        free(from);
        return -1;
    }
    for (uint32_t a = 1; a <= nt; a++)
        for (uint32_t b = 1; b <= ng; b++) {
            size_t i = (size_t)(a - 1) * ng + (b - 1);
            if (a == 1 && b == 1) {
                best[i] = rect_link(r, 1, 1, 0) + rect_row(r, 0, 1);
                continue;
            }
            double t = 0;
            if (a > 1) { /* from (a-1, b), adding row tile a-1 */
                double s = best[i - ng], l = rect_link(r, a, b, (uint64_t)(a - 1) * b);
                t = (l > s ? l : s) + rect_row(r, a - 1, b);
                from[i] = 0;
            }
            if (b > 1) { /* from (a, b-1), adding group b-1 */
                double s = best[i - 1], l = rect_link(r, a, b, (uint64_t)a * (b - 1));
                double u = (l > s ? l : s) + rect_col(r, a, b - 1);
                if (a == 1 || u < t) {
                    t = u;
                    from[i] = 1;
                }
            }
            best[i] = t;
        }
    for (uint32_t a = nt, b = ng, k = nt + ng - 2; k-- > 0;) {
        steps[k] = from[(size_t)(a - 1) * ng + (b - 1)];
        steps[k] ? b-- : a--;
    }
    *cycles = best[(size_t)nt * ng - 1];
    free(best);
    free(from);
    return 0;
}

/* The tiles of a growth, as row tile * n_gr + group. */
static void rect_emit(const struct rect *r, const unsigned char *steps, uint32_t *ord)
{
    uint32_t a = 1, b = 1, m = 0;
    ord[m++] = 0;
    for (uint32_t i = 0; i + 2 < r->n_ty + r->n_gr; i++) {
        if (steps[i]) {
            for (uint32_t t = 0; t < a; t++)
                ord[m++] = t * r->n_gr + b;
            b++;
        } else {
            for (uint32_t g = 0; g < b; g++)
                ord[m++] = a * r->n_gr + g;
            a++;
        }
    }
}

static void rect_free(struct rect *r)
{
    free(r->in_b);
    free(r->px);
    free(r->col[0]);
    free(r->col[1]);
    free(r->nb);
    free(r->nb_sum);
}

/* The grid of region reg (its row tiles from ty0, pth pooled rows each, columns px0..px1)
 * and wset w in groups of k_run blocks. -1: out of memory. */
static int rect_make(const struct ctx *c, struct rect *r, uint32_t reg, uint32_t ty0,
                     uint32_t n_ty, uint32_t pth, uint32_t px0, uint32_t px1,
                     const struct plan_wset *w, uint32_t k_run)
{
    const struct cbr_plan *p = c->p;
    const struct plan_region *rg = &p->regions[reg];
    memset(r, 0, sizeof *r);
    r->n_ty = n_ty;
    r->n_gr = div_up(w->n_ob, k_run);
    r->bpc = c->caps->link_bpc > 0 ? c->caps->link_bpc : 2.0;
    r->tile_link = RECT_TILE_LINK_CYCLES + tile_waits(c->caps);
    r->t_min = (uint64_t)(RECT_TILE_MIN_WAITS * tile_waits(c->caps));
    r->beats = (uint64_t)rg->n_cb * c->taps;
    r->in_b = malloc(n_ty * sizeof *r->in_b);
    r->px = malloc(n_ty * sizeof *r->px);
    r->col[0] = malloc((n_ty + 1) * sizeof *r->col[0]);
    r->col[1] = malloc((n_ty + 1) * sizeof *r->col[1]);
    r->nb = malloc(r->n_gr * sizeof *r->nb);
    r->nb_sum = malloc((r->n_gr + 1) * sizeof *r->nb_sum);
    if (!r->in_b || !r->px || !r->col[0] || !r->col[1] || !r->nb || !r->nb_sum) {
        rect_free(r);
        return -1;
    }
    uint32_t cx0, cx1;
    conv_range(&c->x, px0, px1, &cx0, &cx1);
    const uint64_t row = (uint64_t)rg->n_cb * c->caps->rows * (rg->ix1 - rg->ix0);
    for (uint32_t a = 0; a < n_ty; a++) {
        uint32_t py0 = (ty0 + a) * pth, py1 = py0 + pth < c->y.pooled ? py0 + pth : c->y.pooled;
        uint32_t cy0, cy1, iy0, iy1;
        conv_range(&c->y, py0, py1, &cy0, &cy1);
        in_range(&c->y, cy0, cy1, &iy0, &iy1);
        if (iy1 > rg->iy1)
            iy1 = rg->iy1;
        r->in_b[a] = c->caps->in_resident ? 0 : (iy1 > rg->iy0 ? iy1 - rg->iy0 : 0) * row;
        if (a && r->in_b[a] < r->in_b[a - 1])
            r->in_b[a] = r->in_b[a - 1];
        r->px[a] = (uint64_t)(cy1 - cy0) * (cx1 - cx0);
    }
    r->blk = (w->n_ob ? w->bytes / w->n_ob : 0) + (uint64_t)c->caps->cols * PARAM_BYTES;
    r->nb_sum[0] = 0;
    for (uint32_t b = 0; b < r->n_gr; b++) {
        r->nb[b] = w->n_ob - b * k_run < k_run ? w->n_ob - b * k_run : k_run;
        r->nb_sum[b + 1] = r->nb_sum[b] + r->nb[b];
    }
    r->col[0][0] = r->col[1][0] = 0;
    for (uint32_t a = 0; a < n_ty; a++) {
        r->col[0][a + 1] = r->col[0][a] + rect_tile(r, r->px[a], r->nb[0]);
        r->col[1][a + 1] = r->col[1][a] + rect_tile(r, r->px[a], r->nb[r->n_gr - 1]);
    }
    return 0;
}

static int plan_dense(struct ctx *c)
{
    struct cbr_plan *p = c->p;
    const struct cbr_caps *k = c->caps;
    const uint32_t R = k->rows, C = k->cols;
    uint64_t wob = (uint64_t)p->n_cb * c->taps * R * C;
    uint64_t pob = (uint64_t)C * PARAM_BYTES, pbytes = (uint64_t)k->param_entries * PARAM_BYTES;
    uint32_t k_w;
    if (wob * p->n_ob <= k->wgt_bytes && pob * p->n_ob <= pbytes) {
        p->weights_resident = true;
        k_w = p->n_ob;
    } else {
        uint64_t a = (k->wgt_bytes / 2) / wob, b = (pbytes / 2) / pob;
        k_w = (uint32_t)(a < b ? a : b);
        if (k_w > p->n_ob)
            k_w = p->n_ob;
    }
    if (!k_w || p->cin > PLAN_MAX_CHANNELS)
        return 1; /* needs a chain (or IN_C would not fit its 16 bits) */

    /* One region for the whole input, in the whole buffer? */
    uint32_t pth, ptw;
    bool whole = tile_act_bytes(c, c->y.pooled, c->x.pooled, p->cin) <= k->act_bytes;
    uint64_t act_cap = whole ? k->act_bytes : k->act_bytes / 2;
    if (!pick_tile(c, p->cin, act_cap, &pth, &ptw))
        return 1;
    if (whole && ptw < c->x.pooled) {
        /* Column tiles cannot share one region (a tile's IN_W is its region's row pitch
         * and right edge), so the regions alternate between the halves. */
        whole = false;
        act_cap = k->act_bytes / 2;
        if (!pick_tile(c, p->cin, act_cap, &pth, &ptw))
            return 1;
    }
    /* Pipelining wants the first tile's data and the last tile's output small (they cannot
     * overlap anything): at least eight row tiles, as long as tiles keep 64 pixels (shorter
     * passes would wait for weight loads). */
    uint32_t rows4 = div_up(c->y.pooled, 8), rows64 = div_up(64, ptw);
    uint32_t cap_rows = rows4 > rows64 ? rows4 : rows64;
    /* Over a link with a latency the driver waits RECT_TILE_ROUND_TRIPS round trips a tile
     * (and its writes ahead wait for answers too): a tile should last four times that at
     * least (t_min), or the core waits for the driver. Taller row tiles then (one output
     * block's beats). sim:16x16 at 5 us each way: ResNet-18 layer3.1.conv1 58.6% -> 76.6%
     * with this and the blocks below (80.6% with eight times, but 66.2% instead of 70.1%
     * at 20 us); layer1.0.conv1 84.7% -> 86.3%. */
    const uint64_t t_min = tile_min(k);
    const uint64_t row_beats = (uint64_t)ptw * p->n_cb * c->taps;
    /* the height without that rule, for the model of the first tiles to weigh (below) */
    const uint32_t pth_short = capped_height(c->y.pooled, pth, cap_rows);
    if (t_min && div_up(t_min, row_beats) > cap_rows)
        cap_rows = div_up(t_min, row_beats);
    pth = capped_height(c->y.pooled, pth, cap_rows);
    ptw = balance(c->x.pooled, ptw);
    /* Output blocks per tile: what an output slot holds, and for the same reason a
     * quarter of the weight set at most. */
    const uint32_t k_most = blocks_most(c, pth, ptw, k_w); /* what the slot and OUT_C allow */
    uint32_t k_run = blocks_quarter(k_most, k_w);
    /* ... but where resident weights meet an input in regions of half the buffer (a small
     * room: a chain's producer beside a kept tensor, fit_plan), a tile of a quarter may be
     * short against what the link idles around each tile: twice as many blocks then, in
     * equal groups, until a tile lasts twice that. MobileNetV1 conv3.pw in the 28 KB left
     * below conv4.dw's kept input (2 rows a region): 2 blocks a tile, 1.8 k cycles, 413 k
     * cycles for the layer; 4 blocks 356 k (8, a tile for each region, 442 k). */
    if (!whole && p->weights_resident)
        while (k_run && 2 * k_run <= k_most && k_w % (2 * k_run) == 0 &&
               (uint64_t)pth * row_beats * k_run < 2 * RECT_TILE_LINK_CYCLES)
            k_run *= 2;
    /* Weights that stream (not resident) go one output block per tile: a tile starts only
     * once all its weights are in, and the link brings the next tile's while the tiles
     * before it compute, which the write-ahead window (docs/tiling.md, "Streaming") allows
     * for one block of weights, not for several (ResNet-18 layer3: 90.5% instead of 89.1%). */
    if (!p->weights_resident) {
        k_run = 1;
        /* ... and as many blocks as make a tile last t_min, over a link with a latency */
        uint32_t k_lat = div_up(t_min, (uint64_t)pth * row_beats);
        if (k_lat > 1)
            k_run = k_lat < k_most ? k_lat : k_most;
    }

    /* Regions: per column strip, consecutive row tiles while they fit half the buffer (the
     * next region is written into the other half while this one is computed). When the
     * weights are not resident and sent once per region, whole-buffer regions can move
     * fewer bytes: fewer regions, each weight set sent fewer times (they share a block
     * pitch, below, so that the driver writes the next region's first rows beside the last
     * tiles of the one before; they used to cost a wait at each change of region). Take
     * whichever moves fewer bytes. */
    uint32_t ny = div_up(c->y.pooled, pth), nx = div_up(c->x.pooled, ptw);
    uint32_t *reg_first = calloc((size_t)ny * nx + 1, sizeof *reg_first); /* first row tile */
    uint32_t *reg_last = calloc((size_t)ny * nx + 1, sizeof *reg_last);
    uint32_t *reg_col = calloc((size_t)ny * nx + 1, sizeof *reg_col);
    if (!reg_first || !reg_last || !reg_col)
        goto nomem;
    if (!whole && nx == 1) {
        uint64_t in_half = 0, in_whole = 0;
        uint32_t n_half = group_rows(c, pth, 0, ptw, act_cap, ny, &in_half);
        uint32_t n_whole = group_rows(c, pth, 0, ptw, k->act_bytes, ny, &in_whole);
        uint64_t w_all = (uint64_t)p->n_ob * (wob + pob);
        uint64_t half = in_half + w_sent(c, w_all, k_w, n_half);
        uint64_t full = in_whole + w_sent(c, w_all, k_w, n_whole);
        /* With resident weights only the halos differ: worth the waits when they are more
         * than a twentieth of the layer's bytes (tall tiles of many channels: VGG-16
         * conv2_2 stores 2 halo rows per 17-row region in halves). */
        uint64_t out = (uint64_t)c->y.pooled * c->x.pooled * p->n_ob * C;
        bool worth = !p->weights_resident || (half - full) * 20 > in_whole + w_all + out;
        if (n_whole < n_half && full < half && worth)
            act_cap = k->act_bytes;
    }
    for (uint32_t tx = 0; tx < nx; tx++) {
        uint32_t px0 = tx * ptw, px1 = px0 + ptw < c->x.pooled ? px0 + ptw : c->x.pooled;
        uint32_t t0 = 0;
        while (t0 < ny) {
            uint32_t t1 = next_region_end(c, pth, px0, px1, act_cap, ny, t0);
            uint32_t py0 = t0 * pth, py1 = t1 * pth < c->y.pooled ? t1 * pth : c->y.pooled;
            reg_first[p->n_regions] = t0;
            reg_last[p->n_regions] = t1;
            reg_col[p->n_regions] = tx;
            if (add_region(c, py0, py1, px0, px1, 0, p->cin))
                goto nomem;
            t0 = t1;
        }
    }

    /* Weight sets: full ones of k_w blocks and the short one first, so that the pass that
     * follows (snake order, below) starts with two full sets still in the buffer. */
    uint32_t n_ws = p->weights_resident ? 1 : div_up(p->n_ob, k_w);
    uint32_t short_n = p->n_ob - (n_ws - 1) * k_w;
    for (uint32_t w = 0, ob0 = 0; w < n_ws; w++) {
        uint32_t n = w == 0 ? short_n : k_w;
        if (add_wset(c, ob0, n, 0, p->cin))
            goto nomem;
        ob0 += n;
    }

    /* One region and one wset (both resident): the first pair is the whole layer, so the
     * blocks a tile may also follow the model of the first tiles (rect_best): the quarter
     * unless another count (what the slot allows, halved down to one) ends at least 1%
     * sooner. ResNet-18 layer3.0.conv1 (3x3 stride 2, 128 -> 256 on 28x28) takes two
     * instead of four, 79.0% utilization instead of 74.8% on sim:16x16. */
    if (p->n_regions == 1 && n_ws == 1 && (k_most > 1 || pth_short != pth)) {
        const uint32_t px1 = ptw < c->x.pooled ? ptw : c->x.pooled;
        /* Heights: the one above, and over a link with a latency also the one without
         * the latency's rule: the model counts the waits a tile, and where it sees the
         * whole layer it weighs them better than that rule (sim:16x16 at 5 us each way:
         * MobileNetV1 conv5.pw 57.8% -> 67.1%, ResNet-18 layer2.0.conv1 68.7% -> 71.0%). */
        uint32_t heights[3] = {pth, pth_short, 0};
        uint32_t n_h = pth_short != pth ? 2 : 1;
        /* ... and the tallest whose tiles take every block of the weight set (what the
         * output slot holds, as tiles of 64 pixels or more): each tile then needs rows of its
         * own, which the link brings evenly, where tiles of some of the blocks share a band
         * of rows that goes at once ahead of the first of them (sim:16x16, seed 1:
         * MobileNetV1 conv1.pw 446.1 k -> 433.6 k cycles, conv3.pw 304.8 k -> 291.2 k,
         * conv2.pw 231.7 k -> 233.2 k; the model ranks them as the others) */
        uint32_t th_all = pth;
        while (th_all > 1 && blocks_most(c, th_all, ptw, k_w) < k_w)
            th_all--;
        th_all = balance(c->y.pooled, th_all);
        if (k_w > 1 && blocks_most(c, th_all, ptw, k_w) == k_w && th_all != pth &&
            th_all != pth_short && (uint64_t)th_all * ptw >= 64)
            heights[n_h++] = th_all;
        double best_t = -1;
        uint32_t best_h = pth;
        for (uint32_t h = 0; h < n_h; h++) {
            const uint32_t th = heights[h];
            const uint32_t km = blocks_most(c, th, ptw, k_w);
            const uint32_t n_ty = div_up(c->y.pooled, th);
            uint32_t cand[34], n_cand = 0;
            /* the quarter first: the others must beat it */
            cand[n_cand++] = blocks_quarter(km, k_w);
            for (uint32_t kr = km;; kr = div_up(kr, 2)) {
                /* more than the quarter only in equal groups: a tile's output read must
                 * be back before the start two tiles later, which a short tile after a
                 * long one does not leave time for (MobileNetV1 conv3.pw in groups of 6
                 * and 2: 58.6% instead of 61.4% with 2) */
                if (kr != cand[0] && (kr < cand[0] || k_w % kr == 0))
                    cand[n_cand++] = kr;
                if (kr == 1)
                    break;
            }
            for (uint32_t i = 0; i < n_cand; i++) {
                struct rect r;
                if (rect_make(c, &r, 0, 0, n_ty, th, 0, px1, &p->wsets[0], cand[i]))
                    goto nomem;
                unsigned char *steps = NULL;
                double t = -1;
                if ((uint64_t)r.n_ty * r.n_gr <= RECT_MAX_CELLS &&
                    (steps = malloc(r.n_ty + r.n_gr)) && rect_best(&r, steps, &t) < 0)
                    t = -1;
                free(steps);
                rect_free(&r);
                if (t < 0)
                    break;
                if (best_t < 0 || t < 0.99 * best_t) {
                    best_t = t;
                    best_h = th;
                    k_run = cand[i];
                }
            }
        }
        if (best_h != pth) {
            pth = best_h;
            reg_last[0] = div_up(c->y.pooled, pth);
        }
    }

    /* Loop order: the fewest bytes. Regions outer sends every wset once per region (once in
     * all when there is one wset); wsets outer sends every region once per wset. */
    uint64_t in_bytes = 0, w_bytes = 0;
    for (uint32_t r = 0; r < p->n_regions; r++)
        in_bytes += p->regions[r].bytes;
    for (uint32_t w = 0; w < n_ws; w++)
        w_bytes += p->wsets[w].bytes + p->wsets[w].param_bytes;
    uint64_t regions_outer = in_bytes + w_sent(c, w_bytes, k_w, p->n_regions);
    uint64_t wsets_outer = w_bytes + reg_sent(c, in_bytes, n_ws);
    bool wo = n_ws > 1 && p->n_regions > 1 && wsets_outer < regions_outer;

    uint32_t n_outer = wo ? n_ws : p->n_regions, n_inner = wo ? p->n_regions : n_ws;
    for (uint32_t o = 0; o < n_outer; o++) {
        for (uint32_t i0 = 0; i0 < n_inner; i0++) {
            /* Snake order: every other pass walks the inner pieces backwards, so it starts
             * with the two that the pass before left in the buffer's halves. */
            uint32_t i = o % 2 ? n_inner - 1 - i0 : i0;
            uint32_t reg = wo ? i : o, ws = wo ? o : i;
            const struct plan_wset *w = &p->wsets[ws];
            uint32_t tx = reg_col[reg];
            uint32_t px0 = tx * ptw, px1 = px0 + ptw < c->x.pooled ? px0 + ptw : c->x.pooled;
            /* The order within: what the first tiles need must be small, so that the link
             * can bring it while they compute. Output blocks outer, row tiles inner writes
             * the region row by row during the first block's tiles, then the weight set
             * block by block; row tiles outer, output blocks inner the other way round. The
             * smaller of region and weight set goes first; the weight set when the region
             * is in place already (in_resident). */
            const uint32_t n_ty = reg_last[reg] - reg_first[reg];
            const uint32_t n_obr = div_up(w->n_ob, k_run);
            bool rows_outer = !c->caps->in_resident &&
                              p->regions[reg].bytes > (uint64_t)w->bytes + w->param_bytes;
            /* The first pair, where nothing is in the buffers yet, grows the rectangle the
             * model of the first tiles (rect_best) says ends first, when that is at least
             * 0.5% sooner than the plain order: a whole row of blocks (or column of row
             * tiles) before the second makes the link carry far more than the first tiles
             * compute where the link load is close to the compute (stride-2 layers, with
             * four input pixels per output pixel; 1x1 layers of many channels). */
            const uint32_t nq = n_ty * n_obr;
            uint32_t *ord = malloc(nq * sizeof *ord); /* row tile * n_obr + block group */
            if (!ord)
                goto nomem;
            for (uint32_t q = 0; q < nq; q++)
                ord[q] = rows_outer ? q : q % n_ty * n_obr + q / n_ty;
            if (o == 0 && i0 == 0 && n_ty > 1 && n_obr > 1 && (uint64_t)nq <= RECT_MAX_CELLS) {
                struct rect r;
                unsigned char *plain = malloc(n_ty + n_obr), *best = malloc(n_ty + n_obr);
                int rc = !plain || !best ? -1 : rect_make(c, &r, reg, reg_first[reg], n_ty,
                                                          pth, px0, px1, w, k_run);
                if (rc == 0) {
                    /* rows outer: the columns first, then the rows; blocks outer: the
                     * other way round */
                    for (uint32_t st = 0; st + 2 < n_ty + n_obr; st++)
                        plain[st] = rows_outer ? st < n_obr - 1 : st >= n_ty - 1;
                    double t_best;
                    if ((rc = rect_best(&r, best, &t_best)) == 0 &&
                        t_best < 0.995 * rect_time(&r, plain))
                        rect_emit(&r, best, ord);
                    rect_free(&r);
                }
                free(plain);
                free(best);
                if (rc) {
                    free(ord);
                    goto nomem;
                }
            }
            for (uint32_t q = 0; q < nq; q++) {
                uint32_t ty = reg_first[reg] + ord[q] / n_obr;
                uint32_t ob = ord[q] % n_obr * k_run;
                uint32_t n = w->n_ob - ob < k_run ? w->n_ob - ob : k_run;
                uint32_t py0 = ty * pth;
                uint32_t py1 = py0 + pth < c->y.pooled ? py0 + pth : c->y.pooled;
                if (add_run(c, reg, ws, w->ob0 + ob, n, py0, py1, px0, px1, 0)) {
                    free(ord);
                    goto nomem;
                }
            }
            free(ord);
        }
    }
    /* Regions that take the whole buffer in turn (one column strip) share the tallest one's
     * block pitch, so that row r of every channel block is at the same place in all of them:
     * the next region's first rows then land on rows the last tiles of the one before no
     * longer read, and go while those tiles run (accel.c, load_region). */
    if (act_cap == k->act_bytes && p->n_regions > 1 && nx == 1) {
        uint32_t most = 0;
        for (uint32_t r = 0; r < p->n_regions; r++)
            most = p->regions[r].pitch > most ? p->regions[r].pitch : most;
        for (uint32_t r = 0; r < p->n_regions; r++) {
            p->regions[r].pitch = most;
            p->regions[r].bytes = p->regions[r].n_cb * most;
        }
    }
    free(reg_first);
    free(reg_last);
    free(reg_col);
    return 0;
nomem:
    free(reg_first);
    free(reg_last);
    free(reg_col);
    return -1;
}

/* Input channels split over runs that accumulate on the device: one output block per run. */
static int plan_chain(struct ctx *c, char *err, size_t len)
{
    struct cbr_plan *p = c->p;
    const struct cbr_caps *k = c->caps;
    const uint32_t R = k->rows, C = k->cols;
    /* Halves, so that the next chunk is written while this one is computed; or, when one
     * chunk needs more, the whole buffer (the driver then waits between tiles). */
    uint64_t w_chunk = (uint64_t)c->taps * R * C; /* one channel block, one output block */
    uint64_t wcap = w_chunk <= k->wgt_bytes / 2 ? k->wgt_bytes / 2 : k->wgt_bytes;
    if (w_chunk > wcap)
        return cbr_errf(err, len, CBR_ERANGE, "kh/kw: the weights of one %ux%u kernel for %u x %u "
                    "channels need %llu bytes, more than the weight buffer's %u",
                    c->l->desc.kh, c->l->desc.kw, R, C, (unsigned long long)w_chunk,
                    k->wgt_bytes);
    uint32_t pth, ptw;
    uint64_t acap = k->act_bytes / 2;
    if (!pick_tile(c, R, acap, &pth, &ptw)) {
        acap = k->act_bytes;
        if (!pick_tile(c, R, acap, &pth, &ptw))
            return cbr_errf(err, len, CBR_ERANGE, "in_w/kernel: not even one output pixel's "
                        "input window of %u channels fits the activation buffer (%u bytes)",
                        R, k->act_bytes);
    }
    pth = balance(c->y.pooled, pth);
    ptw = balance(c->x.pooled, ptw);
    uint64_t in_px = (uint64_t)tile_in_max(&c->y, pth) * tile_in_max(&c->x, ptw);
    if (!in_px)
        in_px = 1; /* all padding */
    uint64_t cb_a = acap / (in_px * R), cb_w = wcap / w_chunk;
    uint64_t cb = cb_a < cb_w ? cb_a : cb_w;
    if (cb > p->n_cb)
        cb = p->n_cb;
    if (cb * R > PLAN_MAX_CHANNELS) /* IN_C */
        cb = PLAN_MAX_CHANNELS / R;
    uint32_t nc_chunk = (uint32_t)cb * R;
    uint32_t n_chunks = div_up(p->cin, nc_chunk);

    for (uint32_t ob = 0; ob < p->n_ob; ob++)
        for (uint32_t ch = 0; ch < n_chunks; ch++) {
            uint32_t c0 = ch * nc_chunk, nc = p->cin - c0 < nc_chunk ? p->cin - c0 : nc_chunk;
            if (add_wset(c, ob, 1, c0, nc))
                return -1;
        }
    uint32_t ny = div_up(c->y.pooled, pth), nx = div_up(c->x.pooled, ptw);
    for (uint32_t ty = 0; ty < ny; ty++)
        for (uint32_t tx = 0; tx < nx; tx++) {
            uint32_t py0 = ty * pth, py1 = py0 + pth < c->y.pooled ? py0 + pth : c->y.pooled;
            uint32_t px0 = tx * ptw, px1 = px0 + ptw < c->x.pooled ? px0 + ptw : c->x.pooled;
            for (uint32_t ob = 0; ob < p->n_ob; ob++)
                for (uint32_t ch = 0; ch < n_chunks; ch++) {
                    uint32_t c0 = ch * nc_chunk;
                    uint32_t nc = p->cin - c0 < nc_chunk ? p->cin - c0 : nc_chunk;
                    uint32_t mode = (ch > 0 ? PLAN_ACC_LOAD : 0u) |
                                    (ch + 1 < n_chunks ? PLAN_ACC_KEEP : 0u);
                    if (add_region(c, py0, py1, px0, px1, c0, nc) ||
                        add_run(c, p->n_regions - 1, ob * n_chunks + ch, ob, 1, py0, py1, px0,
                                px1, mode))
                        return -1;
                }
        }
    p->chain = n_chunks > 1;
    return 0;
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* First stored input row of the conv rows from cy0 (clipped at the top edge). */
static uint32_t first_in_row(const struct axis *a, uint32_t cy0)
{
    int64_t r = (int64_t)cy0 * a->s - a->pad;
    return r < 0 ? 0 : (uint32_t)(r < a->in ? r : a->in);
}

/*
 * Depthwise runs that share their input: full-width row tiles of one channel group read
 * one region (rows of all of them, stored once), instead of each tile storing its own rows
 * and halo. A tile can start inside a region only at a region row that is a multiple of NG
 * (its rows must fall in the same banks as the region's), so tile heights are multiples of
 * NG / gcd(stride, NG), and the first tile's height is chosen so that the second starts on
 * such a row. A region grows while it fits cap bytes per bank (half a bank: the next region
 * is written while this one is read).
 */
/* The heights of dw_shared's tiles: h0 for the first, h for the others. */
static void dw_heights(const struct ctx *c, uint32_t pth, uint32_t *h0_out, uint32_t *h_out)
{
    const uint32_t NG = c->p->ng, oh = c->y.pooled;
    uint32_t step = NG / gcd(c->y.s % NG ? c->y.s % NG : NG, NG);
    uint32_t h = pth >= oh ? oh : pth / step * step;
    if (!h)
        h = pth; /* taller than a tile may be: every tile gets its own region */
    /* The first tile: the tallest h0 <= pth after which the next tile starts on an aligned
     * row of a region that begins at the top (row 0). */
    uint32_t h0 = h < oh ? h : oh;
    for (uint32_t t = pth < oh ? pth : oh; t >= 1 && h0 < oh; t--)
        if ((first_in_row(&c->y, t) - first_in_row(&c->y, 0)) % NG == 0) {
            h0 = t;
            break;
        }
    *h0_out = h0;
    *h_out = h;
}

static int dw_shared(struct ctx *c, uint32_t n_ws, uint32_t k_run, uint32_t pth, uint64_t cap)
{
    struct cbr_plan *p = c->p;
    const uint32_t R = c->caps->rows, C = c->caps->cols, NG = p->ng;
    const uint32_t oh = c->y.pooled, ow = c->x.pooled;
    const uint32_t cols = c->x.in ? tile_in(&c->x, 0, ow) : 0;
    uint32_t h0, h;
    dw_heights(c, pth, &h0, &h);
    for (uint32_t w = 0; w < n_ws; w++) {
        const struct plan_wset ws = p->wsets[w];
        for (uint32_t ob = 0; ob < ws.n_ob; ob += k_run) {
            uint32_t n = ws.n_ob - ob < k_run ? ws.n_ob - ob : k_run;
            uint32_t c0 = (ws.ob0 + ob) * C, nc = p->cin - c0 < n * C ? p->cin - c0 : n * C;
            uint32_t n_cb = div_up(nc, R);
            uint32_t cy = 0;
            while (cy < oh) {
                /* a region: tiles from cy while aligned and within cap */
                uint32_t iy0 = first_in_row(&c->y, cy), ry1 = iy0, first_run = p->n_runs;
                uint32_t t0 = cy;
                while (cy < oh) {
                    uint32_t th = cy == 0 ? h0 : h;
                    uint32_t cy1 = cy + th < oh ? cy + th : oh;
                    uint32_t i0, i1;
                    in_range(&c->y, cy, cy1, &i0, &i1);
                    uint64_t bytes = (uint64_t)n_cb * div_up((i1 > ry1 ? i1 : ry1) - iy0, NG) *
                                     cols * R;
                    bool aligned = (first_in_row(&c->y, cy) - iy0) % NG == 0;
                    bool tall = (i1 > ry1 ? i1 : ry1) - iy0 > PLAN_MAX_IN_ROWS; /* IN_H */
                    if (cy > t0 && (!aligned || bytes > cap || tall))
                        break;
                    if (add_run(c, 0, w, ws.ob0 + ob, n, cy, cy1, 0, ow, 0))
                        return -1;
                    ry1 = i1 > ry1 ? i1 : ry1;
                    cy = cy1;
                }
                if (add_region(c, t0, cy, 0, ow, c0, nc))
                    return -1;
                struct plan_region *rg = &p->regions[p->n_regions - 1];
                rg->bytes = rg->n_cb * div_up(rg->iy1 - rg->iy0, NG) * (rg->ix1 - rg->ix0) * R;
                for (uint32_t k = first_run; k < p->n_runs; k++)
                    p->runs[k].region = p->n_regions - 1;
            }
        }
    }
    return 0;
}

/*
 * With the input in place already (in_resident: a chain keeps it on the device, accel.c
 * kept_plan): one region of the whole input, every channel block of it in each bank, and
 * dw_shared's tiles, each reading its own channel blocks of that region (the driver steps
 * ACT_BASE by the block pitch). The chain can then keep the tensor for this layer, which
 * takes its input as one region only. Returns 1 when it cannot: the input does not fit a
 * bank, or a tile would start on a row of another bank than the region's first (strided
 * layers whose tiles start on odd rows); the caller then plans as for streaming.
 */
static int dw_whole(struct ctx *c, uint32_t n_ws, uint32_t k_run, uint32_t pth)
{
    struct cbr_plan *p = c->p;
    const uint32_t R = c->caps->rows, NG = p->ng;
    const uint32_t oh = c->y.pooled, ow = c->x.pooled;
    const uint32_t cols = c->x.in ? tile_in(&c->x, 0, ow) : 0;
    uint32_t iy0, iy1, h0, h;
    in_range(&c->y, 0, c->y.conv, &iy0, &iy1);
    const uint64_t bytes = (uint64_t)div_up(p->cin, R) * div_up(iy1 - iy0, NG) * cols * R;
    if (bytes > c->caps->act_bytes / NG || iy1 - iy0 > PLAN_MAX_IN_ROWS)
        return 1;
    dw_heights(c, pth, &h0, &h);
    for (uint32_t cy = 0; cy < oh; cy += cy == 0 ? h0 : h)
        if ((first_in_row(&c->y, cy) - iy0) % NG) {
            /* Row tiles of a strided layer start on rows of other banks (stride 2, pad 1:
             * row 2y - 1, odd): tiles of the whole plane then, where the accumulator and
             * the output slot hold one; with the input in place there is none of it to
             * stream, and the tiles go by output blocks (MobileNetV1 conv4.dw, conv6.dw). */
            const uint64_t px = (uint64_t)tile_conv_max(&c->y, oh) * tile_conv_max(&c->x, ow);
            const uint64_t most = cbr_plan_out_slot(c->caps) / ((uint64_t)oh * ow * c->caps->cols);
            if (px > c->caps->acc_pixels || !most)
                return 1;
            h0 = h = oh;
            k_run = k_run < most ? k_run : (uint32_t)most;
            break;
        }
    if (add_region(c, 0, oh, 0, ow, 0, p->cin))
        return -1;
    struct plan_region *rg = &p->regions[0];
    rg->bytes = rg->n_cb * div_up(rg->iy1 - rg->iy0, NG) * (rg->ix1 - rg->ix0) * R;
    for (uint32_t w = 0; w < n_ws; w++) {
        const struct plan_wset ws = p->wsets[w];
        for (uint32_t ob = 0; ob < ws.n_ob; ob += k_run) {
            const uint32_t n = ws.n_ob - ob < k_run ? ws.n_ob - ob : k_run;
            for (uint32_t cy = 0; cy < oh;) {
                const uint32_t th = cy == 0 ? h0 : h, cy1 = cy + th < oh ? cy + th : oh;
                if (add_run(c, 0, w, ws.ob0 + ob, n, cy, cy1, 0, ow, 0))
                    return -1;
                cy = cy1;
            }
        }
    }
    return 0;
}

/*
 * Depthwise mode: one job of all channels; a tile's output blocks read the same channel
 * blocks of the input, so each run has its own region (its rows, columns and channels),
 * stored in NG row banks. Weights are small (one pass of ROWS x COLS bytes per block for a
 * kernel up to NG x 4): all resident when they fit.
 */
static int plan_depthwise(struct ctx *c)
{
    struct cbr_plan *p = c->p;
    const struct cbr_caps *k = c->caps;
    const uint32_t R = k->rows, C = k->cols, NG = R / 4;
    const cbr_layer_desc *d = &c->l->desc;
    p->ng = NG;
    p->dw_passes = div_up(d->kh, NG) * div_up(d->kw, 4);
    uint64_t wob = (uint64_t)p->dw_passes * R * C, pob = (uint64_t)C * PARAM_BYTES;
    uint64_t pbytes = (uint64_t)k->param_entries * PARAM_BYTES, bank = k->act_bytes / NG;
    uint32_t k_w;
    if (wob * p->n_ob <= k->wgt_bytes && pob * p->n_ob <= pbytes) {
        p->weights_resident = true;
        k_w = p->n_ob;
    } else {
        uint64_t a = (k->wgt_bytes / 2) / wob, b = (pbytes / 2) / pob;
        k_w = (uint32_t)(a < b ? a : b);
    }
    if (!k_w)
        return 1;
    /* The tile: as for dense, one channel block's input in half a bank. */
    uint32_t pth = 0, ptw = 0;
    for (uint32_t nx = 1; nx <= c->x.pooled && !pth; nx++) {
        uint32_t w = div_up(c->x.pooled, nx);
        uint32_t cw = tile_conv_max(&c->x, w), iw = tile_in_max(&c->x, w);
        for (uint32_t h = c->y.pooled; h >= 1; h--) {
            uint64_t rows = div_up(tile_in_max(&c->y, h), NG);
            if ((uint64_t)tile_conv_max(&c->y, h) * cw <= k->acc_pixels &&
                (uint64_t)h * w * C <= cbr_plan_out_slot(k) && rows * iw * R <= bank / 2) {
                pth = h;
                ptw = w;
                break;
            }
        }
    }
    if (!pth)
        return 1;
    /* At least 4 tiles down the plane (8 when strided: a strided layer's tiles after the
     * first start on rows of another bank, so each reads a region of its own, and with
     * larger ones the core waits for more of the input before each start: MobileNetV1
     * conv2.dw on sim:16x16 at 400 MB/s, 517.8 k -> 461.3 k cycles), and 64 pixels. */
    uint32_t rows4 = div_up(c->y.pooled, c->y.s > 1 ? 8 : 4), rows64 = div_up(64, ptw);
    uint32_t cap_rows = rows4 > rows64 ? rows4 : rows64;
    if (pth > cap_rows)
        pth = cap_rows;
    pth = balance(c->y.pooled, pth);
    ptw = balance(c->x.pooled, ptw);
    uint64_t per_cb = (uint64_t)div_up(tile_in_max(&c->y, pth), NG) * tile_in_max(&c->x, ptw) *
                      R;
    uint64_t k_run = cbr_plan_out_slot(k) / ((uint64_t)pth * ptw * C);
    uint64_t k_act = per_cb ? (bank / 2) / per_cb : k_w;
    k_run = k_run < k_act ? k_run : k_act;
    k_run = k_run < k_w ? k_run : k_w;
    if (k_run * C > PLAN_MAX_CHANNELS) /* IN_C = OUT_C */
        k_run = PLAN_MAX_CHANNELS / C;
    if (!k_run)
        return 1;
    uint32_t n_ws = p->weights_resident ? 1 : div_up(p->n_ob, k_w);
    for (uint32_t w = 0; w < n_ws; w++) {
        uint32_t ob0 = w * k_w, n = p->n_ob - ob0 < k_w ? p->n_ob - ob0 : k_w;
        if (add_wset(c, ob0, n, 0, p->cin))
            return -1;
        p->wsets[w].bytes = (uint32_t)(n * wob);
    }
    uint32_t ny = div_up(c->y.pooled, pth), nx = div_up(c->x.pooled, ptw);
    if (nx == 1 && c->y.pk == 1 && c->y.ps == 1) {
        p->depthwise = true;
        int rc = k->in_resident ? dw_whole(c, n_ws, (uint32_t)k_run, pth) : 1;
        return rc <= 0 ? rc : dw_shared(c, n_ws, (uint32_t)k_run, pth, k->act_bytes / NG / 2);
    }
    for (uint32_t w = 0; w < n_ws; w++) {
        const struct plan_wset ws = p->wsets[w];
        for (uint32_t ob = 0; ob < ws.n_ob; ob += (uint32_t)k_run) {
            uint32_t n = ws.n_ob - ob < k_run ? ws.n_ob - ob : (uint32_t)k_run;
            uint32_t c0 = (ws.ob0 + ob) * C, nc = p->cin - c0 < n * C ? p->cin - c0 : n * C;
            for (uint32_t ty = 0; ty < ny; ty++)
                for (uint32_t tx = 0; tx < nx; tx++) {
                    uint32_t py0 = ty * pth, px0 = tx * ptw;
                    uint32_t py1 = py0 + pth < c->y.pooled ? py0 + pth : c->y.pooled;
                    uint32_t px1 = px0 + ptw < c->x.pooled ? px0 + ptw : c->x.pooled;
                    if (add_region(c, py0, py1, px0, px1, c0, nc))
                        return -1;
                    struct plan_region *rg = &p->regions[p->n_regions - 1];
                    rg->bytes = rg->n_cb * div_up(rg->iy1 - rg->iy0, NG) *
                                (rg->ix1 - rg->ix0) * R;
                    if (add_run(c, p->n_regions - 1, w, ws.ob0 + ob, n, py0, py1, px0, px1,
                                0))
                        return -1;
                }
        }
    }
    p->depthwise = true;
    return 0;
}

static void set_axes(struct ctx *c, bool dev_pool)
{
    const cbr_layer *l = c->l;
    const cbr_layer_desc *d = &l->desc;
    const cbr_pool *pl = &d->pool;
    c->y = (struct axis){.in = d->in_h, .pad = d->pad_top, .k = d->kh, .s = d->stride_h,
                         .d = d->dilation_h, .conv = l->conv_oh, .pk = 1, .ps = 1, .pp = 0,
                         .pooled = l->conv_oh};
    c->x = (struct axis){.in = d->in_w, .pad = d->pad_left, .k = d->kw, .s = d->stride_w,
                         .d = d->dilation_w, .conv = l->conv_ow, .pk = 1, .ps = 1, .pp = 0,
                         .pooled = l->conv_ow};
    if (!dev_pool)
        return;
    if (pl->kind == CBR_POOL_GAVG) {
        c->y.pk = c->y.ps = l->conv_oh;
        c->x.pk = c->x.ps = l->conv_ow;
    } else {
        c->y.pk = pl->kh;
        c->y.ps = pl->stride_h;
        c->y.pp = pl->pad_top;
        c->x.pk = pl->kw;
        c->x.ps = pl->stride_w;
        c->x.pp = pl->pad_left;
    }
    c->y.pooled = l->out_h;
    c->x.pooled = l->out_w;
}

bool cbr_plan_dw_eligible(const cbr_layer *l, const struct cbr_caps *caps)
{
    const cbr_layer_desc *d = &l->desc;
    return caps->dw_mode && caps->rows == caps->cols && caps->rows >= 4 &&
           d->groups == d->in_c && d->in_c == d->out_c && d->groups > 1 &&
           d->dilation_h == 1 && d->dilation_w == 1;
}

void cbr_plan_free(struct cbr_plan *p)
{
    if (!p)
        return;
    free(p->regions);
    free(p->wsets);
    free(p->runs);
    free(p);
}

int cbr_plan_make(const cbr_layer *l, const struct cbr_caps *caps, struct cbr_plan **out,
                  char *err, size_t len)
{
    const cbr_layer_desc *d = &l->desc;
    *out = NULL;
    if (d->pad_top > 0xFFFF || d->pad_left > 0xFFFF)
        return cbr_errf(err, len, CBR_ERANGE, "pad: padding above 65535 is not supported by "
                    "the device");
    if (!cbr_plan_out_slot(caps))
        return cbr_errf(err, len, CBR_ERANGE, "the output buffer (%u bytes) holds fewer than "
                    "%d output pixels of %u channels", caps->out_bytes, PLAN_OUT_SLOTS,
                    caps->cols);
    for (int attempt = 0; attempt < 2; attempt++) {
        /* attempt 0: pooling on the device if the layer has any; 1: on the host */
        bool pool = d->pool.kind != CBR_POOL_NONE;
        bool dev_pool = pool && attempt == 0;
        if (pool && attempt == 0 && d->pool.kind != CBR_POOL_GAVG &&
            (d->pool.kh > 255 || d->pool.kw > 255 || d->pool.stride_h > 255 ||
             d->pool.stride_w > 255 || d->pool.pad_top > 255 || d->pool.pad_left > 255))
            continue; /* the pooling registers are 8-bit */
        if (!pool && attempt == 1)
            break;
        struct cbr_plan *p = calloc(1, sizeof *p);
        if (!p)
            return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
        struct ctx c = {.l = l, .caps = caps, .p = p, .taps = d->kh * d->kw};
        set_axes(&c, dev_pool);
        bool dw = cbr_plan_dw_eligible(l, caps);
        p->cin = dw ? d->in_c : d->in_c / d->groups;
        p->cout = dw ? d->out_c : d->out_c / d->groups;
        p->n_cb = div_up(p->cin, caps->rows);
        p->n_ob = div_up(p->cout, caps->cols);
        p->host_pool = pool && !dev_pool;
        p->pool_kind = dev_pool ? (uint32_t)d->pool.kind : CBR_POOL_NONE;
        p->oh = l->conv_oh;
        p->ow = l->conv_ow;
        p->ph = c.y.pooled;
        p->pw = c.x.pooled;
        int rc = dw ? plan_depthwise(&c) : plan_dense(&c);
        if (dw && rc > 0) {
            cbr_plan_free(p);
            if (dev_pool)
                continue; /* perhaps with the pooling on the host */
            return cbr_errf(err, len, CBR_ERANGE, "depthwise: no tile fits the device's buffers");
        }
        if (rc > 0) {
            /* A global average must see its whole plane in one tile: no chain for it. */
            if (dev_pool && d->pool.kind == CBR_POOL_GAVG) {
                cbr_plan_free(p);
                continue;
            }
            free(p->regions);
            free(p->wsets);
            free(p->runs);
            p->regions = NULL;
            p->wsets = NULL;
            p->runs = NULL;
            p->n_regions = p->n_wsets = p->n_runs = 0;
            c.cap_regions = c.cap_wsets = c.cap_runs = 0;
            p->weights_resident = false;
            rc = plan_chain(&c, err, len);
            if (rc == CBR_ERANGE && dev_pool) {
                cbr_plan_free(p);
                continue; /* perhaps without the pooling window */
            }
        }
        if (rc < 0) {
            cbr_plan_free(p);
            return rc == -1 ? cbr_errf(err, len, CBR_ENOMEM, "out of memory for the tile plan")
                            : rc;
        }
        *out = p;
        return 0;
    }
    return cbr_errf(err, len, CBR_ERANGE, "the layer does not fit the device's buffers in any "
                "tiling");
}
