/* report: leak records, the text report and the JSON report, on synthetic
 * models with a fake symbol resolver. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "json_check.h"
#include "report.h"

/* ---- fixture ---------------------------------------------------------- */

struct fixture {
    struct alloc_model model;
    struct stack_intern stacks;
    struct map_table maps;        /* zeroed: empty, until add_mappings */
    struct shm_table shms;
    struct report_process proc;
    struct sym_frame_ext frames[2];   /* the fake resolver's storage */
};

static char *const seed_argv[] = { "./seed", "a b", NULL };

/* Fake symbolizer: a few fixed addresses, each showing one kind of frame. */
#define IP_MAIN 0x401000ULL       /* function, file and line */
#define IP_HELPER 0x401100ULL     /* function, file and line */
#define IP_LIBC_FN 0x7f0000029d90ULL   /* function and module, no line info */
#define IP_LIBC_RAW 0x7f00000271caULL  /* module only */
#define IP_NOWHERE 0xdead0ULL     /* nothing known */
#define IP_INLINED 0x401200ULL    /* inside code inlined into main: two frames */
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

/* Like production's resolver (session/report_view.c): the frames of an
 * address, kept in the fixture (ctx), valid until the next call. One frame
 * per address, but two for IP_INLINED. */
static unsigned fake_resolve_frames(void *ctx, uint32_t stack, mt_addr ip,
                                    const struct sym_frame_ext **out)
{
    (void)stack;
    struct sym_frame_ext *fr = ctx;
    memset(fr, 0, 2 * sizeof(*fr));
    *out = fr;
    if (ip == IP_INLINED) {
        fr[0] = (struct sym_frame_ext){
            { ip, "ns::grow(int)", "/src/grow.h", 3, "/build/seed", 0x1200 },
            "_ZN2ns4growEi", "0123abcd", true };
        fr[1] = (struct sym_frame_ext){
            { ip, "main", "/src/fixtures/seed.c", 30, "/build/seed", 0x1200 },
            NULL, "0123abcd", false };
        return 2;
    }
    fr->f.address = ip;
    switch (ip) {
    case IP_MAIN:
        fr->f = (struct sym_frame){ ip, "main", "/src/fixtures/seed.c", 21, "/build/seed", 0x1000 };
        break;
    case IP_HELPER:
        fr->f = (struct sym_frame){ ip, "helper", "seed.c", 7, "/build/seed", 0x1100 };
        break;
    case IP_LIBC_FN:
        fr->f = (struct sym_frame){ ip, "__libc_start_call_main", NULL, 0, LIBC, 0x29d90 };
        break;
    case IP_LIBC_RAW:
        fr->f = (struct sym_frame){ ip, NULL, NULL, 0, LIBC, 0x271ca };
        break;
    default:
        break;
    }
    return 1;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx || alloc_model_init(&fx->model) != 0 || stack_intern_init(&fx->stacks) != 0)
        return -1;
    fx->proc = (struct report_process){
        .pid = 42, .argv = seed_argv, .end = REPORT_EXITED, .exit_code = 0,
        .model = &fx->model, .stacks = &fx->stacks, .error_kinds = REPORT_DEFAULT_KINDS,
        .resolve_frames = fake_resolve_frames, .resolve_ctx = fx->frames,
    };
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    alloc_model_destroy(&fx->model);
    stack_intern_destroy(&fx->stacks);
    map_table_destroy(&fx->maps);
    shm_table_destroy(&fx->shms);
    free(fx);
    return 0;
}

#define STACK(fx, ...) \
    stack_intern_add(&(fx)->stacks, (const mt_addr[]){ __VA_ARGS__ }, \
                     (unsigned)(sizeof((const mt_addr[]){ __VA_ARGS__ }) / sizeof(mt_addr)))

static void alloc(struct fixture *fx, enum alloc_fn fn, mt_addr p, uint64_t size, uint32_t stack)
{
    struct alloc_event ev = { .fn = fn, .ptr_out = p, .size = size, .stack_id = stack };
    assert_int_equal(alloc_model_apply(&fx->model, &ev), 0);
}

static void release(struct fixture *fx, mt_addr p, uint32_t stack)
{
    struct alloc_event ev = { .fn = FN_FREE, .ptr_in = p, .stack_id = stack };
    assert_int_equal(alloc_model_apply(&fx->model, &ev), 0);
}

/* Frees p a second time: the check the tracer makes, then the record. */
static void double_free(struct fixture *fx, mt_addr p, uint32_t stack)
{
    struct alloc_error err;
    assert_int_equal(alloc_model_check_free(&fx->model, FN_FREE, 0, p, stack, &err), FREE_DOUBLE);
    assert_int_equal(alloc_model_record_error(&fx->model, &err), 0);
}

static void invalid_free(struct fixture *fx, mt_addr p, uint32_t stack)
{
    struct alloc_error err;
    assert_int_equal(alloc_model_check_free(&fx->model, FN_FREE, 0, p, stack, &err), FREE_INVALID);
    assert_int_equal(alloc_model_record_error(&fx->model, &err), 0);
}

static void assert_record(const struct leak_record *r, enum alloc_fn fn, uint32_t stack,
                          uint64_t bytes, uint64_t blocks)
{
    assert_int_equal(r->kind, REPORT_KIND_UNFREED);
    assert_int_equal(r->fn, fn);
    assert_int_equal(r->stack, stack);
    assert_int_equal(r->bytes, bytes);
    assert_int_equal(r->blocks, blocks);
}

/* ---- report_collect_leaks and friends --------------------------------- */

static void test_collect_of_empty_model_gives_no_records(void **state)
{
    struct fixture *fx = *state;
    struct leak_record *recs;
    size_t n = 99;
    assert_int_equal(report_collect_leaks(&fx->model, NULL, &recs, &n), 0);
    assert_int_equal(n, 0);
    assert_null(recs);
}

static void test_collect_groups_by_allocator_and_stack(void **state)
{
    struct fixture *fx = *state;
    uint32_t s1 = STACK(fx, IP_MAIN), s2 = STACK(fx, IP_HELPER, IP_MAIN);
    alloc(fx, FN_MALLOC, 0x1000, 10, s1);
    alloc(fx, FN_MALLOC, 0x2000, 20, s1);
    alloc(fx, FN_MALLOC, 0x3000, 30, s1);
    alloc(fx, FN_CALLOC, 0x4000, 5, s1);     /* same stack, other allocator */
    alloc(fx, FN_MALLOC, 0x5000, 100, s2);
    alloc(fx, FN_MALLOC, 0x6000, 1000, s2);
    release(fx, 0x6000, s2);                  /* freed: not a leak */

    struct leak_record *recs;
    size_t n;
    assert_int_equal(report_collect_leaks(&fx->model, NULL, &recs, &n), 0);
    assert_int_equal(n, 3);
    assert_record(&recs[0], FN_MALLOC, s2, 100, 1);
    assert_record(&recs[1], FN_MALLOC, s1, 60, 3);
    assert_record(&recs[2], FN_CALLOC, s1, 5, 1);
    free(recs);
}

static void test_collect_breaks_byte_ties_by_blocks_then_stack(void **state)
{
    struct fixture *fx = *state;
    uint32_t s1 = STACK(fx, 0x10), s2 = STACK(fx, 0x20), s3 = STACK(fx, 0x30);
    assert_true(s1 < s2 && s2 < s3);
    /* All records hold 50 bytes. Inserted so that neither hash order nor
     * insertion order gives the expected one by chance. */
    alloc(fx, FN_MALLOC, 0x1000, 50, s2);
    alloc(fx, FN_MALLOC, 0x2000, 50, s1);
    alloc(fx, FN_MALLOC, 0x3000, 25, s3);
    alloc(fx, FN_MALLOC, 0x4000, 25, s3);

    struct leak_record *recs;
    size_t n;
    assert_int_equal(report_collect_leaks(&fx->model, NULL, &recs, &n), 0);
    assert_int_equal(n, 3);
    assert_record(&recs[0], FN_MALLOC, s3, 50, 2);
    assert_record(&recs[1], FN_MALLOC, s1, 50, 1);
    assert_record(&recs[2], FN_MALLOC, s2, 50, 1);
    free(recs);
}

