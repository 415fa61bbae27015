/*
 * dev_cpu.c - the "cpu" device: the golden model on the host.
 *
 * It is the reference every other device is compared with, and the device of last resort:
 * always present, no limits beyond the API's. It counts MACs and compulsory bytes but has no
 * cycles, so utilization is not defined for it.
 */
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "golden.h"

static int cpu_open(cbr_device *dev, const char *args, char *errmsg, size_t len)
{
    if (*args) {
        snprintf(errmsg, len, "the cpu device takes no arguments (got '%s')", args);
        return CBR_EINVAL;
    }
    cbr_device_info *in = &dev->info;
    snprintf(in->uri, sizeof in->uri, "cpu");
    snprintf(in->name, sizeof in->name, "golden model (cpu)");
    in->max_kernel = CBR_MAX_KERNEL;
    in->features = CBR_FEAT_LEAKY | CBR_FEAT_MAXPOOL | CBR_FEAT_AVGPOOL |
                   CBR_FEAT_DEPTHWISE | CBR_FEAT_DILATION;
    return 0;
}

static void cpu_close(cbr_device *dev)
{
    (void)dev;
}

static int cpu_run(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                   int8_t *output, cbr_stats *stats, char *errmsg, size_t len)
{
    (void)dev;
    int rc = cbr_golden_layer(&l->desc, n, input, output);
    if (rc < 0) {
        snprintf(errmsg, len, "%s", cbr_thread_errbuf());
        return rc;
    }
    stats->macs = cbr_layer_macs(l, n);
    stats->bytes_compulsory = cbr_layer_compulsory_bytes(l, n);
    stats->tiles = 1;
    return 0;
}

const struct cbr_backend cbr_backend_cpu = {
    .scheme = "cpu",
    .usage = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .run = cpu_run,
};
