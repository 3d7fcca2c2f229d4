/* test_accept.c - runtime/accept.c: greedy walks (path in the middle of the tree, no child
 * matching, down to a leaf), sampling walks with planted uniforms (closed form), structure
 * checks, a Monte Carlo check that the sampling walk outputs the target distribution, and
 * accept_verified's choice between a backend's own walk and the host walk. */
#include <math.h>
#include <string.h>

#include "accept.h"
#include "rng.h"
#include "testutil.h"

/* root 0 (tok 1): children 1 (10), 2 (11); node 1: children 3 (20), 4 (21); node 4: child 5
 * (30); node 2: child 6 (22). */
static void make_tree(struct frs_tree *t)
{
    memset(t, 0, sizeof *t);
    const int32_t tok[] = {1, 10, 11, 20, 21, 30, 22}, par[] = {-1, 0, 0, 1, 1, 4, 2},
                  dep[] = {0, 1, 1, 2, 2, 3, 2};
    t->n = 7;
    memcpy(t->token, tok, sizeof tok);
    memcpy(t->parent, par, sizeof par);
    memcpy(t->depth, dep, sizeof dep);
    for (int i = 0; i < t->n; i++)
        t->argmax[i] = t->residual[i] = 500 + i;
}

static void check_walk(const char *what, const struct frs_accept *a, int n, const int32_t *path,
                       const int32_t *tokens)
{
    CHECK(a->n_path == n && a->n_tokens == n, "%s: n_path %d n_tokens %d, expected %d", what, a->n_path,
          a->n_tokens, n);
    if (a->n_path != n)
        return;
    for (int i = 0; i < n; i++) {
        CHECK(a->path[i] == path[i], "%s: path[%d] = %d, expected %d", what, i, (int)a->path[i], (int)path[i]);
        CHECK(a->tokens[i] == tokens[i], "%s: tokens[%d] = %d, expected %d", what, i, (int)a->tokens[i],
              (int)tokens[i]);
    }
}

static void test_greedy(void)
{
    struct frs_tree t;
    struct frs_accept a;
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    make_tree(&t);
    /* middle of the tree: 0 -> 1 -> 4, then the argmax at 4 (31) is not its child (30) */
    t.argmax[0] = 10;
    t.argmax[1] = 21;
    t.argmax[4] = 31;
    CHECK_OK(accept_walk(&t, &greedy, 0, &a));
    {
        const int32_t path[] = {0, 1, 4}, tok[] = {10, 21, 31};
        check_walk("greedy middle", &a, 3, path, tok);
    }
    /* down to the leaf 5: bonus = argmax at 5 */
    t.argmax[4] = 30;
    t.argmax[5] = 40;
    CHECK_OK(accept_walk(&t, &greedy, 0, &a));
    {
        const int32_t path[] = {0, 1, 4, 5}, tok[] = {10, 21, 30, 40};
        check_walk("greedy leaf", &a, 4, path, tok);
    }
    /* no child matches at the root: bonus at the root */
    t.argmax[0] = 99;
    CHECK_OK(accept_walk(&t, &greedy, 0, &a));
    {
        const int32_t path[] = {0}, tok[] = {99};
        check_walk("greedy root", &a, 1, path, tok);
    }
    /* a grandchild's token equal to the argmax does not count: only children */
    t.argmax[0] = 20;
    CHECK_OK(accept_walk(&t, &greedy, 0, &a));
    {
        const int32_t path[] = {0}, tok[] = {20};
        check_walk("greedy grandchild", &a, 1, path, tok);
    }
    /* root-only tree */
    struct frs_tree r;
    memset(&r, 0, sizeof r);
    r.n = 1;
    r.parent[0] = -1;
    r.argmax[0] = 7;
    CHECK_OK(accept_walk(&r, &greedy, 0, &a));
    {
        const int32_t path[] = {0}, tok[] = {7};
        check_walk("greedy root only", &a, 1, path, tok);
    }
}

