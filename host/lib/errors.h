/*
 * errors.h - how library code reports failures (private).
 *
 * Every failure returns a negative CBR_E* code and leaves a message that names the problem
 * and the place: on the device handle when there is one (cbr_errmsg(dev)), otherwise in a
 * per-thread buffer (cbr_errmsg(NULL)).
 */
#ifndef CBR_ERRORS_H
#define CBR_ERRORS_H

#include "cbr.h"

#define CBR_ERRMSG_MAX 512

#if defined(__GNUC__)
#define CBR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CBR_PRINTF(a, b)
#endif

/* Record a message for calls without a device; returns code. */
int cbr_fail(int code, const char *fmt, ...) CBR_PRINTF(2, 3);

/* Clear this thread's message (a call that succeeds need not). */
void cbr_clear_error(void);

/* This thread's message buffer, for code that formats in place. */
char *cbr_thread_errbuf(void);

#endif