static void test_collect_handles_many_records(void **state)
{
    struct fixture *fx = *state;
    /* 3000 stacks (the grouping index grows well past its first size);
     * stack k holds (k % 7) + 1 blocks of 8 bytes. */
    uint64_t total_blocks = 0;
    mt_addr p = 0x100000;
    for (mt_addr k = 0; k < 3000; k++) {
        uint32_t s = STACK(fx, 0x400000 + k);
        for (unsigned b = 0; b < k % 7 + 1; b++, p += 16, total_blocks++)
            alloc(fx, FN_MALLOC, p, 8, s);
    }
    struct leak_record *recs;
    size_t n;
    assert_int_equal(report_collect_leaks(&fx->model, NULL, &recs, &n), 0);
    assert_int_equal(n, 3000);
    uint64_t blocks = 0;
    for (size_t i = 0; i < n; i++) {
        blocks += recs[i].blocks;
        assert_int_equal(recs[i].bytes, recs[i].blocks * 8);
        if (i > 0) {
            assert_true(recs[i - 1].bytes >= recs[i].bytes);
            if (recs[i - 1].bytes == recs[i].bytes)
                assert_true(recs[i - 1].stack < recs[i].stack);
        }
    }
    assert_int_equal(blocks, total_blocks);
    assert_int_equal(recs[0].blocks, 7);
    assert_int_equal(recs[n - 1].blocks, 1);
    free(recs);
}

static void test_unfreed_totals(void **state)
{
    struct fixture *fx = *state;
    uint32_t s = STACK(fx, IP_MAIN);
    alloc(fx, FN_MALLOC, 0x1000, 10, s);
    alloc(fx, FN_CALLOC, 0x2000, 32, s);
    alloc(fx, FN_MALLOC, 0x3000, 7, s);
    release(fx, 0x3000, s);
    uint64_t bytes = 1, blocks = 1;
    report_unfreed_totals(&fx->model, &bytes, &blocks);
    assert_int_equal(bytes, 42);
    assert_int_equal(blocks, 2);
}

static void test_found_problems(void **state)
{
    struct fixture *fx = *state;
    struct alloc_model clean;
    assert_int_equal(alloc_model_init(&clean), 0);
    struct report_process procs[2] = { fx->proc, fx->proc };
    procs[0].model = &clean;
    procs[1].model = &clean;
    assert_false(report_found_problems(procs, 2));

    /* A leak in the second process. */
    alloc(fx, FN_MALLOC, 0x1000, 1, STACK_NONE);
    procs[1].model = &fx->model;
    assert_true(report_found_problems(procs, 2));
    assert_false(report_found_problems(procs, 1));

    /* An error alone, nothing leaked. */
    release(fx, 0x1000, STACK_NONE);
    assert_false(report_found_problems(procs, 2));
    invalid_free(fx, 0x5000, STACK_NONE);
    assert_true(report_found_problems(procs, 2));
    /* Bad frees count whatever --errors-for-leak-kinds says. */
    procs[1].error_kinds = 0;
    assert_true(report_found_problems(procs, 2));
    alloc_model_destroy(&clean);
}

/* --errors-for-leak-kinds: a record is an error when its kind is named;
 * an unclassified one (no scan) unless no kind is. */
static void test_leak_is_error(void **state)
{
    struct fixture *fx = *state;
    struct leak_record r = { .kind = LEAK_REACHABLE };
    assert_false(report_leak_is_error(&fx->proc, &r));
    r.kind = LEAK_POSSIBLE;
    assert_true(report_leak_is_error(&fx->proc, &r));
    fx->proc.error_kinds = 1u << LEAK_REACHABLE;
    assert_false(report_leak_is_error(&fx->proc, &r));
    r.kind = LEAK_REACHABLE;
    assert_true(report_leak_is_error(&fx->proc, &r));
    r.kind = REPORT_KIND_UNFREED;
    assert_true(report_leak_is_error(&fx->proc, &r));
    fx->proc.error_kinds = 0;
    assert_false(report_leak_is_error(&fx->proc, &r));

    /* No scan: every live block is unfreed; none is an error with none. */
    alloc(fx, FN_MALLOC, 0x1000, 1, STACK_NONE);
    assert_false(report_found_problems(&fx->proc, 1));
    fx->proc.error_kinds = 1u << LEAK_INDIRECT;
    assert_true(report_found_problems(&fx->proc, 1));
}

static void test_signal_names(void **state)
{
    (void)state;
    char buf[32];
    report_signal_name(11, buf, sizeof(buf));
    assert_string_equal(buf, "SIGSEGV");
    report_signal_name(SIGKILL, buf, sizeof(buf));
    assert_string_equal(buf, "SIGKILL");
    report_signal_name(SIGABRT, buf, sizeof(buf));
    assert_string_equal(buf, "SIGABRT");
    report_signal_name(0, buf, sizeof(buf));
    assert_string_equal(buf, "signal 0");
    report_signal_name(1000, buf, sizeof(buf));
    assert_string_equal(buf, "signal 1000");
}

/* ---- text report ------------------------------------------------------ */

typedef void (*text_writer_fn)(FILE *f, struct fixture *fx);

static char *capture_text(struct fixture *fx, text_writer_fn write)
{
    struct capture c;
    capture_open(&c);
    write(c.f, fx);
    return capture_close(&c);
}

static void write_process(FILE *f, struct fixture *fx)
{
    assert_int_equal(report_text_process(f, &fx->proc), 0);
}

static void write_banner(FILE *f, struct fixture *fx)
{
    report_text_banner(f, &fx->proc);
}

static void write_errors(FILE *f, struct fixture *fx)
{
    for (size_t i = 0; i < fx->model.nerrors; i++)
        report_text_error(f, &fx->proc, &fx->model.errors[i]);
}

static void assert_text(struct fixture *fx, text_writer_fn write, const char *want)
{
    char *got = capture_text(fx, write);
    assert_string_equal(got, want);
    free(got);
}

static void test_text_banner(void **state)
{
    struct fixture *fx = *state;
    assert_text(fx, write_banner,
                "==42== memtrace " MEMTRACE_VERSION ", an external memory-leak tracer\n"
                "==42== Command: ./seed a b\n"
                "==42==\n");
}

/* Bytes from the program (its argv, paths, names) cannot drive the
 * terminal: control characters and bytes that are not UTF-8 are written
 * \xNN, UTF-8 C1 controls \u00NN; printable text and UTF-8 stay. */
static void test_text_banner_escapes_control_characters(void **state)
{
    struct fixture *fx = *state;
    char *const argv[] = { "./prog", "\x1b[2J", "a\tb\n\x7f", "caf\xc3\xa9", "\xff\xfe",
                           /* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): ends \x9b */
                           "\xc2\x9b" "31m", "C:\\dir", NULL };
    fx->proc.argv = argv;
    assert_text(fx, write_banner,
                "==42== memtrace " MEMTRACE_VERSION ", an external memory-leak tracer\n"
                "==42== Command: ./prog \\x1b[2J a\\x09b\\x0a\\x7f caf\xc3\xa9 \\xff\\xfe "
                "\\u009b31m C:\\dir\n"
                "==42==\n");
}

