/* The symbolizer helper (symbolizer_worker.h) on a real file of
 * fixtures/symbols: a lookup answers at once with module+offset, the names
 * come with a later poll and are those symbolizer_lookup gives, the inline
 * chain included; an address no module covers is never sent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>
#include "elf_file.h"
#include "mt_time.h"
#include "symbolizer.h"
#include "symbolizer_worker.h"

#define FX SYMFX_DIR "/"
#define BIAS 0x555555554000ULL

/* Polls until nothing is pending, for at most 20 s. */
static void wait_answers(struct symbolizer_worker *w)
{
    uint64_t give_up = mt_now_ns() + 20000000000ULL;
    while (symbolizer_worker_pending(w) && mt_now_ns() < give_up) {
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
        symbolizer_worker_poll(w);
    }
    assert_int_equal(symbolizer_worker_pending(w), 0);
}

/* Start of function name in path's symbol table. */
static mt_addr function_start(const char *path, const char *name)
{
    struct elf_file ef;
    char why[256];
    assert_int_equal(elf_file_open(&ef, path, why, sizeof(why)), 0);
    uint64_t value = 0, size = 0;
    assert_true(elf_file_find_function(&ef, name, &value, &size));
    elf_file_close(&ef);
    return value;
}

static struct symbolizer *with_module(const char *path, mt_addr bias)
{
    struct symbolizer *s = symbolizer_create();
    assert_non_null(s);
    char why[512];
    assert_int_equal(symbolizer_add_module(s, path, bias, why, sizeof(why)), 0);
    return s;
}

static struct symbolizer_worker *start(void)
{
    char why[256];
    struct symbolizer_worker *w = symbolizer_worker_start(why, sizeof(why));
    assert_non_null(w);
    assert_string_equal(why, "");
    return w;
}

/* Equal strings, or both NULL. */
static void assert_same_string(const char *got, const char *want)
{
    if (!got || !want)
        assert_ptr_equal(got, want);
    else
        assert_string_equal(got, want);
}

static void assert_same_frames(const struct sym_frame_ext *got, unsigned ngot,
                               const struct sym_frame_ext *want, unsigned nwant)
{
    assert_int_equal(ngot, nwant);
    for (unsigned i = 0; i < ngot; i++) {
        assert_int_equal(got[i].f.address, want[i].f.address);
        assert_same_string(got[i].f.module, want[i].f.module);
        assert_int_equal(got[i].f.module_offset, want[i].f.module_offset);
        assert_same_string(got[i].f.function, want[i].f.function);
        assert_same_string(got[i].f.file, want[i].f.file);
        assert_int_equal(got[i].f.line, want[i].f.line);
        assert_int_equal(got[i].inlined, want[i].inlined);
    }
}

static void test_address_first_then_the_names(void **state)
{
    (void)state;
    const char *path = FX "fx_sym_plain";
    /* A return address a few bytes into make_record: its first line. */
    mt_addr ip = BIAS + function_start(path, "make_record") + 8;
    struct symbolizer *s = with_module(path, BIAS);
    struct symbolizer_worker *w = start();
    const struct sym_frame_ext *fr;
    uint32_t gen = symbolizer_generation(s);
    assert_int_equal(symbolizer_worker_lookup(w, s, ip, gen, true, &fr), 1);
    assert_int_equal(fr[0].f.address, ip);
    assert_string_equal(fr[0].f.module, path);
    assert_int_equal(fr[0].f.module_offset, ip - BIAS);
    assert_null(fr[0].f.function);
    assert_null(fr[0].f.file);
    assert_int_equal(symbolizer_worker_pending(w), 1);
    wait_answers(w);
    unsigned n = symbolizer_worker_lookup(w, s, ip, gen, true, &fr);
    const struct sym_frame_ext *want;
    unsigned nwant = symbolizer_lookup(s, ip, gen, true, &want);
    assert_string_equal(want[0].f.function, "make_record");
    assert_same_frames(fr, n, want, nwant);
    assert_int_equal(symbolizer_worker_pending(w), 0);
    symbolizer_worker_stop(w);
    symbolizer_destroy(s);
}

static void test_inline_chain_arrives_whole(void **state)
{
    (void)state;
    const char *path = FX "fx_sym_inline";
    struct symbolizer *s = with_module(path, BIAS);
    struct symbolizer_worker *w = start();
    uint32_t gen = symbolizer_generation(s);
    /* Every address of build_node: some are in inlined code (several frames). */
    mt_addr lo = BIAS + function_start(path, "build_node");
    const struct sym_frame_ext *fr;
    for (mt_addr ip = lo; ip < lo + 64; ip++)
        symbolizer_worker_lookup(w, s, ip, gen, false, &fr);
    wait_answers(w);
    unsigned longest = 0;
    for (mt_addr ip = lo; ip < lo + 64; ip++) {
        unsigned n = symbolizer_worker_lookup(w, s, ip, gen, false, &fr);
        const struct sym_frame_ext *want;
        unsigned nwant = symbolizer_lookup(s, ip, gen, false, &want);
        assert_same_frames(fr, n, want, nwant);
        longest = n > longest ? n : longest;
    }
    assert_true(longest >= 2);
    symbolizer_worker_stop(w);
    symbolizer_destroy(s);
}

static void test_outside_every_module_is_not_asked(void **state)
{
    (void)state;
    struct symbolizer *s = with_module(FX "fx_sym_plain", BIAS);
    struct symbolizer_worker *w = start();
    const struct sym_frame_ext *fr;
    assert_int_equal(symbolizer_worker_lookup(w, s, 0x10, symbolizer_generation(s), true, &fr), 1);
    assert_int_equal(fr[0].f.address, 0x10);
    assert_null(fr[0].f.module);
    assert_null(fr[0].f.function);
    assert_int_equal(symbolizer_worker_pending(w), 0);
    symbolizer_worker_stop(w);
    symbolizer_destroy(s);
}

static void test_stop_does_not_wait_for_the_answers(void **state)
{
    (void)state;
    struct symbolizer *s = with_module(FX "fx_sym_plain", BIAS);
    struct symbolizer_worker *w = start();
    mt_addr lo = BIAS + function_start(FX "fx_sym_plain", "make_record");
    const struct sym_frame_ext *fr;
    for (mt_addr ip = lo; ip < lo + 32; ip++)
        symbolizer_worker_lookup(w, s, ip, symbolizer_generation(s), true, &fr);
    assert_true(symbolizer_worker_pending(w) > 0);
    symbolizer_worker_stop(w);
    symbolizer_worker_stop(NULL);
    symbolizer_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_first_then_the_names),
        cmocka_unit_test(test_inline_chain_arrives_whole),
        cmocka_unit_test(test_outside_every_module_is_not_asked),
        cmocka_unit_test(test_stop_does_not_wait_for_the_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
