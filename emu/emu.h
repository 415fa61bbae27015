/*
 * emu.h - cbr-emu, the board emulator: the simulated board (libcbr's sim transport, i.e. the
 * Verilator model behind a modelled link) presented as a real USB device (umockdev) or as
 * XDMA character-device paths, with fault injection on the link.
 *
 * The parts:
 *   emu_board.c   the board and the fault injector (shared by both links)
 *   emu_pcie.c    XDMA paths under a directory
 *   emu_usb.c     a USB device through umockdev
 *   emu_serial.c  a pseudo-terminal behind a model of the UART bridge
 *   cbr_emu.c     the command line: cbr-emu usb|pcie|serial ... -- COMMAND ...
 *
 * Not thread-safe: one thread drives a board at a time.
 */
#ifndef CBR_EMU_H
#define CBR_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum emu_dir { EMU_H2D = 0, EMU_D2H = 1 };

/* --fault SPEC, combinable ("corrupt:1e-4,drop:0.01", or --fault given several times). */
struct emu_faults {
    double corrupt;          /* per byte: flip one random bit */
    double drop;             /* per transfer: lose the whole transfer */
    double stall;            /* per transfer: the endpoint stalls (USB) / the DMA fails (PCIe) */
    double timeout;          /* per transfer: it never completes */
    bool unplug;             /* unplug once unplug_after bytes have crossed (both ways) */
    uint64_t unplug_after;
    bool hang;               /* the core takes no start after the first hang_after RUNs */
    uint32_t hang_after;
    uint64_t seed;           /* for the injector's random numbers; printed by cbr-emu */
};

/* Parse one --fault argument into f (adding to what f already holds). Returns 0, or -1 with
 * a message naming the bad part in err. */
int emu_faults_parse(const char *spec, struct emu_faults *f, char *err, size_t len);

/* What happens to one transfer. */
enum emu_verdict {
    EMU_PASS,                /* delivered (possibly with corrupted bytes) */
    EMU_DROP,                /* lost without a trace */
    EMU_STALL,               /* endpoint halted until cleared */
    EMU_TIMEOUT,             /* never completes */
    EMU_UNPLUGGED            /* the device is gone (and stays gone) */
};

struct emu_stats {
    uint64_t transfers[2];   /* by direction */
    uint64_t bytes[2];
    uint64_t corrupted;      /* bytes flipped */
    uint64_t dropped, stalled, timed_out;
    bool unplugged;
    uint32_t runs_held;      /* hang: RUNs answered but kept from the core */
};

struct emu_board;

/* A simulated board of shape "RxC" (NULL or "" for the default), faults f (NULL: none).
 * Returns NULL with a message in err. */
struct emu_board *emu_board_open(const char *shape, const struct emu_faults *f, char *err,
                                 size_t len);
void emu_board_close(struct emu_board *b);

/* Decide the fate of one transfer of n bytes in direction dir, before it is delivered.
 * Corrupt faults are applied to buf in place. Bytes count toward unplug. */
enum emu_verdict emu_board_fault(struct emu_board *b, enum emu_dir dir, uint8_t *buf,
                                 size_t n);

/* Host -> device bytes, as the link delivers them to the board. */
void emu_board_h2d(struct emu_board *b, const uint8_t *p, size_t n);

/* Clock the board until it has device -> host bytes or max_cycles pass; returns how many
 * were stored in p (at most cap; 0 if none). */
size_t emu_board_d2h(struct emu_board *b, uint8_t *p, size_t cap, uint64_t max_cycles);

bool emu_board_unplugged(const struct emu_board *b);
void emu_board_stats(const struct emu_board *b, struct emu_stats *s);
/* One line per fault kind and the byte counts, for cbr-emu's summary on stderr. */
void emu_stats_print(FILE *f, const struct emu_stats *s);

/* USB: VID:PID and serial of the emulated device. */
struct emu_usb_opts {
    uint16_t vid, pid;       /* default 04b4:00f1 */
    const char *serial;      /* default "CBREMU0001" */
};

/* Run argv (a command, argv[0] looked up in PATH) with the board presented as a USB device
 * through umockdev; serve its transfers until it exits. Returns its exit status (as a
 * shell would: 128+signal), or -1 with a message in err if the emulation could not start. */
int emu_usb_main(struct emu_board *b, const struct emu_usb_opts *o, char *const argv[],
                 char *err, size_t len);

/* Run argv with the board presented as XDMA character-device paths under dir
 * (dir/xdma0_h2c_0, dir/xdma0_c2h_0, dir/xdma0_user); same return as emu_usb_main. */
int emu_pcie_main(struct emu_board *b, const char *dir, char *const argv[], char *err,
                  size_t len);

/* Serial: the UART bridge's line rate (0: unpaced) and an optional symlink to the pty. */
struct emu_serial_opts {
    unsigned baud;           /* default 3000000 */
    const char *link;        /* NULL: none; else made -> /dev/pts/N, removed at exit */
};

/* Run argv with the board behind a pseudo-terminal modelling the iCEBreaker's UART bridge
 * (emu_serial.c); the slave's path is printed and given to argv as $CBR_EMU_TTY (the link's
 * path when there is one). Same return as emu_usb_main. */
int emu_serial_main(struct emu_board *b, const struct emu_serial_opts *o, char *const argv[],
                    char *err, size_t len);

#endif
