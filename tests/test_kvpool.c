/* test_kvpool.c - runtime/kvpool.c (the paged pool's block accounting) on closed-form cases:
 * block counts, all-or-nothing reserve when short, release and reuse order, context limit,
 * conservation of blocks under a random reserve/release sequence; and tree_draft_rows. */
#include <stdlib.h>
#include <string.h>

#include "kvpool.h"
#include "rng.h"
#include "testutil.h"
#include "tree.h"

static void test_closed_form(void)
{
    struct kvpool p;
    CHECK_OK(kvpool_init(&p, 5, 16, 3, 100)); /* 100 positions: 7 blocks per slot at most */
    CHECK(p.max_per_seq == 7, "max_per_seq %d", p.max_per_seq);
    CHECK(kvpool_blocks_for(&p, 0) == 0 && kvpool_blocks_for(&p, 1) == 1 && kvpool_blocks_for(&p, 16) == 1 &&
              kvpool_blocks_for(&p, 17) == 2,
          "blocks_for");
    CHECK_OK(kvpool_reserve(&p, 0, 17)); /* 2 blocks: ids 0, 1 */
    CHECK(p.n_of[0] == 2 && kvpool_table(&p, 0)[0] == 0 && kvpool_table(&p, 0)[1] == 1, "slot 0 table");
    CHECK_OK(kvpool_reserve(&p, 0, 32)); /* still 2 */
    CHECK(p.n_of[0] == 2 && p.n_free == 3, "no growth for 32: n_of %d free %d", p.n_of[0], p.n_free);
    CHECK_OK(kvpool_reserve(&p, 1, 48)); /* 3 blocks: 2, 3, 4 */
    CHECK(p.n_free == 0 && kvpool_table(&p, 1)[2] == 4, "slot 1 table");
    CHECK(kvpool_room(&p, 0) == 32, "room %d", kvpool_room(&p, 0));
    /* short: nothing taken, no error message */
    frs_error_clear();
    CHECK(kvpool_reserve(&p, 2, 1) == FRS_ERR_NO_ROOM, "reserve with an empty pool");
    CHECK(p.n_of[2] == 0 && frs_error_msg()[0] == 0, "short reserve took blocks or set a message");
    CHECK(kvpool_reserve(&p, 0, 33) == FRS_ERR_NO_ROOM && p.n_of[0] == 2, "growth when short");
    kvpool_release(&p, 1);
    CHECK(p.n_free == 3 && p.n_of[1] == 0, "release");
    CHECK_OK(kvpool_reserve(&p, 2, 20)); /* gets slot 1's first blocks back: 2, 3 */
    CHECK(kvpool_table(&p, 2)[0] == 2 && kvpool_table(&p, 2)[1] == 3, "reuse order %d %d",
          (int)kvpool_table(&p, 2)[0], (int)kvpool_table(&p, 2)[1]);
    CHECK(kvpool_reserve(&p, 0, 101) == FRS_ERR_TOO_LONG, "beyond max_ctx");
    CHECK(kvpool_reserve(&p, 3, 1) == FRS_ERR_INVALID_ARG, "bad slot");
    kvpool_free(&p);
    CHECK(kvpool_init(&p, 0, 16, 1, 10) == FRS_ERR_INVALID_ARG, "empty pool refused");
}

/* Random reserve/release: every block is held by exactly one slot or free, tables never share. */
static void test_conservation(void)
{
    struct kvpool p;
    const int nb = 23, ns = 6;
    CHECK_OK(kvpool_init(&p, nb, 4, ns, 64));
    uint64_t seed = 7;
    for (int it = 0; it < 2000; it++) {
        const int slot = (int)(frs_rng_uniform(seed, 1, (uint64_t)it) * ns);
        if (frs_rng_uniform(seed, 2, (uint64_t)it) < 0.3) {
            kvpool_release(&p, slot);
        } else {
            const int pos = (int)(frs_rng_uniform(seed, 3, (uint64_t)it) * 64) + 1;
            const int before = p.n_of[slot], nfree = p.n_free;
            enum frs_status st = kvpool_reserve(&p, slot, pos);
            const int need = kvpool_blocks_for(&p, pos);
            if (need <= before)
                CHECK(st == FRS_OK && p.n_of[slot] == before, "no-op reserve");
            else if (need - before <= nfree)
                CHECK(st == FRS_OK && p.n_of[slot] == need, "reserve %d -> %d", pos, p.n_of[slot]);
            else
                CHECK(st == FRS_ERR_NO_ROOM && p.n_of[slot] == before && p.n_free == nfree, "short reserve");
        }
        int seen[23] = {0}, total = p.n_free;
        for (int i = 0; i < p.n_free; i++)
            seen[p.free_list[i]]++;
        for (int s = 0; s < ns; s++) {
            total += p.n_of[s];
            for (int j = 0; j < p.n_of[s]; j++)
                seen[kvpool_table(&p, s)[j]]++;
        }
        int ok = total == nb;
        for (int b = 0; b < nb; b++)
            ok &= seen[b] == 1;
        CHECK(ok, "iteration %d: blocks not conserved (total %d)", it, total);
        if (!ok)
            break;
    }
    kvpool_free(&p);
}

static void test_tree_rows(void)
{
    struct frs_tree_params a = {6, 10, 60}, b = {1, 4, 5}, c = {3, 2, 7};
    CHECK(tree_draft_rows(&a) == 50, "depth 6 topk 10: %d", tree_draft_rows(&a));
    CHECK(tree_draft_rows(&b) == 0, "depth 1: %d", tree_draft_rows(&b));
    CHECK(tree_draft_rows(&c) == 4, "depth 3 topk 2: %d", tree_draft_rows(&c));
    /* the frontier slots tree_build actually assigns for c */
    struct tree_build tb;
    CHECK_OK(tree_build_init(&tb, 2, 3));
    CHECK_OK(tree_build_begin(&tb, &c));
    const float l1[2] = {-0.1f, -0.5f};
    const int32_t t1[2] = {10, 11};
    tree_build_first(&tb, l1, t1);
    uint64_t mask[8];
    int cols;
    tree_build_frontier_mask(&tb, mask, &cols);
    const float l2[4] = {-0.1f, -0.2f, -0.3f, -0.4f};
    const int32_t t2[4] = {20, 21, 22, 23};
    tree_build_expand(&tb, l2, t2);
    tree_build_frontier_mask(&tb, mask, &cols);
    CHECK(tb.n_slots == tree_draft_rows(&c), "tree slots used %d", tb.n_slots);
    tree_build_free(&tb);
}

int main(void)
{
    test_closed_form();
    test_conservation();
    test_tree_rows();
    return test_finish("test_kvpool");
}
