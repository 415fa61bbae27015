/*
 * tr_sim.c - the transport to the simulated board: loads build/sim/libcbrsim_RxC.so (the
 * Verilator model of the RTL for that array shape) and moves bytes through its modelled link.
 *
 * The model is found, in order, in each directory of $CBR_SIM_PATH, then beside libcbr
 * itself: <dir of libcbr or the program>/../sim (the build tree), ../lib/cbr and ./cbr (an
 * installed tree). Nothing about this machine is compiled in.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr_sim.h"
#include "cbr.h"
#include "errors.h"
#include "transport.h"

struct sim_tr {
    struct cbr_transport t;
    void *dl;
    cbr_sim *sim;
    cbr_sim_destroy_fn destroy;
    cbr_sim_send_fn send;
    cbr_sim_run_fn run;
    cbr_sim_get_counters_fn counters;
    double h2d_rate, d2h_rate;   /* bytes per cycle of the modelled link */
    uint32_t latency;            /* its latency each way, cycles */
    double model_s;              /* seconds in the model (send and run), by the monotonic
                                    clock: it computes all the while, and the thread's CPU
                                    clock is a system call, too slow for every slice */
};

/* Simulated cycles per slice of recv: short enough to check the wall-clock timeout often. */
#define SLICE_CYCLES 20000

/* Named boards: a build of another top than cbr_top, libcbrsim_NAME.so, with the array shape
 * its INFO reports. "ice": the iCE40UP5K tiny core (rtl/tiny, docs/tiny.md). */
static const struct {
    const char *name;
    unsigned rows, cols;
} named[] = {{"ice", 4, 4}};

static int find_named(const char *args)
{
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strcmp(args, named[i].name))
            return (int)i;
    return -1;
}

int cbr_sim_parse_shape(const char *args, unsigned *rows, unsigned *cols)
{
    if (!*args)
        args = CBR_SIM_DEFAULT_SHAPE;
    int nk = find_named(args);
    if (nk >= 0) {
        *rows = named[nk].rows;
        *cols = named[nk].cols;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long r = strtoul(args, &end, 10);
    if (end == args || *end != 'x' || errno)
        return CBR_EINVAL;
    const char *c = end + 1;
    unsigned long k = strtoul(c, &end, 10);
    if (end == c || *end || errno || r < 1 || k < 1 || r > 256 || k > 256)
        return CBR_EINVAL;
    *rows = (unsigned)r;
    *cols = (unsigned)k;
    return 0;
}

/* Calls fn on each directory where simulated boards are looked for, in order, until it
 * returns true. */
static void for_each_dir(bool (*fn)(const char *dir, void *ctx), void *ctx)
{
    const char *env = getenv("CBR_SIM_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        bool stop = false;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !stop;
             d = strtok_r(NULL, ":", &save))
            stop = fn(d, ctx);
        free(copy);
        if (stop)
            return;
    }
    Dl_info info;
    if (!dladdr((void *)cbr_transport_sim_open, &info) || !info.dli_fname)
        return;
    char self[PATH_MAX];
    if (!realpath(info.dli_fname, self))
        snprintf(self, sizeof self, "%s", info.dli_fname);
    char *slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    static const char *const rel[] = {"../sim", "../lib/cbr", "cbr"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char dir[PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/%s", self, rel[i]);
        if (fn(dir, ctx))
            return;
    }
}

struct find_ctx {
    const char *file;
    char *tried;
    size_t len;
    void *dl;
};

static bool try_dir(const char *dir, void *p)
{
    struct find_ctx *c = p;
    char path[PATH_MAX + 96];
    snprintf(path, sizeof path, "%s/%s", dir, c->file);
    size_t k = strlen(c->tried);
    snprintf(c->tried + k, c->len - k, "%s%s", k ? ", " : "", dir);
    c->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    return c->dl != NULL;
}

static void *find_model(const char *file, char *tried, size_t len)
{
    struct find_ctx c = {.file = file, .tried = tried, .len = len};
    for_each_dir(try_dir, &c);
    return c.dl;
}

struct list_ctx {
    void (*emit)(const char *uri, void *ctx);
    void *ctx;
    char seen[32][24];
    int n;
};

/* Each libcbrsim_RxC.so found (the first of a shape wins, as for opening), the default first. */
static bool list_dir(const char *dir, void *p)
{
    struct list_ctx *c = p;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && c->n < 32) {
        unsigned r, k;
        char tail[8], name[16];
        char uri[24];
        if (sscanf(e->d_name, "libcbrsim_%ux%u%7s", &r, &k, tail) == 3 && !strcmp(tail, ".so"))
            snprintf(uri, sizeof uri, "sim:%ux%u", r, k);
        else if (sscanf(e->d_name, "libcbrsim_%15[a-z]%7s", name, tail) == 2 &&
                 !strcmp(tail, ".so") && find_named(name) >= 0)
            snprintf(uri, sizeof uri, "sim:%s", name);
        else
            continue;
        bool dup = false;
        for (int i = 0; i < c->n; i++)
            dup |= !strcmp(c->seen[i], uri);
        if (!dup)
            snprintf(c->seen[c->n++], sizeof c->seen[0], "%s", uri);
    }
    closedir(d);
    return false;
}

