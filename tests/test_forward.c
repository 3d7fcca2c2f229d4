/* test_forward.c - the CPU backend's target forward pass against Hugging Face transformers.
 *
 * Fixtures: tests/fixtures/models/<name>/ (tests/gen/gen_models.py): tiny random Llama
 * checkpoints written by save_pretrained, transformers' fp32 logits at every prompt position
 * (ref_logits.f32) and its greedy continuations of 32 tokens (ref.json).
 *
 * Checks per model and prompt:
 *  - logits of a one-chunk prefill vs transformers: relative error (||ours - ref|| / ||ref||
 *    over all positions) <= 1e-4 (fp32 arithmetic on both sides; reached values are printed);
 *  - greedy generation (prefill, then next_token/decode) token-identical to transformers' 32;
 *  - chunked prefill (chunks of 1, 3, 7, 16) leaves the same KV cache and features as one chunk,
 *    and its last chunk's logits match transformers';
 *  - decode after prefill gives the logits of a one-chunk forward over prompt + continuation at
 *    every decoded position;
 *  - errors: a prompt longer than the context is FRS_ERR_TOO_LONG naming the limit, a token
 *    outside the vocabulary is FRS_ERR_INVALID_ARG.
 * And cpu_matmul (interleaved and vectorised) bit for bit against the plain sequential dot
 * product it is defined as, on random shapes and all three weight dtypes, and each row alone
 * against the same row in a batch (what keeps speculative == autoregressive on the CPU).
 * Under mpirun -np N (N > 1) it runs the models whose heads and KV heads N divides with
 * llama_model_load(dir, rank, N): each rank's vocabulary shard of the logits vs the same
 * columns of transformers', and the greedy tokens (identical to the single-rank ones).
 * Model names on the command line replace the default list (the FP8 fixtures, tests/cmake/fp8.cmake).
 */
#include <cJSON.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "comm.h"
#include "cpu_backend.h"
#include "cpu_ops.h"
#include "model.h"
#include "testutil.h"

#define LOGIT_TOL 1e-4  /* transformers fp32 vs ours fp32: relative error over all positions */
#define SAME_TOL 1e-6   /* ours vs ours with a different batching (same arithmetic per row) */
#define MAX_PROMPTS 8
#define MAX_IDS 256

struct ref_prompt {
    int n;
    int32_t ids[MAX_IDS];
    int logits_row;
    int n_new;
    int32_t greedy[64];
};

struct ref {
    int vocab;
    int n_prompts;
    struct ref_prompt p[MAX_PROMPTS];
    float *logits; /* rows of vocab */
};

static int read_ids(const cJSON *arr, int32_t *out, int cap)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (n < cap)
            out[n] = (int32_t)it->valueint;
        n++;
    }
    return n <= cap ? n : -1;
}

static int ref_load(const char *dir, struct ref *r)
{
    char path[4096];
    memset(r, 0, sizeof *r);
    if (snprintf(path, sizeof path, "%s/ref.json", dir) >= (int)sizeof path)
        return 0;
    char *text = test_read_file(path, NULL);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o)
        return 0;
    r->vocab = cJSON_GetObjectItem(o, "vocab_size")->valueint;
    int total_rows = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(o, "prompts"))
    {
        if (r->n_prompts == MAX_PROMPTS)
            break;
        struct ref_prompt *rp = &r->p[r->n_prompts++];
        rp->n = read_ids(cJSON_GetObjectItem(p, "ids"), rp->ids, MAX_IDS);
        rp->n_new = read_ids(cJSON_GetObjectItem(p, "greedy"), rp->greedy, 64);
        rp->logits_row = cJSON_GetObjectItem(p, "logits_row")->valueint;
        if (rp->n < 0 || rp->n_new < 0) {
            cJSON_Delete(o);
            return 0;
        }
        total_rows += rp->n;
    }
    const int plen = snprintf(path, sizeof path, "%s/%s", dir, cJSON_GetObjectItem(o, "logits_file")->valuestring);
    cJSON_Delete(o);
    if (plen >= (int)sizeof path)
        return 0;
    size_t len = 0;
    r->logits = (float *)test_read_file(path, &len);
    if (!r->logits || len != (size_t)total_rows * (size_t)r->vocab * sizeof(float)) {
        fprintf(stderr, "%s: %ld bytes, expected %d rows of %d floats\n", path, len, total_rows, r->vocab);
        return 0;
    }
    return 1;
}

