/* cuda_backend.c - the CUDA backend (frs_backend_cuda_ops): runtime/backend.h on one GPU per
 * rank with the semantics of the CPU reference (runtime/cpu_backend.c: prefill / decode /
 * next_token; runtime/cpu_spec.c: draft_tree / verify / commit), built from the launchers of
 * cuda_ops.h (the per-operation kernel headers) and cuda_tree.h. Host C11. Every A/B switch comes
 * from struct frs_backend_options (b->opts), read once in cu_create; none from the environment.
 *
 * Memory, all sized once at create() and logged ("allocating N MiB"); nothing is allocated on
 * the decode path:
 *  - weights: ONE device allocation per rank (size table below, pointers carved out, a shape
 *    comment on each). Everything is bf16 on the device: F32 / F16 checkpoints are converted to
 *    bf16 at upload (round to nearest even, frs_f32_to_bf16), as transformers does with
 *    torch_dtype=bfloat16. q/k/v rows are stacked into one matrix and gate/up into another so
 *    each is one GEMV/GEMM. A tied LM head is a view into the embedding table.
 *    FP8 checkpoints (issue 15): a target matrix (group) stored F8_E4M3 stays FP8 on the device,
 *    with one fp32 scale per output row (struct cu_fp8; kernels/cuda_fp8.cu): the n == 1 GEMV
 *    dequantizes in registers, n = 2..64 runs bf16 tensor-core MMAs on weights dequantized in
 *    registers (opts.fp8_mma, kept in blas.fp8_mma; 0: off), larger n dequantizes into one bf16
 *    scratch matrix (deq) for the GEMM. The draft head and its reduced LM head stay bf16 (an FP8 LM head is dequantized for it).
 *  - activations, KV caches (bf16), draft state: ONE second allocation.
 * Activations: fp32 residual stream and matmul outputs; bf16 for every matmul input (norm,
 * attention and SwiGLU outputs, draft fc input), so the n == 1 GEMV and the n > 1 cuBLAS GEMM
 * see identical inputs.
 *
 * The loop stays on the GPU: step-varying values (target length, draft slot, the drafted root
 * token, the sampling parameters and draw ids) live in device memory and are advanced or set by
 * kernels; draft_tree never synchronises; verify's read-back of struct cu_readback (the tree with
 * its verdict, the sampling fallback flags and the acceptance walk's result) after one event wait
 * is the one small D2H per iteration. CUDA graphs (opts.cuda_graphs = 0 turns them off): the decode
 * step, captured once; the draft step as two graphs, the catch-up forward per pending count
 * (<= CU_CATCHUP_GRAPHS) and the tree growth per (depth, topk, size); verify per (tree size,
 * attention layout, greedy or device sampling) at one GPU. Those three are captured at their
 * second use (the first runs eagerly, so cuBLASLt times its algorithms outside capture); the
 * tokens of the catch-up and the sampling parameters are set by small kernels just before the
 * launch.
 *
 * Sampling (temperature > 0) at TP 1 runs on the device (kernels/cuda_sample.h): the filtered
 * distribution of each row and, in verify, the token chosen after each node keyed by its position
 * (runtime/batch.h: the Gumbel-max draw with draw index target_len + depth + 1, no exclusions, so
 * speculative sampling gives autoregressive sampling's tokens seed for seed), runtime/sampling.c's
 * results bit for bit on the same logits (its fixed-point
 * masses, runtime/sample_mass.h, are computed the same way on both sides), and no logits copy. A
 * row the kernels leave undecided (two Gumbel keys within 1e-11, a non-finite logit, a crossing bin
 * too large to rank) is redone on the host from its read-back row alone. opts.device_sampling = 0
 * always samples on the host (A/B); so does TP > 1, where the host functions do the vocabulary
 * collectives over MPI (the device path has no NCCL version of them yet).
 *
 * Acceptance: verify ends with the greedy acceptance walk on the device at every temperature
 * (cuda_tree_accept, one warp, in the verify graph: runtime/accept.c's greedy accept_walk field for
 * field over the position-keyed argmax); the engine
 * takes it through the accept op (accept_verified) and commit then gathers the KV rows with the
 * path already on the device. Where the host decides part of the verdict (sampling on the host,
 * a device-sampled row redone on the host) or opts.device_accept = 0 (A/B), accept reports none and
 * the host walks (accept_walk); commit uploads the path it is given when it is not the device's.
 *
 * Tensor parallel (comm size > 1, or an NCCL communicator set up at size 1 by --force-nccl):
 * o_proj and down_proj accumulate into the residual stream on rank 0 only (beta = 1; other ranks
 * write their partial with beta = 0), then one NCCL sum all-reduce of the residual per block
 * (kernels/nccl_comm.h); the greedy argmax is one uint64 max all-reduce of packed (value, index)
 * keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cuda_runtime_api.h>

#include "accept.h"     /* frs_spec_draw, struct frs_accept */
#include "backend.h"
#include "comm.h"
#include "cuda_backend.h"
#include "cuda_attn_mma.h" /* cuda_attn_mma_head_dim_ok */
#include "cuda_batch.h"  /* the batched ops (runtime/batch.h): paged KV pool, created when lim->max_seqs > 0 */
#include "cuda_check.h"  /* FRS_CUDA_CHECK */
#include "cuda_debug.h"  /* cuda_debug_spin: the FRS_TEST_GPU_HANG_STEP test hook */
#include "cuda_graph.h" /* cuda_graph_end_capture */
#include "cuda_fp8_kernels.h" /* cuda_fp8_gemv, cuda_fp8_gemm_small, cuda_fp8_dequant_bf16, cuda_fp8_fill_hash */
#include "cuda_ops.h"
#include "cuda_sample.h"
#include "cuda_tree.h"
#include "draft.h"
#include "memplan.h"    /* struct memplan: the weights' and the state's one allocation each */
#include "model.h"
#include "nccl_comm.h"
#include "rope.h"       /* rope_inv_freq */
#include "sampling.h"
#include "synthetic.h"  /* frs_synthetic_kind: weights made on the device */
#include "tree.h"       /* FRS_MASK_WORDS */

#define CU_MAX_TOPK 32  /* largest tree topk (k*k <= 1024 for the expand kernel) */
#define CU_MAX_DEPTH 16 /* largest tree depth */
_Static_assert(CU_MAX_TOPK >= FRS_MAX_TREE_TOPK && CU_MAX_DEPTH >= FRS_MAX_TREE_DEPTH,
               "the CUDA backend accepts every tree the options allow (backend.h)");
#define CU_CATCHUP_GRAPHS 32 /* the draft's catch-up over n <= this many pending tokens is a graph per n */
#define CU_GROW_GRAPHS 16    /* tree shapes (depth, topk, size) with a captured draft step */
#define CU_STATE_BUFFERS 42  /* device buffers in cu_alloc_state's memory plan (static-asserted there) */

/* verify's modes: each its own graph per (tree size, attention layout) */
enum { CU_VERIFY_GREEDY = 0, CU_VERIFY_SAMPLE = 1, CU_VERIFY_MODES = 2, CU_VERIFY_HOST = 2 };

/* what the one read-back of an iteration brings: the verified tree, next_token's sampled token,
 * the device sampling's per-row fallback flags (CUDA_SAMPLE_*; token and flags[0] adjacent:
 * next_token reads 8 bytes) and the device acceptance walk over the tree (cuda_tree_accept; acc_ok
 * 0: none, the host walks) */
struct cu_readback {
    struct frs_tree tree;
    int32_t token;
    uint32_t flags[FRS_MAX_TREE];
    int32_t acc_ok;
    struct frs_accept acc;
};

/* a step captured at its second use (the first runs eagerly: cuBLASLt times its algorithms
 * outside capture) and replayed afterwards */
struct cu_graph {
    int uses;
    cudaGraphExec_t exec;
};

struct cu_grow_graph {
    struct frs_tree_params p;
    struct cu_graph g;
};

/* an FP8 weight on the device: (rows, cols) e4m3 bytes and one fp32 scale per row; w NULL: bf16 */
struct cu_fp8 {
    uint8_t *w;
    float *s;
};

struct cu_layer {
    struct cu_fp8 qkv8, o8, gu8, down8; /* FP8 target layers: these instead of wqkv / wo / wgu / wdown */
    uint16_t *attn_norm; /* (C); NULL for the EAGLE layer (no input_layernorm) */
    uint16_t *wqkv;      /* ((Hl + 2 KVl) * D, C): q rows, then k rows, then v rows */
    uint16_t *wo;        /* (C, Hl * D) */
    uint16_t *mlp_norm;  /* (C) */
    uint16_t *wgu;       /* (2 Fl, C): gate rows then up rows */
    uint16_t *wdown;     /* (C, Fl) */
};

/* the shapes of one transformer layer (target shard or draft) */
struct cu_dims {
    int C, H, KV, D, F;
    float eps;
};

struct cu_backend {
    struct frs_backend_options opts; /* as given to create (NULL: frs_backend_options_default()) */
    const struct llama_model *m;
    const struct eagle_draft *d;
    struct frs_comm *comm;
    int tp; /* comm size (1 without comm) */
    int nccl; /* device collectives on: comm size > 1, or an NCCL communicator set up at size 1 */
    struct frs_limits lim;
    struct cu_dims t, dr; /* target (local shard) and draft dims */
    int L, V, Vl, voff, K;
    int R, Rd;             /* rows of one target / draft forward */
    cudaStream_t st;
    struct cuda_blas blas;
    /* test hook opts.test_hang_step = N (FRS_TEST_GPU_HANG_STEP): the Nth decode/verify spins until
     * *hang_release (host-mapped) is set, which only destroy does */
    int hang_step, n_steps;
    int *hang_release;
    int n_sm;

    /* ---- weights: one allocation ---- */
    void *wmem;
    size_t wbytes;
    uint16_t *embed;      /* (V, C) */
    uint16_t *lm_head;    /* (Vl, C) this rank's rows (view into embed when tied) */
    uint16_t *final_norm; /* (C) */
    struct cu_fp8 lm8;    /* an FP8 LM head (Vl, C) instead of lm_head */
    uint16_t *deq;        /* (largest FP8 matrix) bf16 dequantized for n > 64 GEMMs; NULL without FP8 */
    int fp8;              /* some target matrix is FP8 */
    struct cu_layer *layers; /* host array of L */
    /* draft */
    uint16_t *fc;         /* (C, 2C) */
    uint16_t *fc_bias;    /* (C) or NULL */
    struct cu_layer dl;   /* draft layer 0 */
    uint16_t *dlm_head;   /* (K, C) reduced LM head (view into lm_head/embed for the full vocabulary at TP 1) */
    int32_t *ids;         /* (K) full ids of the reduced rows, NULL for the full vocabulary */

