/*
 * cbr_sim.h - the simulated board: the Verilator model of rtl/cbr_top behind a C ABI.
 *
 * Each array shape is its own build, build/sim/libcbrsim_RxC.so, which libcbr's sim transport
 * loads when a device "sim:RxC" is opened. The host talks to it exactly as to a board: bytes
 * in, bytes out, the packet protocol of docs/protocol.md. The link between them is modelled:
 * bytes cross it at a configured number of bytes per clock cycle each way, and optionally
 * with a latency (a USB or PCIe round trip), so the cycle counts include the time spent
 * waiting on the link.
 *
 * Time only advances inside cbr_sim_run: the model is clocked until the host has something
 * to read or a cycle budget is spent. Not thread-safe; one instance per thread.
 */
#ifndef CBR_SIM_H
#define CBR_SIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBR_SIM_ABI_VERSION 2

/* The longest latency the link model takes, cycles each way (5 ms at 200 MHz). */
#define CBR_SIM_MAX_LATENCY 1000000u

typedef struct cbr_sim cbr_sim;

struct cbr_sim_config {
    double h2d_bytes_per_cycle; /* host -> device link; <= 0 means the port's full 4 bytes */
    double d2h_bytes_per_cycle; /* device -> host link; <= 0 likewise */
    const char *trace_path;     /* write an FST waveform here; NULL for none */
    uint32_t latency_cycles;    /* each way: bytes reach the other side this many cycles after
                                   they were sent (0: at once), on top of the rate */
};

/* Counters kept by the harness (the device's own counters are read over the protocol). */
struct cbr_sim_counters {
    uint64_t cycles;            /* clock cycles since create */
    uint64_t h2d_bytes;         /* bytes that crossed the link into the device */
    uint64_t d2h_bytes;         /* bytes that crossed the link out of the device */
    uint64_t rx_wait_cycles;    /* cycles the device could take a word but the link had none
                                   ready although the host had queued bytes (link-bound) */
    uint64_t tx_wait_cycles;    /* cycles the device offered a word the link could not take */
};

typedef unsigned (*cbr_sim_abi_version_fn)(void);
typedef void (*cbr_sim_shape_fn)(unsigned *rows, unsigned *cols);
typedef cbr_sim *(*cbr_sim_create_fn)(const struct cbr_sim_config *cfg, char *err, size_t len);
typedef void (*cbr_sim_destroy_fn)(cbr_sim *s);
typedef void (*cbr_sim_send_fn)(cbr_sim *s, const void *bytes, size_t n);
typedef size_t (*cbr_sim_run_fn)(cbr_sim *s, void *buf, size_t cap, uint64_t max_cycles);
typedef void (*cbr_sim_get_counters_fn)(const cbr_sim *s, struct cbr_sim_counters *c);
typedef void (*cbr_sim_reset_fn)(cbr_sim *s);

/* CBR_SIM_ABI_VERSION of the build. */
unsigned cbr_sim_abi_version(void);

/* The array shape this build was made with. */
void cbr_sim_shape(unsigned *rows, unsigned *cols);

/* A new board, held in reset for a few cycles then released. NULL on failure, with the
 * reason in err. */
cbr_sim *cbr_sim_create(const struct cbr_sim_config *cfg, char *err, size_t len);

/* Finish the waveform and free everything. Accepts NULL. */
void cbr_sim_destroy(cbr_sim *s);

/* Queue bytes for the host -> device link; they enter the device at the link's pace while
 * cbr_sim_run clocks the model, the latency after this call at the earliest. Any length: the
 * link carries whole words, so the harness holds a partial word back until it is complete. */
void cbr_sim_send(cbr_sim *s, const void *bytes, size_t n);

/*
 * Clock the model until device -> host bytes are available (sent by the device the latency
 * ago or earlier) or max_cycles have passed, then return up to cap of them (0 if none
 * came). Bytes not returned stay queued for the next call.
 */
size_t cbr_sim_run(cbr_sim *s, void *buf, size_t cap, uint64_t max_cycles);

/* The harness's counters. */
void cbr_sim_get_counters(const cbr_sim *s, struct cbr_sim_counters *c);

/* Pulse the hardware reset (as a board's reset button would) and drop queued bytes. */
void cbr_sim_reset(cbr_sim *s);

#ifdef __cplusplus
}
#endif

#endif
