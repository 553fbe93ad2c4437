/* Monotonic time in nanoseconds: clock_gettime goes through the vDSO, so
 * this is cheap enough for every trap. */
#ifndef MT_TIME_H
#define MT_TIME_H
#include <stdint.h>
#include <time.h>

static inline uint64_t mt_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