    /* ---- state and activations: one allocation ---- */
    void *amem;
    size_t abytes;
    float *inv_freq;      /* (D/2) target rope */
    float *dinv_freq;     /* (Dd/2) draft rope */
    uint16_t *kc, *vc;    /* (L, max_ctx, KVl*D) bf16 */
    float *x;             /* (R, C) residual stream */
    uint16_t *xn;         /* (R, C) normed, bf16 */
    float *qkv;           /* (R, (Hl+2KVl)*D) */
    float *q;             /* (R, Hl*D) after rope */
    uint16_t *att;        /* (R, Hl*D) attention out */
    float *gu;            /* (R, 2Fl) */
    uint16_t *act;        /* (R, Fl) */
    uint16_t *hid;        /* (R, C) post-final-norm hidden (the EAGLE feature) */
    float *logits;        /* (max(1, max_tree), Vl) */
    uint64_t *keys;       /* (R) */
    int32_t *tok;         /* (R) */
    int32_t *pos;         /* (R) */
    uint64_t *mask;       /* (max_tree, words(max_tree)) */
    float *scratch;       /* attention partials, max over n <= max(R, Rd) */
    int32_t *scal;        /* device scalars, see SC_* */
    /* draft */
    uint16_t *feat;       /* (max_ctx, C) target features for the draft (bf16) */
    uint16_t *dkc, *dvc;  /* (dslots, KVd*Dd) */
    int dslots;
    uint16_t *din;        /* (Rd, 2C) fc input [embed | feature] */
    float *dx;            /* (Rd, C) draft residual stream = its output hidden */
    uint16_t *dxn;        /* (Rd, C) */
    float *dqkv, *dq;     /* (Rd, (Hd+2KVd)*Dd), (Rd, Hd*Dd) */
    uint16_t *datt;       /* (Rd, Hd*Dd) */
    float *dgu;           /* (Rd, 2Fd) */
    uint16_t *dact;       /* (Rd, Fd) */
    float *dlogits;       /* (CU_MAX_TOPK, K) */
    float *tvals;         /* (CU_MAX_TOPK * CU_MAX_TOPK) */
    int32_t *tidx;        /* (CU_MAX_TOPK * CU_MAX_TOPK) */
    int32_t *dtok, *dpos; /* (Rd) */
    uint64_t *fmask;      /* (CU_MAX_TOPK, words(CU_MAX_TOPK * CU_MAX_DEPTH)) */
    struct cuda_tree_dev tree;
    int32_t *path;        /* (FRS_MAX_TREE) */
    /* sampling on the device (cuda_sample.h) */
    struct cu_readback *d_rb;          /* the read-back block */
    struct frs_tree *d_tree;           /* = &d_rb->tree */
    struct cuda_sample_params *sparams; /* the request's temperature / top-k / top-p / seed / draw ids */
    struct cuda_sample_row *srows;     /* (max(1, max_tree)) */
    void *sscratch;                    /* cuda_sample_scratch_bytes(max(1, max_tree), Vl) */

    /* ---- host side ---- */
    struct cu_readback *h_rb; /* pinned */
    struct frs_tree *h_tree;  /* = &h_rb->tree */
    uint64_t *h_keys;        /* pinned (R) */
    float *h_logits;         /* host copy for sampling (max(1,max_tree) * Vl), NULL until needed */
    struct sampling_row rows[FRS_MAX_TREE];
    uint64_t draws[FRS_MAX_TREE];
    int target_len, draft_len;
    int last_rows, last_row; /* logits rows of the last forward, the row next_token reads */
    int have_tree;           /* 1 after draft_tree, 2 after verify */
    int tree_n;              /* nodes of the drafted tree */
    int graphs;              /* use CUDA graphs */
    int dev_sampling;        /* temperature > 0 on the device (TP 1, opts.device_sampling) */
    int dev_accept;          /* acceptance walk on the device in verify (opts.device_accept) */
    int acc_valid;           /* the last verify's device walk (h_rb->acc) is accept_walk's result for: */
    int acc_greedy;          /*   the greedy walk (every verify's since the position-keyed rule) */
    long samp_dev, samp_host; /* sampled next_token / verify calls answered on the device / on the host */
    long samp_rows_host;      /* rows of device-sampled calls redone on the host (fallback) */
    cudaGraphExec_t g_decode;
    /* verify of an n-node tree, per attention layout and mode (greedy / device sampling) */
    struct cu_graph g_verify[FRS_MAX_TREE + 1][2][CU_VERIFY_MODES];
    /* the draft step: catch-up over n pending tokens, and the tree growth per shape */
    struct cu_graph g_catch[CU_CATCHUP_GRAPHS + 1];
    struct cu_grow_graph g_grow[CU_GROW_GRAPHS];
    int n_grow;
    int att_default; /* attention layout of every forward (CUDA_ATT_*) from opts.attention: AUTO,
                      * AUTO_BF16 (FRS_ATTN_MMA_BF16) or MULTI_ROW (FRS_ATTN_CUDA_CORES) */
    int att_layout;  /* attention layout of target forwards: att_default, or verify's choice by context */
    cudaEvent_t ev;
    /* opts.l2_prefetch: the decode's weight prefetches into L2, forked onto st2 (pf_fork) and joined
     * back at the end of the forward (pf_join) */
    cudaStream_t st2;
    cudaEvent_t pf_fork, pf_join;
    int pf_open; /* st2 has work not yet joined into st */
    struct cuda_batch *bat; /* the batched ops' pool and buffers (cuda_batch.c), NULL when max_seqs = 0 */
};

enum { SC_LEN = 0, SC_DSLOT, SC_ZERO, SC_ROOT, SC_COUNT }; /* SC_ROOT: the drafted tree's root token */

static struct cu_backend *cu_of(struct frs_backend *be) { return (struct cu_backend *)be->impl; }

/* ---- upload ----------------------------------------------------------------------------------- */

/* rows of one or more host matrices stacked into dst (bf16, rows x cols contiguous) */
static enum frs_status cu_upload(struct cu_backend *b, uint16_t *dst, const struct frs_mat *const *src, int nsrc,
                                 uint16_t *stage, float *row32, const char *what)
{
    size_t off = 0;
    for (int s = 0; s < nsrc; s++) {
        const struct frs_mat *m = src[s];
        if (!m->data)
            return FRS_ERR(FRS_ERR_MISSING, "cuda backend: weight %s has no data", what);
        const size_t rows = (size_t)m->rows, cols = (size_t)m->cols;
        const int kind = frs_synthetic_kind(m->data);
        if (kind >= 0) {
            /* synthetic model: hash-filled on the device, seeded by the offset in the weights */
            const uint64_t seed = (uint64_t)(dst + off - (uint16_t *)b->wmem) * 0x2545f4914f6cdd1dull + (uint64_t)kind;
            const float scale = kind == FRS_SYNTH_NORM ? 0.1f : sqrtf(3.0f / (float)cols);
            const float bias = kind == FRS_SYNTH_NORM ? 1.0f : 0.0f;
            FRS_TRY(cuda_fill_hash_bf16(dst + off, rows * cols, seed, scale, bias, b->st));
            off += rows * cols;
            continue;
        }
        if (m->dtype == FRS_DTYPE_BF16 && m->ld == m->cols) {
            FRS_CUDA_CHECK(cudaMemcpy(dst + off, m->data, rows * cols * 2, cudaMemcpyHostToDevice));
        } else {
            for (size_t r = 0; r < rows; r++) {
                if (m->dtype == FRS_DTYPE_BF16) {
                    memcpy(stage + r * cols, (const uint16_t *)m->data + r * (size_t)m->ld, cols * 2);
                } else {
                    frs_mat_row_to_f32(m, (int64_t)r, row32);
                    for (size_t c = 0; c < cols; c++)
                        stage[r * cols + c] = frs_f32_to_bf16(row32[c]);
                }
            }
            FRS_CUDA_CHECK(cudaMemcpy(dst + off, stage, rows * cols * 2, cudaMemcpyHostToDevice));
        }
        off += rows * cols;
    }
    return FRS_OK;
}

/* FP8 rows of one or more host matrices stacked into dst->w (rows x cols bytes) with their per-row
 * scales in dst->s; stage holds the largest group's bytes, sstage its rows' scales. Synthetic
 * (bench) FP8 matrices are hash-filled on the device. */
static enum frs_status cu_upload_fp8(struct cu_backend *b, struct cu_fp8 *dst, const struct frs_mat *const *src,
                                     int nsrc, uint8_t *stage, float *sstage, const char *what)
{
    size_t off = 0, roff = 0;
    for (int s = 0; s < nsrc; s++) {
        const struct frs_mat *m = src[s];
        if (!m->data || m->dtype != FRS_DTYPE_F8_E4M3)
            return FRS_ERR(FRS_ERR_INTERNAL, "cuda backend: weight %s is not FP8", what);
        if (frs_synthetic_kind(m->data) >= 0) {
            const uint64_t seed = (uint64_t)(dst->w + off - (uint8_t *)b->wmem) * 0x2545f4914f6cdd1dull + 7u;
            FRS_TRY(cuda_fp8_fill_hash(dst->w + off, (size_t)m->rows * (size_t)m->cols, dst->s + roff, (int)m->rows,
                                       sqrtf(3.0f / (float)m->cols), seed, b->st));
            off += (size_t)m->rows * (size_t)m->cols;
            roff += (size_t)m->rows;
            continue;
        }
        for (int64_t r = 0; r < m->rows; r++) {
            memcpy(stage + off, (const uint8_t *)m->data + (size_t)r * (size_t)m->ld, (size_t)m->cols);
            off += (size_t)m->cols;
            sstage[roff++] = frs_mat_scale(m, r);
        }
    }
    if (frs_synthetic_kind(src[0]->data) >= 0)
        return FRS_OK;
    FRS_CUDA_CHECK(cudaMemcpy(dst->w, stage, off, cudaMemcpyHostToDevice));
    FRS_CUDA_CHECK(cudaMemcpy(dst->s, sstage, roff * sizeof(float), cudaMemcpyHostToDevice));
    return FRS_OK;
}

/* every matrix of the group FP8 (all from a checkpoint, or all synthetic): kept FP8 on the device */
static int cu_is_fp8(const struct frs_mat *const *src, int nsrc)
{
    for (int i = 0; i < nsrc; i++)
        if (src[i]->dtype != FRS_DTYPE_F8_E4M3 ||
            (frs_synthetic_kind(src[i]->data) >= 0) != (frs_synthetic_kind(src[0]->data) >= 0))
            return 0;
    return nsrc > 0;
}

/* y = beta y + x W^T over n rows for a bf16 weight w or an FP8 one (w8->w set) */
static enum frs_status cu_mm(struct cu_backend *b, const uint16_t *x, int ldx, int n, const uint16_t *w,
                             const struct cu_fp8 *w8, int rows, int cols, float *y, int ldy, float beta)
{
    const int f8 = w8 && w8->w;
    return cuda_matmul_w8(&b->blas, x, ldx, n, w, f8 ? w8->w : NULL, f8 ? w8->s : NULL, rows, cols, y, ldy, beta,
                          b->deq);
}

/* One device allocation for a memory plan (memplan.h): sized and checked, cudaMalloc, carved. */
static enum frs_status cu_alloc_plan(struct memplan *mp, void **mem)
{
    FRS_TRY(memplan_size(mp));
    cudaError_t e = cudaMalloc(mem, mp->total);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: cannot allocate %.1f MiB of device memory for the %s: %s",
                       (double)mp->total / (1 << 20), mp->what, cudaGetErrorString(e));
    memplan_carve(mp, *mem);
    return FRS_OK;
}

