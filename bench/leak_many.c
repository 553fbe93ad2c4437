/* Leaks many blocks, for measuring a tracer's memory and report time.
 *
 * Usage: leak_many blocks N   leak N blocks of 16 bytes from one call site
 *        leak_many stacks N   leak N blocks of 16 bytes, each from its own call
 *                             stack: the counter's base-4 digits pick, level by
 *                             level, which of four functions recurses, so every
 *                             block has a unique chain of return addresses
 *                             (ceil(log4 N) frames, well inside --depth 16)
 *
 * Just before exiting it prints, on stdout:
 *   LEAK_MANY mode=M n=N levels=L target_hwm_kb=K exit_mono_ns=T
 * target_hwm_kb is its own peak RSS (VmHWM), so a tracer's peak RSS measured
 * with wait4() (which is max(tracer, target)) can be checked against it;
 * exit_mono_ns is CLOCK_MONOTONIC right before exit, so the time a tracer takes
 * after the target's exit (its report) can be measured from outside. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *volatile sink; /* each store drops the previous block: it leaks */

static __attribute__((noinline)) void leak_one(void)
{
    sink = malloc(16);
}

/* Four distinct functions (noipa: no inlining, cloning or identical-code
 * folding); each has four distinct call sites, one per next digit. The empty
 * asm after the switch keeps the calls out of tail position. */
#define STEP_DECL(k) static __attribute__((noipa)) void step##k(unsigned long code, int level)
STEP_DECL(0);
STEP_DECL(1);
STEP_DECL(2);
STEP_DECL(3);
#define STEP_DEF(k)                                         \
    STEP_DECL(k)                                            \
    {                                                       \
        if (level == 0) {                                   \
            sink = malloc(16);                              \
            return;                                         \
        }                                                   \
        switch (code & 3) {                                 \
        case 0: step0(code >> 2, level - 1); break;         \
        case 1: step1(code >> 2, level - 1); break;         \
        case 2: step2(code >> 2, level - 1); break;         \
        default: step3(code >> 2, level - 1); break;        \
        }                                                   \
        __asm__ volatile("" ::: "memory");                  \
    }
STEP_DEF(0)
STEP_DEF(1)
STEP_DEF(2)
STEP_DEF(3)

static long hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "blocks") != 0 && strcmp(argv[1], "stacks") != 0)) {
        fprintf(stderr, "usage: leak_many blocks|stacks N\n");
        return 2;
    }
    long n = atol(argv[2]);
    int levels = 0;
    if (strcmp(argv[1], "blocks") == 0) {
        for (long i = 0; i < n; i++)
            leak_one();
    } else {
        for (unsigned long cap = 1; cap < (unsigned long)n; cap *= 4)
            levels++;
        for (long i = 0; i < n; i++)
            step0((unsigned long)i, levels);
    }
    long kb = hwm_kb();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("LEAK_MANY mode=%s n=%ld levels=%d target_hwm_kb=%ld exit_mono_ns=%lld\n", argv[1], n,
           levels, kb, ts.tv_sec * 1000000000LL + ts.tv_nsec);
    fflush(stdout);
    return 0;
}
