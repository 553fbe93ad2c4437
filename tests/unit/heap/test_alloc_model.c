/* alloc_model: glibc semantics of the malloc family on live/freed tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_model.h"

#define A 0x555555559000ULL
#define B 0x55555555a000ULL
#define C 0x55555555b000ULL

/* Stack ids, as stack_intern would hand them out. */
enum { S_ALLOC = 11, S_FREE = 22, S_BAD = 33, S_REALLOC = 44, S_ALLOC2 = 55, S_FREE2 = 66 };

static int setup(void **state)
{
    struct alloc_model *m = malloc(sizeof(*m));
    if (!m || alloc_model_init(m) != 0)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    alloc_model_destroy(*state);
    free(*state);
    return 0;
}

static void apply(struct alloc_model *m, enum alloc_fn fn, mt_addr in, uint64_t size,
                  mt_addr out, uint32_t stack)
{
    struct alloc_event ev = { .fn = fn, .tid = 100, .ptr_in = in, .size = size,
                              .ptr_out = out, .stack_id = stack };
    assert_int_equal(alloc_model_apply(m, &ev), 0);
}

static void do_malloc(struct alloc_model *m, mt_addr p, uint64_t size, uint32_t stack)
{
    apply(m, FN_MALLOC, 0, size, p, stack);
}

static void do_free(struct alloc_model *m, mt_addr p, uint32_t stack)
{
    apply(m, FN_FREE, p, 0, 0, stack);
}

static void do_realloc(struct alloc_model *m, mt_addr p, uint64_t size, mt_addr out,
                       uint32_t stack)
{
    apply(m, FN_REALLOC, p, size, out, stack);
}

static enum free_verdict check(struct alloc_model *m, mt_addr p, struct alloc_error *err)
{
    memset(err, 0x5a, sizeof(*err));
    return alloc_model_check_free(m, FN_FREE, 0, p, S_BAD, err);
}

static void assert_live(const struct alloc_model *m, mt_addr p, uint64_t size, enum alloc_fn fn)
{
    const struct block *b = alloc_table_get(&m->live, p);
    assert_non_null(b);
    assert_int_equal(b->size, size);
    assert_int_equal(b->fn, fn);
}

static void assert_not_live(const struct alloc_model *m, mt_addr p)
{
    assert_null(alloc_table_get(&m->live, p));
}

static void assert_counters(const struct alloc_model *m, uint64_t allocations, uint64_t frees,
                            uint64_t bytes_allocated)
{
    assert_int_equal(m->allocations, allocations);
    assert_int_equal(m->frees, frees);
    assert_int_equal(m->bytes_allocated, bytes_allocated);
}

/* memcheck's freelist: the oldest freed blocks leave once the ones freed
 * after them reach the volume; a double free of a block that left is then
 * an invalid free. */
static void test_freed_fifo_is_bounded_by_volume(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    m->freelist_vol = 100;
    for (mt_addr i = 0; i < 5; i++) {
        do_malloc(m, A + i * 0x100, 40, S_ALLOC);
        do_free(m, A + i * 0x100, S_FREE);
    }
    /* 5 x 40 bytes: the newest three (120 >= 100, but two would be 80) stay. */
    assert_int_equal(alloc_model_freed_count(m), 3);
    assert_int_equal(check(m, A, &err), FREE_INVALID);
    assert_int_equal(check(m, A + 0x100, &err), FREE_INVALID);
    assert_int_equal(check(m, A + 0x200, &err), FREE_DOUBLE);
    assert_int_equal(err.where.kind, ADDR_FREED_BLOCK);
    assert_int_equal(err.where.free_stack, S_FREE);
    assert_int_equal(check(m, A + 0x400, &err), FREE_DOUBLE);
}

/* An address allocated again leaves the table at once; its old FIFO entry
 * must not take the new freed record with it when it leaves. The table is
 * built at the first question (index_now), or only at the end. */
