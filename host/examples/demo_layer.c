/*
 * demo_layer.c - `make demo`: one float Conv + BatchNorm + ReLU + MaxPool block, folded and
 * quantized by libcbr, run on a device, and compared with the same block in float.
 *
 * It uses only the public API (cbr.h), so it is also a worked example for application
 * developers: float model -> cbr_fold_conv_bn -> cbr_layer_create -> cbr_layer_run.
 *
 * usage: cbr-demo [-d DEV] [--seed N]
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"

enum { C = 8, H = 24, W = 24, O = 16, K = 3, POOL = 2 };
#define OH H /* stride 1, pad 1 */
#define OW W
#define PH (OH / POOL)
#define PW (OW / POOL)

static uint64_t rng_state;

static double uniform(void) /* splitmix64 -> [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/*
 * Float reference: conv (pad 1) -> BN -> ReLU -> 2x2 max pool, in double, and for each output
 * a bound on how far the int8 block may be from it, in units of the output scale:
 * every tap contributes |W'| * (input quantization error, at most sx) + |x| * (weight
 * quantization error, at most w_scale / 2); the bias adds sx * w_scale / 2; requantization
 * adds at most one output step. ReLU and max pooling never increase an error.
 */
static void reference(const float *x, const float *wt, const float *cb, const float *g,
                      const float *be, const float *mu, const float *var, float eps,
                      float sx, const float *wscale, float sy, double *out, double *bound)
{
    static double conv[O][OH][OW], err[O][OH][OW];
    for (int o = 0; o < O; o++) {
        double inv = g[o] / sqrt((double)var[o] + eps);
        for (int y = 0; y < OH; y++)
            for (int xx = 0; xx < OW; xx++) {
                double acc = cb[o], e = sx * wscale[o] / 2;
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < K; i++)
                        for (int j = 0; j < K; j++) {
                            int iy = y - 1 + i, ix = xx - 1 + j;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            double xv = x[(c * H + iy) * W + ix];
                            double wv = wt[((o * C + c) * K + i) * K + j];
                            acc += xv * wv;
                            e += fabs(wv * inv) * sx + (fabs(xv) + sx) * wscale[o] / 2;
                        }
                double bn = (acc - mu[o]) * inv + be[o];
                conv[o][y][xx] = bn > 0 ? bn : 0;
                err[o][y][xx] = e / sy + 1.0;
            }
    }
    for (int o = 0; o < O; o++)
        for (int y = 0; y < PH; y++)
            for (int xx = 0; xx < PW; xx++) {
                double m = 0, b = 0;
                for (int i = 0; i < POOL; i++)
                    for (int j = 0; j < POOL; j++) {
                        m = fmax(m, conv[o][y * POOL + i][xx * POOL + j]);
                        b = fmax(b, err[o][y * POOL + i][xx * POOL + j]);
                    }
                out[(o * PH + y) * PW + xx] = m;
                bound[(o * PH + y) * PW + xx] = b;
            }
}

