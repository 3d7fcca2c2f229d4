/* model_bf16.h - a helper of the CUDA tests that compare against the CPU backend on the weights the
 * CUDA backend computes with (test_cuda_model, test_cuda_batch): a bf16 copy of a model's
 * matrices.
 *
 * defines: struct bf16_copy, model_bf16, bf16_copy_free
 */
#ifndef FRSPEC_TEST_MODEL_BF16_H
#define FRSPEC_TEST_MODEL_BF16_H

#include "model.h"

struct bf16_copy {
    void *bufs[1024];
    int n;
};

/* dst = src with every weight matrix (embedding, LM head, norms, layers) rounded to bf16 in
 * buffers owned by bc (a tied LM head stays tied); free with bf16_copy_free */
void model_bf16(const struct llama_model *src, struct llama_model *dst, struct bf16_copy *bc);
void bf16_copy_free(struct bf16_copy *bc);

#endif
