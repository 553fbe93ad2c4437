/* leak_scan: memcheck's leak kinds on synthetic target memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "alloc_fn.h"
#include "leak_scan.h"

/* A fake address space: a heap of 64 KiB and a "data segment" of 4 KiB. */
#define HEAP 0x10000000ULL
#define HEAP_SIZE 0x10000u
#define DATA 0x20000000ULL
#define DATA_SIZE 0x1000u

struct fake_mem {
    uint8_t heap[HEAP_SIZE];
    uint8_t data[DATA_SIZE];
    struct alloc_table live;
    struct leak_scan scan;
};

static ssize_t fake_read(void *ctx, mt_addr addr, void *buf, size_t len)
{
    struct fake_mem *m = ctx;
    const uint8_t *base = NULL;
    mt_addr lo = 0;
    size_t size = 0;
    if (addr >= HEAP && addr < HEAP + HEAP_SIZE) {
        base = m->heap, lo = HEAP, size = HEAP_SIZE;
    } else if (addr >= DATA && addr < DATA + DATA_SIZE) {
        base = m->data, lo = DATA, size = DATA_SIZE;
    } else {
        return 0;
    }
    size_t avail = size - (size_t)(addr - lo);
    size_t n = len < avail ? len : avail;
    memcpy(buf, base + (addr - lo), n);
    return (ssize_t)n;
}

static int setup(void **state)
{
    struct fake_mem *m = calloc(1, sizeof(*m));
    if (!m || alloc_table_init(&m->live) != 0)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    struct fake_mem *m = *state;
    leak_scan_destroy(&m->scan);
    alloc_table_destroy(&m->live);
    free(m);
    return 0;
}

/* Block number i lives at HEAP + i * 0x100. */
static mt_addr block(int i)
{
    return HEAP + (mt_addr)i * 0x100;
}

static void add_block(struct fake_mem *m, int i, uint64_t size)
{
    struct block b = { .addr = block(i), .size = size };
    assert_int_equal(alloc_table_put(&m->live, &b), 0);
}

static void store(struct fake_mem *m, mt_addr at, uint64_t value)
{
    if (at >= DATA)
        memcpy(m->data + (at - DATA), &value, 8);
    else
        /* cppcheck-suppress pointerOutOfBoundsCond ; tests store inside heap[] */
        memcpy(m->heap + (at - HEAP), &value, 8);
}

static void run_scan(struct fake_mem *m)
{
    assert_int_equal(leak_scan_init(&m->scan, &m->live, fake_read, m, 0, NULL), 0);
    leak_scan_root_region(&m->scan, DATA, DATA + DATA_SIZE, false);
    assert_int_equal(leak_scan_finish(&m->scan), 0);
}

static struct leak_verdict verdict_of(struct fake_mem *m, int i)
{
    struct leak_verdict v;
    assert_true(leak_scan_verdict(&m->scan, block(i), &v));
    return v;
}

static enum leak_kind kind_of(struct fake_mem *m, int i)
{
    return verdict_of(m, i).kind;
}

static void test_unreferenced_block_is_definitely_lost(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
    assert_int_equal(verdict_of(m, 0).indirect_bytes, 0);
}

static void test_start_pointer_in_root_is_reachable(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, DATA + 8, block(0));
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_REACHABLE);
}

static void test_interior_pointer_only_is_possibly_lost(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, DATA, block(0) + 8);
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_POSSIBLE);
}

static void test_pointer_past_the_end_is_not_a_reference(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, DATA, block(0) + 32);
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
}

static void test_starts_only_root_ignores_interior_pointers(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    add_block(m, 1, 32);
    store(m, DATA, block(0) + 16);   /* allocator state pointing into a block's tail */
    store(m, DATA + 8, block(1));
    assert_int_equal(leak_scan_init(&m->scan, &m->live, fake_read, m, 0, NULL), 0);
    leak_scan_root_region(&m->scan, DATA, DATA + DATA_SIZE, true);
    leak_scan_finish(&m->scan);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
    assert_int_equal(kind_of(m, 1), LEAK_REACHABLE);
}

static void test_chain_from_root_is_reachable(void **state)
{
    struct fake_mem *m = *state;
    for (int i = 0; i < 3; i++)
        add_block(m, i, 64);
    store(m, DATA, block(2));
    store(m, block(2), block(0));
    store(m, block(0) + 8, block(1));
    run_scan(m);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kind_of(m, i), LEAK_REACHABLE);
}

static void test_block_reached_through_possible_block_is_possible(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 64);
    add_block(m, 1, 64);
    store(m, DATA, block(0) + 24);     /* interior */
    store(m, block(0), block(1));      /* start pointer, but from a possible block */
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_POSSIBLE);
    assert_int_equal(kind_of(m, 1), LEAK_POSSIBLE);
}

