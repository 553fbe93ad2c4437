/* Names of the allocation family and the symbols memtrace hooks. */
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
    [FN_NEW] = "new",
    [FN_NEW_ARRAY] = "new[]",
    [FN_DELETE] = "delete",
    [FN_DELETE_ARRAY] = "delete[]",
    [FN_UNKNOWN] = "unknown",
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

static const struct alloc_fn_symbol symbols[] = {
    { "malloc", FN_MALLOC, false },
    { "calloc", FN_CALLOC, false },
    { "realloc", FN_REALLOC, false },
    { "reallocarray", FN_REALLOCARRAY, false },
    { "free", FN_FREE, false },
    { "posix_memalign", FN_POSIX_MEMALIGN, false },
    { "aligned_alloc", FN_ALIGNED_ALLOC, false },
    { "memalign", FN_MEMALIGN, false },
    { "valloc", FN_VALLOC, false },
    { "pvalloc", FN_PVALLOC, false },
    /* The Itanium C++ ABI's names, the same for libstdc++ and libc++. */
    { "_Znwm", FN_NEW, false },
    { "_ZnwmRKSt9nothrow_t", FN_NEW, false },
    { "_ZnwmSt11align_val_t", FN_NEW, false },
    { "_ZnwmSt11align_val_tRKSt9nothrow_t", FN_NEW, false },
    { "_Znam", FN_NEW_ARRAY, false },
    { "_ZnamRKSt9nothrow_t", FN_NEW_ARRAY, false },
    { "_ZnamSt11align_val_t", FN_NEW_ARRAY, false },
    { "_ZnamSt11align_val_tRKSt9nothrow_t", FN_NEW_ARRAY, false },
    { "_ZdlPv", FN_DELETE, false },
    { "_ZdlPvm", FN_DELETE, false },
    { "_ZdlPvRKSt9nothrow_t", FN_DELETE, false },
    { "_ZdlPvSt11align_val_t", FN_DELETE, false },
    { "_ZdlPvmSt11align_val_t", FN_DELETE, false },
    { "_ZdlPvSt11align_val_tRKSt9nothrow_t", FN_DELETE, false },
    { "_ZdaPv", FN_DELETE_ARRAY, false },
    { "_ZdaPvm", FN_DELETE_ARRAY, false },
    { "_ZdaPvRKSt9nothrow_t", FN_DELETE_ARRAY, false },
    { "_ZdaPvSt11align_val_t", FN_DELETE_ARRAY, false },
    { "_ZdaPvmSt11align_val_t", FN_DELETE_ARRAY, false },
    { "_ZdaPvSt11align_val_tRKSt9nothrow_t", FN_DELETE_ARRAY, false },
    /* jemalloc's non-standard API, and its names in a build with the je_
     * prefix (which leaves malloc to the C library). */
    { "mallocx", FN_MALLOC, true },
    { "rallocx", FN_REALLOC, true },
    { "dallocx", FN_FREE, true },
    { "sdallocx", FN_FREE, true },
    { "je_malloc", FN_MALLOC, true },
    { "je_calloc", FN_CALLOC, true },
    { "je_realloc", FN_REALLOC, true },
    { "je_free", FN_FREE, true },
    { "je_posix_memalign", FN_POSIX_MEMALIGN, true },
    { "je_aligned_alloc", FN_ALIGNED_ALLOC, true },
    { "je_memalign", FN_MEMALIGN, true },
    { "je_valloc", FN_VALLOC, true },
    { "je_mallocx", FN_MALLOC, true },
    { "je_rallocx", FN_REALLOC, true },
    { "je_dallocx", FN_FREE, true },
    { "je_sdallocx", FN_FREE, true },
    /* gperftools' tcmalloc. */
    { "tc_malloc", FN_MALLOC, true },
    { "tc_calloc", FN_CALLOC, true },
    { "tc_realloc", FN_REALLOC, true },
    { "tc_free", FN_FREE, true },
    { "tc_cfree", FN_FREE, true },
    { "tc_free_sized", FN_FREE, true },
    { "tc_memalign", FN_MEMALIGN, true },
    { "tc_posix_memalign", FN_POSIX_MEMALIGN, true },
    { "tc_valloc", FN_VALLOC, true },
    { "tc_pvalloc", FN_PVALLOC, true },
    { "tc_new", FN_NEW, true },
    { "tc_new_nothrow", FN_NEW, true },
    { "tc_newarray", FN_NEW_ARRAY, true },
    { "tc_newarray_nothrow", FN_NEW_ARRAY, true },
    { "tc_delete", FN_DELETE, true },
    { "tc_delete_sized", FN_DELETE, true },
    { "tc_delete_nothrow", FN_DELETE, true },
    { "tc_deletearray", FN_DELETE_ARRAY, true },
    { "tc_deletearray_sized", FN_DELETE_ARRAY, true },
    { "tc_deletearray_nothrow", FN_DELETE_ARRAY, true },
    /* mimalloc (mi_zalloc zeroes: malloc's arguments; mi_mallocn:
     * calloc's, uncleared; mi_reallocn: reallocarray's). */
    { "mi_malloc", FN_MALLOC, true },
    { "mi_zalloc", FN_MALLOC, true },
    { "mi_calloc", FN_CALLOC, true },
    { "mi_mallocn", FN_CALLOC, true },
    { "mi_realloc", FN_REALLOC, true },
    { "mi_reallocn", FN_REALLOCARRAY, true },
    { "mi_reallocarray", FN_REALLOCARRAY, true },
    { "mi_free", FN_FREE, true },
    { "mi_free_size", FN_FREE, true },
    { "mi_free_aligned", FN_FREE, true },
    { "mi_posix_memalign", FN_POSIX_MEMALIGN, true },
    { "mi_aligned_alloc", FN_ALIGNED_ALLOC, true },
    { "mi_memalign", FN_MEMALIGN, true },
    { "mi_valloc", FN_VALLOC, true },
    { "mi_pvalloc", FN_PVALLOC, true },
    { "mi_new", FN_NEW, true },
    { "mmap", FN_MMAP, false },
    { "munmap", FN_MUNMAP, false },
    { "mremap", FN_MREMAP, false },
    { "shmget", FN_SHMGET, false },
    { "shmat", FN_SHMAT, false },
    { "shmdt", FN_SHMDT, false },
    { "shmctl", FN_SHMCTL, false },
    { "execve", FN_EXECVE, false },
    { "ptrace", FN_PTRACE, false },
};

