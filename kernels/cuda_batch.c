/* cuda_batch.c - the CUDA backend's batched ops (runtime/batch.h, declared in cuda_batch.h): the
 * paged KV pool and the batched target forward over the rows of many sequences. Host C11 over
 * the launchers of cuda_ops.h (GEMMs, norms, SwiGLU, embedding, argmax), cuda_paged.h (RoPE + K/V
 * write through the block tables, paged attention, row moves) and cuda_sample.h (device
 * sampling, one launch pair per sampled row with that sequence's parameters).
 *
 * Memory, sized once at create() and logged; nothing is allocated on the step path:
 *  - the pool: per layer one K and one V array of kv_blocks * kv_block rows of KVl * D bf16
 *    (layer-major, so a layer's rows are one array indexed by physical row), and with a draft
 *    the draft's K and V rows and the target features (C bf16) per row. kv_blocks is
 *    lim->kv_blocks, or what fits in lim->kv_share of cudaMemGetInfo's free memory once the step
 *    buffers below are reserved.
 *  - the step buffers for Rb = max(prefill_chunk, max_step_rows, max_seqs) rows, the logits of
 *    max(max_step_rows, max_seqs) rows and one logits row per slot (prefill's last row, read by
 *    next_token).
 *  - one pinned host block of per-step metadata (tokens, RoPE positions, physical rows, the rows'
 *    sequences / prefixes / indices, the block tables, commit's moves) uploaded with ONE copy per
 *    op, and one pinned block for the read-back (chosen tokens and sampling fallback flags: ONE
 *    copy per verify for the whole batch).
 *
 * Decisions are keyed by position (batch.h): greedy = the argmax (ties to the lowest id, one
 * NCCL max over packed keys at TP > 1); temperature > 0 = the Gumbel-max draw with draw index =
 * the position of the chosen token, on the device at TP 1 (cuda_sample.h, sampling.c's result
 * bit for bit), a row the device leaves undecided, or every row at TP > 1, on the host from its
 * logits row (runtime/sampling.c with the communicator).
 *
 * Speculation (with a draft): draft grows each sequence's EAGLE-2 tree with runtime/tree.c (the
 * reference the single-sequence device kernels of cuda_tree.cu follow) on the host: one batched
 * draft forward over every sequence's pending positions (catch-up, causal), then per depth one
 * batched forward of every growing sequence's frontier (tree mask over its tree slots), its
 * LM head and log-softmax top-k, and ONE read-back of the top-k of all rows; the draft's K/V live
 * in the pool's draft half at the sequence's positions (tree slots at target_len + slot, as in
 * runtime/tree.h). verify runs every sequence's tree (or its root alone) in one target forward
 * with per-row ancestor masks, chooses the token after every node (as above, draw index = the
 * node's position + 1) with ONE read-back, and walks each tree greedily on the host
 * (accept_walk_uniforms, the position-keyed rule of batch.h: lossless whatever the tree).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "accept.h" /* struct frs_accept, accept_walk_uniforms */
#include "batch.h"
#include "comm.h"
#include "cuda_batch.h"
#include "cuda_attn_mma.h" /* cuda_attn_mma_paged */
#include "cuda_check.h" /* FRS_CUDA_CHECK */
#include "cuda_fp8_kernels.h" /* cuda_matmul_w8 */
#include "cuda_graph.h"       /* cuda_graph_end_capture */
#include "cuda_ops.h"
#include "cuda_paged.h"
#include "cuda_sample.h"
#include "cuda_tree.h" /* cuda_keys_to_ids */
#include "nccl_comm.h"
#include "sampling.h"
#include "tree.h" /* tree_build_*, tree_mask_ancestors, tree_draft_rows */

/* the per-step metadata, one pinned host block mirrored on the device (int32 sections after the
 * masks); uploaded as: masks (when used) | the 8 row sections + the tables | roots | moves */
struct bt_meta {
    uint64_t *mask;                      /* (Rb, CUDA_PAGED_MASK_WORDS) tree masks (first: 8-byte aligned) */
    int32_t *tok, *pos, *phys;           /* (Rb) input token, RoPE position, physical pool row */
    int32_t *seq, *prefix, *local, *ncols; /* (Rb) attention row descriptors (cuda_paged.h) */
    int32_t *gidx;                       /* (Rb) the draft's fc input: the feature row each row reads */
    int32_t *seg;                        /* (SEGCAP, 4) the tensor-core attention's segments (cuda_attn_mma.h) */
    int32_t *nseg;                       /* (BT_NSEG_INTS) nseg[0] = segments in use; the device-built draft's
                                          * level l: nseg[l], its segments from seg + 4 l bt->dseg_level */
    int32_t *tables;                     /* (max_seqs, TW) block tables of the op's sequences */
    int32_t *ridx, *rdst;                /* (max_seqs) the draft's root rows: dx row -> root row */
    int32_t *mv_src, *mv_dst;            /* (max_seqs * FRS_MAX_TREE) commit's row moves */
};

#define BT_ATT_CLASSES 16 /* tree attention grids of a verify graph: segments up to 2^c, c < 16 (bt_att_grid) */
#define BT_ROW_SECTIONS 8 /* tok .. gidx; then seg, nseg, uploaded in the same copy */
#define BT_MASK_INTS (CUDA_PAGED_MASK_WORDS * 2)
#define BT_NSEG_INTS FRS_MAX_TREE_DEPTH /* segment counts: one per draft level (a multiple of 4) */
_Static_assert(FRS_MASK_WORDS(FRS_MAX_TREE) <= CUDA_PAGED_MASK_WORDS, "a verify mask row fits the paged mask");

struct cuda_batch {
    struct cuda_batch_model m;
    struct cuda_batch_layer *layers; /* (L) host copy */
    int max_seqs, B, TW, nblocks, Rb, Rv, max_ctx, prefill_chunk;
    int prefill_rows; /* frs_batch_prefill_rows(lim) (<= Rb) */
    int G, segcap; /* target heads per kv head; segments of the tensor-core attention (bt_mma_blocks(Rb), and
                    * the draft's: FRS_MAX_TREE_DEPTH levels of dseg_level) */
    int dG;        /* draft heads per kv head */
    int dmma;      /* the draft's attention on tensor cores (att_mma and a head_dim it takes) */
    int dseg_level; /* segments of one draft level: max_seqs x ceil(max_topk dG / CUDA_ATT_MMA_BM) */
    int ws_per_sm; /* blocks per SM of the decode's warp split (3; the K/V ring's: cuda_attn_ws_pipe_per_sm) */
    size_t kvw;          /* KVl * D */
    size_t layer_rows;   /* nblocks * B */

    /* the pool: one allocation */
    void *pmem;
    size_t pbytes;
    uint16_t *kpool, *vpool;   /* (L, nblocks * B, kvw) */
    uint16_t *dkpool, *dvpool; /* (nblocks * B, dkv) draft, NULL without */
    uint16_t *fpool;           /* (nblocks * B, C) target features, NULL without a draft */

    /* step buffers: one allocation */
    void *amem;
    size_t abytes;
    float *x;          /* (Rb, C) residual */
    uint16_t *xn;      /* (Rb, C) */
    float *qkv;        /* (Rb, (H + 2KV) D) */
    float *q;          /* (Rb, H D) */
    uint16_t *att;     /* (Rb, H D) */
    float *gu;         /* (Rb, 2F) */
    uint16_t *act;     /* (Rb, F) */
    uint16_t *hid;     /* (Rb, C) post-final-norm hidden */
    float *logits;     /* (Rv, Vl) verify rows */
    float *scratch;    /* paged attention partials */
    uint64_t *keys;    /* (Rb) */
    int32_t *d_out;    /* (2 Rb): n chosen tokens, then n sampling flags (uint32) */
    struct cuda_sample_params *sparams; /* (Rb) */
    struct cuda_sample_row *srows;      /* (Rb) */
    void *sscratch;    /* cuda_sample_scratch_bytes(1, Vl) */
    int32_t *d_meta;
    size_t meta_ints;

    /* host */
    int32_t *h_meta; /* pinned, meta_ints */
    struct bt_meta hm, dm;
    int32_t *h_out;  /* pinned (2 Rb) */
    struct cuda_sample_params *h_sparams; /* pinned (Rb) */
    float *h_row;    /* (Vl) one logits row for the host sampling path */
    struct frs_sampling *h_rsamp; /* (Rb) each verify row's sampling (its sequence's) */

    /* the draft (m.draft): step buffers of Rd rows in amem, host tree state per slot */
    int Rd, Rf, max_topk;     /* draft rows of one forward; frontier rows (max_seqs * max_topk) */
    uint16_t *din;            /* (Rd, 2C) fc input [embed | feature] */
    float *dx;                /* (Rd, C) */
    uint16_t *dxn;            /* (Rd, C) */
    float *dqkv;              /* (Rd, (dH + 2 dKV) dD) */
    float *dq;                /* (Rd, dH dD) */
    uint16_t *datt;           /* (Rd, dH dD) */
    float *dgu;               /* (Rd, 2 dF) */
    uint16_t *dact;           /* (Rd, dF) */
    uint16_t *droot;          /* (max_seqs, C) bf16 root rows (the draft's output at the root) */
    float *dlog;              /* (Rf, K) */
    float *d_topk;            /* (Rf * max_topk) values, then as many int32 ids: one read-back */
    float *h_topk;            /* pinned, the same */
    float *h_logp;            /* (max_topk * max_topk) one sequence's top-k repacked */
    int32_t *h_tok;           /* (max_topk * max_topk) */
    uint64_t *h_fmask;        /* (max_topk * FRS_MASK_WORDS(max_topk * FRS_MAX_TREE_DEPTH)) */
    struct tree_build *slot_tb;  /* (max_seqs) */
    struct frs_tree *slot_tree;  /* (max_seqs) the drafted tree of each slot */
    uint64_t *slot_vmask;        /* (max_seqs, FRS_MAX_TREE, CUDA_PAGED_MASK_WORDS) its ancestor masks */
    int *slot_state;             /* (max_seqs) 1: a drafted tree waits for verify */
    int *rowbase, *rowbase_prev; /* (max_seqs) a sequence's first row in this / the last level's forward */
    /* the trees built on the device (m.draft_dev): a builder per slot (tmem, tstride bytes each), the
     * op's sequence descriptors and its finished trees (device, and pinned host copies) */
    void *tmem;
    size_t tstride;
    struct cuda_tree_seq *d_tseq, *h_tseq;
    struct frs_tree *d_trees, *h_trees;
    cudaEvent_t ev_meta; /* the last metadata upload: the pinned block may be rewritten after it */
    cudaEvent_t ev;
    long samp_dev, samp_host;
    int last_n; /* rows of the last verify */
    long device_trees; /* drafts whose trees were built on the device */
    int att_blocks, att_splits; /* the verify step's tree attention grid (bt_att_grid), read inside its capture */
    int last_prefill; /* 1: the last op was a prefill (its chosen rows' logits in logits) */
    int *prefill_row; /* (max_seqs) a slot's row of logits in the last prefill, -1: none */
    int64_t *h_draw;  /* (Rb) draw indices of a verify's rows */
    int32_t *h_chosen; /* (Rb) */
    /* the verify step (forward + argmax) of n rows as a CUDA graph, captured at its second use
     * (the first runs eagerly: cuBLASLt times its algorithms outside capture); (bt_graph_count):
     * [((masked ? Rv + 1 : 0) + n) * BT_ATT_CLASSES + the attention grid's class (bt_att_grid)] */
    struct bt_graph {
        int uses;
        cudaGraphExec_t exec;
    } *graphs;
};

struct cuda_batch *cuda_backend_batch(struct frs_backend *be); /* cuda_backend.c */

static void bt_meta_carve(struct bt_meta *mt, int32_t *base, int Rb, int max_seqs, int TW, int segcap)
{
    int32_t *p = base;
    mt->mask = (uint64_t *)p, p += (size_t)Rb * BT_MASK_INTS;
    mt->tok = p, p += Rb;
    mt->pos = p, p += Rb;
    mt->phys = p, p += Rb;
    mt->seq = p, p += Rb;
    mt->prefix = p, p += Rb;
    mt->local = p, p += Rb;
    mt->ncols = p, p += Rb;
    mt->gidx = p, p += Rb;
    mt->seg = p, p += (size_t)segcap * 4;
    mt->nseg = p, p += BT_NSEG_INTS;
    mt->tables = p, p += (size_t)max_seqs * TW;
    mt->ridx = p, p += max_seqs;
    mt->rdst = p, p += max_seqs;
    mt->mv_src = p, p += (size_t)max_seqs * FRS_MAX_TREE;
    mt->mv_dst = p;
}

