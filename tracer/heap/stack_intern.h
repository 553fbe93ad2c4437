/* Stack interning: an array of instruction pointers becomes one small id,
 * so a million allocations from one call site cost one stored stack. */
#ifndef MT_STACK_INTERN_H
#define MT_STACK_INTERN_H
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"

#define STACK_NONE 0u   /* id of "no stack recorded" */

struct stack_intern {
    mt_addr *ips;            /* all stacks' frames, back to back */
    size_t nips, ips_cap;
    struct stack_rec { uint64_t hash; uint32_t offset_lo; uint16_t offset_hi; uint16_t depth; } *recs;
    size_t nrecs, recs_cap;  /* recs[0] is the empty STACK_NONE */
    uint32_t *buckets;       /* open addressing over ids; 0 = empty */
    size_t nbuckets;
};

int stack_intern_init(struct stack_intern *si);
void stack_intern_destroy(struct stack_intern *si);
int stack_intern_copy(struct stack_intern *dst, const struct stack_intern *src);
/* Returns the id of ips[0..depth) (depth 0 gives STACK_NONE), or 0 with
 * errno = ENOMEM. Identical arrays always give the same id. */
uint32_t stack_intern_add(struct stack_intern *si, const mt_addr *ips, unsigned depth);
/* Frames of id; *depth receives their count. */
const mt_addr *stack_intern_get(const struct stack_intern *si, uint32_t id, unsigned *depth);
/* How many stacks there are: their ids are 1..count (0 is STACK_NONE). */
size_t stack_intern_count(const struct stack_intern *si);
/* Gives back the spare capacity and the id index of a table that takes no
 * new stacks for now (its process ended; its ids stay valid for the
 * report). A later add rebuilds the index. */
void stack_intern_trim(struct stack_intern *si);

#endif
