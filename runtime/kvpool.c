/* kvpool.c - the paged KV pool's block accounting (see kvpool.h). */
#include "kvpool.h"

#include <stdlib.h>
#include <string.h>

enum frs_status kvpool_init(struct kvpool *p, int n_blocks, int block, int max_seqs, int max_ctx)
{
    memset(p, 0, sizeof *p);
    if (n_blocks < 1 || block < 1 || max_seqs < 1 || max_ctx < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "kvpool: n_blocks %d, block %d, max_seqs %d, max_ctx %d must be >= 1",
                       n_blocks, block, max_seqs, max_ctx);
    p->n_blocks = n_blocks;
    p->block = block;
    p->max_seqs = max_seqs;
    p->max_ctx = max_ctx;
    p->max_per_seq = (max_ctx + block - 1) / block;
    p->free_list = malloc((size_t)n_blocks * sizeof *p->free_list);
    p->tables = malloc((size_t)max_seqs * p->max_per_seq * sizeof *p->tables);
    p->n_of = calloc((size_t)max_seqs, sizeof *p->n_of);
    if (!p->free_list || !p->tables || !p->n_of) {
        kvpool_free(p);
        return FRS_ERR(FRS_ERR_OOM, "kvpool: tables for %d blocks, %d slots", n_blocks, max_seqs);
    }
    for (int i = 0; i < n_blocks; i++)
        p->free_list[i] = n_blocks - 1 - i; /* popped from the top: lowest id first */
    p->n_free = n_blocks;
    return FRS_OK;
}

void kvpool_free(struct kvpool *p)
{
    free(p->free_list);
    free(p->tables);
    free(p->n_of);
    memset(p, 0, sizeof *p);
}

enum frs_status kvpool_reserve(struct kvpool *p, int slot, int positions)
{
    if (slot < 0 || slot >= p->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "kvpool_reserve: slot %d outside [0, %d)", slot, p->max_seqs);
    const int need = kvpool_blocks_for(p, positions);
    if (positions > p->max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "kvpool_reserve: %d positions exceed the context limit max_ctx = %d",
                       positions, p->max_ctx);
    const int more = need - p->n_of[slot];
    if (more <= 0)
        return FRS_OK;
    if (more > p->n_free)
        return FRS_ERR_NO_ROOM;
    int32_t *t = p->tables + (size_t)slot * p->max_per_seq;
    for (int i = 0; i < more; i++)
        t[p->n_of[slot]++] = p->free_list[--p->n_free];
    return FRS_OK;
}

void kvpool_release(struct kvpool *p, int slot)
{
    if (slot < 0 || slot >= p->max_seqs)
        return;
    const int32_t *t = p->tables + (size_t)slot * p->max_per_seq;
    /* back in reverse so the slot's lowest blocks are handed out first again */
    for (int i = p->n_of[slot] - 1; i >= 0; i--)
        p->free_list[p->n_free++] = t[i];
    p->n_of[slot] = 0;
}
