/* Files for the fuzz targets that read files: one private directory per
 * fuzzing process, removed at exit. */
#ifndef MT_FUZZ_FILES_H
#define MT_FUZZ_FILES_H
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"

/* Writes size bytes to NAME in the directory (made on first use; NAME may
 * have one directory part) and returns its path. Aborts when it cannot. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

/* Adds path (loaded at bias) to a new symbolizer and looks up entry and a
 * few addresses of [lo, hi) (link-time), then destroys it. */
void fuzz_symbolize(const char *path, mt_addr bias, uint64_t entry, uint64_t lo, uint64_t hi);

#endif
