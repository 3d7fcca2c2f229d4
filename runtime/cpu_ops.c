/* cpu_ops.c - the CPU reference operators; see cpu_ops.h for the conventions. */
#include "cpu_ops.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every output is the same sum as a lone dot product: acc = 0, then acc += x[c] * w[c] for
 * c = 0, 1, ... in order, each step rounded (mul, then add: ISO C, no contraction), so results
 * are bit-identical for any n (one row of a tree verify == the decode step of the same row).
 *  - n < CPU_MM_MIN_XT (decode, draft levels up to 11 rows): one weight row at a time, converted to
 *    fp32 once, its dot product with each x row (one dependent add chain each);
 *  - n >= CPU_MM_MIN_XT (tree verify, prefill, wide draft levels): x transposed once
 *    (xt[c * np + i], np = n rounded up to 8 with zero rows), then per weight row the dot
 *    products of 32 x rows (the last ones 8 at a time) advance together, one per vector lane:
 *    independent sums interleaved, each in its own order. Chunks have fixed sizes (a
 *    runtime-sized chunk loop compiled at -O3 ran 5x slower than the plain loop). 2.3-3.6x
 *    faster at n = 30. */
#define CPU_MM_MIN_XT 12
#define CPU_MM_G 32
#define CPU_MM_G8 8

static void mm_rows(const float *x, int n, const struct frs_mat *w, float *y, float *row)
{
    const int64_t rows = w->rows, cols = w->cols;
    for (int64_t r = 0; r < rows; r++) {
        frs_mat_row_to_f32(w, r, row);
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * cols;
            float acc = 0.0f;
            for (int64_t c = 0; c < cols; c++)
                acc += xi[c] * row[c];
            y[(size_t)i * rows + r] = acc;
        }
    }
}

/* CPU_MM_G (or, for the last rows, CPU_MM_G8) lanes of xt from column i0 against one fp32 weight
 * row: fixed trip counts, so the compiler keeps the sums in vector registers */
#define MM_LANES(L)                                                                               \
    do {                                                                                          \
        float acc[L] = {0.0f};                                                                    \
        for (int64_t c = 0; c < cols; c++) {                                                      \
            const float wv = row[c];                                                              \
            const float *xc = xt + c * np + i0;                                                   \
            for (int u = 0; u < (L); u++)                                                         \
                acc[u] += xc[u] * wv;                                                             \
        }                                                                                         \
        const int m = n - i0 < (L) ? n - i0 : (L);                                                \
        for (int u = 0; u < m; u++)                                                               \
            y[(size_t)(i0 + u) * rows + r] = acc[u];                                              \
        i0 += (L);                                                                                \
    } while (0)

static void mm_xt(const float *x, int n, const struct frs_mat *w, float *y, float *row, float *xt, int np)
{
    const int64_t rows = w->rows, cols = w->cols;
    for (int64_t c = 0; c < cols; c++)
        for (int i = 0; i < np; i++)
            xt[c * np + i] = i < n ? x[(size_t)i * cols + c] : 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        frs_mat_row_to_f32(w, r, row);
        int i0 = 0;
        while (np - i0 >= CPU_MM_G)
            MM_LANES(CPU_MM_G);
        while (i0 < np)
            MM_LANES(CPU_MM_G8);
    }
}

void cpu_matmul(const float *x, int n, const struct frs_mat *w, float *y)
{
    const int64_t cols = w->cols;
    const int np = n < CPU_MM_MIN_XT ? 0 : (n + CPU_MM_G8 - 1) / CPU_MM_G8 * CPU_MM_G8;
    float *row = malloc(((size_t)cols + (size_t)cols * np) * sizeof(float));
    if (!row)
        abort(); /* a row plus a copy of x (padded): cannot fail in practice; keep the reference simple */
    if (np == 0)
        mm_rows(x, n, w, y, row);
    else
        mm_xt(x, n, w, y, row, row + cols, np);
    free(row);
}

static void fp8_fake_quant(const float *x, int64_t len, float s, float *out)
{
    for (int64_t i = 0; i < len; i++) {
        float v = x[i] / s;
        v = v < -448.0f ? -448.0f : (v > 448.0f ? 448.0f : v);
        out[i] = frs_e4m3_to_f32(frs_f32_to_e4m3(v)) * s;
    }
}

static float fp8_amax(const float *x, int64_t len)
{
    float a = 0.0f;
    for (int64_t i = 0; i < len; i++)
        a = fabsf(x[i]) > a ? fabsf(x[i]) : a;
    return a;
}

static float fp8_scale_of(float amax) /* the scale as compressed-tensors' calculate_qparams gives it */
{
    float s = amax / 448.0f;
    return s == 0.0f ? FLT_EPSILON : s;
}

void cpu_fp8_quant_act(const float *x, int n, const struct frs_mat *w, float *out)
{
    const int64_t cols = w->cols;
    switch (w->act) {
    case FRS_FP8_ACT_DYNAMIC_TOKEN:
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * cols;
            float amax = fp8_amax(xi, cols);
            if (w->act_scale_ub > 0 && amax > w->act_scale_ub)
                amax = w->act_scale_ub;
            fp8_fake_quant(xi, cols, fp8_scale_of(amax), out + (size_t)i * cols);
        }
        break;
    case FRS_FP8_ACT_DYNAMIC_TENSOR:
        fp8_fake_quant(x, (int64_t)n * cols, fp8_scale_of(fp8_amax(x, (int64_t)n * cols)), out);
        break;
    case FRS_FP8_ACT_STATIC:
        fp8_fake_quant(x, (int64_t)n * cols, w->input_scale, out);
        break;
    default:
        memcpy(out, x, (size_t)n * (size_t)cols * sizeof(float));
        break;
    }
}

