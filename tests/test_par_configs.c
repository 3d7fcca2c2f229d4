/* test_par_configs.c - the presets in the configs/ folder parse, carry every field the CLI reads with
 * the right type, and are self-consistent: the name is "<model>-tp<N>" with N the "tp" field,
 * tp divides the 8 KV heads every Llama-3 model here has, the tree fits FRS_MAX_TREE, paths live
 * under ${FRSPEC_MODELS}, and every (model, tp in 1 2 4 8) exists.
 */
#include <cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"


static int get_int(const cJSON *j, const char *k, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(it) || it->valuedouble != (int)it->valuedouble)
        return 0;
    *out = it->valueint;
    return 1;
}

static const char *get_str(const cJSON *j, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int main(void)
{
    static const char *models[] = {"llama3.2-1b", "llama3-8b", "llama3-70b"};
    int seen[3][9] = {{0}};
    DIR *d = opendir(FRSPEC_CONFIGS);
    CHECK(d != NULL, "cannot open %s", FRSPEC_CONFIGS);
    if (!d)
        return test_finish("test_par_configs");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FRSPEC_CONFIGS, e->d_name);
        char *text = test_read_file(path, NULL);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        free(text);
        CHECK(cJSON_IsObject(j), "%s: not a JSON object", e->d_name);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            continue;
        }
        n++;
        int tp = 0, depth = 0, topk = 0, size = 0, ctx = 0;
        CHECK(get_int(j, "tp", &tp) && get_int(j, "tree_depth", &depth) && get_int(j, "tree_topk", &topk) &&
                  get_int(j, "tree_size", &size) && get_int(j, "max_ctx", &ctx),
              "%s: integer fields tp, tree_depth, tree_topk, tree_size, max_ctx", e->d_name);
        CHECK(tp >= 1 && 8 % tp == 0, "%s: tp %d must divide the 8 KV heads", e->d_name, tp);
        CHECK(depth >= 1 && topk >= 1 && size >= 2 && size <= FRS_MAX_TREE && size <= 1 + depth * topk * topk,
              "%s: tree %d/%d/%d", e->d_name, depth, topk, size);
        CHECK(ctx >= 256, "%s: max_ctx %d", e->d_name, ctx);
        const char *keys[] = {"model_dir", "draft_dir", "fr_vocab"};
        for (int k = 0; k < 3; k++) {
            const char *v = get_str(j, keys[k]);
            CHECK(v && !strncmp(v, "${FRSPEC_MODELS}/", 17), "%s: '%s' must be a path under ${FRSPEC_MODELS}",
                  e->d_name, keys[k]);
        }
        const char *fr = get_str(j, "fr_vocab");
        CHECK(fr && strstr(fr, "/freq_") && !strcmp(fr + strlen(fr) - 3, ".pt"), "%s: fr_vocab is a freq_K.pt",
              e->d_name);
        const char *dev = get_str(j, "device");
        CHECK(dev && (!strcmp(dev, "cuda") || !strcmp(dev, "cpu")), "%s: device", e->d_name);
        const char *name = get_str(j, "preset");
        char want[64];
        snprintf(want, sizeof want, "%s.json", name ? name : "?");
        CHECK(name && !strcmp(want, e->d_name), "%s: \"preset\" %s must match the file name", e->d_name,
              name ? name : "(none)");
        for (int m = 0; m < 3; m++) {
            char stem[64];
            snprintf(stem, sizeof stem, "%s-tp%d.json", models[m], tp);
            if (!strcmp(stem, e->d_name) && tp <= 8)
                seen[m][tp]++;
        }
        cJSON_Delete(j);
    }
    closedir(d);
    for (int m = 0; m < 3; m++)
        for (int tp = 1; tp <= 8; tp *= 2)
            CHECK(seen[m][tp] == 1, "preset %s-tp%d.json missing", models[m], tp);
    CHECK(n >= 12, "%d presets", n);
    return test_finish("test_par_configs");
}
