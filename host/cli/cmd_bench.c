/*
 * cmd_bench.c - `cbr bench`: run the conv layers of real networks (suites.c) on a device and
 * report, per layer and per suite, MACs, cycles, utilization, link traffic against the
 * compulsory traffic, and whether the layer was bound by the link or by the array.
 *
 * Each layer gets random int8 inputs and weights from the printed seed (and the layer's
 * name, so a layer gets the same data in every suite selection), requantization parameters
 * that keep the ReLU outputs spread over the int8 range, and is checked byte for byte
 * against the golden model (the cpu device) unless --no-verify. A layer the device refuses
 * or fails is reported in its row and makes the exit status 1; the others still run.
 * With --network, the layers that follow one another in the network (suites.h, chained) run
 * as one cbr_network instead, each one's input the previous one's output, so intermediates
 * stay on the device where they fit; the chain's last output is what gets checked.
 * docs/bench.md describes every column and the JSON file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbr_sim.h" /* CBR_SIM_MAX_LATENCY */
#include "cli.h"
#include "suites.h"

/* The sim board's link port is one 32-bit word per cycle each way (docs/sim.md): a faster
 * CBR_SIM_LINK is capped there, so the model uses the same cap. */
#define SIM_PORT_BYTES_PER_CYCLE 4.0

static const char bench_usage[] =
    "usage: cbr bench [-d DEV] --suite lenet|resnet18|vgg16|mobilenetv1|all\n"
    "                 [--clock MHZ] [--link MBPS] [--latency US] [--seed N] [--no-verify]\n"
    "                 [--json FILE] [--layer TEXT] [--network]\n"
    "       cbr bench --list [--suite NAME]\n"
    "\n"
    "Run every conv layer of a network (real shapes, batch 1, ReLU, random int8 data) on a\n"
    "device and print, per layer and per suite: MACs, cycles, utilization, bytes over the\n"
    "link against the compulsory bytes, link stalls, the time at the given clock, and\n"
    "whether the layer is bound by the link or by the array. See docs/bench.md.\n"
    "\n"
    "  -d, --device DEV   device URI (default: $CBR_DEVICE, else the build's default;\n"
    "                     see `cbr devices`). The cpu device has no cycle counters: its\n"
    "                     cycle columns print '-'\n"
    "  --suite NAME       lenet (LeNet-5, 32x32x1), resnet18 (ResNet-18), vgg16 (VGG-16),\n"
    "                     mobilenetv1 (MobileNetV1 1.0, depthwise + pointwise pairs), all;\n"
    "                     the last three at 224x224x3\n"
    "  --clock MHZ        device clock for the modelled time and link (default 200)\n"
    "  --link MBPS        link rate in MB/s each way (default 400). The sim device models\n"
    "                     it: CBR_SIM_LINK is set to MBPS / MHZ bytes per cycle in both\n"
    "                     directions before the device is opened (at most 4, the port's\n"
    "                     width). The bound column compares max(bytes to, bytes from) at\n"
    "                     this rate with the core's cycles\n"
    "  --latency US       link latency in microseconds each way (default 0): a request's\n"
    "                     answer comes 2 US after it was sent at the earliest, as over USB\n"
    "                     or PCIe. The sim device models it: CBR_SIM_LATENCY is set to\n"
    "                     US x MHZ cycles before the device is opened (at most 1000000);\n"
    "                     the floor adds the two crossings\n"
    "  --seed N           seed of the random data (default: from the clock; printed, so a\n"
    "                     run replays with --seed N)\n"
    "  --no-verify        do not compare each layer's output with the golden model (the\n"
    "                     cpu device); by default any differing byte fails the layer\n"
    "  --json FILE        also write every layer and total as JSON, atomically (a\n"
    "                     temporary file renamed over FILE; none is left on error)\n"
    "  --layer TEXT       run only the layers whose names contain TEXT (e.g.\n"
    "                     layer3.0.conv2); the totals then cover those layers\n"
    "  --network          run the layers that follow one another in the network (each\n"
    "                     one's input the previous one's output, no pooling or residual\n"
    "                     add between: --list shows them) as one network (cbr_network),\n"
    "                     so a tensor between two of them stays on the device where it\n"
    "                     fits instead of crossing the link twice. The first layer of such\n"
    "                     a chain gets random input, the others the golden model's output\n"
    "                     of the one before; the chain's last output is checked, and its\n"
    "                     verdict is every layer's. Adds the column kept (in, out: the\n"
    "                     tensor stayed on the device); compul and floor leave a kept\n"
    "                     tensor out\n"
    "  --list             print the suite's layers (shapes, stride, padding, groups, MACs)\n"
    "                     and exit without opening a device; all suites without --suite\n"
    "  -h, --help         this text\n"
    "\n"
    "Columns: MACs (useful multiply-accumulates); cycles (device cycles of the run, link\n"
    "included); util = MACs / (rows x cols x cycles); core = MACs / (rows x cols x core\n"
    "cycles), the compute-only utilization; floor = MACs / (rows x cols x floor cycles), the\n"
    "most a schedule could reach at batch 1 over the modelled link (the rate the bound column\n"
    "uses, and the latency) with the core cycles of this run: the core can only use inputs\n"
    "and weights that have arrived, and the input, the weights and the output each cross\n"
    "the link once\n"
    "(docs/bench.md says what it assumes); to dev / from dev / compul (bytes over the link,\n"
    "and input + weights + params + output once each); ratio = (to + from) / compulsory;\n"
    "stall (cycles waiting on the link); time_us = cycles / MHZ; bound: link when\n"
    "max(to, from) / (MBPS / MHZ) exceeds the core cycles, else compute; check: ok when the\n"
    "output equals the golden model's byte for byte. Totals sum the layers that ran; their\n"
    "util is MAC-weighted (total MACs / (rows x cols x total cycles)), likewise core and\n"
    "floor. Suites with depthwise layers also get depthwise and pointwise subtotals.\n"
    "\n"
    "Exit status: 0 when every layer ran and matched, 1 when a layer was refused, failed or\n"
    "differed (the others still run and the JSON is still written), or the JSON could not be\n"
    "written, 2 for a usage error.\n";

enum {
    O_SUITE = 256, O_CLOCK, O_LINK, O_LATENCY, O_JSON, O_SEED, O_NO_VERIFY, O_LIST, O_LAYER,
    O_NETWORK
};

