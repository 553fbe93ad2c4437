/* Turns target code addresses into function, source file and line with libdw.
 * Modules are added explicitly (path + load bias), so symbolization works
 * after the target is gone and in unit tests. Each address is looked up once:
 * results are memoized. The only user of libdw. */
#ifndef MT_SYMBOLIZER_H
#define MT_SYMBOLIZER_H
#include <stdbool.h>
#include <stddef.h>
#include "mt_addr.h"

struct sym_frame {
    mt_addr address;         /* as recorded (a return address for callers) */
    const char *function;    /* NULL when unknown */
    const char *file;        /* as the line table records it; NULL when unknown */
    int line;                /* 0 when unknown */
    const char *module;      /* path of the module; NULL when no module covers address */
    mt_addr module_offset;   /* address - module load address */
};

struct symbolizer;

struct symbolizer *symbolizer_create(void);
void symbolizer_destroy(struct symbolizer *s);
/* Adds the ELF file at path, loaded with bias (0 for non-PIE executables).
 * Returns 0 or -1 (with a warning in why) when libdw cannot use the file. */
int symbolizer_add_module(struct symbolizer *s, const char *path, mt_addr bias, char *why,
                          size_t why_len);
/* Fills *out for ip; return_address selects ip-1 for the line lookup so a
 * call's line is reported, not the next statement's. Strings stay valid until
 * symbolizer_destroy. */
void symbolizer_lookup(struct symbolizer *s, mt_addr ip, bool return_address, struct sym_frame *out);
/* Number of distinct addresses actually resolved (for --stats and tests). */
unsigned long symbolizer_lookups(const struct symbolizer *s);

#endif