static void stale_entry_keeps_newer_record(struct alloc_model *m, bool index_now)
{
    m->freelist_vol = 50;
    if (index_now)
        assert_int_equal(alloc_model_freed_count(m), 0);
    do_malloc(m, A, 40, S_ALLOC);
    do_free(m, A, S_FREE);
    do_malloc(m, A, 8, S_ALLOC2);
    do_free(m, A, S_FREE2);
    do_malloc(m, A + 0x100, 40, S_ALLOC);
    do_free(m, A + 0x100, S_FREE);   /* the first entry of A leaves */
    const struct block *f = alloc_model_freed_block(m, A);
    assert_non_null(f);
    assert_int_equal(f->free_stack, S_FREE2);
    assert_int_equal(alloc_model_freed_count(m), 2);
    /* Allocated again: no longer on the free list. */
    do_malloc(m, A, 16, S_ALLOC);
    assert_null(alloc_model_freed_block(m, A));
    assert_int_equal(alloc_model_freed_count(m), 1);
}

static void test_freed_fifo_stale_entry_keeps_newer_record(void **state)
{
    stale_entry_keeps_newer_record(*state, false);
}

static void test_freed_table_built_early_keeps_up(void **state)
{
    stale_entry_keeps_newer_record(*state, true);
}

/* Built late, the table leaves out what was allocated again since. */
static void test_freed_table_built_late_skips_live_addresses(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 40, S_ALLOC);
    do_free(m, A, S_FREE);
    do_malloc(m, A, 24, S_ALLOC2);   /* A is live again */
    do_malloc(m, A + 0x100, 40, S_ALLOC);
    do_free(m, A + 0x100, S_FREE2);
    assert_int_equal(check(m, A + 0x100, &err), FREE_DOUBLE);
    assert_int_equal(err.free_stack, S_FREE2);
    assert_null(alloc_model_freed_block(m, A));
    assert_int_equal(alloc_model_freed_count(m), 1);
    assert_int_equal(check(m, A, &err), FREE_OK);
}

static void test_describe_interior_of_live_and_freed_blocks(void **state)
{
    struct alloc_model *m = *state;
    struct addr_desc d;
    do_malloc(m, A, 64, S_ALLOC);
    do_malloc(m, A + 0x1000, 32, S_ALLOC2);
    do_free(m, A + 0x1000, S_FREE);

    assert_true(alloc_model_describe_heap(m, A + 8, &d));
    assert_int_equal(d.kind, ADDR_HEAP_BLOCK);
    assert_int_equal(d.offset, 8);
    assert_int_equal(d.block_size, 64);
    assert_int_equal(d.alloc_stack, S_ALLOC);

    assert_true(alloc_model_describe_heap(m, A + 0x1000 + 31, &d));
    assert_int_equal(d.kind, ADDR_FREED_BLOCK);
    assert_int_equal(d.offset, 31);
    assert_int_equal(d.free_stack, S_FREE);

    /* Just past a block, and beyond the look-back window: nothing. */
    assert_false(alloc_model_describe_heap(m, A + 64, &d));
    assert_false(alloc_model_describe_heap(m, A + 0x1000 + 32, &d));
    assert_false(alloc_model_describe_heap(m, A + 0x1000 + ALLOC_MODEL_DESCRIBE_WINDOW + 8, &d));
}

static void test_malloc_makes_a_live_block(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, A, 24, S_ALLOC);
    assert_live(m, A, 24, FN_MALLOC);
    assert_int_equal(alloc_table_get(&m->live, A)->alloc_stack, S_ALLOC);
    assert_int_equal(m->live.count, 1);
    assert_counters(m, 1, 0, 24);
}

static void test_failed_malloc_changes_nothing(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, 0, 1ULL << 50, S_ALLOC);
    assert_int_equal(m->live.count, 0);
    assert_counters(m, 0, 0, 0);
}

