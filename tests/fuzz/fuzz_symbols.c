/* The ELF and DWARF handling of symbols/ on any file: the input is written
 * to a file, which memtrace's ELF reader opens (segments, symbols, bytes at
 * the entry point, the exec check) and the symbolizer adds as a module and
 * looks addresses up in (names, lines, inlined chains, from libdw). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elf_file.h"
#include "fuzz_files.h"
#include "symbolizer.h"

#define BIAS 0x400000u

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *prog = fuzz_file("prog", data, size);
    char why[512];
    (void)elf_file_check_executable(prog, why, sizeof(why));
    uint64_t lo = 0, hi = 0, entry = 0;
    struct elf_file ef;
    if (elf_file_open(&ef, prog, why, sizeof(why)) == 0) {
        uint64_t value, fsize;
        if (elf_file_find_function(&ef, "malloc", &value, &fsize))
            sink += value + fsize;
        if (elf_file_find_object(&ef, "_r_debug", &value))
            sink += value;
        elf_file_text_range(&ef, &lo, &hi);
        uint8_t code[16];
        if (elf_file_read_vaddr(&ef, ef.entry, code, sizeof(code)) == 0)
            sink += code[0];
        entry = ef.entry;
        elf_file_close(&ef);
    }
    fuzz_symbolize(prog, BIAS, entry, lo, hi);
    return 0;
}
