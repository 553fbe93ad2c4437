/* Making a stopped thread run a system call for memtrace (mmap of the
 * scratch pages, mprotect, munmap) and leave a syscall it is stopped in,
 * restoring its registers and every byte used, with the signals that
 * arrive meanwhile held back and sent again afterwards. */
#ifndef MT_INJECT_H
#define MT_INJECT_H
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"

/* `syscall; int3`: the gadget an injected call runs through. */
#define INJECT_GADGET_SIZE 3u
extern const uint8_t inject_gadget_code[INJECT_GADGET_SIZE];

/* Runs one syscall in thread tid (stopped) through the gadget at gadget,
 * restoring its registers afterwards. Returns 0 with the kernel's result in
 * *result (which may be a -errno of the target's syscall), or a -errno of
 * memtrace's own failure. */
int inject_syscall(pid_t tid, mt_addr gadget, long nr, const uint64_t args[6], int64_t *result);
/* The same through a gadget written for the occasion at pc (code no thread
 * runs meanwhile), whose bytes are put back afterwards. */
int inject_syscall_at(pid_t tid, mt_addr pc, long nr, const uint64_t args[6], int64_t *result);
/* A thread stopped inside a syscall (the PTRACE_EVENT_EXEC stop) would
 * overwrite injected registers with that syscall's result: let it finish the
 * syscall and stop at its current instruction, through a temporary int3. */
int inject_leave_syscall(pid_t tid);

#endif