static size_t bt_meta_ints(int Rb, int max_seqs, int TW, int segcap)
{
    return (size_t)(BT_MASK_INTS + BT_ROW_SECTIONS) * Rb + (size_t)segcap * 4 + BT_NSEG_INTS + (size_t)max_seqs * TW +
           (size_t)2 * max_seqs +
           (size_t)2 * max_seqs * FRS_MAX_TREE;
}

static size_t bt_align(size_t b) { return (b + 255) & ~(size_t)255; }

/* the tensor-core attention's grid for n rows in segments of bm q vectors (CUDA_ATT_MMA_BM, or
 * CUDA_ATT_MMA_BM_WS for the decode's warp split): a bound on the segments of any grouping of n rows
 * into sequences (each group's last segment may be partial), and its context splits */
static int bt_mma_blocks(const struct cuda_batch *bt, int n, int bm)
{
    return (n * bt->G + bm - 1) / bm + (n < bt->max_seqs ? n : bt->max_seqs);
}

/* the segment size of bt_forward's tensor-core attention mode mma (1 or 2) */
static int bt_mma_bm(int mma)
{
    return mma == 2 ? CUDA_ATT_MMA_BM_WS : CUDA_ATT_MMA_BM;
}

static int bt_mma_splits(const struct cuda_batch *bt, int n, int bm)
{
    if (bm == CUDA_ATT_MMA_BM_WS) /* the decode: one segment per row */
        return cuda_attn_mma_splits_ws(n, bt->m.KV, bt->m.n_sm, bt->ws_per_sm);
    return cuda_attn_mma_splits_blocks(bt_mma_blocks(bt, n, bm), bt->m.KV, bt->m.n_sm);
}

/* the most context positions a row of hm's first n sees (prefix + local + 1: causal rows) */
static int bt_rows_cols(const struct bt_meta *h, int n)
{
    int cols = 1;
    for (int r = 0; r < n; r++)
        cols = h->prefix[r] + h->local[r] + 1 > cols ? h->prefix[r] + h->local[r] + 1 : cols;
    return cols;
}

/* splits, at most one per 64-slot tile of cols positions (short contexts: the rest would be empty) */
static int bt_splits_cap(int splits, int cols)
{
    const int tiles = (cols + 63) / 64;
    return splits < tiles ? splits : tiles;
}

/* The tree attention's grid (mma 1: segments of CUDA_ATT_MMA_BM vectors) for n rows whose segments
 * are in hm (bt_segments): blocks (>= the segments in use) and context splits, as many as fill one
 * wave of two blocks an SM for those blocks. exact: the segment count itself and at most one split
 * per 64-slot tile of the longest row's context (prefill, never captured; the rows' prefix and
 * local in hm); else the next power of two (at most the bound bt_mma_blocks), so that a graph
 * captured for it serves every grouping in its class (the verify, captured or not: the same
 * splits, so the same bits); returns the class (graph key, < BT_ATT_CLASSES). Other modes:
 * the bound and bt_mma_splits, class 0. A grid sized by the bound alone (36 blocks for a 60-row
 * tree when max_seqs is 32) left one split over the whole context where 8 fit (the FR-Spec 32k
 * iteration at batch 1 11.48 ms against 10.18 with this grid, H100 2026-12-08; removed since). */
static int bt_att_grid(const struct cuda_batch *bt, int n, int mma, int exact, int *blocks, int *splits)
{
    const int bm = bt_mma_bm(mma), bound = bt_mma_blocks(bt, n, bm);
    *blocks = bound;
    *splits = bt_mma_splits(bt, n, bm);
    if (mma != 1)
        return 0;
    const int ns = bt->hm.nseg[0] > 0 ? bt->hm.nseg[0] : 1;
    int c = 0, b;
    while (c < BT_ATT_CLASSES - 2 && (1 << c) < ns)
        c++;
    if ((1 << c) < ns) { /* the last class (never at realistic sizes): the bound, the same for all */
        c = BT_ATT_CLASSES - 1;
        b = bound;
    } else {
        b = (1 << c) < bound ? 1 << c : bound;
    }
    if (exact)
        b = ns;
    *blocks = b;
    *splits = cuda_attn_mma_splits_blocks(b, bt->m.KV, bt->m.n_sm);
    if (exact) /* no more splits than 64-slot tiles of the longest row's context (prefill at a short prefix) */
        *splits = bt_splits_cap(*splits, bt_rows_cols(&bt->hm, n));
    return c;
}

static size_t bt_graph_count(const struct cuda_batch *bt)
{
    return 2 * ((size_t)bt->Rv + 1) * BT_ATT_CLASSES;
}

void cuda_batch_free(struct cuda_batch *bt)
{
    if (!bt)
        return;
    if (bt->m.st)
        cudaStreamSynchronize(bt->m.st);
    cudaFree(bt->pmem);
    cudaFree(bt->amem);
    if (bt->h_meta)
        cudaFreeHost(bt->h_meta);
    if (bt->h_out)
        cudaFreeHost(bt->h_out);
    if (bt->h_sparams)
        cudaFreeHost(bt->h_sparams);
    if (bt->h_topk)
        cudaFreeHost(bt->h_topk);
    if (bt->h_tseq)
        cudaFreeHost(bt->h_tseq);
    if (bt->slot_tb)
        for (int i = 0; i < bt->max_seqs; i++)
            tree_build_free(&bt->slot_tb[i]);
    free(bt->slot_tb);
    free(bt->slot_tree);
    free(bt->slot_vmask);
    free(bt->slot_state);
    free(bt->rowbase);
    free(bt->rowbase_prev);
    free(bt->h_logp);
    free(bt->h_tok);
    free(bt->h_fmask);
    free(bt->h_rsamp);
    if (bt->ev_meta)
        cudaEventDestroy(bt->ev_meta);
    if (bt->ev)
        cudaEventDestroy(bt->ev);
    if (bt->graphs)
        for (size_t i = 0; i < bt_graph_count(bt); i++)
            if (bt->graphs[i].exec)
                cudaGraphExecDestroy(bt->graphs[i].exec);
    free(bt->graphs);
    free(bt->h_draw);
    free(bt->h_chosen);
    free(bt->prefill_row);
    free(bt->h_row);
    free(bt->layers);
    free(bt);
}

