/* Separate debug files: the input is a binary and a debug file for it (the
 * first 4 bytes, little-endian, are the binary's length; the rest after the
 * binary is the debug file). The binary is written as DIR/prog, the debug
 * file as DIR/prog.debug and DIR/.debug/prog.debug, where a .gnu_debuglink
 * of "prog.debug" sends the search: the candidate checks of
 * symbols/debuginfo.c (ELF, build-id, CRC) run on it, then libdw. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_files.h"

#define BIAS 0x7f0000000000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t prog_len;
    memcpy(&prog_len, data, 4);
    data += 4, size -= 4;
    if (prog_len > size)
        prog_len = (uint32_t)size;
    fuzz_file("prog.debug", data + prog_len, size - prog_len);
    fuzz_file(".debug/prog.debug", data + prog_len, size - prog_len);
    const char *prog = fuzz_file("prog", data, prog_len);
    fuzz_symbolize(prog, BIAS, 0x1000, 0x1000, 0x2000);
    return 0;
}
