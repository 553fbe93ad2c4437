/* Whether a module's unwind tables are safe to hand to libunwind.
 *
 * libunwind-ptrace maps the module's file and trusts it: it walks the
 * program headers and PT_DYNAMIC without bounds, decodes .eh_frame_hdr's
 * pointers in memtrace's own address space (an "indirect" encoding makes it
 * load from a wild address), aborts on a search-table encoding it does not
 * know, and binary-searches fde_count entries wherever they point. A program
 * whose .eh_frame_hdr is corrupt still runs natively (only an unwinder reads
 * it), so memtrace checks the file first, here, without libunwind.
 *
 * Pure: the file is read through a callback, so the check runs on a buffer
 * in unit tests and fuzzing. */
#ifndef MT_EH_FRAME_HDR_H
#define MT_EH_FRAME_HDR_H
#include <stddef.h>
#include <stdint.h>

/* Reads len bytes at offset off of the file into buf. Returns 0, or -1 when
 * they cannot all be read. */
typedef int (*eh_file_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

struct eh_file {
    uint64_t size; /* bytes in the file */
    eh_file_read_fn read;
    void *ctx;
};

enum eh_verdict {
    EH_TABLES_USABLE,     /* libunwind may use them (a file without .eh_frame_hdr too) */
    EH_TABLES_CORRUPT,    /* why says what is wrong */
    EH_TABLES_UNREADABLE, /* the file could not be read (or memory ran out) */
};

/* Checks the ELF header, the program headers libunwind reads, and the
 * .eh_frame_hdr: version 1; encodings of eh_frame_ptr and fde_count that
 * are plain data (no indirection); a search table in datarel|sdata4, the
 * only encoding libunwind's binary search takes; fde_count entries inside
 * the section; entries sorted by start address; each pointing at an FDE
 * inside .eh_frame whose length fits and whose CIE pointer names a CIE
 * inside .eh_frame. */
enum eh_verdict eh_frame_hdr_check(const struct eh_file *f, char *why, size_t why_len);

/* An eh_file over a buffer (unit tests, fuzzing): ctx is a struct eh_buffer. */
struct eh_buffer {
    const uint8_t *bytes;
    size_t len;
};
int eh_buffer_read(void *ctx, uint64_t off, void *buf, size_t len);

#endif