static void test_text_frame_escapes_control_characters(void **state)
{
    (void)state;
    char buf[256];
    struct sym_frame fn = { 0x1000, "evil\x1b]0;pwn\x07", "/src/\x1b[2J.c", 3, "/b/x", 0x10 };
    report_format_frame(&fn, buf, sizeof(buf));
    assert_string_equal(buf, "evil\\x1b]0;pwn\\x07 (\\x1b[2J.c:3)");
    struct sym_frame in = { 0x1000, "f\x1b", NULL, 0, "/lib/\x1b[2J.so", 0x10 };
    report_format_frame(&in, buf, sizeof(buf));
    assert_string_equal(buf, "f\\x1b (in /lib/\\x1b[2J.so)");
    struct sym_frame mod = { 0x1000, NULL, NULL, 0, "/lib/\x1b[2J\xff.so", 0x10 };
    report_format_frame(&mod, buf, sizeof(buf));
    assert_string_equal(buf, "\\x1b[2J\\xff.so+0x10");
    /* A short buffer cuts before an escape, never inside one. */
    report_format_frame(&mod, buf, 5);
    assert_string_equal(buf, "\\x1b");
}

static void test_text_process_with_one_leak(void **state)
{
    struct fixture *fx = *state;
    uint32_t s = STACK(fx, IP_HELPER, IP_LIBC_FN, IP_LIBC_RAW, IP_NOWHERE, IP_MAIN);
    alloc(fx, FN_MALLOC, 0x1000, 30, s);
    alloc(fx, FN_MALLOC, 0x2000, 100, s);
    release(fx, 0x2000, s);

    /* One frame of each kind: file and line; function in a module without
     * line info; module only; nothing known. */
    assert_text(fx, write_process,
                "==42== HEAP SUMMARY:\n"
                "==42==     in use at exit: 30 bytes in 1 blocks\n"
                "==42==   total heap usage: 2 allocs, 1 frees, 130 bytes allocated\n"
                "==42==\n"
                "==42== 30 bytes in 1 blocks are unfreed in loss record 1 of 1, allocated by malloc()\n"
                "==42==    at 0x401100: helper (seed.c:7)\n"
                "==42==    by 0x7f0000029d90: __libc_start_call_main (in " LIBC ")\n"
                "==42==    by 0x7f00000271ca: libc.so.6+0x271ca\n"
                "==42==    by 0xdead0: ???\n"
                "==42==    by 0x401000: main (seed.c:21)\n"
                "==42==\n"
                "==42== LEAK SUMMARY:\n"
                "==42==    unfreed: 30 bytes in 1 blocks\n"
                "==42==    (not classified: the address space was gone before it could be scanned)\n"
                "==42==\n"
                "==42== ERROR SUMMARY: 1 errors (0 double free, 0 invalid free, 1 loss records)\n"
                "==42== Process exited with status 0\n");
}

/* --alloc-fn: the leading frames whose function matches are cut (the
 * last frame always stays), then records equal in kind, allocator and
 * what is left of their stack are one. */
