/* A fast stack walk for the common case: each frame's rule comes from the
 * module's .eh_frame once per return address (elf_file_frame_rule) and is
 * kept, so a walk costs a few memory reads per frame, not libunwind's
 * parse. A walk that meets a frame without a simple rule gives up (0), and
 * the caller asks libunwind instead. The rules of an address space are
 * forgotten when its modules change (an address may then hold other code). */
#ifndef MT_FRAME_WALK_H
#define MT_FRAME_WALK_H
#include <stdint.h>
#include <sys/types.h>
#include "elf_file.h"
#include "modules.h"
#include "regs.h"
#include "remote.h"
#include "unwind.h"

struct frame_rules {
    struct frame_rule_slot *slots;   /* open addressing by pc */
    size_t cap, n;
    uint64_t walks, fallbacks;
    /* Stack above the snapshot, read a chunk at a time during one walk. */
    struct stack_snapshot *beyond;
};

void frame_rules_init(struct frame_rules *fr);
void frame_rules_destroy(struct frame_rules *fr);
/* Modules were loaded or unloaded. */
void frame_rules_flush(struct frame_rules *fr);

/* The rule at pc (a call site: a return address - 1), read from its
 * module once and kept; NULL when it has none this simple. */
const struct frame_rule *frame_rule_at(struct frame_rules *fr, const struct module_table *mods,
                                       mt_addr pc);

/* The return addresses of up to max callers of a function at whose first
 * instruction regs were taken (rsp at the return address; rbx, rbp and
 * r12-r15 the caller's), reading the stack from snap, else through r.
 * Returns the count, or 0 when a frame had no simple rule. *needed: how
 * many bytes of stack above rsp the walk read. */
unsigned frame_walk(struct frame_rules *fr, const struct module_table *mods,
                    const struct remote *r, pid_t pid, const mt_regs *regs,
                    const struct stack_snapshot *snap, mt_addr *ips, unsigned max,
                    size_t *needed);

#endif
