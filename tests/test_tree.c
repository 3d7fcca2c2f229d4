/* test_tree.c - runtime/tree.c (EAGLE-2 dynamic tree from score tables) on hand-worked
 * closed-form cases (parents, depths, masks, kept sets, ties, size < topk, frontier masks) and a
 * randomised comparison with a brute-force selection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "cpu_ops.h"
#include "rng.h"
#include "testutil.h"
#include "tree.h"

static void check_tree(const char *what, const struct frs_tree *t, int n, const int32_t *tok,
                       const int32_t *par, const int32_t *dep)
{
    CHECK(t->n == n, "%s: n %d, expected %d", what, t->n, n);
    if (t->n != n)
        return;
    for (int i = 0; i < n; i++) {
        CHECK(t->token[i] == tok[i], "%s: node %d token %d, expected %d", what, i, (int)t->token[i], (int)tok[i]);
        CHECK(t->parent[i] == par[i], "%s: node %d parent %d, expected %d", what, i, (int)t->parent[i],
              (int)par[i]);
        CHECK(t->depth[i] == dep[i], "%s: node %d depth %d, expected %d", what, i, (int)t->depth[i], (int)dep[i]);
    }
}

/* Case A: topk 2, depth 3. Scores (record: token, score, parent record):
 *  depth 1: r0 (10, -0.1), r1 (11, -0.5)
 *  depth 2: r2 (20, -0.3, r0), r3 (21, -0.4, r0), r4 (22, -0.55, r1), r5 (23, -1.5, r1)
 *           frontier = r2, r3 (both from frontier row 0)
 *  depth 3: r6 (30, -0.31, r2), r7 (31, -2.3, r2), r8 (32, -0.5, r3), r9 (33, -0.6, r3)
 * Sorted: r0 -0.1, r2 -0.3, r6 -0.31, r3 -0.4, r1 -0.5 = r8 -0.5 (tie: r1 created first), r4 -0.55 */
static void build_case_a(struct tree_build *tb, int size, struct frs_tree *out, int check_front)
{
    struct frs_tree_params p = {3, 2, size};
    CHECK_OK(tree_build_begin(tb, &p));
    const float l1[2] = {-0.1f, -0.5f};
    const int32_t t1[2] = {10, 11};
    tree_build_first(tb, l1, t1);
    uint64_t mask[8];
    int cols = 0;
    int first = tree_build_frontier_mask(tb, mask, &cols);
    if (check_front) {
        CHECK(first == 0 && cols == 2, "level 1 slots: first %d cols %d", first, cols);
        CHECK(mask[0] == 1 && mask[1] == 2, "level 1 masks %llx %llx", (unsigned long long)mask[0],
              (unsigned long long)mask[1]);
    }
    const float l2[4] = {-0.2f, -0.3f, -0.05f, -1.0f};
    const int32_t t2[4] = {20, 21, 22, 23};
    tree_build_expand(tb, l2, t2);
    if (check_front) {
        CHECK(tb->n_front == 2 && tb->front[0] == 2 && tb->front[1] == 3, "level 2 frontier %d %d",
              (int)tb->front[0], (int)tb->front[1]);
        CHECK(tb->front_src[0] == 0 && tb->front_src[1] == 0, "level 2 sources %d %d", (int)tb->front_src[0],
              (int)tb->front_src[1]);
    }
    first = tree_build_frontier_mask(tb, mask, &cols);
    if (check_front) {
        CHECK(first == 2 && cols == 4, "level 2 slots: first %d cols %d", first, cols);
        /* r2 -> slots {0 (r0), 2}; r3 -> slots {0, 3} */
        CHECK(mask[0] == 5 && mask[1] == 9, "level 2 masks %llx %llx", (unsigned long long)mask[0],
              (unsigned long long)mask[1]);
    }
    const float l3[4] = {-0.01f, -2.0f, -0.1f, -0.2f};
    const int32_t t3[4] = {30, 31, 32, 33};
    tree_build_expand(tb, l3, t3);
    CHECK_OK(tree_build_finish(tb, 7, out));
}

