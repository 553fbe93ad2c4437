/* glibc_heap_extent: the heap memory around a block, from synthetic chunk
 * headers in a fake address space. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "glibc_heap.h"

#define PAGE 4096u
/* One fake mapping: [MAP, MAP + MAP_SIZE), backed by mem. */
#define MAP 0x7f0000000000ULL
#define MAP_SIZE (1u << 20)

struct fake {
    uint8_t mem[MAP_SIZE];
};

static ssize_t fake_read(void *ctx, mt_addr addr, void *buf, size_t len)
{
    struct fake *f = ctx;
    if (addr < MAP || addr >= MAP + MAP_SIZE)
        return 0;
    size_t avail = (size_t)(MAP + MAP_SIZE - addr);
    size_t n = len < avail ? len : avail;
    memcpy(buf, f->mem + (addr - MAP), n);
    return (ssize_t)n;
}

static void put(struct fake *f, mt_addr at, uint64_t v)
{
    memcpy(f->mem + (at - MAP), &v, 8);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct fake));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* A block of 400000 bytes in an mmapped chunk of 98 pages at MAP + 16
 * pages: the extent is the chunk's mapping, not the whole VMA. */
static void test_mmapped_chunk(void **state)
{
    struct fake *f = *state;
    mt_addr chunk = MAP + 16 * PAGE, block = chunk + 16;
    put(f, chunk, 0);                       /* prev_size: no alignment correction */
    put(f, chunk + 8, 98 * PAGE | 2);       /* size | IS_MMAPPED */
    struct glibc_extent e;
    assert_true(glibc_heap_extent(fake_read, f, block, 400000, MAP, MAP + MAP_SIZE, 0, &e));
    assert_int_equal(e.lo, chunk);
    assert_int_equal(e.hi, chunk + 98 * PAGE);
}

/* memalign's correction: the mapping starts prev_size bytes before the chunk. */
static void test_mmapped_chunk_aligned(void **state)
{
    struct fake *f = *state;
    mt_addr base = MAP + 4 * PAGE, chunk = base + 0x30, block = chunk + 16;
    put(f, chunk, 0x30);
    put(f, chunk + 8, (8 * PAGE - 0x30) | 2);
    struct glibc_extent e;
    assert_true(glibc_heap_extent(fake_read, f, block, 20000, MAP, MAP + MAP_SIZE, 0, &e));
    assert_int_equal(e.lo, base);
    assert_int_equal(e.hi, base + 8 * PAGE);
}

/* Headers that do not fit: no extent (the caller takes the whole VMA). */
static void test_mmapped_chunk_inconsistent(void **state)
{
    struct fake *f = *state;
    mt_addr chunk = MAP + 16 * PAGE, block = chunk + 16;
    struct glibc_extent e;
    put(f, chunk, 0);
    put(f, chunk + 8, (98 * PAGE + 16) | 2);   /* not a page multiple */
    assert_false(glibc_heap_extent(fake_read, f, block, 400000, MAP, MAP + MAP_SIZE, 0, &e));
    put(f, chunk + 8, 2 * PAGE | 2);           /* smaller than the block */
    assert_false(glibc_heap_extent(fake_read, f, block, 400000, MAP, MAP + MAP_SIZE, 0, &e));
    put(f, chunk + 8, 4096u * 1024 | 2);       /* past the mapping */
    assert_false(glibc_heap_extent(fake_read, f, block, 64, MAP, MAP + MAP_SIZE, 0, &e));
    /* a block outside the mapping, or unaligned */
    assert_false(glibc_heap_extent(fake_read, f, MAP + MAP_SIZE + 16, 8, MAP, MAP + MAP_SIZE, 0,
                                   &e));
    assert_false(glibc_heap_extent(fake_read, f, block + 8, 8, MAP, MAP + MAP_SIZE, 0, &e));
}

/* The main arena: from start_brk to the end of the mapping, whatever lies
 * below start_brk in the same VMA. */
static void test_main_arena(void **state)
{
    struct fake *f = *state;
    mt_addr start_brk = MAP + 64 * PAGE, chunk = start_brk + 0x290, block = chunk + 16;
    put(f, chunk + 8, 0x20 | 1);            /* 32-byte chunk, PREV_INUSE */
    struct glibc_extent e;
    /* 24 bytes fill the chunk and the next chunk's prev_size word */
    assert_true(glibc_heap_extent(fake_read, f, block, 24, MAP, MAP + MAP_SIZE, start_brk, &e));
    assert_int_equal(e.lo, start_brk);
    assert_int_equal(e.hi, MAP + MAP_SIZE);
    assert_false(glibc_heap_extent(fake_read, f, block, 25, MAP, MAP + MAP_SIZE, start_brk, &e));
    /* start_brk unknown, or above the chunk (a main arena grown by mmap) */
    assert_false(glibc_heap_extent(fake_read, f, block, 24, MAP, MAP + MAP_SIZE, 0, &e));
    assert_false(glibc_heap_extent(fake_read, f, block, 24, MAP, MAP + MAP_SIZE, block + PAGE,
                                   &e));
}

/* A non-main arena's heap: heap_info at the 64 MiB boundary. The fake
 * mapping sits at such a boundary (MAP is 64 MiB aligned). */
static void test_arena_heap(void **state)
{
    struct fake *f = *state;
    mt_addr heap = MAP, chunk = heap + 0x8b0, block = chunk + 16;
    put(f, heap, 0x7f0000000020ULL);        /* ar_ptr */
    put(f, heap + 8, 0);                    /* prev */
    put(f, heap + 16, 33 * PAGE);           /* size in use */
    put(f, heap + 24, 40 * PAGE);           /* mprotect_size */
    put(f, chunk + 8, 0x50 | 4 | 1);        /* NON_MAIN_ARENA | PREV_INUSE */
    struct glibc_extent e;
    assert_true(glibc_heap_extent(fake_read, f, block, 64, MAP, MAP + MAP_SIZE, 0, &e));
    assert_int_equal(e.lo, heap);
    assert_int_equal(e.hi, heap + 40 * PAGE);
    put(f, heap + 24, 8 * PAGE);            /* mprotect_size below size: not a heap_info */
    assert_false(glibc_heap_extent(fake_read, f, block, 64, MAP, MAP + MAP_SIZE, 0, &e));
    put(f, heap + 24, 40 * PAGE);
    put(f, heap, 0);                        /* no arena */
    assert_false(glibc_heap_extent(fake_read, f, block, 64, MAP, MAP + MAP_SIZE, 0, &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mmapped_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmapped_chunk_aligned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmapped_chunk_inconsistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_heap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
