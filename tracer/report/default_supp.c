/* The default suppressions (--no-default-suppressions turns them off). */
#include "suppress.h"
#include <string.h>

/* Kept minimal: each entry covers blocks the C runtime allocates for
 * itself and keeps by design, which a careful program cannot free (glibc
 * frees them only in __libc_freeres, which Valgrind runs at exit and
 * memtrace, reporting the heap as the program left it, does not).
 * Still-reachable blocks need no entry. */
static const char default_suppressions[] =
    "# The dynamic linker's own blocks that it keeps through a pointer it rounded up\n"
    "# for alignment (its _dl_find_object table at dlopen, dynamic TLS blocks):\n"
    "# possibly lost only by where malloc happened to put them, freed at dlclose\n"
    "# or never. A block ld.so allocates is never the program's own allocation.\n"
    "{\n"
    "   ld.so-aligned-bookkeeping\n"
    "   Memcheck:Leak\n"
    "   match-leak-kinds: possible\n"
    "   fun:malloc\n"
    "   obj:*/ld-linux-x86-64.so.2\n"
    "}\n";

const char supp_default_path[] = "<default>";

int supp_load_defaults(struct supp_set *s, char *why, size_t why_len)
{
    return supp_parse(s, supp_default_path, default_suppressions,
                      strlen(default_suppressions), why, why_len);
}
