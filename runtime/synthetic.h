/* synthetic.h - Llama target models and EAGLE-2 draft heads of the real shapes with no weights
 * file: for benchmarks (`frspec bench`) that must not download anything.
 *
 * Every weight view's data pointer is a marker address (frs_synthetic_data + kind), not host
 * memory: the CUDA backend recognises it (frs_synthetic_kind) and fills the tensor on the
 * device with a counter-based hash (uniform in [-1, 1) times sqrt(3 / cols), so every matmul keeps
 * the activations' scale; norm weights 1 +- 0.1), so no host copy is ever made. The CPU backend
 * cannot run these models: callers refuse them for --device cpu.
 *
 * Presets (shapes from the published config.json files): "llama3.2-1b" (tied embeddings),
 * "llama3-8b", "llama3-70b"; tp_size > 1 gives the per-rank shard of rank tp_rank exactly as
 * llama_model_load would cut it (heads, KV heads, FFN columns, LM head rows; embedding whole).
 *
 * llama_model_synthetic_fp8 turns the decoder's Linears of such a model into FP8 views (the
 * CUDA backend then keeps them FP8 and fills them on the device, kernels/cuda_fp8.cu), as an FP8
 * checkpoint of the compressed-tensors layout would be loaded (LM head and embedding bf16).
 *
 * defines: llama_model_synthetic, llama_model_synthetic_fp8, eagle_draft_synthetic,
 *          frs_synthetic_kind, frs_synthetic_data, enum frs_synthetic_kinds
 */
#ifndef FRSPEC_SYNTHETIC_H
#define FRSPEC_SYNTHETIC_H

#include "draft.h"
#include "model.h"
#include "status.h"

enum frs_synthetic_kinds {
    FRS_SYNTH_NORM = 0,   /* RMSNorm weights: 1 + 0.1 u */
    FRS_SYNTH_MATRIX,     /* layer matrices, fc: u sqrt(3 / cols) */
    FRS_SYNTH_EMBED,      /* embedding table (also the tied LM head) */
    FRS_SYNTH_LM_HEAD,    /* untied LM head */
    FRS_SYNTH_DRAFT_HEAD, /* FR-Spec reduced LM head rows */
    FRS_SYNTH_COUNT
};

extern const unsigned char frs_synthetic_data[FRS_SYNTH_COUNT];

/* The kind of a synthetic tensor view, or -1 when data is real memory. */
static inline int frs_synthetic_kind(const void *data)
{
    const unsigned char *p = (const unsigned char *)data;
    return p >= frs_synthetic_data && p < frs_synthetic_data + FRS_SYNTH_COUNT ? (int)(p - frs_synthetic_data) : -1;
}

/* A model of preset `preset` cut to shard tp_rank of tp_size; m->dir = "synthetic:<preset>".
 * Free with llama_model_free. Errors: unknown preset (the message lists the known ones), a
 * tp_size that does not divide the heads / KV heads / FFN width. */
enum frs_status llama_model_synthetic(struct llama_model *m, const char *preset, int tp_rank, int tp_size);
/* The decoder Linears (q/k/v/o, gate/up/down) of a synthetic model become FP8 (a scale per row). */
void llama_model_synthetic_fp8(struct llama_model *m);

/* An EAGLE-2 head for the target (1 decoder layer of the target's full, unsharded shape, fc (C, 2C),
 * no bias) with a reduced LM head of the k most "frequent" ids (a fixed permutation of the
 * vocabulary), or the full vocabulary when k <= 0 or k >= vocab. Free with eagle_draft_free. */
enum frs_status eagle_draft_synthetic(struct eagle_draft *d, const struct llama_model *target, int k);

#endif