static void test_free_moves_block_to_freed(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 24, S_ALLOC);
    assert_int_equal(check(m, A, &err), FREE_OK);
    do_free(m, A, S_FREE);

    assert_not_live(m, A);
    assert_int_equal(m->live.count, 0);
    const struct block *f = alloc_model_freed_block(m, A);
    assert_non_null(f);
    assert_int_equal(f->size, 24);
    assert_int_equal(f->alloc_stack, S_ALLOC);
    assert_int_equal(f->free_stack, S_FREE);
    assert_counters(m, 1, 1, 24);
}

static void test_free_null_is_ok_and_changes_nothing(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    assert_int_equal(check(m, 0, &err), FREE_OK);
    do_free(m, 0, S_FREE);
    assert_counters(m, 0, 0, 0);
    assert_int_equal(alloc_model_freed_count(m), 0);
}

static void test_double_free_verdict_describes_the_block(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 24, S_ALLOC);
    do_free(m, A, S_FREE);

    assert_int_equal(check(m, A, &err), FREE_DOUBLE);
    assert_int_equal(err.kind, ERR_DOUBLE_FREE);
    assert_int_equal(err.fn, FN_FREE);
    assert_int_equal(err.addr, A);
    assert_int_equal(err.block_size, 24);
    assert_int_equal(err.stack, S_BAD);
    assert_int_equal(err.alloc_stack, S_ALLOC);
    assert_int_equal(err.free_stack, S_FREE);
}

static void test_free_of_never_allocated_address_is_invalid(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    assert_int_equal(check(m, C, &err), FREE_INVALID);
    assert_int_equal(err.kind, ERR_INVALID_FREE);
    assert_int_equal(err.fn, FN_FREE);
    assert_int_equal(err.addr, C);
    assert_int_equal(err.stack, S_BAD);
    assert_int_equal(err.block_size, 0);
    assert_int_equal(err.alloc_stack, 0);
    assert_int_equal(err.free_stack, 0);
}

static void test_free_of_interior_pointer_is_invalid(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 64, S_ALLOC);
    assert_int_equal(check(m, A + 16, &err), FREE_INVALID);
    assert_int_equal(err.kind, ERR_INVALID_FREE);
    assert_int_equal(err.addr, A + 16);
    assert_live(m, A, 64, FN_MALLOC);
}

static void test_check_free_reports_the_calling_function(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 8, S_ALLOC);
    do_free(m, A, S_FREE);
    assert_int_equal(alloc_model_check_free(m, FN_REALLOC, 0, A, S_BAD, &err), FREE_DOUBLE);
    assert_int_equal(err.fn, FN_REALLOC);
}

/* memcheck's pairs: new with delete, new[] with delete[], the malloc
 * family with free and realloc; any other release is mismatched, the
 * block stays live until the release is applied. */
