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

/* The entries of ld.so's list from the link_map at lm on, read from the
 * target's memory: the main program, then every module with a path (the
 * vDSO has none); at most 4096. Returns 0 or -errno (then w holds what was
 * read before the failing entry). Free w with linkmap_walk_free. */
struct linkmap_walk {
    struct linkmap_entry *entries;
    size_t n, cap;
};
int linkmap_walk(const struct remote *r, pid_t pid, mt_addr lm, struct linkmap_walk *w);
void linkmap_walk_free(struct linkmap_walk *w);

/* Walks the link map and updates p->modules (new modules opened and given
 * to the symbolizer and unwinder; removed ones marked absent). Returns the
 * number of modules added or removed, or -errno with why. */
int linkmap_sync(struct process *p, char *why, size_t why_len);

#endif
