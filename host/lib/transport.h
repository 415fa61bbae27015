/*
 * transport.h - byte pipes to a board (private).
 *
 * A transport moves bytes and nothing else: the packet protocol (proto.c) and the device
 * logic (accel.c) sit above it and are the same for every link. Like libusb's OS backends or
 * tpm2-tss's TCTIs, each transport is a small table of functions chosen from the URI.
 */
#ifndef CBR_TRANSPORT_H
#define CBR_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cbr_transport;

/* What a transport can tell about the link itself (zero where it cannot). */
struct cbr_link_stats {
    uint64_t cycles;          /* device clock cycles so far (the simulator knows them) */
    uint64_t link_wait_cycles;/* cycles the device waited on the link, either direction */
    uint64_t bytes_out, bytes_in;
    double h2d_bytes_per_cycle;  /* the link's rate each way, where known (the simulator) */
    double d2h_bytes_per_cycle;
    uint32_t max_in_flight;   /* host -> device bytes that may be unanswered at once, for a
                                 link without flow control (0: no limit) */
    double bytes_per_second;  /* the link's rate each way, for timeouts (0: fast/unknown) */
    uint32_t latency_cycles;  /* the link's latency each way, where known (the simulator) */
    double model_seconds;     /* time the calling thread spent running a simulated board's
                                 model (0 for a real link) */
};

struct cbr_transport_ops {
    const char *name;
    /* Queue n bytes to the device; buf may be reused once it returns (the transport has sent
     * or copied the bytes). Returns 0 or a CBR_E* code with a message in err: CBR_ETIMEDOUT
     * or CBR_EIO for a transient failure (the client resynchronises and retries idempotent
     * commands), CBR_ENODEV when the device is gone (no retries). */
    int (*send)(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                char *err, size_t errlen);
    /* Wait up to timeout_ms for bytes from the device; *got = how many were stored (0 on
     * timeout, which is not an error here). Returns 0 or CBR_E* (ENODEV: unplugged). */
    int (*recv)(struct cbr_transport *t, void *buf, size_t cap, size_t *got, int timeout_ms,
                char *err, size_t errlen);
    /* Optional: link statistics. */
    void (*stats)(struct cbr_transport *t, struct cbr_link_stats *s);
    /* Optional: let about `cycles` device cycles pass without traffic (the simulator clocks
     * the model; a real link would sleep). The driver waits this way for a tile it knows is
     * long instead of polling the link busy. */
    void (*idle)(struct cbr_transport *t, uint64_t cycles);
    void (*close)(struct cbr_transport *t);
};

struct cbr_transport {
    const struct cbr_transport_ops *ops;
    void *priv;
};

/* The simulated board: "RxC" (or "" for the default shape). Options come from the
 * environment: CBR_SIM_PATH (where libcbrsim_RxC.so are), CBR_TRACE (an FST file),
 * CBR_SIM_LINK (bytes per cycle each way, "H2D[,D2H]"), CBR_SIM_LATENCY (cycles each way). */
int cbr_transport_sim_open(struct cbr_transport **t, const char *args, char *err,
                           size_t errlen);

/* Xilinx XDMA character devices PREFIX_h2c_0, PREFIX_c2h_0 and PREFIX_user ("" or NULL:
 * /dev/xdma0); the user BAR's registers are those of docs/links.md. */
int cbr_transport_xdma_open(struct cbr_transport **t, const char *prefix, char *err,
                            size_t errlen);

/* A tty: "PATH[@BAUD]" (tr_serial.c). Raw 8N1, no flow control, taken exclusively. */
int cbr_transport_serial_open(struct cbr_transport **t, const char *args, char *err,
                              size_t errlen);

#define CBR_SERIAL_DEFAULT_BAUD 3000000
#define CBR_SERIAL_MIN_BAUD 300
#define CBR_SERIAL_MAX_BAUD 12000000

/* The pieces of the serial transport, for its unit test: split "PATH[@BAUD]"; set a tty raw
 * 8N1 at baud and flush it (the rate read back within 3 %); read its output rate; are two
 * rates close enough for a UART. */
int cbr_serial_parse_uri(const char *args, char *path, size_t plen, unsigned *baud, char *err,
                         size_t len);
int cbr_serial_configure(int fd, const char *path, unsigned baud, char *err, size_t len);
int cbr_serial_get_rate(int fd, unsigned *baud);
bool cbr_serial_rate_close(unsigned asked, unsigned got);

/* Emit "sim:RxC" for each simulated board that can be loaded now. */
void cbr_sim_list(void (*emit)(const char *uri, void *ctx), void *ctx);

/* The array shape the sim build will use for args ("" -> default). */
int cbr_sim_parse_shape(const char *args, unsigned *rows, unsigned *cols);

#define CBR_SIM_DEFAULT_SHAPE "16x16"

#endif
