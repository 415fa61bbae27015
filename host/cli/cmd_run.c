/*
 * cmd_run.c - `cbr run`: run a model (ONNX, or a quantization file naming one) on .npy
 * input: int8 on a device, or the float reference on the host. docs/models.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char run_usage[] =
    "usage: cbr run [-d DEV] MODEL [--input X.npy] [--calibrate S.npy] [--save Q.cbrq]\n"
    "               [--output Y.npy] [--int8] [--float] [--stats]\n"
    "\n"
    "Run a model: its conv blocks in int8 on the device, the rest on the host (docs/models.md).\n"
    "MODEL is an ONNX file, or a quantization file written by --save (it names the ONNX file\n"
    "and holds the calibrated activation ranges, so the run needs no --calibrate). A quantized\n"
    "ONNX graph (QLinearConv, QuantizeLinear / DequantizeLinear around Conv) brings its own\n"
    "scales and zero points and needs no --calibrate either.\n"
    "\n"
    "  -d, --device DEV   device URI (default: $CBR_DEVICE, else the build's default;\n"
    "                     see `cbr devices`)\n"
    "  --input X.npy      float32 (N, C, H, W): the model's input sample shape with a batch\n"
    "  --calibrate S.npy  float32 samples like X: run the float model on them and record\n"
    "                     every activation's range (a float model needs this once)\n"
    "  --save Q.cbrq      write the ranges (with --calibrate, or those MODEL brought) to a\n"
    "                     quantization file; later runs take Q.cbrq as MODEL\n"
    "  --output Y.npy     float32 (N, ...) of the graph's output, dequantized; int8 with\n"
    "                     --int8. Written only when the whole run succeeded\n"
    "  --int8             write the int8 values of the output instead\n"
    "  --float            run the float model on the host instead (the reference that\n"
    "                     calibration uses); needs no ranges\n"
    "  --stats            per step: where it ran, MACs, cycles, utilization, bytes, and\n"
    "                     kept: in / out when the step's input / output stayed on the\n"
    "                     board (consecutive device steps run as one job, and a tensor\n"
    "                     that only the next step reads stays there where it fits)\n"
    "  -h, --help         this text\n"
    "\n"
    "Without --output the output's shape and, for (N, K) outputs, each sample's argmax are\n"
    "printed. A progress bar shows on long runs when stderr is a terminal.\n"
    "Exit status: 0 on success, 1 when loading or running failed, 2 for a usage error.\n";

enum { O_INPUT = 256, O_CALIB, O_SAVE, O_OUTPUT, O_INT8, O_FLOAT, O_STATS };

static const struct option run_options[] = {
    {"device", required_argument, NULL, 'd'},
    {"input", required_argument, NULL, O_INPUT},
    {"calibrate", required_argument, NULL, O_CALIB},
    {"save", required_argument, NULL, O_SAVE},
    {"output", required_argument, NULL, O_OUTPUT},
    {"int8", no_argument, NULL, O_INT8},
    {"float", no_argument, NULL, O_FLOAT},
    {"stats", no_argument, NULL, O_STATS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct run_args {
    const char *device, *model, *x, *calib, *save, *y;
    bool int8, use_float, stats;
};

static int parse_args(int argc, char **argv, struct run_args *a, bool *done)
{
    memset(a, 0, sizeof *a);
    *done = false;
    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":d:h", run_options, NULL)) != -1) {
        switch (c) {
        case 'd': a->device = optarg; break;
        case O_INPUT: a->x = optarg; break;
        case O_CALIB: a->calib = optarg; break;
        case O_SAVE: a->save = optarg; break;
        case O_OUTPUT: a->y = optarg; break;
        case O_INT8: a->int8 = true; break;
        case O_FLOAT: a->use_float = true; break;
        case O_STATS: a->stats = true; break;
        case 'h':
            fputs(run_usage, stdout);
            *done = true;
            return 0;
        default:
            cli_bad_option(c, argv);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("no MODEL given (see --help)");
        return EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        cli_error("unexpected argument '%s' after MODEL (see --help)", argv[optind + 1]);
        return EXIT_USAGE;
    }
    a->model = argv[optind];
    if (a->int8 && a->use_float) {
        cli_error("--int8 and --float exclude each other (the float model has no int8 output)");
        return EXIT_USAGE;
    }
    if (!a->x && !a->save) {
        cli_error("nothing to do: give --input X.npy, or --calibrate S.npy --save Q.cbrq");
        return EXIT_USAGE;
    }
    if (!a->x && (a->y || a->int8 || a->use_float || a->stats)) {
        cli_error("--output, --int8, --float and --stats need --input");
        return EXIT_USAGE;
    }
    return 0;
}

/* The progress bar on stderr. */
static void progress(void *user, uint64_t done, uint64_t total)
{
    const char *what = user;
    int width = 30, fill = total ? (int)(done * (uint64_t)width / total) : width;
    fprintf(stderr, "\r%-9s [%.*s%*s] %" PRIu64 "/%" PRIu64, what, fill,
            "##############################", width - fill, "", done, total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int load_f32(const char *path, const char *opt, cbr_tensor **t)
{
    if (cbr_npy_load(path, t) < 0) {
        cli_error("%s %s: %s", opt, path, cbr_errmsg(NULL));
        return -1;
    }
    if ((*t)->dtype != CBR_DTYPE_FLOAT32) {
        cli_error("%s %s: dtype %s; float32 (N, C, H, W) is expected", opt, path,
                  cbr_dtype_name((*t)->dtype));
        cbr_tensor_free(*t);
        *t = NULL;
        return -1;
    }
    return 0;
}

/* X must be (N)+ the model's input sample shape: say so naming the file, before any run. */
static int check_shape(const cbr_model *m, const char *model, const char *opt,
                       const char *path, const cbr_tensor *t)
{
    uint32_t nd;
    uint64_t want[CBR_TENSOR_MAX_DIMS];
    if (cbr_model_input_shape(m, &nd, want) < 0) {
        cli_error("%s", cbr_errmsg(NULL));
        return -1;
    }
    bool ok = t->ndim == nd + 1 && t->shape[0] >= 1;
    for (uint32_t i = 0; ok && i < nd; i++)
        ok = t->shape[i + 1] == want[i];
    if (ok)
        return 0;
    char got[160] = "", exp[160] = "";
    size_t o = 0;
    for (uint32_t i = 0; i < t->ndim && o < sizeof got; i++)
        o += (size_t)snprintf(got + o, sizeof got - o, "%s%" PRIu64, i ? ", " : "",
                              t->shape[i]);
    o = 0;
    for (uint32_t i = 0; i < nd && o < sizeof exp; i++)
        o += (size_t)snprintf(exp + o, sizeof exp - o, ", %" PRIu64, want[i]);
    cli_error("%s %s: shape (%s); the model %s takes float32 (N%s)", opt, path, got, model,
              exp);
    return -1;
}

static void print_stats(const cbr_model *m)
{
    printf("%-24s %-44s %-6s %12s %12s %7s %12s %12s %6s\n", "step", "operators", "where",
           "MACs", "cycles", "util", "bytes_to", "bytes_from", "kept");
    cbr_stats tot = {0};
    for (uint32_t i = 0; i < cbr_model_layer_count(m); i++) {
        cbr_model_layer l;
        if (cbr_model_layer_info(m, i, &l) < 0)
            continue;
        if (!l.on_device) {
            printf("%-24.24s %-44.44s %-6s\n", l.name, l.ops, "host");
            continue;
        }
        printf("%-24.24s %-44.44s %-6s %12" PRIu64 " %12" PRIu64 " %6.1f%% %12" PRIu64
               " %12" PRIu64 " %6s\n", l.name, l.ops, "device", l.stats.macs, l.stats.cycles,
               100.0 * cbr_stats_utilization(&l.stats), l.stats.bytes_to_device,
               l.stats.bytes_from_device,
               cli_kept_text(l.stats.resident));
        tot.macs += l.stats.macs;
        tot.cycles += l.stats.cycles;
        tot.bytes_to_device += l.stats.bytes_to_device;
        tot.bytes_from_device += l.stats.bytes_from_device;
        if (l.stats.array_rows) {
            tot.array_rows = l.stats.array_rows;
            tot.array_cols = l.stats.array_cols;
        }
    }
    printf("%-24s %-44s %-6s %12" PRIu64 " %12" PRIu64 " %6.1f%% %12" PRIu64 " %12" PRIu64
           "\n", "total", "", "", tot.macs, tot.cycles, 100.0 * cbr_stats_utilization(&tot),
           tot.bytes_to_device, tot.bytes_from_device);
}

static void print_summary(const cbr_tensor *y)
{
    printf("output (");
    for (uint32_t i = 0; i < y->ndim; i++)
        printf("%s%" PRIu64, i ? ", " : "", y->shape[i]);
    printf(") %s\n", cbr_dtype_name(y->dtype));
    if (y->ndim != 2)
        return;
    uint64_t n = y->shape[0], k = y->shape[1];
    for (uint64_t i = 0; i < n && i < 20; i++) {
        uint64_t best = 0;
        for (uint64_t j = 1; j < k; j++) {
            double a = y->dtype == CBR_DTYPE_INT8 ? ((int8_t *)y->data)[i * k + j]
                                                  : ((float *)y->data)[i * k + j];
            double b = y->dtype == CBR_DTYPE_INT8 ? ((int8_t *)y->data)[i * k + best]
                                                  : ((float *)y->data)[i * k + best];
            if (a > b)
                best = j;
        }
        printf("sample %" PRIu64 ": argmax %" PRIu64 "\n", i, best);
    }
    if (n > 20)
        printf("... (%" PRIu64 " samples)\n", n);
}

int cmd_run(int argc, char **argv)
{
    struct run_args a;
    bool done;
    cli_prog = "cbr run";
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;

    cbr_model *m = NULL;
    cbr_tensor *x = NULL, *s = NULL, *y = NULL;
    cbr_device *dev = NULL;
    rc = EXIT_RUN;
    const bool tty = isatty(STDERR_FILENO);

    if (cbr_model_load(&m, a.model) < 0) {
        cli_error("%s", cbr_errmsg(NULL));
        goto out;
    }
    if (a.calib) {
        if (load_f32(a.calib, "--calibrate", &s) < 0 ||
            check_shape(m, a.model, "--calibrate", a.calib, s) < 0)
            goto out;
        cbr_model_set_progress(m, tty && s->shape[0] > 64 ? progress : NULL,
                               (void *)"calibrate");
        if (cbr_model_calibrate(m, s) < 0) {
            cli_error("--calibrate %s: %s", a.calib, cbr_errmsg(NULL));
            goto out;
        }
    }
    if (a.save) {
        if (!cbr_model_is_quantized(m)) {
            cli_error("--save %s: the model has no ranges to save; give --calibrate S.npy",
                      a.save);
            rc = EXIT_USAGE;
            goto out;
        }
        if (cbr_model_save(m, a.save) < 0) {
            cli_error("--save %s: %s", a.save, cbr_errmsg(NULL));
            goto out;
        }
    }
    if (!a.x) {
        rc = 0;
        goto out;
    }
    if (load_f32(a.x, "--input", &x) < 0 || check_shape(m, a.model, "--input", a.x, x) < 0)
        goto out;
    cbr_model_set_progress(m, tty && x->shape[0] > 64 ? progress : NULL, (void *)"run");
    if (a.use_float) {
        if (cbr_model_run_float(m, x, &y) < 0) {
            cli_error("--input %s: %s", a.x, cbr_errmsg(NULL));
            goto out;
        }
    } else {
        if (!cbr_model_is_quantized(m)) {
            cli_error("%s: a float model needs activation ranges for the int8 run: add "
                      "--calibrate S.npy (samples like the input), and --save Q.cbrq to keep "
                      "them for later runs (cbr run Q.cbrq ...); or --float for the float "
                      "model", a.model);
            goto out;
        }
        const char *uri = a.device ? a.device : cbr_default_device();
        if (cbr_device_open(&dev, uri) < 0) {
            cli_error("-d %s: %s", uri, cbr_errmsg(NULL));
            goto out;
        }
        if (cbr_model_run(m, dev, x, a.int8, &y) < 0) {
            cli_error("%s", cbr_errmsg(NULL));
            goto out;
        }
    }
    if (a.y) {
        if (cbr_npy_save(a.y, y) < 0) {
            cli_error("--output %s: %s", a.y, cbr_errmsg(NULL));
            goto out;
        }
    } else {
        print_summary(y);
    }
    if (a.stats) {
        if (a.use_float)
            printf("--stats: the float model runs on the host; no device steps\n");
        else
            print_stats(m);
    }
    rc = 0;
out:
    cbr_tensor_free(y);
    cbr_tensor_free(x);
    cbr_tensor_free(s);
    cbr_model_free(m);
    cbr_device_close(dev);
    return rc;
}
