/* The symbols API when memtrace's own allocations fail: the Nth call to
 * malloc, calloc, realloc or strdup made by symbols/ fails (the linker wraps
 * them, -Wl,--wrap; libdw's own allocations are left alone), for every N up
 * to the number a whole run makes. Each run must fail cleanly (an error, a
 * NULL, a frame without a name) and free what it made: no crash, and no leak
 * under the ASan build. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "symbolizer.h"

/* NOLINTBEGIN(bugprone-reserved-identifier): the names -Wl,--wrap defines */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
/* NOLINTEND(bugprone-reserved-identifier) */

/* Owned by the wrappers: calls so far, and the call that fails (0: none). */
static unsigned long alloc_calls, alloc_fail_at;

static bool this_call_fails(void)
{
    return ++alloc_calls == alloc_fail_at;
}

void *__wrap_malloc(size_t size)
{
    return this_call_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return this_call_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return this_call_fails() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return this_call_fails() ? NULL : __real_strdup(s);
}

static void ignore_warning(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

/* Create, add the plain fixture, resolve main's neighbourhood, clone, destroy. */
static void symbolize_once(void)
{
    struct symbolizer *s = symbolizer_create();
    if (!s)
        return;
    char why[512];
    if (symbolizer_add_module(s, SYMFX_DIR "/fx_sym_plain", 0, why, sizeof(why)) == 0) {
        const struct sym_frame_ext *fr;
        for (mt_addr ip = 0x1000; ip < 0x1400; ip += 0x40)
            assert_true(symbolizer_lookup(s, ip, SYMBOLIZER_NOW, false, &fr) >= 1);
    }
    symbolizer_destroy(symbolizer_clone(s));
    symbolizer_destroy(s);
}

static void test_every_allocation_fails_once(void **state)
{
    (void)state;
    symbolizer_set_warning_handler(ignore_warning, NULL);
    alloc_fail_at = 0;
    alloc_calls = 0;
    symbolize_once();
    unsigned long total = alloc_calls;
    assert_true(total > 0);
    for (alloc_fail_at = 1; alloc_fail_at <= total; alloc_fail_at++) {
        alloc_calls = 0;
        symbolize_once();
    }
    alloc_fail_at = 0;
    symbolizer_set_warning_handler(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
