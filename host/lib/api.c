/*
 * api.c - devices, layers and jobs: the public face of libcbr.
 *
 * Validation happens once, in cbr_layer_create. Every run goes through the same path: a job
 * is queued on the device, the device's worker thread hands it to the backend, the caller
 * polls or waits. cbr_layer_run is submit + wait, so the synchronous and asynchronous paths
 * cannot drift apart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "golden.h"
#include "transport.h"

/* Backends compiled into this build, in the order the default device is chosen. */
static const struct cbr_backend *const backends[] = {
    &cbr_backend_sim,
    &cbr_backend_cpu,
    &cbr_backend_pcie,
    &cbr_backend_usb,
    &cbr_backend_serial,
};

#define N_BACKENDS (sizeof backends / sizeof backends[0])

int cbr_dev_fail(cbr_device *dev, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev->errmsg, sizeof dev->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *cbr_errmsg(const cbr_device *dev)
{
    return dev ? dev->errmsg : cbr_thread_errbuf();
}

const char *cbr_default_device(void)
{
    const char *env = getenv("CBR_DEVICE");
    if (env && *env)
        return env;
    return backends[0]->scheme;
}

/* ---- enumeration ------------------------------------------------------------------------ */

struct list_ctx {
    size_t want, seen;
    char *buf;
    size_t len;
    bool found;
};

static void list_emit(const char *uri, void *p)
{
    struct list_ctx *c = p;
    if (!c->found && c->seen++ == c->want) {
        snprintf(c->buf, c->len, "%s", uri);
        c->found = true;
    }
}

int cbr_device_list(size_t index, char *buf, size_t len)
{
    struct list_ctx c = {.want = index, .buf = buf, .len = len};
    if (!buf || len == 0)
        return cbr_fail(CBR_EINVAL, "cbr_device_list: no buffer");
    for (size_t i = 0; i < N_BACKENDS && !c.found; i++) {
        if (backends[i]->list)
            backends[i]->list(list_emit, &c);
        else
            list_emit(backends[i]->scheme, &c);
    }
    return c.found ? 0 : CBR_ENOENT;
}

/* ---- devices ---------------------------------------------------------------------------- */

static void *worker_main(void *arg);
static int open_backend(cbr_device **out, const struct cbr_backend *be, const char *args,
                        struct cbr_transport *tr, const char *uri);

int cbr_device_open(cbr_device **out, const char *uri)
{
    if (!out)
        return cbr_fail(CBR_EINVAL, "cbr_device_open: out is NULL");
    *out = NULL;
    if (!uri || !*uri)
        uri = cbr_default_device();

    const char *colon = strchr(uri, ':');
    size_t slen = colon ? (size_t)(colon - uri) : strlen(uri);
    const char *args = colon ? colon + 1 : "";

    const struct cbr_backend *be = NULL;
    for (size_t i = 0; i < N_BACKENDS; i++) {
        if (strlen(backends[i]->scheme) == slen && !strncmp(backends[i]->scheme, uri, slen))
            be = backends[i];
    }
    if (!be) {
        char kinds[256] = "";
        for (size_t i = 0; i < N_BACKENDS; i++) {
            size_t k = strlen(kinds);
            snprintf(kinds + k, sizeof kinds - k, "%s%s", i ? ", " : "", backends[i]->usage);
        }
        return cbr_fail(CBR_ENODEV, "device '%s': unknown kind of device (this build has: %s)",
                        uri, kinds);
    }

    return open_backend(out, be, args, NULL, uri);
}

int cbr_device_open_transport(cbr_device **out, struct cbr_transport *tr, const char *uri)
{
    *out = NULL;
    return open_backend(out, &cbr_backend_board, NULL, tr, uri);
}

/* Open dev with a backend: through its open(args), or, for a transport the caller made, the
 * board driver's open. On failure the transport is closed. */
static int open_backend(cbr_device **out, const struct cbr_backend *be, const char *args,
                        struct cbr_transport *tr, const char *uri)
{
    cbr_device *dev = calloc(1, sizeof *dev);
    if (!dev) {
        if (tr)
            tr->ops->close(tr);
        return cbr_fail(CBR_ENOMEM, "device '%s': out of memory", uri);
    }
    dev->backend = be;
    int rc = tr ? cbr_board_open(dev, tr, uri, dev->errmsg, sizeof dev->errmsg)
                : be->open(dev, args, dev->errmsg, sizeof dev->errmsg);
    if (rc < 0) {
        cbr_fail(rc, "device '%s': %s", uri, dev->errmsg);
        goto out_free_dev;
    }
    if (pthread_mutex_init(&dev->lock, NULL)) {
        rc = cbr_fail(CBR_ENOMEM, "device '%s': cannot create a mutex", uri);
        goto out_close;
    }
    if (pthread_cond_init(&dev->cond, NULL)) {
        rc = cbr_fail(CBR_ENOMEM, "device '%s': cannot create a condition variable", uri);
        goto out_destroy_lock;
    }
    if (!dev->info.uri[0])
        snprintf(dev->info.uri, sizeof dev->info.uri, "%s", uri);
    *out = dev;
    return 0;

out_destroy_lock:
    pthread_mutex_destroy(&dev->lock);
out_close:
    be->close(dev);
out_free_dev:
    free(dev);
    return rc;
}

void cbr_device_close(cbr_device *dev)
{
    if (!dev)
        return;
    pthread_mutex_lock(&dev->lock);
    /* Let queued jobs finish: their buffers belong to callers who may still wait on them. */
    while (dev->in_flight > 0)
        pthread_cond_wait(&dev->cond, &dev->lock);
    dev->stopping = true;
    pthread_cond_broadcast(&dev->cond);
    bool started = dev->worker_started;
    pthread_mutex_unlock(&dev->lock);
    if (started)
        pthread_join(dev->worker, NULL);
    pthread_cond_destroy(&dev->cond);
    pthread_mutex_destroy(&dev->lock);
    dev->backend->close(dev);
    free(dev);
}

int cbr_device_get_info(cbr_device *dev, cbr_device_info *info)
{
    if (!dev || !info)
        return cbr_fail(CBR_EINVAL, "cbr_device_get_info: NULL argument");
    *info = dev->info;
    return 0;
}

/* ---- layers ----------------------------------------------------------------------------- */

static void *dup_array(const void *src, size_t count, size_t size)
{
    void *p = malloc(count * size);
    if (p && src)
        memcpy(p, src, count * size);
    else if (p)
        memset(p, 0, count * size);
    return p;
}

uint64_t cbr_layer_macs(const cbr_layer *l, uint32_t n)
{
    const cbr_layer_desc *d = &l->desc;
    return (uint64_t)n * l->conv_oh * l->conv_ow * d->out_c * (d->in_c / d->groups) * d->kh *
           d->kw;
}

uint64_t cbr_layer_compulsory_bytes(const cbr_layer *l, uint32_t n)
{
    const cbr_layer_desc *d = &l->desc;
    uint64_t params = d->act == CBR_ACT_LEAKY ? 20 : 12; /* bias, M0, shift (+ leaky pair) */
    return (uint64_t)n * d->in_c * d->in_h * d->in_w +
           (uint64_t)d->out_c * (d->in_c / d->groups) * d->kh * d->kw +
           (uint64_t)d->out_c * params + (uint64_t)n * d->out_c * l->out_h * l->out_w;
}

/* Checks that need the device: its reported limits and features. */
static int check_device_limits(cbr_device *dev, const cbr_layer_desc *d)
{
    const cbr_device_info *in = &dev->info;
    const char *u = in->uri;
    if (in->max_kernel && (d->kh > in->max_kernel || d->kw > in->max_kernel))
        return cbr_dev_fail(dev, CBR_ENOTSUP, "kernel %ux%u exceeds the largest kernel of "
                            "device %s, %u", d->kh, d->kw, u, in->max_kernel);
    if (in->max_stride && (d->stride_h > in->max_stride || d->stride_w > in->max_stride))
        return cbr_dev_fail(dev, CBR_ENOTSUP, "stride %u,%u exceeds the largest stride of "
                            "device %s, %u", d->stride_h, d->stride_w, u, in->max_stride);
    if (in->max_dilation &&
        (d->dilation_h > in->max_dilation || d->dilation_w > in->max_dilation))
        return cbr_dev_fail(dev, CBR_ENOTSUP, "dilation %u,%u exceeds the largest dilation "
                            "of device %s, %u", d->dilation_h, d->dilation_w, u,
                            in->max_dilation);
    struct { bool used; uint32_t feat; const char *what; } need[] = {
        {d->act == CBR_ACT_LEAKY, CBR_FEAT_LEAKY, "leaky relu"},
        {d->pool.kind == CBR_POOL_MAX, CBR_FEAT_MAXPOOL, "max pooling"},
        {d->pool.kind == CBR_POOL_AVG || d->pool.kind == CBR_POOL_GAVG, CBR_FEAT_AVGPOOL,
         "average pooling"},
        {d->groups > 1, CBR_FEAT_DEPTHWISE, "grouped convolution"},
        {d->dilation_h > 1 || d->dilation_w > 1, CBR_FEAT_DILATION, "dilation"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (need[i].used && !(in->features & need[i].feat))
            return cbr_dev_fail(dev, CBR_ENOTSUP, "device %s does not support %s", u,
                                need[i].what);
    }
    return 0;
}

int cbr_layer_create(cbr_device *dev, const cbr_layer_desc *desc, cbr_layer **out)
{
    if (!out)
        return dev ? cbr_dev_fail(dev, CBR_EINVAL, "cbr_layer_create: out is NULL")
                   : cbr_fail(CBR_EINVAL, "cbr_layer_create: out is NULL");
    *out = NULL;
    if (!dev)
        return cbr_fail(CBR_EINVAL, "cbr_layer_create: no device");
    if (!desc)
        return cbr_dev_fail(dev, CBR_EINVAL, "cbr_layer_create: desc is NULL");

    cbr_layer_desc d = *desc;
    cbr_layer_normalize(&d);
    int rc = cbr_layer_check(&d);
    if (rc < 0)
        return cbr_dev_fail(dev, rc, "%s", cbr_thread_errbuf());
    rc = check_device_limits(dev, &d);
    if (rc < 0)
        return rc;

    cbr_layer *l = calloc(1, sizeof *l);
    if (!l)
        return cbr_dev_fail(dev, CBR_ENOMEM, "layer: out of memory");
    l->dev = dev;
    size_t nw = (size_t)d.out_c * (d.in_c / d.groups) * d.kh * d.kw;
    size_t o = d.out_c;
    l->weights = dup_array(d.weights, nw, 1);
    l->bias = dup_array(d.bias, o, sizeof(int32_t));
    l->multiplier = dup_array(d.multiplier, o, sizeof(int32_t));
    l->shift = dup_array(d.shift, o, sizeof(int32_t));
    bool leaky = d.act == CBR_ACT_LEAKY;
    if (leaky) {
        l->neg_multiplier = dup_array(d.neg_multiplier, o, sizeof(int32_t));
        l->neg_shift = dup_array(d.neg_shift, o, sizeof(int32_t));
    }
    if (!l->weights || !l->bias || !l->multiplier || !l->shift ||
        (leaky && (!l->neg_multiplier || !l->neg_shift))) {
        rc = cbr_dev_fail(dev, CBR_ENOMEM, "layer: out of memory for %zu weights", nw);
        goto out_free_layer;
    }
    d.weights = l->weights;
    d.bias = l->bias;
    d.multiplier = l->multiplier;
    d.shift = l->shift;
    d.neg_multiplier = l->neg_multiplier;
    d.neg_shift = l->neg_shift;
    l->desc = d;
    rc = cbr_act_range(&d, &l->act_min, &l->act_max);
    if (rc < 0) {
        cbr_dev_fail(dev, rc, "%s", cbr_thread_errbuf());
        goto out_free_layer;
    }
    cbr_conv_out_size(&d, &l->conv_oh, &l->conv_ow);
    if (d.pool.kind == CBR_POOL_NONE) {
        l->out_h = l->conv_oh;
        l->out_w = l->conv_ow;
    } else {
        cbr_pool_out_size(&d.pool, l->conv_oh, l->conv_ow, &l->out_h, &l->out_w);
    }
    if (dev->backend->layer_prepare) {
        rc = dev->backend->layer_prepare(dev, l, dev->errmsg, sizeof dev->errmsg);
        if (rc < 0)
            goto out_free_layer;
    }
    *out = l;
    return 0;

out_free_layer:
    l->priv = NULL;
    cbr_layer_destroy(l);
    return rc;
}

void cbr_layer_destroy(cbr_layer *l)
{
    if (!l)
        return;
    if (l->priv && l->dev->backend->layer_release)
        l->dev->backend->layer_release(l->dev, l);
    free(l->weights);
    free(l->bias);
    free(l->multiplier);
    free(l->shift);
    free(l->neg_multiplier);
    free(l->neg_shift);
    free(l);
}

int cbr_layer_output_shape(const cbr_layer *l, uint32_t n, cbr_shape *s)
{
    if (!l || !s)
        return cbr_fail(CBR_EINVAL, "cbr_layer_output_shape: NULL argument");
    s->n = n;
    s->c = l->desc.out_c;
    s->h = l->out_h;
    s->w = l->out_w;
    return 0;
}

int cbr_layer_conv_shape(const cbr_layer *l, uint32_t *oh, uint32_t *ow)
{
    if (!l || !oh || !ow)
        return cbr_fail(CBR_EINVAL, "cbr_layer_conv_shape: NULL argument");
    *oh = l->conv_oh;
    *ow = l->conv_ow;
    return 0;
}

double cbr_stats_utilization(const cbr_stats *s)
{
    if (!s || !s->cycles || !s->array_rows || !s->array_cols)
        return 0.0;
    return (double)s->macs / ((double)s->array_rows * s->array_cols * (double)s->cycles);
}

/* ---- jobs ------------------------------------------------------------------------------- */

/* NHWC <-> NCHW for one batch of planes. */
static void to_nchw(const int8_t *src, int8_t *dst, uint32_t n, uint32_t c, uint32_t h,
                    uint32_t w)
{
    for (uint32_t b = 0; b < n; b++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++)
                for (uint32_t k = 0; k < c; k++)
                    dst[(((size_t)b * c + k) * h + y) * w + x] =
                        src[(((size_t)b * h + y) * w + x) * c + k];
}

static void to_nhwc(const int8_t *src, int8_t *dst, uint32_t n, uint32_t c, uint32_t h,
                    uint32_t w)
{
    for (uint32_t b = 0; b < n; b++)
        for (uint32_t k = 0; k < c; k++)
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                    dst[(((size_t)b * h + y) * w + x) * c + k] =
                        src[(((size_t)b * c + k) * h + y) * w + x];
}

/* Runs on the worker thread: layouts, then the backend. */
/* Run the job's layer, or its chain, in NCHW. */
static int execute_nchw(cbr_device *dev, cbr_job *job, const int8_t *in, int8_t *out)
{
    if (job->chain)
        return dev->backend->run_chain(dev, job->chain, job->n_chain, job->n, in, out,
                                       job->keep, job->chain_stats, &job->failed, job->errmsg,
                                       sizeof job->errmsg);
    return dev->backend->run(dev, job->layer, job->n, in, out, &job->stats, job->errmsg,
                             sizeof job->errmsg);
}

/* The job's time outside a simulated board's model (cbr_host_seconds_since): a layer's
 * host_seconds; in a chain, what its layers did not count goes to the first. */
static void count_host(cbr_job *job, struct cbr_host_clock t0)
{
    if (!job->chain) {
        job->stats.host_seconds = cbr_host_seconds_since(t0, job->stats.model_seconds);
        return;
    }
    double host = 0, model = 0;
    for (uint32_t i = 0; i < job->n_chain; i++) {
        host += job->chain_stats[i].host_seconds;
        model += job->chain_stats[i].model_seconds;
    }
    const double spent = cbr_host_seconds_since(t0, model);
    if (spent > host)
        job->chain_stats[0].host_seconds += spent - host;
}

static int execute_layout(cbr_device *dev, cbr_job *job);

static int execute(cbr_device *dev, cbr_job *job)
{
    const struct cbr_host_clock clock0 = cbr_host_clock_now();
    int rc = execute_layout(dev, job);
    if (rc == 0)
        count_host(job, clock0);
    return rc;
}

static int execute_layout(cbr_device *dev, cbr_job *job)
{
    const cbr_layer *l = job->layer, *last = job->chain ? job->chain[job->n_chain - 1] : l;
    const cbr_layer_desc *d = &l->desc;
    cbr_stats *st = &job->stats;
    memset(st, 0, sizeof *st);
    if (d->layout == CBR_LAYOUT_NCHW)
        return execute_nchw(dev, job, job->input, job->output);

    size_t in_sz = (size_t)job->n * d->in_c * d->in_h * d->in_w;
    size_t out_sz = (size_t)job->n * last->desc.out_c * last->out_h * last->out_w;
    int8_t *in = malloc(in_sz);
    int8_t *outb = malloc(out_sz);
    int rc;
    if (!in || !outb) {
        rc = CBR_ENOMEM;
        snprintf(job->errmsg, sizeof job->errmsg, "out of memory converting layouts");
        goto out_free;
    }
    to_nchw(job->input, in, job->n, d->in_c, d->in_h, d->in_w);
    rc = execute_nchw(dev, job, in, outb);
    if (rc == 0)
        to_nhwc(outb, job->output, job->n, last->desc.out_c, last->out_h, last->out_w);
out_free:
    free(in);
    free(outb);
    return rc;
}

static void *worker_main(void *arg)
{
    cbr_device *dev = arg;
    pthread_mutex_lock(&dev->lock);
    for (;;) {
        while (!dev->head && !dev->stopping)
            pthread_cond_wait(&dev->cond, &dev->lock);
        if (!dev->head)
            break;
        cbr_job *job = dev->head;
        dev->head = job->next;
        if (!dev->head)
            dev->tail = NULL;
        job->state = CBR_JOB_RUNNING;
        pthread_mutex_unlock(&dev->lock);

        int rc = execute(dev, job);

        pthread_mutex_lock(&dev->lock);
        job->result = rc;
        job->state = CBR_JOB_DONE;
        dev->in_flight--;
        pthread_cond_broadcast(&dev->cond);
    }
    pthread_mutex_unlock(&dev->lock);
    return NULL;
}

static int queue_job(cbr_device *dev, cbr_job *job);

int cbr_layer_submit(cbr_layer *l, uint32_t n, const int8_t *input, int8_t *output,
                     cbr_job **out)
{
    if (!out)
        return l ? cbr_dev_fail(l->dev, CBR_EINVAL, "cbr_layer_submit: job is NULL")
                 : cbr_fail(CBR_EINVAL, "cbr_layer_submit: job is NULL");
    *out = NULL;
    if (!l)
        return cbr_fail(CBR_EINVAL, "cbr_layer_submit: layer is NULL");
    cbr_device *dev = l->dev;
    if (!input || !output)
        return cbr_dev_fail(dev, CBR_EINVAL, "cbr_layer_submit: %s buffer is NULL",
                            input ? "output" : "input");
    if (n < 1 || n > CBR_MAX_DIM)
        return cbr_dev_fail(dev, CBR_EINVAL, "batch n = %u is outside 1..%d", n, CBR_MAX_DIM);

    cbr_job *job = calloc(1, sizeof *job);
    if (!job)
        return cbr_dev_fail(dev, CBR_ENOMEM, "out of memory for a job");
    job->layer = l;
    job->n = n;
    job->input = input;
    job->output = output;
    int rc = queue_job(dev, job);
    if (rc < 0)
        return rc;
    *out = job;
    return 0;
}

/* Queue a job on its device (starting the worker on the first). Frees it on failure. */
static int queue_job(cbr_device *dev, cbr_job *job)
{
    job->state = CBR_JOB_QUEUED;
    pthread_mutex_lock(&dev->lock);
    if (!dev->worker_started) {
        if (pthread_create(&dev->worker, NULL, worker_main, dev)) {
            pthread_mutex_unlock(&dev->lock);
            free(job);
            return cbr_dev_fail(dev, CBR_ENOMEM, "cannot start the device's worker thread");
        }
        dev->worker_started = true;
    }
    if (dev->tail)
        dev->tail->next = job;
    else
        dev->head = job;
    dev->tail = job;
    dev->in_flight++;
    pthread_cond_broadcast(&dev->cond);
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

/* Called with the lock held on a finished job: its result, with the message on the device. */
static int finish(cbr_job *job, cbr_stats *stats)
{
    cbr_device *dev = job->layer->dev;
    if (stats)
        *stats = job->stats;
    if (job->result < 0)
        snprintf(dev->errmsg, sizeof dev->errmsg, "%s", job->errmsg);
    return job->result;
}

int cbr_job_poll(cbr_job *job)
{
    if (!job)
        return cbr_fail(CBR_EINVAL, "cbr_job_poll: job is NULL");
    cbr_device *dev = job->layer->dev;
    pthread_mutex_lock(&dev->lock);
    int rc = job->state == CBR_JOB_DONE ? finish(job, NULL) : CBR_EAGAIN;
    pthread_mutex_unlock(&dev->lock);
    return rc;
}

int cbr_job_wait(cbr_job *job, int timeout_ms, cbr_stats *stats)
{
    if (!job)
        return cbr_fail(CBR_EINVAL, "cbr_job_wait: job is NULL");
    cbr_device *dev = job->layer->dev;
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&dev->lock);
    while (job->state != CBR_JOB_DONE) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&dev->cond, &dev->lock);
        } else if (pthread_cond_timedwait(&dev->cond, &dev->lock, &deadline) == ETIMEDOUT &&
                   job->state != CBR_JOB_DONE) {
            rc = cbr_dev_fail(dev, CBR_ETIMEDOUT, "job still running after %d ms", timeout_ms);
            break;
        }
    }
    if (job->state == CBR_JOB_DONE)
        rc = finish(job, stats);
    pthread_mutex_unlock(&dev->lock);
    return rc;
}