void cbr_sim_list(void (*emit)(const char *uri, void *ctx), void *ctx)
{
    struct list_ctx c = {.emit = emit, .ctx = ctx};
    for_each_dir(list_dir, &c);
    const char *def = "sim:" CBR_SIM_DEFAULT_SHAPE;
    for (int i = 0; i < c.n; i++) /* the default shape first */
        if (!strcmp(c.seen[i], def))
            emit(c.seen[i], ctx);
    for (int i = 0; i < c.n; i++)
        if (strcmp(c.seen[i], def))
            emit(c.seen[i], ctx);
}

static int sim_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                    char *err, size_t errlen)
{
    (void)timeout_ms;
    (void)err;
    (void)errlen;
    struct sim_tr *s = (struct sim_tr *)t;
    const double t0 = cbr_now_ms() / 1e3;
    s->send(s->sim, buf, n);
    s->model_s += cbr_now_ms() / 1e3 - t0;
    return 0;
}

static int sim_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got, int timeout_ms,
                    char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct sim_tr *s = (struct sim_tr *)t;
    const double t0 = cbr_now_ms(), deadline = t0 + (timeout_ms < 0 ? 1e12 : timeout_ms);
    do {
        *got = s->run(s->sim, buf, cap, SLICE_CYCLES);
        if (*got)
            break;
    } while (cbr_now_ms() < deadline);
    s->model_s += (cbr_now_ms() - t0) / 1e3;
    return 0;
}

static void sim_stats(struct cbr_transport *t, struct cbr_link_stats *st)
{
    struct sim_tr *s = (struct sim_tr *)t;
    struct cbr_sim_counters c;
    s->counters(s->sim, &c);
    st->cycles = c.cycles;
    st->link_wait_cycles = c.rx_wait_cycles + c.tx_wait_cycles;
    st->bytes_out = c.h2d_bytes;
    st->bytes_in = c.d2h_bytes;
    st->h2d_bytes_per_cycle = s->h2d_rate;
    st->d2h_bytes_per_cycle = s->d2h_rate;
    st->latency_cycles = s->latency;
    st->model_seconds = s->model_s;
}

static void sim_idle(struct cbr_transport *t, uint64_t cycles)
{
    struct sim_tr *s = (struct sim_tr *)t;
    uint8_t none;
    const double t0 = cbr_now_ms() / 1e3;
    s->run(s->sim, &none, 0, cycles); /* stops early if a response is waiting; keeps it */
    s->model_s += cbr_now_ms() / 1e3 - t0;
}

static void sim_close(struct cbr_transport *t)
{
    struct sim_tr *s = (struct sim_tr *)t;
    if (!s)
        return;
    if (s->sim)
        s->destroy(s->sim);
    if (s->dl)
        dlclose(s->dl);
    free(s);
}

static const struct cbr_transport_ops sim_ops = {
    .name = "sim",
    .send = sim_send,
    .recv = sim_recv,
    .stats = sim_stats,
    .idle = sim_idle,
    .close = sim_close,
};

/* "H2D[,D2H]" bytes per cycle, from CBR_SIM_LINK; 0 means the port's full width. */
static int parse_link(double *h2d, double *d2h, char *err, size_t errlen)
{
    *h2d = *d2h = 0;
    const char *env = getenv("CBR_SIM_LINK");
    if (!env || !*env)
        return 0;
    char *end;
    *h2d = strtod(env, &end);
    *d2h = *h2d;
    if (*end == ',')
        *d2h = strtod(end + 1, &end);
    if (*end || *h2d < 0 || *d2h < 0) {
        snprintf(err, errlen, "CBR_SIM_LINK='%s' is not H2D[,D2H] in bytes per cycle", env);
        return CBR_EINVAL;
    }
    return 0;
}

