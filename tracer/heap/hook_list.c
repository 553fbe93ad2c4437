/* The report's list of hooks (see hook_list.h). */
#include "hook_list.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hook_list_destroy(struct hook_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].module);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int hook_list_copy(struct hook_list *dst, const struct hook_list *src)
{
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->n; i++) {
        const struct hook_record *h = &src->items[i];
        if (hook_list_add(dst, h->addr, h->fn, h->symbol, h->module) != 0) {
            hook_list_destroy(dst);
            return -ENOMEM;
        }
        dst->items[i].on_stub = h->on_stub;
    }
    return 0;
}

int hook_list_add(struct hook_list *l, mt_addr addr, enum alloc_fn fn, const char *symbol,
                  const char *module)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].addr == addr)
            return 0;
    struct hook_record *items = mt_grow(l->items, &l->cap, l->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    l->items = items;
    char *copy = strdup(module ? module : "");
    if (!copy)
        return -ENOMEM;
    l->items[l->n++] = (struct hook_record){ .addr = addr, .fn = fn, .symbol = symbol,
                                             .module = copy };
    return 0;
}

void hook_list_set_stub(struct hook_list *l, mt_addr addr, bool on_stub)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].addr == addr)
            l->items[i].on_stub = on_stub;
}
