/* Before `memtrace attach PID` touches anything: is PID a process memtrace
 * may and can trace, and if ptrace refuses, which rule refused it. Every
 * answer is one line for the user; the target is never touched here. */
#ifndef MT_ATTACH_CHECK_H
#define MT_ATTACH_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Parses and vets the PID argument: a number, not memtrace itself nor one
 * of its ancestors, not PID 1 unless force, an existing process that is
 * neither a zombie nor a kernel thread, not traced by anyone else, running
 * an x86-64 program. Returns 0 with *pid set, or -1 with why. */
int attach_check(const char *arg, bool force, pid_t *pid, char *why, size_t why_len);

/* TracerPid of thread tid of process pid, 0 when untraced or unknown. */
pid_t attach_tracer_of(pid_t pid, pid_t tid);

/* Why PTRACE_SEIZE of pid failed with EPERM: another tracer, a different
 * user without CAP_SYS_PTRACE, or Yama's ptrace_scope. */
void attach_explain_eperm(pid_t pid, char *why, size_t why_len);

#endif
