/* control.c - control.proto messages <-> the engine's structs, the Command broadcast, the
 * consistency check and the request loop (par_serve). See control.h.
 */
#include "control.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control.pb-c.h"
#include "par_state.h"

/* ---- ownership ------------------------------------------------------------------------------ */

void par_request_free(struct par_request *r)
{
    if (!r)
        return;
    if (r->owned) {
        free(r->tag);
        free((void *)r->gen.prompt);
        free((void *)r->gen.stop);
    }
    memset(r, 0, sizeof *r);
}

void par_result_free(struct par_result *r)
{
    if (!r)
        return;
    if (r->owned) {
        free(r->tag);
        free(r->tokens);
    }
    memset(r, 0, sizeof *r);
}

static char *ctl_strdup(const char *s)
{
    if (!s || !*s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int32_t *ctl_dup_i32(const int32_t *src, size_t n)
{
    int32_t *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, src, n * sizeof *d);
    return d;
}

/* Pack any message into a malloc'd buffer. */
static enum frs_status ctl_pack(const ProtobufCMessage *m, const char *what, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return FRS_ERR(FRS_ERR_OOM, "%s: %zu bytes", what, n);
    size_t w = protobuf_c_message_pack(m, b);
    if (w != n) {
        free(b);
        return FRS_ERR(FRS_ERR_INTERNAL, "%s: packed %zu of %zu bytes", what, w, n);
    }
    *buf = b;
    *len = n;
    return FRS_OK;
}

/* ---- Request ------------------------------------------------------------------------------- */

/* Views of r in pb (no copies); sub-messages in the caller's storage. */
static void req_to_pb(const struct par_request *r, Frspec__Request *pb, Frspec__Sampling *sp, Frspec__TreeShape *tp)
{
    frspec__request__init(pb);
    frspec__sampling__init(sp);
    frspec__tree_shape__init(tp);
    pb->id = r->id;
    pb->n_prompt_tokens = r->gen.n_prompt > 0 ? (size_t)r->gen.n_prompt : 0;
    pb->prompt_tokens = (int32_t *)r->gen.prompt;
    sp->temperature = r->gen.sampling.temperature;
    sp->top_p = r->gen.sampling.top_p;
    sp->top_k = r->gen.sampling.top_k;
    sp->seed = r->gen.sampling.seed;
    pb->sampling = sp;
    pb->max_new_tokens = r->gen.max_new_tokens;
    pb->n_stop_tokens = r->gen.n_stop > 0 ? (size_t)r->gen.n_stop : 0;
    pb->stop_tokens = (int32_t *)r->gen.stop;
    pb->speculative = r->gen.speculative != 0;
    tp->depth = r->gen.tree.depth;
    tp->topk = r->gen.tree.topk;
    tp->size = r->gen.tree.size;
    pb->tree = tp;
    if (r->tag)
        pb->tag = r->tag;
}

static enum frs_status req_from_pb(const Frspec__Request *pb, const char *what, struct par_request *r)
{
    memset(r, 0, sizeof *r);
    if (pb->n_prompt_tokens > INT_MAX || pb->n_stop_tokens > INT_MAX)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: %zu prompt / %zu stop tokens exceed INT_MAX", what,
                       pb->n_prompt_tokens, pb->n_stop_tokens);
    if (pb->max_new_tokens < 0)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'max_new_tokens' is negative (%d)", what, (int)pb->max_new_tokens);
    const Frspec__TreeShape *t = pb->tree;
    if (t && (t->depth < 0 || t->topk < 0 || t->size < 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'tree' has a negative entry (depth %d, topk %d, size %d)", what,
                       (int)t->depth, (int)t->topk, (int)t->size);
    r->owned = 1;
    r->id = pb->id;
    r->gen.n_prompt = (int)pb->n_prompt_tokens;
    r->gen.n_stop = (int)pb->n_stop_tokens;
    int32_t *prompt = ctl_dup_i32(pb->prompt_tokens, pb->n_prompt_tokens);
    int32_t *stop = ctl_dup_i32(pb->stop_tokens, pb->n_stop_tokens);
    r->gen.prompt = prompt;
    r->gen.stop = stop;
    r->tag = ctl_strdup(pb->tag);
    if (!prompt || !stop || (pb->tag && *pb->tag && !r->tag)) {
        par_request_free(r);
        return FRS_ERR(FRS_ERR_OOM, "%s: %zu prompt tokens", what, pb->n_prompt_tokens);
    }
    r->gen.max_new_tokens = pb->max_new_tokens;
    r->gen.sampling.top_p = 1.0f; /* absent Sampling = greedy, no filters */
    if (pb->sampling) {
        r->gen.sampling.temperature = pb->sampling->temperature;
        r->gen.sampling.top_p = pb->sampling->top_p;
        r->gen.sampling.top_k = pb->sampling->top_k;
        r->gen.sampling.seed = pb->sampling->seed;
    }
    r->gen.speculative = pb->speculative ? 1 : 0;
    if (t) {
        r->gen.tree.depth = t->depth;
        r->gen.tree.topk = t->topk;
        r->gen.tree.size = t->size;
    }
    return FRS_OK;
}

enum frs_status par_request_pack(const struct par_request *r, uint8_t **buf, size_t *len)
{
    Frspec__Request pb;
    Frspec__Sampling sp;
    Frspec__TreeShape tp;
    req_to_pb(r, &pb, &sp, &tp);
    return ctl_pack(&pb.base, "Request", buf, len);
}

enum frs_status par_request_unpack(const uint8_t *buf, size_t len, struct par_request *r)
{
    memset(r, 0, sizeof *r);
    Frspec__Request *pb = frspec__request__unpack(NULL, len, buf);
    if (!pb)
        return FRS_ERR(FRS_ERR_FORMAT, "Request: %zu bytes are not a valid frspec.Request", len);
    enum frs_status st = req_from_pb(pb, "Request", r);
    frspec__request__free_unpacked(pb, NULL);
    return st;
}

/* ---- Result -------------------------------------------------------------------------------- */

static const char *const ctl_stop_reasons[] = {"stop_token", "max_new_tokens", "context"};

enum frs_status par_result_pack(const struct par_result *r, uint8_t **buf, size_t *len)
{
    Frspec__Result pb;
    Frspec__Timing tm;
    frspec__result__init(&pb);
    frspec__timing__init(&tm);
    const struct frs_gen_stats *s = &r->stats;
    if (s->n_tokens < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "Result: n_tokens %d is negative", s->n_tokens);
    pb.id = r->id;
    pb.n_tokens = (size_t)s->n_tokens;
    pb.tokens = r->tokens;
    pb.iterations = s->iterations;
    pb.mean_accepted = s->mean_accepted;
    size_t nh = FRS_MAX_TREE + 1;
    while (nh > 0 && s->accept_hist[nh - 1] == 0) /* trailing zeros are implied */
        nh--;
    int32_t hist[FRS_MAX_TREE + 1];
    for (size_t i = 0; i < nh; i++)
        hist[i] = s->accept_hist[i];
    pb.n_accepted_hist = nh;
    pb.accepted_hist = hist;
    tm.prefill_s = s->t_prefill;
    tm.decode_s = s->t_decode;
    tm.draft_s = s->t_draft;
    tm.verify_s = s->t_verify;
    tm.other_s = s->t_other;
    pb.timing = &tm;
    if (s->stop_reason)
        pb.stop_reason = (char *)s->stop_reason;
    if (r->tag)
        pb.tag = r->tag;
    return ctl_pack(&pb.base, "Result", buf, len);
}

enum frs_status par_result_unpack(const uint8_t *buf, size_t len, struct par_result *r)
{
    memset(r, 0, sizeof *r);
    Frspec__Result *pb = frspec__result__unpack(NULL, len, buf);
    if (!pb)
        return FRS_ERR(FRS_ERR_FORMAT, "Result: %zu bytes are not a valid frspec.Result", len);
    enum frs_status st = FRS_OK;
    struct frs_gen_stats *s = &r->stats;
    if (pb->n_tokens > INT_MAX) {
        st = FRS_ERR(FRS_ERR_FORMAT, "Result: %zu tokens exceed INT_MAX", pb->n_tokens);
        goto out;
    }
    if (pb->n_accepted_hist > FRS_MAX_TREE + 1) {
        st = FRS_ERR(FRS_ERR_FORMAT, "Result: field 'accepted_hist' has %zu entries, at most %d allowed",
                     pb->n_accepted_hist, FRS_MAX_TREE + 1);
        goto out;
    }
    if (pb->stop_reason && *pb->stop_reason) {
        for (size_t i = 0; i < sizeof ctl_stop_reasons / sizeof *ctl_stop_reasons; i++)
            if (!strcmp(pb->stop_reason, ctl_stop_reasons[i]))
                s->stop_reason = ctl_stop_reasons[i];
        if (!s->stop_reason) {
            st = FRS_ERR(FRS_ERR_FORMAT, "Result: field 'stop_reason' has unknown value '%.40s'", pb->stop_reason);
            goto out;
        }
    }
    r->owned = 1;
    r->id = pb->id;
    s->n_tokens = (int)pb->n_tokens;
    r->tokens = ctl_dup_i32(pb->tokens, pb->n_tokens);
    r->tag = ctl_strdup(pb->tag);
    if (!r->tokens || (pb->tag && *pb->tag && !r->tag)) {
        par_result_free(r);
        st = FRS_ERR(FRS_ERR_OOM, "Result: %zu tokens", pb->n_tokens);
        goto out;
    }
    s->iterations = pb->iterations;
    s->mean_accepted = pb->mean_accepted;
    for (size_t i = 0; i < pb->n_accepted_hist; i++)
        s->accept_hist[i] = pb->accepted_hist[i];
    if (pb->timing) {
        s->t_prefill = pb->timing->prefill_s;
        s->t_decode = pb->timing->decode_s;
        s->t_draft = pb->timing->draft_s;
        s->t_verify = pb->timing->verify_s;
        s->t_other = pb->timing->other_s;
    }
out:
    frspec__result__free_unpacked(pb, NULL);
    return st;
}

/* ---- Command, Consistency ------------------------------------------------------------------ */

enum frs_status par_command_pack(enum par_command_kind kind, const struct par_request *req, uint8_t **buf,
                                 size_t *len)
{
    Frspec__Command pb;
    Frspec__Request rq;
    Frspec__Sampling sp;
    Frspec__TreeShape tp;
    frspec__command__init(&pb);
    if (kind != PAR_CMD_RUN && kind != PAR_CMD_SHUTDOWN)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "Command: kind %d is neither RUN nor SHUTDOWN", (int)kind);
    pb.kind = kind == PAR_CMD_RUN ? FRSPEC__COMMAND__KIND__RUN : FRSPEC__COMMAND__KIND__SHUTDOWN;
    if (kind == PAR_CMD_RUN) {
        if (!req)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "Command: RUN without a request");
        req_to_pb(req, &rq, &sp, &tp);
        pb.request = &rq;
    }
    return ctl_pack(&pb.base, "Command", buf, len);
}

