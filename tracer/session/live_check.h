/* Leak checks while attached: --leak-check-every SEC and SIGUSR1. */
#ifndef MT_LIVE_CHECK_H
#define MT_LIVE_CHECK_H

struct session;
struct process;

/* Stops every thread of the session (for at most a second: a thread that
 * will not stop skips the check, with a warning), scans p, keeps its
 * records in s->checks, resumes the threads, then prints the check on the
 * log. Returns 0, or -1 with s->error when tracing cannot go on. */
int live_check_run(struct session *s, struct process *p);

#endif
