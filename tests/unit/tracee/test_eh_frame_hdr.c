/* The unwind-table check on a small ELF image built here (one PT_LOAD, a
 * PT_GNU_EH_FRAME, .eh_frame with one CIE and two FDEs, a section header for
 * .eh_frame) and on every way of spoiling it; on the real modules of this
 * process; and the per-file verdict cache with its one warning per file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "eh_frame_hdr.h"
#include "unwind_tables.h"
#include "diag.h"

/* The image's layout: file offsets are link-time addresses. */
enum {
    PHDRS = 64,       /* PT_LOAD, PT_GNU_EH_FRAME, PT_DYNAMIC (type 0 unless asked) */
    EH_FRAME = 0x100, /* CIE at 0x100, FDEs at 0x110 and 0x124, terminator at 0x138 */
    FDE1 = 0x110,
    FDE2 = 0x124,
    EH_FRAME_END = 0x13c,
    HDR = 0x140, /* .eh_frame_hdr: 12 bytes, then 2 entries */
    HDR_SIZE = 28,
    DYNAMIC = 0x160, /* two Elf64_Dyn: DT_PLTGOT, DT_NULL */
    LOAD_END = 0x180,
    SHDRS = 0x180, /* null section, .eh_frame */
    IMAGE_SIZE = 0x200,
};

static uint8_t image[IMAGE_SIZE];

static void put16(size_t off, uint16_t v)
{
    memcpy(image + off, &v, 2);
}

static void put32(size_t off, uint32_t v)
{
    memcpy(image + off, &v, 4);
}

static void put64(size_t off, uint64_t v)
{
    memcpy(image + off, &v, 8);
}

static void put_phdr(unsigned i, uint32_t type, uint64_t off, uint64_t filesz)
{
    size_t p = PHDRS + 56 * i;
    put32(p, type);
    put64(p + 8, off);
    put64(p + 16, off); /* vaddr */
    put64(p + 32, filesz);
    put64(p + 40, filesz);
}

static void build_image(void)
{
    memset(image, 0, sizeof(image));
    memcpy(image, "\177ELF\2\1\1", 7); // NOLINT(bugprone-not-null-terminated-result): bytes, not a string
    put16(16, 3);     /* ET_DYN */
    put16(18, 62);    /* EM_X86_64 */
    put64(32, PHDRS); /* e_phoff */
    put64(40, SHDRS); /* e_shoff */
    put16(54, 56);
    put16(56, 3); /* e_phnum */
    put16(58, 64);
    put16(60, 2); /* e_shnum */
    put_phdr(0, 1, 0, LOAD_END);
    put_phdr(1, 0x6474e550, HDR, HDR_SIZE);
    put_phdr(2, 0, DYNAMIC, 32); /* PT_NULL until a test makes it PT_DYNAMIC */
    /* .eh_frame: CIE (length 12, id 0), two FDEs (length 16, CIE pointer), terminator */
    put32(EH_FRAME, 12);
    put32(EH_FRAME + 4, 0);
    put32(FDE1, 16);
    put32(FDE1 + 4, FDE1 + 4 - EH_FRAME);
    put32(FDE2, 16);
    put32(FDE2 + 4, FDE2 + 4 - EH_FRAME);
    put32(0x138, 0);
    /* .eh_frame_hdr */
    image[HDR] = 1;
    image[HDR + 1] = 0x1b; /* pcrel | sdata4 */
    image[HDR + 2] = 0x03; /* udata4 */
    image[HDR + 3] = 0x3b; /* datarel | sdata4 */
    put32(HDR + 4, (uint32_t)(EH_FRAME - (HDR + 4)));
    put32(HDR + 8, 2);
    put32(HDR + 12, 0x1000 - HDR);
    put32(HDR + 16, (uint32_t)(FDE1 - HDR));
    put32(HDR + 20, 0x1010 - HDR);
    put32(HDR + 24, (uint32_t)(FDE2 - HDR));
    /* dynamic: DT_PLTGOT, DT_NULL */
    put64(DYNAMIC, 3);
    put64(DYNAMIC + 8, 0x3000);
    /* section headers: SHT_NULL, .eh_frame (SHT_PROGBITS) */
    put32(SHDRS + 64 + 4, 1);
    put64(SHDRS + 64 + 16, EH_FRAME);
    put64(SHDRS + 64 + 24, EH_FRAME);
    put64(SHDRS + 64 + 32, EH_FRAME_END - EH_FRAME);
}

