/* kvpool.h - block accounting of the paged KV pool (runtime/batch.h): a free list of the pool's
 * blocks and one block table per sequence slot. Pure bookkeeping, no device memory: the backend
 * owns the blocks' memory, the batched engine (runtime/batch_engine.c) decides who gets them.
 *
 * A slot's table grows by reserve(slot, positions) (enough blocks for positions [0, positions))
 * and is emptied by release(slot). reserve is all-or-nothing: when the free list is short it
 * takes nothing and returns FRS_ERR_NO_ROOM (no message recorded: it is the engine's normal
 * signal to wait or preempt, not an error). The free list is LIFO (lowest id first at the
 * start), so a given sequence of calls always yields the same tables (every TP rank agrees).
 *
 * defines: struct kvpool, kvpool_init, kvpool_free, kvpool_reserve, kvpool_release,
 *          kvpool_blocks_for, kvpool_room, FRS_ERR_NO_ROOM
 */
#ifndef FRSPEC_KVPOOL_H
#define FRSPEC_KVPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* kvpool_reserve's "short of blocks": an frs_status value no other code uses for this (the
 * enum has no pool value; TOO_LONG means the request itself can never fit). */
#define FRS_ERR_NO_ROOM FRS_ERR_OOM

struct kvpool {
    int n_blocks;       /* blocks in the pool */
    int block;          /* positions per block */
    int max_seqs;       /* slots */
    int max_ctx;        /* most positions of one sequence */
    int max_per_seq;    /* table capacity of one slot: blocks of max_ctx positions */
    int n_free;
    int32_t *free_list; /* (n_blocks) free block ids, n_free of them; the top is the lowest id */
    int32_t *tables;    /* (max_seqs, max_per_seq) block tables */
    int *n_of;          /* (max_seqs) blocks held per slot */
};

enum frs_status kvpool_init(struct kvpool *p, int n_blocks, int block, int max_seqs, int max_ctx);
void kvpool_free(struct kvpool *p);
/* Blocks needed for positions [0, positions). */
static inline int kvpool_blocks_for(const struct kvpool *p, int positions)
{
    return positions <= 0 ? 0 : (positions + p->block - 1) / p->block;
}
/* Make slot's table cover positions [0, positions): FRS_OK, FRS_ERR_NO_ROOM (pool short, nothing
 * taken, no message) or FRS_ERR_TOO_LONG (beyond max_ctx: message set). */
enum frs_status kvpool_reserve(struct kvpool *p, int slot, int positions);
/* Return every block of slot to the pool. */
void kvpool_release(struct kvpool *p, int slot);
/* The slot's table and its length. */
static inline const int32_t *kvpool_table(const struct kvpool *p, int slot)
{
    return p->tables + (size_t)slot * p->max_per_seq;
}
/* Positions slot could still reach with the free blocks: (held + free) * block. */
static inline int kvpool_room(const struct kvpool *p, int slot)
{
    return (p->n_of[slot] + p->n_free) * p->block;
}

#endif