static enum frs_status make_backend(struct frs_backend *be, const struct llama_model *m, struct frs_comm *comm,
                                    int max_ctx, int chunk)
{
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = 0, .prefill_chunk = chunk};
    memset(be, 0, sizeof *be);
    be->ops = &frs_backend_cpu_ops;
    return be->ops->create(be, m, NULL, comm, &lim, NULL);
}

/* ours (rows x vl, this rank's columns) vs ref rows (rows x V) at columns [off, off + vl):
 * fills the sums of squares so the caller can reduce over ranks. */
static void err_sums(const float *ours, const float *ref, int rows, int vl, int V, int off, double *num, double *den)
{
    for (int i = 0; i < rows; i++)
        for (int t = 0; t < vl; t++) {
            double a = ours[(size_t)i * vl + t], b = ref[(size_t)i * V + off + t];
            *num += (a - b) * (a - b);
            *den += b * b;
        }
}

static double global_rel_err(struct frs_comm *comm, double num, double den)
{
    float v[2] = {(float)num, (float)den};
    comm_allreduce_sum_f32(comm, v, 2);
    return v[1] > 0 ? sqrt((double)v[0] / v[1]) : INFINITY;
}

static void test_model(const char *name, struct frs_comm *comm)
{
    const int rank = comm ? comm->rank : 0, size = comm ? comm->size : 1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture("models"));
    strncat(dir, "/", sizeof dir - strlen(dir) - 1);
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    struct ref r;
    CHECK(ref_load(dir, &r), "%s: reference fixtures", name);
    if (!r.n_prompts)
        return;
    struct llama_model m;
    memset(&m, 0, sizeof m);
    enum frs_status st = llama_model_load(&m, dir, rank, size);
    CHECK(st == FRS_OK, "%s: llama_model_load(tp %d/%d): %s", name, rank, size, frs_error_msg());
    if (st != FRS_OK) {
        free(r.logits);
        return;
    }
    CHECK(m.cfg.vocab_size == r.vocab, "%s: vocab %d vs reference %d", name, m.cfg.vocab_size, r.vocab);
    const int V = r.vocab, vl = m.vocab_local, off = m.vocab_offset;
    const int max_ctx = 256;

    struct frs_backend one, full;
    CHECK_OK(make_backend(&one, &m, comm, max_ctx, 128));
    CHECK_OK(make_backend(&full, &m, comm, max_ctx, 200));
    struct cpu_backend *b1 = one.impl, *bf = full.impl;
    double worst = 0.0;
    for (int pi = 0; pi < r.n_prompts; pi++) {
        const struct ref_prompt *p = &r.p[pi];
        const float *ref = r.logits + (size_t)p->logits_row * V;

        /* 1. one-chunk prefill logits vs transformers */
        CHECK_OK(one.ops->reset(&one));
        CHECK_OK(one.ops->prefill(&one, p->ids, p->n));
        CHECK(one.target_len == p->n && b1->last_n == p->n, "%s: target_len %d last_n %d, prompt %d", name,
              one.target_len, b1->last_n, p->n);
        double num = 0, den = 0;
        err_sums(b1->logits, ref, p->n, vl, V, off, &num, &den);
        double e = global_rel_err(comm, num, den);
        if (e > worst)
            worst = e;
        if (rank == 0)
            printf("%-12s tp %d prompt %d (%3d tokens): logits rel err vs transformers %.3g\n", name, size, pi, p->n, e);
        CHECK(e <= LOGIT_TOL, "%s prompt %d: logits rel err %.3g > %.1g", name, pi, e, LOGIT_TOL);

        /* 2. greedy generation: prefill, then next_token / decode */
        int32_t gen[64];
        const struct frs_sampling greedy = {.temperature = 0.0f, .top_p = 1.0f, .top_k = 0, .seed = 1};
        int first_bad = -1;
        for (int i = 0; i < p->n_new; i++) {
            CHECK_OK(one.ops->next_token(&one, i % 2 ? &greedy : NULL, (uint64_t)i, &gen[i]));
            if (gen[i] != p->greedy[i] && first_bad < 0)
                first_bad = i;
            if (i + 1 < p->n_new)
                CHECK_OK(one.ops->decode(&one, gen[i]));
        }
        CHECK(first_bad < 0, "%s prompt %d tp %d: greedy token %d is %d, transformers %d", name, pi, size, first_bad,
              first_bad >= 0 ? gen[first_bad] : 0, first_bad >= 0 ? p->greedy[first_bad] : 0);
        if (rank == 0)
            printf("%-12s tp %d prompt %d: greedy %d tokens %s\n", name, size, pi, p->n_new,
                   first_bad < 0 ? "identical to transformers" : "DIFFER");
        if (size > 1)
            continue; /* the rest compares our own batchings: single rank is enough */

        /* 3. decode after prefill == one forward over prompt + continuation */
        int32_t seq[MAX_IDS + 64];
        memcpy(seq, p->ids, (size_t)p->n * sizeof(int32_t));
        memcpy(seq + p->n, p->greedy, (size_t)p->n_new * sizeof(int32_t));
        const int nt = p->n + p->n_new - 1;
        CHECK_OK(full.ops->reset(&full));
        CHECK_OK(full.ops->prefill(&full, seq, nt));
        CHECK_OK(one.ops->reset(&one));
        CHECK_OK(one.ops->prefill(&one, p->ids, p->n));
        double dworst = 0;
        for (int j = p->n; j < nt; j++) {
            CHECK_OK(one.ops->decode(&one, seq[j]));
            double de = test_rel_err(b1->logits, bf->logits + (size_t)j * vl, (size_t)vl);
            if (de > dworst)
                dworst = de;
        }
        CHECK(dworst <= SAME_TOL, "%s prompt %d: decode vs full-forward logits rel err %.3g", name, pi, dworst);
        /* and the whole-sequence forward agrees with transformers on the prompt rows */
        test_close_f32("full forward prompt rows", bf->logits, ref, (size_t)p->n * V, LOGIT_TOL);

        /* 4. chunked prefill: same cache, features and last-chunk logits */
        const int chunks[] = {1, 3, 7, 16};
        const size_t kvw = (size_t)m.n_kv_heads_local * m.cfg.head_dim;
        const size_t C = (size_t)m.cfg.hidden_size;
        for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
            struct frs_backend ch;
            CHECK_OK(make_backend(&ch, &m, comm, max_ctx, chunks[ci]));
            struct cpu_backend *bc = ch.impl;
            CHECK_OK(ch.ops->prefill(&ch, p->ids, p->n));
            double ke = 0;
            for (int l = 0; l < m.cfg.num_hidden_layers; l++) {
                size_t o = (size_t)l * max_ctx * kvw;
                double a = test_rel_err(bc->kcache + o, b1->kcache + o, (size_t)p->n * kvw);
                double v = test_rel_err(bc->vcache + o, b1->vcache + o, (size_t)p->n * kvw);
                ke = fmax(ke, fmax(a, v));
            }
            double fe = test_rel_err(bc->feat, b1->feat, (size_t)p->n * C);
            CHECK(ke <= SAME_TOL && fe <= SAME_TOL, "%s prompt %d chunk %d: KV rel err %.3g, features %.3g", name, pi,
                  chunks[ci], ke, fe);
            const int last = bc->last_n;
            char what[128];
            snprintf(what, sizeof what, "%s prompt %d chunk %d last-chunk logits", name, pi, chunks[ci]);
            test_close_f32(what, bc->logits, ref + (size_t)(p->n - last) * V, (size_t)last * V, LOGIT_TOL);
            int32_t t0 = -1;
            CHECK_OK(ch.ops->next_token(&ch, NULL, 0, &t0));
            CHECK(t0 == p->greedy[0], "%s prompt %d chunk %d: first token %d vs %d", name, pi, chunks[ci], t0,
                  p->greedy[0]);
            ch.ops->destroy(&ch);
        }
    }
    if (rank == 0)
        printf("%-12s tp %d: worst logits rel err %.3g (tolerance %.0e)\n", name, size, worst, LOGIT_TOL);

    /* 5. sampled next_token: reproducible for a fixed (seed, draw), in the vocabulary */
    {
        const struct frs_sampling s = {.temperature = 0.8f, .top_p = 0.9f, .top_k = 50, .seed = 7};
        CHECK_OK(one.ops->reset(&one));
        CHECK_OK(one.ops->prefill(&one, r.p[0].ids, r.p[0].n));
        int32_t a = -1, b = -2;
        CHECK_OK(one.ops->next_token(&one, &s, 3, &a));
        CHECK_OK(one.ops->next_token(&one, &s, 3, &b));
        CHECK(a == b && a >= 0 && a < V, "%s: sampled tokens %d %d for the same draw", name, a, b);
        if (size > 1) {
            /* the same draws as a single process holding the whole model */
            struct llama_model m1;
            memset(&m1, 0, sizeof m1);
            struct frs_backend solo;
            CHECK_OK(llama_model_load(&m1, dir, 0, 1));
            CHECK_OK(make_backend(&solo, &m1, NULL, max_ctx, 128));
            CHECK_OK(solo.ops->prefill(&solo, r.p[0].ids, r.p[0].n));
            int diff = 0;
            for (uint64_t d = 0; d < 50; d++) {
                int32_t x = -1, y = -2;
                CHECK_OK(one.ops->next_token(&one, &s, d, &x));
                CHECK_OK(solo.ops->next_token(&solo, &s, d, &y));
                diff += x != y;
            }
            CHECK(diff == 0, "%s: %d of 50 sampled tokens differ between tp %d and a single process", name, diff, size);
            solo.ops->destroy(&solo);
            llama_model_free(&m1);
        }
    }

    /* 6. errors */
    if (size == 1) {
        int32_t *longp = calloc(max_ctx + 1, sizeof(int32_t));
        CHECK_OK(one.ops->reset(&one));
        st = one.ops->prefill(&one, longp, max_ctx + 1);
        CHECK(st == FRS_ERR_TOO_LONG && strstr(frs_error_msg(), "256"), "%s: too long prompt -> %s: %s", name,
              frs_status_str(st), frs_error_msg());
        CHECK(one.target_len == 0, "%s: a refused prompt left target_len %d", name, one.target_len);
        longp[0] = V;
        st = one.ops->prefill(&one, longp, 1);
        CHECK(st == FRS_ERR_INVALID_ARG, "%s: token %d -> %s", name, V, frs_status_str(st));
        free(longp);
        /* the context limit is exact: max_ctx 40 holds 40 tokens, not 41; nothing is reserved for
         * a draft tree (max_tree 8), which the engine shrinks to fit (issue 12 item 8; before,
         * 32 tokens were the limit here) */
        struct frs_backend small;
        const struct frs_limits lim = {.max_ctx = 40, .max_tree = 8, .prefill_chunk = 16};
        small.ops = &frs_backend_cpu_ops;
        CHECK_OK(small.ops->create(&small, &m, NULL, NULL, &lim, NULL));
        int32_t toks[41] = {0};
        CHECK_OK(small.ops->prefill(&small, toks, 31));
        for (int k = 31; k < 40; k++)
            CHECK_OK(small.ops->decode(&small, 1));
        st = small.ops->decode(&small, 1);
        CHECK(st == FRS_ERR_TOO_LONG && small.target_len == 40, "%s: decode past max_ctx -> %s (len %d)", name,
              frs_status_str(st), small.target_len);
        CHECK(small.max_ctx == 40, "%s: the backend says its max_ctx (%d)", name, small.max_ctx);
        CHECK_OK(small.ops->reset(&small));
        st = small.ops->prefill(&small, toks, 41);
        CHECK(st == FRS_ERR_TOO_LONG && small.target_len == 0, "%s: a 41-token prompt at max_ctx 40 -> %s", name,
              frs_status_str(st));
        CHECK_OK(small.ops->prefill(&small, toks, 40));
        small.ops->destroy(&small);
        const struct frs_limits bad = {.max_ctx = 40, .max_tree = 0, .prefill_chunk = 0};
        st = small.ops->create(&small, &m, NULL, NULL, &bad, NULL);
        CHECK(st == FRS_ERR_INVALID_ARG && strstr(frs_error_msg(), "prefill_chunk"), "%s: prefill_chunk 0 -> %s: %s",
              name, frs_status_str(st), frs_error_msg());
    }
    one.ops->destroy(&one);
    full.ops->destroy(&full);
    llama_model_free(&m);
    free(r.logits);
}

