/* The symbols API on real files (fixtures/symbols, built by CMake): every
 * variant of one program (plain, stripped with separate debug info found in
 * each standard way, stripped without) names the same function, file and
 * line; inline chains; C++ names; module lifetimes across generations;
 * caching; damaged debug files give a warning, not a crash. No process is
 * traced: modules are added by path and bias. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "elf_file.h"
#include "symbolizer.h"

#define FX SYMFX_DIR "/"

/* ---- helpers ------------------------------------------------------------ */

/* snprintf that must fit. */
static void __attribute__((format(printf, 3, 4))) xfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < len);
}

static char warnings[8192];
static int nwarnings;

static void capture_warning(void *ctx, const char *msg)
{
    (void)ctx;
    size_t len = strlen(warnings);
    snprintf(warnings + len, sizeof(warnings) - len, "%s\n", msg);
    nwarnings++;
}

static void configure(const char *const *dirs, size_t n, const char *env)
{
    struct symbolizer_config c = { .debug_dirs = dirs, .ndebug_dirs = n, .debug_dirs_env = env };
    char why[256];
    assert_int_equal(symbolizer_configure(&c, why, sizeof(why)), 0);
}

static int setup(void **state)
{
    (void)state;
    warnings[0] = '\0';
    nwarnings = 0;
    symbolizer_set_warning_handler(capture_warning, NULL);
    configure(NULL, 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    symbolizer_set_warning_handler(NULL, NULL);
    return 0;
}

/* Line of the "@mark:NAME" comment in fixtures/symbols/FILE. */
static int mark_line(const char *file, const char *name)
{
    char path[PATH_MAX], needle[128], line[1024];
    snprintf(path, sizeof(path), "%s/%s", SYMFX_SOURCE_DIR, file);
    snprintf(needle, sizeof(needle), "@mark:%s ", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int found = 0;
    for (int n = 1; fgets(line, sizeof(line), f); n++)
        if (strstr(line, needle)) {
            found = n;
            break;
        }
    fclose(f);
    assert_true(found > 0);
    return found;
}

static const char *base(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path;
}

static struct symbolizer *with_module(const char *path, mt_addr bias)
{
    struct symbolizer *s = symbolizer_create();
    assert_non_null(s);
    char why[512];
    int rc = symbolizer_add_module(s, path, bias, why, sizeof(why));
    if (rc != 0)
        fail_msg("symbolizer_add_module(%s): %s", path, why);
    return s;
}

/* [lo, hi) of function name in the symbol tables of path. */
static void function_range(const char *path, const char *name, mt_addr *lo, mt_addr *hi)
{
    struct elf_file ef;
    char why[256];
    assert_int_equal(elf_file_open(&ef, path, why, sizeof(why)), 0);
    uint64_t value = 0, size = 0;
    assert_true(elf_file_find_function(&ef, name, &value, &size));
    elf_file_close(&ef);
    assert_true(size > 0);
    *lo = value;
    *hi = value + size;
}

/* An address in function fn of path (a plain -g build) whose outermost
 * frame's line is line, with nframes frames. */
static mt_addr find_address(const char *path, const char *fn, int line, unsigned nframes)
{
    mt_addr lo, hi;
    function_range(path, fn, &lo, &hi);
    struct symbolizer *s = with_module(path, 0);
    mt_addr found = 0;
    for (mt_addr a = lo; a < hi && !found; a++) {
        const struct sym_frame_ext *fr;
        unsigned n = symbolizer_lookup(s, a, SYMBOLIZER_NOW, false, &fr);
        if (n == nframes && fr[0].f.line == line)
            found = a;
    }
    symbolizer_destroy(s);
    if (!found)
        fail_msg("no address in %s of %s at line %d with %u frames", fn, path, line, nframes);
    return found;
}

static mt_addr record_call(const char *plain)
{
    return find_address(plain, "make_record", mark_line("symfx.c", "record_malloc"), 1);
}

/* Looks ip up in path (bias 0) and returns the single frame (copied). */
static struct sym_frame_ext lookup1(const char *path, mt_addr ip)
{
    struct symbolizer *s = with_module(path, 0);
    const struct sym_frame_ext *fr;
    unsigned n = symbolizer_lookup(s, ip, SYMBOLIZER_NOW, false, &fr);
    assert_int_equal(n, 1);
    struct sym_frame_ext copy = fr[0];
    /* Strings stay valid while a symbolizer is alive: keep them readable
     * by copying what the tests compare. */
    static char fn[256], file[PATH_MAX], module[PATH_MAX], id[130];
    snprintf(fn, sizeof(fn), "%s", copy.f.function ? copy.f.function : "");
    snprintf(file, sizeof(file), "%s", copy.f.file ? copy.f.file : "");
    snprintf(module, sizeof(module), "%s", copy.f.module ? copy.f.module : "");
    snprintf(id, sizeof(id), "%s", copy.build_id ? copy.build_id : "");
    copy.f.function = copy.f.function ? fn : NULL;
    copy.f.file = copy.f.file ? file : NULL;
    copy.f.module = copy.f.module ? module : NULL;
    copy.build_id = copy.build_id ? id : NULL;
    copy.mangled = NULL;
    symbolizer_destroy(s);
    return copy;
}

static void assert_record_frame(const struct sym_frame_ext *fr)
{
    assert_non_null(fr->f.function);
    assert_string_equal(fr->f.function, "make_record");
    assert_non_null(fr->f.file);
    assert_string_equal(base(fr->f.file), "symfx.c");
    assert_int_equal(fr->f.line, mark_line("symfx.c", "record_malloc"));
    assert_false(fr->inlined);
}

/* ---- one program, every variant ------------------------------------------ */

static void test_plain_build_names_function_file_line(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_plain", ip);
    assert_record_frame(&fr);
    assert_string_equal(fr.f.module, FX "fx_sym_plain");
    assert_int_equal(fr.f.module_offset, ip);
    assert_non_null(fr.build_id);
    assert_int_equal(strlen(fr.build_id), 40);
    assert_int_equal(nwarnings, 0);
}

static void test_bias_and_return_addresses(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    const mt_addr bias = 0x555555554000ULL;
    struct symbolizer *s = with_module(FX "fx_sym_plain", bias);
    const struct sym_frame_ext *fr;
    /* A return address is looked up at ip - 1: the call's line. */
    assert_int_equal(symbolizer_lookup(s, bias + ip + 1, SYMBOLIZER_NOW, true, &fr), 1);
    assert_record_frame(&fr[0]);
    assert_int_equal(fr[0].f.address, bias + ip + 1);
    assert_int_equal(fr[0].f.module_offset, ip + 1);
    /* Outside every module: one empty frame. */
    assert_int_equal(symbolizer_lookup(s, 0x10, SYMBOLIZER_NOW, true, &fr), 1);
    assert_null(fr[0].f.module);
    assert_null(fr[0].f.function);
    assert_null(fr[0].build_id);
    symbolizer_destroy(s);
}

static void test_build_id_file_in_a_debug_dir(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    const char *dirs[] = { FX "debugroot" };
    configure(dirs, 1, NULL);
    struct sym_frame_ext fr = lookup1(FX "fx_sym_buildid", ip);
    assert_record_frame(&fr);
    assert_int_equal(nwarnings, 0);
}

/* The same frame from the inflated copy in the cache: made on first use,
 * taken from the cache after (no second inflation). */
static void test_build_id_file_through_the_cache(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    char cache[] = "/tmp/memtrace-symcache-XXXXXX";
    assert_non_null(mkdtemp(cache));
    const char *dirs[] = { FX "debugroot" };
    struct symbolizer_config c = { .debug_dirs = dirs, .ndebug_dirs = 1, .cache_dir = cache };
    char why[256];
    assert_int_equal(symbolizer_configure(&c, why, sizeof(why)), 0);
    unsigned long before = symbolizer_debug_files_inflated();
    struct sym_frame_ext fr = lookup1(FX "fx_sym_buildid", ip);
    assert_record_frame(&fr);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    fr = lookup1(FX "fx_sym_buildid", ip);
    assert_record_frame(&fr);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    assert_int_equal(nwarnings, 0);
    char cmd[PATH_MAX + 16];
    xfmt(cmd, sizeof(cmd), "rm -rf %s", cache);
    assert_int_equal(system(cmd), 0);
}

static void test_build_id_file_in_a_dir_from_the_environment(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    configure(NULL, 0, "/nonexistent-memtrace-dir:" FX "debugroot");
    assert_int_equal(nwarnings, 1);   /* the directory that does not exist */
    assert_non_null(strstr(warnings, "/nonexistent-memtrace-dir"));
    assert_non_null(strstr(symbolizer_debuginfo_path(), ":.debug:/usr/lib/debug:"));
    struct sym_frame_ext fr = lookup1(FX "fx_sym_buildid", ip);
    assert_record_frame(&fr);
}

static void test_without_its_debug_dir_a_stripped_binary_has_no_names(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext plain = lookup1(FX "fx_sym_plain", ip);
    char id[130];
    snprintf(id, sizeof(id), "%s", plain.build_id);
    struct sym_frame_ext fr = lookup1(FX "fx_sym_buildid", ip);
    assert_null(fr.f.function);
    assert_null(fr.f.file);
    assert_string_equal(fr.f.module, FX "fx_sym_buildid");
    assert_int_equal(fr.f.module_offset, ip);
    assert_non_null(fr.build_id);
    assert_string_equal(fr.build_id, id);
    assert_int_equal(nwarnings, 0);
}

static void test_debuglink_next_to_the_binary(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_debuglink", ip);
    assert_record_frame(&fr);
    assert_int_equal(nwarnings, 0);
}

static void test_debuglink_in_dot_debug(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_dotdebug", ip);
    assert_record_frame(&fr);
}

static void test_debuglink_under_a_root_and_the_binary_dir(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_rootdir", ip);
    assert_null(fr.f.function);   /* not without the root */
    const char *dirs[] = { FX "debugroot-dirs" };
    configure(dirs, 1, NULL);
    fr = lookup1(FX "fx_sym_rootdir", ip);
    assert_record_frame(&fr);
}

static void test_symtab_only_names_the_function(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_symtab", ip);
    assert_non_null(fr.f.function);
    assert_string_equal(fr.f.function, "make_record");
    assert_null(fr.f.file);
    assert_int_equal(fr.f.line, 0);
}

static void test_dynsym_only_names_the_function(void **state)
{
    (void)state;
    mt_addr ip = find_address(FX "fx_sym_rdyn", "make_record", mark_line("symfx.c", "record_malloc"),
                              1);
    struct sym_frame_ext fr = lookup1(FX "fx_sym_dynsym", ip);
    assert_non_null(fr.f.function);
    assert_string_equal(fr.f.function, "make_record");
    assert_null(fr.f.file);
}

static void test_no_symbols_at_all_gives_module_offset_and_build_id(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_nodebug", ip);
    assert_null(fr.f.function);
    assert_null(fr.f.file);
    assert_string_equal(fr.f.module, FX "fx_sym_nodebug");
    assert_int_equal(fr.f.module_offset, ip);
    assert_non_null(fr.build_id);
    assert_int_equal(strlen(fr.build_id), 40);
}

static void test_debug_file_of_another_build_is_ignored_with_a_warning(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext fr = lookup1(FX "fx_sym_mismatch", ip);
    assert_null(fr.f.function);
    assert_int_equal(nwarnings, 1);
    assert_non_null(strstr(warnings, FX "fx_sym_mismatch.debug"));
    assert_non_null(strstr(warnings, FX "fx_sym_mismatch (build-id "));
    assert_non_null(strstr(warnings, "does not match"));
}

static void test_debuglink_crc_without_build_id(void **state)
{
    (void)state;
    mt_addr ip = find_address(FX "fx_sym_noid_plain", "make_record",
                              mark_line("symfx.c", "record_malloc"), 1);
    struct sym_frame_ext fr = lookup1(FX "fx_sym_noid_debuglink", ip);
    assert_record_frame(&fr);
    assert_null(fr.build_id);
    assert_int_equal(nwarnings, 0);
    fr = lookup1(FX "fx_sym_noid_badcrc", ip);
    assert_null(fr.f.function);
    assert_int_equal(nwarnings, 1);
    assert_non_null(strstr(warnings, "CRC"));
    assert_non_null(strstr(warnings, FX "fx_sym_noid_badcrc.debug"));
    assert_non_null(strstr(warnings, FX "fx_sym_noid_badcrc\n"));
}

static void test_non_pie(void **state)
{
    (void)state;
    mt_addr ip = find_address(FX "fx_sym_nopie_plain", "make_record",
                              mark_line("symfx.c", "record_malloc"), 1);
    assert_true(ip >= 0x400000);   /* linked at its run-time address */
    const char *dirs[] = { FX "debugroot" };
    configure(dirs, 1, NULL);
    struct sym_frame_ext fr = lookup1(FX "fx_sym_nopie_buildid", ip);
    assert_record_frame(&fr);
    configure(NULL, 0, NULL);   /* else the build-id file names it too */
    fr = lookup1(FX "fx_sym_nopie_nodebug", ip);
    assert_null(fr.f.function);
    assert_int_equal(fr.f.module_offset, ip);
}

/* ---- damaged debug files ----------------------------------------------- */

static void copy_file(const char *from, const char *to, long keep, bool garbage)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0 && (keep < 0 || total < keep)) {
        if (keep >= 0 && total + (long)n > keep)
            n = (size_t)(keep - total);
        if (garbage && total > 0)
            memset(buf, 0xa5, n);   /* keep the first block: a valid ELF header */
        assert_int_equal(fwrite(buf, 1, n, out), n);
        total += (long)n;
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    chmod(to, 0755);
}

/* A private root with a damaged copy of fx_sym_buildid's debug file, and a
 * copy of the binary (a new file, not the one already in the cache). */
static void damaged_root(const char *tag, long keep, bool garbage, char *bin, size_t bin_len)
{
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct sym_frame_ext plain = lookup1(FX "fx_sym_plain", ip);
    char id[130];
    xfmt(id, sizeof(id), "%s", plain.build_id);
    char root[PATH_MAX], dir[PATH_MAX], dbg[PATH_MAX], good[PATH_MAX];
    xfmt(root, sizeof(root), "/tmp/memtrace-symtest-%d-%s", (int)getpid(), tag);
    xfmt(dir, sizeof(dir), "%s/.build-id/%.2s", root, id);
    char cmd[PATH_MAX * 2];
    xfmt(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", root, dir);
    assert_int_equal(system(cmd), 0);
    xfmt(dbg, sizeof(dbg), "%s/%s.debug", dir, id + 2);
    xfmt(good, sizeof(good), FX "debugroot/.build-id/%.2s/%s.debug", id, id + 2);
    copy_file(good, dbg, keep, garbage);
    xfmt(bin, bin_len, "%s/fx_sym_buildid", root);
    copy_file(FX "fx_sym_buildid", bin, -1, false);
    const char *dirs[] = { root };
    configure(dirs, 1, NULL);
}

static void remove_root(const char *bin)
{
    char cmd[PATH_MAX * 2];
    xfmt(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strrchr(bin, '/') - bin), bin);
    assert_int_equal(system(cmd), 0);
}

static void test_truncated_debug_file_gives_a_warning(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    struct stat st;
    char good[PATH_MAX], bin[PATH_MAX];
    struct sym_frame_ext plain = lookup1(FX "fx_sym_plain", ip);
    char id[130];
    snprintf(id, sizeof(id), "%s", plain.build_id);
    snprintf(good, sizeof(good), FX "debugroot/.build-id/%.2s/%s.debug", id, id + 2);
    assert_int_equal(stat(good, &st), 0);
    for (int i = 1; i <= 3; i++) {   /* a quarter, half and three quarters */
        warnings[0] = '\0';
        nwarnings = 0;
        damaged_root("trunc", (long)st.st_size * i / 4, false, bin, sizeof(bin));
        struct sym_frame_ext fr = lookup1(bin, ip);
        assert_string_equal(fr.f.module, bin);   /* still a frame, no crash */
        assert_true(nwarnings >= 1);
        if (!strstr(warnings, id + 2))
            fail_msg("cut to %d/4: warnings do not name the debug file:\n%s", i, warnings);
        if (getenv("SYMTEST_VERBOSE"))
            fprintf(stderr, "cut to %d/4: %s", i, warnings);
        remove_root(bin);
    }
}

static void test_garbage_debug_file_gives_a_warning(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    char bin[PATH_MAX];
    damaged_root("garbage", -1, true, bin, sizeof(bin));
    struct sym_frame_ext fr = lookup1(bin, ip);
    assert_string_equal(fr.f.module, bin);
    assert_true(nwarnings >= 1);
    remove_root(bin);
}

static void test_empty_debug_file_gives_a_warning(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    char bin[PATH_MAX];
    damaged_root("empty", 0, false, bin, sizeof(bin));
    struct sym_frame_ext fr = lookup1(bin, ip);
    assert_null(fr.f.function);
    assert_int_equal(nwarnings, 1);
    assert_non_null(strstr(warnings, "not a readable ELF file"));
    remove_root(bin);
}

static void test_module_that_is_not_elf_is_refused(void **state)
{
    (void)state;
    struct symbolizer *s = symbolizer_create();
    char why[512];
    assert_int_equal(symbolizer_add_module(s, "/nonexistent/libnothing.so", 0, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "/nonexistent/libnothing.so"));
    assert_int_equal(symbolizer_add_module(s, SYMFX_SOURCE_DIR "/symfx.c", 0, why, sizeof(why)),
                     -1);
    symbolizer_destroy(s);
}

/* ---- inline chains and C++ ------------------------------------------------ */

static void check_inline_chain(const char *path)
{
    mt_addr ip = find_address(FX "fx_sym_inline", "build_node",
                              mark_line("inline.c", "grab_malloc"), 3);
    struct symbolizer *s = with_module(path, 0);
    const struct sym_frame_ext *fr;
    assert_int_equal(symbolizer_lookup(s, ip, SYMBOLIZER_NOW, false, &fr), 3);
    const char *fn[] = { "grab", "grab_twice", "build_node" };
    const char *mark[] = { "grab_malloc", "twice_grab", "node_grab" };
    for (int i = 0; i < 3; i++) {
        assert_non_null(fr[i].f.function);
        assert_string_equal(fr[i].f.function, fn[i]);
        assert_string_equal(base(fr[i].f.file), "inline.c");
        assert_int_equal(fr[i].f.line, mark_line("inline.c", mark[i]));
        assert_int_equal(fr[i].inlined, i < 2);
        assert_int_equal(fr[i].f.address, ip);
        assert_int_equal(fr[i].f.module_offset, ip);
    }
    symbolizer_destroy(s);
}

static void test_inline_chain_innermost_first(void **state)
{
    (void)state;
    check_inline_chain(FX "fx_sym_inline");
}

static void test_inline_chain_from_a_build_id_debug_file(void **state)
{
    (void)state;
    const char *dirs[] = { FX "debugroot" };
    configure(dirs, 1, NULL);
    check_inline_chain(FX "fx_sym_inline_buildid");
}

static void test_cxx_names_are_demangled(void **state)
{
    (void)state;
    if (access(FX "fx_sym_cxx", X_OK) != 0)
        skip();
    const char *mangled = "_Z4fillRSt6vectorIiSaIiEEi";
    mt_addr ip = find_address(FX "fx_sym_cxx", mangled, mark_line("cxx.cc", "push"), 1);
    struct symbolizer *s = with_module(FX "fx_sym_cxx", 0);
    const struct sym_frame_ext *fr;
    assert_int_equal(symbolizer_lookup(s, ip, SYMBOLIZER_NOW, false, &fr), 1);
    assert_string_equal(fr[0].f.function, "fill(std::vector<int, std::allocator<int> >&, int)");
    assert_non_null(fr[0].mangled);
    assert_string_equal(fr[0].mangled, mangled);
    assert_string_equal(base(fr[0].f.file), "cxx.cc");
    symbolizer_destroy(s);
    /* The stripped copy without its debug root: nothing. */
    struct sym_frame_ext st = lookup1(FX "fx_sym_cxx_buildid", ip);
    assert_null(st.f.function);   /* strip-all: nothing */
}

static void test_clean_name(void **state)
{
    (void)state;
    char *s = symbolizer_clean_name("__libc_start_main@@GLIBC_2.34");
    assert_string_equal(s, "__libc_start_main");
    free(s);
    s = symbolizer_clean_name("memcpy@GLIBC_2.2.5");
    assert_string_equal(s, "memcpy");
    free(s);
    s = symbolizer_clean_name("_ZNSt6vectorIiSaIiEE9push_backERKi");
    assert_string_equal(s, "std::vector<int, std::allocator<int> >::push_back(int const&)");
    free(s);
    s = symbolizer_clean_name("_Znwm@GLIBCXX_3.4");
    assert_string_equal(s, "operator new(unsigned long)");
    free(s);
    assert_null(symbolizer_clean_name("malloc"));
    assert_null(symbolizer_clean_name("_Zbogus"));   /* not a valid mangling: kept */
    s = symbolizer_clean_name("_Zbogus@V1");
    assert_string_equal(s, "_Zbogus");
    free(s);
}

static void test_libc_frames(void **state)
{
    (void)state;
    const char *libc = "/lib/x86_64-linux-gnu/libc.so.6";
    if (access(libc, R_OK) != 0)
        skip();
    mt_addr lo, hi;
    const mt_addr bias = 0x7f0000000000ULL;
    function_range(libc, "__libc_start_main", &lo, &hi);
    struct symbolizer *s = with_module(libc, bias);
    const struct sym_frame_ext *fr;
    unsigned n = symbolizer_lookup(s, bias + lo + 8, SYMBOLIZER_NOW, false, &fr);
    /* Start-up code below main: one frame, named from the symbol table
     * (no version suffix), never a file or line, even with libc6-dbg. */
    assert_int_equal(n, 1);
    assert_string_equal(fr[0].f.function, "__libc_start_main");
    assert_null(fr[0].f.file);
    assert_int_equal(fr[0].f.line, 0);
    assert_non_null(fr[0].build_id);
    char dbg[PATH_MAX];
    snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", fr[0].build_id,
             fr[0].build_id + 2);
    function_range(libc, "fopen", &lo, &hi);
    n = symbolizer_lookup(s, bias + lo + 8, SYMBOLIZER_NOW, false, &fr);
    assert_true(n >= 1);
    assert_non_null(strstr(fr[n - 1].f.function, "fopen"));
    if (access(dbg, R_OK) == 0) {   /* libc6-dbg: lines inside libc */
        assert_non_null(fr[0].f.file);
        assert_true(fr[0].f.line > 0);
    }
    symbolizer_destroy(s);
}

