/* Allocation microbenchmark: N malloc+free pairs with sizes 16..4096 from a
 * seeded PRNG; 1% of the blocks are leaked (never freed). Each thread keeps a
 * ring of 256 slots: a pair frees the block in a random slot and puts a new
 * block there, so allocation and release interleave like in a real program.
 *
 * Usage: alloc_bench [-n N] [-t T] [-s SEED]
 *   -n N     total pairs (default 100000); with -t, each thread does N/T pairs
 *   -t T     threads (default 1; T=1 runs in the main thread)
 *   -s SEED  PRNG seed (default 1); thread i uses SEED+i
 *
 * Prints one line on stdout, timed inside the process around the loop only
 * (startup and the tracer's report are not included; with threads, from the
 * first thread's start to the last thread's end):
 *   ALLOC_BENCH pairs=N threads=T mallocs=M frees=F leaked=L loop_ns=NS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING 256

struct worker {
    long pairs;
    uint64_t seed;
    long mallocs, frees, leaked;
    long long start_ns, end_ns;
    pthread_t tid;
};

static pthread_barrier_t start_barrier;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t next(uint64_t *s) /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void run_pairs(struct worker *w)
{
    void *ring[RING] = { 0 };
    uint64_t s = w->seed * 0x9E3779B97F4A7C15ULL + 1;
    for (long i = 0; i < w->pairs; i++) {
        uint64_t r = next(&s);
        unsigned slot = r & (RING - 1);
        size_t size = 16 + (r >> 8) % (4096 - 16 + 1);
        if (ring[slot]) {
            free(ring[slot]);
            w->frees++;
        }
        char *p = malloc(size);
        if (!p) {
            perror("malloc");
            exit(1);
        }
        p[0] = (char)i;
        p[size - 1] = (char)r;
        w->mallocs++;
        if ((r >> 40) % 100 == 0) { /* 1%: drop the pointer, the block leaks */
            w->leaked++;
            p = NULL;
        }
        ring[slot] = p;
    }
    for (unsigned i = 0; i < RING; i++)
        if (ring[i]) {
            free(ring[i]);
            w->frees++;
        }
}

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&start_barrier);
    /* Each thread times itself: under Valgrind threads run one at a time, so
     * the main thread's clock would miss workers that ran before it. */
    w->start_ns = now_ns();
    run_pairs(w);
    w->end_ns = now_ns();
    return NULL;
}

int main(int argc, char **argv)
{
    long n = 100000, threads = 1;
    uint64_t seed = 1;
    int c;
    while ((c = getopt(argc, argv, "n:t:s:")) != -1) {
        switch (c) {
        case 'n': n = atol(optarg); break;
        case 't': threads = atol(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [-n pairs] [-t threads] [-s seed]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1 || threads < 1 || threads > 256) {
        fprintf(stderr, "alloc_bench: bad -n or -t\n");
        return 2;
    }
    struct worker *w = calloc(threads, sizeof(*w));
    for (long i = 0; i < threads; i++) {
        w[i].pairs = n / threads;
        w[i].seed = seed + i;
    }
    long long t0, t1;
    if (threads == 1) {
        t0 = now_ns();
        run_pairs(&w[0]);
        t1 = now_ns();
    } else {
        pthread_barrier_init(&start_barrier, NULL, (unsigned)threads + 1);
        for (long i = 0; i < threads; i++)
            if (pthread_create(&w[i].tid, NULL, thread_main, &w[i]) != 0) {
                fprintf(stderr, "alloc_bench: pthread_create failed\n");
                return 1;
            }
        pthread_barrier_wait(&start_barrier);
        for (long i = 0; i < threads; i++)
            pthread_join(w[i].tid, NULL);
        t0 = w[0].start_ns;
        t1 = w[0].end_ns;
        for (long i = 1; i < threads; i++) {
            if (w[i].start_ns < t0)
                t0 = w[i].start_ns;
            if (w[i].end_ns > t1)
                t1 = w[i].end_ns;
        }
        pthread_barrier_destroy(&start_barrier);
    }
    long pairs = 0, mallocs = 0, frees = 0, leaked = 0;
    for (long i = 0; i < threads; i++) {
        pairs += w[i].pairs;
        mallocs += w[i].mallocs;
        frees += w[i].frees;
        leaked += w[i].leaked;
    }
    free(w);
    printf("ALLOC_BENCH pairs=%ld threads=%ld mallocs=%ld frees=%ld leaked=%ld loop_ns=%lld\n",
           pairs, threads, mallocs, frees, leaked, t1 - t0);
    fflush(stdout);
    return 0;
}
