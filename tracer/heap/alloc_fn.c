/* Names of the allocation family, in the order hooks are resolved: when two
 * names share an address (aligned_alloc and memalign in glibc 2.36) the
 * earlier name labels the breakpoint. */
#include "alloc_fn.h"
#include <string.h>

static const char *const names[FN_COUNT] = {
    [FN_MALLOC] = "malloc",
    [FN_CALLOC] = "calloc",
    [FN_REALLOC] = "realloc",
    [FN_REALLOCARRAY] = "reallocarray",
    [FN_FREE] = "free",
    [FN_POSIX_MEMALIGN] = "posix_memalign",
    [FN_ALIGNED_ALLOC] = "aligned_alloc",
    [FN_MEMALIGN] = "memalign",
    [FN_VALLOC] = "valloc",
    [FN_PVALLOC] = "pvalloc",
    [FN_MMAP] = "mmap",
    [FN_MUNMAP] = "munmap",
    [FN_MREMAP] = "mremap",
    [FN_SHMGET] = "shmget",
    [FN_SHMAT] = "shmat",
    [FN_SHMDT] = "shmdt",
    [FN_SHMCTL] = "shmctl",
    [FN_EXECVE] = "execve",
    [FN_PTRACE] = "ptrace",
};

const char *alloc_fn_name(enum alloc_fn fn)
{
    return (unsigned)fn < FN_COUNT ? names[fn] : "?";
}

bool alloc_fn_from_name(const char *name, enum alloc_fn *fn)
{
    for (int i = 0; i < FN_COUNT; i++) {
        if (strcmp(names[i], name) == 0) {
            *fn = (enum alloc_fn)i;
            return true;
        }
    }
    return false;
}
