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
    /* C++'s operators, each with its nothrow, sized and aligned variants
     * (alloc_fn_symbol lists the mangled names). */
    FN_NEW,
    FN_NEW_ARRAY,
    FN_DELETE,
    FN_DELETE_ARRAY,
    /* A block found in the heap when memtrace attached (the census): some
     * allocation function made it, which one is not known. */
    FN_UNKNOWN,
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

/* The short name reports and JSON use: "malloc", "new[]", "delete". */
const char *alloc_fn_name(enum alloc_fn fn);
/* As a sentence says it: "malloc()", "operator new[]". */
const char *alloc_fn_call_name(enum alloc_fn fn);
/* Returns true and sets *fn when name is one of the family. */
bool alloc_fn_from_name(const char *name, enum alloc_fn *fn);

/* The symbols memtrace hooks, in the order they are resolved: when two
 * share an address (aligned_alloc and memalign in glibc 2.36) the earlier
 * one labels the hook. */
struct alloc_fn_symbol {
    const char *name;          /* as the dynamic linker binds it (mangled) */
    enum alloc_fn fn;
    /* An allocator library's own API (mallocx, tc_malloc, mi_zalloc), with
     * the arguments of fn: hooked unless it only jumps to another entry
     * point (mi_free_size to mi_free), whose hook then sees the call. */
    bool library_api;
};
/* Symbol i of the list, or NULL past its end. */
const struct alloc_fn_symbol *alloc_fn_symbol(unsigned i);

/* C++'s operators: new, new[], delete, delete[]. */
static inline bool alloc_fn_is_cxx(unsigned fn) { return fn >= FN_NEW && fn <= FN_DELETE_ARRAY; }
/* free and the delete operators: complete at their entry. */
static inline bool alloc_fn_is_free(enum alloc_fn fn)
{
    return fn == FN_FREE || fn == FN_DELETE || fn == FN_DELETE_ARRAY;
}
/* free() needs no return trap: everything is known at entry. The delete
 * operators get one so that the free they end in is seen as theirs. */
static inline bool alloc_fn_needs_return(enum alloc_fn fn) { return fn != FN_FREE; }
/* Whether a block made by alloc may be released by release without a
 * mismatched-deallocation error (memcheck's pairs: malloc's family with
 * free and realloc, new with delete, new[] with delete[]). */
bool alloc_fn_pair_matches(enum alloc_fn alloc, enum alloc_fn release);
/* mmap, munmap, mremap, shmget, shmat, shmdt, shmctl. */
static inline bool alloc_fn_is_mapping(enum alloc_fn fn) { return fn >= FN_MMAP && fn <= FN_SHMCTL; }
/* execve, ptrace: hooked to watch the process, not its memory. */
static inline bool alloc_fn_is_watch_point(enum alloc_fn fn) { return fn >= FN_EXECVE; }

#endif