/* ---- lifetimes, generations, caching -------------------------------------- */

static void test_generations_keep_unloaded_modules(void **state)
{
    (void)state;
    mt_addr lo, hi;
    function_range(FX "libsymdl_alpha.so", "dl_alpha_make", &lo, &hi);
    mt_addr olo, ohi;
    function_range(FX "libsymdl_omega.so", "dl_omega_make", &olo, &ohi);
    assert_int_equal(lo, olo);   /* same layout: the same addresses when loaded alike */
    const mt_addr bias = 0x7f1234560000ULL;
    mt_addr ip = bias + lo + 4;
    char why[256];
    struct symbolizer *s = symbolizer_create();
    assert_int_equal(symbolizer_generation(s), 0);
    symbolizer_mark(s, 1);
    assert_int_equal(symbolizer_add_module(s, FX "libsymdl_alpha.so", bias, why, sizeof(why)), 0);
    uint32_t g_alpha = symbolizer_generation(s);
    assert_int_equal(g_alpha, 1);
    symbolizer_mark(s, 10);   /* stacks 1..9 were taken with alpha loaded */
    assert_int_equal(symbolizer_remove_module(s, FX "libsymdl_alpha.so", bias), 0);
    assert_int_equal(symbolizer_add_module(s, FX "libsymdl_omega.so", bias, why, sizeof(why)), 0);
    uint32_t g_omega = symbolizer_generation(s);
    assert_int_equal(g_omega, 2);   /* one change set: one generation */
    assert_int_equal(symbolizer_remove_module(s, FX "libsymdl_alpha.so", bias), -1);
    assert_int_equal(symbolizer_generation_at(s, 0), 0);
    assert_int_equal(symbolizer_generation_at(s, 9), g_alpha);
    assert_int_equal(symbolizer_generation_at(s, 10), g_omega);
    assert_int_equal(symbolizer_generation_at(s, 1000), g_omega);

    const struct sym_frame_ext *fr;
    symbolizer_lookup(s, ip, g_alpha, false, &fr);
    assert_string_equal(fr[0].f.function, "dl_alpha_make");
    assert_string_equal(base(fr[0].f.module), "libsymdl_alpha.so");
    symbolizer_lookup(s, ip, g_omega, false, &fr);
    assert_string_equal(fr[0].f.function, "dl_omega_make");
    symbolizer_lookup(s, ip, SYMBOLIZER_NOW, false, &fr);
    assert_string_equal(fr[0].f.function, "dl_omega_make");
    /* Omega unloaded too: a later stack in that range still gets omega, the
     * last module that was there. */
    symbolizer_mark(s, 20);
    assert_int_equal(symbolizer_remove_module(s, FX "libsymdl_omega.so", bias), 0);
    symbolizer_lookup(s, ip, symbolizer_generation_at(s, 25), false, &fr);
    assert_string_equal(fr[0].f.function, "dl_omega_make");
    /* A clone (fork) keeps all of it. */
    struct symbolizer *c = symbolizer_clone(s);
    assert_non_null(c);
    assert_int_equal(symbolizer_generation_at(c, 9), g_alpha);
    symbolizer_lookup(c, ip, g_alpha, false, &fr);
    assert_string_equal(fr[0].f.function, "dl_alpha_make");
    symbolizer_lookup(c, ip, g_omega, false, &fr);
    assert_string_equal(fr[0].f.function, "dl_omega_make");
    symbolizer_destroy(s);
    symbolizer_destroy(c);
}