static char why[256];

static enum eh_verdict check_len(size_t len)
{
    struct eh_buffer b = { .bytes = image, .len = len };
    struct eh_file f = { .size = len, .read = eh_buffer_read, .ctx = &b };
    return eh_frame_hdr_check(&f, why, sizeof(why));
}

static enum eh_verdict check(void)
{
    return check_len(sizeof(image));
}

static void assert_corrupt(const char *reason)
{
    assert_int_equal(check(), EH_TABLES_CORRUPT);
    if (!strstr(why, reason))
        fail_msg("why is \"%s\", expected it to say \"%s\"", why, reason);
}

static int setup(void **state)
{
    (void)state;
    build_image();
    return 0;
}

static void test_valid_image_is_usable(void **state)
{
    (void)state;
    assert_int_equal(check(), EH_TABLES_USABLE);
    assert_string_equal(why, "");
}

static void test_no_eh_frame_hdr_is_usable(void **state)
{
    (void)state;
    put_phdr(1, 0, HDR, HDR_SIZE);
    put32(HDR + 8, 0x7ffffff0); /* no longer read by anyone */
    assert_int_equal(check(), EH_TABLES_USABLE);
}

static void test_version(void **state)
{
    (void)state;
    image[HDR] = 2;
    assert_corrupt("version 2");
}

static void test_table_encoding_libunwind_aborts_on(void **state)
{
    (void)state;
    image[HDR + 3] = 0x1b;
    assert_corrupt("search table has encoding 0x1b");
    build_image();
    image[HDR + 3] = 0xff; /* no search table at all */
    assert_corrupt("search table has encoding 0xff");
}

static void test_indirect_or_unknown_pointer_encodings(void **state)
{
    (void)state;
    image[HDR + 1] = 0x9b; /* indirect: libunwind would load through it in memtrace */
    assert_corrupt("eh_frame_ptr has encoding 0x9b");
    build_image();
    image[HDR + 1] = 0x3b; /* datarel: relative to a gp memtrace does not compute */
    assert_corrupt("eh_frame_ptr has encoding 0x3b");
    build_image();
    image[HDR + 2] = 0x0d; /* no such data format */
    assert_corrupt("fde_count has encoding 0xd");
    build_image();
    image[HDR + 2] = 0x13; /* a count is no address */
    assert_corrupt("fde_count has encoding 0x13");
    build_image();
    image[HDR + 2] = 0x0b; /* sdata4: fine while positive */
    assert_int_equal(check(), EH_TABLES_USABLE);
    put32(HDR + 8, 0xffffffff);
    assert_corrupt("fde_count is negative");
}

static void test_fde_count_against_section_size(void **state)
{
    (void)state;
    put32(HDR + 8, 0x7ffffff0);
    assert_corrupt("fde_count 2147483632 is beyond its 28 bytes");
    build_image();
    put32(HDR + 8, 3); /* one entry more than the section holds */
    assert_corrupt("fde_count 3 is beyond");
    build_image();
    put32(HDR + 8, 1); /* fewer is a shorter table, still valid */
    assert_int_equal(check(), EH_TABLES_USABLE);
    put32(HDR + 8, 0);
    assert_int_equal(check(), EH_TABLES_USABLE);
}

static void test_entries_must_be_sorted(void **state)
{
    (void)state;
    put32(HDR + 12, 0x2000 - HDR);
    assert_corrupt("search table entry 1 is out of order");
    build_image();
    put32(HDR + 20, 0x1000 - HDR); /* equal starts do not mislead a binary search */
    assert_int_equal(check(), EH_TABLES_USABLE);
}

static void test_entries_must_point_into_eh_frame(void **state)
{
    (void)state;
    put32(HDR + 24, 0x40000000);
    assert_corrupt("search table entry 1 points at 0x40000140, outside .eh_frame [0x100, 0x13c)");
    build_image();
    put32(HDR + 16, (uint32_t)(EH_FRAME - 4 - HDR)); /* just below */
    assert_corrupt("search table entry 0 points at 0xfc, outside .eh_frame");
    build_image();
    put32(HDR + 24, (uint32_t)(EH_FRAME_END - HDR)); /* just past the section, inside its segment */
    assert_corrupt("search table entry 1 points at 0x13c, outside .eh_frame [0x100, 0x13c)");
    build_image();
    /* without section headers the segment bounds .eh_frame: 0x13c holds a
     * zero length, which is no FDE either */
    put16(60, 0);
    put32(HDR + 24, (uint32_t)(EH_FRAME_END - HDR));
    assert_corrupt("search table entry 1 points at 0x13c, which is no FDE inside .eh_frame");
}

