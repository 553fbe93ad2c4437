/* The link-map diff: modules loaded, unloaded and loaded again at the same
 * link_map address, in link-map order, with absent ones kept for old
 * stacks; and the address lookup that only sees present modules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modules.h"

struct events {
    unsigned opened, closed, refuse;   /* refuse: the open that fails (1-based), 0: none */
    char closed_names[8][32];
};

static int fake_open(void *ctx, const struct linkmap_entry *e, struct module *out)
{
    struct events *ev = ctx;
    if (++ev->opened == ev->refuse)
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    out->name = strdup(e->is_main ? "/bin/prog" : e->name);
    out->path = strdup(out->name);
    out->link_map = e->lm;
    out->dynamic = e->dynamic;
    out->bias = e->bias;
    out->lo = e->bias + 0x1000;
    out->hi = e->bias + 0x9000;
    out->present = true;
    return 0;
}

static void fake_closed(void *ctx, struct module *m)
{
    struct events *ev = ctx;
    snprintf(ev->closed_names[ev->closed++ % 8], 32, "%s", m->name);
}

#define MAIN { .lm = 0x1000, .bias = 0x555500000000, .dynamic = 0x555500003de0, .name = "", \
               .is_main = true }
#define LIBC { .lm = 0x2000, .bias = 0x7f0000000000, .dynamic = 0x7f00001f0bc0, \
               .name = "/lib/libc.so.6" }
#define LIBX { .lm = 0x3000, .bias = 0x7f1000000000, .dynamic = 0x7f1000003e00, \
               .name = "/opt/libx.so" }
#define LIBY { .lm = 0x3000, .bias = 0x7f1000000000, .dynamic = 0x7f1000005e00, \
               .name = "/opt/liby.so" }

static void check_names(const struct module_table *t, const char *const *names, const bool *present)
{
    for (size_t i = 0; names[i]; i++) {
        assert_true(i < t->n);
        assert_string_equal(t->items[i].name, names[i]);
        assert_int_equal(t->items[i].present, present[i]);
    }
}

static void test_load_unload_reload(void **state)
{
    (void)state;
    struct events ev = { 0 };
    struct module_events on = { .open = fake_open, .closed = fake_closed, .ctx = &ev };
    struct module_table t;
    modules_init(&t);

    const struct linkmap_entry start[] = { MAIN, LIBC, LIBX };
    assert_int_equal(modules_sync(&t, start, 3, &on), 3);
    assert_int_equal(t.n, 3);
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/libx.so", NULL },
                (const bool[]){ true, true, true });
    /* Nothing changed: nothing opened again. */
    assert_int_equal(modules_sync(&t, start, 3, &on), 0);
    assert_int_equal(ev.opened, 3);
    assert_non_null(modules_at(&t, 0x7f1000002000));

    /* dlclose(libx): it leaves, kept as an absent record at the end. */
    const struct linkmap_entry closed[] = { MAIN, LIBC };
    assert_int_equal(modules_sync(&t, closed, 2, &on), 1);
    assert_int_equal(ev.closed, 1);
    assert_string_equal(ev.closed_names[0], "/opt/libx.so");
    assert_int_equal(t.n, 3);
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/libx.so", NULL },
                (const bool[]){ true, true, false });
    assert_null(modules_at(&t, 0x7f1000002000));   /* absent modules hold no addresses */

    /* dlopen(libx) again, its link_map at the same address: a new record. */
    assert_int_equal(modules_sync(&t, start, 3, &on), 1);
    assert_int_equal(ev.opened, 4);
    assert_int_equal(t.n, 4);
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/libx.so",
                                      "/opt/libx.so", NULL },
                (const bool[]){ true, true, true, false });
    assert_ptr_equal(modules_at(&t, 0x7f1000002000), &t.items[2]);

    /* Another library in the same link_map allocation (its dynamic section
     * elsewhere): a new module, the old one leaves. */
    const struct linkmap_entry swapped[] = { MAIN, LIBC, LIBY };
    assert_int_equal(modules_sync(&t, swapped, 3, &on), 2);
    assert_int_equal(ev.closed, 2);
    assert_string_equal(ev.closed_names[1], "/opt/libx.so");
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/liby.so", NULL },
                (const bool[]){ true, true, true });
    assert_int_equal(t.n, 5);
    for (size_t i = 3; i < t.n; i++)
        assert_false(t.items[i].present);
    modules_destroy(&t);
}

/* The program writes over l_name of loaded modules ("/etc/shadow", ""):
 * the same link_map loaded at the same place is the same module; nothing
 * is opened and nothing leaves (its breakpoints stay accounted for). */
static void test_renamed_module_stays(void **state)
{
    (void)state;
    struct events ev = { 0 };
    struct module_events on = { .open = fake_open, .closed = fake_closed, .ctx = &ev };
    struct module_table t;
    modules_init(&t);
    const struct linkmap_entry start[] = { MAIN, LIBC, LIBX };
    assert_int_equal(modules_sync(&t, start, 3, &on), 3);
    struct linkmap_entry renamed[] = { MAIN, LIBC, LIBX };
    renamed[1].name = "/etc/shadow";
    renamed[2].name = "";
    assert_int_equal(modules_sync(&t, renamed, 3, &on), 0);
    assert_int_equal(ev.opened, 3);
    assert_int_equal(ev.closed, 0);
    assert_int_equal(t.n, 3);
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/libx.so", NULL },
                (const bool[]){ true, true, true });
    modules_destroy(&t);
}

static void test_open_failure_leaves_entry_out(void **state)
{
    (void)state;
    struct events ev = { .refuse = 2 };
    struct module_events on = { .open = fake_open, .closed = fake_closed, .ctx = &ev };
    struct module_table t;
    modules_init(&t);
    const struct linkmap_entry start[] = { MAIN, LIBC, LIBX };
    assert_int_equal(modules_sync(&t, start, 3, &on), 2);
    check_names(&t, (const char *[]){ "/bin/prog", "/opt/libx.so", NULL },
                (const bool[]){ true, true });
    /* The next rendezvous tries it again. */
    assert_int_equal(modules_sync(&t, start, 3, &on), 1);
    check_names(&t, (const char *[]){ "/bin/prog", "/lib/libc.so.6", "/opt/libx.so", NULL },
                (const bool[]){ true, true, true });

    struct module_table copy;
    assert_int_equal(modules_copy(&copy, &t), 0);
    assert_int_equal(copy.n, t.n);
    assert_string_equal(copy.items[1].name, "/lib/libc.so.6");
    assert_ptr_not_equal(copy.items[1].name, t.items[1].name);
    modules_destroy(&copy);
    modules_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_unload_reload),
        cmocka_unit_test(test_renamed_module_stays),
        cmocka_unit_test(test_open_failure_leaves_entry_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
