/* Doubling growth of a malloc'd array, for the small tables that grow one
 * record at a time. */
#ifndef MT_GROW_H
#define MT_GROW_H
#include <stddef.h>
#include <stdlib.h>

/* Returns items with room for need elements of elem bytes (*cap updated),
 * or NULL when out of memory (items is then untouched). */
static inline void *mt_grow(void *items, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return items;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(items, n * elem);
    if (p)
        *cap = n;
    return p;
}

#endif
