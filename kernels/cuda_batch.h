/* cuda_batch.h - the CUDA backend's batched ops (runtime/batch.h): the paged KV pool, its
 * per-step buffers and the batched target forward, in cuda_batch.c. The single-sequence backend
 * (cuda_backend.c) creates the batch state at create() when lim->max_seqs > 0, handing it a view
 * of its weights and stream (struct cuda_batch_model), and sets frs_backend_ops.batch to
 * cuda_batch_ops; the batch-1 path is untouched. With a draft, the batched draft op grows every
 * sequence's EAGLE-2 tree with runtime/tree.c on the host from one batched draft forward per
 * depth (one small read-back of the top-k per depth), and verify runs all trees in one forward.
 *
 * defines: struct cuda_batch_layer, struct cuda_batch_model, struct cuda_batch, cuda_batch_create,
 *          cuda_batch_free, cuda_batch_ops, cuda_backend_batch, cuda_batch_logits, cuda_batch_sampling_counts
 */
#ifndef FRSPEC_CUDA_BATCH_H
#define FRSPEC_CUDA_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "batch.h"
#include "status.h"

struct cuda_blas; /* cuda_ops.h */
struct frs_comm;

/* an FP8 weight (e4m3 rows, one fp32 scale a row); w NULL: the matrix is bf16 */
struct cuda_batch_fp8 {
    const uint8_t *w;
    const float *s;
};

/* one target layer's device weights, as cuda_backend.c uploaded them: bf16, or FP8 where the
 * *8 member is set (the bf16 pointer is then unused) */
struct cuda_batch_layer {
    const uint16_t *attn_norm; /* (C) */
    const uint16_t *wqkv;      /* ((H + 2 KV) D, C) */
    const uint16_t *wo;        /* (C, H D) */
    const uint16_t *mlp_norm;  /* (C) */
    const uint16_t *wgu;       /* (2 F, C) gate rows then up rows */
    const uint16_t *wdown;     /* (C, F) */
    struct cuda_batch_fp8 qkv8, o8, gu8, down8;
};

/* what the batched forward borrows from the single-sequence backend (owned there) */
struct cuda_batch_model {
    cudaStream_t st;
    struct cuda_blas *blas;
    int n_sm;
    struct frs_comm *comm;
    int nccl;         /* device collectives on */
    int dev_sampling; /* temperature > 0 may be sampled on the device (TP 1) */
    int graphs;       /* CUDA graphs on (FRS_CUDA_GRAPHS unset or not 0) */
    int C, H, KV, D, F, L, V, Vl, voff; /* this rank's shard */
    float eps;
    const uint16_t *embed;      /* (V, C) */
    const uint16_t *lm_head;    /* (Vl, C) */
    const uint16_t *final_norm; /* (C) */
    const struct cuda_batch_layer *layers; /* (L), copied at create */
    const float *inv_freq;      /* (D/2) */
    int draft;                  /* a draft is loaded: the pool holds its K/V (dkv per row) and the features */
    int dkv;                    /* draft n_kv * head_dim */
    /* the draft (draft = 1), replicated on every rank at its full shape; hidden size C */
    struct cuda_batch_layer dlayer; /* its one layer (attn_norm NULL: EAGLE layer 0 has none) */
    const uint16_t *fc;         /* (C, 2 C) */
    const uint16_t *fc_bias;    /* (C) or NULL */
    const uint16_t *dlm_head;   /* (K, C) the (FR-Spec reduced) draft LM head */
    const int32_t *ids;         /* (K) full ids of its rows, NULL for the full vocabulary */
    const float *dinv_freq;     /* (dD/2) */
    int dH, dKV, dD, dF, K;
    float deps;
    /* FP8 targets: an FP8 LM head (w NULL: bf16 lm_head), the bf16 scratch of the largest FP8
     * matrix for GEMMs past the MMA kernel's rows (the kernel choice is blas's: cuda_fp8_kernels.h) */
    struct cuda_batch_fp8 lm8;
    uint16_t *deq;
    /* attention of sequences with several rows (trees, prefill chunks): 3 or 1 = the tensor-core
     * paged kernel (cuda_attn_mma_paged) with that many bf16 terms, 0 = the CUDA-core paged kernel */
    int att_mma;
    /* with att_mma: 1 = the steps of one-node trees only (autoregressive decode) through the same
     * kernel's warp split (CUDA_ATT_MMA_BM_WS) instead of the CUDA-core paged kernel; 2 = that warp
     * split with a multi-stage K/V ring (cuda_attn_mma_pages.pipe; bit-identical results) */
    int att_decode;
    /* the bf16 terms of the tree and prefill rows' tensor-core attention: att_mma, or 2 (opts.batch_att_terms;
     * the decode steps and the draft keep att_mma's) */
    int att_tree_terms;
    int draft_dev; /* 1: the draft's trees built on the device (one read-back a draft); 0: on the host */
};

struct cuda_batch;

/* The pool and the per-step buffers for lim (max_seqs > 0), after the weights and the
 * single-sequence state are allocated; *kv_blocks = the pool's blocks. */
enum frs_status cuda_batch_create(struct cuda_batch **out, const struct cuda_batch_model *m,
                                  const struct frs_limits *lim, int *kv_blocks);
void cuda_batch_free(struct cuda_batch *bt);

extern const struct frs_batch_ops cuda_batch_ops;

/* Tests: the logits behind the last choice, copied to out (rows x Vl floats, cap floats at most):
 * slot >= 0: that slot's row when the last op was a prefill that chose its token, slot < 0: the last
 * verify's rows. */
enum frs_status cuda_batch_logits(struct frs_backend *be, int slot, float *out, size_t cap, int *rows,
                                  int *vocab_local);
/* sampled rows answered on the device / on the host since create */
void cuda_batch_sampling_counts(struct frs_backend *be, long *on_device, long *on_host);

/* the backend's batch state, NULL when it was created with max_seqs = 0 (cuda_backend.c) */
struct cuda_batch *cuda_backend_batch(struct frs_backend *be);

#endif
