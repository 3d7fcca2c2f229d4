/* cli.h - the subcommands of the frspec program and the helpers they share. Only launch/
 * prints errors and exits; everything below returns enum frs_status.
 *
 * defines: cmd_generate, cmd_tokenize, cmd_vocab, cmd_convert_draft, cmd_quantize, cmd_bench, cli_die,
 *          cli_parse_int, cli_parse_float, cli_read_file, cli_default_model, cli_default_draft,
 *          cli_default_fr
 */
#ifndef FRSPEC_CLI_H
#define FRSPEC_CLI_H

#include <stddef.h>

#include "status.h"

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_convert_draft(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Print "frspec: <recorded error>" (rank/host prefixed when set) and return the exit code 1. */
int cli_fail(const char *what);
/* Parse an option value; on error print which option and return non-zero. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out);
int cli_parse_float(const char *opt, const char *s, double lo, double hi, float *out);
int cli_parse_u64(const char *opt, const char *s, unsigned long long *out);
/* Whole file (or stdin for "-") into a NUL-terminated buffer. */
enum frs_status cli_read_file(const char *path, char **out, size_t *len);

/* The embedded default pair (defaults.c): <prefix>/share/frspec/default when the program is
 * installed, else the source tree's configs/default. */
const char *cli_default_model(void); /* .../target */
const char *cli_default_draft(void); /* .../draft */
const char *cli_default_fr(void);    /* .../fr/freq_8192.pt */

#endif