static enum frs_status cu_upload_weights(struct cu_backend *b)
{
    const struct llama_model *m = b->m;
    const struct eagle_draft *d = b->d;
    const size_t C = (size_t)b->t.C, D = (size_t)b->t.D, H = (size_t)b->t.H, KV = (size_t)b->t.KV,
                 F = (size_t)b->t.F, L = (size_t)b->L, V = (size_t)b->V, Vl = (size_t)b->Vl;
    const int tied = m->lm_head_full.data == m->embed.data;
    b->layers = calloc(L, sizeof *b->layers);
    if (!b->layers)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    /* which target matrices stay FP8 on the device (per layer: qkv, o, gate/up, down) */
    const struct frs_mat *lm_src[] = {&m->lm_head};
    const int lm8 = !tied && cu_is_fp8(lm_src, 1);
    int *l8 = calloc(L * 4 + 1, sizeof *l8);
    if (!l8)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    size_t deq_elems = lm8 ? Vl * C : 0;
    for (size_t l = 0; l < L; l++) {
        const struct llama_layer *s = &m->layers[l];
        const struct frs_mat *qkv[] = {&s->wq, &s->wk, &s->wv}, *o[] = {&s->wo}, *gu[] = {&s->w_gate, &s->w_up},
                             *dn[] = {&s->w_down};
        l8[4 * l + 0] = cu_is_fp8(qkv, 3);
        l8[4 * l + 1] = cu_is_fp8(o, 1);
        l8[4 * l + 2] = cu_is_fp8(gu, 2);
        l8[4 * l + 3] = cu_is_fp8(dn, 1);
        const size_t el[4] = {(H + 2 * KV) * D * C, C * H * D, 2 * F * C, C * F};
        for (int k = 0; k < 4; k++)
            if (l8[4 * l + k] && el[k] > deq_elems)
                deq_elems = el[k];
    }
    b->fp8 = deq_elems > 0;
    /* the weights' memory plan: 3 + 6 per layer + 9 of the draft, + FP8: 3 (LM head, deq) + 8 per
     * layer (memplan_size checks the count) */
    const size_t np_max = 3 + 6 * L + 9 + 3 + 8 * L;
    struct memplan_entry *tab = calloc(np_max, sizeof *tab);
    if (!tab) {
        free(l8);
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    }
    struct memplan mp;
    memplan_init(&mp, "cuda backend", b->fp8 ? "weights (FP8 target matrices, bf16 rest)" : "weights (bf16)", tab, 0,
                 np_max, 256);
    struct memplan *p = &mp;
    MEMPLAN_ADD(p, b->embed, V * C * 2);                 /* (V, C) */
    MEMPLAN_ADD(p, b->lm_head, tied || lm8 ? 0 : Vl * C * 2); /* (Vl, C) */
    MEMPLAN_ADD(p, b->lm8.w, lm8 ? Vl * C : 0);          /* (Vl, C) e4m3 */
    MEMPLAN_ADD(p, b->lm8.s, lm8 ? Vl * 4 : 0);          /* (Vl) fp32 */
    MEMPLAN_ADD(p, b->deq, deq_elems * 2);               /* (largest FP8 matrix) bf16 scratch */
    MEMPLAN_ADD(p, b->final_norm, C * 2);                /* (C) */
    for (size_t l = 0; l < L; l++) {
        struct cu_layer *ly = &b->layers[l];
        const int *f8 = &l8[4 * l];
        MEMPLAN_ADD(p, ly->attn_norm, C * 2);            /* (C) */
        MEMPLAN_ADD(p, ly->wqkv, f8[0] ? 0 : (H + 2 * KV) * D * C * 2); /* ((H+2KV)D, C) */
        MEMPLAN_ADD(p, ly->wo, f8[1] ? 0 : C * H * D * 2);           /* (C, HD) */
        MEMPLAN_ADD(p, ly->mlp_norm, C * 2);             /* (C) */
        MEMPLAN_ADD(p, ly->wgu, f8[2] ? 0 : 2 * F * C * 2);          /* (2F, C) */
        MEMPLAN_ADD(p, ly->wdown, f8[3] ? 0 : C * F * 2);            /* (C, F) */
        MEMPLAN_ADD(p, ly->qkv8.w, f8[0] ? (H + 2 * KV) * D * C : 0); /* ((H+2KV)D, C) e4m3 */
        MEMPLAN_ADD(p, ly->qkv8.s, f8[0] ? (H + 2 * KV) * D * 4 : 0); /* ((H+2KV)D) fp32 */
        MEMPLAN_ADD(p, ly->o8.w, f8[1] ? C * H * D : 0);             /* (C, HD) e4m3 */
        MEMPLAN_ADD(p, ly->o8.s, f8[1] ? C * 4 : 0);                 /* (C) */
        MEMPLAN_ADD(p, ly->gu8.w, f8[2] ? 2 * F * C : 0);            /* (2F, C) e4m3 */
        MEMPLAN_ADD(p, ly->gu8.s, f8[2] ? 2 * F * 4 : 0);            /* (2F) */
        MEMPLAN_ADD(p, ly->down8.w, f8[3] ? C * F : 0);              /* (C, F) e4m3 */
        MEMPLAN_ADD(p, ly->down8.s, f8[3] ? C * 4 : 0);              /* (C) */
    }
    int dlm_alias = 0;
    if (d) {
        const size_t Hd = (size_t)b->dr.H, KVd = (size_t)b->dr.KV, Dd = (size_t)b->dr.D, Fd = (size_t)b->dr.F,
                     K = (size_t)b->K;
        /* the full-vocabulary draft head reuses the target's LM head when this rank holds it whole */
        dlm_alias = !d->ids && d->lm_head.data == m->lm_head_full.data && (tied || b->Vl == b->V) && !lm8;
        MEMPLAN_ADD(p, b->fc, C * 2 * C * 2);                    /* (C, 2C) */
        MEMPLAN_ADD(p, b->fc_bias, d->fc_bias.data ? C * 2 : 0); /* (C) */
        MEMPLAN_ADD(p, b->dl.wqkv, (Hd + 2 * KVd) * Dd * C * 2); /* ((Hd+2KVd)Dd, C) */
        MEMPLAN_ADD(p, b->dl.wo, C * Hd * Dd * 2);               /* (C, Hd Dd) */
        MEMPLAN_ADD(p, b->dl.mlp_norm, C * 2);                   /* (C) */
        MEMPLAN_ADD(p, b->dl.wgu, 2 * Fd * C * 2);               /* (2Fd, C) */
        MEMPLAN_ADD(p, b->dl.wdown, C * Fd * 2);                 /* (C, Fd) */
        MEMPLAN_ADD(p, b->dlm_head, dlm_alias ? 0 : K * C * 2);  /* (K, C) */
        MEMPLAN_ADD(p, b->ids, d->ids ? K * 4 : 0);              /* (K) */
    }
    enum frs_status st = cu_alloc_plan(&mp, &b->wmem);
    free(tab);
    if (st != FRS_OK) {
        free(l8);
        return st;
    }
    b->wbytes = mp.total;
    if (tied)
        b->lm_head = b->embed + (size_t)b->voff * C;
    if (d && dlm_alias)
        b->dlm_head = tied ? b->embed : b->lm_head;
    memplan_log(&mp);

    /* staging for converted / strided tensors: the largest one */
    size_t max_elems = V * C, max_cols = 2 * C;
    if (2 * F * C > max_elems)
        max_elems = 2 * F * C;
    if ((H + 2 * KV) * D * C > max_elems)
        max_elems = (H + 2 * KV) * D * C;
    if (F > max_cols)
        max_cols = F;
    if (H * D > max_cols)
        max_cols = H * D;
    if (d) {
        const size_t Fd = (size_t)b->dr.F, Hd = (size_t)b->dr.H, KVd = (size_t)b->dr.KV, Dd = (size_t)b->dr.D;
        if (2 * Fd * C > max_elems)
            max_elems = 2 * Fd * C;
        if ((Hd + 2 * KVd) * Dd * C > max_elems)
            max_elems = (Hd + 2 * KVd) * Dd * C;
        if (Fd > max_cols)
            max_cols = Fd;
        if (Hd * Dd > max_cols)
            max_cols = Hd * Dd;
    }
    uint16_t *stage = malloc(max_elems * 2);
    float *row32 = malloc(max_cols * sizeof(float));
    size_t max_rows = V > 2 * F ? V : 2 * F; /* FP8 scales of one group */
    if ((H + 2 * KV) * D > max_rows)
        max_rows = (H + 2 * KV) * D;
    float *sstage = malloc((max_rows > C ? max_rows : C) * sizeof(float));
    if (!stage || !row32 || !sstage) {
        free(stage);
        free(row32);
        free(sstage);
        free(l8);
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: cannot allocate %.1f MiB of host staging memory",
                       (double)max_elems * 2 / (1 << 20));
    }
#define UP(dst, what, ...)                                                                            \
    do {                                                                                              \
        const struct frs_mat *srcs_[] = {__VA_ARGS__};                                                \
        FRS_TRY_GOTO(cu_upload(b, dst, srcs_, (int)(sizeof srcs_ / sizeof srcs_[0]), stage, row32, what), st, \
                     out);                                                                            \
    } while (0)
#define UP8(dst, what, ...)                                                                           \
    do {                                                                                              \
        const struct frs_mat *srcs_[] = {__VA_ARGS__};                                                \
        FRS_TRY_GOTO(cu_upload_fp8(b, &(dst), srcs_, (int)(sizeof srcs_ / sizeof srcs_[0]), (uint8_t *)stage,    \
                                   sstage, what), st, out);                                           \
    } while (0)
    UP(b->embed, "model.embed_tokens.weight", &m->embed);
    if (lm8)
        UP8(b->lm8, "lm_head.weight", &m->lm_head);
    else if (!tied)
        UP(b->lm_head, "lm_head.weight", &m->lm_head);
    UP(b->final_norm, "model.norm.weight", &m->final_norm);
    for (size_t l = 0; l < L; l++) {
        const struct llama_layer *s = &m->layers[l];
        struct cu_layer *ly = &b->layers[l];
        const int *f8 = &l8[4 * l];
        UP(ly->attn_norm, "input_layernorm", &s->attn_norm);
        if (f8[0])
            UP8(ly->qkv8, "self_attn.{q,k,v}_proj", &s->wq, &s->wk, &s->wv);
        else
            UP(ly->wqkv, "self_attn.{q,k,v}_proj", &s->wq, &s->wk, &s->wv);
        if (f8[1])
            UP8(ly->o8, "self_attn.o_proj", &s->wo);
        else
            UP(ly->wo, "self_attn.o_proj", &s->wo);
        UP(ly->mlp_norm, "post_attention_layernorm", &s->mlp_norm);
        if (f8[2])
            UP8(ly->gu8, "mlp.{gate,up}_proj", &s->w_gate, &s->w_up);
        else
            UP(ly->wgu, "mlp.{gate,up}_proj", &s->w_gate, &s->w_up);
        if (f8[3])
            UP8(ly->down8, "mlp.down_proj", &s->w_down);
        else
            UP(ly->wdown, "mlp.down_proj", &s->w_down);
    }
    if (d) {
        UP(b->fc, "fc.weight", &d->fc);
        if (b->fc_bias)
            UP(b->fc_bias, "fc.bias", &d->fc_bias);
        const struct llama_layer *s = &d->layer;
        UP(b->dl.wqkv, "draft self_attn.{q,k,v}_proj", &s->wq, &s->wk, &s->wv);
        UP(b->dl.wo, "draft self_attn.o_proj", &s->wo);
        UP(b->dl.mlp_norm, "draft post_attention_layernorm", &s->mlp_norm);
        UP(b->dl.wgu, "draft mlp.{gate,up}_proj", &s->w_gate, &s->w_up);
        UP(b->dl.wdown, "draft mlp.down_proj", &s->w_down);
        if (!dlm_alias)
            UP(b->dlm_head, "draft reduced lm_head", &d->lm_head);
        if (d->ids) {
            cudaError_t e = cudaMemcpy(b->ids, d->ids, (size_t)b->K * 4, cudaMemcpyHostToDevice);
            if (e != cudaSuccess)
                st = FRS_ERR(FRS_ERR_CUDA, "cuda backend: upload of the FR-Spec ids: %s", cudaGetErrorString(e));
        }
    }
#undef UP
#undef UP8
out:
    free(stage);
    free(row32);
    free(sstage);
    free(l8);
    return st;
}

/* ---- activations ------------------------------------------------------------------------------- */

