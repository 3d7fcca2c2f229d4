/* rope.h - the rotary position embedding's inverse frequencies, with Llama-3 rope_scaling: the
 * table every backend uploads once (the CPU reference in cpu_ops.c rotates with it, the CUDA
 * kernels read it from device memory), so both use the same fp32 values.
 *
 * defines: rope_inv_freq
 */
#ifndef FRSPEC_ROPE_H
#define FRSPEC_ROPE_H

#include "config.h"

/* inv_freq[head_dim/2] = 1 / theta^(2i/head_dim), Llama-3 scaled when cfg->rope_type is LLAMA3
 * (low/high frequency factors and the smooth band between, as transformers). */
void rope_inv_freq(const struct llama_config *cfg, float *inv_freq);

#endif
