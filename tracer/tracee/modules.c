/* The module table (modules.h) and the link-map diff. */
#include "modules.h"
#include "elf_file.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void modules_init(struct module_table *t)
{
    memset(t, 0, sizeof(*t));
}

void module_close_elf(struct module *m)
{
    if (m->elf) {
        elf_file_close(m->elf);
        free(m->elf);
        m->elf = NULL;
    }
}

static void module_free(struct module *m)
{
    module_close_elf(m);
    free(m->name);
    free(m->path);
}

void modules_destroy(struct module_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        module_free(&t->items[i]);
    free(t->items);
    modules_init(t);
}

int modules_append(struct module_table *t, const struct module *m)
{
    struct module *items = mt_grow(t->items, &t->cap, t->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    t->items = items;
    t->items[t->n++] = *m;
    return 0;
}

const struct module *modules_at(const struct module_table *t, mt_addr addr)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct module *m = &t->items[i];
        if (m->present && addr >= m->lo && addr < m->hi)
            return m;
    }
    return NULL;
}

int modules_copy(struct module_table *dst, const struct module_table *src)
{
    modules_init(dst);
    for (size_t i = 0; i < src->n; i++) {
        struct module m = src->items[i];
        m.name = strdup(m.name);
        m.path = strdup(m.path);
        m.elf = NULL;
        if (!m.name || !m.path || modules_append(dst, &m) != 0) {
            module_free(&m);
            modules_destroy(dst);
            return -ENOMEM;
        }
        if (m.present && src->items[i].elf) {
            /* Without its ELF file the child's module cannot be hooked; it
             * still symbolizes (the symbolizer has its own copy). */
            struct module *d = &dst->items[dst->n - 1];
            char why[256];
            d->elf = calloc(1, sizeof(*d->elf));
            if (d->elf && elf_file_reopen(d->elf, src->items[i].elf, why, sizeof(why)) != 0) {
                free(d->elf);
                d->elf = NULL;
            }
        }
    }
    return 0;
}

/* The present module for a link-map entry: the same link_map, loaded at
 * the same place. The name is not part of it: every rendezvous reports
 * each load and unload, so a link_map reused by another library is seen
 * leaving first, and what a name in target memory says proves nothing. */
static struct module *find_present(struct module_table *t, const struct linkmap_entry *e)
{
    for (size_t i = 0; i < t->n; i++) {
        struct module *m = &t->items[i];
        if (m->present && m->link_map == e->lm && m->dynamic == e->dynamic && m->bias == e->bias)
            return m;
    }
    return NULL;
}

int modules_sync(struct module_table *t, const struct linkmap_entry *entries, size_t n,
                 const struct module_events *ev)
{
    /* The new table: [present modules in link-map order, absent ones]. */
    size_t cap = t->n + n + 1;
    struct module *next = calloc(cap, sizeof(*next));
    bool *kept = calloc(t->n + 1, sizeof(*kept));
    if (!next || !kept) {
        free(next);
        free(kept);
        return -ENOMEM;
    }
    size_t k = 0;
    int changes = 0;
    for (size_t i = 0; i < n; i++) {
        struct module *old = find_present(t, &entries[i]);
        if (old && !kept[old - t->items]) {
            kept[old - t->items] = true;
            next[k++] = *old;
        } else if (ev->open(ev->ctx, &entries[i], &next[k]) == 0) {
            k++;
            changes++;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        if (kept[i])
            continue;
        struct module m = t->items[i];
        if (m.present) {
            changes++;
            m.present = false;
            if (ev->closed)
                ev->closed(ev->ctx, &m);
            module_close_elf(&m);
        }
        next[k++] = m;
    }
    free(kept);
    free(t->items);
    t->items = next;
    t->n = k;
    t->cap = cap;
    return changes;
}