enum frs_status cuda_batch_create(struct cuda_batch **out, const struct cuda_batch_model *m,
                                  const struct frs_limits *lim, int *kv_blocks)
{
    *out = NULL;
    *kv_blocks = 0;
    if (lim->max_seqs <= 0)
        return FRS_OK;
    const int B = lim->kv_block > 0 ? lim->kv_block : FRS_KV_BLOCK_DEFAULT;
    if (lim->kv_block < 0 || lim->max_step_rows < 0 || lim->kv_blocks < 0 || lim->kv_share < 0.0f ||
        lim->kv_share > 1.0f)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch: limits kv_block %d, max_step_rows %d, kv_blocks %d, kv_share "
                       "%g out of range", lim->kv_block, lim->max_step_rows, lim->kv_blocks, (double)lim->kv_share);
    if (lim->kv_blocks == 0 && lim->kv_share <= 0.0f)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch: limits kv_blocks and kv_share are both 0 (no pool)");
    struct cuda_batch *bt = calloc(1, sizeof *bt);
    if (!bt)
        return FRS_ERR(FRS_ERR_OOM, "cuda batch: out of host memory");
    enum frs_status st = FRS_OK;
    bt->m = *m;
    bt->layers = malloc((size_t)m->L * sizeof *bt->layers);
    if (!bt->layers) {
        st = FRS_ERR(FRS_ERR_OOM, "cuda batch: out of host memory");
        goto fail;
    }
    memcpy(bt->layers, m->layers, (size_t)m->L * sizeof *bt->layers);
    bt->m.layers = bt->layers;
    bt->max_seqs = lim->max_seqs;
    bt->B = B;
    bt->max_ctx = lim->max_ctx;
    bt->prefill_chunk = lim->prefill_chunk;
    bt->TW = (lim->max_ctx + B - 1) / B;
    const int tree = lim->max_tree > 1 ? lim->max_tree : 1;
    bt->Rv = lim->max_step_rows > 0 ? lim->max_step_rows : lim->max_seqs * tree;
    if (bt->Rv < lim->max_seqs)
        bt->Rv = lim->max_seqs;
    bt->Rb = bt->Rv > frs_batch_prefill_rows(lim) ? bt->Rv : frs_batch_prefill_rows(lim);
    bt->prefill_rows = frs_batch_prefill_rows(lim); /* <= Rb */
    bt->kvw = (size_t)m->KV * m->D;
    if (m->draft) {
        /* frontier rows of one depth: max_topk per sequence; catch-up chunks as long as prefill's */
        bt->max_topk = lim->max_topk > 0 && lim->max_topk < FRS_MAX_TREE_TOPK ? lim->max_topk : FRS_MAX_TREE_TOPK;
        if (bt->max_topk > tree)
            bt->max_topk = tree;
        if (bt->max_topk > m->K)
            bt->max_topk = m->K;
        bt->Rf = lim->max_seqs * bt->max_topk;
        bt->Rd = bt->Rf > lim->prefill_chunk ? bt->Rf : lim->prefill_chunk;
        if (bt->Rd < lim->max_seqs)
            bt->Rd = lim->max_seqs;
        if (bt->Rb < bt->Rd)
            bt->Rb = bt->Rd;
        if (m->dD % 8 || m->dKV < 1 || m->dH % m->dKV || !m->fc || !m->dlm_head || !m->dlayer.wqkv) {
            st = FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda batch: the draft (heads %d / kv heads %d / head_dim %d) cannot "
                         "run batched (head_dim %% 8, GQA groups and bf16 weights required)", m->dH, m->dKV, m->dD);
            goto fail;
        }
    }

    /* step buffers */
    const size_t C = (size_t)m->C, H = (size_t)m->H, KV = (size_t)m->KV, D = (size_t)m->D, F = (size_t)m->F,
                 Vl = (size_t)m->Vl, Rb = (size_t)bt->Rb;
    size_t scr = 0;
    bt->G = m->H / m->KV;
    bt->ws_per_sm = 3;
    if (m->att_mma && m->att_decode == 2) {
        bt->ws_per_sm = cuda_attn_ws_pipe_per_sm(m->D, m->att_mma);
        if (bt->ws_per_sm < 1) { /* cannot run here: the warp split without the ring */
            bt->m.att_decode = 1;
            bt->ws_per_sm = 3;
        }
    }
    bt->segcap = bt_mma_blocks(bt, bt->Rb, m->att_decode ? CUDA_ATT_MMA_BM_WS : CUDA_ATT_MMA_BM);
    if (m->draft) {
        bt->dG = m->dH / m->dKV;
        bt->dmma = m->att_mma && cuda_attn_mma_head_dim_ok(m->dD);
        bt->dseg_level = bt->max_seqs * ((bt->max_topk * bt->dG + CUDA_ATT_MMA_BM - 1) / CUDA_ATT_MMA_BM);
        /* the catch-up's rows (any grouping of Rd rows into up to max_seqs + 1 pieces), every level of a
         * device-built draft */
        const int catchup = (bt->Rd * bt->dG + CUDA_ATT_MMA_BM - 1) / CUDA_ATT_MMA_BM + bt->max_seqs + 1;
        const int levels = FRS_MAX_TREE_DEPTH * bt->dseg_level;
        bt->segcap = catchup > bt->segcap ? catchup : bt->segcap;
        bt->segcap = levels > bt->segcap ? levels : bt->segcap;
    }
    for (int n = 1; n <= bt->Rb; n++) {
        const size_t s = cuda_paged_attention_scratch_floats(n, m->H, m->KV, m->D, m->n_sm);
        scr = s > scr ? s : scr;
        if (m->att_mma) {
            /* bt_att_grid's splits at its fewest blocks: the fewest segments n rows can form */
            const int fewest = (int)(((long)n * bt->G + CUDA_ATT_MMA_BM - 1) / CUDA_ATT_MMA_BM);
            const int splits = cuda_attn_mma_splits_blocks(fewest, m->KV, m->n_sm);
            const size_t sm = (size_t)n * m->H * splits * (m->D + 2);
            const size_t sw = (size_t)n * m->H * bt_mma_splits(bt, n, CUDA_ATT_MMA_BM_WS) * (m->D + 2);
            scr = sm > scr ? sm : scr;
            scr = m->att_decode && sw > scr ? sw : scr;
        }
        if (m->draft && n <= bt->Rd) {
            const size_t sd = cuda_paged_attention_scratch_floats(n, m->dH, m->dKV, m->dD, m->n_sm);
            scr = sd > scr ? sd : scr;
            if (bt->dmma) { /* bt_draft_grid's splits at the fewest segments n rows can form */
                const int fewest = (int)(((long)n * bt->dG + CUDA_ATT_MMA_BM - 1) / CUDA_ATT_MMA_BM);
                const size_t sm = (size_t)n * m->dH * cuda_attn_mma_splits_blocks(fewest, m->dKV, m->n_sm) * (m->dD + 2);
                scr = sm > scr ? sm : scr;
            }
        }
    }
    const size_t Rd = m->draft ? (size_t)bt->Rd : 0, Rf = m->draft ? (size_t)bt->Rf : 0,
                 dqkvw = (size_t)(m->dH + 2 * m->dKV) * m->dD, dqw = (size_t)m->dH * m->dD, dF = (size_t)m->dF,
                 TK = (size_t)bt->max_topk;
    bt->meta_ints = bt_meta_ints(bt->Rb, bt->max_seqs, bt->TW, bt->segcap);
    const int tree_dev = m->draft && m->draft_dev;
    bt->tstride = tree_dev ? bt_align(cuda_tree_dev_bytes(bt->max_topk, FRS_MAX_TREE_DEPTH)) : 0;
    struct {
        void **p;
        size_t bytes;
    } plan[] = {
        {(void **)&bt->x, Rb * C * 4},
        {(void **)&bt->xn, Rb * C * 2},
        {(void **)&bt->qkv, Rb * (H + 2 * KV) * D * 4},
        {(void **)&bt->q, Rb * H * D * 4},
        {(void **)&bt->att, Rb * H * D * 2},
        {(void **)&bt->gu, Rb * 2 * F * 4},
        {(void **)&bt->act, Rb * F * 2},
        {(void **)&bt->hid, Rb * C * 2},
        {(void **)&bt->logits, (size_t)bt->Rv * Vl * 4},
        {(void **)&bt->scratch, scr * 4},
        {(void **)&bt->keys, Rb * 8},
        {(void **)&bt->d_out, Rb * 2 * 4},
        {(void **)&bt->sparams, Rb * sizeof(struct cuda_sample_params)},
        {(void **)&bt->srows, Rb * sizeof(struct cuda_sample_row)},
        {(void **)&bt->sscratch, cuda_sample_scratch_bytes(1, m->Vl)},
        {(void **)&bt->d_meta, bt->meta_ints * 4},
        {(void **)&bt->din, Rd * 2 * C * 2},
        {(void **)&bt->dx, Rd * C * 4},
        {(void **)&bt->dxn, Rd * C * 2},
        {(void **)&bt->dqkv, Rd * dqkvw * 4},
        {(void **)&bt->dq, Rd * dqw * 4},
        {(void **)&bt->datt, Rd * dqw * 2},
        {(void **)&bt->dgu, Rd * 2 * dF * 4},
        {(void **)&bt->dact, Rd * dF * 2},
        {(void **)&bt->droot, m->draft ? (size_t)lim->max_seqs * C * 2 : 0},
        {(void **)&bt->dlog, Rf * (size_t)(m->draft ? m->K : 0) * 4},
        {(void **)&bt->d_topk, Rf * TK * 2 * 4},
        {(void **)&bt->tmem, tree_dev ? (size_t)lim->max_seqs * bt->tstride : 0},
        {(void **)&bt->d_tseq, tree_dev ? (size_t)lim->max_seqs * sizeof(struct cuda_tree_seq) : 0},
        {(void **)&bt->d_trees, tree_dev ? (size_t)lim->max_seqs * sizeof(struct frs_tree) : 0},
    };
    const int np = (int)(sizeof plan / sizeof plan[0]);
    size_t tot = 0;
    for (int i = 0; i < np; i++)
        tot += bt_align(plan[i].bytes);
    cudaError_t e = cudaMalloc(&bt->amem, tot);
    if (e != cudaSuccess) {
        st = FRS_ERR(FRS_ERR_OOM, "cuda batch: cannot allocate %.1f MiB for the batched step buffers (%d rows): %s",
                     (double)tot / (1 << 20), bt->Rb, cudaGetErrorString(e));
        goto fail;
    }
    bt->abytes = tot;
    {
        char *c = bt->amem;
        for (int i = 0; i < np; i++) {
            *plan[i].p = plan[i].bytes ? c : NULL;
            c += bt_align(plan[i].bytes);
        }
    }

    /* the pool */
    const size_t row_bytes = (size_t)m->L * 2 * bt->kvw * 2 + (m->draft ? (size_t)2 * m->dkv * 2 + C * 2 : 0);
    const size_t block_bytes = row_bytes * (size_t)B;
    long nb = lim->kv_blocks;
    if (nb == 0) {
        size_t fr = 0, total = 0;
        e = cudaMemGetInfo(&fr, &total);
        if (e != cudaSuccess) {
            st = FRS_ERR(FRS_ERR_CUDA, "cuda batch: cudaMemGetInfo: %s", cudaGetErrorString(e));
            goto fail;
        }
        const size_t reserve = (size_t)256 << 20; /* cuBLAS workspaces, NCCL buffers, graphs */
        const double avail = fr > reserve ? (double)(fr - reserve) : 0.0;
        nb = (long)(avail * lim->kv_share / (double)block_bytes);
        if (nb < 1) {
            st = FRS_ERR(FRS_ERR_OOM, "cuda batch: kv_share %.2f of %.1f MiB free leaves no KV block of %.2f MiB",
                         (double)lim->kv_share, (double)fr / (1 << 20), (double)block_bytes / (1 << 20));
            goto fail;
        }
        if (nb > (1L << 30) / (long)B)
            nb = (1L << 30) / (long)B; /* physical rows stay int32 */
    }
    bt->nblocks = (int)nb;
    bt->layer_rows = (size_t)nb * B;
    {
        const size_t kv_bytes = (size_t)m->L * bt->layer_rows * bt->kvw * 2;
        const size_t d_bytes = m->draft ? bt->layer_rows * (size_t)m->dkv * 2 : 0;
        const size_t f_bytes = m->draft ? bt->layer_rows * C * 2 : 0;
        const size_t offs[5] = {0, bt_align(kv_bytes), 2 * bt_align(kv_bytes),
                                2 * bt_align(kv_bytes) + bt_align(d_bytes), 2 * bt_align(kv_bytes) + 2 * bt_align(d_bytes)};
        bt->pbytes = offs[4] + bt_align(f_bytes);
        e = cudaMalloc(&bt->pmem, bt->pbytes);
        if (e != cudaSuccess) {
            st = FRS_ERR(FRS_ERR_OOM, "cuda batch: cannot allocate the KV pool of %d blocks x %d positions (%.1f MiB): %s",
                         bt->nblocks, B, (double)bt->pbytes / (1 << 20), cudaGetErrorString(e));
            goto fail;
        }
        char *c = bt->pmem;
        bt->kpool = (uint16_t *)(c + offs[0]);
        bt->vpool = (uint16_t *)(c + offs[1]);
        bt->dkpool = m->draft ? (uint16_t *)(c + offs[2]) : NULL;
        bt->dvpool = m->draft ? (uint16_t *)(c + offs[3]) : NULL;
        bt->fpool = m->draft ? (uint16_t *)(c + offs[4]) : NULL;
    }
    fprintf(stderr, "%scuda backend: allocating %.1f MiB for the paged KV pool (%d blocks x %d positions, %.1f KiB a "
            "position) and %.1f MiB for the batched step buffers (%d sequences, %d rows)\n", frs_error_origin(),
            (double)bt->pbytes / (1 << 20), bt->nblocks, B, (double)row_bytes / 1024, (double)bt->abytes / (1 << 20),
            bt->max_seqs, bt->Rb);
    e = cudaMemsetAsync(bt->amem, 0, bt->abytes, m->st);
    if (e == cudaSuccess)
        e = cudaMallocHost((void **)&bt->h_meta, bt->meta_ints * 4);
    if (e == cudaSuccess)
        e = cudaMallocHost((void **)&bt->h_out, (size_t)bt->Rb * 2 * 4);
    if (e == cudaSuccess)
        e = cudaMallocHost((void **)&bt->h_sparams, (size_t)bt->Rb * sizeof(struct cuda_sample_params));
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&bt->ev_meta, cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&bt->ev, cudaEventDisableTiming);
    if (e != cudaSuccess) {
        st = FRS_ERR(FRS_ERR_CUDA, "cuda batch: host buffers / events: %s", cudaGetErrorString(e));
        goto fail;
    }
    memset(bt->h_meta, 0, bt->meta_ints * 4);
    bt->h_row = malloc(Vl * sizeof(float));
    bt->h_draw = malloc(Rb * sizeof *bt->h_draw);
    bt->h_chosen = malloc(Rb * sizeof *bt->h_chosen);
    bt->prefill_row = malloc((size_t)bt->max_seqs * sizeof *bt->prefill_row);
    bt->graphs = calloc(bt_graph_count(bt), sizeof *bt->graphs);
    bt->h_rsamp = malloc(Rb * sizeof *bt->h_rsamp);
    if (!bt->h_row || !bt->h_draw || !bt->h_chosen || !bt->graphs || !bt->h_rsamp || !bt->prefill_row) {
        st = FRS_ERR(FRS_ERR_OOM, "cuda batch: out of host memory");
        goto fail;
    }
    if (m->draft) {
        const size_t S = (size_t)bt->max_seqs;
        e = cudaMallocHost((void **)&bt->h_topk, Rf * TK * 2 * 4);
        if (e == cudaSuccess && tree_dev) {
            e = cudaMallocHost((void **)&bt->h_tseq, S * (sizeof(struct cuda_tree_seq) + sizeof(struct frs_tree)));
            if (e == cudaSuccess)
                bt->h_trees = (struct frs_tree *)(bt->h_tseq + S);
        }
        if (e != cudaSuccess) {
            st = FRS_ERR(FRS_ERR_CUDA, "cuda batch: pinned top-k buffer: %s", cudaGetErrorString(e));
            goto fail;
        }
        bt->h_logp = malloc(TK * TK * sizeof(float));
        bt->h_tok = malloc(TK * TK * sizeof(int32_t));
        bt->h_fmask = malloc(TK * FRS_MASK_WORDS(TK * FRS_MAX_TREE_DEPTH) * sizeof(uint64_t));
        bt->slot_tb = calloc(S, sizeof *bt->slot_tb);
        bt->slot_tree = calloc(S, sizeof *bt->slot_tree);
        bt->slot_vmask = calloc(S * FRS_MAX_TREE * CUDA_PAGED_MASK_WORDS, sizeof(uint64_t));
        bt->slot_state = calloc(S, sizeof(int));
        bt->rowbase = calloc(S, sizeof(int));
        bt->rowbase_prev = calloc(S, sizeof(int));
        if (!bt->h_logp || !bt->h_tok || !bt->h_fmask || !bt->slot_tb || !bt->slot_tree || !bt->slot_vmask ||
            !bt->slot_state || !bt->rowbase || !bt->rowbase_prev) {
            st = FRS_ERR(FRS_ERR_OOM, "cuda batch: out of host memory");
            goto fail;
        }
        for (size_t i = 0; i < S; i++) {
            st = tree_build_init(&bt->slot_tb[i], bt->max_topk, FRS_MAX_TREE_DEPTH);
            if (st != FRS_OK)
                goto fail;
        }
    }
    bt_meta_carve(&bt->hm, bt->h_meta, bt->Rb, bt->max_seqs, bt->TW, bt->segcap);
    bt_meta_carve(&bt->dm, bt->d_meta, bt->Rb, bt->max_seqs, bt->TW, bt->segcap);
    *out = bt;
    *kv_blocks = bt->nblocks;
    return FRS_OK;
