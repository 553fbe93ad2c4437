/* Which allocator entry points memtrace hooked in a process, in which
 * module and how (a breakpoint, or --fast's stub): the report's "hooks",
 * so a user can see what memtrace watched. */
#ifndef MT_HOOK_LIST_H
#define MT_HOOK_LIST_H
#include <stdbool.h>
#include <stddef.h>
#include "alloc_fn.h"
#include "mt_addr.h"

struct hook_record {
    mt_addr addr;
    enum alloc_fn fn;
    const char *symbol;        /* as alloc_fn_symbol names it (static) */
    char *module;              /* the defining module's path */
    bool on_stub;              /* --fast: moved to its stub; else a breakpoint */
};

struct hook_list {
    struct hook_record *items; /* in the order they were hooked */
    size_t n, cap;
};

void hook_list_destroy(struct hook_list *l);
int hook_list_copy(struct hook_list *dst, const struct hook_list *src);
/* Notes a hook at addr (once per address). Returns 0 or -ENOMEM. */
int hook_list_add(struct hook_list *l, mt_addr addr, enum alloc_fn fn, const char *symbol,
                  const char *module);
/* The hook at addr moved to a stub, or back to a breakpoint. */
void hook_list_set_stub(struct hook_list *l, mt_addr addr, bool on_stub);

#endif