static void test_entries_must_name_fdes_with_cies(void **state)
{
    (void)state;
    put32(HDR + 16, (uint32_t)(EH_FRAME - HDR)); /* the CIE */
    assert_corrupt("search table entry 0 points at 0x100, which is no FDE");
    build_image();
    put32(FDE2, 0x1000); /* length past .eh_frame's end */
    assert_corrupt("search table entry 1 points at 0x124, which is no FDE");
    build_image();
    put32(FDE2 + 4, 0x1000); /* CIE pointer before .eh_frame */
    assert_corrupt("the FDE at 0x124 names no CIE inside .eh_frame");
    build_image();
    put32(FDE2 + 4, FDE2 + 4 - FDE1); /* "CIE" that is an FDE */
    assert_corrupt("the FDE at 0x124 names no CIE inside .eh_frame");
    build_image();
    put32(FDE1 + 4, 0); /* a CIE pointer of 0 makes it a CIE */
    assert_corrupt("which is no FDE");
}

static void test_eh_frame_ptr_outside_the_file(void **state)
{
    (void)state;
    put32(HDR + 4, 0x10000000);
    assert_corrupt("eh_frame_ptr 0x10000144 is outside the loaded file");
}

static void test_segments_and_headers_outside_the_file(void **state)
{
    (void)state;
    put64(32, IMAGE_SIZE - 100); /* 3 program headers do not fit */
    assert_corrupt("program headers (offset 0x19c, 3 of them) are not in the file");
    build_image();
    put64(PHDRS + 56 + 8, IMAGE_SIZE - 2); /* PT_GNU_EH_FRAME's p_offset */
    assert_corrupt(".eh_frame_hdr (file offset 0x1fe");
    build_image();
    put64(PHDRS + 56 + 8, HDR - 0x10); /* read from the file at one place, loaded at another */
    assert_corrupt("is not loaded from its file offset");
    build_image();
    put64(PHDRS + 32, HDR); /* the PT_LOAD ends where .eh_frame_hdr starts */
    put64(PHDRS + 40, HDR);
    assert_corrupt("is not loaded from its file offset");
}

static void test_dynamic_needs_an_end_in_the_file(void **state)
{
    (void)state;
    put32(PHDRS + 2 * 56, 2); /* PT_DYNAMIC */
    assert_int_equal(check(), EH_TABLES_USABLE);
    put64(DYNAMIC, 5); /* DT_STRTAB: scanning goes on, over zeros: DT_NULL */
    assert_int_equal(check(), EH_TABLES_USABLE);
    for (size_t off = DYNAMIC; off < IMAGE_SIZE; off += 16)
        put64(off, 5);
    assert_corrupt("PT_DYNAMIC at file offset 0x160 has no DT_NULL in the file");
}

static void test_not_elf64(void **state)
{
    (void)state;
    image[4] = 1; /* ELFCLASS32 */
    assert_corrupt("not a little-endian ELF64 file");
    assert_int_equal(check_len(10), EH_TABLES_CORRUPT);
    assert_int_equal(check_len(0), EH_TABLES_CORRUPT);
}

/* Every truncation of the image: never a read outside it (ASan would say),
 * never a usable verdict while the table is cut. */
static void test_every_truncation(void **state)
{
    (void)state;
    for (size_t len = 0; len < LOAD_END; len++)
        assert_int_equal(check_len(len), EH_TABLES_CORRUPT);
    /* the section headers may be cut: the segment then bounds .eh_frame */
    for (size_t len = LOAD_END; len <= IMAGE_SIZE; len++)
        assert_int_equal(check_len(len), EH_TABLES_USABLE);
}

