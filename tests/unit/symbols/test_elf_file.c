/* elf_file on this test's own executable: data objects by address (what a
 * bad free's "inside data symbol" names) and the RELRO segment (a leak-scan
 * root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include "elf_file.h"

/* Objects whose link-time addresses the test finds by name, then by
 * address. Not static-const: .data and .bss. */
long elf_test_data_array[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
char elf_test_bss_buffer[64];

static int setup(void **state)
{
    static struct elf_file ef;
    char why[256];
    memset(&ef, 0, sizeof(ef));
    if (elf_file_open(&ef, "/proc/self/exe", why, sizeof(why)) != 0) {
        print_error("cannot open /proc/self/exe: %s\n", why);
        return -1;
    }
    *state = &ef;
    return 0;
}

static int teardown(void **state)
{
    elf_file_close(*state);
    return 0;
}

static void check_object(const struct elf_file *ef, const char *symbol, uint64_t offset,
                         uint64_t expected_size)
{
    uint64_t value = 0, got_value = 0, size = 0;
    const char *name = NULL;
    assert_true(elf_file_find_object(ef, symbol, &value));
    assert_true(elf_file_object_at(ef, value + offset, &name, &got_value, &size));
    assert_string_equal(name, symbol);
    assert_int_equal(got_value, value);
    assert_int_equal(size, expected_size);
}

static void test_object_at_start_and_inside(void **state)
{
    const struct elf_file *ef = *state;
    check_object(ef, "elf_test_data_array", 0, sizeof(elf_test_data_array));
    check_object(ef, "elf_test_data_array", 8, sizeof(elf_test_data_array));
    check_object(ef, "elf_test_data_array", sizeof(elf_test_data_array) - 1,
                 sizeof(elf_test_data_array));
    check_object(ef, "elf_test_bss_buffer", 40, sizeof(elf_test_bss_buffer));
}

static void test_object_at_outside(void **state)
{
    const struct elf_file *ef = *state;
    uint64_t value = 0, got_value = 0, size = 0;
    const char *name = NULL;
    assert_true(elf_file_find_object(ef, "elf_test_bss_buffer", &value));
    /* one past the end is not inside it (whatever follows may be another object) */
    if (elf_file_object_at(ef, value + sizeof(elf_test_bss_buffer), &name, &got_value, &size))
        assert_string_not_equal(name, "elf_test_bss_buffer");
    assert_false(elf_file_object_at(ef, 0, &name, &got_value, &size));
    assert_false(elf_file_object_at(ef, UINT64_MAX - 8, &name, &got_value, &size));
}

/* A PIE linked with -z relro (Debian's default) has a PT_GNU_RELRO inside
 * its writable load segment. */
static void test_relro(void **state)
{
    const struct elf_file *ef = *state;
    assert_true(ef->relro_memsz > 0);
    bool inside = false;
    for (int i = 0; i < ef->nsegs; i++)
        inside |= ef->relro_vaddr >= ef->segs[i].vaddr &&
                  ef->relro_vaddr + ef->relro_memsz <= ef->segs[i].vaddr + ef->segs[i].memsz;
    assert_true(inside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_at_start_and_inside),
        cmocka_unit_test(test_object_at_outside),
        cmocka_unit_test(test_relro),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
