/* The cache of inflated debug files (symbols/debug_cache.c) on a real
 * compressed debug file, fixtures/symbols' build-id variant: the copy has
 * every section's bytes as libelf inflates them and everything else where it
 * was; a damaged or uncompressed file is refused; copies are made once,
 * found again, remade when the original changes, and made ahead by the
 * background thread; a directory others can write is not used. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "sym_internal.h"
#include "symbolizer.h"

#define FX SYMFX_DIR "/"

static char debug_file[PATH_MAX]; /* fx_sym_buildid's, compressed */
static char build_id[130];
static char tmpdir[64];
static int nwarnings;

static void count_warning(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
    nwarnings++;
}

static int setup(void **state)
{
    (void)state;
    elf_version(EV_CURRENT);
    int fd = open(FX "fx_sym_buildid", O_RDONLY);
    assert_true(fd >= 0);
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    const void *id = NULL;
    ssize_t n = dwelf_elf_gnu_build_id(e, &id);
    assert_true(n > 2);
    const unsigned char *b = id;
    for (ssize_t i = 0; i < n; i++)
        snprintf(build_id + 2 * i, 3, "%02x", b[i]);
    elf_end(e);
    close(fd);
    snprintf(debug_file, sizeof(debug_file), FX "debugroot/.build-id/%.2s/%s.debug", build_id,
             build_id + 2);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/memtrace-debugcache-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    nwarnings = 0;
    symbolizer_set_warning_handler(count_warning, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sym_debug_cache_shutdown();
    char why[128];
    assert_int_equal(sym_debug_cache_configure(NULL, why, sizeof(why)), 0);
    symbolizer_set_warning_handler(NULL, NULL);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int new_memfd(void)
{
    int fd = (int)syscall(SYS_memfd_create, "test", 0);
    assert_true(fd >= 0);
    return fd;
}

static void copy_to(const char *from, const char *to)
{
    char cmd[2 * PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_copy_has_the_sections_libelf_inflates(void **state)
{
    (void)state;
    int src = open(debug_file, O_RDONLY);
    assert_true(src >= 0);
    int dst = new_memfd();
    assert_true(sym_inflate_elf(src, dst, NULL));
    Elf *a = elf_begin(src, ELF_C_READ, NULL), *b = elf_begin(dst, ELF_C_READ, NULL);
    assert_non_null(a);
    assert_non_null(b);
    size_t na, nb, pa, pb;
    assert_int_equal(elf_getshdrnum(a, &na), 0);
    assert_int_equal(elf_getshdrnum(b, &nb), 0);
    assert_int_equal(na, nb);
    assert_int_equal(elf_getphdrnum(a, &pa), 0);
    assert_int_equal(elf_getphdrnum(b, &pb), 0);
    assert_int_equal(pa, pb);
    for (size_t i = 0; i < pa; i++) {
        GElf_Phdr x, y;
        assert_non_null(gelf_getphdr(a, (int)i, &x));
        assert_non_null(gelf_getphdr(b, (int)i, &y));
        assert_memory_equal(&x, &y, sizeof(x));
    }
    unsigned inflated = 0;
    for (size_t i = 1; i < na; i++) {
        Elf_Scn *sa = elf_getscn(a, i), *sb = elf_getscn(b, i);
        GElf_Shdr ha, hb;
        assert_non_null(gelf_getshdr(sa, &ha));
        if (ha.sh_flags & SHF_COMPRESSED) {
            assert_int_equal(elf_compress(sa, 0, 0), 1);
            assert_non_null(gelf_getshdr(sa, &ha));
            inflated++;
        } else if (ha.sh_type != SHT_NOBITS) {
            assert_non_null(gelf_getshdr(sb, &hb));
            assert_int_equal(ha.sh_offset, hb.sh_offset);
        }
        assert_non_null(gelf_getshdr(sb, &hb));
        assert_int_equal(hb.sh_flags & SHF_COMPRESSED, 0);
        assert_int_equal(ha.sh_flags, hb.sh_flags);
        assert_int_equal(ha.sh_size, hb.sh_size);
        assert_int_equal(ha.sh_type, hb.sh_type);
        assert_int_equal(ha.sh_name, hb.sh_name);
        if (ha.sh_type == SHT_NOBITS || ha.sh_size == 0)
            continue;
        Elf_Data *da = elf_getdata(sa, NULL), *db = elf_rawdata(sb, NULL);
        assert_non_null(da);
        assert_non_null(db);
        assert_int_equal(da->d_size, db->d_size);
        assert_memory_equal(da->d_buf, db->d_buf, da->d_size);
    }
    assert_true(inflated >= 3); /* .debug_info, .debug_abbrev, .debug_line at least */
    const void *ida = NULL, *idb = NULL;
    ssize_t la = dwelf_elf_gnu_build_id(a, &ida), lb = dwelf_elf_gnu_build_id(b, &idb);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ida, idb, (size_t)la);
    elf_end(a);
    elf_end(b);
    close(src);
    close(dst);
}

static void test_a_file_without_compressed_sections_is_refused(void **state)
{
    (void)state;
    int src = open(FX "fx_sym_plain", O_RDONLY);
    assert_true(src >= 0);
    int dst = new_memfd();
    assert_false(sym_inflate_elf(src, dst, NULL));
    close(src);
    close(dst);
}

/* A byte changed inside a compressed stream: zlib's check fails. */
static void test_a_damaged_stream_is_refused(void **state)
{
    (void)state;
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s/damaged.debug", tmpdir);
    copy_to(debug_file, copy);
    int fd = open(copy, O_RDWR);
    assert_true(fd >= 0);
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    off_t at = -1;
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn && at < 0; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED) && sh.sh_size > 64)
            at = (off_t)(sh.sh_offset + sh.sh_size / 2);
    }
    elf_end(e);
    assert_true(at > 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x5a;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    int dst = new_memfd();
    assert_false(sym_inflate_elf(fd, dst, NULL));
    close(fd);
    close(dst);
}

static void test_stopping_abandons_the_copy(void **state)
{
    (void)state;
    int src = open(debug_file, O_RDONLY);
    int dst = new_memfd();
    bool stop = true;
    assert_false(sym_inflate_elf(src, dst, &stop));
    close(src);
    close(dst);
}

static void configure_cache(void)
{
    char dir[PATH_MAX], why[256];
    snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
    assert_int_equal(sym_debug_cache_configure(dir, why, sizeof(why)), 0);
}

static off_t size_of_fd(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_size;
}

static void test_a_copy_is_made_once_and_remade_when_the_file_changes(void **state)
{
    (void)state;
    configure_cache();
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s/lib.debug", tmpdir);
    copy_to(debug_file, copy);
    unsigned long before = symbolizer_debug_files_inflated();
    int fd = sym_debug_cache_open(copy, build_id);
    assert_true(fd >= 0);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    off_t size = size_of_fd(fd);
    assert_true(size > 0);
    close(fd);
    fd = sym_debug_cache_open(copy, build_id);
    assert_true(fd >= 0);
    assert_int_equal(size_of_fd(fd), size);
    close(fd);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    /* Another modification time: another file as far as the cache knows. */
    struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
    assert_int_equal(utimensat(AT_FDCWD, copy, old, 0), 0);
    fd = sym_debug_cache_open(copy, build_id);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 2);
    /* Nothing to inflate: no copy. */
    assert_int_equal(sym_debug_cache_open(FX "fx_sym_plain", build_id), -1);
    assert_int_equal(nwarnings, 0);
}

