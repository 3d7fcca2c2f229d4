/* test_frvocab.c - FR-Spec token lists (runtime/frvocab.c): freq_K.pt files written by torch.save
 * as FR-Spec's fr.py writes them (K+1 / K+2 entries with repeated BOS / EOT) give the list of
 * expected.json and its first K distinct ids (computed in Python by the fixture script); the
 * text format gives the same list; errors for empty lists, negative ids, ids past int32, text
 * that is not ids, missing files; both writers round-trip (and torch.load reads the .pt when
 * python3 with torch is installed). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frvocab.h"
#include "testutil.h"

static cJSON *expected;


/* ids[0..n) equal the JSON array arr */
static int same_as(const int32_t *ids, int n, const cJSON *arr, const char *what)
{
    int m = cJSON_GetArraySize(arr);
    if (m != n) {
        CHECK(0, "%s: %d ids, expected %d", what, n, m);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        double e = cJSON_GetArrayItem(arr, i)->valuedouble;
        if ((double)ids[i] != e) {
            CHECK(0, "%s: entry %d is %d, expected %.0f", what, i, (int)ids[i], e);
            return 0;
        }
    }
    test_checks++;
    return 1;
}

static void test_published_shape(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "frvocab/%s", name);
    const cJSON *e = cJSON_GetObjectItem(expected, name);
    int32_t *ids = NULL;
    int n = 0;
    CHECK_OK(frvocab_load(test_fixture(rel), &ids, &n));
    if (!ids)
        return;
    same_as(ids, n, cJSON_GetObjectItem(e, "raw"), name);
    int k = cJSON_GetObjectItem(e, "k")->valueint;
    CHECK(n > k || !strcmp(name, "tuple.pt"), "%s: fr.py leaves K+1 or K+2 entries (%d for K=%d)", name, n, k);
    int got = frvocab_first_distinct(ids, n, k, 128256);
    CHECK(got == k, "%s: %d distinct ids, expected %d", name, got, k);
    same_as(ids, got, cJSON_GetObjectItem(e, "first_k_distinct"), name);
    free(ids);
}

static void expect_error(const char *path, enum frs_status want, const char *w1, const char *w2)
{
    int32_t *ids = NULL;
    int n = 0;
    enum frs_status st = frvocab_load(path, &ids, &n);
    CHECK(st == want && strstr(frs_error_msg(), w1) && (!w2 || strstr(frs_error_msg(), w2)),
          "%s: expected %s naming '%s'%s%s, got %s", path, frs_status_str(want), w1, w2 ? " and " : "",
          w2 ? w2 : "", frs_error_msg());
    CHECK(ids == NULL && n == 0, "%s: output set on error", path);
    free(ids);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    char *js = test_read_file(test_fixture("frvocab/expected.json"), NULL);
    expected = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!expected) {
        fprintf(stderr, "cannot read expected.json\n");
        return 1;
    }
    test_published_shape("freq_64.pt");
    test_published_shape("freq_64_eot.pt");
    test_published_shape("freq_64_p4.pt");
    test_published_shape("freq_1500.pt");
    test_published_shape("tuple.pt");

    /* the text format: same list as freq_64.pt (comments, blank lines) */
    int32_t *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    CHECK_OK(frvocab_load(test_fixture("frvocab/freq_64.txt"), &a, &na));
    CHECK_OK(frvocab_load(test_fixture("frvocab/freq_64.pt"), &b, &nb));
    CHECK(a && b && na == nb && !memcmp(a, b, sizeof *a * (size_t)na), "freq_64.txt differs from freq_64.pt");
    /* out-of-range ids load (the vocabulary is not known here); the draft rejects them */
    int32_t *c = NULL;
    int nc = 0;
    CHECK_OK(frvocab_load(test_fixture("frvocab/out_of_range.pt"), &c, &nc));
    CHECK(nc == 3 && c[1] == 128256, "out_of_range.pt");
    CHECK(frvocab_first_distinct(c, nc, 0, 128256) == 2, "ids outside the vocabulary are skipped");
    free(c);

    expect_error(test_fixture("frvocab/empty.pt"), FRS_ERR_FORMAT, "empty.pt", "empty");
    expect_error(test_fixture("frvocab/negative.pt"), FRS_ERR_FORMAT, "entry 1", "-1");
    expect_error(test_fixture("frvocab/long.pt"), FRS_ERR_FORMAT, "entry 1", "1099511627776");
    expect_error(test_fixture("frvocab/dict.pt"), FRS_ERR_FORMAT, "dict.pt", "not a list");
    expect_error(test_fixture("frvocab/missing.pt"), FRS_ERR_IO, "missing.pt", NULL);

    char tmp[] = "/tmp/frspec-frvocab-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char p1[256], p2[256], p3[256], p4[256];
    snprintf(p1, sizeof p1, "%s/bad.txt", tmp);
    write_text(p1, "# header\n12\n13 14\n");
    expect_error(p1, FRS_ERR_FORMAT, "bad.txt:3", "13 14");
    write_text(p1, "5\n-3\n");
    expect_error(p1, FRS_ERR_FORMAT, "bad.txt:2", "-3");
    write_text(p1, "# only comments\n\n");
    expect_error(p1, FRS_ERR_FORMAT, "bad.txt", "empty");
    write_text(p1, "99999999999\n");
    expect_error(p1, FRS_ERR_FORMAT, "bad.txt:1", "99999999999");

    /* writers: round trip through both formats */
    snprintf(p2, sizeof p2, "%s/freq_64.pt", tmp);
    snprintf(p3, sizeof p3, "%s/freq_64.txt", tmp);
    CHECK_OK(frvocab_save_pt(p2, b, nb));
    CHECK_OK(frvocab_save_txt(p3, b, nb, "FR-Spec list\nsecond line"));
    int32_t *r = NULL;
    int nr = 0;
    CHECK_OK(frvocab_load(p2, &r, &nr));
    CHECK(r && nr == nb && !memcmp(r, b, sizeof *r * (size_t)nb), "save_pt round trip");
    free(r);
    CHECK_OK(frvocab_load(p3, &r, &nr));
    CHECK(r && nr == nb && !memcmp(r, b, sizeof *r * (size_t)nb), "save_txt round trip");
    free(r);
    if (system("python3 -c 'import torch' >/dev/null 2>&1") == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "python3 -c \"import sys, torch; a = torch.load(sys.argv[1], weights_only=True); "
                 "b = torch.load(sys.argv[2], weights_only=True); sys.exit(0 if a == b else 1)\" %s %s",
                 p2, test_fixture("frvocab/freq_64.pt"));
        CHECK(system(cmd) == 0, "torch.load of our %s differs from the fixture's list", p2);
    } else {
        fprintf(stderr, "note: python3 with torch not found: torch.load check skipped\n");
    }
    snprintf(p4, sizeof p4, "%s/none/x.pt", tmp);
    CHECK(frvocab_save_pt(p4, b, nb) == FRS_ERR_IO, "write into a missing folder");

    free(a);
    free(b);
    cJSON_Delete(expected);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not remove %s\n", tmp);
    return test_finish("test_frvocab");
}
