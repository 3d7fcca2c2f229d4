/* cmd_vocab.c - `frspec vocab`: FR-Spec token lists.
 *   frspec vocab build --tokenizer DIR --corpus FILE... --top K --out FILE   (count, write .pt + .txt)
 *   frspec vocab show FILE [--k K]                                           (read a list, summarise)
 *
 * defines: cmd_vocab
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frvocab.h"
#include "status.h"
#include "tokenizer.h"
#include "vocab_build.h"

static void vocab_usage(FILE *f)
{
    fprintf(f,
            "usage: frspec vocab build --tokenizer DIR --corpus FILE... --top K --out FILE [options]\n"
            "       frspec vocab show FILE [--k K]\n"
            "\n"
            "build: counts token frequencies over a corpus with the target's tokenizer (what FR-Spec's\n"
            "fr/fr.py does over SlimPajama) and writes the K most frequent ids, most frequent first\n"
            "(ties by id), as a torch.save'd list (FILE.pt, read by the FR-Spec and SGLang code too)\n"
            "and as text (FILE.txt, one id a line).\n"
            "  --tokenizer P    a model directory holding tokenizer.json, or the tokenizer.json file\n"
            "  --corpus F...    corpus files: *.jsonl[.gz] (every JSON string value of every line, or\n"
            "                   those of --field), *.json[.gz] (one JSON value), anything else plain\n"
            "                   text (gzip read transparently)\n"
            "  --top K          how many ids to keep (e.g. 32768)\n"
            "  --out FILE       FILE.pt (the .txt goes next to it), FILE.txt, or a stem for both\n"
            "  --out-txt FILE   where the text list goes instead\n"
            "  --field NAME     JSONL: only the strings under the key NAME (e.g. text)\n"
            "  --threads N      encoding threads (default 2, or 1 on one CPU)\n"
            "  --add-special    add the tokenizer's BOS to every text, as fr.py's encode() does\n"
            "  --quiet          no progress lines\n"
            "show: reads a list (.pt or text) and prints its size, distinct ids and first ids.\n");
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int vocab_show(int argc, char **argv)
{
    const char *path = NULL;
    int k = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--k") && i + 1 < argc)
            k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            vocab_usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "frspec vocab show: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "frspec vocab show: a FILE is required\n");
        return 2;
    }
    int32_t *ids = NULL;
    int n = 0;
    if (frvocab_load(path, &ids, &n) != FRS_OK) {
        fprintf(stderr, "frspec vocab show: %s\n", frs_error_msg());
        return 1;
    }
    int32_t mx = 0;
    for (int i = 0; i < n; i++)
        mx = ids[i] > mx ? ids[i] : mx;
    int raw_n = n;
    int32_t first[16];
    int nfirst = n < 16 ? n : 16;
    memcpy(first, ids, sizeof *ids * (size_t)nfirst);
    int distinct = frvocab_first_distinct(ids, n, 0, mx + 1);
    printf("%s: %d entries, %d distinct ids, largest id %d\n", path, raw_n, distinct, (int)mx);
    if (k > 0)
        printf("first %d distinct ids: %s\n", k,
               distinct >= k ? "available" : "NOT available (the list is too short)");
    printf("first ids:");
    for (int i = 0; i < nfirst; i++)
        printf(" %d", (int)first[i]);
    printf("%s\n", raw_n > nfirst ? " ..." : "");
    free(ids);
    return distinct >= k ? 0 : 1;
}

static int vocab_build(int argc, char **argv)
{
    const char *tok_arg = NULL, *out = NULL, *out_txt = NULL;
    const char **corpus = calloc((size_t)argc + 1, sizeof *corpus);
    int n_corpus = 0, top = 0, rc = 1;
    struct vocab_build_opts o = {.progress = 1};
    struct frs_tokenizer *tok = NULL;
    struct vocab_counts c = {0};
    int32_t *ids = NULL;
    char *pt = NULL, *txt = NULL;
    if (!corpus) {
        fprintf(stderr, "frspec vocab build: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            vocab_usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--tokenizer") && more) {
            tok_arg = argv[++i];
        } else if (!strcmp(a, "--corpus") && more) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                corpus[n_corpus++] = argv[++i];
        } else if (!strcmp(a, "--top") && more) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 100000000) {
                fprintf(stderr, "frspec vocab build: --top '%s' is not a positive count\n", argv[i]);
                rc = 2;
                goto out;
            }
            top = (int)v;
        } else if (!strcmp(a, "--out") && more) {
            out = argv[++i];
        } else if (!strcmp(a, "--out-txt") && more) {
            out_txt = argv[++i];
        } else if (!strcmp(a, "--field") && more) {
            o.field = argv[++i];
        } else if (!strcmp(a, "--threads") && more) {
            o.threads = atoi(argv[++i]);
        } else if (!strcmp(a, "--add-special")) {
            o.add_special = 1;
        } else if (!strcmp(a, "--quiet")) {
            o.progress = 0;
        } else {
            fprintf(stderr, "frspec vocab build: unknown or incomplete option '%s'\n", a);
            vocab_usage(stderr);
            rc = 2;
            goto out;
        }
    }
    if (!tok_arg || !n_corpus || !top || !out) {
        fprintf(stderr, "frspec vocab build: --tokenizer, --corpus, --top and --out are required\n");
        vocab_usage(stderr);
        rc = 2;
        goto out;
    }
    /* output paths */
    size_t ol = strlen(out);
    pt = malloc(ol + 8);
    txt = malloc((out_txt ? strlen(out_txt) : ol) + 8);
    if (!pt || !txt) {
        fprintf(stderr, "frspec vocab build: out of memory\n");
        goto out;
    }
    if (has_suffix(out, ".pt")) {
        strcpy(pt, out);
        snprintf(txt, ol + 8, "%.*s.txt", (int)(ol - 3), out);
    } else if (has_suffix(out, ".txt")) {
        snprintf(pt, ol + 8, "%.*s.pt", (int)(ol - 4), out);
        strcpy(txt, out);
    } else {
        snprintf(pt, ol + 8, "%s.pt", out);
        snprintf(txt, ol + 8, "%s.txt", out);
    }
    if (out_txt)
        strcpy(txt, out_txt);

    char tok_path[4096];
    struct stat sb;
    if (stat(tok_arg, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", tok_arg);
    else
        snprintf(tok_path, sizeof tok_path, "%s", tok_arg);
    if (tokenizer_load(&tok, tok_path) != FRS_OK) {
        fprintf(stderr, "frspec vocab build: %s\n", frs_error_msg());
        goto out;
    }
    if (top > tokenizer_vocab_size(tok)) {
        fprintf(stderr, "frspec vocab build: --top %d is larger than the vocabulary of %s (%d)\n", top, tok_path,
                tokenizer_vocab_size(tok));
        rc = 2;
        goto out;
    }
    if (vocab_count_files(tok, corpus, n_corpus, &o, &c) != FRS_OK) {
        fprintf(stderr, "frspec vocab build: %s\n", frs_error_msg());
        goto out;
    }
    if (c.total_tokens == 0) { /* a list of ids in id order would mean nothing */
        fprintf(stderr, "frspec vocab build: the corpus (%d file(s), %lld bytes) holds no text: no token was counted; "
                "nothing written\n", n_corpus, (long long)c.bytes);
        goto out;
    }
    int64_t covered = 0;
    if (vocab_top_k(&c, top, &ids, &covered) != FRS_OK) {
        fprintf(stderr, "frspec vocab build: %s\n", frs_error_msg());
        goto out;
    }
    int seen = 0;
    for (int v = 0; v < c.vocab; v++)
        seen += c.count[v] > 0;
    double cov = c.total_tokens ? (double)covered / (double)c.total_tokens : 0.0;
    char comment[6144];
    snprintf(comment, sizeof comment,
             "FR-Spec token list: the %d most frequent ids (ties by id), most frequent first\n"
             "tokenizer %s; %lld tokens over %d corpus file(s), %d distinct ids; coverage %.4f",
             top, tok_path, (long long)c.total_tokens, n_corpus, seen, cov);
    if (frvocab_save_pt(pt, ids, top) != FRS_OK || frvocab_save_txt(txt, ids, top, comment) != FRS_OK) {
        fprintf(stderr, "frspec vocab build: %s\n", frs_error_msg());
        goto out;
    }
    printf("counted %lld tokens (%.1f MiB of text, %lld texts) in %.1f s: %.0f tokens/s\n",
           (long long)c.total_tokens, (double)c.bytes / (1024.0 * 1024.0), (long long)c.texts, c.seconds,
           c.seconds > 0 ? (double)c.total_tokens / c.seconds : 0.0);
    printf("distinct ids seen: %d of %d\n", seen, c.vocab);
    printf("top %d ids cover %.2f%% of the counted tokens\n", top, 100.0 * cov);
    if (seen < top)
        printf("note: only %d ids were seen; the list ends with %d unseen ids (by id)\n", seen, top - seen);
    printf("wrote %s and %s\n", pt, txt);
    rc = 0;
out:
    free(ids);
    free(pt);
    free(txt);
    vocab_counts_free(&c);
    tokenizer_free(tok);
    free(corpus);
    return rc;
}

int cmd_vocab(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        vocab_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "build"))
        return vocab_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return vocab_show(argc - 1, argv + 1);
    fprintf(stderr, "frspec vocab: unknown subcommand '%s' (build, show)\n", argv[1]);
    vocab_usage(stderr);
    return 2;
}
