/* alloc_table: open-addressing map from target address to block record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "alloc_table.h"

/* Heap-like addresses: 16-aligned, sharing their high bits. */
#define HEAP_BASE 0x555555559000ULL
static mt_addr heap_addr(size_t i) { return HEAP_BASE + 16 * (mt_addr)i; }

static struct block make_block(mt_addr addr, uint64_t size)
{
    struct block b = {
        .addr = addr, .size = size, .seq = (uint32_t)(size * 3),
        .alloc_stack = (uint32_t)(size + 1), .fn = 2,
    };
    return b;
}

static void put(struct alloc_table *t, mt_addr addr, uint64_t size)
{
    struct block b = make_block(addr, size);
    assert_int_equal(alloc_table_put(t, &b), 0);
}

static int setup(void **state)
{
    struct alloc_table *t = malloc(sizeof(*t));
    if (!t || alloc_table_init(t) != 0)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    alloc_table_destroy(*state);
    free(*state);
    return 0;
}

static size_t count_by_iteration(const struct alloc_table *t)
{
    size_t n = 0, cursor = 0;
    while (alloc_table_next(t, &cursor))
        n++;
    return n;
}

static void test_new_table_is_empty(void **state)
{
    struct alloc_table *t = *state;
    assert_int_equal(t->count, 0);
    assert_null(alloc_table_get(t, heap_addr(0)));
    assert_int_equal(count_by_iteration(t), 0);
}

static void test_put_then_get_returns_the_record(void **state)
{
    struct alloc_table *t = *state;
    struct block b = { .addr = 0x4000, .size = 24, .seq = 7, .alloc_stack = 3, .fn = 1 };
    assert_int_equal(alloc_table_put(t, &b), 0);

    struct block *got = alloc_table_get(t, 0x4000);
    assert_non_null(got);
    assert_int_equal(got->addr, 0x4000);
    assert_int_equal(got->size, 24);
    assert_int_equal(got->seq, 7);
    assert_int_equal(got->alloc_stack, 3);
    assert_int_equal(got->fn, 1);
    assert_int_equal(t->count, 1);
}

static void test_get_of_unknown_or_null_address_is_null(void **state)
{
    struct alloc_table *t = *state;
    put(t, 0x4000, 8);
    assert_null(alloc_table_get(t, 0x4010));
    assert_null(alloc_table_get(t, 0x4001));
    assert_null(alloc_table_get(t, 0));
}

static void test_put_on_same_address_replaces(void **state)
{
    struct alloc_table *t = *state;
    put(t, 0x4000, 8);
    put(t, 0x4000, 100);

    assert_int_equal(t->count, 1);
    assert_int_equal(count_by_iteration(t), 1);
    struct block *got = alloc_table_get(t, 0x4000);
    assert_non_null(got);
    assert_int_equal(got->size, 100);
    assert_int_equal(got->alloc_stack, 101);
}

static void test_remove_copies_record_and_forgets_address(void **state)
{
    struct alloc_table *t = *state;
    put(t, 0x4000, 8);
    put(t, 0x5000, 16);

    struct block out;
    memset(&out, 0xaa, sizeof(out));
    assert_true(alloc_table_remove(t, 0x4000, &out));
    assert_int_equal(out.addr, 0x4000);
    assert_int_equal(out.size, 8);
    assert_int_equal(out.alloc_stack, 9);

    assert_null(alloc_table_get(t, 0x4000));
    assert_non_null(alloc_table_get(t, 0x5000));
    assert_int_equal(t->count, 1);
}

static void test_remove_of_absent_address_is_false(void **state)
{
    struct alloc_table *t = *state;
    put(t, 0x4000, 8);
    assert_false(alloc_table_remove(t, 0x5000, NULL));
    assert_true(alloc_table_remove(t, 0x4000, NULL));
    assert_false(alloc_table_remove(t, 0x4000, NULL));
    assert_int_equal(t->count, 0);
}

