/* test_control.c - parallel/control.h: every control.proto message packed and unpacked, the wire
 * bytes of a small message against the protobuf encoding rules, malformed input rejected, and,
 * under mpirun -np 3, the Command broadcast, the request loop and the consistency check (which
 * must catch a planted disagreement and name the rank).
 */
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "control.h"
#include "testutil.h"

/* A request every rank can build by itself (closed form), so receivers compare with it. */
static void make_request(uint64_t id, struct par_request *r, int32_t *prompt, int32_t *stop, char *tag)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    int n = 5 + (int)(id % 7) * 300; /* up to 1805 tokens: multi-byte varints and lengths */
    for (int i = 0; i < n; i++)
        prompt[i] = (int32_t)((i * 2654435761u + id) % 128256u);
    stop[0] = 128001;
    stop[1] = 128009;
    snprintf(tag, 32, "prompt-%llu", (unsigned long long)id);
    r->tag = tag;
    r->gen.prompt = prompt;
    r->gen.n_prompt = n;
    r->gen.stop = stop;
    r->gen.n_stop = 2;
    r->gen.max_new_tokens = 64 + (int)id;
    r->gen.sampling.temperature = id % 2 ? 0.7f : 0.0f;
    r->gen.sampling.top_p = 0.9f;
    r->gen.sampling.top_k = 40;
    r->gen.sampling.seed = 0x123456789abcdefull + id;
    r->gen.speculative = (int)(id % 2);
    r->gen.tree.depth = 6;
    r->gen.tree.topk = 10;
    r->gen.tree.size = 60;
}

static int same_request(const struct par_request *a, const struct par_request *b)
{
    return a->id == b->id && !strcmp(a->tag ? a->tag : "", b->tag ? b->tag : "") &&
           a->gen.n_prompt == b->gen.n_prompt &&
           (a->gen.n_prompt == 0 || !memcmp(a->gen.prompt, b->gen.prompt, (size_t)a->gen.n_prompt * sizeof(int32_t))) &&
           a->gen.n_stop == b->gen.n_stop &&
           (a->gen.n_stop == 0 || !memcmp(a->gen.stop, b->gen.stop, (size_t)a->gen.n_stop * sizeof(int32_t))) &&
           a->gen.max_new_tokens == b->gen.max_new_tokens &&
           a->gen.sampling.temperature == b->gen.sampling.temperature &&
           a->gen.sampling.top_p == b->gen.sampling.top_p && a->gen.sampling.top_k == b->gen.sampling.top_k &&
           a->gen.sampling.seed == b->gen.sampling.seed && a->gen.speculative == b->gen.speculative &&
           a->gen.tree.depth == b->gen.tree.depth && a->gen.tree.topk == b->gen.tree.topk &&
           a->gen.tree.size == b->gen.tree.size;
}

static void test_request_roundtrip(void)
{
    static int32_t prompt[2000], stop[2];
    char tag[32];
    for (uint64_t id = 0; id < 7; id++) {
        struct par_request r, back;
        make_request(id, &r, prompt, stop, tag);
        uint8_t *buf;
        size_t len;
        CHECK_OK(par_request_pack(&r, &buf, &len));
        CHECK_OK(par_request_unpack(buf, len, &back));
        CHECK(back.owned == 1 && same_request(&r, &back), "Request %llu round trip", (unsigned long long)id);
        par_request_free(&back);
        free(buf);
    }
    /* an empty request (no prompt, no tag, no stop) survives too */
    struct par_request e = {0}, back;
    e.gen.sampling.top_p = 1.0f;
    uint8_t *buf;
    size_t len;
    CHECK_OK(par_request_pack(&e, &buf, &len));
    CHECK_OK(par_request_unpack(buf, len, &back));
    CHECK(same_request(&e, &back) && back.tag == NULL, "empty Request round trip");
    par_request_free(&back);
    free(buf);
}