static void test_alloc_fn_cut_and_merge(void **state)
{
    struct fixture *fx = *state;
    uint32_t through = STACK(fx, IP_HELPER, IP_MAIN), direct = STACK(fx, IP_MAIN);
    uint32_t inl = STACK(fx, IP_INLINED, IP_LIBC_FN);
    alloc(fx, FN_MALLOC, 0x1000, 10, through);
    alloc(fx, FN_MALLOC, 0x2000, 20, through);
    alloc(fx, FN_MALLOC, 0x3000, 5, direct);
    alloc(fx, FN_CALLOC, 0x4000, 7, through);   /* other allocator: its own record */
    alloc(fx, FN_MALLOC, 0x5000, 1, inl);
    const char *patterns[] = { "help*", "_ZN2ns*" };
    fx->proc.alloc_fns = patterns;
    fx->proc.nalloc_fns = 2;

    unsigned ip = 9, frame = 9;
    report_cut_stack(&fx->proc, through, &ip, &frame);
    assert_int_equal(ip, 1);
    assert_int_equal(frame, 0);
    /* Inlined: the mangled name matches, the caller at that address stays. */
    report_cut_stack(&fx->proc, inl, &ip, &frame);
    assert_int_equal(ip, 0);
    assert_int_equal(frame, 1);
    report_cut_stack(&fx->proc, STACK_NONE, &ip, &frame);
    assert_int_equal(ip, 0);

    struct leak_record *recs;
    size_t n;
    assert_int_equal(report_collect_records(&fx->proc, &recs, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(recs[0].bytes, 35);
    assert_int_equal(recs[0].blocks, 3);
    assert_int_equal(recs[0].fn, FN_MALLOC);
    assert_int_equal(recs[0].stack, through < direct ? through : direct);
    assert_int_equal(recs[1].bytes, 7);
    assert_int_equal(recs[1].fn, FN_CALLOC);
    assert_int_equal(recs[1].cut_ip, 1);
    assert_int_equal(recs[2].bytes, 1);
    free(recs);

    char *got = capture_text(fx, write_process);
    assert_non_null(strstr(got, "35 bytes in 3 blocks are unfreed in loss record 1 of 3, "
                                "allocated by malloc()\n"
                                "==42==    at 0x401000: main (seed.c:21)\n"
                                "==42==\n"));
    assert_non_null(strstr(got, "allocated by malloc()\n"
                                "==42==    at 0x401200: main (seed.c:30)\n"
                                "==42==\n"));
    assert_null(strstr(got, "helper"));
    assert_null(strstr(got, "ns::grow"));
    free(got);

    /* Every frame a wrapper: the last stays. */
    const char *all[] = { "*" };
    fx->proc.alloc_fns = all;
    fx->proc.nalloc_fns = 1;
    report_cut_stack(&fx->proc, through, &ip, &frame);
    assert_int_equal(ip, 1);
    assert_int_equal(frame, 0);
    report_cut_stack(&fx->proc, inl, &ip, &frame);
    assert_int_equal(ip, 1);
    assert_int_equal(frame, 0);
}

static void test_text_stack_stops_at_main(void **state)
{
    struct fixture *fx = *state;
    uint32_t s = STACK(fx, IP_MAIN, IP_LIBC_FN, IP_LIBC_RAW);
    alloc(fx, FN_MALLOC, 0x1000, 30, s);

    char *got = capture_text(fx, write_process);
    assert_non_null(strstr(got, "allocated by malloc()\n"
                                "==42==    at 0x401000: main (seed.c:21)\n"
                                "==42==\n"
                                "==42== LEAK SUMMARY:\n"));
    free(got);
}

/* Inlined code: every frame of the chain at the same address, the
 * innermost first, and the stack stops at main even when main is the last
 * frame of a chain. */
static void test_text_inlined_frames(void **state)
{
    struct fixture *fx = *state;
    uint32_t s = STACK(fx, IP_HELPER, IP_INLINED, IP_LIBC_FN);
    alloc(fx, FN_MALLOC, 0x1000, 30, s);

    char *got = capture_text(fx, write_process);
    assert_non_null(strstr(got, "allocated by malloc()\n"
                                "==42==    at 0x401100: helper (seed.c:7)\n"
                                "==42==    by 0x401200: ns::grow(int) (grow.h:3)\n"
                                "==42==    by 0x401200: main (seed.c:30)\n"
                                "==42==\n"
                                "==42== LEAK SUMMARY:\n"));
    free(got);
}

static void test_text_process_numbers_records_and_names_allocators(void **state)
{
    struct fixture *fx = *state;
    uint32_t s1 = STACK(fx, IP_MAIN), s2 = STACK(fx, IP_HELPER, IP_MAIN);
    alloc(fx, FN_CALLOC, 0x1000, 64, s2);
    alloc(fx, FN_MALLOC, 0x2000, 8, s1);
    alloc(fx, FN_MALLOC, 0x3000, 8, s1);
    fx->proc.exit_code = 3;

    assert_text(fx, write_process,
                "==42== HEAP SUMMARY:\n"
                "==42==     in use at exit: 80 bytes in 3 blocks\n"
                "==42==   total heap usage: 3 allocs, 0 frees, 80 bytes allocated\n"
                "==42==\n"
                "==42== 64 bytes in 1 blocks are unfreed in loss record 1 of 2, allocated by calloc()\n"
                "==42==    at 0x401100: helper (seed.c:7)\n"
                "==42==    by 0x401000: main (seed.c:21)\n"
                "==42==\n"
                "==42== 16 bytes in 2 blocks are unfreed in loss record 2 of 2, allocated by malloc()\n"
                "==42==    at 0x401000: main (seed.c:21)\n"
                "==42==\n"
                "==42== LEAK SUMMARY:\n"
                "==42==    unfreed: 80 bytes in 3 blocks\n"
                "==42==    (not classified: the address space was gone before it could be scanned)\n"
                "==42==\n"
                "==42== ERROR SUMMARY: 2 errors (0 double free, 0 invalid free, 2 loss records)\n"
                "==42== Process exited with status 3\n");
}

static void test_text_process_killed_by_signal(void **state)
{
    struct fixture *fx = *state;
    uint32_t s = STACK(fx, IP_MAIN);
    alloc(fx, FN_MALLOC, 0x1000, 8, s);
    release(fx, 0x1000, s);
    double_free(fx, 0x1000, s);
    invalid_free(fx, 0x9000, s);
    fx->proc.end = REPORT_SIGNALED;
    fx->proc.signal = SIGSEGV;
    fx->proc.core_dumped = true;

    assert_text(fx, write_process,
                "==42== HEAP SUMMARY:\n"
                "==42==     in use at exit: 0 bytes in 0 blocks\n"
                "==42==   total heap usage: 1 allocs, 1 frees, 8 bytes allocated\n"
                "==42==\n"
                "==42== LEAK SUMMARY:\n"
                "==42==    unfreed: 0 bytes in 0 blocks\n"
                "==42==    (not classified: the address space was gone before it could be scanned)\n"
                "==42==\n"
                "==42== ERROR SUMMARY: 2 errors (1 double free, 1 invalid free, 0 loss records)\n"
                "==42== Process terminated by SIGSEGV (core dumped)\n");
}

static void test_text_process_other_end(void **state)
{
    struct fixture *fx = *state;
    fx->proc.end = REPORT_EXEC;
    char *got = capture_text(fx, write_process);
    const char *last = "==42== Process state at exec\n";
    size_t len = strlen(got), want = strlen(last);
    assert_true(len >= want);
    assert_string_equal(got + len - want, last);
    free(got);
}

static void test_text_double_free(void **state)
{
    struct fixture *fx = *state;
    uint32_t s_alloc = STACK(fx, IP_HELPER, IP_MAIN);
    uint32_t s_free = STACK(fx, IP_MAIN);
    uint32_t s_bad = STACK(fx, IP_LIBC_RAW);
    alloc(fx, FN_MALLOC, 0x4a0, 24, s_alloc);
    release(fx, 0x4a0, s_free);
    double_free(fx, 0x4a0, s_bad);

    assert_text(fx, write_errors,
                "==42== Double free: free(0x4a0) of a block of 24 bytes that was already freed\n"
                "==42==    at 0x7f00000271ca: libc.so.6+0x271ca\n"
                "==42==  Address 0x4a0 is 0 bytes inside a block of size 24 free'd\n"
                "==42==    at 0x401000: main (seed.c:21)\n"
                "==42==  Block was alloc'd at\n"
                "==42==    at 0x401100: helper (seed.c:7)\n"
                "==42==    by 0x401000: main (seed.c:21)\n"
                "==42==  memtrace skipped this free() so the program can go on.\n"
                "==42==\n");
}

static void test_text_invalid_free_without_stack(void **state)
{
    struct fixture *fx = *state;
    invalid_free(fx, 0x1234, STACK_NONE);

    assert_text(fx, write_errors,
                "==42== Invalid free: free(0x1234)\n"
                "==42==    (no stack recorded: --sample or --min-size)\n"
                "==42==  Address 0x1234 is not stack'd, malloc'd or (recently) free'd\n"
                "==42==  memtrace skipped this free() so the program can go on.\n"
                "==42==\n");
}

static const struct report_stats sample_stats = {
    .present = true, .traps = 1, .entry_traps = 2, .return_traps = 3, .rendezvous_traps = 4,
    .nested_calls = 5, .single_steps = 6, .unwinds = 7, .ptrace_calls = 8,
    .symbolized_addresses = 9, .unwind_frames = 10, .unwind_us = 11,
};

/* The documented counters, in their documented order; fields added later may
 * sit between them. */
static void assert_in_order(const char *text, const char *const *parts, size_t n)
{
    const char *at = text;
    for (size_t i = 0; i < n; i++) {
        const char *hit = strstr(at, parts[i]);
        if (!hit)
            fail_msg("\"%s\" not found (in order) in %s", parts[i], text);
        at = hit + strlen(parts[i]);
    }
}

static void test_text_stats(void **state)
{
    (void)state;
    struct capture c;
    capture_open(&c);
    report_text_stats(c.f, &sample_stats);
    char *got = capture_close(&c);
    const char *parts[] = { "memtrace: stats: traps=1 ", "entry_traps=2 ", "return_traps=3 ",
                            "rendezvous_traps=4 ", "nested_calls=5 ", "single_steps=6 ",
                            "unwinds=7 ", "unwind_frames=10 ", "unwind_us=11 ", "ptrace_calls=8 ", "symbolized_addresses=9 ", "scan_ms=0 ", "scanned_bytes=0 ", "census_blocks=0 ", "census_us=0 ", "leak_checks=0 ", "leak_check_max_us=0\n" };
    assert_in_order(got, parts, sizeof(parts) / sizeof(parts[0]));
    /* Exactly one line, starting with the prefix. */
    assert_int_equal(strncmp(got, parts[0], strlen(parts[0])), 0);
    assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
    free(got);
}

/* ---- JSON report ------------------------------------------------------ */

static char *capture_json(const struct report_process *procs, size_t n,
                          const struct report_stats *stats)
{
    struct capture c;
    capture_open(&c);
    assert_int_equal(report_json_write(c.f, procs, n, stats), 0);
    char *text = capture_close(&c);
    if (!json_is_valid(text))
        fail_msg("not valid JSON: %s", text);
    return text;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" not found in %s", part, text);
}

/* Fields the fake resolver (one frame per address) does not know. */
#define FRAME_EXTRA "\"build_id\":null,\"mangled\":null,\"inlined\":false"
#define FRAME_MAIN "{\"address\":\"0x401000\",\"function\":\"main\",\"file\":\"/src/fixtures/seed.c\"," \
                   "\"line\":21,\"module\":\"/build/seed\",\"offset\":\"0x1000\"," FRAME_EXTRA "}"
#define FRAME_HELPER "{\"address\":\"0x401100\",\"function\":\"helper\",\"file\":\"seed.c\"," \
                     "\"line\":7,\"module\":\"/build/seed\",\"offset\":\"0x1100\"," FRAME_EXTRA "}"
#define FRAME_RAW "{\"address\":\"0x7f00000271ca\",\"function\":null,\"file\":null," \
                  "\"line\":null,\"module\":\"" LIBC "\",\"offset\":\"0x271ca\"," FRAME_EXTRA "}"
#define FRAME_NOWHERE "{\"address\":\"0xdead0\",\"function\":null,\"file\":null," \
                      "\"line\":null,\"module\":null,\"offset\":null," FRAME_EXTRA "}"
#define ZERO "{\"bytes\":0,\"blocks\":0}"

static void test_json_document_for_small_model(void **state)
{
    struct fixture *fx = *state;
    uint32_t s_leak = STACK(fx, IP_MAIN, IP_NOWHERE);
    uint32_t s_alloc = STACK(fx, IP_HELPER);
    uint32_t s_free = STACK(fx, IP_MAIN);
    uint32_t s_bad = STACK(fx, IP_LIBC_RAW);
    alloc(fx, FN_MALLOC, 0x1000, 30, s_leak);
    alloc(fx, FN_MALLOC, 0x2000, 16, s_alloc);
    release(fx, 0x2000, s_free);
    double_free(fx, 0x2000, s_bad);
    struct hook_list hooks = { 0 };
    assert_int_equal(hook_list_add(&hooks, 0x7f0000001000, FN_MALLOC, "malloc", LIBC), 0);
    assert_int_equal(hook_list_add(&hooks, 0x7f0000002000, FN_DELETE, "_ZdlPvm", "/lib/c++.so"), 0);
    assert_int_equal(hook_list_add(&hooks, 0x7f0000001000, FN_MALLOC, "malloc", LIBC), 0);
    hook_list_set_stub(&hooks, 0x7f0000002000, true);
    fx->proc.hooks = &hooks;

    char *got = capture_json(&fx->proc, 1, NULL);
    fx->proc.hooks = NULL;
    hook_list_destroy(&hooks);
    assert_string_equal(got,
        "{\"version\":1,\"tool\":\"memtrace " MEMTRACE_VERSION "\",\"mode\":\"run\","
        "\"processes\":[{\"pid\":42,\"fast_functions\":0,"
        "\"hooks\":[{\"function\":\"malloc\",\"symbol\":\"malloc\",\"module\":\"" LIBC "\","
        "\"how\":\"breakpoint\"},{\"function\":\"delete\",\"symbol\":\"_ZdlPvm\","
        "\"module\":\"/lib/c++.so\",\"how\":\"stub\"}],"
        "\"command\":[\"./seed\",\"a b\"],\"end\":\"exited\","
        "\"exit_code\":0,\"signal\":null,\"tracing_error\":null,"
        "\"summary\":{\"allocations\":2,\"frees\":1,\"bytes_allocated\":46,"
        "\"unfreed\":{\"bytes\":30,\"blocks\":1},\"definitely_lost\":" ZERO ","
        "\"indirectly_lost\":" ZERO ",\"possibly_lost\":" ZERO ",\"still_reachable\":" ZERO ",\"classified\":false,"
        "\"errors\":1,\"untracked_frees\":0},"
        "\"leaks\":[{\"kind\":\"unfreed\",\"bytes\":30,\"blocks\":1,\"allocator\":\"malloc\",\"error\":true,"
        "\"oldest_age_s\":null,\"newest_age_s\":null,"
        "\"stack\":[" FRAME_MAIN "," FRAME_NOWHERE "]}],"
        "\"errors\":[{\"kind\":\"double_free\",\"function\":\"free\",\"skipped\":true,\"address\":\"0x2000\","
        "\"size\":16,\"stack\":[" FRAME_RAW "],\"alloc_stack\":[" FRAME_HELPER "],"
        "\"free_stack\":[" FRAME_MAIN "],"
        "\"address_description\":{\"kind\":\"freed_block\",\"offset\":0,\"block_size\":16,"
        "\"alloc_stack\":[" FRAME_HELPER "],\"free_stack\":[" FRAME_MAIN "]}}],"
        "\"mappings\":[],\"allocator_arenas\":{\"mappings\":0,\"bytes\":0}}]}\n");
    free(got);
}

/* Inlined code: one JSON frame per frame of the chain, all at the call's
 * address, with the inlined flag, the linkage name and the build-id. */
static void test_json_inlined_frames(void **state)
{
    struct fixture *fx = *state;
    alloc(fx, FN_MALLOC, 0x1000, 30, STACK(fx, IP_INLINED));
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got,
        "\"stack\":[{\"address\":\"0x401200\",\"function\":\"ns::grow(int)\","
        "\"file\":\"/src/grow.h\",\"line\":3,\"module\":\"/build/seed\",\"offset\":\"0x1200\","
        "\"build_id\":\"0123abcd\",\"mangled\":\"_ZN2ns4growEi\",\"inlined\":true},"
        "{\"address\":\"0x401200\",\"function\":\"main\",\"file\":\"/src/fixtures/seed.c\","
        "\"line\":30,\"module\":\"/build/seed\",\"offset\":\"0x1200\","
        "\"build_id\":\"0123abcd\",\"mangled\":null,\"inlined\":false}]}]");
    free(got);
}