static void test_planted(void)
{
    struct frs_tree t;
    struct frs_accept a;
    make_tree(&t);
    t.child_prob[1] = 0.3f; /* p_root(10) */
    t.child_prob[2] = 0.5f; /* p_root(11) */
    t.child_prob[3] = 0.1f;
    t.child_prob[4] = 0.6f;
    t.child_prob[5] = 0.9f;
    t.child_prob[6] = 0.2f;
    t.residual[2] = 77;
    t.residual[3] = 55;
    double u[7] = {0, 0.5, 0.6, 0.05, 0.5, 0.95, 0.9};
    /* node 1 rejected (0.5 >= 0.3), removed 0.3; node 2: 0.6 * 0.7 = 0.42 < 0.5 accepted;
     * node 6: 0.9 >= 0.2 rejected; bonus = residual[2] */
    CHECK_OK(accept_walk_uniforms(&t, u, &a));
    {
        const int32_t path[] = {0, 2}, tok[] = {11, 77};
        check_walk("planted 1", &a, 2, path, tok);
    }
    /* node 1 accepted (0.29 < 0.3); node 3 accepted (0.05 < 0.1), a leaf: residual[3] */
    u[1] = 0.29;
    CHECK_OK(accept_walk_uniforms(&t, u, &a));
    {
        const int32_t path[] = {0, 1, 3}, tok[] = {10, 20, 55};
        check_walk("planted 2", &a, 3, path, tok);
    }
    /* node 3 rejected (0.2 >= 0.1), removed 0.1; node 4: 0.5 * 0.9 = 0.45 < 0.6 accepted;
     * node 5: 0.95 >= 0.9 rejected; bonus = residual[4] */
    u[3] = 0.2;
    CHECK_OK(accept_walk_uniforms(&t, u, &a));
    {
        const int32_t path[] = {0, 1, 4}, tok[] = {10, 21, 504};
        check_walk("planted 3", &a, 3, path, tok);
    }
    /* renormalisation matters: u[2] = 0.65: 0.65 >= 0.5 but 0.65 * 0.7 = 0.455 < 0.5 */
    u[1] = 0.5;
    u[2] = 0.65;
    CHECK_OK(accept_walk_uniforms(&t, u, &a));
    CHECK(a.n_path == 2 && a.path[1] == 2, "planted 4: renormalised acceptance of node 2 (n_path %d)", a.n_path);
    /* accept_walk draws its uniforms from (seed, FRS_RNG_STREAM_ACCEPT, iter * FRS_MAX_TREE + c) */
    const struct frs_sampling s = {1.0f, 1.0f, 0, 42};
    for (uint64_t iter = 0; iter < 50; iter++) {
        struct frs_accept b;
        for (int c = 1; c < 7; c++)
            u[c] = frs_rng_uniform(42, FRS_RNG_STREAM_ACCEPT, iter * FRS_MAX_TREE + c);
        CHECK_OK(accept_walk_uniforms(&t, u, &a));
        CHECK_OK(accept_walk(&t, &s, iter, &b));
        CHECK(a.n_path == b.n_path && memcmp(a.path, b.path, sizeof(int32_t) * a.n_path) == 0 &&
                  memcmp(a.tokens, b.tokens, sizeof(int32_t) * a.n_tokens) == 0,
              "iter %llu: accept_walk differs from its documented uniforms", (unsigned long long)iter);
    }
}

static void test_bad_trees(void)
{
    struct frs_tree t;
    struct frs_accept a;
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    make_tree(&t);
    t.token[2] = 10; /* same token as its sibling node 1 */
    CHECK(accept_walk(&t, &greedy, 0, &a) == FRS_ERR_INVALID_ARG, "duplicate sibling tokens accepted");
    make_tree(&t);
    t.parent[3] = 5; /* parent after the child */
    CHECK(accept_walk(&t, &greedy, 0, &a) == FRS_ERR_INVALID_ARG, "parent after child accepted");
    make_tree(&t);
    t.depth[5] = 2;
    CHECK(accept_walk(&t, &greedy, 0, &a) == FRS_ERR_INVALID_ARG, "wrong depth accepted");
    make_tree(&t);
    t.n = 0;
    CHECK(accept_walk(&t, &greedy, 0, &a) == FRS_ERR_INVALID_ARG, "empty tree accepted");
    frs_error_clear();
}

/* Draw from p (n entries) with the tokens of excl removed, by inversion. */
static int draw_excl(const double *p, int n, const int *excl, int n_excl, double u)
{
    double tot = 0;
    int keep[16];
    for (int i = 0; i < n; i++) {
        keep[i] = 1;
        for (int j = 0; j < n_excl; j++)
            if (excl[j] == i)
                keep[i] = 0;
        if (keep[i])
            tot += p[i];
    }
    double acc = 0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (!keep[i] || p[i] == 0)
            continue;
        acc += p[i] / tot;
        last = i;
        if (u < acc)
            return i;
    }
    return last;
}

/* Monte Carlo: root children tokens {0, 2}, node 1 (token 0) has child token 3. The first output
 * token must follow p_root and, after token 0, the second must follow p_after0. */
