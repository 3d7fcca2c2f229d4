/* quantize.h - FP8 quantization of a float Llama checkpoint into the compressed-tensors
 * "float-quantized" layout (what `frspec quantize` writes).
 *
 * Every Linear of the decoder (q/k/v/o, gate/up/down) and the untied LM head, unless ignored,
 * becomes `X.weight` F8_E4M3 plus `X.weight_scale` F32 ([out, 1] per channel, [1] per tensor);
 * everything else is copied byte for byte. The numbers are compressed-tensors' own
 * (calculate_qparams + quantize with a symmetric float8 QuantizationArgs, weights upcast to fp32):
 * scale = amax / 448 in fp32 (0 -> FLT_EPSILON), q = e4m3(clamp(w / scale + 0, -448, 448)),
 * round to nearest even. One output shard per input shard (same names), a new
 * model.safetensors.index.json when the input had one, config.json with the quantization_config
 * added (weights only: input_activations null), the other files of the directory copied.
 *
 * defines: struct frs_quantize_opts, frs_quantize_dir, frs_quantize_row_scale
 */
#ifndef FRSPEC_QUANTIZE_H
#define FRSPEC_QUANTIZE_H

#include "status.h"
#include "tensor.h"

struct frs_quantize_opts {
    int per_tensor;            /* 0: strategy "channel" (a scale per output row); 1: "tensor" */
    const char *const *ignore; /* module names / "re:" patterns left in float (NULL: {"lm_head"}) */
    int n_ignore;
};

struct frs_quantize_report {
    int n_quantized, n_copied, n_files;
    double bytes_in, bytes_out;
};

enum frs_status frs_quantize_dir(const char *in_dir, const char *out_dir, const struct frs_quantize_opts *o,
                                 struct frs_quantize_report *rep);

/* amax of row r of a float matrix (rows, cols) divided by 448, as compressed-tensors computes it. */
float frs_quantize_scale(float amax);

#endif