fail:
    cuda_batch_free(bt);
    return st;
}

/* ---- per-op metadata -------------------------------------------------------------------------------- */

/* Every host wait of the batched step path (issue 12 item 11): with device collectives on, it
 * polls NCCL's asynchronous error with a time limit and aborts the communicator on an error or
 * time-out (nccl_wait_event / nccl_sync_stream), so a dead or stuck peer cannot hang this rank;
 * on one GPU without NCCL, a plain wait. */
static enum frs_status bt_wait_event(struct cuda_batch *bt, cudaEvent_t ev)
{
    if (!bt->m.nccl) {
        FRS_CUDA_CHECK(cudaEventSynchronize(ev));
        return FRS_OK;
    }
    return nccl_wait_event(bt->m.comm, ev, 0);
}

static enum frs_status bt_wait_stream(struct cuda_batch *bt, cudaStream_t st)
{
    if (!bt->m.nccl) {
        FRS_CUDA_CHECK(cudaStreamSynchronize(st));
        return FRS_OK;
    }
    return nccl_sync_stream(bt->m.comm, st, 0);
}

/* the pinned metadata block may be written: its last upload has been read */
static enum frs_status bt_meta_begin(struct cuda_batch *bt)
{
    return bt_wait_event(bt, bt->ev_meta);
}

/* the masks of the first n_masked rows, the row sections (8 x Rb ints, whole) with the first
 * n_tables tables in one copy, and the first n_moves moves */
static enum frs_status bt_meta_upload_masked(struct cuda_batch *bt, int n_masked, int n_tables, int n_moves)
{
    cudaStream_t st = bt->m.st;
    if (n_masked > 0)
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.mask, bt->hm.mask, (size_t)n_masked * BT_MASK_INTS * 4,
                                       cudaMemcpyHostToDevice, st));
    const size_t row_ints = (size_t)BT_ROW_SECTIONS * bt->Rb + (size_t)bt->segcap * 4 + BT_NSEG_INTS + (size_t)n_tables * bt->TW;
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.tok, bt->hm.tok, row_ints * 4, cudaMemcpyHostToDevice, st));
    if (n_moves > 0) {
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.mv_src, bt->hm.mv_src, (size_t)n_moves * 4, cudaMemcpyHostToDevice, st));
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.mv_dst, bt->hm.mv_dst, (size_t)n_moves * 4, cudaMemcpyHostToDevice, st));
    }
    FRS_CUDA_CHECK(cudaEventRecord(bt->ev_meta, st));
    return FRS_OK;
}

static enum frs_status bt_meta_upload(struct cuda_batch *bt, int n_tables, int n_moves)
{
    return bt_meta_upload_masked(bt, 0, n_tables, n_moves);
}

/* sequence i's block table into table i; positions [0, need) must be covered */
static enum frs_status bt_table(struct cuda_batch *bt, int i, const struct frs_seq *s, int need, const char *what)
{
    if (s->slot < 0 || s->slot >= bt->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch %s: sequence %d has slot %d outside [0, %d)", what, i, s->slot,
                       bt->max_seqs);
    if (s->target_len < 0 || s->draft_len < 0 || s->draft_len > s->target_len || s->n_blocks < 0 ||
        (s->n_blocks > 0 && !s->blocks))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch %s: sequence %d (slot %d): target_len %d, draft_len %d, "
                       "%d blocks", what, i, s->slot, s->target_len, s->draft_len, s->n_blocks);
    const int nb = s->n_blocks < bt->TW ? s->n_blocks : bt->TW;
    if ((long)need > (long)nb * bt->B)
        return FRS_ERR(FRS_ERR_TOO_LONG, "cuda batch %s: sequence %d (slot %d) needs positions up to %d, its %d "
                       "blocks of %d cover %d (max_ctx %d)", what, i, s->slot, need, s->n_blocks, bt->B,
                       nb * bt->B, bt->max_ctx);
    const int used = (need + bt->B - 1) / bt->B;
    int32_t *t = bt->hm.tables + (size_t)i * bt->TW;
    for (int j = 0; j < used; j++) {
        if (s->blocks[j] < 0 || s->blocks[j] >= bt->nblocks)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch %s: sequence %d (slot %d) block %d = %d outside the pool "
                           "[0, %d)", what, i, s->slot, j, (int)s->blocks[j], bt->nblocks);
        t[j] = s->blocks[j];
    }
    return FRS_OK;
}

static int32_t bt_phys(const struct cuda_batch *bt, const struct frs_seq *s, int p)
{
    return s->blocks[p / bt->B] * bt->B + p % bt->B;
}

/* ---- the batched target forward ----------------------------------------------------------------------- */

/* the tensor-core attention's segments of rows [0, n) in hm: each run of rows of one sequence
 * (hm.seq) is one group, bm q vectors (rows x G heads) a segment */
static int bt_segments_g(struct bt_meta *h, int n, int bm, int G)
{
    int ns = 0;
    for (int r0 = 0; r0 < n;) {
        int r1 = r0 + 1;
        while (r1 < n && h->seq[r1] == h->seq[r0])
            r1++;
        for (int m0 = 0; m0 < (r1 - r0) * G; m0 += bm, ns++) {
            h->seg[4 * ns] = r0;
            h->seg[4 * ns + 1] = r1 - r0;
            h->seg[4 * ns + 2] = m0;
            h->seg[4 * ns + 3] = h->seq[r0];
        }
        r0 = r1;
    }
    h->nseg[0] = ns;
    return ns;
}

static void bt_segments(struct cuda_batch *bt, int n, int bm) { (void)bt_segments_g(&bt->hm, n, bm, bt->G); }

/* The draft's tensor-core attention grid for ns segments (bt->dmma; else 0 blocks: the CUDA-core
 * kernel) whose longest row sees max_cols positions: ns blocks a kv head, as many context splits as
 * fill one wave, at most one per 64-slot tile. */
static void bt_draft_grid(const struct cuda_batch *bt, int ns, int max_cols, int *blocks, int *splits)
{
    *blocks = bt->dmma && ns > 0 ? ns : 0;
    *splits = *blocks ? bt_splits_cap(cuda_attn_mma_splits_blocks(ns, bt->m.dKV, bt->m.n_sm), max_cols) : 1;
}

/* the bound on the columns a draft row of depth `level` sees, over the sequences still growing: both
 * tree builders size their grid from it (the same splits, so the same bits) */
static int bt_draft_level_cols(const struct frs_seq *seqs, const struct frs_tree_params *p, int n, int level)
{
    int cols = 1;
    for (int i = 0; i < n; i++)
        if (p[i].depth > level && seqs[i].target_len + level * p[i].topk > cols)
            cols = seqs[i].target_len + level * p[i].topk;
    return cols;
}

/* the draft's attention segments of depth `level` (>= 1) of a device-built draft into hm.seg + 4 level
 * dseg_level and hm.nseg[level]: the k rows of each sequence still growing, in sequence order
 * (bt_draft_device's rows), table i; the grid (bt_draft_grid) from bt_draft_level_cols; returns the
 * segment count */
static int bt_draft_level_segs(struct cuda_batch *bt, int level, int n, const struct frs_seq *seqs,
                               const struct frs_tree_params *p, int *blocks, int *splits)
{
    int32_t *seg = bt->hm.seg + (size_t)4 * level * bt->dseg_level;
    int ns = 0, r0 = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].depth <= level)
            continue;
        const int k = p[i].topk;
        for (int m0 = 0; m0 < k * bt->dG; m0 += CUDA_ATT_MMA_BM, ns++) {
            seg[4 * ns] = r0;
            seg[4 * ns + 1] = k;
            seg[4 * ns + 2] = m0;
            seg[4 * ns + 3] = i;
        }
        r0 += k;
    }
    bt->hm.nseg[level] = ns;
    bt_draft_grid(bt, ns, bt_draft_level_cols(seqs, p, n, level), blocks, splits);
    return ns;
}

/* y = beta y + x W^T for a bf16 or FP8 weight (cuda_matmul_w8, the single-sequence path's dispatch) */
static enum frs_status bt_mm(struct cuda_batch *bt, const uint16_t *x, int ldx, int n, const uint16_t *w,
                             const struct cuda_batch_fp8 *w8, int rows, int cols, float *y, int ldy, float beta)
{
    return cuda_matmul_w8(bt->m.blas, x, ldx, n, w, w8->w, w8->s, rows, cols, y, ldy, beta, bt->m.deq);
}

/* n rows whose metadata is on the device: K/V of every layer written at the rows' physical rows,
 * the features too (with a draft), hid = the post-final-norm hidden of every row; the LM head on
 * rows [lm_from, lm_from + lm_n) into logits. Attention: mma 0 = the CUDA-core paged kernel, 1 =
 * the tensor-core one over bt_segments of CUDA_ATT_MMA_BM vectors, 2 = its warp split over segments
 * of CUDA_ATT_MMA_BM_WS. The dense ops (norms, GEMMs, SwiGLU, all-reduces) run over ng >= n rows:
 * rows [n, ng) hold whatever the buffers held, stay in their own rows (every dense op is
 * row-independent) and are never read, so that a varying n meets a few GEMM shapes (bt_prefill). */
static enum frs_status bt_forward_rows(struct cuda_batch *bt, int n, int ng, const uint64_t *mask, int lm_from,
                                       int lm_n, float *logits, int mma, int att_blocks, int att_splits)
{
    const struct cuda_batch_model *m = &bt->m;
    const int C = m->C, H = m->H, KV = m->KV, D = m->D, F = m->F;
    const int qkvw = (H + 2 * KV) * D;
    cudaStream_t st = m->st;
    const float beta = (!m->nccl || m->comm->rank == 0) ? 1.0f : 0.0f;
    const struct cuda_paged_rows rows = {bt->dm.seq, bt->dm.prefix, bt->dm.local, bt->dm.ncols, bt->dm.tables, bt->TW,
                                         bt->B, mask};
    const size_t lstride = bt->layer_rows * bt->kvw;
    const struct cuda_attn_mma_pages pg = {bt->dm.seg, bt->dm.nseg, bt->dm.prefix, bt->dm.ncols, mask,
                                           CUDA_PAGED_MASK_WORDS, bt->dm.tables, bt->TW, bt->B,
                                           mma == 2 && m->att_decode == 2};
    FRS_TRY(cuda_embed(m->embed, C, bt->dm.tok, n, bt->x, NULL, 0, st));
    for (int l = 0; l < m->L; l++) {
        const struct cuda_batch_layer *ly = &bt->layers[l];
        uint16_t *kp = bt->kpool + (size_t)l * lstride, *vp = bt->vpool + (size_t)l * lstride;
        FRS_TRY(cuda_rmsnorm(bt->x, NULL, ng, C, ly->attn_norm, m->eps, NULL, bt->xn, C, st));
        FRS_TRY(bt_mm(bt, bt->xn, C, ng, ly->wqkv, &ly->qkv8, qkvw, C, bt->qkv, qkvw, 0.0f));
        FRS_TRY(cuda_paged_rope_write(bt->qkv, qkvw, n, H, KV, D, bt->dm.pos, m->inv_freq, bt->q, kp, vp, bt->dm.phys,
                                      st));
        if (mma)
            FRS_TRY(cuda_attn_mma_paged(bt->q, kp, vp, &pg, att_blocks, bt_mma_bm(mma), n, H, KV, D,
                                        mma == 1 ? m->att_tree_terms : m->att_mma,
                                        att_splits, bt->att, bt->scratch, st));
        else
            FRS_TRY(cuda_paged_attention(bt->q, kp, vp, &rows, n, H, KV, D, bt->att, bt->scratch, m->n_sm, st));
        FRS_TRY(bt_mm(bt, bt->att, H * D, ng, ly->wo, &ly->o8, C, H * D, bt->x, C, beta));
        if (m->nccl)
            FRS_TRY(nccl_allreduce_sum(m->comm, bt->x, (size_t)ng * C, FRS_DTYPE_F32, st));
        FRS_TRY(cuda_rmsnorm(bt->x, NULL, ng, C, ly->mlp_norm, m->eps, NULL, bt->xn, C, st));
        FRS_TRY(cuda_gate_up_swiglu(m->blas, bt->xn, ng, ly->wgu, ly->gu8.w, ly->gu8.s, F, C, bt->gu, bt->act,
                                    m->deq));
        FRS_TRY(bt_mm(bt, bt->act, F, ng, ly->wdown, &ly->down8, C, F, bt->x, C, beta));
        if (m->nccl)
            FRS_TRY(nccl_allreduce_sum(m->comm, bt->x, (size_t)ng * C, FRS_DTYPE_F32, st));
    }
    FRS_TRY(cuda_rmsnorm(bt->x, NULL, n, C, m->final_norm, m->eps, NULL, bt->hid, C, st));
    if (bt->fpool)
        FRS_TRY(cuda_paged_store_rows(bt->fpool, C, bt->dm.phys, bt->hid, C, C, n, st));
    if (lm_n > 0)
        FRS_TRY(bt_mm(bt, bt->hid + (size_t)lm_from * C, C, lm_n, m->lm_head, &m->lm8, m->Vl, C, logits, m->Vl, 0.0f));
    return FRS_OK;
}