static enum frs_status cu_alloc_state(struct cu_backend *b)
{
    const size_t C = (size_t)b->t.C, D = (size_t)b->t.D, H = (size_t)b->t.H, KV = (size_t)b->t.KV,
                 F = (size_t)b->t.F, L = (size_t)b->L, Vl = (size_t)b->Vl, R = (size_t)b->R,
                 T = (size_t)b->lim.max_ctx;
    const size_t LR = (size_t)(b->lim.max_tree > 1 ? b->lim.max_tree : 1);
    const size_t MT = (size_t)(b->lim.max_tree > 1 ? b->lim.max_tree : 1);
    size_t scr = 0;
    for (int n = 1; n <= b->R; n++) {
        size_t s = cuda_attention_scratch_floats(n, b->t.H, b->t.KV, b->t.D, b->n_sm);
        if (s > scr)
            scr = s;
    }
    if (b->d)
        for (int n = 1; n <= b->Rd; n++) {
            size_t s = cuda_attention_scratch_floats(n, b->dr.H, b->dr.KV, b->dr.D, b->n_sm);
            if (s > scr)
                scr = s;
        }
    /* the memory plan of the KV caches and activations: one device allocation; the draft's entries are
     * 0 bytes (NULL) without a draft */
    const int hd = b->d != NULL;
    const size_t Rd = (size_t)b->Rd, Hd = (size_t)b->dr.H, KVd = (size_t)b->dr.KV, Dd = (size_t)b->dr.D,
                 Fd = (size_t)b->dr.F, K = (size_t)b->K;
    b->dslots = hd ? b->lim.max_ctx + CU_MAX_TOPK * (CU_MAX_DEPTH - 1) : 0;
    struct memplan_entry tab[] = {
        MEMPLAN_ENTRY(b->inv_freq, D / 2 * 4),
        MEMPLAN_ENTRY(b->kc, L * T * KV * D * 2),
        MEMPLAN_ENTRY(b->vc, L * T * KV * D * 2),
        MEMPLAN_ENTRY(b->x, R * C * 4),
        MEMPLAN_ENTRY(b->xn, R * C * 2),
        MEMPLAN_ENTRY(b->qkv, R * (H + 2 * KV) * D * 4),
        MEMPLAN_ENTRY(b->q, R * H * D * 4),
        MEMPLAN_ENTRY(b->att, R * H * D * 2),
        MEMPLAN_ENTRY(b->gu, R * 2 * F * 4),
        MEMPLAN_ENTRY(b->act, R * F * 2),
        MEMPLAN_ENTRY(b->hid, R * C * 2),
        MEMPLAN_ENTRY(b->logits, LR * Vl * 4),
        MEMPLAN_ENTRY(b->keys, R * 8),
        MEMPLAN_ENTRY(b->tok, R * 4),
        MEMPLAN_ENTRY(b->pos, R * 4),
        MEMPLAN_ENTRY(b->mask, MT * FRS_MASK_WORDS(MT) * 8),
        MEMPLAN_ENTRY(b->scratch, scr * 4),
        MEMPLAN_ENTRY(b->scal, SC_COUNT * 4),
        MEMPLAN_ENTRY(b->d_rb, sizeof(struct cu_readback)),
        MEMPLAN_ENTRY(b->sparams, sizeof(struct cuda_sample_params)),
        MEMPLAN_ENTRY(b->srows, MT * sizeof(struct cuda_sample_row)),
        MEMPLAN_ENTRY(b->sscratch, cuda_sample_scratch_bytes((int)MT, b->Vl)),
        /* the draft */
        MEMPLAN_ENTRY(b->dinv_freq, hd ? Dd / 2 * 4 : 0),
        MEMPLAN_ENTRY(b->feat, hd ? T * C * 2 : 0),
        MEMPLAN_ENTRY(b->dkc, hd ? (size_t)b->dslots * KVd * Dd * 2 : 0),
        MEMPLAN_ENTRY(b->dvc, hd ? (size_t)b->dslots * KVd * Dd * 2 : 0),
        MEMPLAN_ENTRY(b->din, hd ? Rd * 2 * C * 2 : 0),
        MEMPLAN_ENTRY(b->dx, hd ? Rd * C * 4 : 0),
        MEMPLAN_ENTRY(b->dxn, hd ? Rd * C * 2 : 0),
        MEMPLAN_ENTRY(b->dqkv, hd ? Rd * (Hd + 2 * KVd) * Dd * 4 : 0),
        MEMPLAN_ENTRY(b->dq, hd ? Rd * Hd * Dd * 4 : 0),
        MEMPLAN_ENTRY(b->datt, hd ? Rd * Hd * Dd * 2 : 0),
        MEMPLAN_ENTRY(b->dgu, hd ? Rd * 2 * Fd * 4 : 0),
        MEMPLAN_ENTRY(b->dact, hd ? Rd * Fd * 2 : 0),
        MEMPLAN_ENTRY(b->dlogits, hd ? (size_t)CU_MAX_TOPK * K * 4 : 0),
        MEMPLAN_ENTRY(b->tvals, hd ? (size_t)CU_MAX_TOPK * CU_MAX_TOPK * 4 : 0),
        MEMPLAN_ENTRY(b->tidx, hd ? (size_t)CU_MAX_TOPK * CU_MAX_TOPK * 4 : 0),
        MEMPLAN_ENTRY(b->dtok, hd ? Rd * 4 : 0),
        MEMPLAN_ENTRY(b->dpos, hd ? Rd * 4 : 0),
        MEMPLAN_ENTRY(b->fmask, hd ? (size_t)CU_MAX_TOPK * FRS_MASK_WORDS(CU_MAX_TOPK * CU_MAX_DEPTH) * 8 : 0),
        MEMPLAN_ENTRY(b->tree.score, hd ? cuda_tree_dev_bytes(CU_MAX_TOPK, CU_MAX_DEPTH) : 0),
        MEMPLAN_ENTRY(b->path, hd ? FRS_MAX_TREE * 4 : 0),
    };
    _Static_assert(MEMPLAN_LEN(tab) == CU_STATE_BUFFERS, "the plan covers every state buffer of struct cu_backend");
    char what[128];
    snprintf(what, sizeof what, "KV cache (%d layers x %d tokens), draft state and activations (%d rows)", b->L,
             b->lim.max_ctx, b->R);
    struct memplan mp;
    memplan_init(&mp, "cuda backend", what, tab, MEMPLAN_LEN(tab), MEMPLAN_LEN(tab), 256);
    FRS_TRY(cu_alloc_plan(&mp, &b->amem));
    b->abytes = mp.total;
    memplan_log(&mp);
    FRS_CUDA_CHECK(cudaMemset(b->amem, 0, b->abytes));
    if (b->d)
        cuda_tree_dev_carve(&b->tree, b->tree.score, CU_MAX_TOPK, CU_MAX_DEPTH);
    b->d_tree = &b->d_rb->tree;
    FRS_CUDA_CHECK(cudaMallocHost((void **)&b->h_rb, sizeof *b->h_rb));
    b->h_tree = &b->h_rb->tree;
    FRS_CUDA_CHECK(cudaMallocHost((void **)&b->h_keys, R * 8));
    /* rope tables */
    float *inv = malloc((size_t)(b->t.D > b->dr.D ? b->t.D : b->dr.D) * sizeof(float));
    if (!inv)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    rope_inv_freq(&b->m->cfg, inv);
    cudaError_t e = cudaMemcpy(b->inv_freq, inv, D / 2 * 4, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && b->d) {
        rope_inv_freq(&b->d->cfg, inv);
        e = cudaMemcpy(b->dinv_freq, inv, (size_t)b->dr.D / 2 * 4, cudaMemcpyHostToDevice);
    }
    free(inv);
    FRS_CUDA_CHECK(e);
    return FRS_OK;
}

/* ---- the forward passes ---------------------------------------------------------------------- */

/* opts.l2_prefetch bits: which weights of a decode step (n == 1, target) are prefetched into L2 while
 * the kernels before their GEMV run */
enum { CU_PF_O = 1, CU_PF_QKV = 2, CU_PF_GU = 4 };
#define CU_PF_GU_BYTES ((size_t)16 << 20) /* the gate/up prefix prefetched (half gate rows, half up rows) */

/* fork a prefetch of bytes at p into L2 off b->st (it runs beside the kernels queued after this
 * point); cu_pf_join joins it back */
static enum frs_status cu_pf(struct cu_backend *b, const void *p, size_t bytes)
{
    FRS_CUDA_CHECK(cudaEventRecord(b->pf_fork, b->st));
    FRS_CUDA_CHECK(cudaStreamWaitEvent(b->st2, b->pf_fork, 0));
    b->pf_open = 1;
    return cuda_l2_prefetch(p, bytes, b->st2);
}

static enum frs_status cu_pf_join(struct cu_backend *b)
{
    if (!b->pf_open)
        return FRS_OK;
    b->pf_open = 0;
    FRS_CUDA_CHECK(cudaEventRecord(b->pf_join, b->st2));
    FRS_CUDA_CHECK(cudaStreamWaitEvent(b->st, b->pf_join, 0));
    return FRS_OK;
}

/* a target matrix's bytes on the device (FP8 or bf16) and its address */
static const void *cu_wptr(const struct cu_fp8 *w8, const uint16_t *w) { return w8->w ? (const void *)w8->w : w; }
static size_t cu_wbytes(const struct cu_fp8 *w8, int rows, int cols)
{
    return (size_t)rows * (size_t)cols * (w8->w ? 1u : 2u);
}

/* One transformer layer's attention + MLP over n rows of x (fp32 residual, updated in place).
 * in_norm NULL: attention reads x itself (EAGLE layer 0). kc/vc: this layer's caches. */
static enum frs_status cu_layer_forward(struct cu_backend *b, const struct cu_dims *dm, const struct cu_layer *ly,
                                        int n, float *x, uint16_t *xn, float *qkv, float *q, uint16_t *att, float *gu,
                                        uint16_t *act, uint16_t *kc, uint16_t *vc, const float *inv_freq,
                                        const int32_t *pos, const int32_t *slot0, const int32_t *prefix,
                                        const uint64_t *mask, int mask_cols, int reduce)
{
    const int C = dm->C, D = dm->D, H = dm->H, KV = dm->KV, F = dm->F;
    const int qkvw = (H + 2 * KV) * D;
    cudaStream_t st = b->st;
    const int pf = n == 1 && reduce ? b->opts.l2_prefetch : 0; /* target decode steps only */
    /* residual accumulation: rank 0 adds into x, the others write their partial, then sum */
    const float beta = (!reduce || !b->nccl || b->comm->rank == 0) ? 1.0f : 0.0f;
    if (ly->attn_norm)
        FRS_TRY(cuda_rmsnorm(x, NULL, n, C, ly->attn_norm, dm->eps, NULL, xn, C, st));
    else
        FRS_TRY(cuda_f32_to_bf16(x, C, n, C, xn, C, st));
    FRS_TRY(cu_mm(b, xn, C, n, ly->wqkv, &ly->qkv8, qkvw, C, qkv, qkvw, 0.0f));
    if (pf & CU_PF_O) /* o's weights during RoPE and attention */
        FRS_TRY(cu_pf(b, cu_wptr(&ly->o8, ly->wo), cu_wbytes(&ly->o8, C, H * D)));
    FRS_TRY(cuda_rope_qkv(qkv, qkvw, n, H, KV, D, pos, inv_freq, q, kc, vc, slot0, st));
    FRS_TRY(cuda_attention_layout(q, kc, vc, prefix, n, mask, mask_cols, H, KV, D, att, b->scratch, b->n_sm,
                                  reduce ? b->att_layout : b->att_default, st));
    FRS_TRY(cu_mm(b, att, H * D, n, ly->wo, &ly->o8, C, H * D, x, C, beta));
    if (reduce && b->nccl)
        FRS_TRY(nccl_allreduce_sum(b->comm, x, (size_t)n * C, FRS_DTYPE_F32, st));
    if (pf & CU_PF_GU) { /* the first rows of gate and of up during the norm */
        const size_t row = cu_wbytes(&ly->gu8, 1, C), half = CU_PF_GU_BYTES / 2 < row * F ? CU_PF_GU_BYTES / 2 : row * F;
        const char *w = (const char *)cu_wptr(&ly->gu8, ly->wgu);
        FRS_TRY(cu_pf(b, w, half));
        FRS_TRY(cuda_l2_prefetch(w + row * F, half, b->st2));
    }
    FRS_TRY(cuda_rmsnorm(x, NULL, n, C, ly->mlp_norm, dm->eps, NULL, xn, C, st));
    FRS_TRY(cuda_gate_up_swiglu(&b->blas, xn, n, ly->wgu, ly->gu8.w, ly->gu8.s, F, C, gu, act, b->deq));
    FRS_TRY(cu_mm(b, act, F, n, ly->wdown, &ly->down8, C, F, x, C, beta));
    if (reduce && b->nccl)
        FRS_TRY(nccl_allreduce_sum(b->comm, x, (size_t)n * C, FRS_DTYPE_F32, st));
    return FRS_OK;
}