static void test_each_address_once_each_file_once(void **state)
{
    (void)state;
    mt_addr ip = record_call(FX "fx_sym_plain");
    const char *dirs[] = { FX "debugroot" };
    configure(dirs, 1, NULL);
    unsigned long files = symbolizer_files_opened();
    unsigned long searches = symbolizer_debuginfo_searches();
    struct symbolizer *a = with_module(FX "fx_sym_buildid", 0);
    struct symbolizer *b = with_module(FX "fx_sym_buildid", 0x1000);
    const struct sym_frame_ext *fr;
    for (int i = 0; i < 3; i++) {
        symbolizer_lookup(a, ip, SYMBOLIZER_NOW, false, &fr);
        assert_record_frame(&fr[0]);
        symbolizer_lookup(b, ip + 0x1000, SYMBOLIZER_NOW, false, &fr);
        assert_record_frame(&fr[0]);
    }
    symbolizer_lookup(a, ip + 1, SYMBOLIZER_NOW, true, &fr);   /* another key */
    assert_int_equal(symbolizer_lookups(a), 2);
    assert_int_equal(symbolizer_lookups(b), 1);
    assert_int_equal(symbolizer_files_opened() - files, 1);
    assert_int_equal(symbolizer_debuginfo_searches() - searches, 1);
    symbolizer_destroy(a);
    symbolizer_destroy(b);
}

