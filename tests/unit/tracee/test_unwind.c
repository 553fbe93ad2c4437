/* The stack snapshot the unwinder reads first: every address in it comes
 * from the target (rsp, a saved rbp), so a word near 2^64 or just past the
 * snapshot's end is outside, never a read past the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include "fake_remote.h"
#include "unwind.h"

#define TID 0x7ffffff0
#define STACK 0x7ffe0000u

static void test_snapshot_bounds(void **state)
{
    (void)state;
    struct fake_target f;
    fake_init(&f);
    fake_map(&f, STACK, FAKE_PAGE, false);   /* the stack ends 4 KiB above sp */
    fake_put_u64(&f, STACK + 0x10, 0x1111);
    fake_put_u64(&f, STACK + FAKE_PAGE - 8, 0x2222);
    struct stack_snapshot *s = malloc(sizeof(*s));
    assert_non_null(s);
    assert_int_equal(stack_snapshot_fill(s, &f.remote, TID, STACK + 0x10), 0);
    assert_int_equal(s->len, FAKE_PAGE - 0x10);
    uint64_t v = 0;
    assert_int_equal(stack_snapshot_u64(s, STACK + 0x10, &v), 0);
    assert_int_equal(v, 0x1111);
    assert_int_equal(stack_snapshot_u64(s, STACK + FAKE_PAGE - 8, &v), 0);
    assert_int_equal(v, 0x2222);
    static const uint64_t outside[] = {
        STACK + 0x8,                       /* below sp */
        STACK + FAKE_PAGE - 7,             /* straddles the end */
        STACK + FAKE_PAGE,
        UINT64_MAX,                        /* rbp = -1: rbp + 8 wraps */
        UINT64_MAX - 7, UINT64_MAX - 6, 0, 8,
    };
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        assert_int_equal(stack_snapshot_u64(s, outside[i], &v), -1);
        stack_snapshot_patch(s, outside[i], 0xbad);   /* ASan: no write out of bounds */
    }
    stack_snapshot_patch(s, STACK + 0x10, 0x3333);
    assert_int_equal(stack_snapshot_u64(s, STACK + 0x10, &v), 0);
    assert_int_equal(v, 0x3333);
    /* An unmapped stack: an empty snapshot, every word outside. */
    assert_int_equal(stack_snapshot_fill(s, &f.remote, TID, 0x10000), 0);
    assert_int_equal(s->len, 0);
    assert_int_equal(stack_snapshot_u64(s, 0x10000, &v), -1);
    free(s);
    fake_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