static void test_mismatched_release_of_each_family(void **state)
{
    struct alloc_model *m = *state;
    static const struct {
        enum alloc_fn alloc, release;
        enum free_verdict verdict;
    } cases[] = {
        { FN_NEW, FN_DELETE, FREE_OK },           { FN_NEW_ARRAY, FN_DELETE_ARRAY, FREE_OK },
        { FN_MALLOC, FN_FREE, FREE_OK },          { FN_CALLOC, FN_REALLOC, FREE_OK },
        { FN_REALLOC, FN_FREE, FREE_OK },         { FN_POSIX_MEMALIGN, FN_FREE, FREE_OK },
        { FN_NEW, FN_FREE, FREE_MISMATCHED },     { FN_NEW, FN_DELETE_ARRAY, FREE_MISMATCHED },
        { FN_NEW, FN_REALLOC, FREE_MISMATCHED },  { FN_NEW_ARRAY, FN_DELETE, FREE_MISMATCHED },
        { FN_NEW_ARRAY, FN_FREE, FREE_MISMATCHED }, { FN_MALLOC, FN_DELETE, FREE_MISMATCHED },
        { FN_CALLOC, FN_DELETE_ARRAY, FREE_MISMATCHED },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mt_addr at = A + 0x100 * i;
        apply(m, cases[i].alloc, 0, 24 + i, at, S_ALLOC);
        struct alloc_error err;
        memset(&err, 0x5a, sizeof(err));
        assert_int_equal(alloc_model_check_free(m, cases[i].release, 0, at, S_BAD, &err),
                         cases[i].verdict);
        if (cases[i].verdict == FREE_MISMATCHED) {
            assert_int_equal(err.kind, ERR_MISMATCHED_FREE);
            assert_int_equal(err.fn, cases[i].release);
            assert_int_equal(err.alloc_fn, cases[i].alloc);
            assert_int_equal(err.addr, at);
            assert_int_equal(err.block_size, 24 + i);
            assert_int_equal(err.stack, S_BAD);
            assert_int_equal(err.alloc_stack, S_ALLOC);
            assert_true(err.ran);   /* the call goes on */
            assert_int_equal(err.where.kind, ADDR_HEAP_BLOCK);
            assert_int_equal(err.where.offset, 0);
            assert_int_equal(err.where.block_size, 24 + i);
        }
        assert_live(m, at, 24 + i, cases[i].alloc);
        if (cases[i].release != FN_REALLOC) {
            apply(m, cases[i].release, at, 0, 0, S_FREE);
            assert_not_live(m, at);
        }
    }
    /* A block deleted twice: a double free, whatever the family. */
    apply(m, FN_NEW, 0, 8, C, S_ALLOC);
    apply(m, FN_DELETE, C, 0, 0, S_FREE);
    struct alloc_error err;
    assert_int_equal(alloc_model_check_free(m, FN_DELETE, 0, C, S_BAD, &err), FREE_DOUBLE);
    assert_int_equal(err.fn, FN_DELETE);
}

static void test_free_through_another_allocator(void **state)
{
    struct alloc_model *m = *state;
    unsigned libc = alloc_model_allocator(m, "/lib/libc.so.6");
    unsigned je = alloc_model_allocator(m, "/lib/libjemalloc.so.2");
    assert_int_equal(libc, 1);
    assert_int_equal(je, 2);
    assert_int_equal(alloc_model_allocator(m, "/lib/libc.so.6"), libc);
    struct alloc_event made = { .fn = FN_MALLOC, .size = 40, .ptr_out = A, .stack_id = S_ALLOC,
                                .allocator = je };
    assert_int_equal(alloc_model_apply(m, &made), 0);
    struct alloc_error err;
    /* free() of libc on jemalloc's block: mismatched, naming both, and the
     * call must not reach libc. */
    assert_int_equal(alloc_model_check_free(m, FN_FREE, libc, A, S_BAD, &err), FREE_MISMATCHED);
    assert_int_equal(err.kind, ERR_MISMATCHED_FREE);
    assert_int_equal(err.alloc_fn, FN_MALLOC);
    assert_string_equal(err.alloc_library, "/lib/libjemalloc.so.2");
    assert_string_equal(err.release_library, "/lib/libc.so.6");
    assert_false(err.ran);
    /* Its own library, or an entry point of no library (C++'s operators
     * over malloc): fine. */
    assert_int_equal(alloc_model_check_free(m, FN_FREE, je, A, S_BAD, &err), FREE_OK);
    assert_int_equal(alloc_model_check_free(m, FN_FREE, 0, A, S_BAD, &err), FREE_OK);
    /* A fork's copy knows the libraries. */
    struct alloc_model copy;
    assert_int_equal(alloc_model_copy(&copy, m), 0);
    assert_int_equal(alloc_model_check_free(&copy, FN_FREE, libc, A, S_BAD, &err),
                     FREE_MISMATCHED);
    assert_string_equal(err.alloc_library, "/lib/libjemalloc.so.2");
    alloc_model_destroy(&copy);
    for (unsigned i = 3; i <= ALLOC_MODEL_MAX_ALLOCATORS; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/lib/other%u.so", i);
        assert_int_equal(alloc_model_allocator(m, path), i);
    }
    assert_int_equal(alloc_model_allocator(m, "/lib/one-too-many.so"), 0);
}