static void test_result_roundtrip(void)
{
    int32_t tokens[300];
    struct par_result r = {0}, back;
    for (int i = 0; i < 300; i++)
        tokens[i] = (int32_t)(i * 977 % 128256);
    r.id = 42;
    r.tag = "gsm8k-17";
    r.tokens = tokens;
    r.stats.n_tokens = 300;
    r.stats.iterations = 80;
    r.stats.mean_accepted = 3.75;
    r.stats.accept_hist[1] = 10;
    r.stats.accept_hist[4] = 60;
    r.stats.accept_hist[7] = 10;
    r.stats.t_prefill = 0.125;
    r.stats.t_decode = 1.5;
    r.stats.t_draft = 0.5;
    r.stats.t_verify = 0.75;
    r.stats.t_other = 0.25;
    r.stats.stop_reason = "max_new_tokens";
    uint8_t *buf;
    size_t len;
    CHECK_OK(par_result_pack(&r, &buf, &len));
    CHECK_OK(par_result_unpack(buf, len, &back));
    CHECK(back.id == 42 && back.owned && !strcmp(back.tag, "gsm8k-17"), "Result id/tag");
    CHECK(back.stats.n_tokens == 300 && !memcmp(back.tokens, tokens, sizeof tokens), "Result tokens");
    CHECK(!memcmp(back.stats.accept_hist, r.stats.accept_hist, sizeof r.stats.accept_hist), "Result histogram");
    CHECK(back.stats.iterations == 80 && back.stats.mean_accepted == 3.75 && back.stats.t_prefill == 0.125 &&
              back.stats.t_decode == 1.5 && back.stats.t_draft == 0.5 && back.stats.t_verify == 0.75 &&
              back.stats.t_other == 0.25,
          "Result statistics and timings");
    CHECK(back.stats.stop_reason && !strcmp(back.stats.stop_reason, "max_new_tokens"), "Result stop_reason");
    par_result_free(&back);
    free(buf);

    /* an unknown stop_reason is a format error naming the field */
    r.stats.stop_reason = "gremlins";
    CHECK_OK(par_result_pack(&r, &buf, &len));
    CHECK(par_result_unpack(buf, len, &back) == FRS_ERR_FORMAT && strstr(frs_error_msg(), "stop_reason"),
          "unknown stop_reason rejected: %s", frs_error_msg());
    free(buf);
}

static void test_command_consistency(void)
{
    static int32_t prompt[2000], stop[2];
    char tag[32];
    struct par_request r, back;
    make_request(3, &r, prompt, stop, tag);
    enum par_command_kind kind;
    uint8_t *buf;
    size_t len;
    CHECK_OK(par_command_pack(PAR_CMD_RUN, &r, &buf, &len));
    CHECK_OK(par_command_unpack(buf, len, &kind, &back));
    CHECK(kind == PAR_CMD_RUN && same_request(&r, &back), "Command RUN round trip");
    par_request_free(&back);
    free(buf);
    CHECK_OK(par_command_pack(PAR_CMD_SHUTDOWN, NULL, &buf, &len));
    CHECK_OK(par_command_unpack(buf, len, &kind, &back));
    CHECK(kind == PAR_CMD_SHUTDOWN && back.gen.prompt == NULL, "Command SHUTDOWN round trip");
    /* proto3: SHUTDOWN = field 1 varint 1 -> bytes 08 01 */
    CHECK(len == 2 && buf[0] == 0x08 && buf[1] == 0x01, "SHUTDOWN wire bytes (%zu bytes)", len);
    free(buf);
    CHECK(par_command_pack(PAR_CMD_RUN, NULL, &buf, &len) == FRS_ERR_INVALID_ARG, "RUN without request");

    /* Consistency{rank 1, request_id 300, tokens_hash 2^63, tree_hash 4}: the protobuf wire format
     * by its rules: key = field << 3 | 0 (varint), 300 = ac 02, 2^63 = 80 x9 01 */
    struct par_consistency m = {1, 300, 1ull << 63, 4}, mb;
    static const uint8_t want[] = {0x08, 0x01, 0x10, 0xac, 0x02, 0x18, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x01, 0x20, 0x04};
    CHECK_OK(par_consistency_pack(&m, &buf, &len));
    CHECK(len == sizeof want && !memcmp(buf, want, len), "Consistency wire bytes (%zu bytes)", len);
    CHECK_OK(par_consistency_unpack(buf, len, &mb));
    CHECK(m.rank == mb.rank && m.request_id == mb.request_id && m.tokens_hash == mb.tokens_hash &&
              m.tree_hash == mb.tree_hash,
          "Consistency round trip"); /* field by field: the struct has padding */
    free(buf);
}

