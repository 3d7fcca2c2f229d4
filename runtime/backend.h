/* backend.h - the contract between the engine (runtime/engine.c, one code for every backend)
 * and a compute backend (CPU reference in runtime/cpu_backend.c, CUDA in kernels/).
 *
 * A backend owns the target's (and the draft's) weights, KV caches and activations in its own
 * memory, sized once at create(). The engine drives it:
 *
 *   autoregressive:  prefill(prompt) -> next_token -> { decode(tok) -> next_token } ...
 *   speculative:     prefill(prompt) -> next_token = root
 *                    loop { draft_tree(pending tokens) -> verify(tree stats, the one read-back)
 *                           -> acceptance walk (accept_verified: the backend's own accept op,
 *                              done on its device within verify, else accept_walk on the host)
 *                           -> commit(path) }
 *
 * Sequence state: target_len = tokens in the target KV cache. The root (last chosen token) is
 * never in the cache yet: prefill/decode/commit leave it pending. The draft lags the target:
 * draft_tree() first runs the draft over the positions the target has but the draft has not
 * (their target features were kept by prefill/commit), with the *next* token of each position
 * as input (EAGLE: fc(cat(embed(t_{i+1}), f_i))); the caller passes those next tokens, the last
 * of them being the root.
 *
 * Sampling: temperature <= 0 means greedy (argmax, ties to the lowest id). Otherwise logits/T,
 * then top-k, then top-p (as Hugging Face orders them), and draws by the Gumbel-max trick with
 * noise frs_rng_gumbel(seed, draw, token_id): the same token at every TP degree.
 *
 * defines: struct frs_sampling, struct frs_tree_params, struct frs_tree, struct frs_limits,
 *          struct frs_backend_options, frs_backend_options_default, struct frs_backend,
 *          struct frs_backend_ops
 */
#ifndef FRSPEC_BACKEND_H
#define FRSPEC_BACKEND_H

#include <stdint.h>

#include "status.h"

#define FRS_MAX_TREE 128      /* tree nodes including the root */
#define FRS_MAX_TREE_DEPTH 16 /* deepest tree (draft forwards) every backend accepts */
#define FRS_MAX_TREE_TOPK 32  /* largest tree top-k every backend accepts */

struct llama_model;
struct eagle_draft;
struct frs_comm;
struct frs_accept; /* accept.h */
struct frs_batch_ops; /* batch.h */

struct frs_sampling {
    float temperature; /* <= 0: greedy */
    float top_p;       /* 1: off */
    int top_k;         /* 0: off */
    uint64_t seed;
};

struct frs_tree_params {
    int depth; /* draft forwards per iteration = deepest node's depth (EAGLE-2 "depth"+1) */
    int topk;  /* children per expanded node and frontier width */
    int size;  /* tree nodes including the root */
};

/* The draft tree and the target's verdict on it, read back once per iteration. Nodes are in
 * creation order, parents before children; node 0 is the root. */
struct frs_tree {
    int n;
    int32_t token[FRS_MAX_TREE];
    int32_t parent[FRS_MAX_TREE]; /* -1 for the root */
    int32_t depth[FRS_MAX_TREE];  /* root 0 */
    /* filled by verify: */
    int32_t argmax[FRS_MAX_TREE];   /* greedy: the target's argmax at node i */
    float child_prob[FRS_MAX_TREE]; /* sampling: p_parent(token[i]) (filtered target dist at the parent) */
    int32_t residual[FRS_MAX_TREE]; /* sampling: a draw from p_i with all of i's children's tokens removed */
};

struct frs_limits {
    int max_ctx;       /* KV cache length, tokens (prompt + generated; a draft tree shrinks to fit) */
    int max_tree;      /* largest tree (nodes), <= FRS_MAX_TREE; 0 without a draft */
    int prefill_chunk; /* tokens per prefill forward */
    /* batching (runtime/batch.h), all 0 for a single-sequence backend: */
    int max_seqs;      /* sequences in flight; > 0 allocates the paged KV pool */
    int max_step_rows; /* most target rows of one batched verify (sum of the sequences' tree sizes) */
    int max_prefill_rows; /* most prompt tokens of one batched prefill op, all its sequences together
                             (0: max(prefill_chunk, max_step_rows); batch.h frs_batch_prefill_rows) */
    int kv_block;      /* positions per KV block (0: FRS_KV_BLOCK_DEFAULT) */
    int kv_blocks;     /* blocks in the pool; 0: as many as fit in kv_share of the memory left */
    float kv_share;    /* share of the memory left after the weights for the pool when kv_blocks = 0 */
    int max_topk;      /* largest tree top-k a batched draft op will ask for (0: FRS_MAX_TREE_TOPK);
                          sizes the draft's frontier rows (max_seqs x max_topk) */
};