static void test_record_error_keeps_errors_in_order(void **state)
{
    struct alloc_model *m = *state;
    for (unsigned i = 0; i < 40; i++) {   /* past any initial capacity */
        struct alloc_error e = { .kind = i % 2 ? ERR_INVALID_FREE : ERR_DOUBLE_FREE,
                                 .fn = FN_FREE, .addr = A + i, .stack = i };
        assert_int_equal(alloc_model_record_error(m, &e), 0);
    }
    assert_int_equal(m->nerrors, 40);
    for (unsigned i = 0; i < 40; i++) {
        assert_int_equal(m->errors[i].addr, A + i);
        assert_int_equal(m->errors[i].stack, i);
        assert_int_equal(m->errors[i].kind, i % 2 ? ERR_INVALID_FREE : ERR_DOUBLE_FREE);
    }
}

static void test_calloc_records_total_size(void **state)
{
    struct alloc_model *m = *state;
    apply(m, FN_CALLOC, 0, 12 * 10, A, S_ALLOC);
    assert_live(m, A, 120, FN_CALLOC);
    assert_counters(m, 1, 0, 120);
}

static void test_realloc_that_moves_frees_old_block(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 10, S_ALLOC);
    do_realloc(m, A, 100, B, S_REALLOC);

    assert_not_live(m, A);
    assert_live(m, B, 100, FN_REALLOC);
    assert_int_equal(alloc_table_get(&m->live, B)->alloc_stack, S_REALLOC);
    assert_int_equal(alloc_model_freed_block(m, A)->free_stack, S_REALLOC);
    assert_int_equal(check(m, A, &err), FREE_DOUBLE);
    assert_int_equal(check(m, B, &err), FREE_OK);
    assert_counters(m, 2, 1, 110);
}

static void test_realloc_in_place_keeps_address_live(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 10, S_ALLOC);
    do_realloc(m, A, 50, A, S_REALLOC);

    assert_live(m, A, 50, FN_REALLOC);
    assert_int_equal(m->live.count, 1);
    assert_null(alloc_model_freed_block(m, A));
    assert_int_equal(check(m, A, &err), FREE_OK);
}

static void test_realloc_of_null_is_an_allocation(void **state)
{
    struct alloc_model *m = *state;
    do_realloc(m, 0, 40, B, S_REALLOC);
    assert_live(m, B, 40, FN_REALLOC);
    assert_counters(m, 1, 0, 40);
}

static void test_realloc_to_zero_returning_null_frees(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 10, S_ALLOC);
    do_realloc(m, A, 0, 0, S_REALLOC);

    assert_not_live(m, A);
    assert_int_equal(m->live.count, 0);
    assert_int_equal(alloc_model_freed_block(m, A)->free_stack, S_REALLOC);
    assert_int_equal(check(m, A, &err), FREE_DOUBLE);
    assert_counters(m, 1, 1, 10);
}

static void test_failed_realloc_leaves_block_live(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 10, S_ALLOC);
    do_realloc(m, A, 1ULL << 50, 0, S_REALLOC);

    assert_live(m, A, 10, FN_MALLOC);
    assert_int_equal(alloc_table_get(&m->live, A)->alloc_stack, S_ALLOC);
    assert_null(alloc_model_freed_block(m, A));
    assert_int_equal(check(m, A, &err), FREE_OK);
    assert_counters(m, 1, 0, 10);
}

static void test_reallocarray_that_moves_frees_old_block(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, A, 10, S_ALLOC);
    apply(m, FN_REALLOCARRAY, A, 4 * 8, B, S_REALLOC);
    assert_not_live(m, A);
    assert_live(m, B, 32, FN_REALLOCARRAY);
    assert_counters(m, 2, 1, 42);
}

