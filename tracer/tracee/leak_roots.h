/* The exit-time leak scan of a traced process: which of its memory is a
 * root (data and bss of every module, thread stacks from their stack
 * pointers, TLS, anonymous mappings of the program, registers), read while
 * the address space still exists (PTRACE_EVENT_EXIT of its last thread). */
#ifndef MT_LEAK_ROOTS_H
#define MT_LEAK_ROOTS_H
#include <sys/types.h>
#include "process.h"

/* Classifies p's live blocks into p->scan, reading memory through tid (a
 * thread stopped at its exit event), with the interior-pointer heuristics
 * given (enum leak_heuristic bits). Returns 0 or -errno. */
int leak_roots_scan_process(struct process *p, pid_t tid, unsigned heuristics);

#endif