/* y[i][r] = sum over c in order of x[i][c] * w[r][c], each product and sum rounded to fp32 */
static void plain_matmul(const float *x, int n, const struct frs_mat *w, float *y)
{
    float *row = malloc((size_t)w->cols * sizeof(float));
    for (int64_t r = 0; r < w->rows; r++) {
        frs_mat_row_to_f32(w, r, row);
        for (int i = 0; i < n; i++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < w->cols; c++) {
                const float p = x[(size_t)i * w->cols + c] * row[c];
                acc = acc + p;
            }
            y[(size_t)i * w->rows + r] = acc;
        }
    }
    free(row);
}

static void test_matmul_exact(void)
{
    uint64_t st = 0x9e3779b97f4a7c15ull;
    int differ = 0, alone = 0, cases = 0;
    for (int it = 0; it < 300; it++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        const int n = 1 + (int)((st >> 33) % 40), rows = 1 + (int)((st >> 45) % 41), cols = 1 + (int)((st >> 20) % 140);
        const enum frs_dtype dt = it % 3 == 0 ? FRS_DTYPE_BF16 : it % 3 == 1 ? FRS_DTYPE_F16 : FRS_DTYPE_F32;
        const size_t es = dt == FRS_DTYPE_F32 ? 4 : 2;
        unsigned char *wd = malloc((size_t)rows * cols * es);
        float *x = malloc((size_t)n * cols * 4), *y = malloc((size_t)n * rows * 4), *ref = malloc((size_t)n * rows * 4);
        float *y1 = malloc((size_t)rows * 4);
        for (size_t k = 0; k < (size_t)rows * cols; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const float f = ((float)(st >> 40) / (float)(1u << 24) - 0.5f) * 3.0f;
            if (dt == FRS_DTYPE_F32)
                memcpy(wd + 4 * k, &f, 4);
            else {
                const uint16_t h = dt == FRS_DTYPE_BF16 ? frs_f32_to_bf16(f) : frs_f32_to_f16(f);
                memcpy(wd + 2 * k, &h, 2);
            }
        }
        for (size_t k = 0; k < (size_t)n * cols; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            x[k] = ((float)(st >> 40) / (float)(1u << 24) - 0.5f) * 2.0f;
        }
        const struct frs_mat W = {.dtype = dt, .rows = rows, .cols = cols, .ld = cols, .data = wd};
        cpu_matmul(x, n, &W, y);
        plain_matmul(x, n, &W, ref);
        differ += memcmp(y, ref, (size_t)n * rows * 4) != 0;
        const int i = (int)(st % (uint64_t)n);
        cpu_matmul(x + (size_t)i * cols, 1, &W, y1);
        alone += memcmp(y1, ref + (size_t)i * rows, (size_t)rows * 4) != 0;
        cases++;
        free(wd);
        free(x);
        free(y);
        free(ref);
        free(y1);
    }
    CHECK(differ == 0, "cpu_matmul differs from the plain sequential dot products in %d of %d shapes", differ, cases);
    CHECK(alone == 0, "a row alone differs from the same row in a batch in %d of %d shapes", alone, cases);
}