void cpu_rmsnorm(const float *x, int n, int dim, const struct frs_mat *w, float eps, float *y)
{
    float *wf = NULL;
    if (w && w->data) {
        wf = malloc((size_t)dim * sizeof(float));
        if (!wf)
            abort();
        frs_mat_row_to_f32(w, 0, wf);
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * dim;
        float *yi = y + (size_t)i * dim;
        double ss = 0.0;
        for (int j = 0; j < dim; j++)
            ss += (double)xi[j] * xi[j];
        float inv = 1.0f / sqrtf((float)(ss / dim) + eps);
        for (int j = 0; j < dim; j++)
            yi[j] = xi[j] * inv * (wf ? wf[j] : 1.0f);
    }
    free(wf);
}

void cpu_rope(float *x, int n, int n_heads, int head_dim, const int32_t *pos, const float *inv_freq)
{
    const int half = head_dim / 2;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < half; j++) {
            /* angle in float, as transformers computes inv_freq @ position in fp32 */
            float ang = (float)pos[i] * inv_freq[j];
            float c = cosf(ang), s = sinf(ang);
            for (int h = 0; h < n_heads; h++) {
                float *v = x + ((size_t)i * n_heads + h) * head_dim;
                float a = v[j], b = v[j + half];
                v[j] = a * c - b * s;
                v[j + half] = b * c + a * s;
            }
        }
    }
}

void cpu_attention(const float *q, const float *kcache, const float *vcache, int prefix, int n,
                   const uint64_t *mask, int n_heads, int n_kv_heads, int head_dim, float *out)
{
    cpu_attention_paged(q, kcache, vcache, NULL, 0, prefix, n, mask, n_heads, n_kv_heads, head_dim, out);
}

void cpu_attention_paged(const float *q, const float *kcache, const float *vcache, const int32_t *blocks,
                         int block, int prefix, int n, const uint64_t *mask, int n_heads, int n_kv_heads,
                         int head_dim, float *out)
{
    const int group = n_heads / n_kv_heads;
    const int kvw = n_kv_heads * head_dim;
    const int words = FRS_MASK_WORDS(n);
    const float scale = 1.0f / sqrtf((float)head_dim);
    float *score = malloc((size_t)(prefix + n) * sizeof(float));
    if (!score)
        abort();
#define CPU_KV_ROW(s) (blocks ? (size_t)blocks[(s) / block] * block + (size_t)((s) % block) : (size_t)(s))
    for (int i = 0; i < n; i++) {
        for (int h = 0; h < n_heads; h++) {
            const float *qi = q + ((size_t)i * n_heads + h) * head_dim;
            const int kh = h / group;
            float mx = -INFINITY;
            for (int s = 0; s < prefix + n; s++) {
                int visible = 1;
                if (s >= prefix) {
                    int j = s - prefix;
                    visible = mask ? (int)((mask[(size_t)i * words + j / 64] >> (j % 64)) & 1u) : (j <= i);
                }
                if (!visible) {
                    score[s] = -INFINITY;
                    continue;
                }
                const float *k = kcache + CPU_KV_ROW(s) * kvw + (size_t)kh * head_dim;
                float acc = 0.0f;
                for (int d = 0; d < head_dim; d++)
                    acc += qi[d] * k[d];
                score[s] = acc * scale;
                if (score[s] > mx)
                    mx = score[s];
            }
            double sum = 0.0;
            for (int s = 0; s < prefix + n; s++) {
                float e = score[s] == -INFINITY ? 0.0f : expf(score[s] - mx);
                score[s] = e;
                sum += e;
            }
            float *o = out + ((size_t)i * n_heads + h) * head_dim;
            for (int d = 0; d < head_dim; d++)
                o[d] = 0.0f;
            for (int s = 0; s < prefix + n; s++) {
                if (score[s] == 0.0f)
                    continue;
                const float p = (float)(score[s] / sum);
                const float *v = vcache + CPU_KV_ROW(s) * kvw + (size_t)kh * head_dim;
                for (int d = 0; d < head_dim; d++)
                    o[d] += p * v[d];
            }
        }
    }
#undef CPU_KV_ROW
    free(score);
}

void cpu_swiglu(const float *gate, const float *up, int64_t len, float *out)
{
    for (int64_t i = 0; i < len; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void cpu_embed(const struct frs_mat *table, const int32_t *tokens, int n, float *out)
{
    for (int i = 0; i < n; i++)
        frs_mat_row_to_f32(table, tokens[i], out + (size_t)i * table->cols);
}

void cpu_add(float *x, const float *y, int64_t len)
{
    for (int64_t i = 0; i < len; i++)
        x[i] += y[i];
}

void cpu_log_softmax(const float *x, int n, float *out)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)x[i] - mx);
    const float lse = mx + (float)log(sum);
    for (int i = 0; i < n; i++)
        out[i] = x[i] - lse;
}

void cpu_topk(const float *x, int n, int k, float *vals, int32_t *idx)
{
    /* insertion into a sorted list of k: O(n k), fine for the reference */
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (m == k && !(v > vals[k - 1]))
            continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && v > vals[p - 1]) {
            vals[p] = vals[p - 1];
            idx[p] = idx[p - 1];
            p--;
        }
        vals[p] = v;
        idx[p] = i;
    }
}

int32_t cpu_argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}
