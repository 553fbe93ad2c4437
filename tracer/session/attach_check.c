/* Preflight of `memtrace attach`, from /proc and the ELF header of the
 * target's executable. */
#include "attach_check.h"
#include "elf_file.h"
#include "procfs.h"
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#define PF_KTHREAD_FLAG 0x00200000u   /* include/linux/sched.h */

static int status_field(pid_t pid, const char *key, char *out, size_t out_len)
{
    return procfs_status_field(pid, 0, key, out, out_len);
}

pid_t attach_tracer_of(pid_t pid, pid_t tid)
{
    char v[64];
    return procfs_status_field(pid, tid, "TracerPid", v, sizeof(v)) == 0 ? (pid_t)atoi(v) : 0;
}

static void process_name(pid_t pid, char *out, size_t len)
{
    if (status_field(pid, "Name", out, len) != 0)
        snprintf(out, len, "?");
}

static bool has_cap_sys_ptrace(void)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return false;
    return (data[CAP_SYS_PTRACE / 32].effective >> (CAP_SYS_PTRACE % 32)) & 1;
}

static bool describe_other_tracer(pid_t pid, char *why, size_t why_len)
{
    pid_t other = attach_tracer_of(pid, pid);
    if (other <= 0)
        return false;
    char name[64];
    process_name(other, name, sizeof(name));
    snprintf(why, why_len, "pid %d is already traced by pid %d (%s); a process can have one "
             "tracer: detach %s first", pid, other, name, name);
    return true;
}

/* Whether pid is an ancestor of memtrace above its parent: parking it
 * could stop the shell or pipeline memtrace itself depends on. PID 1, an
 * ancestor of every process, has its own rule. */
static bool is_grand_ancestor(pid_t pid)
{
    pid_t a = getppid();
    /* A bound on the walk: a chain of pids that changes under us must end. */
    for (int depth = 0; depth < 4096 && a > 1; depth++) {
        char ppid[32];
        if (status_field(a, "PPid", ppid, sizeof(ppid)) != 0)
            return false;
        a = (pid_t)atoi(ppid);
        if (a == pid && a > 1)
            return true;
    }
    return false;
}

int attach_check(const char *arg, bool force, pid_t *pid, char *why, size_t why_len)
{
    char *end;
    errno = 0;
    long v = arg && *arg >= '0' && *arg <= '9' ? strtol(arg, &end, 10) : -1;
    if (v <= 0 || errno || *end || v > INT_MAX) {
        snprintf(why, why_len, "'%s' is not a process id", arg ? arg : "");
        return -1;
    }
    *pid = (pid_t)v;
    if (*pid == getpid()) {
        snprintf(why, why_len, "pid %d is memtrace itself", *pid);
        return -1;
    }
    if (*pid == getppid()) {
        snprintf(why, why_len, "pid %d is memtrace's parent (it waits for memtrace; attaching "
                 "would deadlock)", *pid);
        return -1;
    }
    if (is_grand_ancestor(*pid)) {
        snprintf(why, why_len, "pid %d is an ancestor of memtrace (stopping it can stop what "
                 "memtrace itself waits for; attaching could deadlock)", *pid);
        return -1;
    }
    if (*pid == 1 && !force) {
        snprintf(why, why_len, "pid 1 is the init process: if it stops for long or dies, the "
                 "system (or container) goes down with it; attach to it only with --force");
        return -1;
    }
    char state[64];
    int err = status_field(*pid, "State", state, sizeof(state));
    if (err == -ENOENT) {
        snprintf(why, why_len, "no such process: %d", *pid);
        return -1;
    }
    if (err) {
        snprintf(why, why_len, "cannot read /proc/%d/status: %s", *pid, strerror(-err));
        return -1;
    }
    char tgid[32];
    if (status_field(*pid, "Tgid", tgid, sizeof(tgid)) == 0 && atoi(tgid) != *pid) {
        snprintf(why, why_len, "%d is a thread of process %s; attach to the process", *pid, tgid);
        return -1;
    }
    if (state[0] == 'Z' || state[0] == 'X') {
        snprintf(why, why_len, "pid %d is a zombie (it has exited; its parent has not reaped "
                 "it): nothing to trace", *pid);
        return -1;
    }
    unsigned long flags = 0;
    if (procfs_stat_flags(*pid, &flags) == 0 && (flags & PF_KTHREAD_FLAG)) {
        char name[64];
        process_name(*pid, name, sizeof(name));
        snprintf(why, why_len, "pid %d (%s) is a kernel thread: it has no user memory to trace",
                 *pid, name);
        return -1;
    }
    if (describe_other_tracer(*pid, why, why_len))
        return -1;
    char exe[64], path[PATH_MAX];
    procfs_path(exe, sizeof(exe), *pid, "exe");
    err = procfs_exe(*pid, path, sizeof(path));
    if (err) {
        if (err == -EACCES || err == -EPERM)
            attach_explain_eperm(*pid, why, why_len);
        else
            snprintf(why, why_len, "cannot read %s: %s", exe, strerror(-err));
        return -1;
    }
    char elf_why[512];
    if (elf_file_check_executable(exe, elf_why, sizeof(elf_why)) != 0) {
        snprintf(why, why_len, "pid %d runs %s: %s", *pid, path, elf_why);
        return -1;
    }
    return 0;
}

void attach_explain_eperm(pid_t pid, char *why, size_t why_len)
{
    if (describe_other_tracer(pid, why, why_len))
        return;
    char uids[128];
    bool privileged = has_cap_sys_ptrace();
    if (status_field(pid, "Uid", uids, sizeof(uids)) == 0 && !privileged) {
        unsigned ruid, euid, suid;
        if (sscanf(uids, "%u %u %u", &ruid, &euid, &suid) == 3 &&
            (ruid != getuid() || euid != getuid() || suid != getuid())) {
            snprintf(why, why_len, "permission denied: pid %d belongs to user %u and memtrace "
                     "runs as user %u without CAP_SYS_PTRACE (run it as root or as that user)",
                     pid, euid, getuid());
            return;
        }
    }
    int scope = procfs_yama_ptrace_scope();
    if (scope == 3) {
        snprintf(why, why_len, "permission denied: Yama ptrace_scope is 3 (ptrace disabled "
                 "until reboot; see /proc/sys/kernel/yama/ptrace_scope)");
    } else if (scope == 2 && !privileged) {
        snprintf(why, why_len, "permission denied: Yama ptrace_scope is 2, only processes with "
                 "CAP_SYS_PTRACE may attach (run memtrace as root)");
    } else if (scope == 1 && !privileged) {
        snprintf(why, why_len, "permission denied: Yama ptrace_scope is 1, only a parent may "
                 "attach to pid %d (run memtrace as root, have the program call "
                 "prctl(PR_SET_PTRACER, ...), or set /proc/sys/kernel/yama/ptrace_scope to 0)",
                 pid);
    } else if (!privileged) {
        snprintf(why, why_len, "permission denied attaching to pid %d: memtrace lacks "
                 "CAP_SYS_PTRACE (the program may be setuid, or have made itself non-dumpable)",
                 pid);
    } else {
        snprintf(why, why_len, "permission denied attaching to pid %d (a security module, "
                 "seccomp or container policy forbids ptrace)", pid);
    }
}
