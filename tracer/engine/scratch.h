/* The scratch pages memtrace maps into the target: a return trampoline, a
 * syscall gadget and out-of-line instruction slots (page 0), the return
 * stubs (page 1, return_stubs.h) and their records (page 2, the only one
 * the target can write), mapped by an injected mmap (inject.h). */
#ifndef MT_SCRATCH_H
#define MT_SCRATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"

#define SCRATCH_PAGE 4096u
#define SCRATCH_SIZE (3 * SCRATCH_PAGE)

struct scratch {
    mt_addr base;             /* 0 until mapped */
    mt_addr trampoline;       /* int3: allocator calls return here */
    mt_addr syscall_gadget;   /* syscall; int3 */
    mt_addr next_slot;
    mt_addr stubs_code;       /* return stubs, 0 when they could not be set up */
    mt_addr stubs_data;       /* their records, read-write in the target */
};

/* Maps the scratch page through a temporary gadget written at bootstrap_pc
 * (code no thread will run meanwhile, e.g. the ELF entry point after exec),
 * restoring the bytes there afterwards. hint as for mmap (no MAP_FIXED). */
int scratch_map(struct scratch *s, pid_t tid, mt_addr bootstrap_pc, mt_addr hint, char *why,
                size_t why_len);
/* Where to ask for the scratch page so RIP-relative instructions of code at
 * `code` can run from its slots (within +-2 GiB); 0 lets the kernel choose. */
mt_addr scratch_hint_near(mt_addr code);
/* Unmaps the scratch page from tid's address space (a child that will run
 * untraced), through a temporary gadget at bootstrap_pc. */
int scratch_unmap(struct scratch *s, pid_t tid, mt_addr bootstrap_pc);
/* Does the page at s->base still hold what scratch_map wrote (the program
 * may have unmapped it, or mapped something of its own there)? */
bool scratch_intact(const struct scratch *s, pid_t tid);
/* Reserves a slot of `size` bytes; returns 0 or -ENOSPC. */
int scratch_alloc(struct scratch *s, size_t size, mt_addr *out);

#endif