static int open_descriptors(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* Every elf_file open on one file shares one image and keeps no
 * descriptor: a module costs nothing per process that maps it. */
static void test_elf_files_are_shared_and_keep_no_descriptor(void **state)
{
    (void)state;
    const char *path = FX "fx_sym_plain";
    char why[256];
    int before = open_descriptors();
    struct elf_file a, b;
    assert_int_equal(elf_file_open(&a, path, why, sizeof(why)), 0);
    assert_int_equal(elf_file_open(&b, path, why, sizeof(why)), 0);
    assert_int_equal(open_descriptors(), before);
    assert_ptr_equal(a.elf, b.elf);

    /* The bytes at the entry point are the file's. */
    const struct elf_segment *seg = NULL;
    for (int i = 0; i < a.nsegs; i++)
        if (a.entry >= a.segs[i].vaddr && a.entry < a.segs[i].vaddr + a.segs[i].filesz)
            seg = &a.segs[i];
    assert_non_null(seg);
    uint8_t from_elf[16], from_file[16];
    assert_int_equal(elf_file_read_vaddr(&a, a.entry, from_elf, sizeof(from_elf)), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, from_file, sizeof(from_file),
                           (off_t)(seg->offset + (a.entry - seg->vaddr))),
                     sizeof(from_file));
    close(fd);
    assert_memory_equal(from_elf, from_file, sizeof(from_file));

    /* The image outlives one of its users, and goes with the last. */
    elf_file_close(&a);
    uint64_t value = 0, size = 0;
    assert_true(elf_file_find_function(&b, "main", &value, &size));
    elf_file_close(&b);
    assert_int_equal(elf_file_open(&a, path, why, sizeof(why)), 0);
    assert_true(elf_file_find_function(&a, "main", &value, &size));
    elf_file_close(&a);
    assert_int_equal(open_descriptors(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_plain_build_names_function_file_line),
        T(test_bias_and_return_addresses),
        T(test_build_id_file_in_a_debug_dir),
        T(test_build_id_file_through_the_cache),
        T(test_build_id_file_in_a_dir_from_the_environment),
        T(test_without_its_debug_dir_a_stripped_binary_has_no_names),
        T(test_debuglink_next_to_the_binary),
        T(test_debuglink_in_dot_debug),
        T(test_debuglink_under_a_root_and_the_binary_dir),
        T(test_symtab_only_names_the_function),
        T(test_dynsym_only_names_the_function),
        T(test_no_symbols_at_all_gives_module_offset_and_build_id),
        T(test_debug_file_of_another_build_is_ignored_with_a_warning),
        T(test_debuglink_crc_without_build_id),
        T(test_non_pie),
        T(test_truncated_debug_file_gives_a_warning),
        T(test_garbage_debug_file_gives_a_warning),
        T(test_empty_debug_file_gives_a_warning),
        T(test_module_that_is_not_elf_is_refused),
        T(test_inline_chain_innermost_first),
        T(test_inline_chain_from_a_build_id_debug_file),
        T(test_cxx_names_are_demangled),
        T(test_clean_name),
        T(test_libc_frames),
        T(test_generations_keep_unloaded_modules),
        T(test_each_address_once_each_file_once),
        T(test_elf_files_are_shared_and_keep_no_descriptor),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
