/* test_memplan.c - runtime/memplan.h: carving (order, alignment, no overlap, 0 bytes -> NULL),
 * the host allocation zeroed, and the start-up checks (too many entries, size_t overflow,
 * a bad alignment) returning an error instead of writing out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memplan.h"
#include "testutil.h"

int main(void)
{
    /* a fixed table: pointers of several types, one of 0 bytes */
    float *a = NULL;
    int32_t *b = (int32_t *)&a; /* non-NULL: must become NULL */
    uint64_t *c = NULL;
    char *d = NULL;
    struct memplan_entry tab[] = {
        MEMPLAN_ENTRY(a, 10 * sizeof(float)),
        MEMPLAN_ENTRY(b, 0),
        MEMPLAN_ENTRY(c, 3 * sizeof(uint64_t)),
        MEMPLAN_ENTRY(d, 65),
    };
    CHECK(MEMPLAN_LEN(tab) == 4, "MEMPLAN_LEN %zu", MEMPLAN_LEN(tab));
    CHECK(!strcmp(tab[2].name, "c"), "entry name '%s'", tab[2].name);
    struct memplan mp;
    memplan_init(&mp, "test", "fixed table", tab, MEMPLAN_LEN(tab), MEMPLAN_LEN(tab), 64);
    void *mem = NULL;
    CHECK_OK(memplan_alloc_host(&mp, &mem));
    /* 40 -> 64, 0 -> 0, 24 -> 64, 65 -> 128: the closed form */
    CHECK(mp.total == 64 + 0 + 64 + 128, "total %zu, expected 256", mp.total);
    CHECK((char *)a == (char *)mem, "first entry at the base");
    CHECK(b == NULL, "a 0-byte entry gets NULL");
    CHECK((char *)c == (char *)mem + 64, "c at offset %td, expected 64", (char *)c - (char *)mem);
    CHECK(d == (char *)mem + 128, "d at offset %td, expected 128", d - (char *)mem);
    CHECK((uintptr_t)mem % 64 == 0, "base aligned to 64");
    int zero = 1;
    for (size_t i = 0; i < mp.total; i++)
        zero &= ((unsigned char *)mem)[i] == 0;
    CHECK(zero, "the allocation is zeroed");
    memset(d, 0x5a, 65); /* the whole last entry is inside the allocation (ASan checks) */
    free(mem);

    /* a growing table: within capacity it carves like a fixed one */
    float *p[5];
    struct memplan_entry st[5];
    memplan_init(&mp, "test", "growing table", st, 0, 5, 256);
    for (int i = 0; i < 5; i++)
        memplan_add(&mp, (void **)&p[i], (size_t)(i + 1) * 100, "p[i]");
    CHECK_OK(memplan_size(&mp));
    /* 100, 200 -> 256 each; 300, 400, 500 -> 512 each */
    CHECK(mp.total == 2048, "total %zu, expected 2048", mp.total);
    char base[4096];
    memplan_carve(&mp, base);
    const ptrdiff_t want[5] = {0, 256, 512, 1024, 1536};
    for (int i = 0; i < 5; i++)
        CHECK((char *)p[i] - base == want[i], "p[%d] at offset %td, expected %td", i, (char *)p[i] - base, want[i]);

    /* one entry past the capacity: counted, not written, refused by memplan_size */
    struct memplan_entry guard[3];
    memset(guard, 0, sizeof guard);
    memplan_init(&mp, "test", "overfull table", guard, 0, 2, 64);
    float *x[3];
    for (int i = 0; i < 3; i++)
        MEMPLAN_ADD(&mp, x[i], 8);
    CHECK(guard[2].ptr == NULL, "no write past the capacity");
    CHECK(memplan_size(&mp) == FRS_ERR_INTERNAL, "too many entries refused");
    CHECK(strstr(frs_error_msg(), "3 entries planned, the table holds 2") != NULL, "message: %s", frs_error_msg());
    CHECK(strstr(frs_error_msg(), "overfull table") != NULL, "message names the table: %s", frs_error_msg());

    /* a total past SIZE_MAX: refused, naming the entry */
    float *big1, *big2;
    struct memplan_entry huge[] = {MEMPLAN_ENTRY(big1, SIZE_MAX / 2 + 1), MEMPLAN_ENTRY(big2, SIZE_MAX / 2 + 1)};
    memplan_init(&mp, "test", "huge table", huge, 2, 2, 64);
    CHECK(memplan_size(&mp) == FRS_ERR_OOM, "size_t overflow refused");
    CHECK(strstr(frs_error_msg(), "big2") != NULL, "message names the entry: %s", frs_error_msg());
    struct memplan_entry huge1[] = {MEMPLAN_ENTRY(big1, SIZE_MAX - 3)};
    memplan_init(&mp, "test", "huge entry", huge1, 1, 1, 64);
    CHECK(memplan_size(&mp) == FRS_ERR_OOM, "an entry that overflows when aligned is refused");

    /* an alignment that is not a power of two */
    memplan_init(&mp, "test", "odd alignment", tab, 1, 1, 48);
    CHECK(memplan_size(&mp) == FRS_ERR_INTERNAL, "alignment 48 refused");
    return test_finish("test_memplan");
}
