/* session.h - what one rank loads to serve requests: the parallel context, the target shard,
 * the replicated draft head with its FR-Spec vocabulary, the tokenizer (rank 0), the backend.
 *
 * defines: struct session, session_open, session_close, session_print_config, session_step_rows,
 *          session_step_tokens
 */
#ifndef FRSPEC_SESSION_H
#define FRSPEC_SESSION_H

#include "backend.h"
#include "comm.h"
#include "draft.h"
#include "model.h"
#include "options.h"
#include "tokenizer.h"

struct session {
    struct gen_options opt;
    struct frs_comm *comm; /* NULL when single process */
    int rank, size;
    struct llama_model model;
    int have_model;
    struct eagle_draft draft;
    int have_draft;
    struct frs_tokenizer *tok; /* NULL when not needed */
    struct frs_backend be;
    int have_backend;
    const char *device; /* resolved: "cpu" or "cuda" */
};

/* Load everything per the options; on failure the error is recorded and the partial state freed. */
enum frs_status session_open(struct session *s, const struct gen_options *o, struct frs_comm *comm,
                             int want_tokenizer);
void session_close(struct session *s);
/* The batched engine's verify rows per step (frs_limits.max_step_rows) for the options. */
int session_step_rows(const struct session *s);
/* The batched engine's token budget of one step (--step-tokens, else its default). */
int session_step_tokens(const struct session *s);
/* Rank 0: one table of the resolved configuration. */
void session_print_config(const struct session *s, FILE *f);

#endif
