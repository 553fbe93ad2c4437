/* int3 planting and the overlay of original bytes. An int3 stays in memory
 * for as long as its hook is installed; threads step over it by emulation or
 * through an out-of-line slot, never by removing it. */
#include "breakpoint.h"
#include "diag.h"
#include "grow.h"
#include "scratch.h"
#include "remote.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t INT3 = ARCH_BREAKPOINT_INSN;

void bp_table_init(struct bp_table *t)
{
    memset(t, 0, sizeof(*t));
}

void bp_table_destroy(struct bp_table *t)
{
    free(t->items);
    memset(t, 0, sizeof(*t));
}

int bp_table_copy(struct bp_table *dst, const struct bp_table *src)
{
    *dst = *src;
    dst->items = NULL;
    if (src->cap == 0)
        return 0;
    dst->items = malloc(src->cap * sizeof(*src->items));
    if (!dst->items)
        return -ENOMEM;
    memcpy(dst->items, src->items, src->n * sizeof(*src->items));
    return 0;
}

/* Index of the first item with addr >= a. */
static size_t lower_bound(const struct bp_table *t, mt_addr a)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->items[mid].addr < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct breakpoint *bp_find(const struct bp_table *t, mt_addr addr)
{
    size_t i = lower_bound(t, addr);
    return i < t->n && t->items[i].addr == addr ? &t->items[i] : NULL;
}

void bp_overlay_original(const struct bp_table *t, mt_addr addr, uint8_t *buf, size_t len)
{
    for (size_t i = lower_bound(t, addr); i < t->n && t->items[i].addr < addr + len; i++)
        buf[t->items[i].addr - addr] = t->items[i].orig[0];
}

int bp_read_code(const struct bp_table *t, const struct remote *r, pid_t pid, mt_addr addr, void *buf, size_t len)
{
    int err = remote_read(r, pid, addr, buf, len);
    if (!err)
        bp_overlay_original(t, addr, buf, len);
    return err;
}

int bp_plant(struct bp_table *t, const struct remote *r, pid_t tid, struct scratch *scratch, struct breakpoint *bp,
             char *why, size_t why_len)
{
    if (bp_find(t, bp->addr))
        return 0;
    /* Near the end of a mapping fewer than 15 bytes may be readable. */
    memset(bp->orig, 0, sizeof(bp->orig));
    ssize_t got = remote_read_partial(r, tid, bp->addr, bp->orig, sizeof(bp->orig));
    if (got <= 0) {
        snprintf(why, why_len, "cannot read code at 0x%" PRIxADDR " in pid %d", bp->addr, tid);
        return got < 0 ? (int)got : -EFAULT;
    }
    bp_overlay_original(t, bp->addr, bp->orig, (size_t)got);
    if (bp->orig[0] == INT3) {
        snprintf(why, why_len, "0x%" PRIxADDR " in pid %d already holds an int3 (another debugger?)",
                 bp->addr, tid);
        return -EBUSY;
    }
    if (insn_plan_step(bp->orig, (size_t)got, bp->addr, &bp->step, why, why_len) != 0)
        return -ENOTSUP;
    int err;
    if (bp->step.kind == STEP_OUT_OF_LINE) {
        uint8_t slot[INSN_SLOT_SIZE];
        mt_addr slot_addr;
        if ((err = scratch_alloc(scratch, sizeof(slot), &slot_addr))) {
            snprintf(why, why_len, "no room left in the scratch page of pid %d", tid);
            return err;
        }
        if (insn_build_slot(bp->orig, bp->step.len, bp->addr, slot_addr, slot, why, why_len) != 0)
            return -ENOTSUP;
        /* The slot must be complete before any thread can trap on the int3. */
        if ((err = remote_poke_text(r, tid, slot_addr, slot, sizeof(slot)))) {
            snprintf(why, why_len, "cannot write slot 0x%" PRIxADDR " in pid %d: %s", slot_addr,
                     tid, strerror(-err));
            return err;
        }
        bp->step.target = slot_addr;
    }
    struct breakpoint *items = mt_grow(t->items, &t->cap, t->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    t->items = items;
    if ((err = remote_poke_text(r, tid, bp->addr, &INT3, 1))) {
        snprintf(why, why_len, "cannot write int3 at 0x%" PRIxADDR " in pid %d: %s", bp->addr, tid,
                 strerror(-err));
        return err;
    }
    size_t i = lower_bound(t, bp->addr);
    memmove(&t->items[i + 1], &t->items[i], (t->n - i) * sizeof(*t->items));
    t->items[i] = *bp;
    t->n++;
    return 0;
}

int bp_unplant_all(const struct bp_table *t, const struct remote *r, pid_t tid)
{
    int first_err = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct breakpoint *bp = &t->items[i];
        /* Only over memtrace's own int3: a program that patched its code
         * meanwhile (a hot patch, an inline hook of malloc) keeps its bytes. */
        uint8_t now;
        int err = remote_read(r, tid, bp->addr, &now, 1);
        if (!err && now != INT3) {
            mt_warn("tid %d: the code at 0x%" PRIxADDR " was changed by the program while "
                    "traced; its original byte is not written back over the change",
                    tid, bp->addr);
            continue;
        }
        if (!err)
            err = remote_poke_text(r, tid, bp->addr, bp->orig, 1);
        if (err && !first_err)
            first_err = err;
    }
    return first_err;
}

void bp_forget_range(struct bp_table *t, mt_addr lo, mt_addr hi)
{
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i].addr < lo || t->items[i].addr >= hi)
            t->items[j++] = t->items[i];
    }
    t->n = j;
}
