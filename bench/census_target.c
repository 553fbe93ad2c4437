/* A process holding many blocks for the heap census at attach (bench/run
 * row 7).
 *
 * Usage: census_target N
 *   allocates N blocks of 16..256 bytes (a fixed xorshift sequence), keeps
 *   99% of them in an array (reachable) and drops 1% (lost), prints
 *   "ready=PID", then frees and allocates one block every millisecond, so
 *   that the process is alive and allocating while memtrace is attached,
 *   until SIGTERM. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void *volatile sink;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    void **kept = calloc(n ? n : 1, sizeof(*kept));
    if (!kept)
        return 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t size = 16 + x % 241;
        void *p = malloc(size);
        if (!p)
            return 1;
        memset(p, 0x5a, size);
        if (i % 100 == 99)
            sink = p;   /* the next store drops it: lost */
        else
            kept[i] = p;
    }
    sink = NULL;
    signal(SIGTERM, on_term);
    printf("ready=%d\n", (int)getpid());
    fflush(stdout);
    size_t at = 0;
    while (!stopping) {
        if (kept[at]) {
            free(kept[at]);
            kept[at] = malloc(64);
        }
        at = (at + 1) % (n ? n : 1);
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}
