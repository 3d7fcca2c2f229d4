/* rope.c - RoPE inverse frequencies (rope.h). */
#include "rope.h"

#include <math.h>

void rope_inv_freq(const struct llama_config *cfg, float *inv_freq)
{
    const int half = cfg->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = 1.0 / pow((double)cfg->rope_theta, (2.0 * i) / cfg->head_dim);
        if (cfg->rope_type == FRS_ROPE_LLAMA3) {
            const double factor = cfg->rope_factor, lo = cfg->rope_low_freq_factor,
                         hi = cfg->rope_high_freq_factor;
            const double old_ctx = cfg->rope_original_max_position_embeddings;
            const double low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
            const double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wavelen) {
                f = f / factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (old_ctx / wavelen - lo) / (hi - lo);
                f = (1.0 - smooth) * f / factor + smooth * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}