/* Target forward of n tokens (b->tok) at positions b->pos into cache slots [*slot0, *slot0+n)
 * (attention prefix = *slot0), mask among the n (NULL = causal). hid gets all n rows; the LM head
 * runs on rows [lm_from, lm_from + lm_n) into logits rows 0.. */
static enum frs_status cu_target_forward(struct cu_backend *b, int n, const int32_t *slot0, const uint64_t *mask,
                                         int lm_from, int lm_n)
{
    const int C = b->t.C, kvw = b->t.KV * b->t.D;
    const size_t layer = (size_t)b->lim.max_ctx * kvw;
    cudaStream_t st = b->st;
    const int pf_qkv = n == 1 && (b->opts.l2_prefetch & CU_PF_QKV);
    const int qkvw = (b->t.H + 2 * b->t.KV) * b->t.D;
    enum frs_status fs = cuda_embed(b->embed, C, b->tok, n, b->x, NULL, 0, st);
    for (int l = 0; l < b->L && fs == FRS_OK; l++) {
        const struct cu_layer *ly = &b->layers[l];
        if (pf_qkv) /* this layer's qkv weights during the norm before them */
            fs = cu_pf(b, cu_wptr(&ly->qkv8, ly->wqkv), cu_wbytes(&ly->qkv8, qkvw, C));
        if (fs == FRS_OK)
            fs = cu_layer_forward(b, &b->t, ly, n, b->x, b->xn, b->qkv, b->q, b->att, b->gu, b->act, b->kc + l * layer,
                                  b->vc + l * layer, b->inv_freq, b->pos, slot0, slot0, mask, n, 1);
    }
    if (fs == FRS_OK)
        fs = cuda_rmsnorm(b->x, NULL, n, C, b->final_norm, b->t.eps, NULL, b->hid, C, st);
    if (fs == FRS_OK)
        fs = cu_mm(b, b->hid + (size_t)lm_from * C, C, lm_n, b->lm_head, &b->lm8, b->Vl, C, b->logits, b->Vl, 0.0f);
    const enum frs_status js = cu_pf_join(b); /* a capture must end with st2 joined, also after an error */
    return fs != FRS_OK ? fs : js;
}

/* Draft forward of n rows whose fc input is in b->din (positions b->dpos, KV at draft slots
 * [*slot0, ...), prefix *prefix, optional tree mask over mask_cols): output hidden in b->dx. */
static enum frs_status cu_draft_forward(struct cu_backend *b, int n, const int32_t *slot0, const int32_t *prefix,
                                        const uint64_t *mask, int mask_cols)
{
    const int C = b->dr.C;
    FRS_TRY(cuda_matmul(&b->blas, b->din, 2 * C, n, b->fc, C, 2 * C, b->dx, C, 0.0f));
    if (b->fc_bias)
        FRS_TRY(cuda_add_bias(b->dx, b->fc_bias, n, C, b->st));
    return cu_layer_forward(b, &b->dr, &b->dl, n, b->dx, b->dxn, b->dqkv, b->dq, b->datt, b->dgu, b->dact, b->dkc,
                            b->dvc, b->dinv_freq, b->dpos, slot0, prefix, mask, mask_cols, 0);
}

/* ---- create / destroy / reset ----------------------------------------------------------------- */

static void cu_destroy(struct frs_backend *be)
{
    struct cu_backend *b = cu_of(be);
    if (!b)
        return;
    if (b->hang_release)
        *(volatile int *)b->hang_release = 1; /* let a test hook's spinning kernel end */
    if (b->st)
        cudaStreamSynchronize(b->st);
    if (b->hang_release)
        cudaFreeHost(b->hang_release);
    cuda_batch_free(b->bat);
    if (b->g_decode)
        cudaGraphExecDestroy(b->g_decode);
    for (int i = 0; i <= FRS_MAX_TREE; i++)
        for (int j = 0; j < 2; j++)
            for (int m = 0; m < CU_VERIFY_MODES; m++)
                if (b->g_verify[i][j][m].exec)
                    cudaGraphExecDestroy(b->g_verify[i][j][m].exec);
    for (int i = 0; i <= CU_CATCHUP_GRAPHS; i++)
        if (b->g_catch[i].exec)
            cudaGraphExecDestroy(b->g_catch[i].exec);
    for (int i = 0; i < b->n_grow; i++)
        if (b->g_grow[i].g.exec)
            cudaGraphExecDestroy(b->g_grow[i].g.exec);
    if (b->ev)
        cudaEventDestroy(b->ev);
    if (b->pf_fork)
        cudaEventDestroy(b->pf_fork);
    if (b->pf_join)
        cudaEventDestroy(b->pf_join);
    if (b->st2)
        cudaStreamDestroy(b->st2);
    cuda_blas_free(&b->blas);
    if (b->st)
        cudaStreamDestroy(b->st);
    cudaFree(b->wmem);
    cudaFree(b->amem);
    if (b->h_rb)
        cudaFreeHost(b->h_rb);
    if (b->h_keys)
        cudaFreeHost(b->h_keys);
    free(b->h_logits);
    free(b->layers);
    free(b);
    be->impl = NULL;
}

static enum frs_status cu_check(const struct llama_model *m, const struct eagle_draft *d,
                                const struct frs_limits *lim)
{
    if (!m || !lim)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: model and limits are required");
    if (lim->max_ctx <= 0 || lim->prefill_chunk <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: limits 'max_ctx' (%d) and 'prefill_chunk' (%d) must be > 0",
                       lim->max_ctx, lim->prefill_chunk);
    if (lim->max_tree < 0 || lim->max_tree > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: limit 'max_tree' must be in [0, %d] (got %d)", FRS_MAX_TREE,
                       lim->max_tree);
    if (d && lim->max_tree < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: a draft head needs limit 'max_tree' >= 1 (got %d)",
                       lim->max_tree);
    if (lim->max_tree >= lim->max_ctx)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: limit 'max_tree' (%d) must be below 'max_ctx' (%d)",
                       lim->max_tree, lim->max_ctx);
    const struct llama_config *c = &m->cfg;
    if (c->hidden_size <= 0 || c->head_dim <= 0 || m->n_heads_local <= 0 || m->n_kv_heads_local <= 0 ||
        m->n_heads_local % m->n_kv_heads_local || m->ffn_local <= 0 || m->vocab_local <= 0 ||
        c->num_hidden_layers <= 0 || !m->layers)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: model %s is not loaded or inconsistent",
                       m->dir ? m->dir : "?");
    if (c->head_dim % 8 || c->head_dim > 256)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda backend: %s/config.json: head_dim %d (the attention kernel needs a "
                       "multiple of 8, at most 256)", m->dir ? m->dir : "?", c->head_dim);
    if (d) {
        const struct llama_config *dc = &d->cfg;
        if (dc->head_dim % 8 || dc->head_dim > 256 || dc->num_attention_heads % dc->num_key_value_heads)
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda backend: draft %s/config.json: head_dim %d, heads %d / kv %d",
                           d->dir ? d->dir : "?", dc->head_dim, dc->num_attention_heads, dc->num_key_value_heads);
        if (d->k < 1 || !d->lm_head.data)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend: draft %s has no LM head rows (k = %d)",
                           d->dir ? d->dir : "?", d->k);
    }
    return FRS_OK;
}