static void test_the_thread_makes_the_copy_ahead(void **state)
{
    (void)state;
    configure_cache();
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s/ahead.debug", tmpdir);
    copy_to(debug_file, copy);
    unsigned long before = symbolizer_debug_files_inflated();
    sym_debug_cache_prefetch(copy, build_id);
    const struct timespec tick = { .tv_nsec = 10000000 };
    for (int i = 0; i < 1000 && symbolizer_debug_files_inflated() == before; i++)
        nanosleep(&tick, NULL);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    int fd = sym_debug_cache_open(copy, build_id);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    /* Asked again: already there, nothing queued. */
    sym_debug_cache_prefetch(copy, build_id);
    sym_debug_cache_shutdown();
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
}

static int cached_copies(void)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls %s/cache/debug | wc -l", tmpdir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = -1;
    assert_int_equal(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

/* Over the limit, the copy used least recently goes: opening a copy is a
 * use. */
static void test_the_least_recently_used_copy_goes_first(void **state)
{
    (void)state;
    configure_cache();
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
    snprintf(a, sizeof(a), "%s/a.debug", tmpdir);
    snprintf(b, sizeof(b), "%s/b.debug", tmpdir);
    snprintf(c, sizeof(c), "%s/c.debug", tmpdir);
    const char *const files[] = { a, b, c };
    for (int i = 0; i < 3; i++) {
        copy_to(debug_file, files[i]);
        struct timespec t[2] = { { .tv_sec = 1000000000 + i }, { .tv_sec = 1000000000 + i } };
        assert_int_equal(utimensat(AT_FDCWD, files[i], t, 0), 0);
    }
    int fd = sym_debug_cache_open(a, build_id);
    assert_true(fd >= 0);
    off_t one = size_of_fd(fd);
    close(fd);
    sym_debug_cache_set_limit((uint64_t)one * 2 + one / 2);   /* two copies fit */
    const struct timespec tick = { .tv_nsec = 20000000 };
    nanosleep(&tick, NULL);
    fd = sym_debug_cache_open(b, build_id);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cached_copies(), 2);
    nanosleep(&tick, NULL);
    fd = sym_debug_cache_open(a, build_id);   /* a is used again: b is now the oldest */
    assert_true(fd >= 0);
    close(fd);
    nanosleep(&tick, NULL);
    unsigned long before = symbolizer_debug_files_inflated();
    fd = sym_debug_cache_open(c, build_id);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cached_copies(), 2);
    fd = sym_debug_cache_open(a, build_id);    /* still there: no inflation */
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 1);
    fd = sym_debug_cache_open(b, build_id);    /* gone: inflated again */
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symbolizer_debug_files_inflated() - before, 2);
    sym_debug_cache_set_limit(0);
}

static void test_a_directory_others_can_write_is_not_used(void **state)
{
    (void)state;
    char dir[PATH_MAX], why[256];
    snprintf(dir, sizeof(dir), "%s/shared", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    char debug_dir[PATH_MAX + 8];
    snprintf(debug_dir, sizeof(debug_dir), "%s/debug", dir);
    assert_int_equal(mkdir(debug_dir, 0777), 0);
    assert_int_equal(chmod(debug_dir, 0777), 0);
    assert_int_equal(sym_debug_cache_configure(dir, why, sizeof(why)), 0);
    assert_int_equal(nwarnings, 0);
    assert_int_equal(sym_debug_cache_open(debug_file, build_id), -1);
    assert_int_equal(sym_debug_cache_configure("relative/dir", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not an absolute path"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_copy_has_the_sections_libelf_inflates),
        T(test_a_file_without_compressed_sections_is_refused),
        T(test_a_damaged_stream_is_refused),
        T(test_stopping_abandons_the_copy),
        T(test_a_copy_is_made_once_and_remade_when_the_file_changes),
        T(test_the_thread_makes_the_copy_ahead),
        T(test_the_least_recently_used_copy_goes_first),
        T(test_a_directory_others_can_write_is_not_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