static const struct option bench_options[] = {
    {"device", required_argument, NULL, 'd'},
    {"suite", required_argument, NULL, O_SUITE},
    {"clock", required_argument, NULL, O_CLOCK},
    {"link", required_argument, NULL, O_LINK},
    {"latency", required_argument, NULL, O_LATENCY},
    {"json", required_argument, NULL, O_JSON},
    {"seed", required_argument, NULL, O_SEED},
    {"no-verify", no_argument, NULL, O_NO_VERIFY},
    {"list", no_argument, NULL, O_LIST},
    {"layer", required_argument, NULL, O_LAYER},
    {"network", no_argument, NULL, O_NETWORK},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct bench_args {
    const char *device;
    const char *suite;        /* as given: a suite name or "all" */
    const char *json;
    const char *layer;        /* --layer: only layers whose names contain it */
    double clock_mhz, link_mbps, latency_us;
    uint64_t seed;
    bool have_seed, verify, list, network;
};

enum status { ST_OK, ST_REFUSED, ST_FAILED };

struct result {
    const struct bench_suite *suite;
    const struct bench_layer *l;
    char name[96];
    char kind[16];
    uint32_t oh, ow;
    enum status status;
    char error[320];
    cbr_stats st;
    int verified;             /* 1 equal, 0 differs, -1 not checked */
    uint64_t bad_index;       /* first differing output byte (NCHW), when verified == 0 */
    int bad_got, bad_want;
    uint64_t bad_count;
    double at_zp, saturated;  /* fractions of the outputs at the zero point / at 127 */
    double wall_s;
    int chain;                /* --network: the chain's number in the run, else -1 */
    bool chain_last;          /* the chain's last layer, whose output is checked */
};

/* What the device counts and how the run is modelled. */
struct model {
    cbr_device_info info;
    bool counters;            /* cycles and bytes are counted */
    bool reference;           /* the device is the golden model itself */
    double clock_mhz, link_mbps;
    double link_bpc;          /* link bytes per cycle each way, as modelled */
    double latency_us;        /* link latency each way */
    uint32_t latency_cycles;  /* the same in cycles of the clock */
    uint32_t rows, cols;
};

/* ---- option values -------------------------------------------------------------------- */

/* A finite decimal number in (0, max]. */
/* A number of an option, in (0, max], or in [0, max] with zero_ok. */
static bool parse_range(const char *opt, const char *s, bool zero_ok, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || s[0] == ' ' || s[0] == '+' || errno == ERANGE ||
        !isfinite(v)) {
        cli_error("%s: '%s' is not a number", opt, s);
        return false;
    }
    if (!(zero_ok ? v >= 0 : v > 0) || v > max) {
        cli_error("%s: %s is out of range %c0, %.12g]", opt, s, zero_ok ? '[' : '(', max);
        return false;
    }
    *out = v;
    return true;
}

static void list_suites(char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < bench_suite_count && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s, ", bench_suites[i].name);
    if (k < len)
        snprintf(buf + k, len - k, "all");
}