enum frs_status par_command_unpack(const uint8_t *buf, size_t len, enum par_command_kind *kind,
                                   struct par_request *req)
{
    memset(req, 0, sizeof *req);
    Frspec__Command *pb = frspec__command__unpack(NULL, len, buf);
    if (!pb)
        return FRS_ERR(FRS_ERR_FORMAT, "Command: %zu bytes are not a valid frspec.Command", len);
    enum frs_status st = FRS_OK;
    if (pb->kind == FRSPEC__COMMAND__KIND__SHUTDOWN) {
        *kind = PAR_CMD_SHUTDOWN;
    } else if (pb->kind == FRSPEC__COMMAND__KIND__RUN) {
        *kind = PAR_CMD_RUN;
        if (!pb->request)
            st = FRS_ERR(FRS_ERR_FORMAT, "Command: RUN without field 'request'");
        else
            st = req_from_pb(pb->request, "Command.request", req);
    } else {
        st = FRS_ERR(FRS_ERR_FORMAT, "Command: field 'kind' has unknown value %d", (int)pb->kind);
    }
    frspec__command__free_unpacked(pb, NULL);
    return st;
}

enum frs_status par_consistency_pack(const struct par_consistency *m, uint8_t **buf, size_t *len)
{
    Frspec__Consistency pb;
    frspec__consistency__init(&pb);
    pb.rank = m->rank;
    pb.request_id = m->request_id;
    pb.tokens_hash = m->tokens_hash;
    pb.tree_hash = m->tree_hash;
    return ctl_pack(&pb.base, "Consistency", buf, len);
}

