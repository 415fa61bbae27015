/*
 * network.c - a network: a chain of layers run one after another, each layer's output the
 * next one's input. Consecutive layers on one device whose backend runs chains go to it as
 * one job, which keeps their intermediates on the device where they fit (docs/tiling.md,
 * "Networks"); the others stay on the host, in two buffers used in turn.
 */
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "errors.h"

struct cbr_network {
    cbr_layer **layers;
    uint32_t n_layers;
    size_t max_plane;        /* largest intermediate of one image, in elements */
    bool keep;               /* intermediates on the device where they fit */
};

int cbr_network_create(cbr_layer *const *layers, uint32_t n_layers, cbr_network **net)
{
    if (!net)
        return cbr_fail(CBR_EINVAL, "cbr_network_create: net is NULL");
    *net = NULL;
    if (!layers || n_layers == 0)
        return cbr_fail(CBR_EINVAL, "cbr_network_create: a network needs at least one layer");
    for (uint32_t i = 0; i < n_layers; i++)
        if (!layers[i])
            return cbr_fail(CBR_EINVAL, "cbr_network_create: layer %u is NULL", i);
    size_t max_plane = 0;
    for (uint32_t i = 0; i + 1 < n_layers; i++) {
        const cbr_layer *a = layers[i], *b = layers[i + 1];
        const cbr_layer_desc *da = &a->desc, *db = &b->desc;
        if (da->out_c != db->in_c || a->out_h != db->in_h || a->out_w != db->in_w)
            return cbr_fail(CBR_EINVAL, "layer %u: its input %ux%ux%u (CxHxW) is not layer "
                            "%u's output %ux%ux%u", i + 1, db->in_c, db->in_h, db->in_w, i,
                            da->out_c, a->out_h, a->out_w);
        if (da->output_zp != db->input_zp)
            return cbr_fail(CBR_EINVAL, "layer %u: input_zp %d differs from layer %u's "
                            "output_zp %d (they describe the same tensor)", i + 1,
                            db->input_zp, i, da->output_zp);
        if (da->layout != db->layout)
            return cbr_fail(CBR_EINVAL, "layer %u: layout differs from layer %u's (the "
                            "intermediate has one layout)", i + 1, i);
        size_t plane = (size_t)da->out_c * a->out_h * a->out_w;
        max_plane = plane > max_plane ? plane : max_plane;
    }
    cbr_network *n = calloc(1, sizeof *n);
    if (!n || !(n->layers = malloc(n_layers * sizeof *n->layers))) {
        free(n);
        return cbr_fail(CBR_ENOMEM, "cbr_network_create: out of memory");
    }
    memcpy(n->layers, layers, n_layers * sizeof *n->layers);
    n->n_layers = n_layers;
    n->max_plane = max_plane;
    n->keep = true;
    *net = n;
    return 0;
}

void cbr_network_destroy(cbr_network *net)
{
    if (!net)
        return;
    free(net->layers);
    free(net);
}

void cbr_stats_add(cbr_stats *t, const cbr_stats *s)
{
    t->macs += s->macs;
    t->cycles += s->cycles;
    t->core_cycles += s->core_cycles;
    t->busy_cycles += s->busy_cycles;
    t->stall_in_cycles += s->stall_in_cycles;
    t->stall_out_cycles += s->stall_out_cycles;
    t->link_stall_cycles += s->link_stall_cycles;
    t->bytes_to_device += s->bytes_to_device;
    t->bytes_from_device += s->bytes_from_device;
    t->bytes_compulsory += s->bytes_compulsory;
    t->tiles += s->tiles;
    t->bytes_ahead += s->bytes_ahead;
    t->host_seconds += s->host_seconds;
    t->model_seconds += s->model_seconds;
    if (s->array_rows) {
        t->array_rows = s->array_rows;
        t->array_cols = s->array_cols;
    }
}

int cbr_network_run(cbr_network *net, uint32_t n, const int8_t *input, int8_t *output,
                    cbr_stats *total, cbr_stats *per_layer)
{
    if (!net || !input || !output)
        return cbr_fail(CBR_EINVAL, "cbr_network_run: %s is NULL",
                        !net ? "net" : !input ? "input" : "output");
    if (n == 0)
        return cbr_fail(CBR_EINVAL, "cbr_network_run: the batch n is 0");
    if (total)
        memset(total, 0, sizeof *total);
    int8_t *buf[2] = {NULL, NULL};
    if (net->n_layers > 1) {
        if (net->max_plane > SIZE_MAX / n)
            return cbr_fail(CBR_ERANGE, "cbr_network_run: a batch of %u overflows memory", n);
        buf[0] = malloc(net->max_plane * n);
        buf[1] = net->n_layers > 2 ? malloc(net->max_plane * n) : NULL;
        if (!buf[0] || (net->n_layers > 2 && !buf[1])) {
            free(buf[0]);
            free(buf[1]);
            return cbr_fail(CBR_ENOMEM, "cbr_network_run: out of memory for intermediates");
        }
    }
    int rc = 0;
    const int8_t *in = input;
    for (uint32_t i = 0, k; i < net->n_layers; i += k) {
        /* the run of layers from i on the same device, if its backend runs chains */
        cbr_device *dev = net->layers[i]->dev;
        k = 1;
        while (dev->backend->run_chain && i + k < net->n_layers &&
               net->layers[i + k]->dev == dev)
            k++;
        const uint32_t last = i + k - 1;
        /* the buffer the input is not in (both exist once one holds an input) */
        int8_t *out = last + 1 == net->n_layers ? output : in == buf[0] ? buf[1] : buf[0];
        uint32_t failed = 0;
        cbr_stats one, *st = &one;
        const bool own = k > 1 && !per_layer; /* st allocated here */
        if (k > 1) {
            st = own ? calloc(k, sizeof *st) : per_layer + i;
            if (!st) {
                rc = cbr_fail(CBR_ENOMEM, "cbr_network_run: out of memory");
                break;
            }
            rc = cbr_chain_run(net->layers + i, k, n, in, out, net->keep, st, &failed);
        } else {
            rc = cbr_layer_run(net->layers[i], n, in, out, st);
            if (rc == 0 && per_layer)
                per_layer[i] = one;
        }
        for (uint32_t j = 0; rc == 0 && total && j < k; j++)
            cbr_stats_add(total, &st[j]);
        if (own)
            free(st);
        if (rc < 0) {
            cbr_fail(rc, "layer %u: %s", i + failed, cbr_errmsg(dev));
            break;
        }
        in = out;
    }
    free(buf[0]);
    free(buf[1]);
    return rc;
}

int cbr_network_keep_on_device(cbr_network *net, bool keep)
{
    if (!net)
        return cbr_fail(CBR_EINVAL, "cbr_network_keep_on_device: net is NULL");
    net->keep = keep;
    return 0;
}