static void test_reused_address_is_live_again_not_double_free(void **state)
{
    struct alloc_model *m = *state;
    struct alloc_error err;
    do_malloc(m, A, 24, S_ALLOC);
    do_free(m, A, S_FREE);
    do_malloc(m, A, 48, S_REALLOC);   /* glibc hands the chunk out again */

    assert_live(m, A, 48, FN_MALLOC);
    assert_null(alloc_model_freed_block(m, A));
    assert_int_equal(check(m, A, &err), FREE_OK);

    /* Freed twice again: the verdict describes the second life. */
    do_free(m, A, S_FREE + 1);
    assert_int_equal(check(m, A, &err), FREE_DOUBLE);
    assert_int_equal(err.block_size, 48);
    assert_int_equal(err.alloc_stack, S_REALLOC);
    assert_int_equal(err.free_stack, S_FREE + 1);
}

static void test_free_of_untracked_block_changes_nothing(void **state)
{
    struct alloc_model *m = *state;
    /* A block allocated before tracing began: not ours, not counted. */
    do_free(m, C, S_FREE);
    assert_counters(m, 0, 0, 0);
    assert_int_equal(alloc_model_freed_count(m), 0);
}

static void test_counters_are_exact_over_a_sequence(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, A, 100, S_ALLOC);             /* allocs 1, bytes 100 */
    apply(m, FN_CALLOC, 0, 30, B, S_ALLOC);    /* allocs 2, bytes 130 */
    do_realloc(m, A, 200, C, S_REALLOC);       /* allocs 3, frees 1, bytes 330 */
    do_free(m, B, S_FREE);                     /* frees 2 */
    do_free(m, 0, S_FREE);                     /* free(NULL): nothing */
    do_malloc(m, 0, 7, S_ALLOC);               /* failed: nothing */
    apply(m, FN_POSIX_MEMALIGN, 0, 64, A, S_ALLOC); /* allocs 4, bytes 394 */
    do_realloc(m, C, 0, 0, S_REALLOC);         /* frees 3 */

    assert_counters(m, 4, 3, 394);
    assert_int_equal(m->live.count, 1);
    assert_live(m, A, 64, FN_POSIX_MEMALIGN);
}

static void test_sequence_numbers_order_blocks_in_time(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, A, 1, S_ALLOC);
    do_malloc(m, B, 1, S_ALLOC);
    do_malloc(m, C, 1, S_ALLOC);
    uint64_t sa = alloc_table_get(&m->live, A)->seq;
    uint64_t sb = alloc_table_get(&m->live, B)->seq;
    uint64_t sc = alloc_table_get(&m->live, C)->seq;
    assert_true(sa < sb);
    assert_true(sb < sc);
}

static void test_copy_gives_independent_child_with_zero_counters(void **state)
{
    struct alloc_model *parent = *state;
    struct alloc_error err;
    do_malloc(parent, A, 10, S_ALLOC);
    do_malloc(parent, B, 20, S_ALLOC);
    do_malloc(parent, C, 30, S_ALLOC);
    do_free(parent, C, S_FREE);
    assert_int_equal(check(parent, C, &err), FREE_DOUBLE);
    assert_int_equal(alloc_model_record_error(parent, &err), 0);

    struct alloc_model child;
    assert_int_equal(alloc_model_copy(&child, parent), 0);

    /* Inherited state: live blocks and freed blocks. */
    assert_live(&child, A, 10, FN_MALLOC);
    assert_live(&child, B, 20, FN_MALLOC);
    assert_int_equal(child.live.count, 2);
    assert_int_equal(check(&child, C, &err), FREE_DOUBLE);
    assert_int_equal(err.free_stack, S_FREE);
    /* Fresh counters and no errors of its own. */
    assert_counters(&child, 0, 0, 0);
    assert_int_equal(child.nerrors, 0);

    /* Later events stay on their side. */
    do_free(&child, A, S_FREE);
    do_malloc(parent, 0x1000, 5, S_ALLOC);
    assert_live(parent, A, 10, FN_MALLOC);
    assert_not_live(&child, A);
    assert_not_live(&child, 0x1000);
    assert_counters(&child, 0, 1, 0);
    assert_counters(parent, 4, 1, 65);
    assert_int_equal(parent->nerrors, 1);

    /* Blocks the child allocates come after the inherited ones in time. */
    do_malloc(&child, 0x2000, 1, S_ALLOC);
    assert_true(alloc_table_get(&child.live, 0x2000)->seq > alloc_table_get(&child.live, B)->seq);

    alloc_model_destroy(parent);
    assert_int_equal(alloc_model_init(parent), 0);
    assert_live(&child, B, 20, FN_MALLOC);
    alloc_model_destroy(&child);
}