static enum frs_status bt_forward(struct cuda_batch *bt, int n, const uint64_t *mask, int lm_from, int lm_n,
                                  float *logits, int mma, int att_blocks, int att_splits)
{
    return bt_forward_rows(bt, n, n, mask, lm_from, lm_n, logits, mma, att_blocks, att_splits);
}

/* ---- token choice -------------------------------------------------------------------------------------- */

static int bt_device_sampling(const struct cuda_batch *bt, const struct frs_sampling *s)
{
    return bt->m.dev_sampling && s->temperature > 0.0f && s->top_k >= 0 && s->top_p >= 0.0f;
}

/* the greedy choice of rows logits[r * Vl] (r < n) into d_out[0..n): argmax keys (ties to the lowest
 * id), one NCCL max at TP > 1; graph-capturable */
static enum frs_status bt_argmax_ids(struct cuda_batch *bt, const float *logits, int n)
{
    const struct cuda_batch_model *m = &bt->m;
    FRS_TRY(cuda_argmax_keys(logits, n, m->Vl, m->Vl, m->voff, bt->keys, m->st));
    if (m->nccl)
        FRS_TRY(nccl_argmax_keys(m->comm, bt->keys, (size_t)n, m->st));
    return cuda_keys_to_ids(bt->keys, n, bt->d_out, m->st);
}

/* rows logits[r * Vl] (r < n) under s[r] with draw index draw[r], their greedy choice already in
 * d_out (bt_argmax_ids): out[r] = the chosen token. The sampled rows are drawn on the device, one
 * launch pair per row with its sequence's parameters; one read-back for all rows; the rows the
 * device leaves undecided (and every sampled row where the device does not sample) are redone on
 * the host from their logits row. */
static enum frs_status bt_choose_rest(struct cuda_batch *bt, const float *logits, int n, const struct frs_sampling *s,
                                      int s_stride, const int64_t *draw, int32_t *out)
{
    const struct cuda_batch_model *m = &bt->m;
    cudaStream_t st = m->st;
    const size_t Vl = (size_t)m->Vl;
    int32_t *d_tok = bt->d_out, *d_flags = bt->d_out + n; /* adjacent: one read-back */
    FRS_CUDA_CHECK(cudaMemsetAsync(d_flags, 0, (size_t)n * 4, st));
    int any_dev = 0;
    for (int r = 0; r < n; r++) {
        const struct frs_sampling *sr = (const struct frs_sampling *)((const char *)s + (size_t)r * s_stride);
        if (bt_device_sampling(bt, sr)) {
            bt->h_sparams[r] = (struct cuda_sample_params){sr->temperature, sr->top_p, sr->top_k, 0, sr->seed,
                                                           (uint64_t)draw[r]};
            any_dev = 1;
        }
    }
    if (any_dev) {
        /* the parameters of every row in one copy (rows not sampled on the device carry stale ones, unread) */
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->sparams, bt->h_sparams, (size_t)n * sizeof *bt->sparams, cudaMemcpyHostToDevice, st));
        for (int r = 0; r < n; r++) {
            const struct frs_sampling *sr = (const struct frs_sampling *)((const char *)s + (size_t)r * s_stride);
            if (!bt_device_sampling(bt, sr))
                continue;
            const float *row = logits + (size_t)r * Vl;
            uint32_t *fl = (uint32_t *)d_flags + r;
            FRS_TRY(cuda_sample_prepare(row, 1, m->Vl, m->Vl, bt->sparams + r, bt->srows + r, fl, st));
            FRS_TRY(cuda_sample_draw(row, 1, m->Vl, m->Vl, m->voff, bt->sparams + r, bt->srows + r, NULL, bt->sscratch,
                                     d_tok + r, fl, st));
        }
    }
    /* the one read-back: tokens and flags */
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->h_out, d_tok, (size_t)n * 8, cudaMemcpyDeviceToHost, st));
    FRS_TRY(bt_wait_stream(bt, st));
    for (int r = 0; r < n; r++) {
        const struct frs_sampling *sr = (const struct frs_sampling *)((const char *)s + (size_t)r * s_stride);
        out[r] = bt->h_out[r];
        if (sr->temperature <= 0.0f)
            continue;
        if (bt_device_sampling(bt, sr) && bt->h_out[n + r] == 0) {
            bt->samp_dev++;
            continue;
        }
        /* the host: runtime/sampling.c on this rank's row (with the communicator at TP > 1) */
        bt->samp_host++;
        FRS_CUDA_CHECK(cudaMemcpy(bt->h_row, logits + (size_t)r * Vl, Vl * sizeof(float), cudaMemcpyDeviceToHost));
        const struct sampling_shard sh = {bt->h_row, 1, m->Vl, m->voff};
        struct sampling_row srow;
        FRS_TRY(sampling_prepare(m->comm, &sh, sr, &srow));
        const uint64_t d = (uint64_t)draw[r];
        FRS_TRY(sampling_draw(m->comm, &sh, sr, &srow, &d, NULL, NULL, &out[r]));
    }
    return FRS_OK;
}

/* The attention of a verify step (bt_forward's mma): masked (tree rows) 1 with att_mma, else 0;
 * one-node trees 2 with att_mma and att_decode (the warp split, over one-column masks: its pad rows
 * see only their slot, as the CUDA-core kernel's do), else 0. Modes 1 and 2 read the masks and
 * the segments (of CUDA_ATT_MMA_BM and CUDA_ATT_MMA_BM_WS vectors) that bt_verify uploads. */
static int bt_verify_att(const struct cuda_batch *bt, int masked)
{
    if (!bt->m.att_mma)
        return 0;
    return masked ? 1 : bt->m.att_decode ? 2 : 0;
}

/* The verify step of n rows whose metadata is on the device: the forward and the greedy choice.
 * A CUDA graph per n (graphs on, no NCCL): eager at the first use, captured at the second,
 * replayed afterwards; every step-varying value is in device memory at fixed addresses. */
static enum frs_status bt_verify_step(struct cuda_batch *bt, int n, int masked)
{
    const int att = bt_verify_att(bt, masked);
    FRS_TRY(bt_forward(bt, n, masked || att ? bt->dm.mask : NULL, 0, n, bt->logits, att, bt->att_blocks,
                       bt->att_splits));
    return bt_argmax_ids(bt, bt->logits, n);
}

/* The row count a verify of n rows runs at when it runs as a CUDA graph: cuda_rows_bucket (n up to
 * 16, then rounded up to a multiple of 16 / 64 / 256), at most Rv, so that a continuous batch whose
 * tree rows change every step replays a few graphs (and GEMM shapes) instead of capturing one per
 * count (issue 14 item 6). Without graphs (off, or NCCL) n itself. */
static int bt_graph_rows(const struct cuda_batch *bt, int n)
{
    if (!bt->m.graphs || bt->m.nccl)
        return n;
    const int p = cuda_rows_bucket(n);
    return p < bt->Rv ? p : bt->Rv;
}

/* rows [n, np) of hm as copies of row n - 1 (its token, position, physical row, attention
 * descriptor and mask): the padding of bt_graph_rows. They write the same K/V and feature values to
 * the same physical row as row n - 1 and their outputs are not read. */
static void bt_pad_rows(struct cuda_batch *bt, int n, int np, int masked)
{
    struct bt_meta *h = &bt->hm;
    for (int r = n; r < np; r++) {
        h->tok[r] = h->tok[n - 1];
        h->pos[r] = h->pos[n - 1];
        h->phys[r] = h->phys[n - 1];
        h->seq[r] = h->seq[n - 1];
        h->prefix[r] = h->prefix[n - 1];
        h->local[r] = h->local[n - 1];
        h->ncols[r] = h->ncols[n - 1];
        if (masked)
            memcpy(h->mask + (size_t)r * CUDA_PAGED_MASK_WORDS, h->mask + (size_t)(n - 1) * CUDA_PAGED_MASK_WORDS,
                   CUDA_PAGED_MASK_WORDS * sizeof(uint64_t));
    }
}

/* masked: the rows carry tree masks (a verify with drafted trees); cls: the attention grid's class
 * (bt_att_grid; the grid in att_blocks / att_splits) */
static enum frs_status bt_graph_run(struct cuda_batch *bt, int n, int masked, int cls)
{
    cudaStream_t st = bt->m.st;
    struct bt_graph *g = &bt->graphs[((size_t)(masked ? bt->Rv + 1 : 0) + n) * BT_ATT_CLASSES + cls];
    if (!bt->m.graphs || bt->m.nccl)
        return bt_verify_step(bt, n, masked);
    if (g->exec) {
        FRS_CUDA_CHECK(cudaGraphLaunch(g->exec, st));
        return FRS_OK;
    }
    if (g->uses == 0) {
        FRS_TRY(bt_verify_step(bt, n, masked));
        g->uses++;
        return FRS_OK;
    }
    FRS_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    FRS_TRY(cuda_graph_end_capture(st, bt_verify_step(bt, n, masked), &g->exec));
    FRS_CUDA_CHECK(cudaGraphLaunch(g->exec, st));
    g->uses++;
    return FRS_OK;
}

/* ---- the ops ------------------------------------------------------------------------------------------- */

static struct cuda_batch *bt_of(struct frs_backend *be, const char *what)
{
    struct cuda_batch *bt = cuda_backend_batch(be);
    if (!bt)
        (void)FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch %s: the backend was created without batching (limit "
                      "max_seqs = 0)", what);
    return bt;
}

