/*
 * cbr_sim_ivl.c - a simulated board whose model runs in Icarus Verilog (4-state) instead of
 * Verilator: the cbr_sim.h ABI in a libcbrsim_RxC.so, so libcbr's sim transport loads it
 * (CBR_SIM_PATH) and test_sim, the cbr CLI and every libcbr program run on it unchanged.
 *
 * Each board is a vvp process running tests/rtl/icarus/tb_top.v (cbr_top, or its yosys
 * netlist) that this library starts and drives over two named pipes; the command language is
 * described at the top of tb_top.v. The .vvp file is compiled in (CBR_IVL_VVP) and can be
 * overridden with $CBR_IVL_VVP. A testbench error (an X on a handshake or on tx_data after
 * reset, see tb_top.v) is printed and ends the program with exit status 3: a 4-state
 * violation is a failed test, not something a caller can recover from.
 *
 * The link runs at the port's full rate; the configured link rates and latency are ignored
 * (the cycle counts are those of a full-rate link without latency). cfg->trace_path writes a VCD waveform.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbr_sim.h"

#if !defined(CBR_SIM_ROWS) || !defined(CBR_SIM_COLS) || !defined(CBR_IVL_VVP)
#error "build with -DCBR_SIM_ROWS=R -DCBR_SIM_COLS=C -DCBR_IVL_VVP=\"path/tb.vvp\""
#endif

#define EXPORT __attribute__((visibility("default")))
#define CHUNK_WORDS 8192 /* tb_top.v's MAXW */
#define MAX_RUN 1000000  /* cycles per R command: keeps each answer prompt */

struct cbr_sim {
    pid_t pid;
    FILE *cmd, *rsp;
    char dir[64];
    uint8_t *h2d;             /* bytes sent by the host, not yet taken by the device */
    size_t h2d_len, h2d_cap;
    uint8_t *d2h;             /* bytes sent by the device, not yet read by the host */
    size_t d2h_head, d2h_len, d2h_cap;
    struct cbr_sim_counters cnt;
};

