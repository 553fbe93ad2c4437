/* What hooks.c shares with fast_hooks.c: the trap path and the ring path
 * turn calls into the same events by the same rules. */
#ifndef MT_HOOKS_INTERNAL_H
#define MT_HOOKS_INTERNAL_H
#include "hooks.h"

/* name's definition in m, as the dynamic linker (or a static program's
 * own calls) binds it. */
bool hooks_find_definition(const struct process *p, const struct module *m, const char *name,
                           uint64_t *value, uint64_t *size);
/* The allocator's own code in m: its whole text for a shared C library
 * unless core_only, else the span of malloc.c's entry points. */
void hooks_allocator_span(const struct process *p, const struct module *m, bool core_only,
                          mt_addr *lo, mt_addr *hi);
uint64_t hooks_requested_size(const struct pending_call *c);
/* Whether ra is in a shared library that defines an allocator function
 * memtrace hooked (jemalloc, mimalloc, tcmalloc; not the C library, whose
 * own mappings are not events at all, nor the program): a mapping it makes
 * is one of its arenas. */
bool hooks_in_allocator_library(const struct process *p, mt_addr ra);
/* A mapping call returning to ra, inside the module that defines the
 * function: the C library's own (malloc's arenas, thread stacks)? In a
 * static program the library is the program's module too, and only code
 * with line information (the program's, built with -g; libc.a has none)
 * is the program's. */
bool hooks_library_mapping_call(struct process *p, mt_addr ra);
/* --min-size and --sample. */
bool hooks_wants_stack(const struct trap_ctx *ctx, struct process *p, uint64_t size);
/* --show-mismatched-frees, and no mismatch between new and new[] where
 * the program's allocator makes them one function. */
bool hooks_mismatch_shown(const struct trap_ctx *ctx, const struct process *p,
                          const struct alloc_error *err);
int hooks_report_bad_free(const struct trap_ctx *ctx, struct process *p, struct alloc_error *err);
/* Fills err->where; thread_number: the thread whose stack pointer is sp
 * (0: not known). */
void hooks_describe_bad_pointer(struct process *p, unsigned thread_number, mt_addr sp,
                                struct alloc_error *err);

#endif
