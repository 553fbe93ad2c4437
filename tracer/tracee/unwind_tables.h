/* Per-file verdicts on unwind tables (eh_frame_hdr.h): whether libunwind
 * may read a module's .eh_frame_hdr. A file is checked once per memtrace
 * run, whatever the number of processes mapping it or of traps through it;
 * a corrupt one is named in one warning. */
#ifndef MT_UNWIND_TABLES_H
#define MT_UNWIND_TABLES_H
#include <stdbool.h>

/* Whether the unwind tables of the ELF file at path are safe to hand to
 * libunwind. False (after a warning naming the file, the first time) when
 * they are corrupt or the file cannot be read. */
bool unwind_tables_usable(const char *path);

/* Forgets every verdict (tests). */
void unwind_tables_forget(void);

#endif