void cbr_job_free(cbr_job *job)
{
    if (!job)
        return;
    cbr_device *dev = job->layer->dev;
    pthread_mutex_lock(&dev->lock);
    while (job->state != CBR_JOB_DONE)
        pthread_cond_wait(&dev->cond, &dev->lock);
    pthread_mutex_unlock(&dev->lock);
    free(job);
}

int cbr_layer_run(cbr_layer *l, uint32_t n, const int8_t *input, int8_t *output,
                  cbr_stats *stats)
{
    cbr_job *job;
    int rc = cbr_layer_submit(l, n, input, output, &job);
    if (rc < 0)
        return rc;
    rc = cbr_job_wait(job, -1, stats);
    cbr_job_free(job);
    return rc;
}

int cbr_chain_run(cbr_layer *const *layers, uint32_t k, uint32_t n, const int8_t *input,
                  int8_t *output, bool keep, cbr_stats *stats, uint32_t *failed)
{
    cbr_device *dev = layers[0]->dev;
    *failed = 0;
    if (n < 1 || n > CBR_MAX_DIM)
        return cbr_dev_fail(dev, CBR_EINVAL, "batch n = %u is outside 1..%d", n, CBR_MAX_DIM);
    cbr_job *job = calloc(1, sizeof *job);
    if (!job)
        return cbr_dev_fail(dev, CBR_ENOMEM, "out of memory for a job");
    *job = (cbr_job){.layer = layers[0], .chain = layers, .n_chain = k, .keep = keep,
                     .chain_stats = stats, .n = n, .input = input, .output = output};
    int rc = queue_job(dev, job);
    if (rc < 0)
        return rc;
    rc = cbr_job_wait(job, -1, NULL);
    *failed = job->failed;
    cbr_job_free(job);
    return rc;
}
