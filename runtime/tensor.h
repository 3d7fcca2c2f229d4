/* tensor.h - element types and the 2-D weight view every loader and backend shares.
 *
 * A struct frs_mat is a row-major matrix view (rows x cols, leading dimension ld >= cols, in
 * elements) over memory the caller owns (usually an mmapped safetensors file). Tensor-parallel
 * shards are views too: a row block is a pointer offset, a column block keeps ld of the full
 * matrix. 1-D tensors (norm weights) are rows = 1.
 *
 * defines: enum frs_dtype, struct frs_mat, frs_dtype_size, frs_dtype_name,
 *          frs_bf16_to_f32, frs_f16_to_f32, frs_f32_to_bf16, frs_mat_row_to_f32
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
    FRS_DTYPE_COUNT
};

struct frs_mat {
    enum frs_dtype dtype;
    int64_t rows, cols; /* logical shape of this view */
    int64_t ld;         /* elements between the starts of consecutive rows */
    const void *data;   /* first element of the view */
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

/* Convert row r of m (cols elements) to fp32. */
void frs_mat_row_to_f32(const struct frs_mat *m, int64_t r, float *out);

/* View of rows [r0, r0+n) / columns [c0, c0+n) of m. */
struct frs_mat frs_mat_rows(const struct frs_mat *m, int64_t r0, int64_t n);
struct frs_mat frs_mat_cols(const struct frs_mat *m, int64_t c0, int64_t n);

#endif