/* The link's latency each way in cycles, from CBR_SIM_LATENCY (default 0). */
static int parse_latency(uint32_t *cycles, char *err, size_t errlen)
{
    *cycles = 0;
    const char *env = getenv("CBR_SIM_LATENCY");
    if (!env || !*env)
        return 0;
    char *end;
    errno = 0;
    unsigned long v = strtoul(env, &end, 10);
    if (*end || errno || env[0] == '-' || v > CBR_SIM_MAX_LATENCY) {
        snprintf(err, errlen, "CBR_SIM_LATENCY='%s' is not a latency in cycles (0 to %u)", env,
                 CBR_SIM_MAX_LATENCY);
        return CBR_EINVAL;
    }
    *cycles = (uint32_t)v;
    return 0;
}

int cbr_transport_sim_open(struct cbr_transport **out, const char *args, char *err,
                           size_t errlen)
{
    *out = NULL;
    unsigned rows, cols;
    if (cbr_sim_parse_shape(args, &rows, &cols) < 0) {
        snprintf(err, errlen, "'%s' is not an array shape RxC (like 16x16) nor a named "
                 "simulated board (ice)", args);
        return CBR_EINVAL;
    }
    struct cbr_sim_config cfg = {.trace_path = getenv("CBR_TRACE")};
    if (cfg.trace_path && !*cfg.trace_path)
        cfg.trace_path = NULL;
    int rc = parse_link(&cfg.h2d_bytes_per_cycle, &cfg.d2h_bytes_per_cycle, err, errlen);
    if (rc == 0)
        rc = parse_latency(&cfg.latency_cycles, err, errlen);
    if (rc < 0)
        return rc;

    char file[64], tried[1024] = "";
    int nk = find_named(args);
    char what[32], make_var[48];
    if (nk >= 0) {
        snprintf(file, sizeof file, "libcbrsim_%s.so", named[nk].name);
        snprintf(what, sizeof what, "'%s'", named[nk].name);
        snprintf(make_var, sizeof make_var, "make sim-%s", named[nk].name);
    } else {
        snprintf(file, sizeof file, "libcbrsim_%ux%u.so", rows, cols);
        snprintf(what, sizeof what, "of shape %ux%u", rows, cols);
        snprintf(make_var, sizeof make_var, "make sim SIM_SHAPES=%ux%u", rows, cols);
    }
    struct sim_tr *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return CBR_ENOMEM;
    }
    s->t.ops = &sim_ops;
    /* as cbr_sim_create takes them: at most the port's 4 bytes, 0 for all 4 */
    s->h2d_rate = cfg.h2d_bytes_per_cycle > 0 && cfg.h2d_bytes_per_cycle < 4
                      ? cfg.h2d_bytes_per_cycle : 4;
    s->d2h_rate = cfg.d2h_bytes_per_cycle > 0 && cfg.d2h_bytes_per_cycle < 4
                      ? cfg.d2h_bytes_per_cycle : 4;
    s->latency = cfg.latency_cycles;
    s->dl = find_model(file, tried, sizeof tried);
    if (!s->dl) {
        snprintf(err, errlen, "no simulated board %s: %s not found in %s "
                 "(build it with `%s`, or set CBR_SIM_PATH)",
                 what, file, tried[0] ? tried : "any directory", make_var);
        free(s);
        return CBR_ENODEV;
    }
    cbr_sim_abi_version_fn abi = (cbr_sim_abi_version_fn)dlsym(s->dl, "cbr_sim_abi_version");
    cbr_sim_create_fn create = (cbr_sim_create_fn)dlsym(s->dl, "cbr_sim_create");
    s->destroy = (cbr_sim_destroy_fn)dlsym(s->dl, "cbr_sim_destroy");
    s->send = (cbr_sim_send_fn)dlsym(s->dl, "cbr_sim_send");
    s->run = (cbr_sim_run_fn)dlsym(s->dl, "cbr_sim_run");
    s->counters = (cbr_sim_get_counters_fn)dlsym(s->dl, "cbr_sim_get_counters");
    if (!abi || !create || !s->destroy || !s->send || !s->run || !s->counters ||
        abi() != CBR_SIM_ABI_VERSION) {
        snprintf(err, errlen, "%s is not a cbr simulated board of ABI version %d; rebuild it "
                 "with `make sim`", file, CBR_SIM_ABI_VERSION);
        rc = CBR_ENODEV;
        goto out_close;
    }
    char why[256] = "";
    s->sim = create(&cfg, why, sizeof why);
    if (!s->sim) {
        snprintf(err, errlen, "%s: %s", file, why);
        rc = CBR_EIO;
        goto out_close;
    }
    *out = &s->t;
    return 0;

out_close:
    sim_close(&s->t);
    return rc;
}
