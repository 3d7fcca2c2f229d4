/* tensor.c - dtype sizes and names, f16 and e4m3 conversions, row conversion (FP8 dequantized
 * with its scale) and sub-views (scales follow their rows). */
#include "tensor.h"

size_t frs_dtype_size(enum frs_dtype dt)
{
    switch (dt) {
    case FRS_DTYPE_F32: return 4;
    case FRS_DTYPE_F16: return 2;
    case FRS_DTYPE_BF16: return 2;
    case FRS_DTYPE_I32: return 4;
    case FRS_DTYPE_I64: return 8;
    case FRS_DTYPE_F8_E4M3: return 1;
    default: return 0;
    }
}

const char *frs_dtype_name(enum frs_dtype dt)
{
    switch (dt) {
    case FRS_DTYPE_F32: return "F32";
    case FRS_DTYPE_F16: return "F16";
    case FRS_DTYPE_BF16: return "BF16";
    case FRS_DTYPE_I32: return "I32";
    case FRS_DTYPE_I64: return "I64";
    case FRS_DTYPE_F8_E4M3: return "F8_E4M3";
    default: return "?";
    }
}

float frs_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t frs_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u;
    int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffffu;
    if (((u >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)h;
}

uint8_t frs_f32_to_e4m3(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint8_t)(sign | 0x7fu);
    if (a >= 0x43e00000u) /* |f| >= 448 (incl. inf): saturate */
        return (uint8_t)(sign | 0x7eu);
    const int32_t exp = (int32_t)(a >> 23) - 127; /* unbiased */
    if (exp < -6) {
        /* subnormal range: value = k * 2^-9, k = round_even(|f| * 2^9); |f| < 2^-6 here */
        float x;
        memcpy(&x, &a, sizeof x);
        float scaled = x * 512.0f; /* exact: power of two, no underflow to worry about */
        uint32_t k = (uint32_t)scaled;
        float rem = scaled - (float)k;
        if (rem > 0.5f || (rem == 0.5f && (k & 1u)))
            k++;
        return (uint8_t)(sign | k); /* k == 8 gives the smallest normal, 0x08 */
    }
    /* normal: keep 3 mantissa bits, round to nearest even on the 20 dropped bits */
    uint32_t mant = a & 0x7fffffu;
    uint32_t e = (uint32_t)(exp + 7);
    uint32_t q = (e << 3) | (mant >> 20);
    uint32_t rem = mant & 0xfffffu;
    if (rem > 0x80000u || (rem == 0x80000u && (q & 1u)))
        q++;
    if (q > 0x7eu)
        q = 0x7eu;
    return (uint8_t)(sign | q);
}

float frs_mat_scale(const struct frs_mat *m, int64_t r)
{
    if (m->dtype != FRS_DTYPE_F8_E4M3 || !m->scale)
        return 1.0f;
    const int64_t i = m->scale_per_row ? r : 0;
    switch (m->scale_dtype) {
    case FRS_DTYPE_F32: return ((const float *)m->scale)[i];
    case FRS_DTYPE_BF16: return frs_bf16_to_f32(((const uint16_t *)m->scale)[i]);
    case FRS_DTYPE_F16: return frs_f16_to_f32(((const uint16_t *)m->scale)[i]);
    default: return 0.0f;
    }
}

void frs_mat_row_to_f32(const struct frs_mat *m, int64_t r, float *out)
{
    const int64_t n = m->cols;
    switch (m->dtype) {
    case FRS_DTYPE_F32: {
        const float *p = (const float *)m->data + r * m->ld;
        memcpy(out, p, (size_t)n * sizeof(float));
        break;
    }
    case FRS_DTYPE_BF16: {
        const uint16_t *p = (const uint16_t *)m->data + r * m->ld;
        for (int64_t i = 0; i < n; i++)
            out[i] = frs_bf16_to_f32(p[i]);
        break;
    }
    case FRS_DTYPE_F16: {
        const uint16_t *p = (const uint16_t *)m->data + r * m->ld;
        for (int64_t i = 0; i < n; i++)
            out[i] = frs_f16_to_f32(p[i]);
        break;
    }
    case FRS_DTYPE_F8_E4M3: { /* exact dequantization: one fp32 product per element */
        const uint8_t *p = (const uint8_t *)m->data + r * m->ld;
        const float s = frs_mat_scale(m, r);
        for (int64_t i = 0; i < n; i++)
            out[i] = frs_e4m3_to_f32(p[i]) * s;
        break;
    }
    default:
        memset(out, 0, (size_t)n * sizeof(float));
        break;
    }
}

struct frs_mat frs_mat_rows(const struct frs_mat *m, int64_t r0, int64_t n)
{
    struct frs_mat v = *m;
    v.rows = n;
    v.data = (const char *)m->data + (size_t)(r0 * m->ld) * frs_dtype_size(m->dtype);
    if (m->scale && m->scale_per_row)
        v.scale = (const char *)m->scale + (size_t)r0 * frs_dtype_size(m->scale_dtype);
    return v;
}

struct frs_mat frs_mat_cols(const struct frs_mat *m, int64_t c0, int64_t n)
{
    struct frs_mat v = *m;
    v.cols = n;
    v.data = (const char *)m->data + (size_t)c0 * frs_dtype_size(m->dtype);
    return v;
}