static void test_malformed(void)
{
    struct par_request r;
    enum par_command_kind kind;
    /* field 2 (prompt_tokens) as a length-delimited packed run claiming 100 bytes of 3 */
    static const uint8_t trunc[] = {0x12, 0x64, 0x01, 0x02, 0x03};
    CHECK(par_request_unpack(trunc, sizeof trunc, &r) == FRS_ERR_FORMAT, "truncated Request rejected");
    CHECK(strstr(frs_error_msg(), "Request") != NULL, "message names the message: %s", frs_error_msg());
    /* max_new_tokens = -1 (field 4, varint of 2^64-1) */
    static const uint8_t neg[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK(par_request_unpack(neg, sizeof neg, &r) == FRS_ERR_FORMAT && strstr(frs_error_msg(), "max_new_tokens"),
          "negative max_new_tokens rejected: %s", frs_error_msg());
    /* RUN (kind 0 is the default) without a request */
    static const uint8_t empty_run[] = {0x08, 0x00};
    CHECK(par_command_unpack(empty_run, sizeof empty_run, &kind, &r) == FRS_ERR_FORMAT, "RUN without request");
    static const uint8_t bad_kind[] = {0x08, 0x07};
    CHECK(par_command_unpack(bad_kind, sizeof bad_kind, &kind, &r) == FRS_ERR_FORMAT, "unknown kind rejected");
}

/* ---- par_serve with a toy engine: 8 tokens = the prompt's ids (cycled) + id, hashed --------- */

struct toy {
    struct frs_comm *c;
    uint64_t next_id, n_requests;
    int32_t prompt[2000], stop[2];
    char tag[32];
    int32_t out[16];
    int delivered, bad_delivered;
    int fail_next_at;   /* rank 0's next() fails at this id (-1 never) */
    int plant_rank;     /* this rank's tree hash is off at request plant_id (-1 never) */
    uint64_t plant_id;
};

static uint64_t toy_hash(const int32_t *t, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint32_t)t[i]) * 1099511628211ull;
    return h;
}

static enum frs_status toy_next(void *user, struct par_request *req, int *done)
{
    struct toy *t = user;
    if ((int)t->next_id == t->fail_next_at)
        return FRS_ERR(FRS_ERR_IO, "prompts.jsonl: line %d is not JSON", (int)t->next_id + 1);
    if (t->next_id == t->n_requests) {
        *done = 1;
        return FRS_OK;
    }
    make_request(t->next_id++, req, t->prompt, t->stop, t->tag);
    return FRS_OK;
}

static enum frs_status toy_run(void *user, const struct par_request *req, struct par_result *res)
{
    struct toy *t = user;
    struct par_request want;
    static int32_t wp[2000], ws[2];
    char wt[32];
    make_request(req->id, &want, wp, ws, wt);
    CHECK(same_request(req, &want), "rank %d received request %llu intact", t->c->rank, (unsigned long long)req->id);
    for (int i = 0; i < 8; i++)
        t->out[i] = req->gen.prompt[i % req->gen.n_prompt] + (int32_t)req->id;
    res->id = req->id;
    res->tokens = t->out;
    res->stats.n_tokens = 8;
    res->stats.stop_reason = "max_new_tokens";
    res->stats.tokens_hash = toy_hash(t->out, 8);
    res->stats.tree_hash = req->id * 77;
    if (t->c->rank == t->plant_rank && req->id == t->plant_id)
        res->stats.tree_hash ^= 1;
    return FRS_OK;
}

static enum frs_status toy_deliver(void *user, const struct par_request *req, const struct par_result *res)
{
    struct toy *t = user;
    CHECK(t->c->rank == 0, "deliver runs on rank 0 only");
    t->bad_delivered += res->id != req->id || res->stats.n_tokens != 8 ||
                        res->tokens[0] != req->gen.prompt[0] + (int32_t)req->id;
    t->delivered++;
    return FRS_OK;
}

