/* The breakpoint engine of one address space: planting int3s, finding them,
 * and the out-of-line slots that let threads step over them while the int3
 * stays in memory. Reads of code through bp_read_code see original bytes. */
#ifndef MT_BREAKPOINT_H
#define MT_BREAKPOINT_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "emulate.h"
#include "insn.h"
#include "mt_addr.h"
#include "remote.h"

struct scratch;

enum bp_role {
    BP_HOOK_ENTRY,      /* entry of an allocation function */
    BP_RENDEZVOUS,      /* _dl_debug_state: the link map changed */
};

struct breakpoint {
    mt_addr addr;
    enum bp_role role;
    unsigned tag;                     /* BP_HOOK_ENTRY: the hooks layer's enum alloc_fn */
    uint64_t fn_size;                 /* BP_HOOK_ENTRY: the hooked function's size */
    unsigned allocator;               /* BP_HOOK_ENTRY: the heap model's number of the
                                       * library whose allocator it is, 0: any */
    mt_addr module_text_lo, module_text_hi; /* text of the module that defines it */
    mt_addr alloc_text_lo, alloc_text_hi;   /* the allocator's own code within it: a bad
                                             * free called from there is its housekeeping */
    uint8_t orig[INSN_MAX_LEN];       /* original bytes from addr on */
    struct step_plan step;            /* how a thread steps over the displaced instruction */
};

struct bp_table {
    struct breakpoint *items;         /* sorted by addr */
    size_t n, cap;
};

void bp_table_init(struct bp_table *t);
void bp_table_destroy(struct bp_table *t);
int bp_table_copy(struct bp_table *dst, const struct bp_table *src);

/* Plans the step-over, writes the out-of-line slot if one is needed, then
 * the int3. bp->addr, role, tag and module range must be set; the original
 * bytes are read from the target. Returns 0 or -errno with why filled. */
int bp_plant(struct bp_table *t, const struct remote *r, pid_t tid, struct scratch *scratch, struct breakpoint *bp,
             char *why, size_t why_len);
const struct breakpoint *bp_find(const struct bp_table *t, mt_addr addr);
/* Restores every original byte in the address space of tid (a forked child
 * before it runs, or detach). */
int bp_unplant_all(const struct bp_table *t, const struct remote *r, pid_t tid);
/* Forgets breakpoints in [lo, hi) (a module that was unloaded). */
void bp_forget_range(struct bp_table *t, mt_addr lo, mt_addr hi);
/* Replaces planted int3 bytes in buf (target bytes at addr) with originals. */
void bp_overlay_original(const struct bp_table *t, mt_addr addr, uint8_t *buf, size_t len);
/* remote_read with the overlay: code as it is on disk. */
int bp_read_code(const struct bp_table *t, const struct remote *r, pid_t pid, mt_addr addr, void *buf, size_t len);

#endif
