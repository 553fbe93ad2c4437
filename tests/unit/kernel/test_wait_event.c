/* wait_event: waitpid statuses built the way the kernel builds them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
#include "wait_event.h"

/* Status encodings (see wait(2), ptrace(2)). */
static int st_exited(int code) { return (code & 0xff) << 8; }
static int st_killed(int sig, int core) { return sig | (core ? 0x80 : 0); }
static int st_stopped(int sig) { return (sig << 8) | 0x7f; }
static int st_ptrace_event(int event) { return (event << 16) | (SIGTRAP << 8) | 0x7f; }
static int st_event_stop(int sig) { return (PTRACE_EVENT_STOP << 16) | (sig << 8) | 0x7f; }
static int st_syscall_stop(void) { return ((SIGTRAP | 0x80) << 8) | 0x7f; }

static void assert_event(int status, enum wait_kind kind, int value, int core)
{
    struct wait_event ev = wait_event_classify(status);
    assert_string_equal(wait_kind_name(ev.kind), wait_kind_name(kind));
    assert_int_equal(ev.kind, kind);
    assert_int_equal(ev.value, value);
    assert_int_equal(ev.core, core);
}

/* The builders above agree with what a real child produces. */
static void test_builders_match_real_wait_statuses(void **state)
{
    (void)state;
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(42);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, st_exited(42));

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        raise(SIGTERM);
        _exit(1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, st_killed(SIGTERM, 0));

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    assert_int_equal(status, st_stopped(SIGSTOP));
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_exit_zero(void **state)
{
    (void)state;
    assert_event(st_exited(0), WK_EXITED, 0, 0);
}

static void test_exit_with_code(void **state)
{
    (void)state;
    assert_event(st_exited(42), WK_EXITED, 42, 0);
    assert_event(st_exited(255), WK_EXITED, 255, 0);
}

static void test_killed_without_core(void **state)
{
    (void)state;
    assert_event(st_killed(SIGKILL, 0), WK_KILLED, SIGKILL, 0);
}

static void test_killed_with_core(void **state)
{
    (void)state;
    assert_event(st_killed(SIGSEGV, 1), WK_KILLED, SIGSEGV, 1);
}

static void test_sigtrap_stop_is_a_trap(void **state)
{
    (void)state;
    assert_event(st_stopped(SIGTRAP), WK_TRAP, SIGTRAP, 0);
}

static void test_other_signal_stop_is_signal_delivery(void **state)
{
    (void)state;
    assert_event(st_stopped(SIGSEGV), WK_SIGNAL, SIGSEGV, 0);
    assert_event(st_stopped(SIGUSR1), WK_SIGNAL, SIGUSR1, 0);
    /* Without PTRACE_EVENT_STOP in the high bits, SIGSTOP is a signal to pass on. */
    assert_event(st_stopped(SIGSTOP), WK_SIGNAL, SIGSTOP, 0);
}

static void test_clone_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_CLONE), WK_CLONE, 0, 0);
}

static void test_fork_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_FORK), WK_FORK, 0, 0);
}

static void test_vfork_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_VFORK), WK_VFORK, 0, 0);
}

static void test_vfork_done_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_VFORK_DONE), WK_VFORK_DONE, 0, 0);
}

static void test_exec_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_EXEC), WK_EXEC, 0, 0);
}

static void test_exit_event(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_EXIT), WK_EXIT, 0, 0);
}

static void test_group_stop_under_seize(void **state)
{
    (void)state;
    assert_event(st_event_stop(SIGSTOP), WK_GROUP_STOP, SIGSTOP, 0);
    assert_event(st_event_stop(SIGTSTP), WK_GROUP_STOP, SIGTSTP, 0);
    assert_event(st_event_stop(SIGTTIN), WK_GROUP_STOP, SIGTTIN, 0);
    assert_event(st_event_stop(SIGTTOU), WK_GROUP_STOP, SIGTTOU, 0);
}

static void test_event_stop_with_sigtrap_is_not_a_group_stop(void **state)
{
    (void)state;
    /* PTRACE_INTERRUPT and a new thread's first stop. */
    assert_event(st_event_stop(SIGTRAP), WK_EVENT_STOP, SIGTRAP, 0);
}

static void test_syscall_stop(void **state)
{
    (void)state;
    assert_event(st_syscall_stop(), WK_SYSCALL, 0, 0);
}

static void test_unhandled_event_is_unknown(void **state)
{
    (void)state;
    assert_event(st_ptrace_event(PTRACE_EVENT_SECCOMP), WK_UNKNOWN, 0, 0);
}

static void test_continued_status_is_unknown(void **state)
{
    (void)state;
    assert_event(0xffff, WK_UNKNOWN, 0, 0);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(wait_kind_name(WK_EXITED), "exited");
    assert_string_equal(wait_kind_name(WK_KILLED), "killed");
    assert_string_equal(wait_kind_name(WK_GROUP_STOP), "group-stop");
    assert_string_equal(wait_kind_name(WK_EVENT_STOP), "event-stop");
    assert_string_equal(wait_kind_name(WK_VFORK_DONE), "vfork-done");
    assert_string_equal(wait_kind_name(WK_SYSCALL), "syscall");
    assert_string_equal(wait_kind_name(WK_UNKNOWN), "unknown");
    assert_string_equal(wait_kind_name((enum wait_kind)(WK_UNKNOWN + 1)), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builders_match_real_wait_statuses),
        cmocka_unit_test(test_exit_zero),
        cmocka_unit_test(test_exit_with_code),
        cmocka_unit_test(test_killed_without_core),
        cmocka_unit_test(test_killed_with_core),
        cmocka_unit_test(test_sigtrap_stop_is_a_trap),
        cmocka_unit_test(test_other_signal_stop_is_signal_delivery),
        cmocka_unit_test(test_clone_event),
        cmocka_unit_test(test_fork_event),
        cmocka_unit_test(test_vfork_event),
        cmocka_unit_test(test_vfork_done_event),
        cmocka_unit_test(test_exec_event),
        cmocka_unit_test(test_exit_event),
        cmocka_unit_test(test_group_stop_under_seize),
        cmocka_unit_test(test_event_stop_with_sigtrap_is_not_a_group_stop),
        cmocka_unit_test(test_syscall_stop),
        cmocka_unit_test(test_unhandled_event_is_unknown),
        cmocka_unit_test(test_continued_status_is_unknown),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests_name("wait_event", tests, NULL, NULL);
}
