/* Fault injection, for the tests that prove every failure of the kernel
 * interface ends in a clean detach and a report, never a killed or frozen
 * program. MEMTRACE_INJECT_FAULT=CLASS:N:ERRNO[,CLASS:N:ERRNO...] makes the
 * Nth call (counting from 1) of CLASS fail with ERRNO instead of being made:
 *   ptrace  every ptrace request (kernel/ptrace_io.c)
 *   wait    waitpid (EINTR is its one failure while tracees live)
 *   vm      process_vm_readv/writev (the fallbacks then apply, as they would
 *           for a real failure)
 *   proc    opening or reading a /proc file (kernel/procfs.c)
 * ERRNO is a name: EPERM, ESRCH, EIO, EINTR, EFAULT, ENOMEM, EMFILE, EACCES,
 * EAGAIN. Unset or empty: nothing is injected, at the cost of one branch
 * per call. */
#ifndef MT_FAULT_H
#define MT_FAULT_H
#include <stddef.h>

enum fault_class { FAULT_PTRACE, FAULT_WAIT, FAULT_VM, FAULT_PROC, FAULT_CLASS_COUNT };

/* Reads the switch's value (NULL: none). Returns 0, or -1 with why. */
int fault_configure(const char *spec, char *why, size_t why_len);
/* Counts one call of class c: the errno to fail it with, or 0 to make it. */
int fault_next(enum fault_class c);

#endif