static enum frs_status bt_prefill(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                  const int32_t *const *tokens, const int *counts, const int *choose,
                                  const struct frs_sampling *s, int32_t *out)
{
    struct cuda_batch *bt = bt_of(be, "prefill");
    if (!bt)
        return FRS_ERR_INVALID_ARG;
    if (n < 1 || n > bt->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch prefill: %d sequences outside [1, max_seqs = %d]", n,
                       bt->max_seqs);
    bt->last_prefill = 0; /* until this op succeeds: cuda_batch_logits has nothing to read */
    FRS_TRY(bt_meta_begin(bt));
    struct bt_meta *h = &bt->hm;
    int rows = 0, nl = 0;
    for (int i = 0; i < bt->max_seqs; i++)
        bt->prefill_row[i] = -1;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        const int T = sq->target_len, c = counts[i];
        if (c < 1 || c > bt->prefill_rows - rows)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch prefill: sequence %d (slot %d): %d tokens after %d rows, "
                           "the op takes 1..%d rows", i, sq->slot, c, rows, bt->prefill_rows);
        FRS_TRY(bt_table(bt, i, sq, T + c, "prefill"));
        for (int j = 0; j < i; j++)
            if (seqs[j].slot == sq->slot)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch prefill: slot %d twice in one op", sq->slot);
        for (int j = 0; j < c; j++) {
            if (tokens[i][j] < 0 || tokens[i][j] >= bt->m.V)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch prefill: sequence %d (slot %d): token %d at %d outside "
                               "the vocabulary [0, %d)", i, sq->slot, (int)tokens[i][j], j, bt->m.V);
            const int r = rows + j;
            h->tok[r] = tokens[i][j];
            h->pos[r] = T + j;
            h->phys[r] = bt_phys(bt, sq, T + j);
            h->seq[r] = i;
            h->prefix[r] = T;
            h->local[r] = j;
            h->ncols[r] = c;
        }
        rows += c;
        if (choose[i]) { /* its last row's LM head: the gather list, the draw and the sampling */
            h->gidx[nl] = rows - 1;
            bt->h_draw[nl] = (int64_t)T + c;
            bt->h_rsamp[nl] = s[i];
            bt->prefill_row[sq->slot] = nl++;
        }
    }
    const int mma = rows > 1 && bt->m.att_mma;
    if (mma)
        bt_segments(bt, rows, CUDA_ATT_MMA_BM);
    FRS_TRY(bt_meta_upload(bt, n, 0));
    /* the dense ops at the row count's bucket (cuda_rows_bucket): prompt chunks sum to a new count
     * nearly every op, and each new GEMM shape costs cuBLASLt's algorithm query */
    int ng = cuda_rows_bucket(rows);
    ng = ng < bt->Rb ? ng : bt->Rb;
    int ab = 0, as = 0;
    if (mma)
        (void)bt_att_grid(bt, rows, 1, 1, &ab, &as);
    FRS_TRY(bt_forward_rows(bt, rows, ng, NULL, 0, 0, NULL, mma, ab, as));
    bt->last_prefill = 1;
    if (nl == 0)
        return FRS_OK;
    /* the chosen sequences' last hidden rows, gathered into xn (free after the forward), through the
     * LM head into the verify logits (at the bucket of nl rows, as the forward's dense ops: rows past
     * nl are row-local and unread; a large LM head's GEMM algorithm is timed once per new shape); the
     * choice as a verify's: argmax, then the sampled rows */
    const struct cuda_batch_model *m = &bt->m;
    int nlg = cuda_rows_bucket(nl);
    nlg = nlg < bt->Rv ? nlg : bt->Rv;
    FRS_TRY(cuda_paged_gather_rows(bt->xn, m->C, NULL, bt->hid, m->C, 0, bt->dm.gidx, m->C, nl, m->st));
    FRS_TRY(bt_mm(bt, bt->xn, m->C, nlg, m->lm_head, &m->lm8, m->Vl, m->C, bt->logits, m->Vl, 0.0f));
    FRS_TRY(bt_argmax_ids(bt, bt->logits, nl));
    FRS_TRY(bt_choose_rest(bt, bt->logits, nl, bt->h_rsamp, (int)sizeof *bt->h_rsamp, bt->h_draw, bt->h_chosen));
    for (int i = 0, k = 0; i < n; i++)
        if (choose[i])
            out[i] = bt->h_chosen[k++];
    return FRS_OK;
}

/* ---- the batched draft ------------------------------------------------------------------------------- */

/* The draft forward of n rows whose metadata is on the device (tok, pos, phys, the attention row
 * descriptors; masked: tree masks) and whose fc input feature half is already in din[:, C..2C):
 * embed the tokens into din[:, 0..C), fc (+ bias), the draft layer over the pool's draft half;
 * the output hidden rows in dx (fp32). */
static enum frs_status bt_draft_forward(struct cuda_batch *bt, int n, int masked, const int32_t *seg,
                                        const int32_t *nseg, int att_blocks, int att_splits)
{
    const struct cuda_batch_model *m = &bt->m;
    const int C = m->C, H = m->dH, KV = m->dKV, D = m->dD, F = m->dF;
    const int qkvw = (H + 2 * KV) * D;
    cudaStream_t st = m->st;
    const struct cuda_batch_layer *ly = &m->dlayer;
    const struct cuda_paged_rows rows = {bt->dm.seq, bt->dm.prefix, bt->dm.local, bt->dm.ncols, bt->dm.tables, bt->TW,
                                         bt->B, masked ? bt->dm.mask : NULL};
    FRS_TRY(cuda_embed(m->embed, C, bt->dm.tok, n, NULL, bt->din, 2 * C, st));
    FRS_TRY(cuda_matmul(m->blas, bt->din, 2 * C, n, m->fc, C, 2 * C, bt->dx, C, 0.0f));
    if (m->fc_bias)
        FRS_TRY(cuda_add_bias(bt->dx, m->fc_bias, n, C, st));
    if (ly->attn_norm)
        FRS_TRY(cuda_rmsnorm(bt->dx, NULL, n, C, ly->attn_norm, m->deps, NULL, bt->dxn, C, st));
    else
        FRS_TRY(cuda_f32_to_bf16(bt->dx, C, n, C, bt->dxn, C, st));
    FRS_TRY(cuda_matmul(m->blas, bt->dxn, C, n, ly->wqkv, qkvw, C, bt->dqkv, qkvw, 0.0f));
    FRS_TRY(cuda_paged_rope_write(bt->dqkv, qkvw, n, H, KV, D, bt->dm.pos, m->dinv_freq, bt->dq, bt->dkpool, bt->dvpool,
                                  bt->dm.phys, st));
    if (att_blocks > 0) { /* tensor cores, as the target's tree and prefill rows */
        const struct cuda_attn_mma_pages pg = {seg, nseg, bt->dm.prefix, bt->dm.ncols, masked ? bt->dm.mask : NULL,
                                               CUDA_PAGED_MASK_WORDS, bt->dm.tables, bt->TW, bt->B, 0};
        FRS_TRY(cuda_attn_mma_paged(bt->dq, bt->dkpool, bt->dvpool, &pg, att_blocks, CUDA_ATT_MMA_BM, n, H, KV, D,
                                    m->att_mma, att_splits, bt->datt, bt->scratch, st));
    } else {
        FRS_TRY(cuda_paged_attention(bt->dq, bt->dkpool, bt->dvpool, &rows, n, H, KV, D, bt->datt, bt->scratch,
                                     m->n_sm, st));
    }
    FRS_TRY(cuda_matmul(m->blas, bt->datt, H * D, n, ly->wo, C, H * D, bt->dx, C, 1.0f));
    FRS_TRY(cuda_rmsnorm(bt->dx, NULL, n, C, ly->mlp_norm, m->deps, NULL, bt->dxn, C, st));
    if (n == 1 && C % 8 == 0) {
        FRS_TRY(cuda_gemv_swiglu(bt->dxn, ly->wgu, F, C, bt->dact, m->blas->pdl, st));
    } else {
        FRS_TRY(cuda_matmul(m->blas, bt->dxn, C, n, ly->wgu, 2 * F, C, bt->dgu, 2 * F, 0.0f));
        FRS_TRY(cuda_swiglu(bt->dgu, bt->dgu + F, n, F, 2 * F, bt->dact, F, st));
    }
    return cuda_matmul(m->blas, bt->dact, F, n, ly->wdown, C, F, bt->dx, C, 1.0f);
}

/* The draft LM head over n bf16 rows x (stride C) and the top-kmax log-probs of each row (ids
 * mapped to the full vocabulary) into d_topk: values (n * kmax), then ids. */
static enum frs_status bt_draft_topk_dev(struct cuda_batch *bt, const uint16_t *x, int n, int kmax)
{
    const struct cuda_batch_model *m = &bt->m;
    float *vals = bt->d_topk;
    int32_t *idx = (int32_t *)(bt->d_topk + (size_t)n * kmax);
    FRS_TRY(cuda_matmul(m->blas, x, m->C, n, m->dlm_head, m->K, m->C, bt->dlog, m->K, 0.0f));
    return cuda_logsoftmax_topk(bt->dlog, n, m->K, m->K, kmax, m->ids, vals, idx, m->st);
}

/* ... and read back into h_topk */
static enum frs_status bt_draft_topk_read(struct cuda_batch *bt, int n, int kmax)
{
    cudaStream_t st = bt->m.st;
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->h_topk, bt->d_topk, (size_t)n * kmax * 2 * 4, cudaMemcpyDeviceToHost, st));
    return bt_wait_stream(bt, st);
}

/* One depth of the draft over `rows` frontier rows whose metadata is on the device: the fc input's
 * feature half gathered (level 1: the root rows droot, deeper: the last forward's dx rows, by
 * dm.gidx), the forward, the top-k of its output into d_topk (not read back) */
static enum frs_status bt_draft_level(struct cuda_batch *bt, int level, int rows, int kmax, const int32_t *seg,
                                      const int32_t *nseg, int att_blocks, int att_splits)
{
    const int C = bt->m.C;
    cudaStream_t st = bt->m.st;
    if (level == 1)
        FRS_TRY(cuda_paged_gather_rows(bt->din + C, 2 * C, NULL, bt->droot, C, 0, bt->dm.gidx, C, rows, st));
    else
        FRS_TRY(cuda_paged_gather_rows(bt->din + C, 2 * C, NULL, bt->dx, C, 1, bt->dm.gidx, C, rows, st));
    FRS_TRY(bt_draft_forward(bt, rows, 1, seg, nseg, att_blocks, att_splits));
    FRS_TRY(cuda_f32_to_bf16(bt->dx, C, rows, C, bt->dxn, C, st));
    return bt_draft_topk_dev(bt, bt->dxn, rows, kmax);
}

/* rows [r0, r0 + k) of the last top-k read-back (row stride kmax) as k x k log-probs / ids */
static void bt_topk_rows(struct cuda_batch *bt, int n_rows, int kmax, int r0, int rows, int k)
{
    const float *v = bt->h_topk;
    const int32_t *id = (const int32_t *)(bt->h_topk + (size_t)n_rows * kmax);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < k; j++) {
            bt->h_logp[r * k + j] = v[(size_t)(r0 + r) * kmax + j];
            bt->h_tok[r * k + j] = id[(size_t)(r0 + r) * kmax + j];
        }
}

/* the catch-up forward of the rows gathered so far (metadata in hm): features from the pool,
 * then the root rows it holds (n_roots: hm.ridx -> hm.rdst) into droot */
static enum frs_status bt_catchup_flush(struct cuda_batch *bt, int rows, int n_tables, int n_roots)
{
    if (rows == 0)
        return FRS_OK;
    cudaStream_t st = bt->m.st;
    const int C = bt->m.C;
    int ab = 0, as = 1;
    if (bt->dmma) /* causal rows, as a prefill's */
        bt_draft_grid(bt, bt_segments_g(&bt->hm, rows, CUDA_ATT_MMA_BM, bt->dG), bt_rows_cols(&bt->hm, rows), &ab, &as);
    FRS_TRY(bt_meta_upload(bt, n_tables, 0));
    if (n_roots > 0) {
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.ridx, bt->hm.ridx, (size_t)n_roots * 4, cudaMemcpyHostToDevice, st));
        FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.rdst, bt->hm.rdst, (size_t)n_roots * 4, cudaMemcpyHostToDevice, st));
        FRS_CUDA_CHECK(cudaEventRecord(bt->ev_meta, st));
    }
    FRS_TRY(cuda_paged_gather_rows(bt->din + C, 2 * C, NULL, bt->fpool, C, 0, bt->dm.gidx, C, rows, st));
    FRS_TRY(bt_draft_forward(bt, rows, 0, bt->dm.seg, bt->dm.nseg, ab, as));
    if (n_roots > 0)
        FRS_TRY(cuda_paged_gather_rows(bt->droot, C, bt->dm.rdst, bt->dx, C, 1, bt->dm.ridx, C, n_roots, st));
    /* the pinned block is rewritten by the next chunk: its uploads must have been read */
    return bt_meta_begin(bt);
}

/* The trees after the catch-up, built on the device (m.draft_dev; cuda_tree.h's batched kernels,
 * the algorithm of runtime/tree.c): per depth the frontier rows' metadata written by the device,
 * one forward, the top-k, the expansion; no read-back until the finished trees (one copy for the
 * batch) instead of one per depth. Sequence i reads the pool through table i. */