enum frs_status par_consistency_unpack(const uint8_t *buf, size_t len, struct par_consistency *m)
{
    memset(m, 0, sizeof *m);
    Frspec__Consistency *pb = frspec__consistency__unpack(NULL, len, buf);
    if (!pb)
        return FRS_ERR(FRS_ERR_FORMAT, "Consistency: %zu bytes are not a valid frspec.Consistency", len);
    m->rank = pb->rank;
    m->request_id = pb->request_id;
    m->tokens_hash = pb->tokens_hash;
    m->tree_hash = pb->tree_hash;
    frspec__consistency__free_unpacked(pb, NULL);
    return FRS_OK;
}

/* ---- collectives ---------------------------------------------------------------------------- */

static MPI_Comm ctl_mpi(const struct frs_comm *c)
{
    return c->mpi_comm ? *(MPI_Comm *)c->mpi_comm : MPI_COMM_WORLD;
}

#define CTL_ROOT_FAILED UINT64_MAX /* length sent when rank 0 could not produce the command */

/* root_st != FRS_OK on rank 0: tell the others rank 0 failed (they return FRS_ERR_PEER). */
static enum frs_status ctl_bcast_command(struct frs_comm *c, enum frs_status root_st, enum par_command_kind *kind,
                                         struct par_request *req)
{
    if (!c || c->size <= 1)
        return root_st;
    enum frs_status st = root_st;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t n = CTL_ROOT_FAILED;
    if (c->rank == 0) {
        if (st == FRS_OK)
            st = par_command_pack(*kind, req, &buf, &len);
        if (st == FRS_OK)
            n = len;
        MPI_CHECK_GOTO(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, ctl_mpi(c)), st, out);
        if (n != CTL_ROOT_FAILED && n > 0)
            MPI_CHECK_GOTO(MPI_Bcast(buf, (int)n, MPI_BYTE, 0, ctl_mpi(c)), st, out);
        goto out;
    }
    MPI_CHECK_GOTO(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, ctl_mpi(c)), st, out);
    if (n == CTL_ROOT_FAILED) {
        st = FRS_ERR(FRS_ERR_PEER, "rank 0 failed to produce the next command (see its message)");
        goto out;
    }
    if (n > INT_MAX) {
        st = FRS_ERR(FRS_ERR_FORMAT, "Command from rank 0: %" PRIu64 " bytes exceed INT_MAX", n);
        goto out;
    }
    buf = malloc(n ? n : 1);
    if (!buf) {
        st = FRS_ERR(FRS_ERR_OOM, "Command from rank 0: %" PRIu64 " bytes", n);
        goto out;
    }
    if (n > 0)
        MPI_CHECK_GOTO(MPI_Bcast(buf, (int)n, MPI_BYTE, 0, ctl_mpi(c)), st, out);
    st = par_command_unpack(buf, n, kind, req);