static void test_put_after_remove_makes_address_live_again(void **state)
{
    struct alloc_table *t = *state;
    put(t, 0x4000, 8);
    assert_true(alloc_table_remove(t, 0x4000, NULL));
    put(t, 0x4000, 32);

    struct block *got = alloc_table_get(t, 0x4000);
    assert_non_null(got);
    assert_int_equal(got->size, 32);
    assert_int_equal(t->count, 1);
    assert_int_equal(count_by_iteration(t), 1);
}

/* 20,000 insertions with every third one removed right away: the table grows
 * several times while removals shift entries back; every answer must stay
 * exact. */
static void test_growth_with_interleaved_removes(void **state)
{
    struct alloc_table *t = *state;
    const size_t n = 20000;
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        put(t, heap_addr(i), i + 1);
        live++;
        if (i % 3 == 0) {
            assert_true(alloc_table_remove(t, heap_addr(i), NULL));
            live--;
        }
    }
    assert_int_equal(t->count, live);
    for (size_t i = 0; i < n; i++) {
        struct block *got = alloc_table_get(t, heap_addr(i));
        if (i % 3 == 0) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_int_equal(got->size, i + 1);
        }
    }
    assert_int_equal(count_by_iteration(t), live);
    /* Load stays at most 70% after growth (by half, so not a power of two). */
    assert_true(t->count * 10 <= t->capacity * 7);
    assert_true(t->capacity > 1024);
}

/* Many put/remove pairs with few blocks live at once (a program that mallocs
 * and frees in a loop): the table stays small and exact. */
static void test_churn_keeps_table_small_and_correct(void **state)
{
    struct alloc_table *t = *state;
    const size_t window = 64, total = 200000;
    for (size_t i = 0; i < total; i++) {
        put(t, heap_addr(i), i);
        if (i >= window)
            assert_true(alloc_table_remove(t, heap_addr(i - window), NULL));
    }
    assert_int_equal(t->count, window);
    for (size_t i = total - window; i < total; i++)
        assert_non_null(alloc_table_get(t, heap_addr(i)));
    assert_null(alloc_table_get(t, heap_addr(total - window - 1)));
    assert_true(t->capacity <= 4096);
}

/* Removals inside clusters that wrap past the last slot: every entry that
 * stays must still be found from its home, in a table kept nearly full. */
static void test_removal_in_wrapping_clusters_keeps_every_entry(void **state)
{
    struct alloc_table *t = *state;
    const size_t n = 700;   /* 1024 slots: 68% full, long clusters */
    for (size_t i = 0; i < n; i++)
        put(t, heap_addr(i), i + 1);
    assert_int_equal(t->capacity, 1024);
    bool *gone = calloc(n, sizeof(*gone));
    assert_non_null(gone);
    uint64_t x = 88172645463325252ull;
    for (size_t round = 0; round < 5000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = (size_t)(x % n);
        if (gone[i]) {
            put(t, heap_addr(i), i + 1);
            gone[i] = false;
        } else {
            assert_true(alloc_table_remove(t, heap_addr(i), NULL));
            gone[i] = true;
        }
        if (round % 97 == 0)
            for (size_t k = 0; k < n; k++) {
                struct block *got = alloc_table_get(t, heap_addr(k));
                if (gone[k]) {
                    assert_null(got);
                } else {
                    assert_non_null(got);
                    assert_int_equal(got->size, k + 1);
                }
            }
    }
    assert_int_equal(t->capacity, 1024);   /* churn at a steady count never grows it */
    free(gone);
}

static void test_iteration_visits_each_live_entry_once(void **state)
{
    struct alloc_table *t = *state;
    const size_t n = 5000;
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++)
        put(t, heap_addr(i), i);
    for (size_t i = 0; i < n; i += 2)
        assert_true(alloc_table_remove(t, heap_addr(i), NULL));

    size_t cursor = 0, visits = 0;
    struct block *b;
    while ((b = alloc_table_next(t, &cursor))) {
        size_t i = (size_t)((b->addr - HEAP_BASE) / 16);
        assert_true(i < n);
        assert_int_equal(b->addr, heap_addr(i));
        assert_int_equal(i % 2, 1);          /* removed entries never show up */
        seen[i]++;
        visits++;
    }
    assert_int_equal(visits, n / 2);
    for (size_t i = 1; i < n; i += 2)
        assert_int_equal(seen[i], 1);
    free(seen);
}

