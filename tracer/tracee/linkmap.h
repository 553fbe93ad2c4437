/* The dynamic linker's rendezvous: where ld.so is, what _r_debug says, and
 * the module list it implies (link-map order, load biases). */
#ifndef MT_LINKMAP_H
#define MT_LINKMAP_H
#include <stddef.h>
#include "process.h"

/* r_debug.r_state values (glibc <link.h>). */
enum { RT_CONSISTENT = 0, RT_ADD = 1, RT_DELETE = 2 };

/* After exec: reads auxv (AT_BASE, AT_ENTRY) into p. */
int linkmap_read_auxv(struct process *p, char *why, size_t why_len);

/* After exec, with auxv read: finds _r_debug and _dl_debug_state in ld.so
 * and plants the rendezvous breakpoint. For a static program (no
 * interpreter) registers the executable as the only module. Returns 0 or
 * -errno with why. */
int linkmap_attach(struct process *p, pid_t tid, char *why, size_t why_len);

/* Reads r_state. */
int linkmap_state(const struct process *p, int *state);

/* Walks the link map and updates p->modules (new modules opened and given
 * to the symbolizer and unwinder; removed ones marked absent). Returns the
 * number of modules added or removed, or -errno with why. */
int linkmap_sync(struct process *p, char *why, size_t why_len);

#endif
