/* fuzz_jobfile.c - fuzz entry point for the batch JSONL reader (launch/jobfile.c), with its
 * known-answer checks.
 *
 * LLVMFuzzerTestOneInput reads the bytes as a --prompts file with jobfile_open_input_mem and
 * checks what every record must satisfy: a good record has an id and a prompt, a bad one an error
 * naming the file; an id taken from a JSON number is that number's text (it parses back as a
 * number); ids are unique; jobfile_next hands out every record once, in order.
 *
 * Built two ways (tests/cmake/jobs.cmake):
 *  - always, as the ctest `fuzz_jobfile`: main() below runs the known-answer checks, then feeds
 *    the entry point 30,000 deterministic corruptions of seed files (bytes replaced by
 *    JSON punctuation, truncations, lines spliced and duplicated);
 *  - with -DFRSPEC_FUZZ=ON and clang, as the libFuzzer target `fuzz_jobfile_libfuzzer`.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jobfile jf;
    if (jobfile_open_input_mem(&jf, "fuzz.jsonl", (const char *)data, size) != FRS_OK) {
        if (!frs_error_msg()[0])
            abort(); /* an error without a message */
        return 0;
    }
    const struct jobfile_record *rec;
    int seen = 0, last_line = 0;
    while (jobfile_next(&jf, &rec) == FRS_OK && rec) {
        if (rec->line_no <= last_line)
            abort(); /* in input order, each once */
        last_line = rec->line_no;
        seen++;
        if (!rec->error && (!rec->id || !rec->prompt))
            abort();
        if (rec->error && (rec->prompt || !strstr(rec->error, "fuzz.jsonl")))
            abort();
        for (int i = 0; i < jf.n_recs && rec->id; i++)
            if (&jf.recs[i] != rec && jf.recs[i].id && !strcmp(jf.recs[i].id, rec->id))
                abort(); /* duplicates are refused at open */
    }
    if (seen != jf.n_recs)
        abort();
    jobfile_close(&jf);
    return 0;
}

#ifndef FRSPEC_LIBFUZZER
#include "testutil.h"

static uint64_t fuzz_rng_state = 0x2545f4914f6cdd1dull;

static uint64_t fuzz_rand(void) /* xorshift64*: deterministic corruptions */
{
    fuzz_rng_state ^= fuzz_rng_state >> 12;
    fuzz_rng_state ^= fuzz_rng_state << 25;
    fuzz_rng_state ^= fuzz_rng_state >> 27;
    return fuzz_rng_state * 2685821657736338717ull;
}

static const char seed_a[] =
    "{\"question_id\": 81, \"category\": \"writing\", \"turns\": [\"Hello\", \"second\"]}\n"
    "{\"id\": \"b\", \"prompt\": \"The capital of \\\"France\\\" is\"}\n"
    "\n"
    "{\"task_id\": \"HumanEval/0\", \"prompt\": \"def add(a, b):\"}\n"
    "{\"id\": -1.25e+3, \"x\": {\"id\": [1, {\"q\": \"]}\"}]}, \"text\": \"1, 2, 3,\"}\n"
    "{\"prompt\": \"no id\"}\n"
    "{\"id\": null, \"prompt\": \"n\"}\n"
    "[1, 2]\n"
    "{not json\n";

