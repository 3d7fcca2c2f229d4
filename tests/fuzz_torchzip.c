/* fuzz_torchzip.c - libFuzzer entry for the torch.save reader (runtime/torchzip.c): the input is
 * read as a whole archive (int list, then state_dict with every tensor copied out, CRC checks off
 * so mutations reach the pickle) and as a bare data.pkl. Built as a fuzzer with -DFRSPEC_FUZZ=ON
 * and clang; test_torchzip also links it and feeds it mutated fixtures in every build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "torchzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t *vals = NULL;
    size_t n = 0;
    if (tz_parse_int_list_pickle(data, size, "fuzz.pkl", &vals, &n) == FRS_OK)
        free(vals);

    struct tz_archive *ar = NULL;
    if (tz_open_mem(&ar, data, size, "fuzz.pt") != FRS_OK)
        return 0;
    tz_set_crc_check(ar, 0);
    if (tz_parse_int_list(ar, &vals, &n) == FRS_OK)
        free(vals);
    struct tz_state_dict sd;
    if (tz_state_dict_from_archive(&sd, ar) == FRS_OK) { /* owns ar now */
        for (int i = 0; i < sd.n; i++) {
            const struct tz_tensor *t = &sd.tensors[i];
            int64_t numel = tz_tensor_numel(t);
            size_t esz = t->dtype < FRS_DTYPE_COUNT ? frs_dtype_size(t->dtype) : 1;
            if (numel < 0 || numel > (1 << 24))
                continue;
            void *buf = malloc((size_t)numel * esz + 1);
            if (buf) {
                (void)tz_tensor_copy(t, buf);
                free(buf);
            }
        }
        tz_state_dict_free(&sd);
    }
    return 0;
}
