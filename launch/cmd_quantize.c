/* cmd_quantize.c - `frspec quantize`: a float Llama checkpoint to the compressed-tensors FP8
 * layout (runtime/quantize.c does the work; this parses the command line and reports).
 *
 * defines: cmd_quantize
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "quantize.h" /* frs_quantize_dir */
#include "status.h"

static void quantize_usage(FILE *f)
{
    fprintf(f,
            "usage: frspec quantize --in DIR --out DIR [--strategy channel|tensor] [--ignore NAME]...\n"
            "\n"
            "Writes an FP8 checkpoint in the compressed-tensors \"float-quantized\" layout (the layout of\n"
            "the published ...-FP8 Llama checkpoints) from a BF16 / F16 / F32 one: every decoder Linear\n"
            "(and the LM head unless ignored) as F8_E4M3 weight + F32 weight_scale, round to nearest even,\n"
            "saturating at +-448; weights only (activations stay in full precision). Tokenizer and other\n"
            "files are copied, config.json gets the quantization_config.\n"
            "\n"
            "  --in DIR            the Hugging Face Llama directory to read\n"
            "  --out DIR           where to write (created; not the input directory)\n"
            "  --strategy S        channel: a scale per output row (default); tensor: one per matrix\n"
            "  --ignore NAME       leave this module in float: a name (\"lm_head\", \"model.layers.0\") or a\n"
            "                      \"re:\" pattern; repeatable; default lm_head; --ignore none quantizes all\n"
            "  -h, --help          this text\n");
}

int cmd_quantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    struct frs_quantize_opts o = {0};
    const char **ignore = calloc((size_t)argc + 1, sizeof *ignore);
    int n_ignore = 0, ignore_given = 0;
    if (!ignore) {
        fprintf(stderr, "frspec quantize: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            quantize_usage(stdout);
            free(ignore);
            return 0;
        } else if (!strcmp(a, "--in") && i + 1 < argc) {
            in = argv[++i];
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--strategy") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "channel") && strcmp(v, "tensor")) {
                fprintf(stderr, "frspec quantize: --strategy expects channel or tensor, got '%s'\n", v);
                free(ignore);
                return 2;
            }
            o.per_tensor = !strcmp(v, "tensor");
        } else if (!strcmp(a, "--ignore") && i + 1 < argc) {
            ignore_given = 1;
            if (strcmp(argv[i + 1], "none") != 0)
                ignore[n_ignore++] = argv[i + 1];
            i++;
        } else {
            fprintf(stderr, "frspec quantize: unknown or incomplete option '%s'\n", a);
            quantize_usage(stderr);
            free(ignore);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "frspec quantize: --in and --out are required\n");
        quantize_usage(stderr);
        free(ignore);
        return 2;
    }
    if (ignore_given) {
        o.ignore = ignore;
        o.n_ignore = n_ignore;
    }
    struct frs_quantize_report rep;
    enum frs_status st = frs_quantize_dir(in, out, &o, &rep);
    free(ignore);
    if (st != FRS_OK) {
        fprintf(stderr, "frspec quantize: %s\n", frs_error_msg());
        return 1;
    }
    printf("wrote %s: %d matrices in FP8 (%s scales), %d tensors copied, %d file(s), %.1f MiB -> %.1f MiB\n", out,
           rep.n_quantized, o.per_tensor ? "per-tensor" : "per-channel", rep.n_copied, rep.n_files,
           rep.bytes_in / (1024.0 * 1024.0), rep.bytes_out / (1024.0 * 1024.0));
    return 0;
}