static void test_mpi(struct frs_comm *c)
{
    static int32_t prompt[2000], stop[2];
    char tag[32];
    /* 1. Command broadcast: RUN with a request, then SHUTDOWN */
    for (uint64_t id = 1; id <= 2; id++) {
        struct par_request r = {0}, want;
        enum par_command_kind kind = PAR_CMD_RUN;
        make_request(id, &want, prompt, stop, tag);
        if (c->rank == 0)
            r = want;
        CHECK_OK(par_bcast_command(c, &kind, &r));
        CHECK(kind == PAR_CMD_RUN && same_request(&r, &want), "rank %d: Command %llu arrived intact", c->rank,
              (unsigned long long)id);
        if (c->rank != 0)
            par_request_free(&r);
    }
    enum par_command_kind kind = c->rank == 0 ? PAR_CMD_SHUTDOWN : PAR_CMD_RUN;
    struct par_request none = {0};
    CHECK_OK(par_bcast_command(c, &kind, &none));
    CHECK(kind == PAR_CMD_SHUTDOWN, "SHUTDOWN arrived");

    /* 2. consistency: agreement passes; planted disagreements are caught and named */
    struct par_consistency me = {.request_id = 9, .tokens_hash = 0xfeed, .tree_hash = 0xbeef};
    CHECK_OK(par_check_consistency(c, &me));
    int planted = c->size - 1;
    if (c->rank == planted)
        me.tokens_hash ^= 0x10;
    char needle[32];
    snprintf(needle, sizeof needle, "rank %d", planted);
    CHECK(par_check_consistency(c, &me) == FRS_ERR_PEER && strstr(frs_error_msg(), needle) &&
              (c->rank != 0 || strstr(frs_error_msg(), "tokens_hash")),
          "tokens disagreement on rank %d caught on rank %d: %s", planted, c->rank, frs_error_msg());
    me.tokens_hash = 0xfeed;
    if (c->rank == 1)
        me.request_id = 10;
    CHECK(par_check_consistency(c, &me) == FRS_ERR_PEER && strstr(frs_error_msg(), "rank 1") &&
              (c->rank != 0 || strstr(frs_error_msg(), "request_id")),
          "request disagreement on rank 1 caught on rank %d: %s", c->rank, frs_error_msg());

    /* 3. the request loop: 5 requests, every one delivered once on rank 0 */
    struct toy t = {.c = c, .n_requests = 5, .fail_next_at = -1, .plant_rank = -1};
    struct par_serve_ops ops = {toy_next, toy_run, toy_deliver, &t};
    CHECK_OK(par_serve(c, &ops));
    CHECK(c->rank != 0 || (t.delivered == 5 && t.bad_delivered == 0), "rank 0 delivered %d of 5 (%d bad)",
          t.delivered, t.bad_delivered);
    CHECK(c->rank == 0 || t.delivered == 0, "only rank 0 delivers");

    /* 4. a rank whose tree differs on request 2 stops the loop everywhere with FRS_ERR_PEER */
    struct toy t2 = {.c = c, .n_requests = 5, .fail_next_at = -1, .plant_rank = 1, .plant_id = 2};
    ops.user = &t2;
    CHECK(par_serve(c, &ops) == FRS_ERR_PEER && strstr(frs_error_msg(), "rank 1"),
          "planted tree disagreement stops the loop: %s", frs_error_msg());
    CHECK(c->rank != 0 || t2.delivered == 2, "requests 0 and 1 were delivered before it (%d)", t2.delivered);

    /* 5. rank 0's input fails at request 1: rank 0 gets its error, the others FRS_ERR_PEER */
    struct toy t3 = {.c = c, .n_requests = 5, .fail_next_at = 1, .plant_rank = -1};
    ops.user = &t3;
    enum frs_status st = par_serve(c, &ops);
    CHECK(st == (c->rank == 0 ? FRS_ERR_IO : FRS_ERR_PEER), "rank %d: input failure on rank 0 -> %s", c->rank,
          frs_error_msg());
}

int main(int argc, char **argv)
{
    test_request_roundtrip();
    test_result_roundtrip();
    test_command_consistency();
    test_malformed();

    struct par_options opt;
    par_options_default(&opt);
    opt.no_bind = 1;
    opt.watchdog_s = 120;
    struct frs_comm c;
    enum frs_status st = par_init(&c, &argc, &argv, &opt);
    if (st != FRS_OK)
        par_fail(&c, st);
    if (c.size > 1)
        CHECK(c.size >= 2, "MPI part needs >= 2 ranks");
    if (c.size >= 2)
        test_mpi(&c);
    else {
        /* one process: the loop still works without MPI */
        struct toy t = {.c = &c, .n_requests = 3, .fail_next_at = -1, .plant_rank = -1};
        struct par_serve_ops ops = {toy_next, toy_run, toy_deliver, &t};
        CHECK_OK(par_serve(&c, &ops));
        CHECK(t.delivered == 3 && t.bad_delivered == 0, "single process delivered %d of 3", t.delivered);
    }
    float fails = (float)test_failures;
    CHECK_OK(comm_allreduce_sum_f32(&c, &fails, 1));
    int rank = c.rank;
    par_finalize(&c);
    if (fails > 0 && test_failures == 0) {
        fprintf(stderr, "rank %d: another rank failed\n", rank);
        return 1;
    }
    return test_finish("test_control");
}