static void test_json_invalid_free_has_null_size_and_stacks(void **state)
{
    struct fixture *fx = *state;
    invalid_free(fx, 0x1234, STACK(fx, IP_MAIN));
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got, "\"errors\":[{\"kind\":\"invalid_free\",\"function\":\"free\","
                         "\"skipped\":true,\"address\":\"0x1234\",\"size\":null,\"stack\":[" FRAME_MAIN "],"
                         "\"alloc_stack\":null,\"free_stack\":null,"
                         "\"address_description\":{\"kind\":\"unknown\"}}]");
    free(got);
}

static void test_json_signaled_process(void **state)
{
    struct fixture *fx = *state;
    fx->proc.end = REPORT_SIGNALED;
    fx->proc.signal = SIGABRT;
    fx->proc.exit_code = 77;   /* ignored unless exited */
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got, "\"end\":\"signaled\",\"exit_code\":null,\"signal\":\"SIGABRT\",");
    assert_contains(got, "\"leaks\":[],\"errors\":[],\"mappings\":[]");
    free(got);
}

static void test_json_escapes_command_line(void **state)
{
    struct fixture *fx = *state;
    char *const argv[] = { "./prog", "say \"hi\"\n", "C:\\dir", NULL };
    fx->proc.argv = argv;
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got, "\"command\":[\"./prog\",\"say \\\"hi\\\"\\n\",\"C:\\\\dir\"]");
    free(got);
}

static void test_json_several_processes(void **state)
{
    struct fixture *fx = *state;
    struct report_process procs[2] = { fx->proc, fx->proc };
    procs[1].pid = 43;
    char *got = capture_json(procs, 2, NULL);
    assert_contains(got, "\"allocator_arenas\":{\"mappings\":0,\"bytes\":0}},{\"pid\":43,");
    free(got);
}

static void test_json_no_processes(void **state)
{
    (void)state;
    char *got = capture_json(NULL, 0, NULL);
    assert_string_equal(got, "{\"version\":1,\"tool\":\"memtrace " MEMTRACE_VERSION "\","
                             "\"mode\":\"run\",\"processes\":[]}\n");
    free(got);
}

static void test_json_stats_only_when_present(void **state)
{
    struct fixture *fx = *state;
    struct report_stats absent = sample_stats;
    absent.present = false;
    char *got = capture_json(&fx->proc, 1, &absent);
    assert_null(strstr(got, "\"stats\""));
    free(got);

    got = capture_json(&fx->proc, 1, &sample_stats);
    const char *parts[] = { "\"allocator_arenas\":{\"mappings\":0,\"bytes\":0}}],\"stats\":{\"traps\":1,", "\"entry_traps\":2,",
                            "\"return_traps\":3,", "\"rendezvous_traps\":4,",
                            "\"nested_calls\":5,", "\"single_steps\":6,", "\"unwinds\":7,",
                            "\"unwind_frames\":10,", "\"unwind_us\":11,", "\"ptrace_calls\":8,", "\"symbolized_addresses\":9,", "\"scan_ms\":0,", "\"scanned_bytes\":0,", "\"census_blocks\":0,", "\"census_us\":0,", "\"leak_checks\":0,", "\"leak_check_max_us\":0}}\n" };
    assert_in_order(got, parts, sizeof(parts) / sizeof(parts[0]));
    free(got);
}

/* ---- mappings --------------------------------------------------------- */

/* A shared anonymous region, a private one split by a munmap, a file
 * mapping, a segment created and never removed, one attached but removed,
 * one removed and detached (not reported). */
