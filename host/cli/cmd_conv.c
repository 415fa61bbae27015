/*
 * cmd_conv.c - `cbr conv`: run one conv + requant + activation (+ pool) layer in integer
 * mode from .npy files.
 *
 * All checks of the layer itself live in libcbr (cbr_layer_create); this file checks only
 * what the library cannot see: that each file holds what its option says, and how files
 * and options map onto the layer description. Library messages are prefixed with the file
 * or option they concern, so the user knows where to look.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char conv_usage[] =
    "usage: cbr conv -d DEV --input X.npy --weights W.npy --bias B.npy\n"
    "                --multiplier M.npy --shift S.npy --input-zp ZI --output-zp ZO\n"
    "                [--stride S|SH,SW] [--pad P|T,L,B,R] [--dilation D|DH,DW] [--groups G]\n"
    "                [--act none|relu|relu6|leaky] [--clamp MIN,MAX]\n"
    "                [--neg-multiplier MN.npy --neg-shift SN.npy]\n"
    "                [--pool max:K:S[:P]|avg:K:S[:P]|gavg] [--layout nchw|nhwc] [--stats]\n"
    "                [--trace FILE.fst] --output Y.npy\n"
    "\n"
    "Run one int8 conv + requantize + activation (+ pool) layer, exactly as docs/numerics.md.\n"
    "\n"
    "  -d, --device DEV        device URI (default: $CBR_DEVICE, else the build's default;\n"
    "                          see `cbr devices`)\n"
    "  --input X.npy           int8 or uint8 activations, (N,C,H,W) (or (N,H,W,C) for nhwc);\n"
    "                          uint8 is mapped onto int8 by subtracting 128 (values and ZI)\n"
    "  --weights W.npy         int8 (O, C/G, KH, KW) in every layout; -128 is rejected\n"
    "  --bias B.npy            int32 (O)\n"
    "  --multiplier M.npy      int32 (O): M0, 0 or in [2^30, 2^31-1]\n"
    "  --shift S.npy           int32 (O): in [-31, 30]; real multiplier = M0 * 2^(shift-31)\n"
    "  --input-zp ZI           input zero point: [-128, 127], or [0, 255] for uint8 input\n"
    "  --output-zp ZO          output zero point, [-128, 127]\n"
    "  --stride S|SH,SW        stride (default 1)\n"
    "  --pad P|T,L,B,R         padding, filled with the input zero point (default 0)\n"
    "  --dilation D|DH,DW      dilation (default 1)\n"
    "  --groups G              groups; G = C is depthwise (default 1)\n"
    "  --act ACT               none (default), relu, relu6 (needs --clamp), leaky (needs\n"
    "                          --neg-multiplier and --neg-shift)\n"
    "  --clamp MIN,MAX         clamp after the activation (act_min, act_max)\n"
    "  --neg-multiplier MN.npy int32 (O): leaky's M0 for accumulators < 0\n"
    "  --neg-shift SN.npy      int32 (O): leaky's shift for accumulators < 0\n"
    "  --pool SPEC             after the activation: max:K:S[:P], avg:K:S[:P] (KxK window,\n"
    "                          stride S, padding P on every side), or gavg (global average)\n"
    "  --layout nchw|nhwc      layout of X and Y (default nchw)\n"
    "  --stats                 print MACs, bytes, libcbr's host time (and a simulated\n"
    "                          board's model time), and, where the device counts them,\n"
    "                          cycles and utilization\n"
    "  --trace FILE.fst        sim device: write the RTL's waveform (FST, for GTKWave);\n"
    "                          the same as CBR_TRACE=FILE.fst\n"
    "  --output Y.npy          int8 (N,O,OH,OW) (or (N,OH,OW,O) for nhwc); written only when\n"
    "                          the whole run succeeded\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit status: 0 when Y.npy is complete, 1 when the run failed, 2 for a usage error.\n";

enum {
    O_INPUT = 256, O_WEIGHTS, O_BIAS, O_MULT, O_SHIFT, O_IZP, O_OZP, O_STRIDE, O_PAD,
    O_DIL, O_GROUPS, O_ACT, O_CLAMP, O_NMULT, O_NSHIFT, O_POOL, O_LAYOUT, O_STATS, O_OUTPUT,
    O_TRACE,
};

static const struct option conv_options[] = {
    {"device", required_argument, NULL, 'd'},
    {"input", required_argument, NULL, O_INPUT},
    {"weights", required_argument, NULL, O_WEIGHTS},
    {"bias", required_argument, NULL, O_BIAS},
    {"multiplier", required_argument, NULL, O_MULT},
    {"shift", required_argument, NULL, O_SHIFT},
    {"input-zp", required_argument, NULL, O_IZP},
    {"output-zp", required_argument, NULL, O_OZP},
    {"stride", required_argument, NULL, O_STRIDE},
    {"pad", required_argument, NULL, O_PAD},
    {"dilation", required_argument, NULL, O_DIL},
    {"groups", required_argument, NULL, O_GROUPS},
    {"act", required_argument, NULL, O_ACT},
    {"clamp", required_argument, NULL, O_CLAMP},
    {"neg-multiplier", required_argument, NULL, O_NMULT},
    {"neg-shift", required_argument, NULL, O_NSHIFT},
    {"pool", required_argument, NULL, O_POOL},
    {"layout", required_argument, NULL, O_LAYOUT},
    {"stats", no_argument, NULL, O_STATS},
    {"output", required_argument, NULL, O_OUTPUT},
    {"trace", required_argument, NULL, O_TRACE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct conv_args {
    const char *device;
    const char *x, *w, *b, *m, *s, *mn, *sn, *y;
    bool have_izp, have_ozp;
    long izp, ozp;
    long stride[2], pad[4], dil[2], groups;
    cbr_act act;
    bool has_clamp;
    long clamp[2];
    cbr_pool pool;
    cbr_layout layout;
    bool stats;
    const char *trace;
};

static bool parse_pool(const char *s, cbr_pool *p)
{
    memset(p, 0, sizeof *p);
    if (!strcmp(s, "gavg")) {
        p->kind = CBR_POOL_GAVG;
        return true;
    }
    const char *rest;
    if (!strncmp(s, "max:", 4)) {
        p->kind = CBR_POOL_MAX;
        rest = s + 4;
    } else if (!strncmp(s, "avg:", 4)) {
        p->kind = CBR_POOL_AVG;
        rest = s + 4;
    } else {
        cli_error("--pool: '%s' is not max:K:S[:P], avg:K:S[:P] or gavg", s);
        return false;
    }
    long v[3] = {0, 0, 0};
    int n = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", rest);
    for (char *tok = buf, *next; tok; tok = next, n++) {
        next = strchr(tok, ':');
        if (next)
            *next++ = '\0';
        if (n == 3) {
            cli_error("--pool: '%s' has too many fields (max:K:S[:P])", s);
            return false;
        }
        static const char *const what[] = {"--pool window K", "--pool stride S",
                                           "--pool padding P"};
        if (!cli_parse_int(what[n], tok, n == 2 ? 0 : 1, CBR_MAX_DIM, &v[n]))
            return false;
    }
    if (n < 2) {
        cli_error("--pool: '%s' needs a window and a stride (%s:K:S[:P])", s,
                  p->kind == CBR_POOL_MAX ? "max" : "avg");
        return false;
    }
    p->kh = p->kw = (uint32_t)v[0];
    p->stride_h = p->stride_w = (uint32_t)v[1];
    p->pad_top = p->pad_left = p->pad_bottom = p->pad_right = (uint32_t)v[2];
    return true;
}

/* Returns 0 to go on, or an exit code (also 0 with *done set for --help). */
static int parse_args(int argc, char **argv, struct conv_args *a, bool *done)
{
    memset(a, 0, sizeof *a);
    a->stride[0] = a->stride[1] = 1;
    a->dil[0] = a->dil[1] = 1;
    a->groups = 1;
    a->act = CBR_ACT_NONE;
    a->layout = CBR_LAYOUT_NCHW;
    *done = false;

    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":d:h", conv_options, NULL)) != -1) {
        switch (c) {
        case 'd': a->device = optarg; break;
        case O_INPUT: a->x = optarg; break;
        case O_WEIGHTS: a->w = optarg; break;
        case O_BIAS: a->b = optarg; break;
        case O_MULT: a->m = optarg; break;
        case O_SHIFT: a->s = optarg; break;
        case O_NMULT: a->mn = optarg; break;
        case O_NSHIFT: a->sn = optarg; break;
        case O_OUTPUT: a->y = optarg; break;
        case O_IZP:
            /* The range depends on the input's dtype; checked once X is loaded. */
            if (!cli_parse_int("--input-zp", optarg, -128, 255, &a->izp))
                return EXIT_USAGE;
            a->have_izp = true;
            break;
        case O_OZP:
            if (!cli_parse_int("--output-zp", optarg, -128, 127, &a->ozp))
                return EXIT_USAGE;
            a->have_ozp = true;
            break;
        case O_STRIDE:
            if (!cli_parse_list("--stride", optarg, 1, CBR_MAX_DIM, 2, a->stride, NULL))
                return EXIT_USAGE;
            break;
        case O_PAD:
            if (!cli_parse_list("--pad", optarg, 0, CBR_MAX_DIM, 4, a->pad, NULL))
                return EXIT_USAGE;
            break;
        case O_DIL:
            if (!cli_parse_list("--dilation", optarg, 1, CBR_MAX_DIM, 2, a->dil, NULL))
                return EXIT_USAGE;
            break;
        case O_GROUPS:
            if (!cli_parse_int("--groups", optarg, 1, CBR_MAX_DIM, &a->groups))
                return EXIT_USAGE;
            break;
        case O_ACT:
            if (!strcmp(optarg, "none")) a->act = CBR_ACT_NONE;
            else if (!strcmp(optarg, "relu")) a->act = CBR_ACT_RELU;
            else if (!strcmp(optarg, "relu6")) a->act = CBR_ACT_RELU6;
            else if (!strcmp(optarg, "leaky")) a->act = CBR_ACT_LEAKY;
            else {
                cli_error("--act: '%s' is not none, relu, relu6 or leaky", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_CLAMP: {
            int n;
            if (!cli_parse_list("--clamp", optarg, -128, 127, 2, a->clamp, &n))
                return EXIT_USAGE;
            if (n != 2) {
                cli_error("--clamp: '%s' must be MIN,MAX", optarg);
                return EXIT_USAGE;
            }
            if (a->clamp[0] > a->clamp[1]) {
                cli_error("--clamp: MIN %ld is greater than MAX %ld", a->clamp[0], a->clamp[1]);
                return EXIT_USAGE;
            }
            a->has_clamp = true;
            break;
        }
        case O_POOL:
            if (!parse_pool(optarg, &a->pool))
                return EXIT_USAGE;
            break;
        case O_LAYOUT:
            if (!strcmp(optarg, "nchw")) a->layout = CBR_LAYOUT_NCHW;
            else if (!strcmp(optarg, "nhwc")) a->layout = CBR_LAYOUT_NHWC;
            else {
                cli_error("--layout: '%s' is not nchw or nhwc", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_STATS: a->stats = true; break;
        case O_TRACE: a->trace = optarg; break;
        case 'h':
            fputs(conv_usage, stdout);
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
    struct { const void *v; const char *opt; } req[] = {
        {a->x, "--input"}, {a->w, "--weights"}, {a->b, "--bias"}, {a->m, "--multiplier"},
        {a->s, "--shift"}, {a->have_izp ? "" : NULL, "--input-zp"},
        {a->have_ozp ? "" : NULL, "--output-zp"}, {a->y, "--output"},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (!req[i].v) {
            cli_error("missing %s (see --help)", req[i].opt);
            return EXIT_USAGE;
        }
    }
    if (a->act == CBR_ACT_LEAKY && (!a->mn || !a->sn)) {
        cli_error("--act leaky needs --neg-multiplier and --neg-shift");
        return EXIT_USAGE;
    }
    if (a->act != CBR_ACT_LEAKY && (a->mn || a->sn)) {
        cli_error("%s is only used with --act leaky", a->mn ? "--neg-multiplier" : "--neg-shift");
        return EXIT_USAGE;
    }
    if (a->act == CBR_ACT_RELU6 && !a->has_clamp) {
        cli_error("--act relu6 needs --clamp MIN,MAX in integer mode "
                  "(MAX = output zero point + round(6 / output scale))");
        return EXIT_USAGE;
    }
    return 0;
}

static void shape_str(const cbr_tensor *t, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (uint32_t i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%" PRIu64, i ? ", " : "", t->shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, t->ndim == 1 ? ",)" : ")");
}

/* Load an .npy file and check its dtype and number of dimensions. */
static int load(const char *path, const char *opt, cbr_dtype want, bool uint8_ok,
                uint32_t ndim, cbr_tensor **t)
{
    if (cbr_npy_load(path, t) < 0) {
        cli_error("%s: %s", opt, cbr_errmsg(NULL));
        return -1;
    }
    bool ok = (*t)->dtype == want || (uint8_ok && (*t)->dtype == CBR_DTYPE_UINT8);
    if (!ok) {
        cli_error("%s: %s holds %s; expected %s%s", opt, path, cbr_dtype_name((*t)->dtype),
                  cbr_dtype_name(want), uint8_ok ? " or uint8" : "");
        goto out_free;
    }
    if ((*t)->ndim != ndim) {
        char s[128];
        shape_str(*t, s, sizeof s);
        cli_error("%s: %s has shape %s; expected %u dimensions", opt, path, s, ndim);
        goto out_free;
    }
    return 0;
out_free:
    cbr_tensor_free(*t);
    *t = NULL;
    return -1;
}

/* A per-channel int32 vector of O entries. */
static int load_vec(const char *path, const char *opt, uint64_t o, cbr_tensor **t)
{
    if (load(path, opt, CBR_DTYPE_INT32, false, 1, t) < 0)
        return -1;
    if ((*t)->shape[0] != o) {
        cli_error("%s: %s has %" PRIu64 " entries; expected one per output channel, %" PRIu64
                  " (from the weights)", opt, path, (*t)->shape[0], o);
        cbr_tensor_free(*t);
        *t = NULL;
        return -1;
    }
    return 0;
}

/*
 * Which option or file a library message about the layer concerns: the message starts with
 * the name of the field at fault (cbr_layer_check's convention).
 */
static const char *blame(const struct conv_args *a, const char *msg)
{
    static const struct { const char *field; int which; } map[] = {
        {"neg_multiplier", 7}, {"neg_shift", 8}, {"weights", 1}, {"kh", 1}, {"kw", 1},
        {"kernel", 1}, {"reduction", 1}, {"out_c", 1}, {"bias", 2}, {"multiplier", 3},
        {"shift", 4}, {"in_c", 0}, {"in_h", 0}, {"in_w", 0}, {"input_zp", 10},
        {"output_zp", 11}, {"stride", 12}, {"pad", 13}, {"dilation", 14}, {"groups", 15},
        {"clamp", 16}, {"relu6", 16}, {"act", 17}, {"activation", 16}, {"pool", 18},
        {"conv output", 19}, {"pooled output", 18}, {"the activation range", 20},
    };
    const char *names[] = {
        a->x, a->w, a->b, a->m, a->s, NULL, NULL, a->mn, a->sn, NULL, "--input-zp",
        "--output-zp", "--stride", "--pad", "--dilation", "--groups", "--clamp", "--act",
        "--pool", "--input/--weights/--stride/--pad/--dilation", "--act/--output-zp/--clamp",
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].field);
        /* A whole word or a suffixed field ("pad" covers "pad_top", not "padding"). */
        if (!strncmp(msg, map[i].field, n) && !(msg[n] >= 'a' && msg[n] <= 'z'))
            return names[map[i].which];
    }
    return "layer";
}

static void print_stats(const cbr_device_info *info, const cbr_stats *st)
{
    printf("device:            %s (%s)\n", info->uri, info->name);
    printf("MACs:              %" PRIu64 "\n", st->macs);
    printf("tiles:             %u\n", st->tiles);
    printf("bytes compulsory:  %" PRIu64 "\n", st->bytes_compulsory);
    printf("host time:         %.3f ms (libcbr%s)\n", st->host_seconds * 1e3,
           st->array_rows ? "" : ": the golden model");
    if (st->model_seconds > 0)
        printf("model time:        %.3f ms (the simulated board's model)\n",
               st->model_seconds * 1e3);
    if (!st->array_rows) {
        printf("cycles:            not counted by this device\n");
        return;
    }
    printf("bytes to device:   %" PRIu64 "\n", st->bytes_to_device);
    printf("bytes from device: %" PRIu64 "\n", st->bytes_from_device);
    /* the simulator counts cycles; a real link gives the wall time in device cycles */
    printf("cycles:            %" PRIu64 "\n", st->cycles);
    if (info->features & CBR_FEAT_COUNTERS) {
        printf("core cycles:       %" PRIu64 "\n", st->core_cycles);
        printf("array-busy cycles: %" PRIu64 "\n", st->busy_cycles);
        printf("link-stall cycles: %" PRIu64 "\n", st->link_stall_cycles);
    } else if (info->features & CBR_FEAT_CYCLES) {
        /* the cycle counters only (the iCEBreaker image): no busy cycles */
        printf("core cycles:       %" PRIu64 "\n", st->core_cycles);
        printf("array-busy cycles: not counted by this device (cycle counters only)\n");
        printf("link-stall cycles: %" PRIu64 "\n", st->link_stall_cycles);
    } else {
        printf("core cycles:       not counted by this device (no counters)\n");
    }
    printf("utilization:       %.1f%% of %ux%u\n", 100.0 * cbr_stats_utilization(st),
           st->array_rows, st->array_cols);
}

int cmd_conv(int argc, char **argv)
{
    struct conv_args a;
    bool done;
    cli_prog = "cbr conv";
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;

    cbr_tensor *x = NULL, *w = NULL, *b = NULL, *m = NULL, *s = NULL, *mn = NULL, *sn = NULL;
    cbr_tensor *y = NULL;
    cbr_device *dev = NULL;
    cbr_layer *layer = NULL;
    rc = EXIT_RUN;

    if (load(a.x, "--input", CBR_DTYPE_INT8, true, 4, &x) < 0 ||
        load(a.w, "--weights", CBR_DTYPE_INT8, false, 4, &w) < 0)
        goto out;
    uint64_t o = w->shape[0];
    if (load_vec(a.b, "--bias", o, &b) < 0 || load_vec(a.m, "--multiplier", o, &m) < 0 ||
        load_vec(a.s, "--shift", o, &s) < 0)
        goto out;
    if (a.mn && (load_vec(a.mn, "--neg-multiplier", o, &mn) < 0 ||
                 load_vec(a.sn, "--neg-shift", o, &sn) < 0))
        goto out;

    /* uint8 activations map onto int8 exactly: subtract 128 from values and zero point. */
    long izp = a.izp;
    if (x->dtype == CBR_DTYPE_UINT8 && izp < 0) {
        cli_error("--input-zp: %ld is out of range [0, 255] for uint8 input %s", izp, a.x);
        rc = EXIT_USAGE;
        goto out;
    }
    if (x->dtype == CBR_DTYPE_UINT8) {
        uint8_t *u = x->data;
        for (uint64_t i = 0; i < x->count; i++)
            ((int8_t *)x->data)[i] = (int8_t)(u[i] - 128);
        x->dtype = CBR_DTYPE_INT8;
        izp -= 128;
    } else if (izp > 127) {
        cli_error("--input-zp: %ld is out of range [-128, 127] for int8 input %s", izp, a.x);
        rc = EXIT_USAGE;
        goto out;
    }

    uint64_t n = x->shape[0];
    uint64_t xc = a.layout == CBR_LAYOUT_NCHW ? x->shape[1] : x->shape[3];
    uint64_t xh = a.layout == CBR_LAYOUT_NCHW ? x->shape[2] : x->shape[1];
    uint64_t xw = a.layout == CBR_LAYOUT_NCHW ? x->shape[3] : x->shape[2];
    if (n > CBR_MAX_DIM || xc > CBR_MAX_DIM || xh > CBR_MAX_DIM || xw > CBR_MAX_DIM ||
        o > CBR_MAX_DIM) {
        cli_error("--input: %s is larger than the limit of %d per dimension", a.x, CBR_MAX_DIM);
        goto out;
    }
    if (xc % (uint64_t)a.groups) {
        cli_error("--groups: %ld does not divide the %" PRIu64 " input channels of %s",
                  a.groups, xc, a.x);
        rc = EXIT_USAGE;
        goto out;
    }
    if (w->shape[1] != xc / (uint64_t)a.groups) {
        cli_error("--weights: %s has %" PRIu64 " input channels per group (dimension 1); "
                  "%s has %" PRIu64 " channels in %ld group(s), so expected %" PRIu64,
                  a.w, w->shape[1], a.x, xc, a.groups, xc / (uint64_t)a.groups);
        goto out;
    }
    if (w->shape[2] > CBR_MAX_KERNEL || w->shape[3] > CBR_MAX_KERNEL) {
        cli_error("--weights: %s has a %" PRIu64 "x%" PRIu64 " kernel; the largest is %dx%d",
                  a.w, w->shape[2], w->shape[3], CBR_MAX_KERNEL, CBR_MAX_KERNEL);
        goto out;
    }

    cbr_layer_desc d = {
        .in_c = (uint32_t)xc, .in_h = (uint32_t)xh, .in_w = (uint32_t)xw,
        .out_c = (uint32_t)o, .kh = (uint32_t)w->shape[2], .kw = (uint32_t)w->shape[3],
        .stride_h = (uint32_t)a.stride[0], .stride_w = (uint32_t)a.stride[1],
        .dilation_h = (uint32_t)a.dil[0], .dilation_w = (uint32_t)a.dil[1],
        .pad_top = (uint32_t)a.pad[0], .pad_left = (uint32_t)a.pad[1],
        .pad_bottom = (uint32_t)a.pad[2], .pad_right = (uint32_t)a.pad[3],
        .groups = (uint32_t)a.groups,
        .input_zp = (int32_t)izp, .output_zp = (int32_t)a.ozp,
        .act = a.act, .has_clamp = a.has_clamp,
        .clamp_min = (int32_t)a.clamp[0], .clamp_max = (int32_t)a.clamp[1],
        .pool = a.pool, .layout = a.layout,
        .weights = w->data, .bias = b->data, .multiplier = m->data, .shift = s->data,
        .neg_multiplier = mn ? mn->data : NULL, .neg_shift = sn ? sn->data : NULL,
    };

    if (a.trace && setenv("CBR_TRACE", a.trace, 1) != 0) {
        cli_error("--trace: cannot set CBR_TRACE");
        goto out;
    }
    if (cbr_device_open(&dev, a.device) < 0) {
        cli_error("-d: %s", cbr_errmsg(NULL));
        goto out;
    }
    if (cbr_layer_create(dev, &d, &layer) < 0) {
        cli_error("%s: %s", blame(&a, cbr_errmsg(dev)), cbr_errmsg(dev));
        goto out;
    }
    cbr_shape os;
    cbr_layer_output_shape(layer, (uint32_t)n, &os);
    uint64_t yshape[4] = {os.n, os.c, os.h, os.w};
    if (a.layout == CBR_LAYOUT_NHWC) {
        yshape[1] = os.h;
        yshape[2] = os.w;
        yshape[3] = os.c;
    }
    if (cbr_tensor_create(&y, CBR_DTYPE_INT8, 4, yshape) < 0) {
        cli_error("--output: %s", cbr_errmsg(NULL));
        goto out;
    }
    cbr_stats st;
    if (cbr_layer_run(layer, (uint32_t)n, x->data, y->data, &st) < 0) {
        cli_error("running on %s: %s", a.device ? a.device : cbr_default_device(),
                  cbr_errmsg(dev));
        goto out;
    }
    if (cbr_npy_save(a.y, y) < 0) {
        cli_error("--output: %s", cbr_errmsg(NULL));
        goto out;
    }
    if (a.stats) {
        cbr_device_info info;
        cbr_device_get_info(dev, &info);
        print_stats(&info, &st);
    }
    rc = 0;
out:
    cbr_layer_destroy(layer);
    cbr_device_close(dev);
    cbr_tensor_free(x);
    cbr_tensor_free(w);
    cbr_tensor_free(b);
    cbr_tensor_free(m);
    cbr_tensor_free(s);
    cbr_tensor_free(mn);
    cbr_tensor_free(sn);
    cbr_tensor_free(y);
    return rc;
}