/* the batched ops' state (cuda_batch.c) over this backend's weights and stream, when lim->max_seqs > 0 */
static enum frs_status cu_batch_create(struct frs_backend *be, struct cu_backend *b)
{
    be->kv_blocks = 0;
    if (b->lim.max_seqs <= 0)
        return FRS_OK;
    struct cuda_batch_layer *ls = malloc((size_t)b->L * sizeof *ls);
    if (!ls)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    for (int l = 0; l < b->L; l++) {
        const struct cu_layer *y = &b->layers[l];
        ls[l] = (struct cuda_batch_layer){y->attn_norm, y->wqkv, y->wo, y->mlp_norm, y->wgu, y->wdown,
                                          {y->qkv8.w, y->qkv8.s}, {y->o8.w, y->o8.s}, {y->gu8.w, y->gu8.s},
                                          {y->down8.w, y->down8.s}};
    }
    struct cuda_batch_model v = {
        .st = b->st, .blas = &b->blas, .n_sm = b->n_sm, .comm = b->comm, .nccl = b->nccl,
        .dev_sampling = b->dev_sampling, .graphs = b->graphs, .C = b->t.C, .H = b->t.H, .KV = b->t.KV,
        .D = b->t.D, .F = b->t.F,
        .L = b->L, .V = b->V, .Vl = b->Vl, .voff = b->voff, .eps = b->t.eps, .embed = b->embed,
        .lm_head = b->lm_head, .final_norm = b->final_norm, .layers = ls, .inv_freq = b->inv_freq,
        .draft = b->d != NULL, .dkv = b->d ? b->dr.KV * b->dr.D : 0,
        .lm8 = {b->lm8.w, b->lm8.s}, .deq = b->deq,
        .att_mma = !b->opts.batch_att_mma || b->opts.attention == FRS_ATTN_CUDA_CORES ||
                           !cuda_attn_mma_head_dim_ok(b->t.D)
                       ? 0
                   : b->opts.attention == FRS_ATTN_MMA_BF16                                          ? 1
                                                                                                     : 3,
        .att_decode = b->opts.batch_att_mma >= 3 ? 2 : b->opts.batch_att_mma >= 2,
        .draft_dev = b->opts.batch_draft_dev,
    };
    v.att_tree_terms = v.att_mma == 3 && b->opts.batch_att_terms == 2 ? 2 : v.att_mma;
    struct cuda_batch_model vd = v;
    if (b->d) {
        if (b->dr.C != b->t.C) {
            free(ls);
            return FRS_ERR(FRS_ERR_SHAPE, "cuda backend: draft hidden size %d differs from the target's %d", b->dr.C,
                           b->t.C);
        }
        vd.dlayer = (struct cuda_batch_layer){b->dl.attn_norm, b->dl.wqkv, b->dl.wo, b->dl.mlp_norm, b->dl.wgu,
                                              b->dl.wdown, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
        vd.fc = b->fc;
        vd.fc_bias = b->fc_bias;
        vd.dlm_head = b->dlm_head;
        vd.ids = b->ids;
        vd.dinv_freq = b->dinv_freq;
        vd.dH = b->dr.H;
        vd.dKV = b->dr.KV;
        vd.dD = b->dr.D;
        vd.dF = b->dr.F;
        vd.K = b->K;
        vd.deps = b->dr.eps;
    }
    enum frs_status st = cuda_batch_create(&b->bat, &vd, &b->lim, &be->kv_blocks);
    free(ls);
    return st;
}

struct cuda_batch *cuda_backend_batch(struct frs_backend *be)
{
    return be && be->impl && be->ops && be->ops->create == frs_backend_cuda_ops.create ? cu_of(be)->bat : NULL;
}

static enum frs_status cu_create(struct frs_backend *be, const struct llama_model *m, const struct eagle_draft *d,
                                 struct frs_comm *comm, const struct frs_limits *lim,
                                 const struct frs_backend_options *opt)
{
    FRS_TRY(cu_check(m, d, lim));
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
        return FRS_ERR(FRS_ERR_CUDA, "cuda backend: no CUDA device");
    if (comm && comm->device >= 0)
        FRS_CUDA_CHECK(cudaSetDevice(comm->device));
    struct cu_backend *b = calloc(1, sizeof *b);
    if (!b)
        return FRS_ERR(FRS_ERR_OOM, "cuda backend: out of host memory");
    be->impl = b;
    be->ops = &frs_backend_cuda_ops;
    be->target_len = 0;
    be->max_ctx = lim->max_ctx;
    b->opts = opt ? *opt : frs_backend_options_default();
    b->m = m;
    b->d = d;
    b->comm = comm;
    b->tp = comm ? comm->size : 1;
    b->nccl = comm && (comm->size > 1 || comm->nccl_comm != NULL);
    b->lim = *lim;
    const struct llama_config *c = &m->cfg;
    b->t = (struct cu_dims){c->hidden_size, m->n_heads_local, m->n_kv_heads_local, c->head_dim, m->ffn_local,
                            c->rms_norm_eps};
    b->L = c->num_hidden_layers;
    b->V = (int)m->embed.rows;
    b->Vl = m->vocab_local;
    b->voff = m->vocab_offset;
    b->R = lim->prefill_chunk > lim->max_tree ? lim->prefill_chunk : lim->max_tree;
    if (d) {
        const struct llama_config *dc = &d->cfg;
        b->dr = (struct cu_dims){dc->hidden_size, dc->num_attention_heads, dc->num_key_value_heads, dc->head_dim,
                                 dc->intermediate_size, dc->rms_norm_eps};
        b->K = d->k;
        b->Rd = lim->prefill_chunk > CU_MAX_TOPK ? lim->prefill_chunk : CU_MAX_TOPK;
    }
    /* the A/B switches (runtime/backend.h), read here once */
    b->graphs = b->opts.cuda_graphs != 0;
    b->dev_sampling = b->opts.device_sampling && b->tp == 1 && b->Vl <= CUDA_SAMPLE_MAX_COLS;
    b->dev_accept = b->opts.device_accept != 0;
    b->att_default = b->opts.attention == FRS_ATTN_CUDA_CORES ? CUDA_ATT_MULTI_ROW
                     : b->opts.attention == FRS_ATTN_MMA_BF16 ? CUDA_ATT_AUTO_BF16
                                                              : CUDA_ATT_AUTO;
    b->att_layout = b->att_default;
    enum frs_status st = FRS_OK;
    cudaError_t e = cudaStreamCreateWithFlags(&b->st, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&b->ev, cudaEventDisableTiming);
    if (e == cudaSuccess && b->opts.l2_prefetch)
        e = cudaStreamCreateWithFlags(&b->st2, cudaStreamNonBlocking);
    if (e == cudaSuccess && b->opts.l2_prefetch)
        e = cudaEventCreateWithFlags(&b->pf_fork, cudaEventDisableTiming);
    if (e == cudaSuccess && b->opts.l2_prefetch)
        e = cudaEventCreateWithFlags(&b->pf_join, cudaEventDisableTiming);
    if (e != cudaSuccess) {
        st = FRS_ERR(FRS_ERR_CUDA, "cuda backend: stream/event creation failed: %s", cudaGetErrorString(e));
        goto fail;
    }
    FRS_TRY_GOTO(cuda_blas_create(&b->blas, b->st, b->opts.cublaslt, b->opts.pdl), st, fail);
    b->blas.lt_time = b->opts.cublaslt == 2 ? 0 : b->opts.cublaslt == 3 ? 2 : 1;
    b->blas.fp8_gemv_unroll = b->opts.fp8_gemv_unroll;
    b->blas.fp8_mma = b->opts.fp8_mma;
    cuda_row_kernels_select(b->opts.row_kernels);
    cuda_attention_combine_select(b->opts.att_combine_warp);
    b->n_sm = b->blas.n_sm;
    if (b->opts.test_hang_step > 0) {
        b->hang_step = b->opts.test_hang_step;
        e = cudaHostAlloc((void **)&b->hang_release, sizeof(int), cudaHostAllocMapped);
        if (e != cudaSuccess) {
            st = FRS_ERR(FRS_ERR_CUDA, "cuda backend: FRS_TEST_GPU_HANG_STEP: cudaHostAlloc: %s", cudaGetErrorString(e));
            goto fail;
        }
        *b->hang_release = 0;
    }
    FRS_TRY_GOTO(cu_upload_weights(b), st, fail);
    FRS_TRY_GOTO(cu_alloc_state(b), st, fail);
    FRS_TRY_GOTO(cu_batch_create(be, b), st, fail);
    return FRS_OK;
fail:
    cu_destroy(be);
    return st;
}

static enum frs_status cu_reset(struct frs_backend *be)
{
    struct cu_backend *b = cu_of(be);
    const int32_t zero[SC_COUNT] = {0};
    FRS_TRY(cuda_set_i32(b->scal, zero, SC_COUNT, b->st));
    b->target_len = b->draft_len = 0;
    b->last_rows = 0;
    b->have_tree = 0;
    be->target_len = 0;
    return FRS_OK;
}

/* ---- prefill / decode / next_token ---------------------------------------------------------- */

/* The host's wait for the work queued on b->st, for every read-back of the generation path
 * (issue 12 item 11). With device collectives on, nccl_wait_event polls NCCL's asynchronous
 * error while it waits, with a time limit, and aborts the communicator on an error or time-out,
 * so a dead or stuck peer cannot hang this rank (the step watchdog bounds the step as a whole).
 * On one GPU without NCCL, a plain event synchronisation (there is no peer to wait for). */
static enum frs_status cu_host_wait(struct cu_backend *b, const char *what)
{
    FRS_CUDA_CHECK(cudaEventRecord(b->ev, b->st));
    if (!b->nccl) {
        FRS_CUDA_CHECK(cudaEventSynchronize(b->ev));
        return FRS_OK;
    }
    enum frs_status st = nccl_wait_event(b->comm, b->ev, 0);
    if (st != FRS_OK) {
        char why[768];
        snprintf(why, sizeof why, "%s", frs_error_msg());
        return FRS_ERR(st, "cuda backend, %s: %s", what, why);
    }
    return FRS_OK;
}

/* the FRS_TEST_GPU_HANG_STEP test hook: a device-side hang at the chosen step */
static enum frs_status cu_debug_step(struct cu_backend *b)
{
    if (b->hang_step > 0 && ++b->n_steps == b->hang_step) {
        fprintf(stderr, "frspec: FRS_TEST_GPU_HANG_STEP: step %d spins on device %d until released\n", b->n_steps,
                b->comm ? b->comm->device : 0);
        int *dev = NULL;
        FRS_CUDA_CHECK(cudaHostGetDevicePointer((void **)&dev, b->hang_release, 0));
        FRS_TRY(cuda_debug_spin((volatile int *)dev, b->st));
    }
    return FRS_OK;
}

static enum frs_status cu_check_room(struct cu_backend *b, int n, const char *what)
{
    if (n <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend %s: %d tokens, need at least 1", what, n);
    /* no room is reserved for a draft tree: the engine shrinks the tree to what is left */
    if ((long)b->target_len + n > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG,
                       "cuda backend %s: %d tokens after the %d already in the context exceed the context "
                       "limit max_ctx = %d",
                       what, n, b->target_len, b->lim.max_ctx);
    return FRS_OK;
}

/* append c tokens already in b->tok: one forward, keep features, advance the length */
static enum frs_status cu_append_step(struct cu_backend *b, int c)
{
    cudaStream_t st = b->st;
    FRS_TRY(cuda_seq_positions(b->scal + SC_LEN, 0, c, b->pos, NULL, st));
    FRS_TRY(cu_target_forward(b, c, b->scal + SC_LEN, NULL, c - 1, 1));
    if (b->d)
        FRS_TRY(cuda_store_rows(b->feat, b->t.C, b->scal + SC_LEN, 0, b->hid, b->t.C, NULL, c, st));
    return cuda_add_i32(b->scal + SC_LEN, c, st);
}

static void cu_advance(struct frs_backend *be, struct cu_backend *b, int c)
{
    b->target_len += c;
    be->target_len = b->target_len;
    b->last_rows = 1;
    b->last_row = 0;
}

static enum frs_status cu_prefill(struct frs_backend *be, const int32_t *tokens, int n)
{
    struct cu_backend *b = cu_of(be);
    FRS_TRY(cu_check_room(b, n, "prefill"));
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= b->V)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend prefill: token %d at %d outside the vocabulary [0, %d)",
                           (int)tokens[i], i, b->V);
    for (int done = 0; done < n;) {
        const int c = n - done < b->lim.prefill_chunk ? n - done : b->lim.prefill_chunk;
        FRS_CUDA_CHECK(cudaMemcpyAsync(b->tok, tokens + done, (size_t)c * 4, cudaMemcpyHostToDevice, b->st));
        FRS_TRY(cu_append_step(b, c));
        cu_advance(be, b, c);
        done += c;
    }
    return FRS_OK;
}

static enum frs_status cu_decode(struct frs_backend *be, int32_t token)
{
    struct cu_backend *b = cu_of(be);
    FRS_TRY(cu_check_room(b, 1, "decode"));
    FRS_TRY(cu_debug_step(b));
    if (token < 0 || token >= b->V)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend decode: token %d outside the vocabulary [0, %d)", (int)token,
                       b->V);
    FRS_TRY(cuda_set_i32(b->tok, &token, 1, b->st));
    if (!b->graphs) {
        FRS_TRY(cu_append_step(b, 1));
    } else {
        if (!b->g_decode) {
            /* capture once; every step-varying value is read from device memory */
            FRS_CUDA_CHECK(cudaStreamBeginCapture(b->st, cudaStreamCaptureModeThreadLocal));
            FRS_TRY(cuda_graph_end_capture(b->st, cu_append_step(b, 1), &b->g_decode));
        }
        FRS_CUDA_CHECK(cudaGraphLaunch(b->g_decode, b->st));
    }
    cu_advance(be, b, 1);
    return FRS_OK;
}

/* Run step(b, arg) on b->st: eagerly while use_graph is 0; otherwise eagerly at the first use
 * (cuBLASLt times its algorithms outside capture), captured into g at the second and replayed
 * from then on. Every step-varying value the step reads must live in device memory. */
static enum frs_status cu_graph_run(struct cu_backend *b, struct cu_graph *g, int use_graph,
                                    enum frs_status (*step)(struct cu_backend *, const void *), const void *arg)
{
    if (use_graph && g->exec) {
        FRS_CUDA_CHECK(cudaGraphLaunch(g->exec, b->st));
        return FRS_OK;
    }
    const int capture = use_graph && g->uses >= 1;
    if (capture)
        FRS_CUDA_CHECK(cudaStreamBeginCapture(b->st, cudaStreamCaptureModeThreadLocal));
    enum frs_status fs = step(b, arg);
    if (capture) {
        FRS_TRY(cuda_graph_end_capture(b->st, fs, &g->exec));
        FRS_CUDA_CHECK(cudaGraphLaunch(g->exec, b->st));
    }
    FRS_TRY(fs);
    g->uses++;
    return FRS_OK;
}

/* logits rows [0, n) to the host for the sampling functions (temperature > 0, host path) */
static enum frs_status cu_logits_to_host(struct cu_backend *b, int n)
{
    if (!b->h_logits) {
        const size_t rows = (size_t)(b->lim.max_tree > 1 ? b->lim.max_tree : 1);
        b->h_logits = malloc(rows * (size_t)b->Vl * sizeof(float));
        if (!b->h_logits)
            return FRS_ERR(FRS_ERR_OOM, "cuda backend: cannot allocate host logits for sampling");
    }
    FRS_CUDA_CHECK(cudaMemcpyAsync(b->h_logits, b->logits, (size_t)n * b->Vl * sizeof(float), cudaMemcpyDeviceToHost, b->st));
    FRS_TRY(cu_host_wait(b, "reading the logits back"));
    return FRS_OK;
}

/* temperature > 0 answered on the device (cuda_sample.h): one rank holding the whole vocabulary,
 * opts.device_sampling, valid parameters (the host path reports invalid ones) */
static int cu_device_sampling(const struct cu_backend *b, const struct frs_sampling *s)
{
    return b->dev_sampling && s && s->temperature > 0.0f && s->top_k >= 0 && s->top_p >= 0.0f;
}

/* the request's sampling parameters into device memory, outside any graph; row r of the next
 * sampling launch draws with Gumbel stream draw0 + r */
static enum frs_status cu_set_sampling(struct cu_backend *b, const struct frs_sampling *s, uint64_t draw0)
{
    const struct cuda_sample_params h = {s->temperature, s->top_p, s->top_k, 0, s->seed, draw0};
    return cuda_sample_set_params(b->sparams, &h, b->st);
}

