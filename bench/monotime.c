/* Prints CLOCK_MONOTONIC in nanoseconds (bench/run's clock for "target exit to
 * tracer exit", comparable with leak_many's exit_mono_ns). */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("%lld\n", ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
