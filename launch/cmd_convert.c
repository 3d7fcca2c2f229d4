/* cmd_convert.c - `frspec convert-draft`: a published EAGLE draft head's pytorch_model.bin (a
 * torch.save'd state_dict) to model.safetensors with the same tensor names, dtypes, shapes and
 * bytes. The runtime also reads pytorch_model.bin directly (converted in memory at each load);
 * this one-time conversion makes loading faster. The output is written to a temporary file
 * beside it and renamed; an --out that is the input, or is not a regular file (a symlink, FIFO
 * or device), is refused.
 *
 * The file is laid out as Hugging Face's safetensors.torch.save_file lays it out (no
 * __metadata__, tensors ordered by dtype (I64, F32, I32, BF16, F16) then by name, header padded
 * with spaces to 8 bytes), so converting a state_dict gives the bytes save_file gives.
 *
 * defines: cmd_convert_draft
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "status.h"
#include "tensor.h"
#include "st_write.h" // defines: st_write_tensors, st_write_sort
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
    struct stat in_sb, out_sb, tmp_sb;
    if (lstat(out_path, &out_sb) == 0) {
        if (!S_ISREG(out_sb.st_mode)) {
            fprintf(stderr, "frspec convert-draft: --out %s exists and is not a regular file (%s): not replaced; "
                    "give a new file name\n", out_path, S_ISLNK(out_sb.st_mode) ? "a symbolic link" :
                    S_ISFIFO(out_sb.st_mode) ? "a FIFO" : S_ISCHR(out_sb.st_mode) || S_ISBLK(out_sb.st_mode) ?
                    "a device" : "not a plain file");
            return 1;
        }
        if (stat(in_path, &in_sb) == 0 && in_sb.st_dev == out_sb.st_dev && in_sb.st_ino == out_sb.st_ino) {
            fprintf(stderr, "frspec convert-draft: --out %s is the input %s itself: give another file\n", out_path,
                    in_path);
            return 1;
        }
    }
    if (lstat(tmp_path, &tmp_sb) == 0 && !S_ISREG(tmp_sb.st_mode)) {
        fprintf(stderr, "frspec convert-draft: %s (the temporary file) exists and is not a regular file\n", tmp_path);
        return 1;
    }

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
    st_write_sort(ts, n);
    size_t total = 0;
    st = st_write_tensors(tmp_path, ts, n, &total);
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
