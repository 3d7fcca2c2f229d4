/* engine.h - the generation loop every backend shares: autoregressive or speculative
 * (draft tree -> verify -> acceptance walk, the backend's or the host's -> commit), stop tokens,
 * limits, statistics.
 *
 * defines: struct frs_gen_request, struct frs_gen_stats, struct frs_token_sink, engine_generate,
 *          engine_stats_json
 */
#ifndef FRSPEC_ENGINE_H
#define FRSPEC_ENGINE_H

#include <stdint.h>

#include "backend.h"
#include "status.h"

/* Called around each unit of a generation (the prefill is step 0, then each decode step or
 * speculative iteration), e.g. to arm a step watchdog (parallel/watchdog.c): begin before the
 * step, end once the generation is over. Both may be NULL. */
struct frs_step_watch {
    void (*begin)(void *user, long step);
    void (*end)(void *user);
    void *user;
};

struct frs_gen_request {
    const int32_t *prompt;
    int n_prompt;
    int max_new_tokens;
    const int32_t *stop; /* generation ends after the first of these (it is kept in the output) */
    int n_stop;
    struct frs_sampling sampling;
    int speculative;             /* needs a backend created with a draft */
    struct frs_tree_params tree; /* when speculative */
    const struct frs_step_watch *watch; /* optional (NULL): not sent to other ranks, each sets its own */
};

struct frs_gen_stats {
    int n_tokens;       /* generated tokens */
    int iterations;     /* speculative iterations, or decode steps (+1 for the token after prefill) */
    double mean_accepted; /* tokens per speculative iteration, bonus included (0 when autoregressive) */
    int accept_hist[FRS_MAX_TREE + 1]; /* iterations that produced i tokens */
    double t_prefill;   /* seconds: prefill + first token */
    double t_decode;    /* seconds after prefill */
    double t_draft, t_verify, t_other; /* speculative split of t_decode */
    const char *stop_reason; /* "stop_token", "max_new_tokens", "context" */
    uint64_t tokens_hash;
    uint64_t tree_hash; /* over every drafted tree: equal on every rank */
};

/* Called with each chunk of new tokens as soon as it is known (may be NULL). */
struct frs_token_sink {
    void (*emit)(void *user, const int32_t *tokens, int n);
    void *user;
};

/* Generate into out (capacity max_out >= req->max_new_tokens). The backend is reset first. */
enum frs_status engine_generate(struct frs_backend *be, const struct frs_gen_request *req,
                                int32_t *out, int max_out, struct frs_gen_stats *st,
                                const struct frs_token_sink *sink);

uint64_t engine_hash_tokens(const int32_t *t, int n, uint64_t h);

#endif
