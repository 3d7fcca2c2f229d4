/* bench_accept.c - `frspec bench acceptance`: one process, one device. For each prompt of a JSONL
 * file (fields "prompt_ids" (array of ids) or a text in "prompt" / "question" / "text" /
 * "turns"[0], tokenized with the model's tokenizer, --chat for the Llama-3 chat template), the
 * engine generates (greedy unless --temperature) with: the target alone (autoregressive), the
 * draft with the full vocabulary (EAGLE-2), and the draft with FR-Spec lists of each K. The
 * backend is recreated per configuration (same model and draft in host memory). Prints one table
 * and writes JSON: mean accepted length (tokens per speculative iteration, bonus included),
 * tokens/s (decode: tokens after the first over the time after prefill; overall: all tokens over
 * the whole time), and how many prompts gave exactly the autoregressive tokens (greedy
 * speculative decoding is lossless, so all of them should).
 *
 * FR-Spec lists: --fr-vocab FILE (the first K distinct ids for every K) or --fr-vocab-dir DIR
 * (DIR/freq_K.pt or DIR/freq_K.txt for each K; a missing one falls back to the largest list in
 * the directory when it holds at least K ids).
 */
#include "bench_accept.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "backend_registry.h" /* frs_backend_find, frs_backend_default */
#include "cli.h"
#include "draft.h"
#include "engine.h"
#include "frvocab.h"
#include "model.h"
#include "options.h"
#include "tokenizer.h"

#define ACC_MAX_K 16

static void acc_usage(FILE *f)
{
    fprintf(f, "usage: frspec bench acceptance --model DIR --draft DIR --prompts FILE.jsonl [options]\n\n"
               "  --fr-vocab FILE        FR-Spec token list (freq_K.pt or text): the first K ids for each K\n"
               "  --fr-vocab-dir DIR     DIR/freq_K.pt or DIR/freq_K.txt for each K\n"
               "  --k-list LIST          FR-Spec sizes (default 8192,16384,32768,65536; sizes >= the vocabulary\n"
               "                         or the list are skipped)\n"
               "  --n N                  first N prompts (default 20)\n"
               "  --chat                 wrap text prompts in the Llama-3 chat template\n"
               "  --ignore-eos           generate --max-new-tokens tokens regardless of stop tokens\n"
               "  --json FILE            write the table as JSON\n"
               "  (--max-new-tokens default 128)\n");
    gen_options_usage(f);
}

struct acc_prompt {
    int32_t *ids;
    int n;
};

struct acc_row {
    char method[32];
    int k;
    double tokens, spec_iters, acc_sum, t_all, t_decode, dec_tokens;
    int identical, n_prompts, failed;
};

static int k_list_parse(const char *s, int *ks)
{
    int n = 0;
    char *dup = strdup(s), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t && n < ACC_MAX_K; t = strtok_r(NULL, ",", &save)) {
        long v = strtol(t, NULL, 10);
        if (v > 0)
            ks[n++] = (int)v;
    }
    free(dup);
    return n;
}

/* the list for size k: DIR/freq_k.{pt,txt}, else the largest list in DIR */
static enum frs_status fr_list_for(const char *file, const char *dir, int k, int32_t **ids, int *n)
{
    if (file)
        return frvocab_load(file, ids, n);
    char path[4096];
    const char *ext[] = {"pt", "txt"};
    for (int e = 0; e < 2; e++) {
        snprintf(path, sizeof path, "%s/freq_%d.%s", dir, k, ext[e]);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return frvocab_load(path, ids, n);
        }
    }
    DIR *dd = opendir(dir);
    if (!dd)
        return FRS_ERR(FRS_ERR_IO, "--fr-vocab-dir %s: cannot open the directory", dir);
    int best = -1;
    char best_path[4096] = "";
    for (struct dirent *de; (de = readdir(dd));) {
        int kk = 0;
        if (sscanf(de->d_name, "freq_%d.", &kk) == 1 && kk > best) {
            best = kk;
            snprintf(best_path, sizeof best_path, "%s/%s", dir, de->d_name);
        }
    }
    closedir(dd);
    if (best < k)
        return FRS_ERR(FRS_ERR_MISSING, "--fr-vocab-dir %s: no freq_%d.pt / freq_%d.txt and no larger list", dir, k, k);
    return frvocab_load(best_path, ids, n);
}

