/* Scratch layout: page 0: [0] int3 return trampoline, [8] syscall; int3,
 * [64..] out-of-line slots; page 1: return stubs; page 2: their records.
 * Pages 0 and 1 are r-x in the target; memtrace writes them with
 * PTRACE_POKEDATA (process_vm_writev cannot write them); they are mapped by
 * a system call injected into the target (inject.c). */
#include "scratch.h"
#include "diag.h"
#include "inject.h"
#include "regs.h"
#include "return_stubs.h"
#include "remote.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define TRAMPOLINE_OFFSET 0
#define GADGET_OFFSET 8
#define FIRST_SLOT_OFFSET 64

mt_addr scratch_hint_near(mt_addr code)
{
    /* 16 MiB below the code, page aligned: below a non-PIE executable at
     * 0x400000 that is the free low region, elsewhere a gap the kernel
     * usually has. */
    const mt_addr gap = 16u << 20, lowest = 1u << 20;
    mt_addr hint = (code & ~(mt_addr)0xfffff) - gap;
    return code > gap + lowest ? hint : lowest;
}

int scratch_map(struct scratch *s, pid_t tid, mt_addr bootstrap_pc, mt_addr hint, char *why,
                size_t why_len)
{
    const uint64_t args[6] = { hint, SCRATCH_SIZE, PROT_READ | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
    int64_t addr = 0;
    int err = inject_syscall_at(tid, bootstrap_pc, SYS_mmap, args, &addr);
    if (err) {
        snprintf(why, why_len, "cannot inject mmap into pid %d at 0x%" PRIxADDR ": %s", tid,
                 bootstrap_pc, strerror(-err));
        return err;
    }
    if (addr < 0 && addr > -4096) {
        snprintf(why, why_len, "mmap of the scratch page in pid %d failed: %s", tid,
                 strerror((int)-addr));
        return (int)addr;
    }
    uint8_t page_head[FIRST_SLOT_OFFSET];
    memset(page_head, ARCH_BREAKPOINT_INSN, sizeof(page_head));
    memcpy(page_head + GADGET_OFFSET, inject_gadget_code, sizeof(inject_gadget_code));
    if ((err = remote_poke_text(&remote_ptrace, tid, (mt_addr)addr, page_head, sizeof(page_head)))) {
        snprintf(why, why_len, "cannot write the scratch page at 0x%" PRIx64 " in pid %d: %s",
                 (uint64_t)addr, tid, strerror(-err));
        return err;
    }
    s->base = (mt_addr)addr;
    s->trampoline = s->base + TRAMPOLINE_OFFSET;
    s->syscall_gadget = s->base + GADGET_OFFSET;
    s->next_slot = s->base + FIRST_SLOT_OFFSET;
    s->stubs_code = s->stubs_data = 0;
    /* Without stubs every call returns through the trampoline: slower,
     * not wrong, so a failure here is not fatal. */
    uint8_t code[RETURN_STUBS_MAX * RETURN_STUB_SIZE];
    mt_addr code_at = s->base + SCRATCH_PAGE, data_at = s->base + 2 * SCRATCH_PAGE;
    return_stubs_code(code_at, data_at, code);
    const uint64_t prot[6] = { data_at, SCRATCH_PAGE, PROT_READ | PROT_WRITE, 0, 0, 0 };
    int64_t rc = -1;
    const uint64_t first_seq = 1;   /* 0 marks a call still in flight */
    if (remote_poke_text(&remote_ptrace, tid, code_at, code, sizeof(code)) == 0 &&
        inject_syscall(tid, s->syscall_gadget, SYS_mprotect, prot, &rc) == 0 && rc == 0 &&
        remote_write(&remote_ptrace, tid, data_at, &first_seq, sizeof(first_seq)) == 0) {
        s->stubs_code = code_at;
        s->stubs_data = data_at;
    } else {
        mt_warn("pid %d: cannot set up the return stubs; every allocator call returns "
                "through the trampoline (slower, not wrong)", tid);
    }
    return 0;
}

bool scratch_intact(const struct scratch *s, pid_t tid)
{
    uint8_t expected[FIRST_SLOT_OFFSET], seen[FIRST_SLOT_OFFSET];
    memset(expected, ARCH_BREAKPOINT_INSN, sizeof(expected));
    memcpy(expected + GADGET_OFFSET, inject_gadget_code, sizeof(inject_gadget_code));
    return remote_read(&remote_ptrace, tid, s->base, seen, sizeof(seen)) == 0 &&
           memcmp(seen, expected, sizeof(seen)) == 0;
}

int scratch_unmap(struct scratch *s, pid_t tid, mt_addr bootstrap_pc)
{
    if (!s->base)
        return 0;
    if (!scratch_intact(s, tid)) {
        mt_warn("pid %d: memtrace's scratch page at 0x%" PRIxADDR " is no longer what memtrace "
                "put there (the program unmapped or replaced it); left as it is", tid, s->base);
        memset(s, 0, sizeof(*s));
        return 0;
    }
    const uint64_t args[6] = { s->base, SCRATCH_SIZE, 0, 0, 0, 0 };
    int64_t rc = 0;
    int err = inject_syscall_at(tid, bootstrap_pc, SYS_munmap, args, &rc);
    if (err)
        return err;
    if (rc != 0)
        return (int)rc;
    memset(s, 0, sizeof(*s));
    return 0;
}

int scratch_alloc(struct scratch *s, size_t size, mt_addr *out)
{
    if (!s->base || s->next_slot + size > s->base + SCRATCH_PAGE)
        return -ENOSPC;
    *out = s->next_slot;
    s->next_slot += (size + 15) & ~(size_t)15;
    return 0;
}
