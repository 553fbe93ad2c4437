/* placement: pin, remember and restore CPU affinity, on the test's own
 * threads (sched_setaffinity on ourselves needs no privilege). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "placement.h"

static cpu_set_t affinity(pid_t tid)
{
    cpu_set_t m;
    assert_int_equal(sched_getaffinity(tid, sizeof(m), &m), 0);
    return m;
}

static void test_pin_self_then_restore(void **state)
{
    (void)state;
    cpu_set_t before = affinity(0);
    struct placement pl;
    placement_init(&pl);
    assert_int_equal(placement_pin_self(&pl), 0);
    assert_true(pl.cpu >= 0);
    cpu_set_t now = affinity(0);
    assert_int_equal(CPU_COUNT(&now), 1);
    assert_true(CPU_ISSET(pl.cpu, &now));
    assert_true(CPU_ISSET(pl.cpu, &before));   /* chosen within the allowed set */
    assert_int_equal(placement_restore(&pl), 0);
    now = affinity(0);
    assert_true(CPU_EQUAL(&now, &before));
    assert_int_equal(pl.cpu, -1);
    placement_destroy(&pl);
}

struct worker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pid_t tid;
    bool done;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    w->tid = gettid();
    pthread_cond_broadcast(&w->cond);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Another task (as in attach mode): its mask is saved before it is pinned,
 * only the first mask counts, and restore gives it back. */
static void test_pin_other_task_then_restore(void **state)
{
    (void)state;
    struct worker w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, worker_main, &w), 0);
    pthread_mutex_lock(&w.lock);
    while (!w.tid)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);

    cpu_set_t before = affinity(w.tid), self_before = affinity(0);
    struct placement pl;
    placement_init(&pl);
    assert_int_equal(placement_pin(&pl, w.tid), -EINVAL);   /* no CPU chosen yet */
    assert_int_equal(placement_pin_self(&pl), 0);
    assert_int_equal(placement_pin(&pl, w.tid), 0);
    assert_int_equal(placement_pin(&pl, w.tid), 0);         /* saved once */
    assert_int_equal(pl.nsaved, 2);
    cpu_set_t now = affinity(w.tid);
    assert_int_equal(CPU_COUNT(&now), 1);
    assert_true(CPU_ISSET(pl.cpu, &now));
    assert_int_equal(placement_restore(&pl), 0);
    now = affinity(w.tid);
    assert_true(CPU_EQUAL(&now, &before));
    now = affinity(0);
    assert_true(CPU_EQUAL(&now, &self_before));
    placement_destroy(&pl);

    pthread_mutex_lock(&w.lock);
    w.done = true;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* A task that exited before restore is skipped, not an error. */
static void test_restore_skips_exited_task(void **state)
{
    (void)state;
    struct placement pl;
    placement_init(&pl);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(placement_save(&pl, child), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(placement_restore(&pl), 0);
    assert_int_equal(placement_save(&pl, child), -ESRCH);
    placement_destroy(&pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pin_self_then_restore),
        cmocka_unit_test(test_pin_other_task_then_restore),
        cmocka_unit_test(test_restore_skips_exited_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
