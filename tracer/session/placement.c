/* CPU placement: pins memtrace and the tasks it serves to one CPU and
 * remembers every mask it changed, to give it back (see placement.h). */
#include "placement.h"
#include "grow.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void placement_init(struct placement *pl)
{
    memset(pl, 0, sizeof(*pl));
    pl->cpu = -1;
}

void placement_destroy(struct placement *pl)
{
    free(pl->saved);
    placement_init(pl);
}

int placement_save(struct placement *pl, pid_t tid)
{
    for (size_t i = 0; i < pl->nsaved; i++)
        if (pl->saved[i].tid == tid)
            return 0;   /* the first mask seen is the one to restore */
    struct placement_saved *grown = mt_grow(pl->saved, &pl->cap, pl->nsaved + 1, sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    pl->saved = grown;
    struct placement_saved *s = &pl->saved[pl->nsaved];
    s->tid = tid;
    if (sched_getaffinity(tid, sizeof(s->mask), &s->mask) != 0)
        return -errno;
    pl->nsaved++;
    return 0;
}

static int pin_to(pid_t tid, int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(tid, sizeof(one), &one) == 0 ? 0 : -errno;
}

int placement_pin_self(struct placement *pl)
{
    /* tid 0: the calling thread. It is saved as the first entry, so that
     * placement_restore gives memtrace its own mask back last. */
    int err = placement_save(pl, 0);
    if (err)
        return err;
    int cpu = sched_getcpu();
    if (cpu < 0)
        return -errno;
    if ((err = pin_to(0, cpu)) != 0)
        return err;
    pl->cpu = cpu;
    return 0;
}

int placement_pin(struct placement *pl, pid_t tid)
{
    if (pl->cpu < 0)
        return -EINVAL;
    int err = placement_save(pl, tid);
    if (err)
        return err;
    return pin_to(tid, pl->cpu);
}

int placement_release(struct placement *pl, pid_t tid)
{
    if (pl->cpu < 0 || pl->nsaved == 0)
        return 0;
    /* saved[0] is memtrace's own mask from before placement_pin_self. */
    const cpu_set_t *all = &pl->saved[0].mask;
    return sched_setaffinity(tid, sizeof(*all), all) == 0 ? 0 : -errno;
}

int placement_boost_self(struct placement *pl)
{
    if (pl->boosted)
        return 0;
    /* Linux: PRIO_PROCESS with a thread id is that thread's nice alone. */
    id_t self = (id_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, self);
    if (now == -1 && errno != 0)
        return -errno;
    if (now <= PLACEMENT_FAST_NICE)
        return 0;
    if (setpriority(PRIO_PROCESS, self, PLACEMENT_FAST_NICE) != 0)
        return -errno;
    pl->nice_before = now;
    pl->boosted = true;
    return 0;
}

int placement_restore(struct placement *pl)
{
    int first = 0;
    if (pl->boosted && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), pl->nice_before) != 0)
        first = -errno;
    pl->boosted = false;
    for (size_t i = pl->nsaved; i-- > 0;) {
        const struct placement_saved *s = &pl->saved[i];
        if (sched_setaffinity(s->tid, sizeof(s->mask), &s->mask) != 0 && errno != ESRCH &&
            !first)
            first = -errno;
    }
    pl->nsaved = 0;
    pl->cpu = -1;
    return first;
}