static enum frs_status cu_next_token(struct frs_backend *be, const struct frs_sampling *s, uint64_t draw, int32_t *out)
{
    struct cu_backend *b = cu_of(be);
    if (b->last_rows <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda backend next_token: no forward pass yet (prefill first)");
    const float *row = b->logits + (size_t)b->last_row * b->Vl;
    cudaStream_t st = b->st;
    if (!s || s->temperature <= 0.0f) {
        FRS_TRY(cuda_argmax_keys(row, 1, b->Vl, b->Vl, b->voff, b->keys, st));
        if (b->nccl)
            FRS_TRY(nccl_argmax_keys(b->comm, b->keys, 1, st));
        FRS_CUDA_CHECK(cudaMemcpyAsync(b->h_keys, b->keys, 8, cudaMemcpyDeviceToHost, st));
        FRS_TRY(cu_host_wait(b, "next token"));
        *out = frs_argmax_key_index(b->h_keys[0]);
        return FRS_OK;
    }
    if (cu_device_sampling(b, s)) {
        /* the draw on the device; 8 bytes back (the token and the fallback flags) */
        FRS_TRY(cu_set_sampling(b, s, draw));
        FRS_CUDA_CHECK(cudaMemsetAsync(b->d_rb->flags, 0, sizeof(uint32_t), st));
        FRS_TRY(cuda_sample_prepare(row, 1, b->Vl, b->Vl, b->sparams, b->srows, b->d_rb->flags, st));
        FRS_TRY(cuda_sample_draw(row, 1, b->Vl, b->Vl, b->voff, b->sparams, b->srows, NULL, b->sscratch,
                                 &b->d_rb->token, b->d_rb->flags, st));
        FRS_CUDA_CHECK(cudaMemcpyAsync(&b->h_rb->token, &b->d_rb->token, sizeof(int32_t) + sizeof(uint32_t),
                              cudaMemcpyDeviceToHost, st));
        FRS_TRY(cu_host_wait(b, "next token (sampled)"));
        if (!b->h_rb->flags[0]) {
            b->samp_dev++;
            *out = b->h_rb->token;
            return FRS_OK;
        }
        /* a row the kernels left undecided: the host decides (the logits are intact) */
        b->samp_rows_host++;
    } else {
        b->samp_host++;
    }
    FRS_TRY(cu_logits_to_host(b, b->last_row + 1));
    const struct sampling_shard sh = {b->h_logits + (size_t)b->last_row * b->Vl, 1, b->Vl, b->voff};
    struct sampling_row r;
    FRS_TRY(sampling_prepare(b->comm, &sh, s, &r));
    return sampling_draw(b->comm, &sh, s, &r, &draw, NULL, NULL, out);
}

/* ---- speculative: draft_tree / verify / commit ------------------------------------------------- */

struct cu_catchup_arg {
    int from_end; /* the chunk starts from_end positions before the target length */
    int n;        /* its tokens, already in b->dtok */
    int last;     /* the chunk ends at the root */
};

/* The draft over n pending positions [T - from_end, T - from_end + n) (T = *SC_LEN), fc input
 * [embed(next token) | target feature], causal; the last chunk leaves the root's hidden row in
 * dx row 0 and the root token in SC_ROOT for the tree growth. */
static enum frs_status cu_draft_catchup(struct cu_backend *b, const void *arg)
{
    const struct cu_catchup_arg *a = arg;
    const int C = b->dr.C, n = a->n;
    cudaStream_t st = b->st;
    FRS_TRY(cuda_seq_positions(b->scal + SC_LEN, -a->from_end, n, b->dpos, b->scal + SC_DSLOT, st));
    FRS_TRY(cuda_embed(b->embed, C, b->dtok, n, NULL, b->din, 2 * C, st));
    FRS_TRY(cuda_load_rows(b->din + C, 2 * C, b->feat, C, b->scal + SC_DSLOT, 0, C, n, st));
    FRS_TRY(cu_draft_forward(b, n, b->scal + SC_DSLOT, b->scal + SC_DSLOT, NULL, 0));
    if (a->last) {
        if (n > 1)
            FRS_CUDA_CHECK(cudaMemcpyAsync(b->dx, b->dx + (size_t)(n - 1) * C, (size_t)C * sizeof(float),
                                  cudaMemcpyDeviceToDevice, st));
        FRS_CUDA_CHECK(cudaMemcpyAsync(b->scal + SC_ROOT, b->dtok + n - 1, sizeof(int32_t), cudaMemcpyDeviceToDevice, st));
    }
    return FRS_OK;
}

/* The EAGLE-2 tree of shape p grown from the root (hidden row 0 of dx, token SC_ROOT): depth 1
 * is the root row's top-k over the reduced vocabulary; each deeper level forwards the frontier
 * at one shared position and expands it; finish writes the kept tree into d_tree. Shapes are
 * fixed by p, every step-varying value is in device memory: a graph per p. */
static enum frs_status cu_draft_grow(struct cu_backend *b, const void *arg)
{
    const struct frs_tree_params *p = arg;
    const int C = b->dr.C, k = p->topk;
    cudaStream_t st = b->st;
    FRS_TRY(cuda_f32_to_bf16(b->dx, C, 1, C, b->dxn, C, st));
    FRS_TRY(cuda_matmul(&b->blas, b->dxn, C, 1, b->dlm_head, b->K, C, b->dlogits, b->K, 0.0f));
    FRS_TRY(cuda_logsoftmax_topk(b->dlogits, 1, b->K, b->K, k, b->ids, b->tvals, b->tidx, st));
    FRS_TRY(cuda_tree_first(&b->tree, k, b->tvals, b->tidx, st));
    for (int level = 1; level < p->depth; level++) {
        FRS_TRY(cuda_tree_frontier(&b->tree, k, level, b->scal + SC_LEN, b->dx, 0, C, b->din, 2 * C, b->dtok, b->dpos,
                                   b->scal + SC_DSLOT, b->fmask, st));
        FRS_TRY(cuda_embed(b->embed, C, b->dtok, k, NULL, b->din, 2 * C, st));
        FRS_TRY(cu_draft_forward(b, k, b->scal + SC_DSLOT, b->scal + SC_LEN, b->fmask, level * k));
        FRS_TRY(cuda_f32_to_bf16(b->dx, C, k, C, b->dxn, C, st));
        FRS_TRY(cuda_matmul(&b->blas, b->dxn, C, k, b->dlm_head, b->K, C, b->dlogits, b->K, 0.0f));
        FRS_TRY(cuda_logsoftmax_topk(b->dlogits, k, b->K, b->K, k, b->ids, b->tvals, b->tidx, st));
        FRS_TRY(cuda_tree_expand(&b->tree, k, level, b->tvals, b->tidx, st));
    }
    return cuda_tree_finish(&b->tree, k, p->depth, p->size, b->scal + SC_ROOT, b->d_tree, st);
}

static enum frs_status cu_draft_tree(struct frs_backend *be, const int32_t *next_tokens, int n_pending,
                                     const struct frs_tree_params *p)
{
    struct cu_backend *b = cu_of(be);
    if (!b->d)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: the backend was created without a draft head");
    const int T = b->target_len;
    if (n_pending < 1 || n_pending != T - b->draft_len)
        return FRS_ERR(FRS_ERR_INVALID_ARG,
                       "draft_tree: %d pending tokens given, the draft lags the target by %d positions "
                       "(target %d, draft %d; at least the root is pending)",
                       n_pending, T - b->draft_len, T, b->draft_len);
    if (p->depth < 1 || p->topk < 1 || p->size < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: depth %d, topk %d and size %d must be >= 1", p->depth, p->topk,
                       p->size);
    if (p->topk > b->K)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: topk %d exceeds the draft vocabulary K = %d", p->topk, b->K);
    if (p->topk > CU_MAX_TOPK || p->depth > CU_MAX_DEPTH)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "draft_tree: topk %d / depth %d exceed the CUDA backend's %d / %d", p->topk,
                       p->depth, CU_MAX_TOPK, CU_MAX_DEPTH);
    if (p->size > b->lim.max_tree)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: tree size %d exceeds the backend's max_tree %d", p->size,
                       b->lim.max_tree);
    if (T + p->size > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "draft_tree: %d cached tokens + a tree of %d exceed max_ctx %d", T, p->size,
                       b->lim.max_ctx);
    for (int i = 0; i < n_pending; i++)
        if (next_tokens[i] < 0 || next_tokens[i] >= b->V)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: token %d outside the vocabulary [0, %d)",
                           (int)next_tokens[i], b->V);
    cudaStream_t st = b->st;
    b->have_tree = 0;

    /* 1. the draft catches up over [draft_len, T), causal, in chunks; the steady state (a few
     * accepted tokens) is one graph per count, the tokens set outside it */
    const int chunk = b->Rd;
    for (int off = 0; off < n_pending; off += chunk) {
        const int n = n_pending - off < chunk ? n_pending - off : chunk;
        if (n <= FRS_MAX_TREE)
            FRS_TRY(cuda_set_i32(b->dtok, next_tokens + off, n, st));
        else
            FRS_CUDA_CHECK(cudaMemcpyAsync(b->dtok, next_tokens + off, (size_t)n * 4, cudaMemcpyHostToDevice, st));
        const struct cu_catchup_arg a = {n_pending - off, n, off + n == n_pending};
        const int use_graph = b->graphs && n_pending <= CU_CATCHUP_GRAPHS; /* one chunk: keyed by n alone */
        struct cu_graph eager = {0, NULL};
        FRS_TRY(cu_graph_run(b, use_graph ? &b->g_catch[n] : &eager, use_graph, cu_draft_catchup, &a));
    }
    b->draft_len = T;

    /* 2. the tree, a graph per shape */
    struct cu_graph *g = NULL;
    for (int i = 0; i < b->n_grow && !g; i++)
        if (b->g_grow[i].p.depth == p->depth && b->g_grow[i].p.topk == p->topk && b->g_grow[i].p.size == p->size)
            g = &b->g_grow[i].g;
    if (!g && b->n_grow < CU_GROW_GRAPHS) {
        b->g_grow[b->n_grow].p = *p;
        g = &b->g_grow[b->n_grow++].g;
    }
    struct cu_graph eager = {0, NULL};
    FRS_TRY(cu_graph_run(b, g ? g : &eager, b->graphs && g, cu_draft_grow, p));
    const int n_rec = cuda_tree_records(p->topk, p->depth);
    b->tree_n = (p->size - 1 < n_rec ? p->size - 1 : n_rec) + 1;
    b->have_tree = 1;
    return FRS_OK;
}

/* Row i of a verified tree sampled on the host (the device path's fallback for a row it left
 * undecided; rows are independent at TP 1): the token chosen after node i, the draw with draw
 * index = its position T + depth[i] + 1 (runtime/batch.h), as cpu_verify computes it. */
static enum frs_status cu_host_row(struct cu_backend *b, const struct frs_sampling *s, int T, struct frs_tree *tree,
                                   int i)
{
    if (!b->h_logits) {
        const size_t rows = (size_t)(b->lim.max_tree > 1 ? b->lim.max_tree : 1);
        b->h_logits = malloc(rows * (size_t)b->Vl * sizeof(float));
        if (!b->h_logits)
            return FRS_ERR(FRS_ERR_OOM, "cuda backend: cannot allocate host logits for sampling");
    }
    FRS_CUDA_CHECK(cudaMemcpyAsync(b->h_logits, b->logits + (size_t)i * b->Vl, (size_t)b->Vl * sizeof(float),
                          cudaMemcpyDeviceToHost, b->st));
    FRS_TRY(cu_host_wait(b, "reading a tree row's logits back"));
    const struct sampling_shard sh = {b->h_logits, 1, b->Vl, b->voff};
    struct sampling_row r;
    FRS_TRY(sampling_prepare(b->comm, &sh, s, &r));
    const uint64_t draw = (uint64_t)T + (uint64_t)tree->depth[i] + 1;
    return sampling_draw(b->comm, &sh, s, &r, &draw, NULL, NULL, &tree->argmax[i]);
}

