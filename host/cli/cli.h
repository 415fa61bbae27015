/*
 * cli.h - shared pieces of the cbr program: error printing and option-value parsing.
 *
 * The CLI is thin: it parses, loads files, calls libcbr and reports. Exit codes: 0 success,
 * 1 a failure while running, 2 a usage error (bad option or value).
 */
#ifndef CBR_CLI_H
#define CBR_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cbr.h"

enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* "cbr conv" etc.: the prefix of every message. */
extern const char *cli_prog;

/* Print "cbr conv: <message>" to stderr. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Parse a whole decimal integer in [min, max] for option opt. Prints the error. */
bool cli_parse_int(const char *opt, const char *s, long min, long max, long *out);

/* Parse 1 or `many` comma-separated integers in [min, max]; one value fills all `many`.
 * Exactly 1 or `many` values are accepted; *count says how many were given. */
bool cli_parse_list(const char *opt, const char *s, long min, long max, int many, long *out,
                    int *count);

/* Set up getopt for a subcommand's argv (resets its state, silences its messages). */
void cli_getopt_reset(void);

/* Report a getopt failure ('?' or ':') for argv at the current position. */
void cli_bad_option(int c, char **argv);

/* cbr_stats.resident as a table cell: "-", "in", "out" or "in+out" (the tensors that stayed
 * on the board between two layers of a network). */
const char *cli_kept_text(uint32_t resident);

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_conv(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
