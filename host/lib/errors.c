/* errors.c - error codes to text, and the per-thread message of handle-less calls. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static _Thread_local char thread_msg[CBR_ERRMSG_MAX];

const char *cbr_strerror(int code)
{
    switch (code) {
    case CBR_OK: return "success";
    case CBR_EINVAL: return "invalid argument";
    case CBR_ENOMEM: return "out of memory";
    case CBR_EIO: return "input/output error";
    case CBR_ETIMEDOUT: return "timed out";
    case CBR_ENODEV: return "no such device";
    case CBR_EBADMSG: return "corrupt or malformed data";
    case CBR_ENOTSUP: return "not supported";
    case CBR_ERANGE: return "value out of range";
    case CBR_EBUSY: return "busy";
    case CBR_EPROTO: return "protocol error";
    case CBR_ENOENT: return "not found";
    case CBR_EAGAIN: return "not finished yet";
    case CBR_EDEVICE: return "the device reported an error";
    default: return "unknown error";
    }
}

int cbr_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_msg, sizeof thread_msg, fmt, ap);
    va_end(ap);
    return code;
}

void cbr_clear_error(void)
{
    thread_msg[0] = '\0';
}

char *cbr_thread_errbuf(void)
{
    return thread_msg;
}

int cbr_errf(char *err, size_t len, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return code;
}

double cbr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct cbr_host_clock cbr_host_clock_now(void)
{
    return (struct cbr_host_clock){thread_cpu_s(), cbr_now_ms() / 1e3};
}

double cbr_host_seconds_since(struct cbr_host_clock t0, double model_s)
{
    const double s = model_s > 0 ? cbr_now_ms() / 1e3 - t0.wall - model_s
                                 : thread_cpu_s() - t0.cpu;
    return s > 0 ? s : 0;
}
