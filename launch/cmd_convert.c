/* cmd_convert.c - `frspec convert-draft`: a published EAGLE draft head's pytorch_model.bin (a
 * torch.save'd state_dict) to model.safetensors with the same tensor names, dtypes, shapes and
 * bytes. The runtime loads draft heads from safetensors only; this is the one-time conversion.
 *
 * The file is laid out as Hugging Face's safetensors.torch.save_file lays it out (no
 * __metadata__, tensors ordered by dtype (I64, F32, I32, BF16, F16) then by name, header padded
 * with spaces to 8 bytes: runtime/st_write.c), so converting a state_dict gives the bytes
 * save_file gives.
 *
 * defines: cmd_convert_draft
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st_write.h" /* st_write_entry, st_write_sort, st_write_file */
#include "status.h"
#include "tensor.h"
#include "torchzip.h"

static void convert_usage(FILE *f)
{
    fprintf(f,
            "usage: frspec convert-draft --in DIR/pytorch_model.bin --out OUT [--drop-embed]\n"
            "\n"
            "Converts an EAGLE draft head saved by torch.save (pytorch_model.bin, a state_dict) to\n"
            "safetensors, tensor for tensor (same names, dtypes, shapes and bytes).\n"
            "\n"
            "  --in FILE      the pytorch_model.bin to read (or a directory holding it)\n"
            "  --out OUT      the .safetensors file to write, or a directory (OUT/model.safetensors);\n"
            "                 config.json next to the input is copied next to the output when the\n"
            "                 output's folder has none\n"
            "  --drop-embed   leave out embed_tokens.weight (the runtime uses the target's embedding)\n"
            "  -h, --help     this text\n");
}

static int is_contiguous(const struct tz_tensor *t)
{
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want)
            return 0;
        want *= t->shape[d];
    }
    return 1;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void dir_of(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
}

static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok;
}

/* st_write_file's callback: the bytes of one state_dict tensor (copied when not contiguous). */
static enum frs_status convert_fill(void *ctx, const struct st_write_entry *e, FILE *f)
{
    const struct tz_tensor *const *ts = ctx;
    const struct tz_tensor *t = ts[e->id];
    size_t esz = frs_dtype_size(t->dtype), nbytes = (size_t)tz_tensor_numel(t) * esz;
    if (is_contiguous(t)) {
        if (fwrite((const char *)t->storage + (size_t)t->offset * esz, 1, nbytes, f) != nbytes)
            return FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", t->name, strerror(errno));
        return FRS_OK;
    }
    void *tmp = malloc(nbytes);
    if (!tmp)
        return FRS_ERR(FRS_ERR_OOM, "out of memory copying '%s'", t->name);
    enum frs_status st = tz_tensor_copy(t, tmp);
    if (st == FRS_OK && fwrite(tmp, 1, nbytes, f) != nbytes)
        st = FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", t->name, strerror(errno));
    free(tmp);
    return st;
}

/* Write the selected tensors of sd as safetensors to path (runtime/st_write.c). */
static enum frs_status write_safetensors(const char *path, const struct tz_tensor **ts, int n, size_t *total)
{
    struct st_write_entry *e = calloc((size_t)(n ? n : 1), sizeof *e);
    if (!e)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    enum frs_status st = FRS_OK;
    for (int i = 0; i < n; i++) {
        const struct tz_tensor *t = ts[i];
        if (t->dtype == FRS_DTYPE_COUNT) {
            st = FRS_ERR(FRS_ERR_DTYPE, "tensor '%s': storage type torch.%s cannot be converted "
                         "(F32, F16, BF16, I32, I64 only)", t->name, t->storage_type);
            goto out;
        }
        if (t->ndim > ST_MAX_DIMS) {
            st = FRS_ERR(FRS_ERR_UNSUPPORTED, "tensor '%s': %d dimensions, at most %d", t->name, t->ndim, ST_MAX_DIMS);
            goto out;
        }
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            e[i].shape[d] = t->shape[d];
        e[i].id = i;
    }
    st_write_sort(e, n);
    st = st_write_file(path, e, n, convert_fill, (void *)ts, total);
out:
    free(e);
    return st;
}

int cmd_convert_draft(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int drop_embed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--in") && i + 1 < argc) {
            in = argv[++i];
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--drop-embed")) {
            drop_embed = 1;
        } else {
            fprintf(stderr, "frspec convert-draft: unknown or incomplete option '%s'\n", a);
            convert_usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "frspec convert-draft: --in and --out are required\n");
        convert_usage(stderr);
        return 2;
    }
    char in_path[4096], out_path[4096], tmp_path[4200], in_dir[4096], out_dir[4096];
    if (is_dir(in))
        snprintf(in_path, sizeof in_path, "%s/pytorch_model.bin", in);
    else
        snprintf(in_path, sizeof in_path, "%s", in);
    if (is_dir(out))
        snprintf(out_path, sizeof out_path, "%s/model.safetensors", out);
    else
        snprintf(out_path, sizeof out_path, "%s", out);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", out_path);

    struct tz_state_dict sd;
    enum frs_status st = tz_load_state_dict(&sd, in_path);
    if (st != FRS_OK) {
        fprintf(stderr, "frspec convert-draft: %s\n", frs_error_msg());
        return 1;
    }
    const struct tz_tensor **ts = malloc(sizeof *ts * (size_t)(sd.n ? sd.n : 1));
    int n = 0, dropped = 0;
    if (!ts) {
        tz_state_dict_free(&sd);
        fprintf(stderr, "frspec convert-draft: out of memory\n");
        return 1;
    }
    for (int i = 0; i < sd.n; i++) {
        if (drop_embed && !strcmp(sd.tensors[i].name, "embed_tokens.weight")) {
            dropped = 1;
            continue;
        }
        ts[n++] = &sd.tensors[i];
    }
    size_t total = 0;
    st = write_safetensors(tmp_path, ts, n, &total);
    if (st == FRS_OK && rename(tmp_path, out_path) != 0)
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot rename to %s: %s", tmp_path, out_path, strerror(errno));
    if (st != FRS_OK) {
        remove(tmp_path);
        fprintf(stderr, "frspec convert-draft: %s\n", frs_error_msg());
        free(ts);
        tz_state_dict_free(&sd);
        return 1;
    }
    int has_fc = 0;
    for (int i = 0; i < n; i++)
        has_fc |= !strcmp(ts[i]->name, "fc.weight");
    printf("wrote %s: %d tensors, %.1f MiB%s\n", out_path, n, (double)total / (1024.0 * 1024.0),
           dropped ? " (embed_tokens.weight left out)" : "");
    if (!has_fc)
        printf("note: no fc.weight: this does not look like an EAGLE draft head\n");
    free(ts);
    tz_state_dict_free(&sd);

    dir_of(in_path, in_dir, sizeof in_dir);
    dir_of(out_path, out_dir, sizeof out_dir);
    char cin[4200], cout[4200];
    snprintf(cin, sizeof cin, "%s/config.json", in_dir);
    snprintf(cout, sizeof cout, "%s/config.json", out_dir);
    if (strcmp(in_dir, out_dir) && file_exists(cin) && !file_exists(cout)) {
        if (!copy_file(cin, cout)) {
            fprintf(stderr, "frspec convert-draft: cannot copy %s to %s\n", cin, cout);
            return 1;
        }
        printf("copied %s to %s\n", cin, cout);
    }
    return 0;
}