/* How a backend runs, set by the CLI (launch/options.c) and by the tests directly; every field
 * keeps results correct (they choose between equivalent data paths, for A/B measurement).
 * frs_backend_options_default() gives the product's choice. A backend ignores what it lacks. */
enum frs_attention_kind {
    FRS_ATTN_AUTO = 0,       /* tensor cores for n > 1 rows where the head size allows, else CUDA cores */
    FRS_ATTN_CUDA_CORES = 1, /* the CUDA-core kernel at every n */
    FRS_ATTN_MMA_BF16 = 2,   /* tensor cores with single bf16 products (less exact; A/B only) */
};

struct frs_backend_options {
    int cuda_graphs;              /* 1: decode / draft / verify as CUDA graphs */
    int device_sampling;          /* 1: temperature > 0 sampled on the device where supported */
    int device_accept;            /* 1: the acceptance walk on the device inside verify */
    enum frs_attention_kind attention;
    int pdl;                      /* 1: programmatic dependent launch (sm_90) */
    int cublaslt;                 /* 1: cuBLASLt GEMMs, each shape's algorithm the fastest of the heuristic's
                                     candidates timed at its first call, reused at other row counts of its
                                     class; 3: timed at every row count; 2: the heuristic's first, untimed;
                                     0: cublasGemmEx only */
    int fp8_act_quant;            /* FP8 checkpoints whose format quantizes input activations (tensor.h
                                     enum frs_fp8_act): 0 = weights dequantized only, activations kept
                                     in fp32 (the reference); 1 = activations quantized as the format
                                     prescribes (CPU backend; a different, also correct, numerics) */
    int fp8_mma;                  /* 4 (default): FP8 weights at n = 2..64 rows through the pipelined
                                     tensor-core kernel (cuda_fp8_gemm_pipe: 256 rows a block, a 4-stage
                                     cp.async ring, K split over more blocks; verify 60 of the 8B shape
                                     8.63 ms against 9.25 for 2, of 70B 56.7 against 64.9, H100,
                                     RESULTS.md); 5: it with the integer e4m3 -> bf16 conversion; 6 / 7:
                                     4 / 5 with the K splits reduced in thread block clusters;
                                     2: the split-K kernel (cuda_fp8_gemm_small_splitk, 9.3 ms against
                                     20.6 for 1); 1: that kernel without the split (kernels/cuda_fp8.cu);
                                     0: dequantized to bf16, then the bf16 GEMM */
    int fp8_gemv_unroll;          /* the FP8 GEMV (decode) streams this many 16-byte loads per lane per
                                     batch: 4 (default) or 8 */
    int batch_att_mma;            /* 3 (default): the batched engine's rows through the tensor-core paged
                                     attention (cuda_attn_mma_paged): tree and prefill rows (8B verify of
                                     8 x 60 rows 16.3 ms against 47.4 on the H100), and the steps of
                                     one-node trees (batched autoregressive decode) through its warp
                                     split with a 3-stage K/V ring (8B decode step at batch 64 9.87 ms,
                                     128 13.50, H100 2026-12-07 13:00, RESULTS.md); 2: the warp split
                                     without the ring (10.43 / 14.47 in the same run); 1: the decode
                                     steps through the CUDA-core paged kernel; 0: every row there */
    int att_combine_warp;         /* 1: the attention's split combine as a warp per output row instead of a
                                     128-thread block (kernels/cuda_attention.h; the same bits); 0 (default
                                     until measured on a GPU) */
    int batch_att_terms;          /* 2: the batched tree and prefill rows' tensor-core attention with two bf16
                                     terms of q and P (~16 significant bits) instead of three (24: fp32-exact
                                     operands): a third less tensor work; 0 (default): three (A/B) */
    int batch_draft_dev;          /* 1 (default): the batched draft's trees built on the device
                                     (kernels/cuda_tree.cu's batched kernels: one read-back a draft instead
                                     of one a depth; 8B FR-Spec draft at batch 8 2.88-2.93 ms against
                                     2.98-3.20, batch 1 2.54-2.55 against 2.57-2.67, H100 2026-12-08,
                                     RESULTS.md); 0: on the host (runtime/tree.c; the tests' reference) */
    int l2_prefetch;              /* bits (0 = off, the default until measured): the single-sequence decode
                                     forks bulk L2 prefetches of the next GEMV's weights onto a second
                                     stream, to load while DRAM idles in the kernels before it: 1 = o
                                     during RoPE / attention, 2 = qkv during the layer's norm, 4 = the
                                     first 16 MB of gate / up during the MLP norm (kernels/cuda_backend.c;
                                     no value changes) */
    int row_kernels;              /* 2 (default): the vectorized row kernels (RMSNorm, SwiGLU, the paged RoPE
                                     write; kernels/cuda_elementwise.h); 1: their launch shapes before
                                     2026-12-07 (A/B) */
    int test_hang_step;           /* test hook (0: off): the Nth decode/verify spins on the device until
                                   * destroy releases it (the watchdog tests; FRS_TEST_GPU_HANG_STEP) */
};

