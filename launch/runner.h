/* runner.h - serving prompts on every rank: rank 0 reads and tokenizes prompts, the control plane
 * (parallel/control.h, par_serve) broadcasts each request, every rank runs the engine, rank 0
 * streams or writes the results.
 *
 * defines: struct run_options, run_options_init, run_options_parse, runner_main
 */
#ifndef FRSPEC_RUNNER_H
#define FRSPEC_RUNNER_H

#include <stdint.h>

#include "bootstrap.h"
#include "options.h"

#define RUN_MAX_STOP 16

struct run_options {
    int chat;
    const char *system;
    int json;
    const char *prompts_file; /* batch JSONL */
    const char *out;          /* batch results JSONL (default stdout) */
    int resume;
    int32_t stop[RUN_MAX_STOP];
    int n_stop;
    int ignore_eos;
    int quiet;
    const int32_t *prompt_ids; /* --prompt-ids: tokens given directly (no tokenizer needed) */
    int n_prompt_ids;
};

void run_options_init(struct run_options *o);
/* 1 handled, 0 not ours, -1 bad value (message printed) */
int run_options_parse(struct run_options *o, int argc, char **argv, int *i);
/* Bring the rank up (MPI, binding, device), load, serve the prompt or the batch, tear down.
 * Returns the process exit code. argc/argv: the parallel options are consumed from them. */
int runner_main(struct gen_options *opt, struct run_options *ro, struct par_options *po, const char *prompt,
                int *argc, char ***argv);

#endif
