/* glibc_census_take on a synthetic heap: a main arena in a fake address
 * space with allocated, free, fastbin and tcache chunks, an mmapped chunk,
 * and the inconsistencies that must stop it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "glibc_census.h"

#define BASE 0x500000000000ULL          /* fake memory: [BASE, BASE + SPAN) */
#define SPAN (1u << 20)
#define ARENA (BASE + 0x1000)           /* main_arena */
#define MP (BASE + 0x2000)              /* mp_ */
#define KEY_AT (BASE + 0x3000)          /* tcache_key */
#define KEY 0x1234567890abcdefULL
#define HEAP (BASE + 0x10000)           /* the break heap's start: mp_.sbrk_base */
#define HEAP_BYTES 0x1000
#define MMAP (BASE + 0x40000)           /* an anonymous mapping with one mmapped chunk */

struct fake {
    uint8_t mem[SPAN];
};

static ssize_t fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    struct fake *f = ctx;
    if (addr < BASE || addr >= BASE + SPAN)
        return 0;
    size_t avail = (size_t)(BASE + SPAN - addr);
    size_t n = len < avail ? len : avail;
    memcpy(buf, f->mem + (addr - BASE), n);
    return (ssize_t)n;
}

static void put(struct fake *f, uint64_t at, uint64_t v)
{
    memcpy(f->mem + (at - BASE), &v, 8);
}

static const struct glibc_region anon[] = { { MMAP, MMAP + 0x10000 } };

static struct glibc_census_in input(struct fake *f)
{
    return (struct glibc_census_in){
        .read = fake_read, .read_ctx = f, .layout = glibc_layout_2_35_x86_64,
        .main_arena = ARENA, .mp = MP, .tcache_key = KEY_AT, .anon = anon, .nanon = 1,
    };
}

/* Chunks from HEAP: A in use (48), B free (64), C in a fastbin (32), D in
 * the tcache (48), E in use (80, first word 0xabc), then top to the end. */
static void build(struct fake *f)
{
    const struct glibc_layout *l = &glibc_layout_2_35_x86_64;
    memset(f->mem, 0, sizeof(f->mem));
    put(f, ARENA + l->arena_next, ARENA);
    put(f, MP + l->mp_sbrk_base, HEAP);
    put(f, ARENA + l->arena_system_mem, HEAP_BYTES);
    put(f, KEY_AT, KEY);
    uint64_t a = HEAP, b = a + 48, c = b + 64, d = c + 32, e = d + 48, top = e + 80;
    put(f, a + 8, 48 | 1);
    put(f, b + 8, 64 | 1);                  /* B free: C's PREV_INUSE is clear */
    put(f, c, 64);
    put(f, c + 8, 32);
    put(f, ARENA + l->arena_fastbins, c);   /* fastbin 0: C, then the end (0 ^ (slot >> 12)) */
    put(f, c + 16, (c + 16) >> 12);
    put(f, d + 8, 48 | 1);
    put(f, d + 24, KEY);                    /* D's key word: in the tcache */
    put(f, e + 8, 80 | 1);
    put(f, e + 16, 0xabc);
    put(f, top + 8, (HEAP + HEAP_BYTES - top) | 1);
    put(f, ARENA + l->arena_top, top);
    put(f, MMAP + 0x2000 + 8, 0x3000 | 2);  /* mmapped chunk, 3 pages */
    put(f, MMAP + 0x2000 + 16, 0x777);
    put(f, MP + l->mp_n_mmaps, 1);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct fake));
    if (!*state)
        return -1;
    build(*state);
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void test_census_of_a_main_arena(void **state)
{
    struct fake *f = *state;
    struct glibc_census_in in = input(f);
    struct glibc_census c;
    char why[256] = "";
    assert_int_equal(glibc_census_take(&in, &c, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(c.n, 3);
    assert_int_equal(c.blocks[0].addr, HEAP + 16);                    /* A */
    assert_int_equal(c.blocks[0].usable, 40);
    assert_int_equal(c.blocks[1].addr, HEAP + 48 + 64 + 32 + 48 + 16); /* E */
    assert_int_equal(c.blocks[1].usable, 72);
    assert_int_equal(c.blocks[1].first_word, 0xabc);
    assert_int_equal(c.blocks[2].addr, MMAP + 0x2000 + 16);
    assert_int_equal(c.blocks[2].usable, 0x3000 - 16);
    assert_int_equal(c.blocks[2].first_word, 0x777);
    assert_int_equal(c.arenas, 1);
    assert_int_equal(c.mmapped, 1);
    assert_int_equal(c.free_chunks, 1);
    assert_int_equal(c.fastbin_chunks, 1);
    assert_int_equal(c.tcache_chunks, 1);
    glibc_census_free(&c);
}

static void expect_refusal(struct fake *f, const char *why_has)
{
    struct glibc_census_in in = input(f);
    struct glibc_census c;
    char why[256] = "";
    assert_int_equal(glibc_census_take(&in, &c, why, sizeof(why)), -1);
    if (!strstr(why, why_has))
        fail_msg("why: '%s', expected it to say '%s'", why, why_has);
    glibc_census_free(&c);
    build(f);
}

static void test_inconsistencies_stop_it(void **state)
{
    struct fake *f = *state;
    put(f, HEAP + 48 + 8, 0x13);                          /* B's size: 16 | flags */
    expect_refusal(f, "has a bad size field 0x13");
    put(f, HEAP + 48 + 8, 0x1000 | 1);                    /* B runs past top */
    expect_refusal(f, "has a bad size field");
    put(f, ARENA + glibc_layout_2_35_x86_64.arena_top, HEAP + 64);   /* top inside A..B */
    expect_refusal(f, "bad size field");
    put(f, HEAP + 8, 48 | 1 | 4);                         /* A claims another arena */
    expect_refusal(f, "says it is of another arena");
    put(f, MP + glibc_layout_2_35_x86_64.mp_n_mmaps, 2);   /* malloc counts 2 mmapped */
    expect_refusal(f, "malloc counts 2 mmapped chunks, memtrace found 1");
    put(f, ARENA + glibc_layout_2_35_x86_64.arena_next, ARENA + 8);  /* a list that never ends */
    expect_refusal(f, "");
    put(f, ARENA + glibc_layout_2_35_x86_64.arena_fastbins, HEAP + 3);   /* misaligned link */
    expect_refusal(f, "has a bad link");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_census_of_a_main_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inconsistencies_stop_it, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
