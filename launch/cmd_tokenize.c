/* cmd_tokenize.c - `frspec tokenize`: the ids of a text, or with --decode the text of ids, as the
 * model's tokenizer.json gives them. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: frspec tokenize [--model DIR | --tokenizer FILE] [--decode] [--no-special] [--chat] TEXT|-\n"
            "\n"
            "Prints the token ids of TEXT ('-' reads stdin) as one JSON array, as Hugging Face tokenizers\n"
            "encode(text) gives them (BOS added). With --decode, TEXT is a JSON array of ids (or ids\n"
            "separated by spaces) and the decoded text is printed.\n"
            "  --model DIR         use DIR/tokenizer.json (default: the embedded default model)\n"
            "  --tokenizer FILE    a tokenizer.json file\n"
            "  --no-special        encode: add no BOS; decode: drop special tokens\n"
            "  --chat              encode TEXT as a user turn in the Llama-3 chat format\n");
}

static enum frs_status parse_ids(const char *text, int32_t **ids, int *n)
{
    cJSON *j = cJSON_Parse(text);
    int cap = 64, k = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) {
        cJSON_Delete(j);
        return FRS_ERR(FRS_ERR_OOM, "ids");
    }
    if (j && cJSON_IsArray(j)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 2147483647.0 ||
                it->valuedouble != (double)(int32_t)it->valuedouble) {
                cJSON_Delete(j);
                free(v);
                return FRS_ERR(FRS_ERR_INVALID_ARG, "--decode: element %d of the array is not a token id", k);
            }
            if (k == cap && !(v = realloc(v, (size_t)(cap *= 2) * sizeof *v))) {
                cJSON_Delete(j);
                return FRS_ERR(FRS_ERR_OOM, "ids");
            }
            v[k++] = (int32_t)it->valuedouble;
        }
        cJSON_Delete(j);
    } else {
        cJSON_Delete(j);
        const char *p = text;
        while (*p) {
            char *end;
            p += strspn(p, " \t\r\n,");
            if (!*p)
                break;
            long x = strtol(p, &end, 10);
            if (end == p || x < 0 || x > 2147483647L) {
                free(v);
                return FRS_ERR(FRS_ERR_INVALID_ARG, "--decode: '%.20s' is not a token id", p);
            }
            if (k == cap) {
                int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                if (!nv) {
                    free(v);
                    return FRS_ERR(FRS_ERR_OOM, "ids");
                }
                v = nv;
            }
            v[k++] = (int32_t)x;
            p = end;
        }
    }
    *ids = v;
    *n = k;
    return FRS_OK;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *tokfile = NULL, *text = NULL;
    int decode = 0, no_special = 0, chat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
            tokfile = argv[++i];
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--no-special")) {
            no_special = 1;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!text && (a[0] != '-' || !strcmp(a, "-") || a[1] == '\0')) {
            text = a;
        } else if (!text && !strcmp(a, "--") && i + 1 < argc) {
            text = argv[++i];
        } else {
            fprintf(stderr, "frspec tokenize: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!text) {
        fprintf(stderr, "frspec tokenize: give TEXT or - (see --help)\n");
        return 2;
    }
    char path[4096];
    if (!tokfile) {
        snprintf(path, sizeof path, "%s/tokenizer.json", model ? model : cli_default_model());
        tokfile = path;
    }
    char *input = NULL;
    if (!strcmp(text, "-")) {
        if (cli_read_file("-", &input, NULL) != FRS_OK)
            return cli_fail("stdin");
        text = input;
    }
    struct frs_tokenizer *tok;
    if (tokenizer_load(&tok, tokfile) != FRS_OK) {
        free(input);
        return cli_fail(NULL);
    }
    int rc = 0;
    int32_t *ids = NULL;
    int n = 0;
    if (decode) {
        char *out = NULL;
        size_t len = 0;
        if (parse_ids(text, &ids, &n) != FRS_OK || tokenizer_decode(tok, ids, n, no_special, &out, &len) != FRS_OK) {
            rc = cli_fail(NULL);
        } else {
            fwrite(out, 1, len, stdout);
            fputc('\n', stdout);
        }
        free(out);
    } else {
        enum frs_status st = chat ? tokenizer_apply_chat(tok, NULL, text, &ids, &n)
                                  : tokenizer_encode(tok, text, strlen(text), !no_special, &ids, &n);
        if (st != FRS_OK) {
            rc = cli_fail(NULL);
        } else {
            fputc('[', stdout);
            for (int i = 0; i < n; i++)
                printf(i ? ", %d" : "%d", ids[i]);
            fputs("]\n", stdout);
        }
    }
    free(ids);
    free(input);
    tokenizer_free(tok);
    return rc;
}