int main(int argc, char **argv)
{
    const char *uri = NULL;
    uint64_t seed = 2024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc) {
            uri = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: cbr-demo [-d DEV] [--seed N]\n");
            return 2;
        }
    }
    rng_state = seed;

    /* A float model as a framework would hand it over. */
    static float x[C * H * W], wt[O * C * K * K];
    float cb[O], g[O], be[O], mu[O], var[O], eps = 1e-5f;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                x[(c * H + y) * W + xx] =
                    (float)(sin(0.3 * xx + c) * cos(0.2 * y) + 0.25 * normal());
    for (int i = 0; i < O * C * K * K; i++)
        wt[i] = (float)(0.2 * normal());
    for (int o = 0; o < O; o++) {
        cb[o] = (float)(0.1 * normal());
        g[o] = (float)(0.5 + uniform());
        be[o] = (float)(0.2 * normal());
        mu[o] = (float)(0.1 * normal());
        var[o] = (float)(0.5 + 1.5 * uniform());
    }

    /* Input quantization from its range; output scale from the float block's range. */
    float xmin = 0, xmax = 0;
    for (int i = 0; i < C * H * W; i++) {
        xmin = fminf(xmin, x[i]);
        xmax = fmaxf(xmax, x[i]);
    }
    float sx = (xmax - xmin) / 255.0f;
    int32_t zx = (int32_t)lround(-128.0 - xmin / sx);
    static double ref[O * PH * PW], bound[O * PH * PW];
    float ones[O];
    for (int o = 0; o < O; o++)
        ones[o] = 1.0f;
    reference(x, wt, cb, g, be, mu, var, eps, sx, ones, 1.0f, ref, bound); /* range only */
    double ymax = 0;
    for (int i = 0; i < O * PH * PW; i++)
        ymax = fmax(ymax, ref[i]);
    float sy = (float)(ymax / 255.0);
    int32_t zy = -128;

    static int8_t qx[C * H * W], qw[O * C * K * K], qy[O * PH * PW];
    int32_t bias[O], mult[O], shift[O];
    float wscale[O];
    for (int i = 0; i < C * H * W; i++)
        qx[i] = cbr_quantize(x[i], sx, zx);
    cbr_fold_args fa = {
        .out_c = O, .in_c_per_group = C, .kh = K, .kw = K, .weight = wt, .conv_bias = cb,
        .bn_gamma = g, .bn_beta = be, .bn_mean = mu, .bn_var = var, .bn_eps = eps,
        .input_scale = sx, .output_scale = sy,
    };
    cbr_fold_out fo = {.weights = qw, .bias = bias, .multiplier = mult, .shift = shift,
                       .weight_scale = wscale};
    if (cbr_fold_conv_bn(&fa, &fo) < 0) {
        fprintf(stderr, "cbr-demo: folding BatchNorm: %s\n", cbr_errmsg(NULL));
        return 1;
    }

    reference(x, wt, cb, g, be, mu, var, eps, sx, wscale, sy, ref, bound);

    cbr_device *dev = NULL;
    cbr_layer *layer = NULL;
    int rc = 1;
    if (cbr_device_open(&dev, uri) < 0) {
        fprintf(stderr, "cbr-demo: %s\n", cbr_errmsg(NULL));
        return 1;
    }
    cbr_device_info info;
    cbr_device_get_info(dev, &info);
    cbr_layer_desc d = {
        .in_c = C, .in_h = H, .in_w = W, .out_c = O, .kh = K, .kw = K,
        .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
        .input_zp = zx, .output_zp = zy, .act = CBR_ACT_RELU,
        .pool = {.kind = CBR_POOL_MAX, .kh = POOL, .kw = POOL, .stride_h = POOL,
                 .stride_w = POOL},
        .weights = qw, .bias = bias, .multiplier = mult, .shift = shift,
    };
    cbr_stats st;
    if (cbr_layer_create(dev, &d, &layer) < 0 || cbr_layer_run(layer, 1, qx, qy, &st) < 0) {
        fprintf(stderr, "cbr-demo: %s\n", cbr_errmsg(dev));
        goto out;
    }

    double max_err = 0, sum_err = 0, max_bound = 0;
    int exact = 0, over = 0;
    for (int i = 0; i < O * PH * PW; i++) {
        double e = fabs(cbr_dequantize(qy[i], sy, zy) - ref[i]) / sy;
        max_err = fmax(max_err, e);
        max_bound = fmax(max_bound, bound[i]);
        sum_err += e;
        exact += e < 0.5;
        over += e > bound[i];
    }
    printf("cbr demo: Conv %dx%d (%d -> %d channels, pad 1) + BatchNorm + ReLU + MaxPool %dx%d\n",
           K, K, C, O, POOL, POOL);
    printf("  input   1x%dx%dx%d float, quantized: scale %.5f, zero point %d\n", C, H, W, sx,
           zx);
    printf("  folded  BN into int8 weights + int32 bias; channel 0: w_scale %.5f, "
           "M0 %" PRId32 ", shift %" PRId32 ", bias %" PRId32 "\n",
           wscale[0], mult[0], shift[0], bias[0]);
    printf("  output  1x%dx%dx%d int8: scale %.5f, zero point %d\n", O, PH, PW, sy, zy);
    printf("  device  %s (%s)\n", info.uri, info.name);
    printf("  MACs    %" PRIu64 "\n", st.macs);
    if (st.cycles)
        printf("  cycles  %" PRIu64 ", utilization %.1f%% of %ux%u\n", st.cycles,
               100.0 * cbr_stats_utilization(&st), st.array_rows, st.array_cols);
    printf("  error against float: max %.2f LSB, mean %.3f LSB; %d of %d outputs within "
           "half an LSB\n", max_err, sum_err / (O * PH * PW), exact, O * PH * PW);
    printf("  bound   every output within its quantization-error bound (largest %.2f LSB)\n",
           max_bound);
    if (over) {
        printf("FAIL: %d outputs exceed their error bound: the int8 block does not match the "
               "float block\n", over);
        goto out;
    }
    printf("OK\n");
    rc = 0;
out:
    cbr_layer_destroy(layer);
    cbr_device_close(dev);
    return rc;
}
