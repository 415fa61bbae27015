/* cmd_info.c - `cbr devices` and `cbr info`: what can be opened, and what a device reports. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_info(const cbr_device_info *in)
{
    static const struct { uint32_t bit; const char *name; } feats[] = {
        {CBR_FEAT_LEAKY, "leaky"}, {CBR_FEAT_MAXPOOL, "maxpool"},
        {CBR_FEAT_AVGPOOL, "avgpool"}, {CBR_FEAT_DEPTHWISE, "groups"},
        {CBR_FEAT_DILATION, "dilation"}, {CBR_FEAT_COUNTERS, "counters"},
        {CBR_FEAT_SCATTER, "scatter"}, {CBR_FEAT_DWMODE, "depthwise-mode"},
        {CBR_FEAT_CYCLES, "cycle-counters"}, {CBR_FEAT_DONES, "overlapped-tiles"},
        {CBR_FEAT_QUEUE2, "start-queue-2"}, {CBR_FEAT_COPY, "buffer-copy"},
        {CBR_FEAT_RUN_CHECK, "checked-run"},
    };
    printf("device:          %s\n", in->uri);
    printf("kind:            %s\n", in->name);
    if (in->rows)
        printf("array:           %ux%u PEs\n", in->rows, in->cols);
    else
        printf("array:           none (runs on the host)\n");
    struct { const char *label; uint32_t v; const char *unit; } rows[] = {
        {"activation buf", in->act_buf_bytes, "bytes"},
        {"weight buf", in->wgt_buf_bytes, "bytes"},
        {"output buf", in->out_buf_bytes, "bytes"},
        {"param entries", in->param_entries, "channels"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].v)
            printf("%-16s %u %s\n", rows[i].label, rows[i].v, rows[i].unit);
        else
            printf("%-16s unlimited\n", rows[i].label);
    }
    printf("max kernel:      %ux%u\n", in->max_kernel, in->max_kernel);
    printf("max stride:      %s", in->max_stride ? "" : "unlimited\n");
    if (in->max_stride)
        printf("%u\n", in->max_stride);
    printf("max dilation:    %s", in->max_dilation ? "" : "unlimited\n");
    if (in->max_dilation)
        printf("%u\n", in->max_dilation);
    printf("features:       ");
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        if (in->features & feats[i].bit)
            printf(" %s", feats[i].name);
    printf("\n");
    if (in->proto_version)
        printf("protocol:        %u\n", in->proto_version);
    if (in->clock_khz)
        printf("clock:           %.1f MHz\n", in->clock_khz / 1000.0);
}

static const char info_usage[] =
    "usage: cbr info [-d DEV]\n"
    "\n"
    "Open a device and print what it reports: array shape, buffer sizes, limits, features,\n"
    "protocol version and clock.\n"
    "\n"
    "  -d, --device DEV   device URI (default: $CBR_DEVICE, else the build's default)\n"
    "  -h, --help         this text\n";

static const char devices_usage[] =
    "usage: cbr devices\n"
    "\n"
    "List the devices this build can open now, one URI per line with what it is.\n";

static const struct option opts[] = {
    {"device", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_info(int argc, char **argv)
{
    const char *uri = NULL;
    cli_prog = "cbr info";
    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': uri = optarg; break;
        case 'h': fputs(info_usage, stdout); return 0;
        default: cli_bad_option(c, argv); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return EXIT_USAGE;
    }
    cbr_device *dev;
    if (cbr_device_open(&dev, uri) < 0) {
        cli_error("-d: %s", cbr_errmsg(NULL));
        return EXIT_RUN;
    }
    cbr_device_info info;
    cbr_device_get_info(dev, &info);
    print_info(&info);
    cbr_device_close(dev);
    return 0;
}

int cmd_devices(int argc, char **argv)
{
    cli_prog = "cbr devices";
    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts + 1, NULL)) != -1) {
        if (c == 'h') {
            fputs(devices_usage, stdout);
            return 0;
        }
        cli_bad_option(c, argv);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return EXIT_USAGE;
    }
    char uri[256];
    int rc = 0;
    for (size_t i = 0; cbr_device_list(i, uri, sizeof uri) == 0; i++) {
        cbr_device *dev;
        if (cbr_device_open(&dev, uri) < 0) {
            printf("%-24s unavailable: %s\n", uri, cbr_errmsg(NULL));
            rc = EXIT_RUN;
            continue;
        }
        cbr_device_info info;
        cbr_device_get_info(dev, &info);
        if (info.rows)
            printf("%-24s %s, %ux%u array\n", info.uri, info.name, info.rows, info.cols);
        else
            printf("%-24s %s\n", info.uri, info.name);
        cbr_device_close(dev);
    }
    return rc;
}