static void add_mappings(struct fixture *fx)
{
    struct map_table *mt = &fx->maps;
    struct shm_table *st = &fx->shms;
    uint32_t s_map = STACK(fx, IP_HELPER, IP_MAIN), s_shm = STACK(fx, IP_MAIN);
    struct map_region shared = { .lo = 0x7000, .hi = 0x8000, .stack = s_map, .prot = PROT_READ |
                                 PROT_WRITE, .flags = MAP_SHARED | MAP_ANONYMOUS, .shmid = -1 };
    assert_int_equal(map_table_add(mt, &shared, NULL), 0);
    struct map_region priv = shared;
    priv.lo = 0x10000;
    priv.hi = 0x13000;
    priv.flags = MAP_PRIVATE | MAP_ANONYMOUS;
    assert_int_equal(map_table_add(mt, &priv, NULL), 0);
    assert_int_equal(map_table_remove(mt, 0x11000, 0x12000), 0x1000);
    struct map_region file = shared;
    file.lo = 0x20000;
    file.hi = 0x21000;
    file.prot = PROT_READ;
    file.flags = MAP_SHARED;
    assert_int_equal(map_table_add(mt, &file, "/tmp/data"), 0);
    struct shm_segment *kept = shm_table_add(st, 5);
    *kept = (struct shm_segment){ .shmid = 5, .key = 0x1234, .size = 100, .stack = s_shm,
                                  .created = true, .checked = true, .exists = true };
    struct shm_segment *rm = shm_table_add(st, 6);
    *rm = (struct shm_segment){ .shmid = 6, .size = 8192, .stack = s_shm, .created = true,
                                .removed = true };
    struct map_region att = { .lo = 0x30000, .hi = 0x32000, .stack = s_shm, .prot = PROT_READ |
                              PROT_WRITE, .flags = MAP_SHARED, .shmid = 6 };
    assert_int_equal(map_table_add(mt, &att, NULL), 0);
    struct shm_segment *gone = shm_table_add(st, 7);
    *gone = (struct shm_segment){ .shmid = 7, .size = 10, .created = true, .checked = true };
    fx->proc.maps = mt;
    fx->proc.shms = st;
}

static void test_collect_mappings(void **state)
{
    struct fixture *fx = *state;
    add_mappings(fx);
    struct mapping_report mr;
    assert_int_equal(report_collect_mappings(&fx->proc, &mr), 0);
    assert_int_equal(mr.n, 6);
    assert_int_equal(mr.nmmaps, 4);
    const mt_addr addrs[] = { 0x7000, 0x10000, 0x12000, 0x20000 };
    for (size_t i = 0; i < 4; i++) {
        assert_false(mr.recs[i].sysv);
        assert_int_equal(mr.recs[i].addr, addrs[i]);
        assert_int_equal(mr.recs[i].bytes, 0x1000);
    }
    assert_true(mr.recs[0].shared);
    assert_false(mr.recs[1].shared);
    assert_string_equal(mr.recs[3].backing, "file");
    assert_string_equal(mr.recs[3].path, "/tmp/data");
    assert_int_equal(mr.recs[4].seg->shmid, 5);
    assert_int_equal(mr.recs[4].nattached, 0);
    assert_int_equal(mr.recs[4].addr, 0);
    assert_int_equal(mr.recs[5].seg->shmid, 6);
    assert_int_equal(mr.recs[5].nattached, 1);
    assert_int_equal(mr.recs[5].attached[0], 0x30000);
    report_mappings_free(&mr);
}

static void test_text_mappings_section(void **state)
{
    struct fixture *fx = *state;
    add_mappings(fx);
    char *got = capture_text(fx, write_process);
    const char *want =
        "==42== MAPPINGS: 4 mappings never unmapped (8192 bytes shared, 8192 bytes private), "
        "1 SysV segment left in the kernel (100 bytes)\n"
        "==42==  The kernel unmaps every mapping when the process ends: private ones are memory "
        "it never released, a leak while it runs; shared ones hold state shared with other "
        "processes. A SysV segment is not freed with the process.\n"
        "==42==\n"
        "==42== 4096 bytes at 0x7000: shared anonymous mapping (rw-), never unmapped: holds state "
        "shared with other processes\n"
        "==42==    at 0x401100: helper (seed.c:7)\n"
        "==42==    by 0x401000: main (seed.c:21)\n"
        "==42==\n"
        "==42== 4096 bytes at 0x10000: private anonymous mapping (rw-), never unmapped: memory "
        "never released (a leak in a long-running process)\n";
    assert_contains(got, want);
    assert_contains(got, "==42== 4096 bytes at 0x20000: shared file mapping of /tmp/data (r--), "
                         "never unmapped: holds state shared with other processes\n");
    assert_contains(got,
        "==42== 100 bytes in SysV shared memory segment 5 (key 0x00001234), created by this process, not "
        "attached at exit\n"
        "==42==    at 0x401000: main (seed.c:21)\n"
        "==42==  Never removed (shmctl IPC_RMID): it persists after the process ends; remove it "
        "with: ipcrm -m 5\n"
        "==42==\n"
        "==42== 8192 bytes in SysV shared memory segment 6 (key 0x00000000), created by this process, still "
        "attached at 0x30000\n"
        "==42==    at 0x401000: main (seed.c:21)\n"
        "==42==  Marked for removal: the kernel frees it when nothing has it attached.\n"
        "==42==\n==42== ERROR SUMMARY");
    assert_null(strstr(got, "segment 7"));
    free(got);
}

static void test_text_mapping_path_escaped(void **state)
{
    struct fixture *fx = *state;
    uint32_t st = STACK(fx, IP_MAIN);
    struct map_region file = { .lo = 0x20000, .hi = 0x21000, .stack = st, .prot = PROT_READ,
                               .flags = MAP_SHARED, .shmid = -1 };
    assert_int_equal(map_table_add(&fx->maps, &file, "/tmp/\x1b]0;pwn\x07x"), 0);
    fx->proc.maps = &fx->maps;
    fx->proc.shms = &fx->shms;
    char *got = capture_text(fx, write_process);
    assert_contains(got, "shared file mapping of /tmp/\\x1b]0;pwn\\x07x (r--), never unmapped");
    assert_null(strchr(got, '\x1b'));
    free(got);
}

static void test_json_command_line_invalid_utf8(void **state)
{
    struct fixture *fx = *state;
    char *const argv[] = { "./prog\xfe", "\xff\xfe", "a\x01" "b", NULL };
    fx->proc.argv = argv;
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got, "\"command\":[\"./prog\\ufffd\",\"\\ufffd\\ufffd\",\"a\\u0001b\"]");
    assert_true(json_is_valid(got));
    free(got);
}