static enum frs_status bt_draft_device(struct cuda_batch *bt, int n, const struct frs_seq *seqs,
                                       const int32_t *const *next_tokens, const struct frs_tree_params *p, int kmax,
                                       int max_depth)
{
    cudaStream_t st = bt->m.st;
    int level_rows[FRS_MAX_TREE_DEPTH] = {0}, max_rec = 1;
    FRS_TRY(bt_meta_begin(bt)); /* the tables; the last op's descriptors and trees were read */
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        struct cuda_tree_seq *d = &bt->h_tseq[i];
        memset(d, 0, sizeof *d);
        d->slot = q->slot;
        d->k = p[i].topk;
        d->depth = p[i].depth;
        d->size = p[i].size;
        d->T = q->target_len;
        d->root = next_tokens[i][q->target_len - q->draft_len - 1];
        d->table = i;
        for (int l = 1; l < FRS_MAX_TREE_DEPTH; l++) {
            d->base[l] = l < p[i].depth ? level_rows[l] : -1;
            level_rows[l] += l < p[i].depth ? p[i].topk : 0;
        }
        const int rec = cuda_tree_records(p[i].topk, p[i].depth);
        max_rec = rec > max_rec ? rec : max_rec;
        FRS_TRY(bt_table(bt, i, q, q->target_len + tree_draft_rows(&p[i]), "draft"));
    }
    int lblocks[FRS_MAX_TREE_DEPTH] = {0}, lsplits[FRS_MAX_TREE_DEPTH] = {0};
    for (int level = 1; level < max_depth; level++) /* every level's attention segments, uploaded with the tables */
        (void)bt_draft_level_segs(bt, level, n, seqs, p, &lblocks[level], &lsplits[level]);
    /* the descriptors before the tables' upload, whose event (ev_meta) then covers this copy too */
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->d_tseq, bt->h_tseq, (size_t)n * sizeof *bt->d_tseq, cudaMemcpyHostToDevice, st));
    FRS_TRY(bt_meta_upload(bt, n, 0));
    const struct cuda_tree_batch tb = {bt->tmem, bt->tstride, bt->max_topk, FRS_MAX_TREE_DEPTH, bt->d_tseq};
    const struct cuda_tree_rows rows = {bt->dm.tok, bt->dm.pos, bt->dm.phys, bt->dm.seq, bt->dm.prefix, bt->dm.local,
                                        bt->dm.ncols, bt->dm.gidx, bt->dm.mask, CUDA_PAGED_MASK_WORDS, bt->dm.tables,
                                        bt->TW, bt->B};

    /* depth 1: the root rows' top-k; deeper: the frontier's forward, its top-k, the expansion */
    FRS_TRY(bt_draft_topk_dev(bt, bt->droot, n, kmax));
    FRS_TRY(cuda_tree_batch_first(&tb, n, bt->d_topk, (const int32_t *)(bt->d_topk + (size_t)n * kmax), kmax, st));
    for (int level = 1; level < max_depth; level++) {
        const int r = level_rows[level];
        FRS_TRY(cuda_tree_batch_frontier(&tb, n, level, &rows, st));
        FRS_TRY(bt_draft_level(bt, level, r, kmax, bt->dm.seg + (size_t)4 * level * bt->dseg_level,
                               bt->dm.nseg + level, lblocks[level], lsplits[level]));
        FRS_TRY(cuda_tree_batch_expand(&tb, n, level, bt->d_topk, (const int32_t *)(bt->d_topk + (size_t)r * kmax),
                                       kmax, st));
    }
    FRS_TRY(cuda_tree_batch_finish(&tb, n, max_rec, bt->d_trees, st));
    bt->device_trees++;
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->h_trees, bt->d_trees, (size_t)n * sizeof *bt->d_trees, cudaMemcpyDeviceToHost,
                                   st));
    FRS_TRY(bt_wait_stream(bt, st));
    for (int i = 0; i < n; i++) {
        const struct frs_tree *h = &bt->h_trees[i];
        if (h->n < 1 || h->n > p[i].size)
            return FRS_ERR(FRS_ERR_INTERNAL, "cuda batch draft: sequence %d (slot %d): the device tree has %d nodes "
                           "(a kept candidate whose parent was cut: non-finite or positive draft log-probs?)", i,
                           seqs[i].slot, h->n);
        struct frs_tree *t = &bt->slot_tree[seqs[i].slot];
        t->n = h->n;
        memcpy(t->token, h->token, (size_t)h->n * sizeof(int32_t));
        memcpy(t->parent, h->parent, (size_t)h->n * sizeof(int32_t));
        memcpy(t->depth, h->depth, (size_t)h->n * sizeof(int32_t));
    }
    return FRS_OK;
}

/* The trees after the catch-up, built on the host (runtime/tree.c): per depth one forward of every
 * growing sequence's frontier, its top-k read back, each tree expanded and the next frontier's
 * metadata written on the host. */
static enum frs_status bt_draft_host(struct cuda_batch *bt, int n, const struct frs_seq *seqs,
                                     const int32_t *const *next_tokens, const struct frs_tree_params *p, int kmax,
                                     int max_depth)
{
    struct bt_meta *h = &bt->hm;
    int rows, nt;
    /* 2. depth 1: each root row's top-k */
    FRS_TRY(bt_draft_topk_dev(bt, bt->droot, n, kmax));
    FRS_TRY(bt_draft_topk_read(bt, n, kmax));
    for (int i = 0; i < n; i++) {
        bt_topk_rows(bt, n, kmax, i, 1, p[i].topk);
        tree_build_first(&bt->slot_tb[seqs[i].slot], bt->h_logp, bt->h_tok);
    }

    /* 3. deeper: per depth one forward of every growing sequence's frontier (k rows at draft
     * position T + level - 1, K/V at its tree slots T + slot, masked to its own ancestors), the
     * fc input's feature half = the parent's draft output (level 1: the root row) */
    for (int level = 1; level < max_depth; level++) {
        FRS_TRY(bt_meta_begin(bt));
        rows = nt = 0;
        for (int i = 0; i < n; i++) {
            if (p[i].depth <= level)
                continue;
            const struct frs_seq *q = &seqs[i];
            struct tree_build *tb = &bt->slot_tb[q->slot];
            const int T = q->target_len;
            int n_cols = 0;
            const int first = tree_build_frontier_mask(tb, bt->h_fmask, &n_cols);
            const int mw = FRS_MASK_WORDS(n_cols);
            FRS_TRY(bt_table(bt, nt, q, T + n_cols, "draft"));
            bt->rowbase[i] = rows;
            for (int r = 0; r < tb->n_front; r++) {
                const int row = rows + r;
                h->tok[row] = tb->token[tb->front[r]];
                h->pos[row] = T + level - 1;
                h->phys[row] = bt_phys(bt, q, T + first + r);
                h->gidx[row] = level == 1 ? i : bt->rowbase_prev[i] + tb->front_src[r];
                h->seq[row] = nt;
                h->prefix[row] = T;
                h->local[row] = first + r;
                h->ncols[row] = n_cols;
                uint64_t *mr = h->mask + (size_t)row * CUDA_PAGED_MASK_WORDS;
                memset(mr, 0, CUDA_PAGED_MASK_WORDS * sizeof(uint64_t));
                memcpy(mr, bt->h_fmask + (size_t)r * mw, (size_t)mw * sizeof(uint64_t));
            }
            rows += tb->n_front;
            nt++;
        }
        /* the attention's segments from the rows (in sequence order: bt_draft_device's), its grid from the
         * same bound on the columns as the device-built draft's (the same splits, the same bits) */
        int ab = 0, as = 1;
        if (bt->dmma)
            bt_draft_grid(bt, bt_segments_g(h, rows, CUDA_ATT_MMA_BM, bt->dG), bt_draft_level_cols(seqs, p, n, level),
                          &ab, &as);
        FRS_TRY(bt_meta_upload_masked(bt, rows, nt, 0));
        FRS_TRY(bt_draft_level(bt, level, rows, kmax, bt->dm.seg, bt->dm.nseg, ab, as));
        FRS_TRY(bt_draft_topk_read(bt, rows, kmax));
        for (int i = 0; i < n; i++) {
            if (p[i].depth <= level)
                continue;
            struct tree_build *tb = &bt->slot_tb[seqs[i].slot];
            bt_topk_rows(bt, rows, kmax, bt->rowbase[i], tb->n_front, p[i].topk);
            tree_build_expand(tb, bt->h_logp, bt->h_tok);
            bt->rowbase_prev[i] = bt->rowbase[i];
        }
    }

    /* 4. keep each tree */
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        const int32_t root = next_tokens[i][q->target_len - q->draft_len - 1];
        FRS_TRY(tree_build_finish(&bt->slot_tb[q->slot], root, &bt->slot_tree[q->slot]));
    }
    return FRS_OK;
}

static enum frs_status bt_draft(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                const int32_t *const *next_tokens, const struct frs_tree_params *p)
{
    struct cuda_batch *bt = bt_of(be, "draft");
    if (!bt)
        return FRS_ERR_INVALID_ARG;
    if (!bt->m.draft)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: the backend was created without a draft head");
    if (n < 1 || n > bt->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: %d sequences (1..max_seqs = %d)", n, bt->max_seqs);
    int kmax = 0, max_depth = 0;
    FRS_TRY(bt_meta_begin(bt)); /* bt_table writes the pinned block */
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        if (q->draft_len < 0 || q->target_len <= q->draft_len)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: sequence %d (slot %d): draft_len %d must be below "
                           "target_len %d (at least the root is pending)", i, q->slot, q->draft_len, q->target_len);
        if (p[i].size < 2 || p[i].size > bt->Rv || p[i].size > FRS_MAX_TREE || p[i].depth < 1 ||
            p[i].depth > FRS_MAX_TREE_DEPTH || p[i].topk < 1 || p[i].topk > bt->max_topk ||
            (p[i].depth - 1) * p[i].topk > CUDA_PAGED_MASK_WORDS * 64)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: sequence %d (slot %d): tree depth %d topk %d size %d "
                           "outside the backend's limits (size 2..%d, topk 1..%d, depth 1..%d, (depth - 1) * topk <= "
                           "%d)", i, q->slot, p[i].depth, p[i].topk, p[i].size, bt->Rv < FRS_MAX_TREE ? bt->Rv :
                           FRS_MAX_TREE, bt->max_topk, FRS_MAX_TREE_DEPTH, CUDA_PAGED_MASK_WORDS * 64);
        const int d_rows = tree_draft_rows(&p[i]);
        FRS_TRY(bt_table(bt, i, q, q->target_len + (d_rows > 0 ? d_rows : 0), "draft"));
        for (int k = 0; k < i; k++)
            if (seqs[k].slot == q->slot)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: sequences %d and %d share slot %d", k, i,
                               q->slot);
        for (int j = 0; j < q->target_len - q->draft_len; j++)
            if (next_tokens[i][j] < 0 || next_tokens[i][j] >= bt->m.V)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch draft: sequence %d token %d at %d outside the "
                               "vocabulary [0, %d)", i, (int)next_tokens[i][j], q->draft_len + j + 1, bt->m.V);
        FRS_TRY(tree_build_begin(&bt->slot_tb[q->slot], &p[i]));
        bt->slot_state[q->slot] = 0;
        kmax = p[i].topk > kmax ? p[i].topk : kmax;
        max_depth = p[i].depth > max_depth ? p[i].depth : max_depth;
    }
    struct bt_meta *h = &bt->hm;

    /* 1. catch-up: every sequence's pending rows [draft_len, target_len), causal, packed into
     * forwards of at most Rd rows (a sequence spanning two forwards: the later part sees the
     * earlier one's keys through the pool); the root row (the last) of each into droot[i] */
    FRS_TRY(bt_meta_begin(bt));
    int rows = 0, nt = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        const int pending = q->target_len - q->draft_len;
        for (int off = 0; off < pending;) {
            const int c = pending - off < bt->Rd - rows ? pending - off : bt->Rd - rows;
            const int s0 = q->draft_len + off;
            FRS_TRY(bt_table(bt, nt, q, s0 + c, "draft"));
            for (int j = 0; j < c; j++) {
                const int r = rows + j;
                h->tok[r] = next_tokens[i][off + j];
                h->pos[r] = s0 + j;
                h->phys[r] = bt_phys(bt, q, s0 + j);
                h->gidx[r] = h->phys[r]; /* the target feature at the row's own position */
                h->seq[r] = nt;
                h->prefix[r] = s0;
                h->local[r] = j;
                h->ncols[r] = c;
            }
            rows += c;
            off += c;
            if (off == pending) {
                h->ridx[nr] = rows - 1;
                h->rdst[nr] = i;
                nr++;
            }
            nt++;
            if (rows == bt->Rd) {
                FRS_TRY(bt_catchup_flush(bt, rows, nt, nr));
                rows = nt = nr = 0;
            }
        }
    }
    FRS_TRY(bt_catchup_flush(bt, rows, nt, nr));

    /* 2-4. the trees: on the device or on the host */
    if (bt->tmem)
        FRS_TRY(bt_draft_device(bt, n, seqs, next_tokens, p, kmax, max_depth));
    else
        FRS_TRY(bt_draft_host(bt, n, seqs, next_tokens, p, kmax, max_depth));

    /* 5. each tree's verify masks */
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        struct frs_tree *t = &bt->slot_tree[q->slot];
        const int mw = FRS_MASK_WORDS(t->n);
        uint64_t am[FRS_MAX_TREE * FRS_MASK_WORDS(FRS_MAX_TREE)];
        tree_mask_ancestors(t, am);
        uint64_t *vm = bt->slot_vmask + (size_t)q->slot * FRS_MAX_TREE * CUDA_PAGED_MASK_WORDS;
        memset(vm, 0, (size_t)FRS_MAX_TREE * CUDA_PAGED_MASK_WORDS * sizeof(uint64_t));
        for (int j = 0; j < t->n; j++)
            memcpy(vm + (size_t)j * CUDA_PAGED_MASK_WORDS, am + (size_t)j * mw, (size_t)mw * sizeof(uint64_t));
        bt->slot_state[q->slot] = 1;
    }
    return FRS_OK;
}