/* A lost binary tree of 7 nodes: 1 definite + 6 indirect, whatever the
 * address order of the nodes (the root here is the highest address). */
static void test_lost_tree_has_one_definite_and_six_indirect(void **state)
{
    struct fake_mem *m = *state;
    /* node k's children are 2k+1 and 2k+2; node k lives at block(6 - k). */
    for (int k = 0; k < 7; k++)
        add_block(m, 6 - k, 32);
    for (int k = 0; k < 3; k++) {
        store(m, block(6 - k), block(6 - (2 * k + 1)));
        store(m, block(6 - k) + 8, block(6 - (2 * k + 2)));
    }
    run_scan(m);
    assert_int_equal(kind_of(m, 6), LEAK_DEFINITE);
    struct leak_verdict root = verdict_of(m, 6);
    assert_int_equal(root.indirect_bytes, 6 * 32);
    assert_int_equal(root.indirect_blocks, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(kind_of(m, i), LEAK_INDIRECT);
}

static void test_lost_cycle_has_one_definite_one_indirect(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 48);
    add_block(m, 1, 16);
    store(m, block(0), block(1));
    store(m, block(1), block(0));
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
    assert_int_equal(kind_of(m, 1), LEAK_INDIRECT);
    assert_int_equal(verdict_of(m, 0).indirect_bytes, 16);
}

static void test_self_pointer_does_not_keep_a_block(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, block(0) + 8, block(0));
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
}

static void test_register_roots(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    add_block(m, 1, 32);
    assert_int_equal(leak_scan_init(&m->scan, &m->live, fake_read, m, 0, NULL), 0);
    uint64_t regs[3] = { 0, block(1), 12345 };
    leak_scan_root_words(&m->scan, regs, 3);
    leak_scan_finish(&m->scan);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
    assert_int_equal(kind_of(m, 1), LEAK_REACHABLE);
}

static void test_zero_size_block_reached_by_start_pointer(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 0);
    store(m, DATA, block(0));
    run_scan(m);
    assert_int_equal(kind_of(m, 0), LEAK_REACHABLE);
}

static enum leak_kind scan_with(struct fake_mem *m, unsigned heuristics, leak_vtable_fn vt)
{
    assert_int_equal(leak_scan_init(&m->scan, &m->live, fake_read, m, heuristics, vt), 0);
    leak_scan_root_region(&m->scan, DATA, DATA + DATA_SIZE, false);
    leak_scan_finish(&m->scan);
    return kind_of(m, 0);
}

/* new T[n] for a T with a destructor: the program keeps block + 8, the
 * block starts with n. */
static void test_newarray_cookie_counts_as_start(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 8 + 3 * 16);
    store(m, block(0), 3);
    store(m, DATA, block(0) + 8);
    assert_int_equal(scan_with(m, HEUR_NEWARRAY, NULL), LEAK_REACHABLE);
}

/* glibc's thread descriptor keeps dtv + 1 (16 bytes in) of the DTV it
 * calloc'd as length + 2 entries of 16 bytes, dtv[0] = length: reachable,
 * with no heuristic asked for. The same shape from malloc, or with another
 * first word, stays possibly lost. */
static enum leak_kind dtv_shaped(struct fake_mem *m, enum alloc_fn fn, uint64_t first)
{
    struct block b = { .addr = block(0), .size = 48, .fn = fn };
    assert_int_equal(alloc_table_put(&m->live, &b), 0);
    store(m, block(0), first);
    store(m, DATA, block(0) + 16);
    return scan_with(m, 0, NULL);
}

static void test_glibc_dtv_is_reachable(void **state)
{
    assert_int_equal(dtv_shaped(*state, FN_CALLOC, 48 / 16 - 2), LEAK_REACHABLE);
}

static void test_dtv_shape_from_malloc_stays_possible(void **state)
{
    assert_int_equal(dtv_shaped(*state, FN_MALLOC, 48 / 16 - 2), LEAK_POSSIBLE);
}

static void test_dtv_shape_with_other_length_stays_possible(void **state)
{
    assert_int_equal(dtv_shaped(*state, FN_CALLOC, 7), LEAK_POSSIBLE);
}

static void test_heuristics_none_leaves_interior_pointer_possible(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 8 + 3 * 16);
    store(m, block(0), 3);
    store(m, DATA, block(0) + 8);
    assert_int_equal(scan_with(m, 0, NULL), LEAK_POSSIBLE);
}

static void test_length64(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 8 + 40);
    store(m, block(0), 40);
    store(m, DATA, block(0) + 8);
    assert_int_equal(scan_with(m, HEUR_LENGTH64, NULL), LEAK_REACHABLE);
}