int main(int argc, char **argv)
{
    static MPI_Comm world;
    struct frs_comm comm;
    memset(&comm, 0, sizeof comm);
    comm.size = 1;
    comm.device = -1;
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    const int use_mpi = ws && atoi(ws) > 1;
    if (use_mpi) {
        MPI_Init(NULL, NULL);
        world = MPI_COMM_WORLD;
        MPI_Comm_rank(world, &comm.rank);
        MPI_Comm_size(world, &comm.size);
        comm.mpi_comm = &world;
        snprintf(comm.host, sizeof comm.host, "local");
    }
    test_matmul_exact();
    /* the fixtures under tests/fixtures/models to check: these, or the ones named on the command
     * line (tests/cmake/fp8.cmake runs the FP8 checkpoints through the same checks) */
    const char *default_models[] = {"gqa-bf16", "tied-f32", "sharded-f16", "llama3-bf16"};
    const char *const *models = argc > 1 ? (const char *const *)argv + 1 : default_models;
    const size_t n_models = argc > 1 ? (size_t)argc - 1 : sizeof default_models / sizeof default_models[0];
    int ran = 0;
    for (size_t i = 0; i < n_models; i++) {
        if (comm.size > 1) {
            /* TP: only the models whose heads and KV heads the degree divides */
            if (strcmp(models[i], "sharded-f16") == 0 || strcmp(models[i], "fp8-fbgemm") == 0)
                continue; /* 1 KV head */
        }
        test_model(models[i], use_mpi ? &comm : NULL);
        ran++;
    }
    CHECK(ran > 0, "no model ran");
    /* every rank must pass */
    int fails = test_failures, all = fails;
    if (use_mpi) {
        MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (all && !fails)
            test_failures = 1;
    }
    int rc = test_finish(comm.rank == 0 ? "test_forward" : "test_forward (rank > 0)");
    if (use_mpi)
        MPI_Finalize();
    return rc;
}
