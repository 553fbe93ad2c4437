/* map_table and shm_table: the program's mappings as the kernel keeps them
 * (splits, shrinks, growth and moves) and its SysV segments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "map_table.h"
#include "shm_table.h"

#define P MAP_TABLE_PAGE
#define BASE 0x7f0000000000ULL

enum { S_MMAP = 7, S_OTHER = 9 };

static int setup(void **state)
{
    struct map_table *t = malloc(sizeof(*t));
    if (!t)
        return -1;
    map_table_init(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    map_table_destroy(*state);
    free(*state);
    return 0;
}

static void add(struct map_table *t, mt_addr lo, uint64_t len, int flags, const char *path,
                uint32_t stack)
{
    struct map_region r = { .lo = lo, .hi = lo + len, .stack = stack,
                            .prot = PROT_READ | PROT_WRITE, .flags = flags, .shmid = -1 };
    assert_int_equal(map_table_add(t, &r, path), 0);
}

/* The table is exactly the ranges given as lo, hi pairs. */
static void assert_ranges(const struct map_table *t, size_t n, const mt_addr *expect)
{
    assert_int_equal(t->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t->regions[i].lo, expect[2 * i]);
        assert_int_equal(t->regions[i].hi, expect[2 * i + 1]);
    }
}

static void test_pages_round_up(void **state)
{
    (void)state;
    assert_int_equal(map_table_pages(0), 0);
    assert_int_equal(map_table_pages(1), P);
    assert_int_equal(map_table_pages(1024), P);
    assert_int_equal(map_table_pages(P), P);
    assert_int_equal(map_table_pages(P + 1), 2 * P);
}

static void test_add_keeps_regions_sorted(void **state)
{
    struct map_table *t = *state;
    add(t, BASE + 8 * P, P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, S_MMAP);
    add(t, BASE, 2 * P, MAP_SHARED | MAP_ANONYMOUS, NULL, S_MMAP);
    add(t, BASE + 4 * P, P, MAP_SHARED, "/dev/zero", S_OTHER);
    const mt_addr want[] = { BASE, BASE + 2 * P, BASE + 4 * P, BASE + 5 * P, BASE + 8 * P,
                             BASE + 9 * P };
    assert_ranges(t, 3, want);
    assert_string_equal(map_table_path(t, &t->regions[1]), "/dev/zero");
    assert_null(map_table_path(t, &t->regions[0]));
    assert_ptr_equal(map_table_find(t, BASE + 4 * P + 100), &t->regions[1]);
    assert_null(map_table_find(t, BASE + 3 * P));
}

static void test_add_rejects_empty_or_unaligned(void **state)
{
    struct map_table *t = *state;
    struct map_region r = { .lo = BASE, .hi = BASE, .shmid = -1 };
    assert_int_equal(map_table_add(t, &r, NULL), -22);
    r.hi = BASE + 100;
    assert_int_equal(map_table_add(t, &r, NULL), -22);
    assert_int_equal(t->n, 0);
}

static void test_munmap_of_the_middle_splits(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, 3 * P, MAP_PRIVATE | MAP_ANONYMOUS, "/tmp/f", S_MMAP);
    assert_int_equal(map_table_remove(t, BASE + P, BASE + 2 * P), P);
    const mt_addr want[] = { BASE, BASE + P, BASE + 2 * P, BASE + 3 * P };
    assert_ranges(t, 2, want);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(t->regions[i].stack, S_MMAP);
        assert_string_equal(map_table_path(t, &t->regions[i]), "/tmp/f");
    }
}

static void test_munmap_of_ends_and_across_regions(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, 4 * P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, S_MMAP);
    add(t, BASE + 6 * P, 4 * P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, S_OTHER);
    assert_int_equal(map_table_remove(t, BASE - P, BASE + P), P);                /* start */
    assert_int_equal(map_table_remove(t, BASE + 3 * P, BASE + 7 * P), 2 * P);    /* across */
    const mt_addr want[] = { BASE + P, BASE + 3 * P, BASE + 7 * P, BASE + 10 * P };
    assert_ranges(t, 2, want);
    assert_int_equal(map_table_remove(t, BASE, BASE + 20 * P), 5 * P);         /* all */
    assert_int_equal(t->n, 0);
    assert_int_equal(map_table_remove(t, BASE, BASE + P), 0);                  /* nothing */
}

static void test_fixed_mapping_replaces_what_was_there(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, 4 * P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, S_MMAP);
    add(t, BASE + P, P, MAP_SHARED | MAP_FIXED, "/tmp/g", S_OTHER);
    const mt_addr want[] = { BASE, BASE + P, BASE + P, BASE + 2 * P, BASE + 2 * P,
                             BASE + 4 * P };
    assert_ranges(t, 3, want);
    assert_int_equal(t->regions[1].stack, S_OTHER);
    assert_string_equal(map_table_path(t, &t->regions[1]), "/tmp/g");
    assert_int_equal(t->regions[2].stack, S_MMAP);
}

