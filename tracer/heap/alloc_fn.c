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
    { "malloc", FN_MALLOC },
    { "calloc", FN_CALLOC },
    { "realloc", FN_REALLOC },
    { "reallocarray", FN_REALLOCARRAY },
    { "free", FN_FREE },
    { "posix_memalign", FN_POSIX_MEMALIGN },
    { "aligned_alloc", FN_ALIGNED_ALLOC },
    { "memalign", FN_MEMALIGN },
    { "valloc", FN_VALLOC },
    { "pvalloc", FN_PVALLOC },
    /* The Itanium C++ ABI's names, the same for libstdc++ and libc++. */
    { "_Znwm", FN_NEW },
    { "_ZnwmRKSt9nothrow_t", FN_NEW },
    { "_ZnwmSt11align_val_t", FN_NEW },
    { "_ZnwmSt11align_val_tRKSt9nothrow_t", FN_NEW },
    { "_Znam", FN_NEW_ARRAY },
    { "_ZnamRKSt9nothrow_t", FN_NEW_ARRAY },
    { "_ZnamSt11align_val_t", FN_NEW_ARRAY },
    { "_ZnamSt11align_val_tRKSt9nothrow_t", FN_NEW_ARRAY },
    { "_ZdlPv", FN_DELETE },
    { "_ZdlPvm", FN_DELETE },
    { "_ZdlPvRKSt9nothrow_t", FN_DELETE },
    { "_ZdlPvSt11align_val_t", FN_DELETE },
    { "_ZdlPvmSt11align_val_t", FN_DELETE },
    { "_ZdlPvSt11align_val_tRKSt9nothrow_t", FN_DELETE },
    { "_ZdaPv", FN_DELETE_ARRAY },
    { "_ZdaPvm", FN_DELETE_ARRAY },
    { "_ZdaPvRKSt9nothrow_t", FN_DELETE_ARRAY },
    { "_ZdaPvSt11align_val_t", FN_DELETE_ARRAY },
    { "_ZdaPvmSt11align_val_t", FN_DELETE_ARRAY },
    { "_ZdaPvSt11align_val_tRKSt9nothrow_t", FN_DELETE_ARRAY },
    { "mmap", FN_MMAP },
    { "munmap", FN_MUNMAP },
    { "mremap", FN_MREMAP },
    { "shmget", FN_SHMGET },
    { "shmat", FN_SHMAT },
    { "shmdt", FN_SHMDT },
    { "shmctl", FN_SHMCTL },
    { "execve", FN_EXECVE },
    { "ptrace", FN_PTRACE },
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
    default:
        return release != FN_DELETE && release != FN_DELETE_ARRAY;
    }
}