static inline struct frs_backend_options frs_backend_options_default(void)
{
    struct frs_backend_options o = {
        .cuda_graphs = 1, .device_sampling = 1, .device_accept = 1,
        .attention = FRS_ATTN_AUTO, .pdl = 1, .cublaslt = 1, .fp8_act_quant = 0, .fp8_mma = 4,
        .fp8_gemv_unroll = 4, .batch_att_mma = 3, .batch_draft_dev = 1, .row_kernels = 2,
    };
    return o;
}

struct frs_backend {
    const struct frs_backend_ops *ops;
    void *impl;
    int target_len; /* kept up to date by the backend */
    int kv_blocks;  /* the paged pool's blocks, chosen by create() (0 without batching) */
    int max_ctx;    /* the context limit it was created with (0: not said; the engine then finds out) */
};

struct frs_backend_ops {
    const char *name;
    /* draft may be NULL (autoregressive only); comm may be NULL (single process); opt may be NULL
     * (frs_backend_options_default()). */
    enum frs_status (*create)(struct frs_backend *be, const struct llama_model *target,
                              const struct eagle_draft *draft, struct frs_comm *comm,
                              const struct frs_limits *lim, const struct frs_backend_options *opt);
    void (*destroy)(struct frs_backend *be);
    /* Forget the sequence: target_len = 0, draft emptied. */
    enum frs_status (*reset)(struct frs_backend *be);
    /* Append n tokens to the target cache (chunked); keep their features for the draft. */
    enum frs_status (*prefill)(struct frs_backend *be, const int32_t *tokens, int n);
    /* Append one token (autoregressive step). */
    enum frs_status (*decode)(struct frs_backend *be, int32_t token);
    /* Choose the token after the last appended position: greedy or sampled with draw index draw. */
    enum frs_status (*next_token)(struct frs_backend *be, const struct frs_sampling *s, uint64_t draw,
                                  int32_t *out);
    /* Run the draft over its pending positions (next_tokens[i] is the token after pending position
     * i; the last is the root), then grow an EAGLE-2 tree rooted at the root. Tree stays in
     * backend memory. */
    enum frs_status (*draft_tree)(struct frs_backend *be, const int32_t *next_tokens, int n_pending,
                                  const struct frs_tree_params *p);
    /* One target forward over the tree (positions target_len + depth, tree mask, whole prefix
     * visible); fills tree (structure + argmax[i] = the token chosen after node i: greedy argmax,
     * or at temperature > 0 the draw with draw index = its position target_len + depth[i] + 1,
     * batch.h's position-keyed rule; the engine then walks greedily). The tree KV stays in the
     * cache after target_len until commit. */
    enum frs_status (*verify)(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                              struct frs_tree *tree);
    /* Keep the accepted nodes (path[0] = 0, the root, then each next node's index), move their KV
     * rows to target_len.., target_len += n_path, keep their features pending for the draft. */
    enum frs_status (*commit)(struct frs_backend *be, const int32_t *path, int n_path);
    /* Optional (NULL: the caller always walks on the host). The acceptance walk of the last verify
     * as the backend computed it itself: *out = accept_walk(tree, s, iter) exactly and *done = 1;
     * *done = 0 (out untouched) when it has none for this verify, s and iter (the caller then runs
     * accept_walk). Deterministic from verify's result, so every TP rank gets the same answer. */
    enum frs_status (*accept)(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                              struct frs_accept *out, int *done);
    /* The batched ops (runtime/batch.h); NULL when the backend serves one sequence at a time. */
    const struct frs_batch_ops *batch;
};

#endif
