/* What a waitpid status means for a PTRACE_SEIZE'd tracee. Pure, so it is
 * unit-tested with made-up statuses. */
#ifndef MT_WAIT_EVENT_H
#define MT_WAIT_EVENT_H

enum wait_kind {
    WK_EXITED,          /* value = exit code */
    WK_KILLED,          /* value = signal; core dumped in 'core' */
    WK_TRAP,            /* SIGTRAP stop: maybe one of our int3s */
    WK_SIGNAL,          /* signal-delivery stop; value = signal to pass on */
    WK_GROUP_STOP,      /* PTRACE_EVENT_STOP with a stopping signal; value = signal */
    WK_EVENT_STOP,      /* PTRACE_EVENT_STOP for other reasons (INTERRUPT, new thread) */
    WK_CLONE, WK_FORK, WK_VFORK, WK_VFORK_DONE, WK_EXEC, WK_EXIT,
    WK_SYSCALL,         /* syscall stop (TRACESYSGOOD) */
    WK_UNKNOWN,
};

struct wait_event {
    enum wait_kind kind;
    int value;
    int core;
};

struct wait_event wait_event_classify(int status);
const char *wait_kind_name(enum wait_kind k);

#endif