static void test_json_mappings(void **state)
{
    struct fixture *fx = *state;
    add_mappings(fx);
    /* An allocator library's own mappings: counted, not listed; two
     * touching regions are one mapping. */
    struct map_region arena = { .lo = 0x100000, .hi = 0x180000, .prot = PROT_READ | PROT_WRITE,
                                .flags = MAP_PRIVATE | MAP_ANONYMOUS, .shmid = -1, .arena = true };
    assert_int_equal(map_table_add(&fx->maps, &arena, NULL), 0);
    arena.lo = 0x180000, arena.hi = 0x181000, arena.prot = PROT_NONE;
    assert_int_equal(map_table_add(&fx->maps, &arena, NULL), 0);
    arena.lo = 0x200000, arena.hi = 0x201000;
    assert_int_equal(map_table_add(&fx->maps, &arena, NULL), 0);
    char *got = capture_json(&fx->proc, 1, NULL);
    assert_contains(got,
        "\"mappings\":[{\"kind\":\"mmap\",\"address\":\"0x7000\",\"bytes\":4096,\"prot\":\"rw-\","
        "\"flags\":[\"shared\",\"anonymous\"],\"backing\":\"anonymous\",\"path\":null,"
        "\"shared_state\":true,\"stack\":[" FRAME_HELPER "," FRAME_MAIN "]},");
    assert_contains(got,
        "{\"kind\":\"mmap\",\"address\":\"0x20000\",\"bytes\":4096,\"prot\":\"r--\","
        "\"flags\":[\"shared\"],\"backing\":\"file\",\"path\":\"/tmp/data\",");
    assert_contains(got,
        "{\"kind\":\"sysv_shm\",\"address\":null,\"bytes\":100,\"prot\":null,\"flags\":[\"shared\"],"
        "\"backing\":\"sysv\",\"path\":null,\"shared_state\":true,\"shmid\":5,\"key\":4660,"
        "\"created\":true,\"removed\":false,\"persists\":true,\"attached\":[],"
        "\"stack\":[" FRAME_MAIN "]},");
    assert_contains(got,
        "{\"kind\":\"sysv_shm\",\"address\":\"0x30000\",\"bytes\":8192,\"prot\":\"rw-\","
        "\"flags\":[\"shared\"],\"backing\":\"sysv\",\"path\":null,\"shared_state\":true,"
        "\"shmid\":6,\"key\":0,\"created\":true,\"removed\":true,\"persists\":false,"
        "\"attached\":[\"0x30000\"],\"stack\":[" FRAME_MAIN "]}],"
        "\"allocator_arenas\":{\"mappings\":2,\"bytes\":532480}}]}\n");
    free(got);
}


/* ---- SARIF ------------------------------------------------------------ */

static char *capture_sarif(const struct report_process *procs, size_t n, const char *srcroot)
{
    struct capture c;
    capture_open(&c);
    assert_int_equal(report_sarif_write(c.f, procs, n, srcroot), 0);
    char *text = capture_close(&c);
    if (!json_is_valid(text))
        fail_msg("not valid JSON: %s", text);
    return text;
}

/* The location is the first frame in the program's sources, relative to
 * the source root; the C library's frame before it is left to the stack. */
static void test_sarif_leak_located_in_program_source(void **state)
{
    struct fixture *fx = *state;
    alloc(fx, FN_MALLOC, 0x1000, 30, STACK(fx, IP_LIBC_FN, IP_MAIN, IP_HELPER));
    char *got = capture_sarif(&fx->proc, 1, "/src");
    assert_contains(got, "\"originalUriBaseIds\":{\"SRCROOT\":{\"uri\":\"file:///src/\"}}");
    assert_contains(got,
        "\"results\":[{\"ruleId\":\"memtrace/unfreed\",\"ruleIndex\":4,\"level\":\"error\","
        "\"message\":{\"text\":\"30 bytes in 1 blocks are unfreed in loss record 1 of 1, "
        "allocated by malloc()\"},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":"
        "{\"uri\":\"fixtures/seed.c\",\"uriBaseId\":\"SRCROOT\"},\"region\":{\"startLine\":21}},"
        "\"logicalLocations\":[{\"fullyQualifiedName\":\"main\",\"kind\":\"function\"}]}],"
        "\"relatedLocations\":[{\"id\":1,\"physicalLocation\":{\"artifactLocation\":"
        "{\"uri\":\"seed.c\",\"uriBaseId\":\"SRCROOT\"},\"region\":{\"startLine\":7}},"
        "\"logicalLocations\":[{\"fullyQualifiedName\":\"helper\",\"kind\":\"function\"}],"
        "\"message\":{\"text\":\"allocated, frame 2: helper (seed.c:7)\"}}],"
        "\"stacks\":[{\"message\":{\"text\":\"allocated\"},\"frames\":["
        "{\"location\":{\"physicalLocation\":{\"address\":{\"absoluteAddress\":139637976898960,"
        "\"relativeAddress\":171408}},\"logicalLocations\":[{\"fullyQualifiedName\":"
        "\"__libc_start_call_main\",\"kind\":\"function\"}]},\"module\":\"" LIBC "\"},");
    free(got);
}

/* Outside the source root a path is a file:// URI, percent-encoded; a
 * stack with no source line at all is located at its module and address;
 * a suppressed bad free stays, with its suppression. */
static void test_sarif_uris_and_stripped_stacks(void **state)
{
    struct fixture *fx = *state;
    alloc(fx, FN_MALLOC, 0x1000, 30, STACK(fx, IP_MAIN));
    alloc(fx, FN_MALLOC, 0x2000, 20, STACK(fx, IP_LIBC_RAW));
    char *got = capture_sarif(&fx->proc, 1, "/other dir");
    assert_contains(got, "{\"SRCROOT\":{\"uri\":\"file:///other%20dir/\"}}");
    assert_contains(got, "\"artifactLocation\":{\"uri\":\"file:///src/fixtures/seed.c\"},"
                         "\"region\":{\"startLine\":21}");
    assert_contains(got, "\"locations\":[{\"physicalLocation\":{\"artifactLocation\":"
                         "{\"uri\":\"file:///lib/x86_64-linux-gnu/libc.so.6\"},\"address\":"
                         "{\"absoluteAddress\":139637976887754,\"relativeAddress\":160202}}}]");
    free(got);

    invalid_free(fx, 0x1234, STACK(fx, IP_MAIN));
    struct supp_set supps;
    supp_set_init(&supps);
    char why[256];
    const char text[] = "{\n   known-bad-free\n   Memcheck:Free\n   fun:free\n   fun:main\n}\n";
    assert_int_equal(supp_parse(&supps, "x.supp", text, sizeof(text) - 1, why, sizeof(why)), 0);
    fx->proc.supps = &supps;
    got = capture_sarif(&fx->proc, 1, NULL);
    fx->proc.supps = NULL;
    supp_set_destroy(&supps);
    assert_contains(got, "\"ruleId\":\"memtrace/invalid-free\",\"ruleIndex\":5,\"level\":"
                         "\"error\",\"message\":{\"text\":\"free(0x1234) of an address that is "
                         "not a heap block\"}");
    assert_contains(got, "\"suppressions\":[{\"kind\":\"external\",\"status\":\"accepted\","
                         "\"justification\":\"suppressed by 'known-bad-free' (x.supp:1)\"}]");
    free(got);
}

/* A double free: three stacks, the result at the second free's line,
 * a fingerprint that ignores addresses and lines. */
static void test_sarif_double_free(void **state)
{
    struct fixture *fx = *state;
    alloc(fx, FN_MALLOC, 0x2000, 16, STACK(fx, IP_HELPER));
    release(fx, 0x2000, STACK(fx, IP_MAIN));
    double_free(fx, 0x2000, STACK(fx, IP_INLINED));
    char *got = capture_sarif(&fx->proc, 1, "/");
    assert_contains(got,
        "{\"ruleId\":\"memtrace/double-free\",\"ruleIndex\":6,\"level\":\"error\","
        "\"message\":{\"text\":\"free(0x2000) of a block of 16 bytes that was already freed\"},"
        "\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":\"src/grow.h\","
        "\"uriBaseId\":\"SRCROOT\"},\"region\":{\"startLine\":3}},\"logicalLocations\":"
        "[{\"fullyQualifiedName\":\"ns::grow(int)\",\"decoratedName\":\"_ZN2ns4growEi\","
        "\"kind\":\"function\"}]}]");
    assert_contains(got, "\"message\":{\"text\":\"released, frame 1: main (seed.c:30)\"}");
    assert_contains(got, "\"message\":{\"text\":\"first freed, frame 0: main (seed.c:21)\"}");
    assert_contains(got, "\"message\":{\"text\":\"allocated, frame 0: helper (seed.c:7)\"}");
    const char *print = strstr(got, "\"memtraceStack/v1\":\"");
    assert_non_null(print);
    char first[17];
    memcpy(first, print + strlen("\"memtraceStack/v1\":\""), 16);
    first[16] = '\0';
    free(got);
    got = capture_sarif(&fx->proc, 1, "/");
    assert_non_null(strstr(got, first));   /* the same run, the same print */
    free(got);
}