static void test_mremap_grows_in_place_shrinks_and_moves(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, P, MAP_SHARED, "/dev/zero", S_MMAP);
    assert_int_equal(map_table_remap(t, BASE, P, BASE, 3 * P, false), 0);           /* grow */
    const mt_addr grown[] = { BASE, BASE + 3 * P };
    assert_ranges(t, 1, grown);
    assert_int_equal(map_table_remap(t, BASE, 3 * P, BASE, 2 * P - 5, false), 0);   /* shrink */
    const mt_addr shrunk[] = { BASE, BASE + 2 * P };
    assert_ranges(t, 1, shrunk);
    assert_int_equal(map_table_remap(t, BASE, 2 * P, BASE + 16 * P, 4 * P, false), 0); /* move */
    const mt_addr moved[] = { BASE + 16 * P, BASE + 20 * P };
    assert_ranges(t, 1, moved);
    assert_int_equal(t->regions[0].stack, S_MMAP);
    assert_int_equal(t->regions[0].flags, MAP_SHARED);
    assert_string_equal(map_table_path(t, &t->regions[0]), "/dev/zero");
}

static void test_mremap_of_part_moves_only_that_part(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, 2 * P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, S_MMAP);
    assert_int_equal(map_table_remap(t, BASE, P, BASE + 8 * P, 3 * P, false), 0);
    const mt_addr want[] = { BASE + P, BASE + 2 * P, BASE + 8 * P, BASE + 11 * P };
    assert_ranges(t, 2, want);
}

static void test_mremap_keep_old_and_untracked(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, P, MAP_SHARED | MAP_ANONYMOUS, NULL, S_MMAP);
    assert_int_equal(map_table_remap(t, BASE, 0, BASE + 4 * P, P, true), 0);   /* duplicate */
    const mt_addr want[] = { BASE, BASE + P, BASE + 4 * P, BASE + 5 * P };
    assert_ranges(t, 2, want);
    /* Not the program's mapping (glibc's own): nothing to do. */
    assert_int_equal(map_table_remap(t, BASE + 100 * P, P, BASE + 200 * P, 2 * P, false), 0);
    assert_ranges(t, 2, want);
}

static void test_copy_is_independent(void **state)
{
    struct map_table *t = *state;
    add(t, BASE, 2 * P, MAP_SHARED, "/dev/zero", S_MMAP);
    struct map_table child;
    assert_int_equal(map_table_copy(&child, t), 0);
    assert_int_equal(map_table_remove(&child, BASE, BASE + 2 * P), 2 * P);
    assert_int_equal(child.n, 0);
    assert_int_equal(t->n, 1);
    assert_string_equal(map_table_path(t, &t->regions[0]), "/dev/zero");
    map_table_destroy(&child);
}

static void test_many_regions_stay_sorted(void **state)
{
    struct map_table *t = *state;
    for (unsigned i = 0; i < 200; i++)
        add(t, BASE + (mt_addr)((i * 37) % 200) * 2 * P, P, MAP_PRIVATE | MAP_ANONYMOUS, NULL, i);
    assert_int_equal(t->n, 200);
    for (size_t i = 1; i < t->n; i++)
        assert_true(t->regions[i - 1].hi <= t->regions[i].lo);
    for (unsigned i = 0; i < 200; i += 2)
        assert_int_equal(map_table_remove(t, BASE + i * 2 * P, BASE + i * 2 * P + P), P);
    assert_int_equal(t->n, 100);
}

static void test_shm_table(void **state)
{
    (void)state;
    struct shm_table st;
    shm_table_init(&st);
    struct shm_segment *s = shm_table_add(&st, 42);
    assert_non_null(s);
    s->created = true;
    s->size = 1024;
    assert_ptr_equal(shm_table_add(&st, 42), s);
    assert_null(shm_table_get(&st, 43));
    assert_true(shm_segment_persists(s));
    s->checked = true;                       /* gone from /proc/sysvipc/shm */
    assert_false(shm_segment_persists(s));
    s->exists = true;
    assert_true(shm_segment_persists(s));
    s->removed = true;                       /* shmctl IPC_RMID */
    assert_false(shm_segment_persists(s));

    struct shm_table child;
    assert_int_equal(shm_table_copy(&child, &st), 0);
    assert_int_equal(child.n, 1);
    assert_false(child.segs[0].created);     /* the creator is the parent */
    assert_int_equal(child.segs[0].size, 1024);
    shm_table_destroy(&child);
    shm_table_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_round_up),
        cmocka_unit_test_setup_teardown(test_add_keeps_regions_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_rejects_empty_or_unaligned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_munmap_of_the_middle_splits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_munmap_of_ends_and_across_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_mapping_replaces_what_was_there, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mremap_grows_in_place_shrinks_and_moves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mremap_of_part_moves_only_that_part, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mremap_keep_old_and_untracked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_is_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_regions_stay_sorted, setup, teardown),
        cmocka_unit_test(test_shm_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
