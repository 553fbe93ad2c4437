/* The design's physical limit: a tracee hits an int3 N times; the tracer does
 * only waitpid + GETREGS + SETREGS + CONT per trap. Prints ns per trap.
 * Usage: raw_trap N [pin]   (pin: put tracer and tracee on CPU 0)
 * Output: RAW_TRAP traps=N ns_per_trap=X pinned=0|1 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin_to_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("sched_setaffinity");
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (argc > 2)
        pin_to_cpu0();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(1);
        raise(SIGSTOP);
        for (long i = 0; i < n; i++)
            __asm__ volatile("int3");
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ptrace(PTRACE_CONT, pid, NULL, NULL);
    long traps = 0;
    for (;;) {
        if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
            break;
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, NULL, &regs);
        ptrace(PTRACE_SETREGS, pid, NULL, &regs);
        ptrace(PTRACE_CONT, pid, NULL, NULL);
        traps++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("RAW_TRAP traps=%ld ns_per_trap=%.1f pinned=%d\n", traps, traps ? ns / traps : 0.0,
           argc > 2);
    return 0;
}
