/* The unwind-table check of tracee/eh_frame_hdr.c on any file: the input
 * is the whole ELF file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "eh_frame_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct eh_buffer b = { .bytes = data, .len = size };
    struct eh_file f = { .size = size, .read = eh_buffer_read, .ctx = &b };
    char why[256];
    enum eh_verdict v = eh_frame_hdr_check(&f, why, sizeof(why));
    if (v != EH_TABLES_USABLE && why[0] == '\0')
        abort(); /* a refusal always says why */
    /* a read callback that gives less than the size it claims */
    struct eh_buffer half = { .bytes = data, .len = size / 2 };
    struct eh_file cut = { .size = size, .read = eh_buffer_read, .ctx = &half };
    (void)eh_frame_hdr_check(&cut, why, sizeof(why));
    return 0;
}