static void test_case_a(struct tree_build *tb)
{
    struct frs_tree t;
    build_case_a(tb, 5, &t, 1);
    { /* keep r0, r2, r3, r6 */
        const int32_t tok[] = {7, 10, 20, 21, 30}, par[] = {-1, 0, 1, 1, 2}, dep[] = {0, 1, 2, 2, 3};
        check_tree("A size 5", &t, 5, tok, par, dep);
        uint64_t m[5];
        tree_mask_ancestors(&t, m);
        const uint64_t want[5] = {1, 3, 7, 11, 23};
        for (int i = 0; i < 5; i++)
            CHECK(m[i] == want[i], "A mask row %d = %llx, expected %llx", i, (unsigned long long)m[i],
                  (unsigned long long)want[i]);
        CHECK_OK(accept_check_tree(&t));
    }
    build_case_a(tb, 6, &t, 0);
    { /* the -0.5 tie goes to r1 (created before r8) */
        const int32_t tok[] = {7, 10, 11, 20, 21, 30}, par[] = {-1, 0, 0, 1, 1, 3}, dep[] = {0, 1, 1, 2, 2, 3};
        check_tree("A size 6 (tie)", &t, 6, tok, par, dep);
    }
    build_case_a(tb, 7, &t, 0);
    {
        const int32_t tok[] = {7, 10, 11, 20, 21, 30, 32}, par[] = {-1, 0, 0, 1, 1, 3, 4},
                      dep[] = {0, 1, 1, 2, 2, 3, 3};
        check_tree("A size 7", &t, 7, tok, par, dep);
    }
    build_case_a(tb, 1, &t, 0);
    {
        const int32_t tok[] = {7}, par[] = {-1}, dep[] = {0};
        check_tree("A size 1 (root only)", &t, 1, tok, par, dep);
    }
    build_case_a(tb, 100, &t, 0); /* more than recorded: all 10 candidates */
    CHECK(t.n == 11, "A size 100: n %d, expected 11", t.n);
}

/* Case B: equal scores between a parent and its child (log-prob 0), and between siblings. */
static void test_case_b(struct tree_build *tb)
{
    const float l1[2] = {-1.0f, -1.0f};
    const int32_t t1[2] = {5, 6};
    const float l2[4] = {0.0f, -3.0f, 0.0f, -4.0f};
    const int32_t t2[4] = {7, 8, 9, 10};
    /* records: r0 (5,-1) r1 (6,-1) r2 (7,-1,r0) r3 (8,-4,r0) r4 (9,-1,r1) r5 (10,-5,r1) */
    for (int size = 2; size <= 5; size++) {
        struct frs_tree_params p = {2, 2, size};
        struct frs_tree t;
        CHECK_OK(tree_build_begin(tb, &p));
        tree_build_first(tb, l1, t1);
        uint64_t mask[4];
        int cols;
        tree_build_frontier_mask(tb, mask, &cols);
        tree_build_expand(tb, l2, t2);
        CHECK_OK(tree_build_finish(tb, 99, &t));
        const int32_t tok[] = {99, 5, 6, 7, 9}, par[] = {-1, 0, 0, 1, 2}, dep[] = {0, 1, 1, 2, 2};
        char what[32];
        snprintf(what, sizeof what, "B size %d", size);
        check_tree(what, &t, size, tok, par, dep);
    }
}

/* Size smaller than topk, depth 1: keep the best size-1 of the root's top-k. */
static void test_small(struct tree_build *tb)
{
    struct frs_tree_params p = {1, 4, 3};
    struct frs_tree t;
    CHECK_OK(tree_build_begin(tb, &p));
    const float l1[4] = {-0.1f, -0.2f, -0.3f, -0.4f};
    const int32_t t1[4] = {1, 2, 3, 4};
    tree_build_first(tb, l1, t1);
    CHECK_OK(tree_build_finish(tb, 0, &t));
    const int32_t tok[] = {0, 1, 2}, par[] = {-1, 0, 0}, dep[] = {0, 1, 1};
    check_tree("small", &t, 3, tok, par, dep);
}

/* A positive "log-prob" lets a child outrank its parent: the closure check must catch it. */
static void test_closure_check(struct tree_build *tb)
{
    struct frs_tree_params p = {2, 2, 2};
    struct frs_tree t;
    CHECK_OK(tree_build_begin(tb, &p));
    const float l1[2] = {-1.0f, -2.0f};
    const int32_t t1[2] = {1, 2};
    tree_build_first(tb, l1, t1);
    const float l2[4] = {-1.0f, -1.0f, 5.0f, -1.0f};
    const int32_t t2[4] = {3, 4, 5, 6};
    tree_build_expand(tb, l2, t2);
    enum frs_status st = tree_build_finish(tb, 0, &t);
    CHECK(st == FRS_ERR_INTERNAL, "closure violation not detected (status %d)", (int)st);
    frs_error_clear();
    struct frs_tree_params bad = {0, 2, 4};
    CHECK(tree_build_begin(tb, &bad) == FRS_ERR_INVALID_ARG, "depth 0 accepted");
    struct frs_tree_params big = {2, 2, FRS_MAX_TREE + 1};
    CHECK(tree_build_begin(tb, &big) == FRS_ERR_INVALID_ARG, "size > FRS_MAX_TREE accepted");
    struct frs_tree_params wide = {2, 100, 4};
    CHECK(tree_build_begin(tb, &wide) == FRS_ERR_UNSUPPORTED, "topk over capacity accepted");
    frs_error_clear();
}

/* Random log-prob tables: the kept set must be exactly the top (size-1) by (score, creation),
 * closed under ancestors, in creation order. */
static int cmp_key(const void *a, const void *b, const float *score)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (score[i] != score[j])
        return score[i] > score[j] ? -1 : 1;
    return i - j;
}
static const float *g_score;
static int cmp_rec(const void *a, const void *b) { return cmp_key(a, b, g_score); }

