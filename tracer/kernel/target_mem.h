/* Reading and writing the target's memory: process_vm_readv/writev for data
 * and stacks, PTRACE_POKEDATA for read-only code pages. Returns 0 or -errno;
 * a short read is -EFAULT. */
#ifndef MT_TARGET_MEM_H
#define MT_TARGET_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"

int target_read(pid_t pid, mt_addr addr, void *buf, size_t len);
/* Reads as much of [addr, addr+len) as is mapped, from addr up; returns the
 * number of bytes read (0 if addr itself is unmapped) or -errno. */
ssize_t target_read_partial(pid_t pid, mt_addr addr, void *buf, size_t len);
int target_write(pid_t pid, mt_addr addr, const void *buf, size_t len);
/* Writes into pages the target cannot write (code, the scratch page). */
int target_poke_text(pid_t tid, mt_addr addr, const void *buf, size_t len);
int target_read_u64(pid_t pid, mt_addr addr, uint64_t *out);

#endif
