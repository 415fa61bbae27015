/*
 * cbr_emu.c - cbr-emu, the board emulator's command line:
 *
 *     cbr-emu usb [OPTIONS] -- COMMAND [ARGS...]
 *     cbr-emu pcie DIR [OPTIONS] -- COMMAND [ARGS...]
 *     cbr-emu serial [LINK] [OPTIONS] -- COMMAND [ARGS...]
 *
 * Opens a simulated board (with faults, if asked), presents it over the chosen link, runs
 * COMMAND against it, prints the seed and the fault summary on stderr, and exits with
 * COMMAND's status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

static const char usage[] =
    "usage: cbr-emu usb [OPTIONS] -- COMMAND [ARGS...]\n"
    "       cbr-emu pcie DIR [OPTIONS] -- COMMAND [ARGS...]\n"
    "       cbr-emu serial [LINK] [OPTIONS] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND against the simulated board (the Verilator model of the RTL) presented as\n"
    "a real device, and exits with COMMAND's status:\n"
    "  usb        a USB device (umockdev): COMMAND opens it with -d usb\n"
    "  pcie DIR   XDMA character-device paths DIR/xdma0_h2c_0, DIR/xdma0_c2h_0 and\n"
    "             DIR/xdma0_user (DIR is created if missing): COMMAND opens it with\n"
    "             -d pcie:DIR/xdma0\n"
    "  serial     a pseudo-terminal behind a model of the iCEBreaker's UART bridge; its\n"
    "             path is printed and passed as $CBR_EMU_TTY; with LINK, a symlink to it\n"
    "             is made there: COMMAND opens it with -d serial:LINK\n"
    "\n"
    "Options:\n"
    "  --array RxC     array shape of the simulated board (default 16x16); the model is\n"
    "                  found as for -d sim (CBR_SIM_PATH; CBR_SIM_LINK, CBR_TRACE apply)\n"
    "  --fault SPEC    inject faults on the link; SPEC is KIND:VALUE[,KIND:VALUE...] and\n"
    "                  --fault may be given several times:\n"
    "                    corrupt:RATE  flip one bit of a byte, with RATE per byte\n"
    "                    drop:RATE     lose a whole transfer, with RATE per transfer\n"
    "                    stall:RATE    the endpoint stalls (USB) / the DMA fails (PCIe)\n"
    "                    timeout:RATE  the transfer never completes\n"
    "                    unplug:N      the device is gone once N bytes have crossed\n"
    "                    hang:N        the core hangs after N tiles: later RUNs are\n"
    "                                  answered but the core never takes the start\n"
    "                  (serial: every RATE is per byte; drop loses the byte, stall adds a\n"
    "                  noise byte, timeout pauses the line, dropping the partial word)\n"
    "  --seed N        seed of the fault injector (default: from the clock; always printed)\n"
    "  --usb-id V:P    USB vendor and product id in hex (default 04b4:00f1)\n"
    "  --serial S      USB serial number (default CBREMU0001)\n"
    "  --baud N        serial: the bridge's line rate (default 3000000; 0: unpaced)\n"
    "  -h, --help      this text\n"
    "\n"
    "Example: cbr-emu pcie /tmp/xdma --fault corrupt:1e-4 -- cbr info -d pcie:/tmp/xdma/xdma0\n"
    "The link, its register map and the error model: docs/links.md.\n";

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "cbr-emu: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(cbr-emu --help for usage)\n");
    return 2;
}

/* Takes "--opt VALUE" or "--opt=VALUE" at argv[*i]; returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    *missing = false;
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc || !strcmp(argv[*i + 1], "--")) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static uint64_t clock_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2)
        return bad("%s", "missing the link: usb, pcie DIR or serial [LINK]");
    const char *link = argv[1];
    bool pcie = !strcmp(link, "pcie"), serial = !strcmp(link, "serial");
    if (!pcie && !serial && strcmp(link, "usb"))
        return bad("unknown link '%s' (want usb, pcie DIR or serial [LINK])", link);
    int i = 2;
    const char *dir = NULL;
    if (pcie) {
        if (i >= argc || argv[i][0] == '-' || !argv[i][0])
            return bad("%s", "pcie: missing DIR (where to put the XDMA paths)");
        dir = argv[i++];
    }
    struct emu_serial_opts so = {.baud = 3000000};
    if (serial && i < argc && argv[i][0] && argv[i][0] != '-')
        so.link = argv[i++];

    const char *shape = "";
    struct emu_faults f = {0};
    bool have_seed = false;
    struct emu_usb_opts uo = {.vid = 0x04b4, .pid = 0x00f1, .serial = "CBREMU0001"};
    char err[512];
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *v;
        bool missing;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--array", &missing)) || missing) {
            if (missing)
                return bad("%s", "--array: missing RxC");
            unsigned r, c;
            char tail;
            if (sscanf(v, "%ux%u%c", &r, &c, &tail) != 2 || r < 1 || c < 1 || r > 256 ||
                c > 256)
                return bad("--array '%s': want ROWSxCOLS like 16x16", v);
            shape = v;
        } else if ((v = opt_value(argc, argv, &i, "--fault", &missing)) || missing) {
            if (missing)
                return bad("%s", "--fault: missing SPEC");
            if (emu_faults_parse(v, &f, err, sizeof err) < 0)
                return bad("--fault: %s", err);
        } else if ((v = opt_value(argc, argv, &i, "--seed", &missing)) || missing) {
            char *end;
            errno = 0;
            if (missing)
                return bad("%s", "--seed: missing N");
            f.seed = strtoull(v, &end, 0);
            if (end == v || *end || errno || *v == '-')
                return bad("--seed '%s': want a non-negative integer", v);
            have_seed = true;
        } else if ((v = opt_value(argc, argv, &i, "--usb-id", &missing)) || missing) {
            unsigned vid, pid;
            char tail;
            if (missing)
                return bad("%s", "--usb-id: missing VID:PID");
            if (sscanf(v, "%x:%x%c", &vid, &pid, &tail) != 2 || vid > 0xFFFF || pid > 0xFFFF)
                return bad("--usb-id '%s': want VID:PID in hex, like 04b4:00f1", v);
            uo.vid = (uint16_t)vid;
            uo.pid = (uint16_t)pid;
        } else if ((v = opt_value(argc, argv, &i, "--baud", &missing)) || missing) {
            char *end;
            errno = 0;
            if (missing)
                return bad("%s", "--baud: missing N");
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || errno || *v == '-' || n > 12000000 || (n && n < 300))
                return bad("--baud '%s': want a rate from 300 to 12000000, or 0", v);
            so.baud = (unsigned)n;
        } else if ((v = opt_value(argc, argv, &i, "--serial", &missing)) || missing) {
            if (missing || !*v)
                return bad("%s", "--serial: missing the serial number");
            uo.serial = v;
        } else {
            return bad("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc || i + 1 >= argc)
        return bad("%s", "missing '-- COMMAND [ARGS...]' to run against the board");
    char **cmd = argv + i + 1;
    if (!have_seed)
        f.seed = clock_seed();
    fprintf(stderr, "cbr-emu: seed %llu\n", (unsigned long long)f.seed);

    struct emu_board *b = emu_board_open(shape, &f, err, sizeof err);
    if (!b) {
        fprintf(stderr, "cbr-emu: cannot open the simulated board: %s\n", err);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = pcie ? emu_pcie_main(b, dir, cmd, err, sizeof err)
             : serial ? emu_serial_main(b, &so, cmd, err, sizeof err)
                      : emu_usb_main(b, &uo, cmd, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct emu_stats st;
    emu_board_stats(b, &st);
    emu_board_close(b);
    if (rc < 0) {
        fprintf(stderr, "cbr-emu: %s: %s\n", link, err);
        return 1;
    }
    emu_stats_print(stderr, &st);
    /* For link benchmarks: the command's CPU time (the host side; every child of ours has
     * been waited for) against the emulator's own (the board side) and the wall time. */
    struct rusage host, board;
    getrusage(RUSAGE_CHILDREN, &host);
    getrusage(RUSAGE_SELF, &board);
    fprintf(stderr, "cbr-emu: wall %.3f s; CPU of the command %.3f s user + %.3f s system, "
            "of the emulator %.3f s user + %.3f s system\n",
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
            host.ru_utime.tv_sec + host.ru_utime.tv_usec / 1e6,
            host.ru_stime.tv_sec + host.ru_stime.tv_usec / 1e6,
            board.ru_utime.tv_sec + board.ru_utime.tv_usec / 1e6,
            board.ru_stime.tv_sec + board.ru_stime.tv_usec / 1e6);
    return rc;
}