/* known answers: exact ids, line numbers, bad lines, duplicates */
static void known_answers(void)
{
    struct jobfile jf;
    CHECK_OK(jobfile_open_input_mem(&jf, "seed.jsonl", seed_a, strlen(seed_a)));
    CHECK(jf.n_recs == 8, "%d records (a blank line is skipped)", jf.n_recs);
    if (jf.n_recs == 8) {
        static const char *const ids[] = {"81", "b", "HumanEval/0", "-1.25e+3", "6", NULL, NULL, NULL};
        static const int lines[] = {1, 2, 4, 5, 6, 7, 8, 9};
        for (int i = 0; i < 8; i++) {
            const struct jobfile_record *r = &jf.recs[i];
            CHECK(r->line_no == lines[i], "record %d: line %d, want %d", i, r->line_no, lines[i]);
            CHECK(ids[i] ? r->id && !strcmp(r->id, ids[i]) : !r->id, "record %d: id '%s', want '%s'", i,
                  r->id ? r->id : "(none)", ids[i] ? ids[i] : "(none)");
            CHECK((i < 5) == (r->error == NULL), "record %d: error '%s'", i, r->error ? r->error : "");
        }
        CHECK(!strcmp(jf.recs[1].prompt, "The capital of \"France\" is"), "prompt '%s'", jf.recs[1].prompt);
        CHECK(!strcmp(jf.recs[0].prompt, "Hello"), "turns[0]");
        CHECK(strstr(jf.recs[5].error, "seed.jsonl: line 7") != NULL, "%s", jf.recs[5].error);
    }
    jobfile_close(&jf);

    const char dup[] = "{\"id\": 1.2, \"prompt\": \"a\"}\n{\"id\": 1.4, \"prompt\": \"b\"}\n{\"id\": 1.20, \"prompt\": \"c\"}\n"
                       "{\"prompt\": \"d\"}\n{\"id\": \"1.4\", \"prompt\": \"e\"}\n";
    frs_error_clear();
    CHECK(jobfile_open_input_mem(&jf, "dup.jsonl", dup, strlen(dup)) == FRS_ERR_FORMAT, "duplicate accepted");
    CHECK(strstr(frs_error_msg(), "dup.jsonl: lines 2 and 5 have the same id '1.4'") != NULL, "%s", frs_error_msg());
    /* a line-number id collides with an explicit one */
    const char dup2[] = "{\"prompt\": \"a\"}\n{\"id\": \"1\", \"prompt\": \"b\"}\n";
    CHECK(jobfile_open_input_mem(&jf, "dup2.jsonl", dup2, strlen(dup2)) == FRS_ERR_FORMAT, "line-number id duplicate");

    /* 100k ids: linear (hash set), well under a second even under ASan */
    const int n = 100000;
    char *big = malloc((size_t)n * 40);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(big + len, "{\"id\":\"q%06d\",\"prompt\":\"p\"}\n", i);
    CHECK_OK(jobfile_open_input_mem(&jf, "big.jsonl", big, len));
    CHECK(jf.n_recs == n, "%d records", jf.n_recs);
    jobfile_close(&jf);
    free(big);
}

static void mutate(char *b, size_t *n, size_t cap)
{
    static const char alphabet[] = "{}[]\":,\\-.0123456789eE \nidprompt";
    switch (fuzz_rand() % 5) {
    case 0:
    case 1: {
        int k = 1 + (int)(fuzz_rand() % 4);
        for (int i = 0; i < k && *n; i++)
            b[fuzz_rand() % *n] = alphabet[fuzz_rand() % (sizeof alphabet - 1)];
        break;
    }
    case 2:
        *n = (size_t)(fuzz_rand() % (*n + 1));
        break;
    case 3: { /* copy a chunk over another place */
        if (*n < 8)
            break;
        size_t len = 1 + fuzz_rand() % 40, a = fuzz_rand() % *n, c = fuzz_rand() % *n;
        if (a + len <= *n && c + len <= *n)
            memmove(b + c, b + a, len);
        break;
    }
    default: { /* duplicate a chunk at the end (a repeated line, a repeated id) */
        size_t len = 1 + fuzz_rand() % 80, a = *n ? fuzz_rand() % *n : 0;
        if (a + len <= *n && *n + len <= cap) {
            memcpy(b + *n, b + a, len);
            *n += len;
        }
        break;
    }
    }
}

int main(void)
{
    known_answers();
    const size_t n0 = strlen(seed_a), cap = 4 * n0;
    char *b = malloc(cap);
    for (int it = 0; it < 30000; it++) {
        memcpy(b, seed_a, n0);
        size_t n = n0;
        int rounds = 1 + (int)(fuzz_rand() % 4);
        for (int r = 0; r < rounds; r++)
            mutate(b, &n, cap);
        LLVMFuzzerTestOneInput((const uint8_t *)b, n);
    }
    free(b);
    return test_finish("fuzz_jobfile");
}
#endif