out:
    free(buf);
    return st;
}

enum frs_status par_bcast_command(struct frs_comm *c, enum par_command_kind *kind, struct par_request *req)
{
    if (c && c->size > 1 && c->rank == 0 && *kind > PAR_CMD_SHUTDOWN)
        return ctl_bcast_command(c, FRS_ERR(FRS_ERR_INVALID_ARG, "Command: kind %d", (int)*kind), kind, req);
    return ctl_bcast_command(c, FRS_OK, kind, req);
}

enum frs_status par_bcast_command_status(struct frs_comm *c, enum frs_status root_st, enum par_command_kind *kind,
                                         struct par_request *req)
{
    if (root_st == FRS_OK)
        return par_bcast_command(c, kind, req);
    return ctl_bcast_command(c, root_st, kind, req);
}

#define CTL_SLOT 64 /* one packed Consistency (at most 4 * 11 bytes) behind a length byte */

enum frs_status par_check_consistency(struct frs_comm *c, const struct par_consistency *mine)
{
    if (!c || c->size <= 1)
        return FRS_OK;
    struct par_consistency me = *mine;
    me.rank = c->rank;
    uint8_t slot[CTL_SLOT] = {0};
    uint8_t *all = NULL, *packed = NULL;
    size_t len = 0;
    enum frs_status st = par_consistency_pack(&me, &packed, &len);
    if (st != FRS_OK)
        return st;
    if (len >= CTL_SLOT) {
        free(packed);
        return FRS_ERR(FRS_ERR_INTERNAL, "Consistency: %zu bytes packed, slot holds %d", len, CTL_SLOT - 1);
    }
    slot[0] = (uint8_t)len;
    memcpy(slot + 1, packed, len);
    free(packed);
    if (c->rank == 0) {
        all = malloc((size_t)c->size * CTL_SLOT);
        if (!all)
            return FRS_ERR(FRS_ERR_OOM, "Consistency: %d slots", c->size);
    }
    int verdict = -1; /* -1: all agree, else the first disagreeing rank */
    par_watch_begin(c, PAR_WATCH_COLL, "par_check_consistency");
    MPI_CHECK_GOTO(MPI_Gather(slot, CTL_SLOT, MPI_BYTE, all, CTL_SLOT, MPI_BYTE, 0, ctl_mpi(c)), st, out);
    if (c->rank == 0) {
        char why[400] = "";
        for (int r = 1; r < c->size && verdict < 0; r++) {
            const uint8_t *s = all + (size_t)r * CTL_SLOT;
            struct par_consistency o;
            if (s[0] >= CTL_SLOT || par_consistency_unpack(s + 1, s[0], &o) != FRS_OK) {
                verdict = r;
                snprintf(why, sizeof why, "its Consistency message is malformed");
            } else if (o.rank != r) {
                verdict = r;
                snprintf(why, sizeof why, "it reports rank %d", o.rank);
            } else if (o.request_id != me.request_id) {
                verdict = r;
                snprintf(why, sizeof why, "request_id %" PRIu64 " != %" PRIu64 " (ranks are on different requests)",
                         o.request_id, me.request_id);
            } else if (o.tokens_hash != me.tokens_hash) {
                verdict = r;
                snprintf(why, sizeof why,
                         "tokens_hash 0x%016" PRIx64 " != 0x%016" PRIx64 " (the ranks generated different tokens)",
                         o.tokens_hash, me.tokens_hash);
            } else if (o.tree_hash != me.tree_hash) {
                verdict = r;
                snprintf(why, sizeof why,
                         "tree_hash 0x%016" PRIx64 " != 0x%016" PRIx64 " (the ranks drafted different trees)",
                         o.tree_hash, me.tree_hash);
            }
        }
        if (verdict >= 0)
            FRS_ERR(FRS_ERR_PEER, "consistency check on request %" PRIu64 ": rank %d disagrees with rank 0: %s",
                    me.request_id, verdict, why);
    }
    MPI_CHECK_GOTO(MPI_Bcast(&verdict, 1, MPI_INT, 0, ctl_mpi(c)), st, out);
    if (verdict >= 0) {
        st = FRS_ERR_PEER;
        if (c->rank != 0)
            FRS_ERR(st, "consistency check on request %" PRIu64 ": rank 0 found rank %d disagreeing with it",
                    me.request_id, verdict);
    }
out:
    par_watch_end(c, PAR_WATCH_COLL);
    free(all);
    return st;
}