/* ---- folded stacks, flame graph, timeline ---------------------------- */

static char *capture_with(int (*write)(FILE *, const struct report_process *, size_t,
                                       enum flame_cost),
                          const struct report_process *p, enum flame_cost cost)
{
    struct capture c;
    capture_open(&c);
    assert_int_equal(write(c.f, p, 1, cost), 0);
    return capture_close(&c);
}

static size_t count_of(const char *text, const char *part)
{
    size_t n = 0;
    for (const char *at = text; (at = strstr(at, part)) != NULL; at += strlen(part))
        n++;
    return n;
}

/* Paths from main outwards (the C library's frames below main are left
 * out, as the text report leaves them), inlined frames their own, one
 * line per path with a cost of its own; allocated and peak costs. */
static void test_folded_costs(void **state)
{
    struct fixture *fx = *state;
    uint32_t s_helper = STACK(fx, IP_HELPER, IP_MAIN, IP_LIBC_FN);
    uint32_t s_main = STACK(fx, IP_MAIN, IP_LIBC_FN);
    alloc(fx, FN_MALLOC, 0x1000, 30, s_helper);
    alloc(fx, FN_MALLOC, 0x2000, 50, s_helper);
    release(fx, 0x2000, s_main);
    alloc(fx, FN_MALLOC, 0x3000, 7, s_main);
    alloc(fx, FN_MALLOC, 0x4000, 5, STACK(fx, IP_INLINED));
    char *got = capture_with(report_folded_write, &fx->proc, FLAME_ALLOCATED);
    assert_string_equal(got, "main 7\nmain;helper 80\nmain;ns::grow(int) 5\n");
    free(got);
    got = capture_with(report_folded_write, &fx->proc, FLAME_PEAK);
    assert_string_equal(got, "main 7\nmain;helper 80\nmain;ns::grow(int) 5\n");
    free(got);
    release(fx, 0x1000, s_main);
    alloc(fx, FN_MALLOC, 0x5000, 10, s_helper);
    got = capture_with(report_folded_write, &fx->proc, FLAME_PEAK);   /* its peak stays 80 */
    assert_string_equal(got, "main 7\nmain;helper 80\nmain;ns::grow(int) 5\n");
    free(got);
    /* Not scanned: nothing is known to be lost. */
    got = capture_with(report_folded_write, &fx->proc, FLAME_LEAKED);
    assert_string_equal(got, "");
    free(got);
}

/* The SVG: well formed as far as its tags go, a frame group per node with
 * its place in cost units, the own frames warm, the script and its entry
 * points, the labels escaped. */
static void test_flamegraph_svg(void **state)
{
    struct fixture *fx = *state;
    alloc(fx, FN_MALLOC, 0x1000, 30, STACK(fx, IP_HELPER, IP_MAIN));
    alloc(fx, FN_MALLOC, 0x2000, 10, STACK(fx, IP_LIBC_RAW, IP_MAIN));
    char *got = capture_with(report_flamegraph_write, &fx->proc, FLAME_ALLOCATED);
    static const char head[] = "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg ";
    assert_true(strncmp(got, head, sizeof(head) - 1) == 0);
    assert_non_null(strstr(got, "</svg>\n"));
    assert_int_equal(count_of(got, "<g class=\"f\""), 4);   /* all, main, helper, libc */
    assert_int_equal(count_of(got, "<g "), count_of(got, "</g>"));
    assert_int_equal(count_of(got, "<text"), count_of(got, "</text>"));
    assert_non_null(strstr(got, "data-x=\"0\" data-v=\"40\" data-d=\"0\" data-own=\"0\" "
                                "data-name=\"all\""));
    assert_non_null(strstr(got, "data-x=\"0\" data-v=\"30\" data-d=\"2\" data-own=\"1\" "
                                "data-name=\"helper\" data-where=\" (seed.c:7)\""));
    assert_non_null(strstr(got, "data-x=\"30\" data-v=\"10\" data-d=\"2\" data-own=\"0\" "
                                "data-name=\"libc.so.6+0x271ca\""));
    assert_non_null(strstr(got, "<title>helper (seed.c:7)\n30 bytes in 1 allocations, 75.00%"));
    assert_non_null(strstr(got, "window.memtraceZoom=zoom"));
    assert_non_null(strstr(got, "<![CDATA["));
    free(got);

    /* A name with XML's special characters (a C++ template). */
    static char *const argv[] = { "./a<b>&\"c\"", NULL };
    fx->proc.argv = argv;
    got = capture_with(report_flamegraph_write, &fx->proc, FLAME_ALLOCATED);
    assert_non_null(strstr(got, "memtrace: ./a&lt;b&gt;&amp;&quot;c&quot;</text>"));
    free(got);
}

/* The chart: the total, the stack that grew labelled by its own line,
 * the sample's times on the axis. */
static void test_timeline_svg(void **state)
{
    struct fixture *fx = *state;
    uint32_t grows = STACK(fx, IP_HELPER, IP_MAIN);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(alloc_model_sample(&fx->model, 1000000000ull + i * 100000000ull), 0);
        alloc(fx, FN_MALLOC, 0x1000 + i * 0x100, 100, grows);
    }
    assert_int_equal(alloc_model_sample(&fx->model, 1500000000ull), 0);
    struct capture c;
    capture_open(&c);
    assert_int_equal(report_timeline_write(c.f, &fx->proc, 1), 0);
    char *got = capture_close(&c);
    assert_non_null(strstr(got, "<svg version=\"1.1\""));
    assert_non_null(strstr(got, "Live bytes of pid 42 (./seed)</text>"));
    assert_int_equal(count_of(got, "<polyline class=\"total\""), 1);
    assert_int_equal(count_of(got, "<polyline class=\"stack\""), 1);
    assert_non_null(strstr(got, ">helper (seed.c:7)</text>"));
    assert_non_null(strstr(got, "grew by 500 B</text>"));
    assert_non_null(strstr(got, ">0.50 s</text>"));
    assert_non_null(strstr(got, "total live: 500 B at the end"));
    free(got);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_collect_of_empty_model_gives_no_records),
        T(test_collect_groups_by_allocator_and_stack),
        T(test_leak_is_error),
        T(test_alloc_fn_cut_and_merge),
        T(test_collect_breaks_byte_ties_by_blocks_then_stack),
        T(test_collect_handles_many_records),
        T(test_unfreed_totals),
        T(test_found_problems),
        T(test_signal_names),
        T(test_text_banner),
        T(test_text_banner_escapes_control_characters),
        T(test_text_frame_escapes_control_characters),
        T(test_text_process_with_one_leak),
        T(test_text_stack_stops_at_main),
        T(test_text_inlined_frames),
        T(test_text_process_numbers_records_and_names_allocators),
        T(test_text_process_killed_by_signal),
        T(test_text_process_other_end),
        T(test_text_double_free),
        T(test_text_invalid_free_without_stack),
        T(test_text_stats),
        T(test_json_document_for_small_model),
        T(test_json_inlined_frames),
        T(test_json_invalid_free_has_null_size_and_stacks),
        T(test_json_signaled_process),
        T(test_json_escapes_command_line),
        T(test_json_several_processes),
        T(test_json_no_processes),
        T(test_json_stats_only_when_present),
        T(test_collect_mappings),
        T(test_text_mappings_section),
        T(test_text_mapping_path_escaped),
        T(test_json_command_line_invalid_utf8),
        T(test_json_mappings),
        T(test_sarif_leak_located_in_program_source),
        T(test_sarif_uris_and_stripped_stacks),
        T(test_sarif_double_free),
        T(test_folded_costs),
        T(test_flamegraph_svg),
        T(test_timeline_svg),
    };
#undef T
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
