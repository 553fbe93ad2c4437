/* Rule-table stack walks (see frame_walk.h). */
#include "frame_walk.h"
#include <stdlib.h>
#include <string.h>

struct frame_rule_slot {
    mt_addr pc;                /* 0: empty */
    bool known;                /* false: no simple rule there */
    struct frame_rule rule;
};

void frame_rules_init(struct frame_rules *fr)
{
    memset(fr, 0, sizeof(*fr));
}

void frame_rules_destroy(struct frame_rules *fr)
{
    free(fr->slots);
    free(fr->beyond);
    fr->slots = NULL;
    fr->beyond = NULL;
    fr->cap = fr->n = 0;   /* the counters stay, for --stats */
}

void frame_rules_flush(struct frame_rules *fr)
{
    if (fr->slots)
        memset(fr->slots, 0, fr->cap * sizeof(*fr->slots));
    fr->n = 0;
}

static size_t slot_of(mt_addr pc, size_t cap)
{
    return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static struct frame_rule_slot *find(struct frame_rules *fr, mt_addr pc)
{
    for (size_t i = slot_of(pc, fr->cap);; i = (i + 1) & (fr->cap - 1))
        if (fr->slots[i].pc == pc || fr->slots[i].pc == 0)
            return &fr->slots[i];
}

static bool grow(struct frame_rules *fr)
{
    size_t cap = fr->cap ? fr->cap * 2 : 1024;
    struct frame_rule_slot *old = fr->slots, *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    size_t old_cap = fr->cap;
    fr->slots = slots;
    fr->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].pc)
            *find(fr, old[i].pc) = old[i];
    free(old);
    return true;
}

const struct frame_rule *frame_rule_at(struct frame_rules *fr, const struct module_table *mods,
                                       mt_addr pc)
{
    if ((fr->n + 1) * 4 > fr->cap * 3 && !grow(fr))
        return NULL;
    struct frame_rule_slot *s = find(fr, pc);
    if (s->pc != pc) {
        const struct module *m = modules_at(mods, pc);
        s->pc = pc;
        s->known = m && m->elf && elf_file_frame_rule(m->elf, pc - m->bias, &s->rule);
        fr->n++;
    }
    return s->known ? &s->rule : NULL;
}

#define BEYOND_CHUNK 4096u

/* A stack word: from the snapshot, else from the chunk read past it in
 * this walk, else a new chunk from addr up (one read, not one per word). */
static bool read_word(struct frame_rules *fr, const struct remote *r, pid_t pid,
                      const struct stack_snapshot *snap, mt_addr addr, uint64_t *out)
{
    if (stack_snapshot_u64(snap, addr, out) == 0)
        return true;
    if (!fr->beyond && !(fr->beyond = calloc(1, sizeof(*fr->beyond))))
        return remote_read(r, pid, addr, out, sizeof(*out)) == 0;
    if (stack_snapshot_u64(fr->beyond, addr, out) == 0)
        return true;
    struct stack_snapshot *b = fr->beyond;
    b->base = addr & ~(mt_addr)7;
    b->len = 0;
    ssize_t n = remote_read_partial(r, pid, b->base, b->buf, BEYOND_CHUNK);
    b->len = n > 0 ? (size_t)n : 0;
    return stack_snapshot_u64(b, addr, out) == 0;
}

unsigned frame_walk(struct frame_rules *fr, const struct module_table *mods,
                    const struct remote *r, pid_t pid, const mt_regs *regs,
                    const struct stack_snapshot *snap, mt_addr *ips, unsigned max,
                    size_t *needed)
{
    *needed = 8;
    uint64_t ret;
    if (max == 0 || stack_snapshot_u64(snap, regs->rsp, &ret) != 0 || ret == 0)
        return 0;
    fr->walks++;
    if (fr->beyond)
        fr->beyond->len = 0;   /* another stack, another moment */
    /* rbx, rbp, r12-r15 in the order of frame_rule.saved. */
    uint64_t saved[FRAME_SAVED_REGS] = { regs->rbx, regs->rbp, regs->r12,
                                         regs->r13, regs->r14, regs->r15 };
    mt_addr sp = regs->rsp + 8;   /* the caller's, after the call returns */
    unsigned n = 0;
    ips[n++] = ret;
    while (n < max) {
        const struct frame_rule *rule = frame_rule_at(fr, mods, ret - 1);
        if (!rule) {
            fr->fallbacks++;
            return 0;
        }
        if (rule->outermost)
            break;
        mt_addr cfa = (rule->cfa_reg == FRAME_REG_RSP ? sp : saved[1]) + (int64_t)rule->cfa_off;
        uint64_t next[FRAME_SAVED_REGS];
        for (int i = 0; i < FRAME_SAVED_REGS; i++) {
            int16_t at = rule->saved[i];
            if (at == FRAME_RULE_SAME)
                next[i] = saved[i];
            else if (at == FRAME_RULE_UNDEFINED)
                next[i] = 0;
            else if (!read_word(fr, r, pid, snap, cfa + (int64_t)at, &next[i]))
                return n;
        }
        if (cfa - regs->rsp + 8 > *needed && cfa > regs->rsp)
            *needed = (size_t)(cfa - regs->rsp) + 8;   /* saved registers sit below the CFA */
        if (!read_word(fr, r, pid, snap, cfa - 8, &ret) || ret == 0)
            break;
        memcpy(saved, next, sizeof(saved));
        sp = cfa;
        ips[n++] = ret;
    }
    return n;
}
