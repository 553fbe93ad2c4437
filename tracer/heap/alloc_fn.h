/* The functions memtrace hooks: the allocation family, whose arguments and
 * result become allocation events, and the mapping family (mmap, SysV shared
 * memory), whose calls become mapping events. */
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
    /* The mapping family: only calls made by the program itself count
     * (hooks.c), never the C library's own (malloc's mmaps, thread stacks). */
    FN_MMAP,
    FN_MUNMAP,
    FN_MREMAP,
    FN_SHMGET,
    FN_SHMAT,
    FN_SHMDT,
    FN_SHMCTL,
    /* Not an allocator: the last moment of a process image, when the calls
     * its return stubs recorded are drained (hooks.c). Never reported. */
    FN_EXECVE,
    /* Not an allocator either: a process asking to be traced by another
     * (PTRACE_TRACEME) or to trace one (PTRACE_ATTACH, PTRACE_SEIZE), which
     * memtrace must hand over before the kernel refuses it (session/). */
    FN_PTRACE,
    FN_COUNT
};

const char *alloc_fn_name(enum alloc_fn fn);
/* Returns true and sets *fn when name is one of the family. */
bool alloc_fn_from_name(const char *name, enum alloc_fn *fn);
/* free() needs no return trap: everything is known at entry. */
static inline bool alloc_fn_needs_return(enum alloc_fn fn) { return fn != FN_FREE; }
/* mmap, munmap, mremap, shmget, shmat, shmdt, shmctl. */
static inline bool alloc_fn_is_mapping(enum alloc_fn fn) { return fn >= FN_MMAP && fn <= FN_SHMCTL; }
/* execve, ptrace: hooked to watch the process, not its memory. */
static inline bool alloc_fn_is_watch_point(enum alloc_fn fn) { return fn >= FN_EXECVE; }

#endif
