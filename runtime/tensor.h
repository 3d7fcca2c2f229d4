/* tensor.h - element types and the 2-D weight view every loader and backend shares.
 *
 * A struct frs_mat is a row-major matrix view (rows x cols, leading dimension ld >= cols, in
 * elements) over memory the caller owns (usually an mmapped safetensors file). Tensor-parallel
 * shards are views too: a row block is a pointer offset, a column block keeps ld of the full
 * matrix. 1-D tensors (norm weights) are rows = 1.
 *
 * FP8 (FRS_DTYPE_F8_E4M3, OCP e4m3 "fn": no infinities, +-448 max, NaN = S.1111.111): the value of
 * element (r, c) is e4m3(data) * scale, in fp32, with one scale for the whole tensor or one per
 * output row (scale_per_row). The scale travels with the view: a row block moves the scale
 * pointer with its rows, a column block keeps it (per-row scales are per OUTPUT row, so the
 * input-split o/down shards of tensor parallelism keep every scale). A quantized matrix may also
 * prescribe how its input activations are quantized (act, input_scale, act_scale_ub), as the
 * checkpoint's format says; the CPU backend applies that only when asked (fp8_act_quant).
 *
 * defines: enum frs_dtype, enum frs_fp8_act, struct frs_mat, frs_dtype_size, frs_dtype_name,
 *          frs_bf16_to_f32, frs_f16_to_f32, frs_f32_to_bf16, frs_e4m3_to_f32, frs_f32_to_e4m3,
 *          frs_mat_scale, frs_mat_row_to_f32
 */
#ifndef FRSPEC_TENSOR_H
#define FRSPEC_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum frs_dtype {
    FRS_DTYPE_F32 = 0,
    FRS_DTYPE_F16,
    FRS_DTYPE_BF16,
    FRS_DTYPE_I32,
    FRS_DTYPE_I64,
    FRS_DTYPE_F8_E4M3, /* only as a quantized matrix (struct frs_mat with a scale) */
    FRS_DTYPE_COUNT
};

/* How a quantized matrix's input activations are quantized when the format's semantics are
 * applied (x -> e4m3(x / s) * s before the product). */
enum frs_fp8_act {
    FRS_FP8_ACT_NONE = 0,      /* weight-only */
    FRS_FP8_ACT_DYNAMIC_TOKEN, /* s = amax(row) / 448 per token (clamped to act_scale_ub when > 0) */
    FRS_FP8_ACT_DYNAMIC_TENSOR,/* s = amax(all rows of the call) / 448 */
    FRS_FP8_ACT_STATIC,        /* s = input_scale from the checkpoint */
};

struct frs_mat {
    enum frs_dtype dtype;
    int64_t rows, cols; /* logical shape of this view */
    int64_t ld;         /* elements between the starts of consecutive rows */
    const void *data;   /* first element of the view */
    /* FRS_DTYPE_F8_E4M3 only (zero otherwise): */
    const void *scale;          /* scale[0] (per tensor) or scale[r] (per_row) for row r of the view */
    enum frs_dtype scale_dtype; /* F32, BF16 or F16 */
    int scale_per_row;
    enum frs_fp8_act act;
    float input_scale;  /* FRS_FP8_ACT_STATIC */
    float act_scale_ub; /* FRS_FP8_ACT_DYNAMIC_TOKEN: amax clamped to this when > 0 (fbgemm) */
};

size_t frs_dtype_size(enum frs_dtype dt);
const char *frs_dtype_name(enum frs_dtype dt); /* "F32", "F16", "BF16" as safetensors writes them */

/* Small conversions used on hot CPU loops: kept inline on purpose. */
static inline float frs_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t frs_f32_to_bf16(float f) /* round to nearest even; NaN stays NaN */
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float frs_f16_to_f32(uint16_t h);
uint16_t frs_f32_to_f16(float f);

/* e4m3fn -> fp32, exact (every e4m3 value is an fp32 value); 0x7f / 0xff are NaN. */
static inline float frs_e4m3_to_f32(uint8_t v)
{
    const uint32_t sign = (uint32_t)(v & 0x80u) << 24, e = (v >> 3) & 0xfu, m = v & 0x7u;
    uint32_t u;
    if (e == 0xfu && m == 0x7u) {
        u = sign | 0x7fc00000u;
    } else if (e == 0) { /* subnormal: m * 2^-9 */
        float f = (float)m * 0.001953125f;
        return (v & 0x80u) ? -f : f;
    } else {
        u = sign | ((e + 127u - 7u) << 23) | (m << 20);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* fp32 -> e4m3fn, round to nearest even, saturating to +-448 (as torch's cast after a clamp to
 * [-448, 448]); NaN -> 0x7f with the sign. */
uint8_t frs_f32_to_e4m3(float f);

/* The scale of row r of a quantized view (1.0f for an unquantized one). */
float frs_mat_scale(const struct frs_mat *m, int64_t r);

/* Convert row r of m (cols elements) to fp32. */
void frs_mat_row_to_f32(const struct frs_mat *m, int64_t r, float *out);

/* View of rows [r0, r0+n) / columns [c0, c0+n) of m. */
struct frs_mat frs_mat_rows(const struct frs_mat *m, int64_t r0, int64_t n);
struct frs_mat frs_mat_cols(const struct frs_mat *m, int64_t c0, int64_t n);

#endif
