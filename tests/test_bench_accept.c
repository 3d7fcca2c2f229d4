/* test_bench_accept.c - `frspec bench acceptance` on the CPU over the spec Markov fixtures
 * (tests/fixtures/spec): a target whose next token is a function of the last one, an exact draft
 * head (predicts the target exactly) and a noisy one. Checks of the table's JSON against closed
 * forms: greedy speculative output equals the autoregressive output on every prompt (lossless);
 * the exact head with the full vocabulary accepts at most depth + 1 tokens an iteration and
 * nearly always that many (its draft is right by construction; test_spec uses the same bound);
 * an FR-Spec list (a scrambled order here) can only lose acceptance; bad options are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"

static cJSON *run_bench(const char *draft, const char *extra, const char *dir)
{
    char cmd[4096], json[1024];
    snprintf(json, sizeof json, "%s/out.json", dir);
    unlink(json);
    snprintf(cmd, sizeof cmd,
             "%s bench acceptance --model %s/spec/markov-target --draft %s/spec/%s --prompts %s/prompts.jsonl "
             "--max-new-tokens 37 --ignore-eos --device cpu --tree-depth 3 --tree-topk 10 --tree-size 30 --json %s %s "
             "> %s/stdout.txt 2>&1",
             FRSPEC_BIN, FRSPEC_FIXTURES, FRSPEC_FIXTURES, draft, dir, json, extra, dir);
    int rc = system(cmd);
    CHECK(rc == 0, "frspec bench acceptance exit %d (%s)", rc, cmd);
    FILE *f = fopen(json, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

static double num(const cJSON *row, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int main(void)
{
    char dir[] = "/tmp/frs_bench_accXXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[1200];
    snprintf(path, sizeof path, "%s/prompts.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int p = 0; p < 5; p++) { /* ids >= 2: 0 is BOS, 1 EOS in the fixture */
        fprintf(f, "{\"id\": %d, \"prompt_ids\": [", p);
        for (int i = 0; i < 4 + p; i++)
            fprintf(f, "%s%d", i ? ", " : "", 2 + (p * 37 + i * 11) % 250);
        fprintf(f, "]}\n");
    }
    fclose(f);
    /* a list of every id (0..255), in a scrambled order */
    snprintf(path, sizeof path, "%s/freq.txt", dir);
    f = fopen(path, "w");
    for (int i = 0; i < 256; i++)
        fprintf(f, "%d\n", (i * 97 + 5) % 256);
    fclose(f);

    /* exact head */
    char extra[1400];
    snprintf(extra, sizeof extra, "--fr-vocab %s --k-list 16,128,255", path);
    cJSON *j = run_bench("markov-exact", extra, dir);
    CHECK(j != NULL, "JSON written");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
    CHECK(cJSON_GetArraySize(rows) == 5, "5 rows (AR, full, 3 K), got %d", cJSON_GetArraySize(rows));
    double full_acc = -1;
    for (int r = 0; r < cJSON_GetArraySize(rows); r++) {
        const cJSON *row = cJSON_GetArrayItem(rows, r);
        const double prompts = num(row, "prompts");
        CHECK(prompts == 5, "row %d: 5 prompts", r);
        CHECK(num(row, "identical_to_autoregressive") == prompts, "row %d: greedy output identical to AR", r);
        CHECK(num(row, "tokens") == 5 * 37, "row %d: 37 tokens per prompt", r);
        if (r == 0)
            CHECK(num(row, "mean_accepted") == 1.0, "AR accepts 1");
        if (r == 1) {
            full_acc = num(row, "mean_accepted");
            CHECK(full_acc >= 0.9 * 4.0 && full_acc <= 4.0,
                  "exact head, full vocabulary: about depth + 1 = 4 per iteration, at most 4 (got %g)", full_acc);
        }
        if (r >= 2)
            CHECK(num(row, "mean_accepted") <= full_acc + 1e-9 && num(row, "mean_accepted") >= 1.0,
                  "FR-Spec row %d accepts between 1 and the full vocabulary's %g (got %g)", r, full_acc,
                  num(row, "mean_accepted"));
    }
    cJSON_Delete(j);

    /* noisy head: bad option values are refused */
    snprintf(extra, sizeof extra, "--fr-vocab-dir %s/none --k-list 16", dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s bench acceptance --model %s/spec/markov-target --draft %s/spec/markov-noisy "
             "--prompts %s/prompts.jsonl %s --device cpu > /dev/null 2>&1", FRSPEC_BIN, FRSPEC_FIXTURES,
             FRSPEC_FIXTURES, dir, extra);
    CHECK(system(cmd) != 0, "a missing --fr-vocab-dir is an error");
    snprintf(cmd, sizeof cmd, "%s bench acceptance --model %s/spec/markov-target --draft %s/spec/markov-noisy "
             "> /dev/null 2>&1", FRSPEC_BIN, FRSPEC_FIXTURES, FRSPEC_FIXTURES);
    CHECK(system(cmd) != 0, "--prompts is required");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_bench_accept");
}
