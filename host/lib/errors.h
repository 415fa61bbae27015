/*
 * errors.h - how library code reports failures (private).
 *
 * Every failure returns a negative CBR_E* code and leaves a message that names the problem
 * and the place: on the device handle when there is one (cbr_errmsg(dev)), otherwise in a
 * per-thread buffer (cbr_errmsg(NULL)).
 */
#ifndef CBR_ERRORS_H
#define CBR_ERRORS_H

#include <stddef.h>

#include "cbr.h"

#define CBR_ERRMSG_MAX 512

#if defined(__GNUC__)
#define CBR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CBR_PRINTF(a, b)
#endif

/* Record a message for calls without a device; returns code. */
int cbr_fail(int code, const char *fmt, ...) CBR_PRINTF(2, 3);

/* Format a message into a caller's buffer err (len bytes); returns code. For code that
 * reports into the buffer it was given (transports, the planner, the board driver). */
int cbr_errf(char *err, size_t len, int code, const char *fmt, ...) CBR_PRINTF(4, 5);

/* A monotonic clock in milliseconds, for timeouts and deadlines. */
double cbr_now_ms(void);

/* cbr_stats.host_seconds: the time libcbr spent on a run since t0, outside a simulated
 * board's model, which took model_s seconds of it (by the monotonic clock: the model
 * computes all the while, and the thread's CPU clock is a system call, too slow to read
 * around each of its many slices). With a model, the wall time outside it, so an upper
 * bound when other processes share the CPU (a CPU clock less a wall time would come out
 * low then); without one (the cpu device, real links, whose waits block), the thread's CPU
 * time. */
struct cbr_host_clock {
    double cpu, wall;
};
struct cbr_host_clock cbr_host_clock_now(void);
double cbr_host_seconds_since(struct cbr_host_clock t0, double model_s);

/* Clear this thread's message (a call that succeeds need not). */
void cbr_clear_error(void);

/* This thread's message buffer, for code that formats in place. */
char *cbr_thread_errbuf(void);

#endif