static int file_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    return pread(*(int *)ctx, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static int check_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    unsigned *checked = data;
    const char *path = info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
    if (path[0] != '/')
        return 0; /* the vDSO */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct eh_file f = { .size = (uint64_t)st.st_size, .read = file_read, .ctx = &fd };
    enum eh_verdict v = eh_frame_hdr_check(&f, why, sizeof(why));
    if (v != EH_TABLES_USABLE)
        fail_msg("%s: %s", path, why);
    close(fd);
    ++*checked;
    return 0;
}

static void test_real_modules_are_usable(void **state)
{
    (void)state;
    unsigned checked = 0;
    dl_iterate_phdr(check_module, &checked);
    assert_true(checked >= 2); /* this program and libc at least */
}

struct warnings {
    unsigned n;
    char last[512];
};

static void count_warning(void *ctx, enum mt_diag_level level, const char *msg)
{
    struct warnings *w = ctx;
    assert_int_equal(level, MT_DIAG_WARNING);
    w->n++;
    snprintf(w->last, sizeof(w->last), "%s", msg);
}

static void write_image(const char *path)
{
    FILE *fh = fopen(path, "wb");
    assert_non_null(fh);
    assert_int_equal(fwrite(image, 1, sizeof(image), fh), sizeof(image));
    assert_int_equal(fclose(fh), 0);
}

static void test_verdicts_are_cached_and_warned_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_eh_frame_hdr.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[64], bad[64], other_name[64], missing[64], fifo[64];
    snprintf(good, sizeof(good), "%s/good", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);
    snprintf(other_name, sizeof(other_name), "%s/bad-link", dir);
    snprintf(missing, sizeof(missing), "%s/missing", dir);
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    write_image(good);
    image[HDR + 3] = 0x1b;
    write_image(bad);
    assert_int_equal(link(bad, other_name), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    struct warnings w = { 0 };
    mt_diag_set_handler(count_warning, &w);
    unwind_tables_forget();
    assert_true(unwind_tables_usable(good));
    assert_int_equal(w.n, 0);
    for (int i = 0; i < 3; i++)
        assert_false(unwind_tables_usable(bad));
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.last, bad));
    assert_non_null(strstr(w.last, "search table has encoding 0x1b"));
    /* the same file under another name: the same verdict, no new warning */
    assert_false(unwind_tables_usable(other_name));
    assert_int_equal(w.n, 1);
    /* a file replaced on disk is checked again */
    build_image();
    assert_int_equal(unlink(bad), 0);
    write_image(bad);
    assert_true(unwind_tables_usable(bad));
    assert_int_equal(w.n, 1);
    /* a file gone from disk (deleted or replaced since it was mapped):
     * refused without a word, libunwind would find nothing there either */
    assert_false(unwind_tables_usable(missing));
    assert_false(unwind_tables_usable(missing));
    assert_int_equal(w.n, 1);
    /* files that cannot be checked: refused, named once, and a FIFO never blocks */
    assert_false(unwind_tables_usable(fifo));
    assert_int_equal(w.n, 2);
    assert_non_null(strstr(w.last, "not a regular file"));
    mt_diag_set_handler(NULL, NULL);
    unwind_tables_forget();

    unlink(good);
    unlink(bad);
    unlink(other_name);
    unlink(fifo);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_valid_image_is_usable, setup),
        cmocka_unit_test_setup(test_no_eh_frame_hdr_is_usable, setup),
        cmocka_unit_test_setup(test_version, setup),
        cmocka_unit_test_setup(test_table_encoding_libunwind_aborts_on, setup),
        cmocka_unit_test_setup(test_indirect_or_unknown_pointer_encodings, setup),
        cmocka_unit_test_setup(test_fde_count_against_section_size, setup),
        cmocka_unit_test_setup(test_entries_must_be_sorted, setup),
        cmocka_unit_test_setup(test_entries_must_point_into_eh_frame, setup),
        cmocka_unit_test_setup(test_entries_must_name_fdes_with_cies, setup),
        cmocka_unit_test_setup(test_eh_frame_ptr_outside_the_file, setup),
        cmocka_unit_test_setup(test_segments_and_headers_outside_the_file, setup),
        cmocka_unit_test_setup(test_dynamic_needs_an_end_in_the_file, setup),
        cmocka_unit_test_setup(test_not_elf64, setup),
        cmocka_unit_test_setup(test_every_truncation, setup),
        cmocka_unit_test(test_real_modules_are_usable),
        cmocka_unit_test_setup(test_verdicts_are_cached_and_warned_once, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