static void test_copy_is_independent_of_original(void **state)
{
    struct alloc_table *t = *state;
    for (size_t i = 0; i < 100; i++)
        put(t, heap_addr(i), i);

    struct alloc_table copy;
    assert_int_equal(alloc_table_copy(&copy, t), 0);
    assert_int_equal(copy.count, 100);

    /* Change the original: remove, add, replace. */
    assert_true(alloc_table_remove(t, heap_addr(0), NULL));
    put(t, heap_addr(500), 5);
    put(t, heap_addr(1), 999);
    /* Change the copy differently. */
    assert_true(alloc_table_remove(&copy, heap_addr(2), NULL));

    assert_non_null(alloc_table_get(&copy, heap_addr(0)));
    assert_null(alloc_table_get(&copy, heap_addr(500)));
    assert_int_equal(alloc_table_get(&copy, heap_addr(1))->size, 1);
    assert_int_equal(copy.count, 99);

    assert_non_null(alloc_table_get(t, heap_addr(2)));
    assert_int_equal(alloc_table_get(t, heap_addr(1))->size, 999);
    assert_int_equal(t->count, 100);

    /* The copy outlives the original's storage. */
    alloc_table_destroy(t);
    assert_int_equal(alloc_table_init(t), 0);
    assert_int_equal(count_by_iteration(&copy), 99);
    alloc_table_destroy(&copy);
}

/* A table whose process ended is rebuilt at the size of its blocks. */
static void test_shrink_to_fit_keeps_every_block(void **state)
{
    struct alloc_table *t = *state;
    for (size_t i = 0; i < 5000; i++)
        put(t, heap_addr(i), i + 1);
    for (size_t i = 0; i < 5000; i++)
        if (i % 10)
            assert_true(alloc_table_remove(t, heap_addr(i), NULL));
    size_t before = t->capacity;
    uint64_t generation = t->generation;
    assert_int_equal(alloc_table_shrink_to_fit(t), 0);
    assert_true(t->capacity < before / 4);
    assert_int_equal(t->count, 500);
    assert_int_equal(count_by_iteration(t), 500);
    assert_true(t->generation > generation);   /* views of the old slots are stale */
    for (size_t i = 0; i < 5000; i++) {
        struct block *b = alloc_table_get(t, heap_addr(i));
        if (i % 10) {
            assert_null(b);
        } else {
            assert_non_null(b);
            assert_int_equal(b->size, i + 1);
        }
    }
    put(t, heap_addr(9999), 7);   /* still a table: it grows again */
    assert_non_null(alloc_table_get(t, heap_addr(9999)));
}

/* A destroyed table (the freed blocks of an ended process) holds nothing,
 * and becomes a table again at the next put. */
static void test_destroyed_table_finds_nothing_and_grows_again(void **state)
{
    struct alloc_table *t = *state;
    put(t, heap_addr(1), 8);
    alloc_table_destroy(t);
    assert_null(alloc_table_get(t, heap_addr(1)));
    assert_false(alloc_table_remove(t, heap_addr(1), NULL));
    assert_int_equal(count_by_iteration(t), 0);
    put(t, heap_addr(2), 16);
    assert_non_null(alloc_table_get(t, heap_addr(2)));
    assert_int_equal(t->count, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_table_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_then_get_returns_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_of_unknown_or_null_address_is_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_on_same_address_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_copies_record_and_forgets_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_of_absent_address_is_false, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_after_remove_makes_address_live_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth_with_interleaved_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_churn_keeps_table_small_and_correct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_in_wrapping_clusters_keeps_every_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_iteration_visits_each_live_entry_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_is_independent_of_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrink_to_fit_keeps_every_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroyed_table_finds_nothing_and_grows_again, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("alloc_table", tests, NULL, NULL);
}
