/* cli.c - error printing and option-value parsing shared by the subcommands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_prog = "cbr";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static bool parse_one(const char *opt, const char *s, size_t len, long min, long max,
                      long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) {
        cli_error("%s: '%s' is not an integer", opt, s);
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (*end != '\0' || end == buf || buf[0] == ' ' || buf[0] == '+') {
        cli_error("%s: '%s' is not an integer", opt, buf);
        return false;
    }
    if (errno == ERANGE || v < min || v > max) {
        cli_error("%s: %s is out of range [%ld, %ld]", opt, buf, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_int(const char *opt, const char *s, long min, long max, long *out)
{
    return parse_one(opt, s, strlen(s), min, max, out);
}

bool cli_parse_list(const char *opt, const char *s, long min, long max, int many, long *out,
                    int *count)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == many) {
            cli_error("%s: '%s' has more than %d values", opt, s, many);
            return false;
        }
        if (!parse_one(opt, p, len, min, max, &out[n]))
            return false;
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (n != 1 && n != many) {
        cli_error("%s: '%s' must be 1 or %d comma-separated values", opt, s, many);
        return false;
    }
    if (n == 1)
        for (int i = 1; i < many; i++)
            out[i] = out[0];
    if (count)
        *count = n;
    return true;
}

void cli_getopt_reset(void)
{
    optind = 0; /* GNU getopt: 0 re-initialises fully */
    opterr = 0;
}

void cli_bad_option(int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        cli_error("option '%s' needs a value", arg);
    else if (optopt && optopt != '?')
        cli_error("unknown option '-%c' (see --help)", optopt);
    else
        cli_error("unknown option '%s' (see --help)", arg);
}

const char *cli_kept_text(uint32_t resident)
{
    static const char *const text[] = {"-", "in", "out", "in+out"};
    return text[resident & (CBR_RESIDENT_INPUT | CBR_RESIDENT_OUTPUT)];
}