static enum frs_status load_prompts(const char *path, int max_n, struct frs_tokenizer **tok, const char *tok_path,
                                    int chat, struct acc_prompt **out, int *n_out)
{
    char *txt = NULL;
    size_t len = 0;
    FRS_TRY(cli_read_file(path, &txt, &len));
    struct acc_prompt *ps = calloc((size_t)max_n, sizeof *ps);
    if (!ps) {
        free(txt);
        return FRS_ERR(FRS_ERR_OOM, "prompts");
    }
    int n = 0, line_no = 0;
    enum frs_status st = FRS_OK;
    for (char *save = NULL, *line = strtok_r(txt, "\n", &save); line && n < max_n && st == FRS_OK;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        if (strspn(line, " \t\r") == strlen(line))
            continue;
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: line %d is not a JSON object", path, line_no);
            break;
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "prompt_ids");
        if (cJSON_IsArray(a)) {
            const int m = cJSON_GetArraySize(a);
            ps[n].ids = malloc((size_t)(m ? m : 1) * sizeof *ps[n].ids);
            for (int i = 0; i < m && ps[n].ids; i++) {
                const cJSON *v = cJSON_GetArrayItem(a, i);
                if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
                    st = FRS_ERR(FRS_ERR_FORMAT, "%s: line %d: prompt_ids[%d] is not a token id", path, line_no, i);
                    break;
                }
                ps[n].ids[i] = (int32_t)v->valuedouble;
            }
            ps[n].n = m;
        } else {
            const char *keys[] = {"prompt", "question", "text"};
            const cJSON *p = NULL;
            for (int k = 0; k < 3 && !cJSON_IsString(p); k++)
                p = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
            if (!cJSON_IsString(p)) {
                const cJSON *turns = cJSON_GetObjectItemCaseSensitive(j, "turns");
                p = cJSON_IsArray(turns) ? cJSON_GetArrayItem(turns, 0) : NULL;
            }
            if (!cJSON_IsString(p)) {
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: line %d has no 'prompt_ids' array nor a text field ('prompt', "
                             "'question', 'text', 'turns')", path, line_no);
            } else {
                if (!*tok)
                    st = tokenizer_load(tok, tok_path);
                if (st == FRS_OK)
                    st = chat ? tokenizer_apply_chat(*tok, NULL, p->valuestring, &ps[n].ids, &ps[n].n)
                              : tokenizer_encode(*tok, p->valuestring, strlen(p->valuestring), 1, &ps[n].ids, &ps[n].n);
            }
        }
        cJSON_Delete(j);
        if (st == FRS_OK && ps[n].n < 1)
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: line %d: empty prompt", path, line_no);
        n++;
    }
    free(txt);
    *out = ps;
    *n_out = n;
    if (st == FRS_OK && n == 0)
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: no prompts", path);
    return st;
}

