/* stack_intern: arrays of instruction pointers interned into small ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include "stack_intern.h"

#define ADD(si, ...) \
    stack_intern_add((si), (const mt_addr[]){ __VA_ARGS__ }, \
                     (unsigned)(sizeof((const mt_addr[]){ __VA_ARGS__ }) / sizeof(mt_addr)))

static int setup(void **state)
{
    struct stack_intern *si = malloc(sizeof(*si));
    if (!si || stack_intern_init(si) != 0)
        return -1;
    *state = si;
    return 0;
}

static int teardown(void **state)
{
    stack_intern_destroy(*state);
    free(*state);
    return 0;
}

static void assert_frames(const struct stack_intern *si, uint32_t id, const mt_addr *want,
                          unsigned want_depth)
{
    unsigned depth = 12345;
    const mt_addr *got = stack_intern_get(si, id, &depth);
    assert_int_equal(depth, want_depth);
    assert_non_null(got);
    assert_memory_equal(got, want, want_depth * sizeof(mt_addr));
}

/* Stack number i of the large test: depth 1..8, frames unique per i. */
static unsigned synthetic_stack(size_t i, mt_addr *ips)
{
    unsigned depth = 1 + (unsigned)(i % 8);
    for (unsigned k = 0; k < depth; k++)
        ips[k] = 0x400000 + (mt_addr)i * 0x10 + k * 0x1000000;
    return depth;
}

static void test_identical_arrays_give_the_same_id(void **state)
{
    struct stack_intern *si = *state;
    mt_addr a[] = { 0x401000, 0x401234, 0x7f0000001000 };
    mt_addr b[] = { 0x401000, 0x401234, 0x7f0000001000 };   /* another buffer */
    uint32_t id = stack_intern_add(si, a, 3);
    assert_int_not_equal(id, STACK_NONE);
    assert_int_equal(stack_intern_add(si, b, 3), id);
    assert_int_equal(stack_intern_count(si), 1);
}

static void test_different_arrays_give_different_ids(void **state)
{
    struct stack_intern *si = *state;
    uint32_t x = ADD(si, 0x401000, 0x401234);
    uint32_t y = ADD(si, 0x401000, 0x401238);
    uint32_t z = ADD(si, 0x401234, 0x401000);   /* same frames, other order */
    assert_int_not_equal(x, y);
    assert_int_not_equal(x, z);
    assert_int_not_equal(y, z);
    assert_int_equal(stack_intern_count(si), 3);
}

static void test_prefix_is_a_different_stack(void **state)
{
    struct stack_intern *si = *state;
    uint32_t ab = ADD(si, 0xa0, 0xb0);
    uint32_t abc = ADD(si, 0xa0, 0xb0, 0xc0);
    uint32_t a = ADD(si, 0xa0);
    assert_int_not_equal(ab, abc);
    assert_int_not_equal(ab, a);
    assert_int_not_equal(abc, a);
    /* And each still maps back to itself. */
    assert_int_equal(ADD(si, 0xa0, 0xb0), ab);
    assert_int_equal(ADD(si, 0xa0, 0xb0, 0xc0), abc);
    assert_int_equal(ADD(si, 0xa0), a);
}

static void test_longer_stack_first_then_prefix(void **state)
{
    struct stack_intern *si = *state;
    uint32_t abc = ADD(si, 0xa0, 0xb0, 0xc0);
    uint32_t ab = ADD(si, 0xa0, 0xb0);
    assert_int_not_equal(ab, abc);
    assert_frames(si, ab, (const mt_addr[]){ 0xa0, 0xb0 }, 2);
}

static void test_depth_zero_is_stack_none(void **state)
{
    struct stack_intern *si = *state;
    mt_addr ips[] = { 0x401000 };
    assert_int_equal(stack_intern_add(si, ips, 0), STACK_NONE);
    assert_int_equal(stack_intern_count(si), 0);
}

static void test_get_returns_the_frames(void **state)
{
    struct stack_intern *si = *state;
    uint32_t id1 = ADD(si, 0x401000, 0x401234, 0x7f0000001000);
    uint32_t id2 = ADD(si, 0x500000);
    assert_frames(si, id1, (const mt_addr[]){ 0x401000, 0x401234, 0x7f0000001000 }, 3);
    assert_frames(si, id2, (const mt_addr[]){ 0x500000 }, 1);
}