/* Returns 0 to go on, or an exit code (also 0 with *done set for --help). */
static int parse_args(int argc, char **argv, struct bench_args *a, bool *done)
{
    memset(a, 0, sizeof *a);
    a->clock_mhz = 200;
    a->link_mbps = 400;
    a->verify = true;
    *done = false;

    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":d:h", bench_options, NULL)) != -1) {
        switch (c) {
        case 'd': a->device = optarg; break;
        case O_SUITE: a->suite = optarg; break;
        case O_JSON:
            if (!*optarg) {
                cli_error("--json: the file name is empty");
                return EXIT_USAGE;
            }
            a->json = optarg;
            break;
        case O_CLOCK:
            if (!parse_range("--clock", optarg, false, 100000, &a->clock_mhz))
                return EXIT_USAGE;
            break;
        case O_LINK:
            if (!parse_range("--link", optarg, false, 1e9, &a->link_mbps))
                return EXIT_USAGE;
            break;
        case O_LATENCY:
            if (!parse_range("--latency", optarg, true, 1e6, &a->latency_us))
                return EXIT_USAGE;
            break;
        case O_SEED: {
            long v;
            /* Below 2^53, so the seed survives any JSON reader. */
            if (!cli_parse_int("--seed", optarg, 0, (1L << 53) - 1, &v))
                return EXIT_USAGE;
            a->seed = (uint64_t)v;
            a->have_seed = true;
            break;
        }
        case O_NO_VERIFY: a->verify = false; break;
        case O_LIST: a->list = true; break;
        case O_LAYER: a->layer = optarg; break;
        case O_NETWORK: a->network = true; break;
        case 'h':
            fputs(bench_usage, stdout);
            *done = true;
            return 0;
        default:
            cli_bad_option(c, argv);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return EXIT_USAGE;
    }
    char names[128];
    list_suites(names, sizeof names);
    if (!a->suite && a->list)
        a->suite = "all";
    if (!a->suite) {
        cli_error("missing --suite (one of %s; see --help)", names);
        return EXIT_USAGE;
    }
    if (strcmp(a->suite, "all") && !bench_find_suite(a->suite)) {
        cli_error("--suite: '%s' is not one of %s", a->suite, names);
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- random layers -------------------------------------------------------------------- */

struct rng {
    uint64_t s;
};

/* splitmix64 */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int32_t rng_int(struct rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* The layer's own stream: the run's seed and the layer's full name (FNV-1a). */
static void rng_for_layer(struct rng *r, uint64_t seed, const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    r->s = seed ^ h;
    rng_next(r);
}

/* The arrays of one layer, owned. */
struct layer_data {
    cbr_layer_desc d;
    int8_t *x, *w, *y, *ref;
    int32_t *bias, *mult, *shift;
    size_t nx, nw, ny;
};

static void layer_data_free(struct layer_data *ld)
{
    free(ld->x);
    free(ld->w);
    free(ld->y);
    free(ld->ref);
    free(ld->bias);
    free(ld->mult);
    free(ld->shift);
    memset(ld, 0, sizeof *ld);
}

/* Output zero point and the spread the requantized accumulators get (in output units). */
#define OUT_ZP_MAX (-100)
#define OUT_SIGMA 64.0

/*
 * Fill a layer: uniform int8 input with a random zero point, uniform weights in [-127, 127],
 * ReLU with a zero point near -128 (the usual post-ReLU quantization), and per-channel
 * multipliers m = OUT_SIGMA / (sqrt(C/G * K * K) * rms(w) * rms(x - zp)) * U(0.7, 1.3), so
 * the accumulators, a sum of C/G*K*K zero-mean products, come out with a spread of about
 * OUT_SIGMA: about half the outputs at the zero point and few saturated.
 * With x_in (a chain's layer after the first: the previous output), the input is a copy of
 * x_in with zero point izp_in instead, and the multipliers follow its spread; the weights
 * are the same as without (the random input is drawn all the same).
 */
static int layer_data_make(struct layer_data *ld, const struct bench_layer *l, uint32_t oh,
                           uint32_t ow, uint64_t seed, const char *name, const int8_t *x_in,
                           int32_t izp_in)
{
    memset(ld, 0, sizeof *ld);
    struct rng r;
    rng_for_layer(&r, seed, name);
    const uint32_t cg = l->in_c / l->groups, red = cg * l->k * l->k;
    ld->nx = (size_t)l->in_c * l->in_h * l->in_w;
    ld->nw = (size_t)l->out_c * red;
    ld->ny = (size_t)l->out_c * oh * ow;
    ld->x = malloc(ld->nx);
    ld->w = malloc(ld->nw);
    ld->y = malloc(ld->ny);
    ld->ref = malloc(ld->ny);
    ld->bias = malloc(l->out_c * sizeof(int32_t));
    ld->mult = malloc(l->out_c * sizeof(int32_t));
    ld->shift = malloc(l->out_c * sizeof(int32_t));
    if (!ld->x || !ld->w || !ld->y || !ld->ref || !ld->bias || !ld->mult || !ld->shift)
        return CBR_ENOMEM;

    int32_t izp = rng_int(&r, -128, 127);
    int32_t ozp = rng_int(&r, -128, OUT_ZP_MAX);
    for (size_t i = 0; i < ld->nx; i++)
        ld->x[i] = (int8_t)rng_int(&r, -128, 127);
    if (x_in) {
        memcpy(ld->x, x_in, ld->nx);
        izp = izp_in;
    }
    double sw = 0;
    for (size_t i = 0; i < ld->nw; i++) {
        ld->w[i] = (int8_t)rng_int(&r, -127, 127);
        sw += (double)ld->w[i] * ld->w[i];
    }
    double sx = 0;
    for (size_t i = 0; i < ld->nx; i++)
        sx += ((double)ld->x[i] - izp) * ((double)ld->x[i] - izp);
    double rms_w = sqrt(sw / (double)ld->nw), rms_x = sqrt(sx / (double)ld->nx);
    double acc_sigma = sqrt((double)red) * (rms_w > 1 ? rms_w : 1) * (rms_x > 1 ? rms_x : 1);
    for (uint32_t o = 0; o < l->out_c; o++) {
        double m = OUT_SIGMA / acc_sigma * (0.7 + 0.6 * rng_unit(&r));
        if (cbr_quantize_multiplier(m, &ld->mult[o], &ld->shift[o]) < 0)
            return CBR_EINVAL;
        /* A per-channel offset of up to half a spread either way, as folded BN betas give. */
        ld->bias[o] = (int32_t)lround(acc_sigma * (rng_unit(&r) - 0.5));
    }
    cbr_layer_desc d = {
        .in_c = l->in_c, .in_h = l->in_h, .in_w = l->in_w, .out_c = l->out_c,
        .kh = l->k, .kw = l->k, .stride_h = l->stride, .stride_w = l->stride,
        .pad_top = l->pad, .pad_left = l->pad, .pad_bottom = l->pad, .pad_right = l->pad,
        .groups = l->groups, .input_zp = izp, .output_zp = ozp, .act = CBR_ACT_RELU,
        .weights = ld->w, .bias = ld->bias, .multiplier = ld->mult, .shift = ld->shift,
    };
    ld->d = d;
    return 0;
}

/* ---- running -------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Create and run the layer on dev; 0, or the error code with the message in err. */
static int run_on(cbr_device *dev, const cbr_layer_desc *d, const int8_t *x, int8_t *y,
                  cbr_stats *st, bool *created, char *err, size_t len)
{
    cbr_layer *layer = NULL;
    *created = false;
    int rc = cbr_layer_create(dev, d, &layer);
    if (rc < 0) {
        snprintf(err, len, "%s", cbr_errmsg(dev));
        return rc;
    }
    *created = true;
    rc = cbr_layer_run(layer, 1, x, y, st);
    if (rc < 0)
        snprintf(err, len, "%s", cbr_errmsg(dev));
    cbr_layer_destroy(layer);
    return rc;
}

static void run_layer(cbr_device *dev, cbr_device *ref, const struct bench_args *a,
                      struct result *res)
{
    const struct bench_layer *l = res->l;
    struct layer_data ld;
    char err[256];
    double t0 = now_s();
    res->verified = -1;
    int rc = layer_data_make(&ld, l, res->oh, res->ow, a->seed, res->name, NULL, 0);
    if (rc < 0) {
        res->status = ST_FAILED;
        snprintf(res->error, sizeof res->error, "cannot make the layer's data: %s",
                 cbr_strerror(rc));
        goto out;
    }
    bool created;
    memset(&res->st, 0, sizeof res->st);
    rc = run_on(dev, &ld.d, ld.x, ld.y, &res->st, &created, err, sizeof err);
    if (rc < 0) {
        /* Refused: the device cannot take this layer (limits, features, buffers). */
        res->status = created ? ST_FAILED : ST_REFUSED;
        snprintf(res->error, sizeof res->error, "%s: %s", created ? "failed" : "refused", err);
        goto out;
    }
    uint64_t zp = 0, sat = 0;
    for (size_t i = 0; i < ld.ny; i++) {
        zp += ld.y[i] == ld.d.output_zp;
        sat += ld.y[i] == 127;
    }
    res->at_zp = (double)zp / (double)ld.ny;
    res->saturated = (double)sat / (double)ld.ny;
    if (ref) {
        cbr_stats rst;
        rc = run_on(ref, &ld.d, ld.x, ld.ref, &rst, &created, err, sizeof err);
        if (rc < 0) {
            res->status = ST_FAILED;
            snprintf(res->error, sizeof res->error, "the golden model failed: %s", err);
            goto out;
        }
        res->verified = 1;
        res->bad_count = 0;
        for (size_t i = 0; i < ld.ny; i++) {
            if (ld.y[i] != ld.ref[i]) {
                if (res->bad_count++ == 0) {
                    res->bad_index = i;
                    res->bad_got = ld.y[i];
                    res->bad_want = ld.ref[i];
                }
            }
        }
        if (res->bad_count)
            res->verified = 0;
    }
out:
    res->wall_s = now_s() - t0;
    layer_data_free(&ld);
}

/* at_zp and saturated of a layer from its output. */
static void output_spread(struct result *res, const int8_t *y, size_t ny, int32_t zp)
{
    uint64_t at = 0, sat = 0;
    for (size_t i = 0; i < ny; i++) {
        at += y[i] == zp;
        sat += y[i] == 127;
    }
    res->at_zp = (double)at / (double)ny;
    res->saturated = (double)sat / (double)ny;
}

static void chain_fail(struct result *res, size_t n, enum status st, const char *fmt,
                       const char *arg)
{
    for (size_t i = 0; i < n; i++) {
        res[i].status = st;
        snprintf(res[i].error, sizeof res[i].error, fmt, arg);
    }
}

/* Run layers that follow one another (made, created) as one network: the first one's input,
 * the last one's output checked against the golden model's when compare. */
static void run_network(struct result *res, struct layer_data *ld, cbr_layer **layers,
                        size_t n, bool compare, int chain)
{
    cbr_network *net = NULL;
    cbr_stats *per = calloc(n, sizeof *per);
    double t0 = now_s();
    if (!per) {
        chain_fail(res, n, ST_FAILED, "failed: %s", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        res[i].chain = chain;
        res[i].chain_last = i + 1 == n;
    }
    if (cbr_network_create(layers, (uint32_t)n, &net) < 0) {
        chain_fail(res, n, ST_FAILED, "failed: %s", cbr_errmsg(NULL));
        goto out;
    }
    struct layer_data *last = &ld[n - 1];
    if (cbr_network_run(net, 1, ld[0].x, last->y, NULL, per) < 0) {
        chain_fail(res, n, ST_FAILED, "failed: %s", cbr_errmsg(NULL));
        goto out;
    }
    uint64_t cycles = 0;
    for (size_t i = 0; i < n; i++) {
        res[i].st = per[i];
        cycles += per[i].cycles;
        /* The kept intermediates never reach the host: their spread is the golden model's,
         * which they equal when the chain's output does. */
        output_spread(&res[i], i + 1 == n ? last->y : ld[i].ref, ld[i].ny, ld[i].d.output_zp);
    }
    if (compare) {
        struct result *r = &res[n - 1];
        r->bad_count = 0;
        for (size_t i = 0; i < last->ny; i++) {
            if (last->y[i] != last->ref[i] && r->bad_count++ == 0) {
                r->bad_index = i;
                r->bad_got = last->y[i];
                r->bad_want = last->ref[i];
            }
        }
        for (size_t i = 0; i < n; i++)
            res[i].verified = r->bad_count == 0;
    }
    /* The host time of the run, shared in proportion to the layers' cycles. */
    double wall = now_s() - t0;
    for (size_t i = 0; i < n; i++)
        res[i].wall_s += cycles ? wall * (double)per[i].cycles / (double)cycles : wall / n;
out:
    cbr_network_destroy(net);
    free(per);
}

/*
 * --network: n layers, each one's input the previous one's output. Each layer's data is
 * made from the golden model's (gen's) output of the one before, so it sees the activations
 * a real network would; then the layers run on dev as one network. A layer the device
 * refuses splits the chain: the layers before it run as one network, those after it as
 * another, from the golden output. *chain numbers the networks run.
 */
static void run_chain(cbr_device *dev, cbr_device *gen, const struct bench_args *a,
                      bool compare, struct result *res, size_t n, int *chain)
{
    struct layer_data *ld = calloc(n, sizeof *ld);
    cbr_layer **layers = calloc(n, sizeof *layers);
    size_t made = 0;
    char err[256];
    for (size_t i = 0; i < n; i++) {
        memset(&res[i].st, 0, sizeof res[i].st);
        res[i].verified = -1;
        res[i].status = ST_OK;
    }
    if (!ld || !layers) {
        chain_fail(res, n, ST_FAILED, "failed: %s", "out of memory");
        goto out;
    }
    for (; made < n; made++) {
        struct result *r = &res[made];
        const struct layer_data *prev = made ? &ld[made - 1] : NULL;
        double t0 = now_s();
        int rc = layer_data_make(&ld[made], r->l, r->oh, r->ow, a->seed, r->name,
                                 prev ? prev->ref : NULL, prev ? prev->d.output_zp : 0);
        if (rc < 0) {
            chain_fail(r, n - made, ST_FAILED, "cannot make the layer's data: %s",
                       cbr_strerror(rc));
            layer_data_free(&ld[made]);
            break;
        }
        bool created;
        cbr_stats gst;
        if (run_on(gen, &ld[made].d, ld[made].x, ld[made].ref, &gst, &created, err,
                   sizeof err) < 0) {
            chain_fail(r, 1, ST_FAILED, "the golden model failed: %s", err);
            chain_fail(r + 1, n - made - 1, ST_FAILED, "not run: the golden model failed on "
                       "%s", r->name);
            made++;
            break;
        }
        if (cbr_layer_create(dev, &ld[made].d, &layers[made]) < 0) {
            /* Refused: the device cannot take this layer (limits, features, buffers). */
            layers[made] = NULL;
            chain_fail(r, 1, ST_REFUSED, "refused: %s", cbr_errmsg(dev));
        }
        r->wall_s = now_s() - t0;
    }
    for (size_t s = 0; s < made;) {
        if (!layers[s] || res[s].status != ST_OK) {
            s++;
            continue;
        }
        size_t e = s + 1;
        while (e < made && layers[e] && res[e].status == ST_OK)
            e++;
        run_network(res + s, ld + s, layers + s, e - s, compare, (*chain)++);
        s = e;
    }
out:
    for (size_t i = 0; layers && i < n; i++)
        cbr_layer_destroy(layers[i]);
    for (size_t i = 0; ld && i < made; i++)
        layer_data_free(&ld[i]);
    free(layers);
    free(ld);
}

/* ---- derived figures ------------------------------------------------------------------ */

/* Everything reported for a layer or a total; a negative value means not available. */
struct figures {
    uint64_t macs, cycles, core_cycles, to, from, compulsory, stall;
    bool have_cycles, have_core, have_bytes, have_compulsory;
    double util, core_util, ratio, time_us, link_cycles;
    double floor_cycles, floor_util;  /* the link floor (link_floor below) */
    const char *bound;        /* "link", "compute" or NULL */
};

/*
 * The extra cycles the link forces on compute of T cycles at batch 1, with nothing on the
 * device to start with: input_c and weight_c are the input's and the weights' link cycles.
 * The core can only multiply inputs by weights that have arrived: after s cycles of link, a
 * fraction a of the input and b of the weights (a * input_c + b * weight_c <= s) allow at
 * most a * b of the work, so the end is at least s + T * (1 - g(s)), g(s) the largest such
 * a * b. Returns F = max over s in [0, input_c + weight_c] of s - T * g(s), exactly:
 * with lo, hi the smaller and larger of the two, g(s) = s^2 / (4 * input_c * weight_c)
 * (a and b each half of s) up to s = 2 * lo, then (s - lo) / hi (the smaller one whole).
 * The first piece is concave with its top at s = 2 * input_c * weight_c / T, the second
 * is linear: the maximum is at that top, at s = 2 * lo, or at either end.
 */
static double link_excess(double input_c, double weight_c, double t)
{
    double lo = input_c < weight_c ? input_c : weight_c;
    double hi = input_c < weight_c ? weight_c : input_c;
    double best = 0;                                  /* s = 0 */
    if (hi <= 0)
        return 0;
    if (t <= 0)
        return input_c + weight_c;
    if (lo > 0) {
        /* s^2 / (4 * lo * hi) on [0, 2 lo]: the top, clamped to the piece. */
        double s = 2 * lo * hi / t;
        if (s > 2 * lo)
            s = 2 * lo;
        double v = s - t * s * s / (4 * lo * hi);
        if (v > best)
            best = v;
    }
    double v = lo + hi - t;                           /* s = lo + hi: everything in */
    if (v > best)
        best = v;
    return best;
}

/* Input rows (or columns) of n that some of the out windows of k at stride s touch, with
 * pad before: all of them unless the stride skips some (a 1x1 stride-2 layer reads every
 * other row). Bytes a schedule need not send do not count towards the floor. */
static uint64_t touched(uint32_t n, uint32_t out, uint32_t k, uint32_t s, uint32_t pad)
{
    uint64_t count = 0;
    int64_t next = 0;                                 /* the first row not yet counted */
    for (uint32_t o = 0; o < out; o++) {
        int64_t first = (int64_t)o * s - pad, last = first + k - 1;
        if (first < next)
            first = next;
        if (last > (int64_t)n - 1)
            last = (int64_t)n - 1;
        if (last >= first) {
            count += (uint64_t)(last - first + 1);
            next = last + 1;
        }
    }
    return count;
}

/*
 * The fewest cycles a schedule could take over the modelled link at batch 1, given the
 * core's compute-only cycles of this run: max(T + F, I + W, Lout), with I, W and Lout the
 * link cycles of the input the conv reads, the weights and the output, each once (the
 * per-channel parameters are left out: fewer bytes only lower the floor; a tensor kept on the
 * device in a network is left out too). It takes each
 * output's sum over all its input channels at once, as the planner's tiles do; docs/bench.md
 * ("The floor") says by how much chains and grouped layers could beat it.
 */
static double link_floor(const struct model *m, const struct result *r, uint64_t core_cycles)
{
    const struct bench_layer *l = r->l;
    double in = (double)l->in_c * touched(l->in_h, r->oh, l->k, l->stride, l->pad) *
                touched(l->in_w, r->ow, l->k, l->stride, l->pad);
    double wt = (double)l->out_c * (l->in_c / l->groups) * l->k * l->k;
    double out = (double)l->out_c * r->oh * r->ow;
    /* A tensor kept on the device between two layers of a network does not cross. */
    if (r->st.resident & CBR_RESIDENT_INPUT)
        in = 0;
    if (r->st.resident & CBR_RESIDENT_OUTPUT)
        out = 0;
    double ic = in / m->link_bpc, wc = wt / m->link_bpc, oc = out / m->link_bpc;
    double t = (double)core_cycles;
    double f = t + link_excess(ic, wc, t);
    if (ic + wc > f)
        f = ic + wc;
    /* nothing reaches the device before the latency, nor the host the last output after it */
    return (oc > f ? oc : f) + 2.0 * m->latency_cycles;
}

static void derive(const struct model *m, struct figures *f)
{
    double pes = (double)m->rows * m->cols;
    f->util = f->core_util = f->ratio = f->time_us = f->link_cycles = f->floor_util = -1;
    f->bound = NULL;
    if (f->have_cycles) {
        f->time_us = (double)f->cycles / m->clock_mhz;
        if (pes > 0 && f->cycles)
            f->util = (double)f->macs / (pes * (double)f->cycles);
    }
    if (f->have_core && pes > 0 && f->core_cycles)
        f->core_util = (double)f->macs / (pes * (double)f->core_cycles);
    if (f->floor_cycles > 0 && pes > 0)
        f->floor_util = (double)f->macs / (pes * f->floor_cycles);
    if (f->have_bytes) {
        if (f->have_compulsory && f->compulsory)
            f->ratio = (double)(f->to + f->from) / (double)f->compulsory;
        if (f->link_cycles < 0)
            f->link_cycles = (double)(f->to > f->from ? f->to : f->from) / m->link_bpc;
        if (f->have_core)
            f->bound = f->link_cycles > (double)f->core_cycles ? "link" : "compute";
    }
}

static void layer_figures(const struct model *m, const struct result *r, struct figures *f)
{
    memset(f, 0, sizeof *f);
    f->macs = r->status == ST_OK ? r->st.macs : bench_layer_macs(r->l);
    f->compulsory = r->st.bytes_compulsory;
    f->have_compulsory = r->status == ST_OK;
    if (r->status == ST_OK && m->counters) {
        f->cycles = r->st.cycles;
        f->core_cycles = r->st.core_cycles;
        f->to = r->st.bytes_to_device;
        f->from = r->st.bytes_from_device;
        f->stall = r->st.link_stall_cycles;
        f->have_cycles = f->have_bytes = true;
        /* A device that does not count core cycles yet reports 0 there. */
        f->have_core = r->st.core_cycles > 0;
    }
    f->link_cycles = -1;
    f->floor_cycles = f->have_core && f->have_bytes ? link_floor(m, r, f->core_cycles) : -1;
    derive(m, f);
}

/* A total over some of the results: the layers that ran, summed. */
struct total {
    char name[64];
    const char *suite;        /* suite name, or "all" */
    const char *subset;       /* "all", "depthwise", "pointwise" */
    unsigned layers, failed, link_bound;
    bool any_core_missing, any_floor_missing;
    struct figures f;
    double host_s, model_s;   /* cbr_stats.host_seconds, model_seconds, summed */
};

static void total_add(struct total *t, const struct model *m, const struct result *r)
{
    if (r->status != ST_OK || r->verified == 0) {
        t->failed++;
        if (r->status != ST_OK)
            return;
    }
    struct figures lf;
    layer_figures(m, r, &lf);
    t->layers++;
    t->host_s += r->st.host_seconds;
    t->model_s += r->st.model_seconds;
    t->f.macs += lf.macs;
    t->f.cycles += lf.cycles;
    t->f.core_cycles += lf.core_cycles;
    t->f.to += lf.to;
    t->f.from += lf.from;
    t->f.compulsory += lf.compulsory;
    t->f.stall += lf.stall;
    t->f.have_cycles = lf.have_cycles;
    t->f.have_bytes = lf.have_bytes;
    t->f.have_compulsory = true;
    if (!lf.have_core)
        t->any_core_missing = true;
    if (lf.floor_cycles >= 0)
        t->f.floor_cycles = (t->f.floor_cycles < 0 ? 0 : t->f.floor_cycles) + lf.floor_cycles;
    else
        t->any_floor_missing = true;
    if (lf.link_cycles >= 0)
        t->f.link_cycles = (t->f.link_cycles < 0 ? 0 : t->f.link_cycles) + lf.link_cycles;
    if (lf.bound && !strcmp(lf.bound, "link"))
        t->link_bound++;
}

static void total_init(struct total *t, const char *name, const char *suite, const char *subset)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->suite = suite;
    t->subset = subset;
    t->f.link_cycles = -1;
    t->f.floor_cycles = -1;
}

static void total_finish(struct total *t, const struct model *m)
{
    t->f.have_core = t->layers > 0 && !t->any_core_missing;
    if (t->any_floor_missing)
        t->f.floor_cycles = -1;
    if (t->layers == 0)
        t->f.have_cycles = t->f.have_bytes = false;
    derive(m, &t->f);
}

/* ---- the table ------------------------------------------------------------------------ */

static int name_width = 24;
static bool show_kept;        /* --network: the kept column */

static void cell_u64(char *buf, size_t len, bool have, uint64_t v)
{
    if (have)
        snprintf(buf, len, "%" PRIu64, v);
    else
        snprintf(buf, len, "-");
}

static void cell_pct(char *buf, size_t len, double v)
{
    if (v >= 0)
        snprintf(buf, len, "%.1f%%", 100 * v);
    else
        snprintf(buf, len, "-");
}

static void cell_dbl(char *buf, size_t len, double v, const char *fmt)
{
    if (v >= 0)
        snprintf(buf, len, fmt, v);
    else
        snprintf(buf, len, "-");
}

#define ROW_FMT "%-*s %11s %11s %12s %12s %6s %6s %6s %10s %10s %10s %6s %10s %10s %7s %5s"

static void print_header(void)
{
    printf(ROW_FMT, name_width, "layer", "in", "out", "MACs", "cycles", "util", "core",
           "floor", "to dev", "from dev", "compul", "ratio", "stall", "time_us", "bound", "check");
    printf(show_kept ? " %6s\n" : "\n", "kept");
}

static void print_figures(const char *name, const char *in, const char *out,
                          const struct figures *f, const char *check, const char *kept)
{
    char macs[24], cyc[24], util[16], core[16], flo[16], to[24], from[24], comp[24], ratio[16],
        stall[24], tus[24];
    cell_u64(macs, sizeof macs, true, f->macs);
    cell_u64(cyc, sizeof cyc, f->have_cycles, f->cycles);
    cell_pct(util, sizeof util, f->util);
    cell_pct(core, sizeof core, f->core_util);
    cell_pct(flo, sizeof flo, f->floor_util);
    cell_u64(to, sizeof to, f->have_bytes, f->to);
    cell_u64(from, sizeof from, f->have_bytes, f->from);
    cell_u64(comp, sizeof comp, f->have_compulsory, f->compulsory);
    cell_dbl(ratio, sizeof ratio, f->ratio, "%.2f");
    cell_u64(stall, sizeof stall, f->have_cycles, f->stall);
    cell_dbl(tus, sizeof tus, f->time_us, "%.1f");
    printf(ROW_FMT, name_width, name, in, out, macs, cyc, util, core, flo, to, from, comp, ratio,
           stall, tus, f->bound ? f->bound : "-", check);
    printf(show_kept && kept ? " %6s\n" : "\n", kept);
}


static void print_result(const struct model *m, const struct result *r)
{
    const struct bench_layer *l = r->l;
    char in[32], out[32];
    snprintf(in, sizeof in, "%ux%ux%u", l->in_c, l->in_h, l->in_w);
    snprintf(out, sizeof out, "%ux%ux%u", l->out_c, r->oh, r->ow);
    if (r->status != ST_OK) {
        printf("%-*s %11s %11s %12" PRIu64 "  %s\n", name_width, r->name, in, out,
               bench_layer_macs(l), r->error);
    } else {
        struct figures f;
        layer_figures(m, r, &f);
        print_figures(r->name, in, out, &f,
                      r->verified == 1 ? "ok" : r->verified == 0 ? "FAIL" : m->reference ?
                      "ref" : "-", cli_kept_text(r->st.resident));
        if (r->verified == 0 && r->chain >= 0 && !r->chain_last)
            printf("%-*s   the output of its chain's last layer differs from the golden "
                   "model\n", name_width, "");
        else if (r->verified == 0)
            printf("%-*s   output differs from the golden model: %" PRIu64 " of %" PRIu64
                   " bytes, the first at index %" PRIu64 " (channel %" PRIu64 ", y %" PRIu64
                   ", x %" PRIu64 "): got %d, want %d\n", name_width, "",
                   r->bad_count, (uint64_t)l->out_c * r->oh * r->ow, r->bad_index,
                   r->bad_index / ((uint64_t)r->oh * r->ow), r->bad_index / r->ow % r->oh,
                   r->bad_index % r->ow, r->bad_got, r->bad_want);
    }
    fflush(stdout);
}

static void print_total(const struct total *t)
{
    char check[16], layers[32];
    snprintf(check, sizeof check, "%s", t->failed ? "FAIL" : "");
    snprintf(layers, sizeof layers, "%u layer%s", t->layers, t->layers == 1 ? "" : "s");
    char bad[32];
    snprintf(bad, sizeof bad, "%u failed", t->failed);
    print_figures(t->name, layers, t->failed ? bad : "", &t->f, check, NULL);
}

/* Peak resident memory of this process so far, in bytes (0 if unknown). */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

/* The host side of a suite's total: libcbr's time against the bytes it moved, the
 * simulated board's speed, the process's peak memory. */
static void print_host(const struct total *t)
{
    if (!t->layers)
        return;
    const double mb = (double)(t->f.to + t->f.from) / 1e6;
    printf("  host: libcbr %.3f s", t->host_s);
    if (t->f.have_bytes && t->host_s > 0)
        printf(" for %.1f MB over the link (%.0f MB/s)", mb, mb / t->host_s);
    if (t->model_s > 0 && t->f.have_cycles)
        printf("; the simulated board %.1f s (%.2f M cycles/s)", t->model_s,
               (double)t->f.cycles / t->model_s / 1e6);
    printf("; peak memory %.1f MB\n", (double)peak_rss() / 1e6);
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_key(FILE *f, bool *first, const char *key)
{
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", key);
    *first = false;
}

static void json_u64(FILE *f, bool *first, const char *key, bool have, uint64_t v)
{
    json_key(f, first, key);
    if (have)
        fprintf(f, "%" PRIu64, v);
    else
        fputs("null", f);
}

static void json_dbl(FILE *f, bool *first, const char *key, double v)
{
    json_key(f, first, key);
    if (v >= 0 && isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

static void json_text(FILE *f, bool *first, const char *key, const char *v)
{
    json_key(f, first, key);
    if (v)
        json_str(f, v);
    else
        fputs("null", f);
}

static void json_figures(FILE *f, bool *first, const struct figures *fg)
{
    json_u64(f, first, "macs", true, fg->macs);
    json_u64(f, first, "cycles", fg->have_cycles, fg->cycles);
    json_u64(f, first, "core_cycles", fg->have_core, fg->core_cycles);
    json_dbl(f, first, "utilization", fg->util);
    json_dbl(f, first, "compute_utilization", fg->core_util);
    json_dbl(f, first, "floor_cycles", fg->floor_cycles);
    json_dbl(f, first, "floor_utilization", fg->floor_util);
    json_u64(f, first, "bytes_to_device", fg->have_bytes, fg->to);
    json_u64(f, first, "bytes_from_device", fg->have_bytes, fg->from);
    json_u64(f, first, "bytes_compulsory", fg->have_compulsory, fg->compulsory);
    json_dbl(f, first, "traffic_ratio", fg->ratio);
    json_u64(f, first, "link_stall_cycles", fg->have_cycles, fg->stall);
    json_dbl(f, first, "link_cycles", fg->link_cycles);
    json_dbl(f, first, "time_us", fg->time_us);
    json_text(f, first, "bound", fg->bound);
}

static void json_layer(FILE *f, const struct model *m, const struct result *r)
{
    const struct bench_layer *l = r->l;
    struct figures fg;
    layer_figures(m, r, &fg);
    bool first = true;
    char kernel[16];
    snprintf(kernel, sizeof kernel, "%ux%u", l->k, l->k);
    fputs("    {", f);
    json_text(f, &first, "suite", r->suite->name);
    json_text(f, &first, "name", r->name);
    json_text(f, &first, "kind", r->kind);
    json_text(f, &first, "kernel", kernel);
    json_u64(f, &first, "stride", true, l->stride);
    json_u64(f, &first, "pad", true, l->pad);
    json_u64(f, &first, "groups", true, l->groups);
    json_key(f, &first, "in_shape");
    fprintf(f, "[1, %u, %u, %u]", l->in_c, l->in_h, l->in_w);
    json_key(f, &first, "out_shape");
    fprintf(f, "[1, %u, %u, %u]", l->out_c, r->oh, r->ow);
    json_text(f, &first, "status", r->status == ST_OK ? "ok" : r->status == ST_REFUSED ?
              "refused" : "failed");
    json_text(f, &first, "error", r->status == ST_OK ? NULL : r->error);
    json_figures(f, &first, &fg);
    json_u64(f, &first, "tiles", r->status == ST_OK && r->st.tiles, r->st.tiles);
    json_u64(f, &first, "chain", r->chain >= 0, (uint64_t)r->chain);
    json_key(f, &first, "resident_input");
    fputs(r->st.resident & CBR_RESIDENT_INPUT ? "true" : "false", f);
    json_key(f, &first, "resident_output");
    fputs(r->st.resident & CBR_RESIDENT_OUTPUT ? "true" : "false", f);
    json_u64(f, &first, "bytes_ahead", r->status == ST_OK, r->st.bytes_ahead);
    json_key(f, &first, "verified");
    fputs(r->verified == 1 ? "true" : r->verified == 0 ? "false" : "null", f);
    json_key(f, &first, "mismatch");
    if (r->verified == 0)
        fprintf(f, "{\"count\": %" PRIu64 ", \"first_index\": %" PRIu64 ", \"got\": %d, "
                "\"want\": %d}", r->bad_count, r->bad_index, r->bad_got, r->bad_want);
    else
        fputs("null", f);
    json_dbl(f, &first, "outputs_at_zero_point", r->status == ST_OK ? r->at_zp : -1);
    json_dbl(f, &first, "outputs_saturated", r->status == ST_OK ? r->saturated : -1);
    json_dbl(f, &first, "wall_seconds", r->wall_s);
    json_dbl(f, &first, "host_seconds", r->status == ST_OK ? r->st.host_seconds : -1);
    json_dbl(f, &first, "model_seconds", r->status == ST_OK ? r->st.model_seconds : -1);
    fputs("}", f);
}

static void json_total(FILE *f, const struct total *t)
{
    bool first = true;
    fputs("    {", f);
    json_text(f, &first, "suite", t->suite);
    json_text(f, &first, "subset", t->subset);
    json_text(f, &first, "name", t->name);
    json_u64(f, &first, "layers", true, t->layers);
    json_u64(f, &first, "layers_failed", true, t->failed);
    json_figures(f, &first, &t->f);
    json_u64(f, &first, "link_bound_layers", t->f.have_bytes && t->f.have_core, t->link_bound);
    json_dbl(f, &first, "host_seconds", t->layers ? t->host_s : -1);
    json_dbl(f, &first, "model_seconds", t->layers ? t->model_s : -1);
    fputs("}", f);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Make a temporary file beside path: ".<name>.XXXXXX". Returns the fd, or -1 (errno). */
static int temp_beside(const char *path, char *tmp, size_t len)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    if ((size_t)snprintf(tmp, len, "%.*s.%s.XXXXXX", dir_len, path, path + dir_len) >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkostemp(tmp, O_CLOEXEC);
}

/* Can a file be written at path? Checked before the run, so a long bench does not end in a
 * write error. Leaves nothing behind. */
static bool json_path_ok(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_error("--json: %s is a directory", path);
        return false;
    }
    char tmp[4096];
    int fd = temp_beside(path, tmp, sizeof tmp);
    if (fd < 0) {
        cli_error("--json: cannot create a file beside %s: %s", path, strerror(errno));
        return false;
    }
    close(fd);
    unlink(tmp);
    return true;
}

/* Write text to path atomically with mode 0666 less the umask. */
static bool write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4096];
    int fd = temp_beside(path, tmp, sizeof tmp);
    if (fd < 0) {
        cli_error("--json: cannot create a file beside %s: %s", path, strerror(errno));
        return false;
    }
    mode_t mask = umask(022);
    umask(mask);
    const char *what = NULL;
    if (write_all(fd, text, len) != 0)
        what = "write";
    else if (fchmod(fd, 0666 & ~mask) != 0)
        what = "chmod";
    else if (fsync(fd) != 0)
        what = "fsync";
    int e = errno;
    if (close(fd) != 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        cli_error("--json: cannot %s %s: %s", what, what[0] == 'r' ? path : tmp, strerror(e));
        unlink(tmp);
        return false;
    }
    return true;
}

static bool write_json(const char *path, const struct bench_args *a, const struct model *m,
                       const struct result *res, size_t nres, const struct total *tot,
                       size_t ntot)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        cli_error("--json: out of memory");
        return false;
    }
    bool first = true;
    fputs("{\n  \"layers\": [\n", f);
    for (size_t i = 0; i < nres; i++) {
        json_layer(f, m, &res[i]);
        fputs(i + 1 < nres ? ",\n" : "\n", f);
    }
    fputs("  ],\n  \"totals\": [\n", f);
    for (size_t i = 0; i < ntot; i++) {
        json_total(f, &tot[i]);
        fputs(i + 1 < ntot ? ",\n" : "\n", f);
    }
    fputs("  ],\n  \"device\": {", f);
    json_text(f, &first, "uri", m->info.uri);
    json_text(f, &first, "name", m->info.name);
    json_u64(f, &first, "rows", true, m->rows);
    json_u64(f, &first, "cols", true, m->cols);
    json_key(f, &first, "counters");
    fputs(m->counters ? "true" : "false", f);
    json_u64(f, &first, "clock_khz", m->info.clock_khz, m->info.clock_khz);
    fputs("},\n  ", f);
    first = true;
    json_text(f, &first, "suite", a->suite);
    json_key(f, &first, "network");
    fputs(a->network ? "true" : "false", f);
    json_dbl(f, &first, "clock_mhz", m->clock_mhz);
    json_dbl(f, &first, "link_mbps", m->link_mbps);
    json_dbl(f, &first, "link_bytes_per_cycle", m->link_bpc);
    json_dbl(f, &first, "link_latency_us", m->latency_us);
    json_u64(f, &first, "link_latency_cycles", true, m->latency_cycles);
    json_u64(f, &first, "seed", true, a->seed);
    json_key(f, &first, "verify");
    fputs(a->verify && !m->reference ? "true" : "false", f);
    json_text(f, &first, "cbr_version", CBR_VERSION_STRING);
    json_u64(f, &first, "peak_rss_bytes", peak_rss() > 0, peak_rss());
    fputs("\n}\n", f);
    if (fclose(f) != 0 || !text) {
        free(text);
        cli_error("--json: out of memory");
        return false;
    }
    bool ok = write_atomic(path, text, len);
    free(text);
    return ok;
}

/* ---- the command ---------------------------------------------------------------------- */

/* Does b take a's output as its input (the next layer of the same suite, chained, with the
 * shape a gives)? */
static bool chained(const struct result *a, const struct result *b)
{
    return a->suite == b->suite && b->l == a->l + 1 && b->l->chained &&
           b->l->in_c == a->l->out_c && b->l->in_h == a->oh && b->l->in_w == a->ow;
}

static bool selected(const struct bench_args *a, const struct bench_suite *su)
{
    return !strcmp(a->suite, "all") || !strcmp(a->suite, su->name);
}

static bool layer_selected(const struct bench_args *a, const struct bench_suite *su,
                           size_t i)
{
    char name[96];
    if (!a->layer)
        return true;
    bench_layer_name(su, &su->layers[i], name, sizeof name);
    return strstr(name, a->layer) != NULL;
}

/* --list: the layers and their MACs, no device. */
static int list_layers(const struct bench_args *a)
{
    printf("%-36s %-9s %11s %11s %6s %3s %6s %7s %12s\n", "layer", "kind", "in", "out",
           "stride", "pad", "groups", "chained", "MACs");
    for (size_t s = 0; s < bench_suite_count; s++) {
        const struct bench_suite *su = &bench_suites[s];
        if (!selected(a, su))
            continue;
        uint64_t total = 0;
        for (size_t i = 0; i < su->count; i++) {
            const struct bench_layer *l = &su->layers[i];
            char name[96], kb[16], in[32], out[32];
            bench_layer_name(su, l, name, sizeof name);
            snprintf(in, sizeof in, "%ux%ux%u", l->in_c, l->in_h, l->in_w);
            snprintf(out, sizeof out, "%ux%ux%u", l->out_c, bench_out_h(l), bench_out_w(l));
            printf("%-36s %-9s %11s %11s %6u %3u %6u %7s %12" PRIu64 "\n", name,
                   bench_layer_kind(l, kb, sizeof kb), in, out, l->stride, l->pad, l->groups,
                   l->chained ? "yes" : "-", bench_layer_macs(l));
            total += bench_layer_macs(l);
        }
        printf("%s (%s): %zu conv layers, %" PRIu64 " MACs\n\n", su->name, su->title,
               su->count, total);
    }
    return 0;
}

static uint64_t default_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) % 1000000000;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_args a;
    bool done;
    cli_prog = "cbr bench";
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    if (a.list)
        return list_layers(&a);
    if (!a.have_seed)
        a.seed = default_seed();
    if (a.json && !json_path_ok(a.json))
        return EXIT_RUN;

    /* The selected suites' layers, in order. */
    size_t nres = 0;
    for (size_t s = 0; s < bench_suite_count; s++)
        for (size_t i = 0; selected(&a, &bench_suites[s]) && i < bench_suites[s].count; i++)
            nres += layer_selected(&a, &bench_suites[s], i);
    if (!nres) {
        cli_error("--layer: no layer of suite %s has '%s' in its name (see --list)", a.suite,
                  a.layer);
        return EXIT_USAGE;
    }
    struct result *res = calloc(nres, sizeof *res);
    /* Per suite: a total, and depthwise + pointwise subtotals; one grand total. */
    struct total *tot = calloc(3 * bench_suite_count + 1, sizeof *tot);
    cbr_device *dev = NULL, *ref = NULL, *gen = NULL;
    rc = EXIT_RUN;
    if (!res || !tot) {
        cli_error("out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t s = 0; s < bench_suite_count; s++) {
        const struct bench_suite *su = &bench_suites[s];
        if (!selected(&a, su))
            continue;
        for (size_t i = 0; i < su->count; i++) {
            if (!layer_selected(&a, su, i))
                continue;
            struct result *r = &res[k++];
            r->suite = su;
            r->chain = -1;
            r->l = &su->layers[i];
            r->oh = bench_out_h(r->l);
            r->ow = bench_out_w(r->l);
            bench_layer_name(su, r->l, r->name, sizeof r->name);
            char kb[16];
            snprintf(r->kind, sizeof r->kind, "%s", bench_layer_kind(r->l, kb, sizeof kb));
            int w = (int)strlen(r->name);
            if (w > name_width)
                name_width = w;
        }
    }

    /* The link model: the sim device reads CBR_SIM_LINK when it is opened. */
    struct model m;
    memset(&m, 0, sizeof m);
    m.clock_mhz = a.clock_mhz;
    m.link_mbps = a.link_mbps;
    m.link_bpc = a.link_mbps / a.clock_mhz;
    char link[64];
    snprintf(link, sizeof link, "%.9g,%.9g", m.link_bpc, m.link_bpc);
    if (setenv("CBR_SIM_LINK", link, 1) != 0) {
        cli_error("--link: cannot set CBR_SIM_LINK");
        goto out;
    }
    m.latency_us = a.latency_us;
    double lat = a.latency_us * a.clock_mhz;
    if (lat > CBR_SIM_MAX_LATENCY) {
        cli_error("--latency: %g us at %g MHz is %.0f cycles; the sim link models at most %u",
                  a.latency_us, a.clock_mhz, lat, CBR_SIM_MAX_LATENCY);
        rc = EXIT_USAGE;
        goto out;
    }
    m.latency_cycles = (uint32_t)llround(lat);
    snprintf(link, sizeof link, "%u", m.latency_cycles);
    if (setenv("CBR_SIM_LATENCY", link, 1) != 0) {
        cli_error("--latency: cannot set CBR_SIM_LATENCY");
        goto out;
    }
    if (cbr_device_open(&dev, a.device) < 0) {
        cli_error("-d: %s", cbr_errmsg(NULL));
        goto out;
    }
    cbr_device_get_info(dev, &m.info);
    m.rows = m.info.rows;
    m.cols = m.info.cols;
    /* cycles and bytes: the full counters (FEATURES bit 5) or the cycle counters alone (bit 8,
     * the iCEBreaker image): core_cycles is TOTAL_CYCLES either way */
    m.counters = (m.info.features & (CBR_FEAT_COUNTERS | CBR_FEAT_CYCLES)) && m.rows && m.cols;
    m.reference = !strcmp(m.info.uri, "cpu");
    if (!strncmp(m.info.uri, "sim", 3) && m.link_bpc > SIM_PORT_BYTES_PER_CYCLE) {
        fprintf(stderr, "%s: note: --link %g MB/s at %g MHz is %.3g bytes per cycle; the sim "
                "link carries at most %g (its port width), which is what is modelled\n",
                cli_prog, a.link_mbps, a.clock_mhz, m.link_bpc, SIM_PORT_BYTES_PER_CYCLE);
        m.link_bpc = SIM_PORT_BYTES_PER_CYCLE;
    }
    if (a.verify && !m.reference && cbr_device_open(&ref, "cpu") < 0) {
        cli_error("the golden model (cpu device) for verification: %s", cbr_errmsg(NULL));
        goto out;
    }
    /* --network makes each chained layer's input with the golden model, verified or not */
    if (a.network && cbr_device_open(&gen, "cpu") < 0) {
        cli_error("the golden model (cpu device) for the chains' data: %s", cbr_errmsg(NULL));
        goto out;
    }
    show_kept = a.network;

    printf("cbr bench: suite %s on %s (%s", a.suite, m.info.uri, m.info.name);
    if (m.rows)
        printf(", %ux%u array", m.rows, m.cols);
    printf(")\nclock %g MHz, link %g MB/s each way (%.3g bytes/cycle)", a.clock_mhz,
           a.link_mbps, m.link_bpc);
    if (m.latency_cycles)
        printf(" and %g us latency (%u cycles)", m.latency_us, m.latency_cycles);
    printf(", seed %" PRIu64 " (replay with --seed %" PRIu64 "), %s%s\n\n", a.seed, a.seed,
           m.reference ? "the device is the golden model" :
           a.verify ? "verified against the golden model" : "not verified",
           a.network ? ";\nlayers that follow one another run as one network (--network)" : "");
    print_header();
    fflush(stdout);

    size_t ntot = 0;
    unsigned bad = 0;
    int chains = 0;
    size_t chain_end = 0;     /* --network: the end of the chain that ran last */
    struct total *grand = NULL;
    if (!strcmp(a.suite, "all"))
        total_init(grand = &tot[3 * bench_suite_count], "all suites", "all", "all");
    for (size_t i = 0; i < nres;) {
        const struct bench_suite *su = res[i].suite;
        char name[64];
        struct total *t = &tot[ntot++], *dw = NULL, *pw = NULL;
        snprintf(name, sizeof name, "%s total", su->name);
        total_init(t, name, su->name, "all");
        size_t j = i;
        for (; j < nres && res[j].suite == su; j++) {
            struct result *r = &res[j];
            if (!a.network) {
                run_layer(dev, ref, &a, r);
            } else if (j >= chain_end) {
                /* r and the selected layers after it that take the previous one's output */
                chain_end = j + 1;
                while (chain_end < nres && chained(&res[chain_end - 1], &res[chain_end]))
                    chain_end++;
                run_chain(dev, gen, &a, a.verify && !m.reference, r, chain_end - j, &chains);
            }
            print_result(&m, r);
            if (r->status != ST_OK)
                cli_error("%s: %s", r->name, r->error);
            else if (r->verified == 0 && (r->chain < 0 || r->chain_last))
                cli_error("%s: the output differs from the golden model at index %" PRIu64
                          " (got %d, want %d)", r->name, r->bad_index, r->bad_got,
                          r->bad_want);
            bad += r->status != ST_OK || r->verified == 0;
            total_add(t, &m, r);
            if (grand)
                total_add(grand, &m, r);
            if (!strcmp(r->kind, "depthwise") && !dw) {
                dw = &tot[ntot++];
                snprintf(name, sizeof name, "%s depthwise", su->name);
                total_init(dw, name, su->name, "depthwise");
                pw = &tot[ntot++];
                snprintf(name, sizeof name, "%s pointwise", su->name);
                total_init(pw, name, su->name, "pointwise");
            }
        }
        /* Subtotals over the whole suite once we know it has depthwise layers. */
        for (size_t q = i; dw && q < j; q++) {
            if (!strcmp(res[q].kind, "depthwise"))
                total_add(dw, &m, &res[q]);
            else if (res[q].l->k == 1 && res[q].l->groups == 1)
                total_add(pw, &m, &res[q]);
        }
        total_finish(t, &m);
        print_total(t);
        if (dw) {
            total_finish(dw, &m);
            total_finish(pw, &m);
            print_total(dw);
            print_total(pw);
        }
        print_host(t);
        printf("\n");
        fflush(stdout);
        i = j;
    }
    if (grand) {
        total_finish(grand, &m);
        print_total(grand);
        print_host(grand);
        tot[ntot++] = *grand;
    }
    rc = bad ? EXIT_RUN : 0;
    if (bad)
        cli_error("%u of %zu layers refused, failed or differed from the golden model", bad,
                  nres);
    if (a.json) {
        if (write_json(a.json, &a, &m, res, nres, tot, ntot))
            printf("wrote %s\n", a.json);
        else
            rc = EXIT_RUN;
    }
out:
    cbr_device_close(gen);
    cbr_device_close(ref);
    cbr_device_close(dev);
    free(res);
    free(tot);
    return rc;
}