/* verify: sequence i contributes its drafted tree (drafted[i], grown by the last draft op in its
 * slot) or the one row of its root; all rows in one forward (with ancestor masks when any tree
 * is drafted), the token after every node chosen with one read-back, each tree walked greedily.
 * s is per sequence (s[i]). */
static enum frs_status bt_verify(struct frs_backend *be, int n, const struct frs_seq *seqs, const int32_t *roots,
                                 const int *drafted, const struct frs_sampling *s, struct frs_tree *trees,
                                 struct frs_accept *acc)
{
    struct cuda_batch *bt = bt_of(be, "verify");
    if (!bt)
        return FRS_ERR_INVALID_ARG;
    if (n < 1 || n > bt->max_seqs || n > bt->Rv)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: %d sequences (1..max_seqs = %d)", n, bt->max_seqs);
    int masked = 0, rows = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        if (q->slot < 0 || q->slot >= bt->max_seqs)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: sequence %d has slot %d outside [0, %d)", i,
                           q->slot, bt->max_seqs);
        for (int k = 0; k < i; k++)
            if (seqs[k].slot == q->slot)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: sequences %d and %d share slot %d", k, i,
                               q->slot);
        if (roots[i] < 0 || roots[i] >= bt->m.V)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: root %d of sequence %d outside the vocabulary "
                           "[0, %d)", (int)roots[i], i, bt->m.V);
        int tn = 1;
        if (drafted && drafted[i]) {
            if (!bt->slot_state || bt->slot_state[q->slot] != 1 || bt->slot_tree[q->slot].token[0] != roots[i])
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: sequence %d (slot %d) has no drafted tree "
                               "rooted at %d", i, q->slot, (int)roots[i]);
            tn = bt->slot_tree[q->slot].n;
            masked = 1;
        }
        rows += tn;
    }
    if (rows > bt->Rv)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch verify: %d tree rows exceed max_step_rows = %d", rows, bt->Rv);
    FRS_TRY(bt_meta_begin(bt));
    struct bt_meta *h = &bt->hm;
    for (int i = 0, r = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        const int T = q->target_len, d = drafted && drafted[i];
        const struct frs_tree *t = d ? &bt->slot_tree[q->slot] : NULL;
        const int tn = d ? t->n : 1;
        FRS_TRY(bt_table(bt, i, q, T + tn, "verify"));
        for (int j = 0; j < tn; j++, r++) {
            h->tok[r] = d ? t->token[j] : roots[i];
            h->pos[r] = T + (d ? t->depth[j] : 0);
            h->phys[r] = bt_phys(bt, q, T + j);
            h->seq[r] = i;
            h->prefix[r] = T;
            h->local[r] = j;
            h->ncols[r] = tn;
            uint64_t *mr = h->mask + (size_t)r * CUDA_PAGED_MASK_WORDS;
            if (d) {
                memcpy(mr, bt->slot_vmask + ((size_t)q->slot * FRS_MAX_TREE + j) * CUDA_PAGED_MASK_WORDS,
                       CUDA_PAGED_MASK_WORDS * sizeof(uint64_t));
            } else {
                memset(mr, 0, CUDA_PAGED_MASK_WORDS * sizeof(uint64_t));
                mr[0] = 1; /* the root sees itself */
            }
            /* the token chosen after this node sits at position T + depth + 1: its draw index */
            bt->h_draw[r] = (int64_t)h->pos[r] + 1;
            bt->h_rsamp[r] = s[i];
        }
    }
    const int padded = bt_graph_rows(bt, rows);
    const int att = bt_verify_att(bt, masked), with_masks = masked || att;
    bt_pad_rows(bt, rows, padded, with_masks);
    if (att)
        bt_segments(bt, padded, bt_mma_bm(att));
    /* the class's grid with or without graphs: the same splits, so the same bits either way */
    const int cls = bt_att_grid(bt, padded, att, 0, &bt->att_blocks, &bt->att_splits);
    FRS_TRY(bt_meta_upload_masked(bt, with_masks ? padded : 0, n, 0));
    FRS_TRY(bt_graph_run(bt, padded, masked, cls));
    bt->last_n = rows;
    bt->last_prefill = 0;
    FRS_TRY(bt_choose_rest(bt, bt->logits, rows, bt->h_rsamp, (int)sizeof *bt->h_rsamp, bt->h_draw, bt->h_chosen));
    for (int i = 0, r = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        const int d = drafted && drafted[i];
        struct frs_tree *t = &trees[i];
        if (d) {
            const struct frs_tree *dt = &bt->slot_tree[q->slot];
            t->n = dt->n;
            memcpy(t->token, dt->token, (size_t)dt->n * sizeof(int32_t));
            memcpy(t->parent, dt->parent, (size_t)dt->n * sizeof(int32_t));
            memcpy(t->depth, dt->depth, (size_t)dt->n * sizeof(int32_t));
            bt->slot_state[q->slot] = 0;
        } else {
            t->n = 1;
            t->token[0] = roots[i];
            t->parent[0] = -1;
            t->depth[0] = 0;
        }
        for (int j = 0; j < t->n; j++, r++) { /* the sampling fields are not used by the position-keyed walk */
            t->argmax[j] = bt->h_chosen[r];
            t->child_prob[j] = 0.0f;
            t->residual[j] = t->argmax[j];
        }
        FRS_TRY(accept_walk_uniforms(t, NULL, &acc[i]));
    }
    return FRS_OK;
}

static enum frs_status bt_commit(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                 const struct frs_accept *acc)
{
    struct cuda_batch *bt = bt_of(be, "commit");
    if (!bt)
        return FRS_ERR_INVALID_ARG;
    if (n < 0 || n > bt->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch commit: %d sequences (0..max_seqs = %d)", n, bt->max_seqs);
    int moves = 0, waited = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *q = &seqs[i];
        const struct frs_accept *a = &acc[i];
        if (a->n_path < 1 || a->n_path > FRS_MAX_TREE || a->path[0] != 0)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch commit: sequence %d: path of %d nodes must start at the "
                           "root (0)", i, a->n_path);
        int last = 0;
        for (int j = 1; j < a->n_path; j++) {
            if (a->path[j] <= last || a->path[j] >= FRS_MAX_TREE)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda batch commit: sequence %d: path[%d] = %d is not increasing",
                               i, j, (int)a->path[j]);
            last = a->path[j];
        }
        if (last == a->n_path - 1)
            continue; /* the path is its rows' order already (a one-node tree, a chain) */
        const int need = q->target_len + last + 1;
        if (q->n_blocks < 0 || (long)need > (long)q->n_blocks * bt->B)
            return FRS_ERR(FRS_ERR_TOO_LONG, "cuda batch commit: sequence %d (slot %d) path reaches position %d past "
                           "its %d blocks", i, q->slot, need - 1, q->n_blocks);
        if (!waited) {
            FRS_TRY(bt_meta_begin(bt));
            waited = 1;
        }
        for (int j = 1; j < a->n_path; j++) {
            if (a->path[j] == j)
                continue;
            bt->hm.mv_src[moves] = bt_phys(bt, q, q->target_len + a->path[j]);
            bt->hm.mv_dst[moves] = bt_phys(bt, q, q->target_len + j);
            moves++;
        }
    }
    if (!moves)
        return FRS_OK;
    /* the moves only: row sections untouched */
    cudaStream_t st = bt->m.st;
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.mv_src, bt->hm.mv_src, (size_t)moves * 4, cudaMemcpyHostToDevice, st));
    FRS_CUDA_CHECK(cudaMemcpyAsync(bt->dm.mv_dst, bt->hm.mv_dst, (size_t)moves * 4, cudaMemcpyHostToDevice, st));
    FRS_CUDA_CHECK(cudaEventRecord(bt->ev_meta, st));
    const int kvw = (int)bt->kvw;
    FRS_TRY(cuda_paged_move_rows(bt->kpool, bt->m.L, bt->layer_rows * bt->kvw, kvw, bt->dm.mv_src, bt->dm.mv_dst, moves,
                                 st));
    FRS_TRY(cuda_paged_move_rows(bt->vpool, bt->m.L, bt->layer_rows * bt->kvw, kvw, bt->dm.mv_src, bt->dm.mv_dst, moves,
                                 st));
    if (bt->fpool)
        FRS_TRY(cuda_paged_move_rows(bt->fpool, 1, 0, bt->m.C, bt->dm.mv_src, bt->dm.mv_dst, moves, st));
    return FRS_OK;
}

enum frs_status cuda_batch_logits(struct frs_backend *be, int slot, float *out, size_t cap, int *rows,
                                  int *vocab_local)
{
    struct cuda_batch *bt = bt_of(be, "logits");
    if (!bt)
        return FRS_ERR_INVALID_ARG;
    const int n = slot >= 0 ? 1 : bt->last_n;
    if (slot >= bt->max_seqs || n < 1 || (slot >= 0 && (!bt->last_prefill || bt->prefill_row[slot] < 0)) ||
        (slot < 0 && bt->last_prefill))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_batch_logits: slot %d: no such row in the last op", slot);
    const size_t cnt = (size_t)n * bt->m.Vl;
    if (cnt > cap)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_batch_logits: %zu floats do not fit in %zu", cnt, cap);
    const float *src = bt->logits + (slot >= 0 ? (size_t)bt->prefill_row[slot] * bt->m.Vl : 0);
    FRS_CUDA_CHECK(cudaMemcpyAsync(out, src, cnt * sizeof(float), cudaMemcpyDeviceToHost, bt->m.st));
    FRS_TRY(bt_wait_stream(bt, bt->m.st));
    *rows = n;
    *vocab_local = bt->m.Vl;
    return FRS_OK;
}

void cuda_batch_sampling_counts(struct frs_backend *be, long *on_device, long *on_host)
{
    const struct cuda_batch *bt = cuda_backend_batch(be);
    *on_device = bt ? bt->samp_dev : 0;
    *on_host = bt ? bt->samp_host : 0;
}

/* frs_batch_ops.describe: the one-off costs met so far (cuBLASLt shapes and their timing, captured graphs) */
static void bt_describe(struct frs_backend *be, char *buf, size_t n)
{
    const struct cuda_batch *bt = cuda_backend_batch(be);
    if (!bt || !n)
        return;
    int graphs = 0;
    for (size_t i = 0; i < bt_graph_count(bt); i++)
        graphs += bt->graphs[i].exec != NULL;
    const struct cuda_blas *b = bt->m.blas;
    snprintf(buf, n, "gemm_shapes %d timed %d reused %d choose_ms %.1f check_ms %.1f verify_graphs %d device_trees %ld",
             b->lt_count, b->lt_timed, b->lt_reused, 1e3 * b->lt_seconds, 1e3 * b->lt_check_seconds, graphs,
             bt->device_trees);
}

const struct frs_batch_ops cuda_batch_ops = {
    .prefill = bt_prefill,
    .draft = bt_draft,
    .verify = bt_verify,
    .commit = bt_commit,
    .warms_up = 1,
    .describe = bt_describe,
};