static void test_get_of_stack_none_or_unknown_id_is_empty(void **state)
{
    struct stack_intern *si = *state;
    uint32_t id = ADD(si, 0x401000);
    unsigned depth = 99;
    assert_null(stack_intern_get(si, STACK_NONE, &depth));
    assert_int_equal(depth, 0);
    depth = 99;
    assert_null(stack_intern_get(si, id + 1, &depth));
    assert_int_equal(depth, 0);
}

static void test_hundred_thousand_stacks_survive_rehashing(void **state)
{
    struct stack_intern *si = *state;
    const size_t n = 100000;
    uint32_t *ids = malloc(n * sizeof(*ids));
    assert_non_null(ids);
    mt_addr ips[8];
    for (size_t i = 0; i < n; i++) {
        unsigned depth = synthetic_stack(i, ips);
        ids[i] = stack_intern_add(si, ips, depth);
        assert_int_not_equal(ids[i], STACK_NONE);
    }
    assert_int_equal(stack_intern_count(si), n);
    for (size_t i = 0; i < n; i++) {
        unsigned depth = synthetic_stack(i, ips);
        assert_frames(si, ids[i], ips, depth);
        /* Looking the stack up again finds the same id, adds nothing. */
        assert_int_equal(stack_intern_add(si, ips, depth), ids[i]);
    }
    assert_int_equal(stack_intern_count(si), n);
    free(ids);
}

static void test_copy_is_independent_of_original(void **state)
{
    struct stack_intern *si = *state;
    uint32_t a = ADD(si, 0x10, 0x20);
    uint32_t b = ADD(si, 0x30);

    struct stack_intern copy;
    assert_int_equal(stack_intern_copy(&copy, si), 0);
    assert_int_equal(stack_intern_count(&copy), 2);

    uint32_t only_in_original = ADD(si, 0x40, 0x50);
    assert_int_equal(stack_intern_count(&copy), 2);
    unsigned depth;
    assert_null(stack_intern_get(&copy, only_in_original, &depth));

    /* The copy keeps the same ids and finds the old stacks. */
    assert_int_equal(ADD(&copy, 0x10, 0x20), a);
    assert_int_equal(ADD(&copy, 0x30), b);
    uint32_t only_in_copy = ADD(&copy, 0x60);
    assert_frames(&copy, only_in_copy, (const mt_addr[]){ 0x60 }, 1);
    assert_frames(si, only_in_original, (const mt_addr[]){ 0x40, 0x50 }, 2);
    assert_int_equal(stack_intern_count(si), 3);

    /* The copy outlives the original's storage. */
    stack_intern_destroy(si);
    assert_int_equal(stack_intern_init(si), 0);
    assert_frames(&copy, a, (const mt_addr[]){ 0x10, 0x20 }, 2);
    stack_intern_destroy(&copy);
}

/* A trimmed table (its process ended) keeps every id and frame, and takes
 * new stacks again, finding the old ones. */
static void test_trim_keeps_ids_and_accepts_more(void **state)
{
    struct stack_intern *si = *state;
    enum { N = 3000 };
    uint32_t ids[N];
    mt_addr ips[8];
    for (size_t i = 0; i < N; i++) {
        unsigned depth = synthetic_stack(i, ips);
        ids[i] = stack_intern_add(si, ips, depth);
    }
    stack_intern_trim(si);
    assert_int_equal(si->nbuckets, 0);
    assert_int_equal(si->ips_cap, si->nips);
    assert_int_equal(si->recs_cap, si->nrecs);
    for (size_t i = 0; i < N; i++) {
        unsigned depth = synthetic_stack(i, ips);
        assert_frames(si, ids[i], ips, depth);
    }
    assert_int_equal(stack_intern_add(si, ips, synthetic_stack(N - 1, ips)), ids[N - 1]);
    uint32_t fresh = ADD(si, 0xabc, 0xdef);
    assert_int_equal(fresh, N + 1);
    assert_frames(si, fresh, (const mt_addr[]){ 0xabc, 0xdef }, 2);
    assert_int_equal(stack_intern_count(si), N + 1);
    stack_intern_trim(si);
    stack_intern_trim(si);   /* trimming twice is harmless */
    assert_frames(si, fresh, (const mt_addr[]){ 0xabc, 0xdef }, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identical_arrays_give_the_same_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_different_arrays_give_different_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_is_a_different_stack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longer_stack_first_then_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_zero_is_stack_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_returns_the_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_of_stack_none_or_unknown_id_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hundred_thousand_stacks_survive_rehashing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_is_independent_of_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_keeps_ids_and_accepts_more, setup, teardown),
    };
    return cmocka_run_group_tests_name("stack_intern", tests, NULL, NULL);
}