struct cu_verify_arg {
    int n, mode; /* tree nodes, CU_VERIFY_* */
};

/* Verify's device work: inputs from the device tree, the target forward over the n nodes, then
 * the token chosen after each node into tree argmax, keyed by position (runtime/batch.h): greedy:
 * argmax keys; device sampling: the rows' filtered distributions and the draw of row j with draw
 * index draw0 + depth[j] (draw0 = target_len + 1, set with the sampling parameters); host
 * sampling: nothing more. Greedy and device sampling then run the greedy acceptance walk
 * (cuda_tree_accept -> d_rb->acc). */
static enum frs_status cu_verify_step(struct cu_backend *b, const void *arg)
{
    const struct cu_verify_arg *a = arg;
    const int n = a->n;
    cudaStream_t st = b->st;
    FRS_TRY(cuda_tree_verify_inputs(b->d_tree, n, b->scal + SC_LEN, b->tok, b->pos, b->mask, st));
    FRS_TRY(cu_target_forward(b, n, b->scal + SC_LEN, b->mask, 0, n));
    if (a->mode == CU_VERIFY_GREEDY) {
        FRS_TRY(cuda_argmax_keys(b->logits, n, b->Vl, b->Vl, b->voff, b->keys, st));
        if (b->nccl)
            FRS_TRY(nccl_argmax_keys(b->comm, b->keys, (size_t)n, st));
        FRS_TRY(cuda_tree_set_argmax(b->d_tree, b->keys, n, st));
        if (b->dev_accept)
            FRS_TRY(cuda_tree_accept(b->d_tree, NULL, NULL, &b->d_rb->acc, &b->d_rb->acc_ok, st));
    } else if (a->mode == CU_VERIFY_SAMPLE) {
        FRS_CUDA_CHECK(cudaMemsetAsync(b->d_rb->flags, 0, (size_t)n * sizeof(uint32_t), st));
        FRS_TRY(cuda_sample_prepare(b->logits, n, b->Vl, b->Vl, b->sparams, b->srows, b->d_rb->flags, st));
        FRS_TRY(cuda_sample_draw_keyed(b->logits, n, b->Vl, b->Vl, b->voff, b->sparams, b->srows, b->d_tree->depth,
                                       b->sscratch, b->d_tree->argmax, b->d_rb->flags, st));
        if (b->dev_accept)
            FRS_TRY(cuda_tree_accept(b->d_tree, NULL, NULL, &b->d_rb->acc, &b->d_rb->acc_ok, st));
    }
    return FRS_OK;
}

static enum frs_status cu_verify(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                                 struct frs_tree *tree)
{
    struct cu_backend *b = cu_of(be);
    if (!b->d || !b->have_tree)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "verify: no draft tree (call draft_tree first)");
    const int n = b->tree_n, T = b->target_len;
    if (T + n > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "verify: %d cached tokens + a tree of %d exceed max_ctx %d", T, n,
                       b->lim.max_ctx);
    FRS_TRY(cu_debug_step(b));
    cudaStream_t st = b->st;
    const int greedy = s->temperature <= 0.0f;
    const int mode = greedy ? CU_VERIFY_GREEDY : cu_device_sampling(b, s) ? CU_VERIFY_SAMPLE : CU_VERIFY_HOST;
    b->acc_valid = 0;
    if (mode == CU_VERIFY_SAMPLE) /* node j's token sits at position T + depth[j] + 1: its draw index */
        FRS_TRY(cu_set_sampling(b, s, (uint64_t)T + 1));
    /* one GPU: the whole forward + argmax (or + sampling) of an n-node tree is a CUDA graph per
     * mode, captured at the second verify of that size; every step-varying value (target length,
     * tree, sampling parameters) is read from device memory */
    const int use_graph = mode != CU_VERIFY_HOST && b->graphs && !b->nccl;
    /* attention: the tensor-core kernel (AUTO, any context) where it applies; else the CUDA-core
     * layout by context: one row per block on short prefixes, rows sharing K/V loads from ~0.4k
     * slots on (measured: tests/bench/NOTES-cuda.md, run 2) */
    const int mma = b->att_default != CUDA_ATT_MULTI_ROW && cuda_attention_auto_mma(n, b->t.D);
    const int multi = !mma && T >= 384;
    b->att_layout = mma ? b->att_default : multi ? CUDA_ATT_MULTI_ROW : CUDA_ATT_SINGLE_ROW;
    const struct cu_verify_arg a = {n, mode};
    struct cu_graph eager = {0, NULL};
    enum frs_status fs = cu_graph_run(b, use_graph ? &b->g_verify[n][multi][mode] : &eager, use_graph, cu_verify_step,
                                      &a);
    b->att_layout = b->att_default;
    FRS_TRY(fs);
    b->last_rows = n;
    b->last_row = n - 1;
    /* the one read-back of the iteration */
    FRS_CUDA_CHECK(cudaMemcpyAsync(b->h_rb, b->d_rb, sizeof *b->h_rb, cudaMemcpyDeviceToHost, st));
    FRS_TRY(cu_host_wait(b, "verify"));
    const struct frs_tree *t = b->h_tree;
    if (t->n != n)
        return FRS_ERR(FRS_ERR_INTERNAL, "verify: the device tree has %d nodes, expected %d (a kept candidate's parent "
                       "was cut: non-finite draft log-probs?)", t->n, n);
    /* the device walk answers accept_verified unless the host redoes part of the verdict below */
    b->acc_valid = b->dev_accept && mode != CU_VERIFY_HOST && b->h_rb->acc_ok == 1;
    b->acc_greedy = 1; /* the walk is greedy at every temperature (position-keyed argmax) */
    tree->n = n;
    memcpy(tree->token, t->token, (size_t)n * sizeof(int32_t));
    memcpy(tree->parent, t->parent, (size_t)n * sizeof(int32_t));
    memcpy(tree->depth, t->depth, (size_t)n * sizeof(int32_t));
    if (greedy) {
        memcpy(tree->argmax, t->argmax, (size_t)n * sizeof(int32_t));
    } else if (mode == CU_VERIFY_SAMPLE) {
        memcpy(tree->argmax, t->argmax, (size_t)n * sizeof(int32_t));
        int redo = 0;
        for (int i = 0; i < n; i++)
            if (b->h_rb->flags[i]) {
                FRS_TRY(cu_host_row(b, s, T, tree, i));
                redo++;
            }
        b->samp_dev += !redo;
        b->samp_rows_host += redo;
        if (redo)
            b->acc_valid = 0; /* the walk saw the device's undecided rows: the host walks the fixed tree */
    } else {
        /* sampling on the host: cpu_verify's computation over the read-back logits, each node's
         * token drawn with draw index = its position T + depth + 1 */
        b->samp_host++;
        FRS_TRY(cu_logits_to_host(b, n));
        const struct sampling_shard sh = {b->h_logits, n, b->Vl, b->voff};
        FRS_TRY(sampling_prepare(b->comm, &sh, s, b->rows));
        for (int i = 0; i < n; i++)
            b->draws[i] = (uint64_t)T + (uint64_t)t->depth[i] + 1;
        FRS_TRY(sampling_draw(b->comm, &sh, s, b->rows, b->draws, NULL, NULL, tree->argmax));
    }
    /* the sampling walk's fields, as cpu_verify leaves them (the engines walk greedily) */
    for (int i = 0; i < n; i++) {
        tree->child_prob[i] = 0.0f;
        tree->residual[i] = tree->argmax[i];
    }
    b->have_tree = 2;
    return FRS_OK;
}

static enum frs_status cu_commit(struct frs_backend *be, const int32_t *path, int n_path)
{
    struct cu_backend *b = cu_of(be);
    if (!b->d || b->have_tree != 2)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: no verified tree (call draft_tree and verify first)");
    const struct frs_tree *t = b->h_tree;
    if (n_path < 1 || n_path > t->n || path[0] != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: path of %d nodes must start at the root (0) and fit the tree of %d",
                       n_path, t->n);
    for (int j = 1; j < n_path; j++)
        if (path[j] <= 0 || path[j] >= t->n || t->parent[path[j]] != path[j - 1])
            return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: path[%d] = %d is not a child of node %d", j, (int)path[j],
                           (int)path[j - 1]);
    cudaStream_t st = b->st;
    const int kvw = b->t.KV * b->t.D;
    /* the path is on the device already when it is the device walk's (the engine's case) */
    const struct frs_accept *da = &b->h_rb->acc;
    const int32_t *dpath = b->path;
    if (b->acc_valid && da->n_path == n_path && memcmp(da->path, path, (size_t)n_path * sizeof *path) == 0)
        dpath = b->d_rb->acc.path;
    else
        FRS_TRY(cuda_set_i32(b->path, path, n_path, st));
    FRS_TRY(cuda_kv_gather(b->kc, b->vc, b->L, (size_t)b->lim.max_ctx * kvw, kvw, b->scal + SC_LEN, dpath, n_path,
                           st));
    FRS_TRY(cuda_store_rows(b->feat, b->t.C, b->scal + SC_LEN, 0, b->hid, b->t.C, dpath, n_path, st));
    FRS_TRY(cuda_add_i32(b->scal + SC_LEN, n_path, st));
    b->target_len += n_path;
    be->target_len = b->target_len;
    b->have_tree = 0;
    b->acc_valid = 0;
    return FRS_OK;
}

/* the last verify's device walk (backend.h accept) when it was made for this s and iter */
static enum frs_status cu_accept(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                                 struct frs_accept *out, int *done)
{
    const struct cu_backend *b = cu_of(be);
    /* the device walk is the greedy one (verify's argmax is position-keyed at every temperature):
     * it answers a greedy walk only */
    const int greedy = s->temperature <= 0.0f;
    *done = 0;
    if (!b->d || b->have_tree != 2 || !b->acc_valid || !greedy || !b->acc_greedy)
        return FRS_OK;
    const struct frs_accept *a = &b->h_rb->acc;
    if (a->n_path < 1 || a->n_path > b->tree_n || a->n_tokens != a->n_path)
        return FRS_ERR(FRS_ERR_INTERNAL, "accept: the device walk kept %d nodes (%d tokens) of a tree of %d",
                       a->n_path, a->n_tokens, b->tree_n);
    out->n_path = a->n_path;
    out->n_tokens = a->n_tokens;
    memcpy(out->path, a->path, (size_t)a->n_path * sizeof(int32_t));
    memcpy(out->tokens, a->tokens, (size_t)a->n_tokens * sizeof(int32_t));
    *done = 1;
    return FRS_OK;
}

enum frs_status cuda_backend_logits(struct frs_backend *be, float *out, size_t cap, int *rows, int *vocab_local)
{
    struct cu_backend *b = cu_of(be);
    if (!b || b->last_rows <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_backend_logits: no forward pass yet");
    const size_t n = (size_t)b->last_rows * b->Vl;
    if (n > cap)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_backend_logits: %zu floats do not fit in %zu", n, cap);
    FRS_CUDA_CHECK(cudaMemcpyAsync(out, b->logits, n * sizeof(float), cudaMemcpyDeviceToHost, b->st));
    FRS_TRY(cu_host_wait(b, "cuda_backend_logits"));
    *rows = b->last_rows;
    *vocab_local = b->Vl;
    return FRS_OK;
}

void cuda_backend_sampling_counts(struct frs_backend *be, long *on_device, long *on_host, long *rows_redone)
{
    const struct cu_backend *b = cu_of(be);
    *on_device = b ? b->samp_dev : 0;
    *on_host = b ? b->samp_host : 0;
    *rows_redone = b ? b->samp_rows_host : 0;
}

const struct frs_backend_ops frs_backend_cuda_ops = {
    .name = "cuda",
    .create = cu_create,
    .destroy = cu_destroy,
    .reset = cu_reset,
    .prefill = cu_prefill,
    .decode = cu_decode,
    .next_token = cu_next_token,
    .draft_tree = cu_draft_tree,
    .verify = cu_verify,
    .commit = cu_commit,
    .accept = cu_accept,
    .batch = &cuda_batch_ops,
};
