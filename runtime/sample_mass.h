/* sample_mass.h - the probability mass of one logit in 64-bit fixed point, the same bits on the
 * host (C) and on a CUDA device: e = exp(d) for d = z - max <= 0 by Cody-Waite range reduction
 * and a degree-13 Taylor polynomial in double, every operation rounded on its own (no fused
 * multiply-add: separate statements in ISO C, -ffp-contract=off being GCC's default there and
 * Clang contracting only within one expression; __dmul_rn / __dadd_rn on the device), no libm
 * but floor and ldexp (exact); then floor(e * 2^S). Masses are sums of these integers: exact,
 * so equal in every summation order, at every TP degree, on the CPU and on the GPU
 * (runtime/sampling.c, kernels/cuda_sample.cu).
 *
 * S = frs_mass_shift(vocab) = 63 - ceil(log2(vocab + 1)): a whole row's mass stays below 2^63.
 * The truncation drops less than 2^-S per token (the top token alone weighs 2^S): below 2^-29 of
 * a row's mass for 128256 ids.
 *
 * defines: frs_mass_shift, frs_mass_exp, frs_mass_fixed
 */
#ifndef FRSPEC_SAMPLE_MASS_H
#define FRSPEC_SAMPLE_MASS_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define FRS_MASS_HD __host__ __device__
#else
#define FRS_MASS_HD
#endif

static inline FRS_MASS_HD double frs_mass_mul(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

static inline FRS_MASS_HD double frs_mass_add(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

static inline FRS_MASS_HD int frs_mass_shift(long vocab)
{
    int b = 0;
    while (b < 62 && ((int64_t)1 << b) < (int64_t)vocab + 1)
        b++;
    return 63 - b;
}

/* exp(d) for -700 < d <= 0, within a few ulp; the point is the same bits everywhere */
static inline FRS_MASS_HD double frs_mass_exp(double d)
{
    const double inv_ln2 = 0x1.71547652b82fep+0;
    const double ln2_hi = 0x1.62e42fee00000p-1; /* 32 significant bits: k * ln2_hi is exact */
    const double ln2_lo = 0x1.a39ef35793c76p-33;
    const double t = frs_mass_mul(d, inv_ln2);
    const double kd = floor(frs_mass_add(t, 0.5));
    const double r1 = frs_mass_add(d, -frs_mass_mul(kd, ln2_hi));
    const double r = frs_mass_add(r1, -frs_mass_mul(kd, ln2_lo)); /* |r| <= ~0.347 */
    /* 1/n!, n = 13 .. 0 (remainder below 5e-18 on |r| <= 0.35) */
    double p = 0x1.6124613a86d09p-33;
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.1eed8eff8d898p-29);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.ae64567f544e4p-26);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.27e4fb7789f5cp-22);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.71de3a556c734p-19);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.a01a01a01a01ap-16);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.a01a01a01a01ap-13);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.6c16c16c16c17p-10);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.1111111111111p-7);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.5555555555555p-5);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.5555555555555p-3);
    p = frs_mass_add(frs_mass_mul(p, r), 0x1.0000000000000p-1);
    p = frs_mass_add(frs_mass_mul(p, r), 1.0);
    p = frs_mass_add(frs_mass_mul(p, r), 1.0);
    return ldexp(p, (int)kd);
}

/* floor(exp(z - max) * 2^shift) for a row whose largest z is max (z - max in float, as the
 * filtered softmax has always computed it); 0 where that is below 1 (and for NaN) */
static inline FRS_MASS_HD uint64_t frs_mass_fixed(float z, float max, int shift)
{
    const float d = z - max;
    /* exp(d) <= 2^-(shift+1) below: the result is 0 without evaluating it */
    if (!((double)d > -0.6931471805599453 * (double)(shift + 1)))
        return 0;
    const double e = frs_mass_exp((double)d);
    return (uint64_t)frs_mass_mul(e, ldexp(1.0, shift));
}

#endif