/* Old-ABI std::string: length, capacity, refcount, then the characters. */
static void test_stdstring(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 24 + 31 + 1);
    store(m, block(0), 10);
    store(m, block(0) + 8, 31);
    store(m, DATA, block(0) + 24);
    assert_int_equal(scan_with(m, HEUR_STDSTRING, NULL), LEAK_REACHABLE);
}

static bool fake_vtable(void *ctx, mt_addr addr)
{
    (void)ctx;
    return addr >= 0x400000 && addr < 0x401000;
}

/* class C : A, B: a B* points at the second vtable pointer inside C. */
static void test_multiple_inheritance(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, block(0), 0x400010);
    store(m, block(0) + 16, 0x400040);
    store(m, DATA, block(0) + 16);
    assert_int_equal(scan_with(m, HEUR_MULTIPLE_INHERITANCE, fake_vtable), LEAK_REACHABLE);
}

static void test_multiple_inheritance_needs_two_vtables(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    store(m, block(0), 0x12345);   /* not a vtable */
    store(m, block(0) + 16, 0x400040);
    store(m, DATA, block(0) + 16);
    assert_int_equal(scan_with(m, HEUR_ALL, fake_vtable), LEAK_POSSIBLE);
}

/* glibc's free-list links point at chunk headers, which sit in the usable
 * tail of the block before them: such a word is not a program pointer. */
static void test_pointer_to_next_chunk_header_is_ignored(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 1, 0xf8);                       /* uses the next chunk's prev_size too */
    add_block(m, 2, 0xf0);
    store(m, block(1) - 8, 0x100 | 1);           /* block 1's chunk size, PREV_INUSE */
    store(m, block(2) + 16, block(1) - 16 + 0x100);   /* stale fd: the header after block 1 */
    store(m, DATA, block(2));
    run_scan(m);
    assert_int_equal(kind_of(m, 2), LEAK_REACHABLE);
    assert_int_equal(kind_of(m, 1), LEAK_DEFINITE);
}

/* The same word is an interior pointer when the size field says the next
 * header is elsewhere. */
static void test_interior_pointer_elsewhere_still_counts(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 1, 0xf8);
    add_block(m, 2, 0xf0);
    store(m, block(1) - 8, 0x200 | 1);
    store(m, block(2) + 16, block(1) - 16 + 0x100);
    store(m, DATA, block(2));
    run_scan(m);
    assert_int_equal(kind_of(m, 1), LEAK_POSSIBLE);
}

/* More blocks than one fence step, inserted in reverse: lookups, address
 * order and has_block_in go through the fence and the table's slots. */
static void test_many_blocks_in_address_order(void **state)
{
    struct fake_mem *m = *state;
    for (int i = 199; i >= 0; i--)
        add_block(m, i, 32);
    for (int i = 1; i < 100; i += 2)
        store(m, DATA + (mt_addr)i * 8, block(i));
    run_scan(m);
    for (int i = 0; i < 200; i++)
        assert_int_equal(kind_of(m, i), i % 2 && i < 100 ? LEAK_REACHABLE : LEAK_DEFINITE);
    size_t cursor = 0, n = 0;
    mt_addr prev = 0;
    struct leak_verdict v;
    const struct block *b;
    while ((b = leak_scan_next(&m->scan, &cursor, &v))) {
        assert_true(b->addr > prev);
        assert_int_equal(v.kind, kind_of(m, (int)((b->addr - HEAP) / 0x100)));
        prev = b->addr;
        n++;
    }
    assert_int_equal(n, 200);
    assert_true(leak_scan_has_block_in(&m->scan, block(150), block(150) + 1));
    assert_false(leak_scan_has_block_in(&m->scan, block(150) + 16, block(151)));
    assert_false(leak_scan_has_block_in(&m->scan, block(200), block(300)));
}

/* The scan indexes the live table: once the table changes it gives no verdict. */
static void test_changed_table_makes_scan_stale(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    add_block(m, 1, 32);
    run_scan(m);
    assert_true(leak_scan_current(&m->scan, &m->live));
    assert_true(alloc_table_remove(&m->live, block(0), NULL));
    assert_false(leak_scan_current(&m->scan, &m->live));
    struct leak_verdict v;
    assert_false(leak_scan_verdict(&m->scan, block(1), &v));
    size_t cursor = 0;
    assert_null(leak_scan_next(&m->scan, &cursor, &v));
}

/* attach: heap memory between tracked blocks (blocks from before the
 * attach) is a root; memory inside tracked blocks is not. */