/* ---- the request loop ----------------------------------------------------------------------- */

enum frs_status par_serve(struct frs_comm *c, const struct par_serve_ops *ops)
{
    int root = !c || c->rank == 0;
    for (;;) {
        struct par_request req = {0};
        struct par_result res = {0};
        enum par_command_kind kind = PAR_CMD_SHUTDOWN;
        enum frs_status st = FRS_OK;
        if (root) {
            int done = 0;
            st = ops->next(ops->user, &req, &done);
            kind = done ? PAR_CMD_SHUTDOWN : PAR_CMD_RUN;
        }
        st = ctl_bcast_command(c, st, &kind, &req);
        if (st != FRS_OK || kind == PAR_CMD_SHUTDOWN) {
            par_request_free(&req);
            return st;
        }
        st = ops->run(ops->user, &req, &res);
        if (st == FRS_OK) {
            struct par_consistency me = {.request_id = req.id,
                                         .tokens_hash = res.stats.tokens_hash,
                                         .tree_hash = res.stats.tree_hash};
            st = par_check_consistency(c, &me);
        }
        if (st == FRS_OK && root && ops->deliver)
            st = ops->deliver(ops->user, &req, &res);
        par_result_free(&res);
        par_request_free(&req);
        if (st != FRS_OK)
            return st;
    }
}