const char *alloc_fn_name(enum alloc_fn fn)
{
    return (unsigned)fn < FN_COUNT ? names[fn] : "?";
}

const char *alloc_fn_call_name(enum alloc_fn fn)
{
    static const char *const cxx[] = { "operator new", "operator new[]", "operator delete",
                                       "operator delete[]" };
    static const char *const c[FN_NEW] = {
        "malloc()", "calloc()", "realloc()", "reallocarray()", "free()", "posix_memalign()",
        "aligned_alloc()", "memalign()", "valloc()", "pvalloc()",
    };
    if ((unsigned)fn < FN_NEW)
        return c[fn];
    if (fn <= FN_DELETE_ARRAY)
        return cxx[fn - FN_NEW];
    if (fn == FN_UNKNOWN)
        return "a call made before attach";
    return alloc_fn_name(fn);
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

const struct alloc_fn_symbol *alloc_fn_symbol(unsigned i)
{
    return i < sizeof(symbols) / sizeof(symbols[0]) ? &symbols[i] : NULL;
}

bool alloc_fn_pair_matches(enum alloc_fn alloc, enum alloc_fn release)
{
    switch (alloc) {
    case FN_NEW:
        return release == FN_DELETE;
    case FN_NEW_ARRAY:
        return release == FN_DELETE_ARRAY;
    case FN_UNKNOWN:
        return true;
    default:
        return release != FN_DELETE && release != FN_DELETE_ARRAY;
    }
}
