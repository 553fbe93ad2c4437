/* The allocation family memtrace hooks: names, and how each one's arguments
 * and result become an allocation event. */
#ifndef MT_ALLOC_FN_H
#define MT_ALLOC_FN_H
#include <stdbool.h>

enum alloc_fn {
    FN_MALLOC,
    FN_CALLOC,
    FN_REALLOC,
    FN_REALLOCARRAY,
    FN_FREE,
    FN_POSIX_MEMALIGN,
    FN_ALIGNED_ALLOC,
    FN_MEMALIGN,
    FN_VALLOC,
    FN_PVALLOC,
    FN_COUNT
};

const char *alloc_fn_name(enum alloc_fn fn);
/* Returns true and sets *fn when name is one of the family. */
bool alloc_fn_from_name(const char *name, enum alloc_fn *fn);
/* free() needs no return trap: everything is known at entry. */
static inline bool alloc_fn_needs_return(enum alloc_fn fn) { return fn != FN_FREE; }

#endif