static void test_heap_gaps_are_roots(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    add_block(m, 1, 32);
    add_block(m, 2, 32);
    store(m, block(0) + 0x80, block(1));   /* in the gap after block 0 */
    store(m, block(1) + 8, block(2));      /* inside block 1: reached through it */
    store(m, block(2) + 0x40, block(0));   /* after block 2, past the gaps rooted */
    assert_int_equal(leak_scan_init(&m->scan, &m->live, fake_read, m, 0, NULL), 0);
    leak_scan_root_gaps(&m->scan, HEAP, block(2) + 0x20);
    assert_int_equal(leak_scan_finish(&m->scan), 0);
    assert_int_equal(kind_of(m, 0), LEAK_DEFINITE);
    assert_int_equal(kind_of(m, 1), LEAK_REACHABLE);
    assert_int_equal(kind_of(m, 2), LEAK_REACHABLE);
}

/* Settling (the process ended) shrinks the live table to its blocks and
 * keeps every verdict, in address order. */
static void test_settle_shrinks_the_table_and_keeps_verdicts(void **state)
{
    struct fake_mem *m = *state;
    for (int i = 0; i < 100; i++)
        add_block(m, i, 16);
    for (int i = 0; i < 100; i += 3)
        store(m, DATA + (mt_addr)i * 8, block(i));
    for (int i = 50; i < 100; i++)   /* make room, as frees would */
        assert_true(alloc_table_remove(&m->live, block(i), NULL));
    run_scan(m);
    size_t before = m->live.capacity;
    assert_int_equal(leak_scan_settle(&m->scan, &m->live), 0);
    assert_true(m->live.capacity < before);
    assert_int_equal(m->live.count, 50);
    assert_true(leak_scan_current(&m->scan, &m->live));
    for (int i = 0; i < 50; i++)
        assert_int_equal(kind_of(m, i), i % 3 == 0 ? LEAK_REACHABLE : LEAK_DEFINITE);
    struct leak_verdict v;
    assert_false(leak_scan_verdict(&m->scan, block(60), &v));
    size_t cursor = 0, n = 0;
    const struct block *b;
    while ((b = leak_scan_next(&m->scan, &cursor, &v))) {
        assert_int_equal(b->addr, block((int)n));
        n++;
    }
    assert_int_equal(n, 50);
}

/* A stale scan is left alone; the table still shrinks. */
static void test_settle_with_a_stale_scan_shrinks_only_the_table(void **state)
{
    struct fake_mem *m = *state;
    add_block(m, 0, 32);
    add_block(m, 1, 32);
    run_scan(m);
    assert_true(alloc_table_remove(&m->live, block(0), NULL));
    assert_int_equal(leak_scan_settle(&m->scan, &m->live), 0);
    assert_true(m->live.capacity < 1024);
    assert_false(leak_scan_current(&m->scan, &m->live));
    assert_non_null(alloc_table_get(&m->live, block(1)));
    assert_null(alloc_table_get(&m->live, block(0)));
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(leak_kind_name(LEAK_DEFINITE), "definitely_lost");
    assert_string_equal(leak_kind_name(LEAK_INDIRECT), "indirectly_lost");
    assert_string_equal(leak_kind_name(LEAK_POSSIBLE), "possibly_lost");
    assert_string_equal(leak_kind_name(LEAK_REACHABLE), "still_reachable");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_unreferenced_block_is_definitely_lost),
        T(test_start_pointer_in_root_is_reachable),
        T(test_interior_pointer_only_is_possibly_lost),
        T(test_pointer_past_the_end_is_not_a_reference),
        T(test_starts_only_root_ignores_interior_pointers),
        T(test_chain_from_root_is_reachable),
        T(test_block_reached_through_possible_block_is_possible),
        T(test_lost_tree_has_one_definite_and_six_indirect),
        T(test_lost_cycle_has_one_definite_one_indirect),
        T(test_self_pointer_does_not_keep_a_block),
        T(test_register_roots),
        T(test_zero_size_block_reached_by_start_pointer),
        T(test_newarray_cookie_counts_as_start),
        T(test_heuristics_none_leaves_interior_pointer_possible),
        T(test_glibc_dtv_is_reachable),
        T(test_dtv_shape_from_malloc_stays_possible),
        T(test_dtv_shape_with_other_length_stays_possible),
        T(test_length64),
        T(test_stdstring),
        T(test_multiple_inheritance),
        T(test_multiple_inheritance_needs_two_vtables),
        T(test_pointer_to_next_chunk_header_is_ignored),
        T(test_interior_pointer_elsewhere_still_counts),
        T(test_many_blocks_in_address_order),
        T(test_changed_table_makes_scan_stale),
        T(test_heap_gaps_are_roots),
        T(test_settle_shrinks_the_table_and_keeps_verdicts),
        T(test_settle_with_a_stale_scan_shrinks_only_the_table),
    T(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