static void jnum(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

int bench_acceptance(int argc, char **argv)
{
    struct gen_options opt;
    gen_options_init(&opt);
    const char *prompts = NULL, *fr_dir = NULL, *json = NULL, *klist = "8192,16384,32768,65536";
    int n_max = 20, chat = 0, ignore_eos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            acc_usage(stdout);
            return 0;
        }
        int r = gen_options_parse(&opt, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--prompts") && i + 1 < argc) {
            prompts = argv[++i];
        } else if (!strcmp(a, "--fr-vocab-dir") && i + 1 < argc) {
            fr_dir = argv[++i];
        } else if (!strcmp(a, "--k-list") && i + 1 < argc) {
            klist = argv[++i];
        } else if (!strcmp(a, "--json") && i + 1 < argc) {
            json = argv[++i];
        } else if (!strcmp(a, "--n") && i + 1 < argc) {
            if (cli_parse_int(a, argv[++i], 1, 1000000, &n_max))
                return 2;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = 1;
        } else {
            fprintf(stderr, "frspec bench acceptance: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!opt.model_dir || !opt.draft_dir || !prompts) {
        fprintf(stderr, "frspec bench acceptance: --model, --draft and --prompts are required (see --help)\n");
        return 2;
    }
    if (!opt.max_new_tokens)
        opt.max_new_tokens = 128;
    int ks[ACC_MAX_K];
    const int n_k = k_list_parse(klist, ks);
    if (!opt.fr_vocab && !fr_dir && n_k > 0)
        fprintf(stderr, "frspec bench acceptance: no --fr-vocab / --fr-vocab-dir: EAGLE-2 full vocabulary only\n");

    const struct frs_backend_entry *entry = frs_backend_default();
    if (opt.device && frs_backend_find(opt.device, &entry) != FRS_OK) {
        fprintf(stderr, "frspec bench acceptance: %s\n", frs_error_msg());
        return 2;
    }
    const struct frs_backend_ops *ops = entry->ops;
    const char *device = entry->name;

    struct llama_model m;
    struct eagle_draft d;
    memset(&d, 0, sizeof d);
    struct frs_tokenizer *tok = NULL;
    struct acc_prompt *ps = NULL;
    int n_ps = 0, have_d = 0, rc = 0;
    struct acc_row rows[ACC_MAX_K + 2];
    int n_rows = 0;
    int32_t **ar_out = NULL, *out = NULL;
    int *ar_n = NULL;
    cJSON *root = NULL;
    if (llama_model_load(&m, opt.model_dir, 0, 1) != FRS_OK)
        return cli_fail("bench acceptance");
    if (gen_options_finish(&opt, &m.cfg)) {
        llama_model_free(&m);
        return 2;
    }
    enum frs_status st = eagle_draft_load(&d, opt.draft_dir, &m);
    have_d = st == FRS_OK;
    char tok_path[4096];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", opt.model_dir);
    if (st == FRS_OK)
        st = load_prompts(prompts, n_max, &tok, opt.tokenizer ? opt.tokenizer : tok_path, chat, &ps, &n_ps);
    int32_t stop[8];
    int n_stop = 0;
    const int *eos = m.gen.n_eos ? m.gen.eos_token_ids : m.cfg.eos_token_ids;
    const int n_eos = m.gen.n_eos ? m.gen.n_eos : m.cfg.n_eos;
    for (int i = 0; i < n_eos && n_stop < 8 && !ignore_eos; i++)
        stop[n_stop++] = eos[i];
    if (st == FRS_OK) {
        ar_out = calloc((size_t)n_ps, sizeof *ar_out);
        ar_n = calloc((size_t)n_ps, sizeof *ar_n);
        out = malloc((size_t)opt.max_new_tokens * sizeof *out);
        if (!ar_out || !ar_n || !out)
            st = FRS_ERR(FRS_ERR_OOM, "bench acceptance");
    }
    /* configurations: 0 = autoregressive, 1 = EAGLE-2 full vocabulary, then FR-Spec K */
    const int n_cfg = 2 + n_k;
    for (int c = 0; c < n_cfg && st == FRS_OK; c++) {
        struct acc_row *row = &rows[n_rows];
        memset(row, 0, sizeof *row);
        if (c == 0) {
            snprintf(row->method, sizeof row->method, "autoregressive");
        } else if (c == 1) {
            snprintf(row->method, sizeof row->method, "EAGLE-2 full");
            row->k = m.cfg.vocab_size;
            st = eagle_draft_set_vocab(&d, &m, NULL, 0, 0);
        } else {
            const int k = ks[c - 2];
            if ((!opt.fr_vocab && !fr_dir) || k >= m.cfg.vocab_size)
                continue;
            int32_t *ids = NULL;
            int n_ids = 0;
            st = fr_list_for(opt.fr_vocab, fr_dir, k, &ids, &n_ids);
            if (st == FRS_OK && n_ids < k) {
                free(ids);
                fprintf(stderr, "frspec bench acceptance: K = %d skipped: the list has %d ids\n", k, n_ids);
                continue;
            }
            if (st == FRS_OK)
                st = eagle_draft_set_vocab(&d, &m, ids, n_ids, k);
            free(ids);
            snprintf(row->method, sizeof row->method, "FR-Spec");
            row->k = k;
        }
        if (st != FRS_OK)
            break;
        struct frs_backend be;
        memset(&be, 0, sizeof be);
        be.ops = ops;
        const struct frs_limits lim = {.max_ctx = opt.max_ctx, .max_tree = c ? opt.tree.size : 0,
                                       .prefill_chunk = opt.prefill_chunk};
        st = ops->create(&be, &m, c ? &d : NULL, NULL, &lim, &opt.backend);
        if (st != FRS_OK)
            break;
        for (int p = 0; p < n_ps && st == FRS_OK; p++) {
            struct frs_gen_request req = {.prompt = ps[p].ids, .n_prompt = ps[p].n,
                                          .max_new_tokens = opt.max_new_tokens, .stop = stop, .n_stop = n_stop,
                                          .sampling = opt.sampling, .speculative = c > 0, .tree = opt.tree};
            struct frs_gen_stats gs;
            memset(&gs, 0, sizeof gs);
            st = engine_generate(&be, &req, out, opt.max_new_tokens, &gs, NULL);
            if (st == FRS_ERR_TOO_LONG) {
                fprintf(stderr, "frspec bench acceptance: prompt %d: %s (skipped)\n", p + 1, frs_error_msg());
                frs_error_clear();
                st = FRS_OK;
                row->failed++;
                continue;
            }
            if (st != FRS_OK)
                break;
            row->n_prompts++;
            row->tokens += gs.n_tokens;
            row->t_all += gs.t_prefill + gs.t_decode;
            row->t_decode += gs.t_decode;
            row->dec_tokens += gs.n_tokens > 1 ? gs.n_tokens - 1 : 0;
            if (c > 0) {
                const double si = gs.iterations - 1;
                row->spec_iters += si;
                row->acc_sum += gs.mean_accepted * si;
            }
            if (c == 0) {
                ar_out[p] = malloc((size_t)(gs.n_tokens ? gs.n_tokens : 1) * sizeof *ar_out[p]);
                if (ar_out[p])
                    memcpy(ar_out[p], out, (size_t)gs.n_tokens * sizeof *out);
                ar_n[p] = gs.n_tokens;
                row->identical++;
            } else if (ar_out[p] && ar_n[p] == gs.n_tokens &&
                       !memcmp(ar_out[p], out, (size_t)gs.n_tokens * sizeof *out)) {
                row->identical++;
            }
        }
        ops->destroy(&be);
        n_rows++;
    }
    if (st != FRS_OK) {
        rc = cli_fail("bench acceptance");
        goto done;
    }

    printf("frspec bench acceptance: %s + %s, %d prompts of %s, %d new tokens max, %s, device %s, tree %d/%d/%d\n",
           opt.model_dir, opt.draft_dir, n_ps, prompts, opt.max_new_tokens,
           opt.sampling.temperature > 0 ? "sampled" : "greedy", device, opt.tree.depth, opt.tree.topk, opt.tree.size);
    printf("%-16s %7s %12s %14s %14s %8s %10s\n", "method", "K", "mean accept", "decode tok/s", "overall tok/s",
           "tokens", "identical");
    root = cJSON_CreateObject();
    char cmd[2048] = "frspec bench";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
    }
    cJSON_AddStringToObject(root, "command", cmd);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(root, "date_utc", date);
    cJSON_AddStringToObject(root, "device", device);
    cJSON_AddStringToObject(root, "model", opt.model_dir);
    cJSON_AddStringToObject(root, "draft", opt.draft_dir);
    cJSON_AddStringToObject(root, "prompts", prompts);
    cJSON_AddNumberToObject(root, "n_prompts", n_ps);
    cJSON_AddNumberToObject(root, "max_new_tokens", opt.max_new_tokens);
    cJSON_AddNumberToObject(root, "temperature", opt.sampling.temperature);
    cJSON *jrows = cJSON_AddArrayToObject(root, "rows");
    for (int r = 0; r < n_rows; r++) {
        const struct acc_row *w = &rows[r];
        const double acc = w->spec_iters > 0 ? w->acc_sum / w->spec_iters : 1.0;
        const double dtps = w->t_decode > 0 ? w->dec_tokens / w->t_decode : 0;
        const double otps = w->t_all > 0 ? w->tokens / w->t_all : 0;
        char kbuf[16] = "-";
        if (w->k)
            snprintf(kbuf, sizeof kbuf, "%d", w->k);
        printf("%-16s %7s %12.3f %14.1f %14.1f %8.0f %6d/%-3d\n", w->method, kbuf, acc, dtps, otps, w->tokens,
               w->identical, w->n_prompts);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(jrows, o);
        cJSON_AddStringToObject(o, "method", w->method);
        jnum(o, "k", w->k);
        jnum(o, "mean_accepted", acc);
        jnum(o, "decode_tokens_per_s", dtps);
        jnum(o, "overall_tokens_per_s", otps);
        jnum(o, "tokens", w->tokens);
        jnum(o, "speculative_iterations", w->spec_iters);
        jnum(o, "identical_to_autoregressive", w->identical);
        jnum(o, "prompts", w->n_prompts);
        jnum(o, "skipped_too_long", w->failed);
    }
    if (json) {
        char *t = cJSON_Print(root);
        FILE *f = fopen(json, "w");
        if (!f || fputs(t, f) < 0 || fclose(f)) {
            fprintf(stderr, "frspec bench acceptance: cannot write %s\n", json);
            rc = 1;
        }
        free(t);
    }
done:
    cJSON_Delete(root);
    for (int p = 0; p < n_ps; p++) {
        free(ps[p].ids);
        if (ar_out)
            free(ar_out[p]);
    }
    free(ps);
    free(ar_out);
    free(ar_n);
    free(out);
    if (tok)
        tokenizer_free(tok);
    if (have_d)
        eagle_draft_free(&d);
    llama_model_free(&m);
    return rc;
}