static void die(const char *what)
{
    fprintf(stderr, "cbr_sim_ivl: %s\n", what);
    exit(3);
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *q = realloc(*p, c);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Reads the testbench's answer tag; an "E ..." line is fatal. */
static int read_tag(cbr_sim *s)
{
    int c;
    do
        c = fgetc(s->rsp);
    while (c == ' ' || c == '\n');
    if (c == 'E') {
        char line[512] = "";
        if (!fgets(line, sizeof line, s->rsp))
            line[0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        fprintf(stderr, "cbr_sim_ivl: testbench error:%s\n", line);
        exit(3);
    }
    if (c == EOF)
        die("the vvp process ended unexpectedly");
    return c;
}

EXPORT unsigned cbr_sim_abi_version(void)
{
    return CBR_SIM_ABI_VERSION;
}

EXPORT void cbr_sim_shape(unsigned *rows, unsigned *cols)
{
    *rows = CBR_SIM_ROWS;
    *cols = CBR_SIM_COLS;
}

EXPORT void cbr_sim_reset(cbr_sim *s)
{
    s->h2d_len = 0;
    s->d2h_head = s->d2h_len = 0;
    fputs("X\n", s->cmd);
    fflush(s->cmd);
    unsigned long long cycles;
    if (read_tag(s) != 'K' || fscanf(s->rsp, "%llu", &cycles) != 1)
        die("unexpected answer to reset");
    s->cnt.cycles += cycles;
}

EXPORT void cbr_sim_destroy(cbr_sim *s)
{
    if (!s)
        return;
    if (s->cmd) {
        fputs("Q\n", s->cmd);
        fclose(s->cmd);
    }
    if (s->rsp)
        fclose(s->rsp);
    if (s->pid > 0) {
        int st;
        waitpid(s->pid, &st, 0);
    }
    if (s->dir[0]) {
        char p[96];
        snprintf(p, sizeof p, "%s/cmd", s->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/rsp", s->dir);
        unlink(p);
        rmdir(s->dir);
    }
    free(s->h2d);
    free(s->d2h);
    free(s);
}

EXPORT cbr_sim *cbr_sim_create(const struct cbr_sim_config *cfg, char *err, size_t len)
{
    const char *vvp_file = getenv("CBR_IVL_VVP");
    if (!vvp_file || !*vvp_file)
        vvp_file = CBR_IVL_VVP;
    if (access(vvp_file, R_OK) != 0) {
        snprintf(err, len, "the Icarus model %s: %s", vvp_file, strerror(errno));
        return NULL;
    }
    /* A vvp that ended (after a testbench error) must not kill the program on a write. */
    signal(SIGPIPE, SIG_IGN);
    cbr_sim *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/cbr_ivl.XXXXXX");
    char cmd_path[96], rsp_path[96];
    if (!mkdtemp(s->dir)) {
        snprintf(err, len, "mkdtemp: %s", strerror(errno));
        s->dir[0] = '\0';
        goto out_free;
    }
    snprintf(cmd_path, sizeof cmd_path, "%s/cmd", s->dir);
    snprintf(rsp_path, sizeof rsp_path, "%s/rsp", s->dir);
    if (mkfifo(cmd_path, 0600) || mkfifo(rsp_path, 0600)) {
        snprintf(err, len, "mkfifo in %s: %s", s->dir, strerror(errno));
        goto out_free;
    }
    /* The random power-up contents of the block RAMs (tb_top.v), seeded and printed. */
    const char *seed_env = getenv("CBR_IVL_SEED");
    unsigned seed = seed_env && *seed_env ? (unsigned)strtoul(seed_env, NULL, 0)
                                          : (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    seed &= 0x7fffffff;
    fprintf(stderr, "cbr_sim_ivl: block RAM fill seed %u (replay with CBR_IVL_SEED=%u)\n", seed,
            seed);
    char a_cmd[112], a_rsp[112], a_seed[32], a_vcd[4200];
    snprintf(a_seed, sizeof a_seed, "+memseed=%u", seed);
    snprintf(a_cmd, sizeof a_cmd, "+cmd=%s", cmd_path);
    snprintf(a_rsp, sizeof a_rsp, "+rsp=%s", rsp_path);
    const char *trace = cfg ? cfg->trace_path : NULL;
    snprintf(a_vcd, sizeof a_vcd, "+vcd=%s", trace ? trace : "");
    /* the child's freopen below would write out a copy of what the parent has buffered */
    fflush(stdout);
    fflush(stderr);
    s->pid = fork();
    if (s->pid < 0) {
        snprintf(err, len, "fork: %s", strerror(errno));
        goto out_free;
    }
    if (s->pid == 0) {
        /* vvp's own messages ($display, $finish) would mix with the program's output */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("vvp", "vvp", "-n", vvp_file, a_cmd, a_rsp, a_seed, trace ? a_vcd : NULL, (char *)NULL);
        fprintf(stderr, "cbr_sim_ivl: cannot run vvp: %s\n", strerror(errno));
        _exit(127);
    }
    /* Same order as tb_top.v. The write end opens without blocking only once vvp has
     * opened its read end, so poll, and give up if vvp ends (bad .vvp file, no vvp). */
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 6000; tries++) {
        fd = open(cmd_path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0 || errno != ENXIO)
            break;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            snprintf(err, len, "vvp %s ended before opening its pipes", vvp_file);
            goto out_free;
        }
        usleep(10000);
    }
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    s->cmd = fd >= 0 ? fdopen(fd, "w") : NULL;
    s->rsp = s->cmd ? fopen(rsp_path, "r") : NULL;
    if (!s->cmd || !s->rsp) {
        if (fd >= 0 && !s->cmd)
            close(fd);
        snprintf(err, len, "cannot open the pipes to vvp in %s", s->dir);
        goto out_free;
    }
    cbr_sim_reset(s);
    return s;

out_free:
    if (s->pid > 0)
        kill(s->pid, SIGTERM);
    cbr_sim_destroy(s);
    return NULL;
}

EXPORT void cbr_sim_send(cbr_sim *s, const void *bytes, size_t n)
{
    if (grow(&s->h2d, &s->h2d_cap, s->h2d_len + n))
        die("out of memory");
    memcpy(s->h2d + s->h2d_len, bytes, n);
    s->h2d_len += n;
}

/* One R command: up to CHUNK_WORDS whole host words offered, the rest stay queued. */
static void run_once(cbr_sim *s, uint64_t max_cycles)
{
    size_t nw = s->h2d_len / 4;
    if (nw > CHUNK_WORDS)
        nw = CHUNK_WORDS;
    fprintf(s->cmd, "R %llu %zu", (unsigned long long)max_cycles, nw);
    for (size_t i = 0; i < nw; i++) {
        const uint8_t *b = s->h2d + 4 * i;
        fprintf(s->cmd, " %08x",
                (unsigned)b[0] | (unsigned)b[1] << 8 | (unsigned)b[2] << 16 |
                    (unsigned)b[3] << 24);
    }
    fputc('\n', s->cmd);
    fflush(s->cmd);
    if (read_tag(s) != 'D')
        die("unexpected answer to R");
    unsigned long long taken, cycles, m;
    if (fscanf(s->rsp, "%llu %llu %llu", &taken, &cycles, &m) != 3 || taken > nw)
        die("malformed answer to R");
    if (grow(&s->d2h, &s->d2h_cap, s->d2h_head + s->d2h_len + 4 * m))
        die("out of memory");
    for (unsigned long long i = 0; i < m; i++) {
        unsigned w;
        if (fscanf(s->rsp, "%x", &w) != 1)
            die("malformed word in the answer to R");
        uint8_t *o = s->d2h + s->d2h_head + s->d2h_len;
        for (int k = 0; k < 4; k++)
            o[k] = (uint8_t)(w >> (8 * k));
        s->d2h_len += 4;
    }
    memmove(s->h2d, s->h2d + 4 * taken, s->h2d_len - 4 * taken);
    s->h2d_len -= 4 * taken;
    s->cnt.cycles += cycles;
    s->cnt.h2d_bytes += 4 * taken;
    s->cnt.d2h_bytes += 4 * m;
}

EXPORT size_t cbr_sim_run(cbr_sim *s, void *buf, size_t cap, uint64_t max_cycles)
{
    uint64_t done = 0;
    while (s->d2h_len == 0 && done < max_cycles) {
        uint64_t slice = max_cycles - done < MAX_RUN ? max_cycles - done : MAX_RUN;
        uint64_t before = s->cnt.cycles;
        run_once(s, slice);
        done += s->cnt.cycles - before;
    }
    size_t n = s->d2h_len < cap ? s->d2h_len : cap;
    if (n)
        memcpy(buf, s->d2h + s->d2h_head, n);
    s->d2h_head += n;
    s->d2h_len -= n;
    if (s->d2h_len == 0)
        s->d2h_head = 0;
    return n;
}

EXPORT void cbr_sim_get_counters(const cbr_sim *s, struct cbr_sim_counters *c)
{
    *c = s->cnt;
}
