/* control.h - the control plane: requests in, results out, agreement checks, over MPI with the
 * protobuf-c messages of control.proto (generated into the build tree as control.pb-c.h).
 *
 * Rank 0 owns input and output. For each unit of work it broadcasts a Command (RUN + Request, or
 * SHUTDOWN); every rank runs the same engine on the same request; every rank then sends rank 0 a
 * Consistency message (hashes of the generated tokens and of every drafted tree) and rank 0
 * checks that all ranks agree; rank 0 writes the result. par_serve() is that loop, with the
 * reading, running and writing supplied by the caller (launch/).
 *
 * The C side of the messages is the engine's own structs (runtime/engine.h): a par_request wraps
 * a struct frs_gen_request with the request's id and tag, a par_result wraps the tokens and a
 * struct frs_gen_stats. Structs filled by an unpack own their arrays (owned = 1) and are released
 * with par_request_free / par_result_free; a caller's own struct (owned = 0) is never freed here.
 *
 * defines: enum par_command_kind, struct par_request, struct par_result, struct par_consistency,
 *          struct par_serve_ops, par_request_free, par_result_free, par_request_pack,
 *          par_request_unpack, par_result_pack, par_result_unpack, par_command_pack,
 *          par_command_unpack, par_consistency_pack, par_consistency_unpack, par_bcast_command,
 *          par_bcast_command_status, par_check_consistency, par_serve
 */
#ifndef FRSPEC_PAR_CONTROL_H
#define FRSPEC_PAR_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/engine.h"
#include "../runtime/status.h"
#include "comm.h"

enum par_command_kind {
    PAR_CMD_RUN = 0,      /* == frspec.Command.Kind.RUN */
    PAR_CMD_SHUTDOWN = 1, /* == frspec.Command.Kind.SHUTDOWN */
};

struct par_request {
    uint64_t id;
    char *tag;                  /* the user's name for it (batch files: the prompt id); may be NULL */
    struct frs_gen_request gen; /* prompt, limits, stop tokens, sampling, tree */
    int owned;                  /* 1: tag, gen.prompt, gen.stop are malloc'd and freed here */
};

struct par_result {
    uint64_t id;
    char *tag;                  /* may be NULL */
    int32_t *tokens;            /* the generated tokens (stats.n_tokens of them) */
    struct frs_gen_stats stats; /* stop_reason is one of the engine's static strings */
    int owned;                  /* 1: tag and tokens are malloc'd and freed here */
};

struct par_consistency {
    int rank;
    uint64_t request_id;
    uint64_t tokens_hash;
    uint64_t tree_hash;
};

void par_request_free(struct par_request *r); /* frees only when owned; zeroes r */
void par_result_free(struct par_result *r);

/* Messages <-> bytes. pack: *buf is malloc'd (free it), *len its size. unpack: the struct is
 * written whole (owned = 1 where it has arrays); bad bytes or out-of-range fields give
 * FRS_ERR_FORMAT naming the message and field. */
enum frs_status par_request_pack(const struct par_request *r, uint8_t **buf, size_t *len);
enum frs_status par_request_unpack(const uint8_t *buf, size_t len, struct par_request *r);
enum frs_status par_result_pack(const struct par_result *r, uint8_t **buf, size_t *len);
enum frs_status par_result_unpack(const uint8_t *buf, size_t len, struct par_result *r);
/* req may be NULL for SHUTDOWN; unpack leaves *req zeroed for SHUTDOWN. */
enum frs_status par_command_pack(enum par_command_kind kind, const struct par_request *req, uint8_t **buf,
                                 size_t *len);
enum frs_status par_command_unpack(const uint8_t *buf, size_t len, enum par_command_kind *kind,
                                   struct par_request *req);
enum frs_status par_consistency_pack(const struct par_consistency *m, uint8_t **buf, size_t *len);
enum frs_status par_consistency_unpack(const uint8_t *buf, size_t len, struct par_consistency *m);

/* Collective. On rank 0, *kind and *req are the command to send (req unchanged); on the others
 * they are written (req owned; free it with par_request_free). Not watched by the watchdog: the
 * other ranks may wait here for as long as rank 0 waits for input. */
enum frs_status par_bcast_command(struct frs_comm *c, enum par_command_kind *kind, struct par_request *req);
/* The same, with rank 0's status: root_st != FRS_OK on rank 0 (it could not produce the command,
 * e.g. a malformed prompts line) tells the others, which return FRS_ERR_PEER instead of waiting;
 * rank 0 gets root_st back. For loops other than par_serve (the batched runner). */
enum frs_status par_bcast_command_status(struct frs_comm *c, enum frs_status root_st, enum par_command_kind *kind,
                                         struct par_request *req);

/* Collective: every rank's record goes to rank 0 (mine->rank is set from c), rank 0 compares
 * each with its own and the verdict comes back to all: FRS_OK when every rank agrees, else
 * FRS_ERR_PEER on every rank with a message naming the first disagreeing rank and field. */
enum frs_status par_check_consistency(struct frs_comm *c, const struct par_consistency *mine);

/* par_serve's callbacks. next and deliver run on rank 0 only, run on every rank. */
struct par_serve_ops {
    /* The next request into *req (owned or not), or *done = 1 when there are no more. */
    enum frs_status (*next)(void *user, struct par_request *req, int *done);
    /* Generate req on this rank into *res (tokens + stats incl. tokens_hash/tree_hash); res
     * arrays may stay the caller's (owned = 0) until the next call. */
    enum frs_status (*run)(void *user, const struct par_request *req, struct par_result *res);
    /* Write a finished result (JSONL line...). */
    enum frs_status (*deliver)(void *user, const struct par_request *req, const struct par_result *res);
    void *user;
};

/* The request loop: rank 0 reads with next() and broadcasts RUN/SHUTDOWN; every rank runs; the
 * consistency check; rank 0 delivers. Returns FRS_OK after SHUTDOWN. Any other status means this
 * rank (or, FRS_ERR_PEER, another) failed, and the others may be waiting in a collective: call
 * par_fail(c, st) to take the job down. When next() fails on rank 0 the others are told and
 * return FRS_ERR_PEER instead of waiting. */
enum frs_status par_serve(struct frs_comm *c, const struct par_serve_ops *ops);

#endif