static void test_random(struct tree_build *tb)
{
    static const int shapes[][3] = {{1, 1, 2}, {3, 2, 5}, {4, 4, 16}, {6, 10, 60}, {5, 8, 64}, {3, 3, 128}};
    int trials = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        for (int rep = 0; rep < 20; rep++, trials++) {
            struct frs_tree_params p = {shapes[si][0], shapes[si][1], shapes[si][2]};
            const int k = p.topk;
            CHECK_OK(tree_build_begin(tb, &p));
            /* mirror of every record: score, parent record, depth */
            int cap = k + (p.depth - 1) * k * k, n_rec = 0;
            float *score = malloc((size_t)cap * sizeof(float));
            int *parent = malloc((size_t)cap * sizeof(int));
            int *depth = malloc((size_t)cap * sizeof(int));
            int32_t *token = malloc((size_t)cap * sizeof(int32_t));
            float lp[32 * 32];
            int32_t tk[32 * 32];
            uint64_t r = 1000 * si + rep;
            for (int j = 0; j < k; j++) { /* descending, occasionally tied (quantised) */
                lp[j] = -(float)floor(frs_rng_uniform(7, r, j) * 8.0) / 4.0f;
                tk[j] = j;
            }
            cpu_topk(lp, k, k, lp + 512, tk + 512);
            for (int j = 0; j < k; j++) {
                score[n_rec] = lp[512 + j];
                parent[n_rec] = -1;
                depth[n_rec] = 1;
                token[n_rec] = 100 + j;
                n_rec++;
                lp[j] = lp[512 + j];
                tk[j] = 100 + j;
            }
            tree_build_first(tb, lp, tk);
            for (int lev = 1; lev < p.depth; lev++) {
                for (int rr = 0; rr < k; rr++)
                    for (int j = 0; j < k; j++) {
                        lp[rr * k + j] = -(float)floor(frs_rng_uniform(9, r * 64 + lev, rr * k + j) * 8.0) / 4.0f;
                        tk[rr * k + j] = 1000 * lev + rr * k + j;
                    }
                for (int rr = 0; rr < k; rr++) {
                    const int par = tb->front[rr];
                    for (int j = 0; j < k; j++) {
                        score[n_rec] = score[par] + lp[rr * k + j];
                        parent[n_rec] = par;
                        depth[n_rec] = lev + 1;
                        token[n_rec] = tk[rr * k + j];
                        n_rec++;
                    }
                }
                tree_build_expand(tb, lp, tk);
            }
            struct frs_tree t;
            CHECK_OK(tree_build_finish(tb, -5, &t));
            int *ord = malloc((size_t)n_rec * sizeof(int));
            for (int i = 0; i < n_rec; i++)
                ord[i] = i;
            g_score = score;
            qsort(ord, (size_t)n_rec, sizeof(int), cmp_rec);
            int keep = p.size - 1 < n_rec ? p.size - 1 : n_rec;
            /* expected kept set in creation order */
            int *kept = malloc((size_t)keep * sizeof(int));
            memcpy(kept, ord, (size_t)keep * sizeof(int));
            for (int a = 1; a < keep; a++)
                for (int b2 = a; b2 > 0 && kept[b2 - 1] > kept[b2]; b2--) {
                    int tmp = kept[b2];
                    kept[b2] = kept[b2 - 1];
                    kept[b2 - 1] = tmp;
                }
            CHECK(t.n == keep + 1, "random %zu/%d: n %d, expected %d", si, rep, t.n, keep + 1);
            for (int i = 0; i < keep && t.n == keep + 1; i++) {
                const int c = kept[i];
                int pnode = 0;
                for (int j = 0; j < i; j++)
                    if (kept[j] == parent[c])
                        pnode = j + 1;
                CHECK(parent[c] < 0 || pnode > 0, "random %zu/%d: kept record %d lacks its parent", si, rep, c);
                CHECK(t.token[i + 1] == token[c] && t.parent[i + 1] == pnode && t.depth[i + 1] == depth[c],
                      "random %zu/%d node %d: (%d,%d,%d) expected (%d,%d,%d)", si, rep, i + 1, (int)t.token[i + 1],
                      (int)t.parent[i + 1], (int)t.depth[i + 1], (int)token[c], pnode, depth[c]);
            }
            CHECK_OK(accept_check_tree(&t));
            free(kept);
            free(ord);
            free(score);
            free(parent);
            free(depth);
            free(token);
        }
    }
    fprintf(stderr, "random trees: %d compared with a brute-force selection\n", trials);
}

int main(void)
{
    struct tree_build tb;
    CHECK_OK(tree_build_init(&tb, 32, 8));
    test_case_a(&tb);
    test_case_b(&tb);
    test_small(&tb);
    test_closure_check(&tb);
    test_random(&tb);
    tree_build_free(&tb);
    return test_finish("test_tree");
}