/* Per-stack costs: everything allocated there, what is live, the most
 * live at once; a realloc moves the bytes to its own stack; a fork's copy
 * starts with what it inherited live and nothing allocated. */
static void test_stack_costs(void **state)
{
    struct alloc_model *m = *state;
    do_malloc(m, A, 10, 1);
    do_malloc(m, B, 20, 1);
    do_free(m, A, 9);
    do_malloc(m, C, 30, 1);
    do_realloc(m, B, 100, B + 0x100000, 2);
    const struct stack_cost *one = alloc_model_stack_cost(m, 1);
    const struct stack_cost *two = alloc_model_stack_cost(m, 2);
    assert_non_null(one);
    assert_non_null(two);
    assert_null(alloc_model_stack_cost(m, 9));   /* frees only */
    assert_null(alloc_model_stack_cost(m, 1000));
    assert_int_equal(one->allocations, 3);
    assert_int_equal(one->allocated_bytes, 60);
    assert_int_equal(one->live_bytes, 30);
    assert_int_equal(one->peak_bytes, 50);
    assert_int_equal(two->allocations, 1);
    assert_int_equal(two->live_bytes, 100);
    assert_int_equal(two->peak_bytes, 100);
    struct alloc_model child;
    assert_int_equal(alloc_model_copy(&child, m), 0);
    assert_null(alloc_model_stack_cost(&child, 1));   /* it allocated nothing yet */
    do_malloc(&child, A, 7, 1);
    one = alloc_model_stack_cost(&child, 1);
    assert_int_equal(one->allocated_bytes, 7);
    assert_int_equal(one->live_bytes, 37);
    assert_int_equal(one->peak_bytes, 37);
    alloc_model_destroy(&child);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_stack_costs),
        T(test_freed_fifo_is_bounded_by_volume),
        T(test_freed_fifo_stale_entry_keeps_newer_record),
        T(test_freed_table_built_early_keeps_up),
        T(test_freed_table_built_late_skips_live_addresses),
        T(test_describe_interior_of_live_and_freed_blocks),
        T(test_malloc_makes_a_live_block),
        T(test_failed_malloc_changes_nothing),
        T(test_free_moves_block_to_freed),
        T(test_free_null_is_ok_and_changes_nothing),
        T(test_double_free_verdict_describes_the_block),
        T(test_free_of_never_allocated_address_is_invalid),
        T(test_free_of_interior_pointer_is_invalid),
        T(test_check_free_reports_the_calling_function),
        T(test_mismatched_release_of_each_family),
        T(test_free_through_another_allocator),
        T(test_record_error_keeps_errors_in_order),
        T(test_calloc_records_total_size),
        T(test_realloc_that_moves_frees_old_block),
        T(test_realloc_in_place_keeps_address_live),
        T(test_realloc_of_null_is_an_allocation),
        T(test_realloc_to_zero_returning_null_frees),
        T(test_failed_realloc_leaves_block_live),
        T(test_reallocarray_that_moves_frees_old_block),
        T(test_reused_address_is_live_again_not_double_free),
        T(test_free_of_untracked_block_changes_nothing),
        T(test_counters_are_exact_over_a_sequence),
        T(test_sequence_numbers_order_blocks_in_time),
        T(test_copy_gives_independent_child_with_zero_counters),
    };
#undef T
    return cmocka_run_group_tests_name("alloc_model", tests, NULL, NULL);
}