static void test_lossless(void)
{
    const double p_root[6] = {0.3, 0.25, 0.2, 0.15, 0.1, 0.0};
    const double p_after0[6] = {0.1, 0.1, 0.1, 0.4, 0.2, 0.1};
    const double p_after2[6] = {0.5, 0.1, 0.1, 0.1, 0.1, 0.1};
    struct frs_tree t;
    memset(&t, 0, sizeof t);
    const int32_t tok[] = {9, 0, 2, 3}, par[] = {-1, 0, 0, 1}, dep[] = {0, 1, 1, 2};
    t.n = 4;
    memcpy(t.token, tok, sizeof tok);
    memcpy(t.parent, par, sizeof par);
    memcpy(t.depth, dep, sizeof dep);
    t.child_prob[1] = (float)p_root[0];
    t.child_prob[2] = (float)p_root[2];
    t.child_prob[3] = (float)p_after0[3];
    const int N = 200000;
    long first[6] = {0}, second[6] = {0}, n_after0 = 0;
    const struct frs_sampling s = {1.0f, 1.0f, 0, 2024};
    for (int it = 0; it < N; it++) {
        const int ex0[2] = {0, 2}, ex1[1] = {3};
        t.residual[0] = draw_excl(p_root, 6, ex0, 2, frs_rng_uniform(7, 1, (uint64_t)it));
        t.residual[1] = draw_excl(p_after0, 6, ex1, 1, frs_rng_uniform(7, 2, (uint64_t)it));
        t.residual[2] = draw_excl(p_after2, 6, NULL, 0, frs_rng_uniform(7, 3, (uint64_t)it));
        t.residual[3] = 5;
        struct frs_accept a;
        CHECK_OK(accept_walk(&t, &s, (uint64_t)it, &a));
        first[a.tokens[0]]++;
        if (a.tokens[0] == 0) {
            n_after0++;
            second[a.tokens[1]]++;
        }
    }
    /* every frequency within 5 binomial standard deviations of its exact probability */
    for (int v = 0; v < 6; v++) {
        double e = N * p_root[v], sd = sqrt(N * p_root[v] * (1 - p_root[v])) + 1e-9;
        CHECK(fabs(first[v] - e) <= 5 * sd + 0.5, "first token %d: %ld draws, expected %.0f +- %.0f", v, first[v],
              e, sd);
        double e2 = n_after0 * p_after0[v], sd2 = sqrt(n_after0 * p_after0[v] * (1 - p_after0[v])) + 1e-9;
        CHECK(fabs(second[v] - e2) <= 5 * sd2 + 0.5, "second token %d after 0: %ld draws, expected %.0f +- %.0f", v,
              second[v], e2, sd2);
    }
    fprintf(stderr, "lossless walk: first token frequencies %ld %ld %ld %ld %ld %ld of %d\n", first[0], first[1],
            first[2], first[3], first[4], first[5], N);
}

/* a backend whose accept op answers with a fixed walk (done = 1) or declines (done = 0) */
static int g_fake_done, g_fake_calls;
static enum frs_status fake_accept(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                                   struct frs_accept *out, int *done)
{
    (void)be;
    (void)s;
    (void)iter;
    g_fake_calls++;
    *done = g_fake_done;
    if (g_fake_done) {
        out->n_path = out->n_tokens = 2;
        out->path[0] = 0;
        out->path[1] = 2;
        out->tokens[0] = 11;
        out->tokens[1] = 777;
    }
    return FRS_OK;
}

static void test_verified(void)
{
    struct frs_tree t;
    struct frs_accept a;
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    make_tree(&t);
    t.argmax[0] = 10;
    t.argmax[1] = 21;
    const int32_t host_path[] = {0, 1, 4}, host_tok[] = {10, 21, 504};
    const int32_t dev_path[] = {0, 2}, dev_tok[] = {11, 777};
    const struct frs_backend_ops no_op = {.name = "no accept op"}, with_op = {.name = "fake", .accept = fake_accept};
    struct frs_backend be = {.ops = &no_op}; /* the other fields zero */
    CHECK_OK(accept_verified(&be, &t, &greedy, 0, &a));
    check_walk("verified, no accept op: host walk", &a, 3, host_path, host_tok);
    be.ops = &with_op;
    g_fake_done = 0;
    CHECK_OK(accept_verified(&be, &t, &greedy, 0, &a));
    check_walk("verified, the backend declines: host walk", &a, 3, host_path, host_tok);
    g_fake_done = 1;
    CHECK_OK(accept_verified(&be, &t, &greedy, 0, &a));
    check_walk("verified, the backend's walk", &a, 2, dev_path, dev_tok);
    CHECK(g_fake_calls == 2, "accept op called %d times, expected 2", g_fake_calls);
}

int main(void)
{
    test_greedy();
    test_planted();
    test_bad_trees();
    test_lossless();
    test_verified();
    return test_finish("test_accept");
}
